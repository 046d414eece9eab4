#!/usr/bin/env bash
# MQTT broker benchmark: gasketd's embedded broker against Mosquitto 2.0
# (Debian) on this machine, driven by bench/mqtt_load.c (libmosquitto clients).
#
#   bench/mqtt.sh                  R=3 rounds of D=10 s per row and broker
#   D=3 R=1 bench/mqtt.sh          quick check
#   GASKETD=/path/to/gasketd ...   use that binary, skip `make`
#
# Environment: D (seconds measured per run, 10), R (rounds, 3), WARMUP (seconds
# of publishing before the measured D, 1), DRAIN (seconds at most to wait for
# the last messages, 10), INFLIGHT (max_inflight of gasketd and
# max_inflight_messages of Mosquitto, 20), ACKWIN (unacknowledged QoS 1
# PUBLISHes per publisher, 100), E2EWIN (deliveries of a publisher not yet seen
# by its subscribers, 1000), STORM (clients of the connect storm, 9000), IDLE
# (seconds the storm's clients stay idle, 5), GASKETD (binary; default: `make`
# then build/gasketd), KEEP_TMP=1 (keep the temp dir with configs and logs),
# BENCH_TMPDIR (where the temp dir goes, /tmp).
#
# Rows, each run against both brokers in interleaved rounds (the order of the
# two brokers alternates from round to round), 256-byte payloads, MQTT 3.1.1:
#   q0-1to1      QoS 0, 1 publisher -> 1 subscriber, one topic
#   q1-1to1      QoS 1, 1 publisher -> 1 subscriber, one topic
#   q1-4to4-wild QoS 1, 4 publishers (own topics) -> 4 subscribers on PREFIX/+,
#                each subscriber sees the messages of all 4
#   q0-1to50     QoS 0, 1 publisher -> 50 subscribers, one topic (fan-out)
#   storm        STORM clients connect at once to a freshly started broker; time
#                until all have their CONNACK; broker RSS (VmRSS) before and
#                with all of them idle, as bytes per idle connection
# Output: progress and a summary on stdout; everything (settings, machine, raw
# generator output, summary, Markdown table) in bench/results/mqtt-<UTC
# time>.txt (.tmp while running). Exit status: 0 when every run completed, gasketd
# lost no QoS 1 message and exited 0 on SIGTERM; 1 else (a QoS 1 loss at
# Mosquitto is printed as a WARNING, not an error).
# Only loopback traffic; every step is bounded in time; all that it started is
# stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
PY=/usr/bin/python3
D=${D:-10}
R=${R:-3}
WARMUP=${WARMUP:-1}
DRAIN=${DRAIN:-10}
INFLIGHT=${INFLIGHT:-20}
ACKWIN=${ACKWIN:-100}
E2EWIN=${E2EWIN:-1000}
STORM=${STORM:-9000}
IDLE=${IDLE:-5}
BROKERS=(gasketd mosquitto)
ROWS_ORDER=(q0-1to1 q1-1to1 q1-4to4-wild q0-1to50)

for v in D R WARMUP DRAIN INFLIGHT ACKWIN E2EWIN STORM IDLE; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || { echo "mqtt: $v must be a positive integer" >&2; exit 2; }
done
[ "$STORM" -le 15000 ] || { echo "mqtt: STORM must be <= 15000 (open files)" >&2; exit 2; }

log() { printf '%s\n' "$*"; }
die() { printf 'mqtt: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- setup
"$ROOT/scripts/install-deps.sh" --bench
for t in mosquitto cc timeout; do
    command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh --bench installs it)"
done
[ -f /usr/include/mosquitto.h ] || die "no mosquitto.h (libmosquitto-dev)"

# Brokers and generator inherit this: 9,000 connections fit, 20,000 is far.
ulimit -n 16384

TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/gasket-mqtt.XXXXXX")
chmod 755 "$TMP"     # mosquitto drops root for its own user
declare -A PID=()    # name -> pid of what we started

STOP_RC=0
stop_pid() {    # NAME: SIGTERM, 10 s, then SIGKILL; its exit status in STOP_RC
    local name=$1 p=${PID[$1]} i rc=0
    kill -TERM "$p" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        echo "mqtt: $name (pid $p) ignored SIGTERM for 10 s: SIGKILL" >&2
        kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || rc=$?
    unset "PID[$name]"
    STOP_RC=$rc
}

cleanup() {
    local rc=$? name
    trap - EXIT INT TERM
    for name in "${!PID[@]}"; do stop_pid "$name"; done
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "mqtt: temp dir kept: $TMP" >&2; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${GASKETD:-}" ]; then
    log "building gasketd (make) ..."
    if ! (cd "$ROOT" && timeout 900 make) >"$TMP/make.log" 2>&1; then
        tail -n 30 "$TMP/make.log" >&2
        die "make failed (log above)"
    fi
    GASKETD="$ROOT/build/gasketd"
fi
[ -x "$GASKETD" ] || die "no gasketd binary at $GASKETD"
LOAD="$TMP/mqtt_load"
cc -O2 "$BENCH/mqtt_load.c" -lmosquitto -o "$LOAD" || die "cannot build bench/mqtt_load.c"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$BENCH/results"
OUT="$BENCH/results/mqtt-$STAMP.txt"
PART="$OUT.tmp"
RUNS="$TMP/runs.tsv"     # broker row round key=value...
: >"$RUNS"
: >"$PART"
rec() { printf '%s\n' "$*" >>"$PART"; }

read -r P_GASKETD P_MOSQUITTO < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
declare -A PORT=([gasketd]=$P_GASKETD [mosquitto]=$P_MOSQUITTO)
FAILED=0
GASKETD_EXITS=""

wait_port() {    # NAME SECONDS
    local name=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "${PID[$name]}" 2>/dev/null || { tail -n 20 "$TMP/$name.log" >&2 || true; die "$name exited during start"; }
        if [ "$name" = gasketd ]; then
            grep -qs "mqtt: listening on 127.0.0.1:${PORT[$name]}" "$TMP/$name.log" && return 0
        elif timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${PORT[$name]}" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$TMP/$name.log" >&2 || true
    die "$name did not listen on 127.0.0.1:${PORT[$name]} within ${secs}s"
}

start_broker() {    # NAME: a fresh process (fresh data dir for gasketd)
    local name=$1 dir="$TMP/$1"
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 755 "$dir"
    case $name in
    gasketd)
        cat >"$dir/gasket.ini" <<EOF
[server]
data_dir = $dir/data
log_level = info
[http]
listen = 127.0.0.1:0
[mqtt]
listen = 127.0.0.1:${PORT[gasketd]}
; anonymous clients on ordinary topics, as in the mosquitto.conf below
allow_anonymous = true
max_queued = 100000
max_inflight = $INFLIGHT
max_connections = 20000
EOF
        "$GASKETD" -t -c "$dir/gasket.ini" >"$TMP/gasketd.check" 2>&1 || { cat "$TMP/gasketd.check" >&2; die "gasketd: config refused"; }
        "$GASKETD" -c "$dir/gasket.ini" >>"$TMP/gasketd.log" 2>&1 &
        ;;
    mosquitto)
        cat >"$dir/mosquitto.conf" <<EOF
listener ${PORT[mosquitto]} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
max_inflight_messages $INFLIGHT
log_dest none
EOF
        mosquitto -c "$dir/mosquitto.conf" >>"$TMP/mosquitto.log" 2>&1 &
        ;;
    esac
    PID[$name]=$!
    wait_port "$name" 20
}

restart_broker() {    # NAME
    local rc
    stop_pid "$1"
    rc=$STOP_RC
    [ "$1" = gasketd ] && { GASKETD_EXITS="$GASKETD_EXITS $rc"; [ "$rc" -eq 0 ] || { FAILED=1; log "gasketd exited $rc on SIGTERM"; }; }
    start_broker "$1"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Busy jiffies of the whole machine (all CPUs), from /proc/stat.
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
listen_overflows() { awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) n[$i] = i; h = 1 } else print $n["ListenOverflows"] }' /proc/net/netstat; }

args_of() {
    case $1 in
    q0-1to1) echo "-q 0 -P 1 -S 1" ;;
    q1-1to1) echo "-q 1 -P 1 -S 1" ;;
    q1-4to4-wild) echo "-q 1 -P 4 -S 4 -w" ;;
    q0-1to50) echo "-q 0 -P 1 -S 50" ;;
    esac
}

# run_load OUTFILE SECONDS ARGS...: the generator in the background (so that a
# signal to this script is handled at once), bounded by timeout.
run_load() {
    local out=$1 secs=$2 rc=0
    shift 2
    timeout -k 5 "$secs" "$LOAD" "$@" >"$out" 2>&1 &
    PID[load]=$!
    wait "${PID[load]}" || rc=$?
    unset "PID[load]"
    return "$rc"
}

kv() { sed -n "s/^RESULT .*[ ]$1=\([^ ]*\).*/\1/p" "$2" | head -n 1; }

run_row() {    # BROKER ROW ROUND
    local b=$1 row=$2 round=$3 raw="$TMP/raw-$1-$2-r$3.txt" rc=0 c0 c1 m0 m1 t0 t1 hz
    hz=$(getconf CLK_TCK)
    read -r -a args <<<"$(args_of "$row")"
    c0=$(cpu_ticks "${PID[$b]}"); m0=$(machine_busy); t0=$(date +%s.%N)
    run_load "$raw" $((WARMUP + D + DRAIN + 40)) throughput -p "${PORT[$b]}" "${args[@]}" -d "$D" -W "$WARMUP" \
        -D "$DRAIN" -n "$ACKWIN" -e "$E2EWIN" -l "$b/$row" || rc=$?
    c1=$(cpu_ticks "${PID[$b]}"); m1=$(machine_busy); t1=$(date +%s.%N)
    local bcpu busy
    # Averages over the generator's whole run (connect, warm-up, D, drain).
    bcpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / (t1 - t0) }')
    busy=$(awk -v a="$m0" -v b="$m1" -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / (t1 - t0) }')
    rec "===== round $round $b $row: mqtt_load throughput ${args[*]} -d $D -W $WARMUP -D $DRAIN -n $ACKWIN -e $E2EWIN (exit $rc; broker CPU ${bcpu}%, machine busy ${busy}% of 200%)"
    cat "$raw" >>"$PART"
    if ! grep -q '^RESULT ' "$raw"; then
        FAILED=1
        log "round $round $b $row: generator failed (exit $rc):"
        sed 's/^/    /' "$raw"
        printf '%s\t%s\t%s\trun_failed=1\n' "$b" "$row" "$round" >>"$RUNS"
        kill -0 "${PID[$b]}" 2>/dev/null || { log "$b is gone: restarting it"; unset "PID[$b]"; start_broker "$b"; }
        return 0
    fi
    local lost q
    lost=$(kv lost "$raw"); q=$(kv qos "$raw")
    # Only gasketd fails the run: a loss at Mosquitto is reported (and was
    # seen with Mosquitto 2.0.11 in the 4-to-4 row, see docs/benchmarks.md).
    if [ "$b" = gasketd ] && { [ "$rc" -ne 0 ] || { [ "$q" -gt 0 ] && [ "$lost" -ne 0 ]; }; }; then
        FAILED=1
    fi
    if [ "$q" -gt 0 ] && [ "$lost" -ne 0 ]; then
        log "WARNING: $b lost $lost QoS 1 message(s) in $row, round $round (details below)"
        rec "WARNING: $b lost $lost QoS 1 message(s) in $row, round $round"
    fi
    printf '%s\t%s\t%s\t%s bcpu=%s busy=%s exit=%s\n' "$b" "$row" "$round" \
        "$(sed -n 's/^RESULT //p' "$raw" | head -n 1)" "$bcpu" "$busy" "$rc" >>"$RUNS"
    log "$(printf 'round %d/%d %-9s %-13s %9.0f msg/s  p50 %8.2f ms  p99 %8.2f ms  lost %s dup %s  broker CPU %s%%  generator CPU %s%%  machine %s%%' \
        "$round" "$R" "$b" "$row" "$(kv rate "$raw")" "$(kv p50_ms "$raw")" "$(kv p99_ms "$raw")" "$lost" "$(kv dups "$raw")" \
        "$bcpu" "$(kv gen_cpu "$raw")" "$busy")"
    grep '^mqtt_load:' "$raw" | sed 's/^/    /' || true
}

run_storm() {    # BROKER ROUND
    local b=$1 round=$2 raw="$TMP/raw-$1-storm-r$2.txt" rc=0 before after lo0 lo1 i
    restart_broker "$b"
    sleep 1
    before=$(rss_kb "${PID[$b]}")
    lo0=$(listen_overflows)
    timeout -k 5 $((IDLE + 120)) "$LOAD" storm -p "${PORT[$b]}" -N "$STORM" -i "$IDLE" -T 60 >"$raw" 2>&1 &
    PID[load]=$!
    # All connected (or given up): let the broker settle, then read its RSS.
    after=""
    for ((i = 0; i < 1000; i++)); do
        grep -q '^IDLE ' "$raw" && break
        kill -0 "${PID[load]}" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q '^IDLE ' "$raw"; then
        sleep 2
        after=$(rss_kb "${PID[$b]}" 2>/dev/null || echo "")
    fi
    lo1=$(listen_overflows)
    wait "${PID[load]}" || rc=$?
    unset "PID[load]"
    rec "===== round $round $b storm: mqtt_load storm -N $STORM -i $IDLE (exit $rc); broker VmRSS before ${before} kB, with the clients idle ${after:-?} kB; TcpExt ListenOverflows +$((lo1 - lo0))"
    cat "$raw" >>"$PART"
    if ! grep -q '^RESULT ' "$raw" || [ -z "$after" ]; then
        FAILED=1
        log "round $round $b storm: failed (exit $rc):"
        sed 's/^/    /' "$raw"
        printf '%s\tstorm\t%s\trun_failed=1\n' "$b" "$round" >>"$RUNS"
    else
        [ "$rc" -eq 0 ] || FAILED=1
        local per
        per=$(awk -v a="$before" -v b="$after" -v n="$(kv connected "$raw")" 'BEGIN { printf "%.0f", n ? (b - a) * 1024 / n : 0 }')
        printf '%s\tstorm\t%s\t%s rss_before_kb=%s rss_after_kb=%s bytes_per_conn=%s overflows=%s exit=%s\n' "$b" "$round" \
            "$(sed -n 's/^RESULT //p' "$raw" | head -n 1)" "$before" "$after" "$per" "$((lo1 - lo0))" "$rc" >>"$RUNS"
        log "$(printf 'round %d/%d %-9s storm        %s of %s connected in %s s (p99 %s ms), listen overflows %s; RSS %s -> %s kB: %s bytes per idle connection' \
            "$round" "$R" "$b" "$(kv connected "$raw")" "$STORM" "$(kv all_s "$raw")" "$(kv p99_ms "$raw")" "$((lo1 - lo0))" \
            "$before" "$after" "$per")"
    fi
    sleep 2    # let the broker close the 9,000 connections
}

# ---------------------------------------------------------------- header
{
    echo "gasket MQTT broker benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(free -g | awk '/^Mem:/ { print $2 }') GiB, $(uname -sr)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "gasketd: $GASKETD (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain -- src 2>/dev/null | grep -q . && echo ', src/ modified'))"
    echo "mosquitto: $(mosquitto -h 2>&1 | sed -n 's/^mosquitto version //p' | head -n 1) (Debian); libmosquitto $(dpkg-query -W -f='${Version}' libmosquitto1 2>/dev/null)"
    echo "settings: D=${D}s measured per run after WARMUP=${WARMUP}s, DRAIN<=${DRAIN}s, R=$R rounds, INFLIGHT=$INFLIGHT, ACKWIN=$ACKWIN, E2EWIN=$E2EWIN, STORM=$STORM, IDLE=${IDLE}s, ulimit -n $(ulimit -n)"
    echo "listen backlog: somaxconn $(cat /proc/sys/net/core/somaxconn), tcp_max_syn_backlog $(cat /proc/sys/net/ipv4/tcp_max_syn_backlog), syncookies $(cat /proc/sys/net/ipv4/tcp_syncookies)"
    echo
} >>"$PART"
cat "$PART"

# ---------------------------------------------------------------- start
for b in "${BROKERS[@]}"; do
    log "starting $b on 127.0.0.1:${PORT[$b]} ..."
    start_broker "$b"
done
log ""

# ---------------------------------------------------------------- rounds
for ((round = 1; round <= R; round++)); do
    la="load average $(cut -d' ' -f1 /proc/loadavg)"
    log "round $round/$R: $la"
    rec "===== round $round: $la"
    if ((round % 2)); then order=(gasketd mosquitto); else order=(mosquitto gasketd); fi
    for row in "${ROWS_ORDER[@]}"; do
        for b in "${order[@]}"; do run_row "$b" "$row" "$round"; done
    done
    for b in "${order[@]}"; do run_storm "$b" "$round"; done
done

# ---------------------------------------------------------------- stop
for b in "${BROKERS[@]}"; do
    stop_pid "$b"
    rc=$STOP_RC
    [ "$b" = gasketd ] && GASKETD_EXITS="$GASKETD_EXITS $rc"
    [ "$b" = gasketd ] && [ "$rc" -ne 0 ] && { FAILED=1; log "gasketd exited $rc on SIGTERM"; }
done

# ---------------------------------------------------------------- summary
SUMMARY=$("$PY" - "$RUNS" "$D" "$R" "$STORM" "$(date -u +%Y-%m-%d)" "$INFLIGHT" "$ACKWIN" "$E2EWIN" <<'EOF'
import statistics, sys
runs_file, D, R, storm_n, day, inflight, ackwin, e2ewin = sys.argv[1:9]
rows = ["q0-1to1", "q1-1to1", "q1-4to4-wild", "q0-1to50"]
what = {
    "q0-1to1": "QoS 0, 1 publisher → 1 subscriber",
    "q1-1to1": "QoS 1, 1 publisher → 1 subscriber",
    "q1-4to4-wild": "QoS 1, 4 publishers → 4 subscribers on `+` (each gets all 4)",
    "q0-1to50": "QoS 0, 1 publisher → 50 subscribers",
}
brokers = ["gasketd", "mosquitto"]
data = {}
for line in open(runs_file):
    b, row, rnd, rest = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in rest.split())
    data.setdefault((b, row), {})[rnd] = kv

def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")

def vals(b, row, k):
    return [float(kv[k]) for kv in data.get((b, row), {}).values() if "run_failed" not in kv and k in kv]

def ratio(row, k):
    g, m = data.get(("gasketd", row), {}), data.get(("mosquitto", row), {})
    rs = [float(g[r][k]) / float(m[r][k]) for r in g if r in m and "run_failed" not in g[r] and "run_failed" not in m[r]
          and float(m[r][k]) > 0]
    return med(rs)

def failed(b, row):
    return sum(1 for kv in data.get((b, row), {}).values() if "run_failed" in kv)

out = ["Summary (median over %s rounds; throughput rows: %s s measured, 256-byte payloads, MQTT 3.1.1, "
       "max_inflight %s, ack window %s, end-to-end window %s deliveries):" % (R, D, inflight, ackwin, e2ewin)]
out.append("%-13s %-9s %10s %19s %8s %8s %7s %5s %7s %7s %7s %7s" %
           ("row", "broker", "msg/s", "(min-max)", "p50 ms", "p99 ms", "lost", "dups", "brk CPU", "gen CPU", "machine", "x mosq"))
md = []
verdict = []
for row in rows:
    for b in brokers:
        r = vals(b, row, "rate")
        lost = sum(int(x) for x in vals(b, row, "lost"))
        dups = sum(int(x) for x in vals(b, row, "dups"))
        x = ratio(row, "rate") if b == "gasketd" else 1.0
        line = "%-13s %-9s %10.0f %19s %8.2f %8.2f %7d %5d %6.0f%% %6.0f%% %6.0f%% %7.2f" % (
            row, b, med(r), "(%.0f-%.0f)" % (min(r, default=float("nan")), max(r, default=float("nan"))),
            med(vals(b, row, "p50_ms")), med(vals(b, row, "p99_ms")), lost, dups,
            med(vals(b, row, "bcpu")), med(vals(b, row, "gen_cpu")), med(vals(b, row, "busy")), x)
        if failed(b, row):
            line += "  (%d run(s) FAILED)" % failed(b, row)
        out.append(line)
        md.append("| %s | %s | %.0f | %.0f–%.0f | %.2f | %.2f | %d / %d | %.0f%% | %.0f%% | %s |" % (
            what[row] if b == "gasketd" else "", b, med(r), min(r, default=float("nan")), max(r, default=float("nan")),
            med(vals(b, row, "p50_ms")), med(vals(b, row, "p99_ms")), lost, dups,
            med(vals(b, row, "bcpu")), med(vals(b, row, "gen_cpu")), "%.2f" % x if b == "gasketd" else "1"))
    x = ratio(row, "rate")
    lost_g = sum(int(v) for v in vals("gasketd", row, "lost"))
    why = []
    if not x >= 1.5: why.append("%.2fx Mosquitto < 1.5x" % x)
    if row.startswith("q1") and lost_g: why.append("%d QoS 1 messages lost" % lost_g)
    if failed("gasketd", row): why.append("%d run(s) failed" % failed("gasketd", row))
    verdict.append("target %-13s (>= 1.5x Mosquitto's msg/s%s): %s" % (
        row, ", no QoS 1 loss" if row.startswith("q1") else "", "MET (%.2fx)" % x if not why else "MISSED (" + ", ".join(why) + ")"))

out.append("")
out.append("%-9s %10s %10s %10s %12s %12s %10s %10s" %
           ("storm", "all CONNACK s", "(min-max)", "p99 ms", "overflows", "B/idle conn", "(min-max)", "time x mosq"))
smd = []
for b in brokers:
    t = vals(b, "storm", "all_s"); per = vals(b, "storm", "bytes_per_conn")
    line = "%-9s %10.3f %10s %10.1f %12.0f %12.0f %10s %10s" % (
        b, med(t), "%.2f-%.2f" % (min(t, default=float("nan")), max(t, default=float("nan"))),
        med(vals(b, "storm", "p99_ms")), med(vals(b, "storm", "overflows")), med(per),
        "%.0f-%.0f" % (min(per, default=float("nan")), max(per, default=float("nan"))),
        "%.2f" % ratio("storm", "all_s") if b == "gasketd" else "1")
    if failed(b, "storm"):
        line += "  (%d run(s) FAILED)" % failed(b, "storm")
    out.append(line)
    smd.append("| %s | %.2f | %.2f–%.2f | %.0f | %.0f | %.0f | %.0f–%.0f |" % (
        b, med(t), min(t, default=float("nan")), max(t, default=float("nan")), med(vals(b, "storm", "p99_ms")),
        med(vals(b, "storm", "overflows")), med(per), min(per, default=float("nan")), max(per, default=float("nan"))))
t = med(vals("gasketd", "storm", "all_s")); per = med(vals("gasketd", "storm", "bytes_per_conn"))
verdict.append("target storm: %s clients in < 2 s: %s (median %.2f s, max %.2f s)" % (
    storm_n, "MET" if t < 2 and not failed("gasketd", "storm") else "MISSED", t,
    max(vals("gasketd", "storm", "all_s"), default=float("nan"))))
verdict.append("target RSS: <= 2 KB (2048 B) per idle connection: %s (median %.0f B)" % ("MET" if per <= 2048 else "MISSED", per))
out.append("")
out += verdict
out.append("")
out.append("Markdown (docs/benchmarks.md), %s:" % day)
out.append("")
out.append("| row | broker | delivered msg/s | (min–max) | p50 ms | p99 ms | lost / dups | broker CPU | generator CPU | × Mosquitto |")
out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
out += md
out.append("")
out.append("| %s-client connect storm | all CONNACKs, s | (min–max) | p99 per client, ms | listen overflows | RSS per idle connection, B | (min–max) |" % storm_n)
out.append("|---|--:|--:|--:|--:|--:|--:|")
out += smd
print("\n".join(out))
EOF
)

{
    echo "===== summary"
    echo "$SUMMARY"
    echo
    echo "gasketd exit statuses on SIGTERM:${GASKETD_EXITS}"
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    for name in "${BROKERS[@]}"; do
        n=$(grep -cv '^$' "$TMP/$name.log" 2>/dev/null || true)
        [ "${n:-0}" -gt 0 ] || continue
        echo "----- $name log ($n lines, last 20 but for connection lines)"
        grep -v -i -E 'client .*(connected|disconnected)|new connection' "$TMP/$name.log" | tail -n 20
    done
} >>"$PART"
mv "$PART" "$OUT"

log ""
log "$SUMMARY"
log ""
log "gasketd exit statuses on SIGTERM:${GASKETD_EXITS}"
log "raw outputs and summary: ${OUT#"$ROOT"/}"
[ "$FAILED" -eq 0 ] || die "some runs failed, gasketd lost QoS 1 messages or did not exit 0 (see above)"
