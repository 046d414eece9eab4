#!/usr/bin/env bash
# HTTP ingest benchmark: gasketd against nginx and InfluxDB 1.6 on this machine.
#
#   bench/http_ingest.sh                  R=3 rounds of D=10 s per target
#   D=5 R=1 bench/http_ingest.sh          shorter
#   GASKETD=/path/to/gasketd bench/...    use that binary, skip `make`
#
# Environment: D (seconds per timed run, 10), R (rounds, 3), WARMUP (seconds of
# warm-up before each timed run, 2), CONNS (wrk connections, 32), THREADS (wrk
# threads, 1), GASKETD (binary; default: `make` then build/gasketd),
# KEEP_TMP=1 (keep the temp dir with logs and databases), BENCH_TMPDIR (where
# that temp dir goes, /var/tmp: the databases must be on a real disk).
#
# Targets, each POSTing one gas reading per request, all started once and
# benchmarked in interleaved rounds (gasketd-full, nginx, gasketd-normal,
# influxdb, then again) so that the noise of a shared machine spreads evenly:
#   gasketd-full    gasketd, durability = full: 200 only after the group commit
#                   holding the reading is fsynced
#   nginx           nginx `return 204` for the same request: the ceiling of
#                   HTTP on this machine with this client (parses, answers,
#                   stores nothing)
#   gasketd-normal  gasketd, durability = normal: committed to the WAL, no fsync
#   influxdb        influxd 1.6, one line of line protocol per POST /write
#                   (WAL fsynced per write, wal-fsync-delay = 0s)
# After each gasketd run the documents in gasket.db are counted: every 200 wrk
# saw must be a committed row (count taken after the warm-up and after the
# timed run, each once the count has stopped moving).
#
# Output: progress and a summary on stdout; everything (settings, machine, raw
# wrk reports, checks, summary, Markdown table) in bench/results/
# http_ingest-<UTC time>.txt (written as .tmp while running).
# Exit status: 0 when every run completed and every commit check held; 1 else.
# Only loopback traffic; every step is bounded in time; all that it started is
# stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
LUA="$BENCH/http_ingest.lua"
PY=/usr/bin/python3
D=${D:-10}
R=${R:-3}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
API_KEY=bench-key-0123456789abcdef
TARGETS=(gasketd-full nginx gasketd-normal influxdb)

for v in D R WARMUP CONNS THREADS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || { echo "http_ingest: $v must be a positive integer" >&2; exit 2; }
done

BENCH_NAME=http_ingest
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------- setup
"$ROOT/scripts/install-deps.sh" --bench
for t in wrk nginx influxd curl timeout; do
    command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh --bench installs it)"
done

# No process of the benchmark may hold 20,000 files: lower soft and hard limit.
ulimit -n 16384

# On a disk, not tmpfs: with tmpfs, fsync costs nothing and "full" means nothing.
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/gasket-bench.XXXXXX")
declare -A PID=()      # name -> pid of what we started
STOPPED=""

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

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$BENCH/results"
OUT="$BENCH/results/http_ingest-$STAMP.txt"
PART="$OUT.tmp"
ROWS="$TMP/rows.tsv"
: >"$ROWS"
: >"$PART"
rec() { printf '%s\n' "$*" >>"$PART"; }

# Five free loopback ports, chosen while all five are bound so they differ.
read -r P_FULL P_NGINX P_NORMAL P_INFLUX P_INFLUX_RPC < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')



SEED='{"groupid":"2","gps":"37.61002501514269, 126.99636868892937","co":{"sensorid":"0005","sensortype":"8","value":"26.20","createdtime":"2021-09-03 18:14:49"},"no2":{"sensorid":"0006","sensortype":"8","value":"0.12","createdtime":"2021-09-03 18:14:49"},"c2h5oh":{"sensorid":"0007","sensortype":"8","value":"3.5","createdtime":"2021-09-03 18:14:49"},"h2":{"sensorid":"0008","sensortype":"8","value":"7.75","createdtime":"2021-09-03 18:14:49"}}'
probe_json() {
    http_status "$1" -X POST -H "x-api-key: $API_KEY" -H 'Content-Type: application/json' --data-binary "$SEED"
}

start_gasketd() {    # NAME DURABILITY PORT
    local name=$1 dur=$2 port=$3 dir="$TMP/$1"
    mkdir -p "$dir"
    cat >"$dir/gasket.ini" <<EOF
[server]
data_dir = $dir/data
durability = $dur
log_level = warn
[http]
listen = 127.0.0.1:$port
[mqtt]
; no MQTT listener: this benchmark is HTTP only (and two gasketd run at once)
listen =
[apikey bench]
key = $API_KEY
rate = 1000000
burst = 1000000
EOF
    "$GASKETD" -t -c "$dir/gasket.ini" >"$TMP/$name.check" 2>&1 || { cat "$TMP/$name.check" >&2; die "$name: config refused"; }
    "$GASKETD" -c "$dir/gasket.ini" >"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    wait_ready "$name" "$port" 20
    local st; st=$(probe_json "http://127.0.0.1:$port/gasdetector")
    [ "$st" = 200 ] || die "$name: probe POST got $st, not 200"
}

start_nginx() {
    local dir="$TMP/nginx"
    mkdir -p "$dir/temp"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    client_body_temp_path $dir/temp/body;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;
    # gasketd keeps a connection for any number of requests: so does this.
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$P_NGINX;
        location /gasdetector { return 204; }
        location / { return 404; }
    }
}
EOF
    nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -t >"$TMP/nginx.check" 2>&1 ||
        { cat "$TMP/nginx.check" >&2; die "nginx: config refused"; }
    nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >"$TMP/nginx.log" 2>&1 &
    PID[nginx]=$!
    wait_ready nginx "$P_NGINX" 20
    local st; st=$(probe_json "http://127.0.0.1:$P_NGINX/gasdetector")
    [ "$st" = 204 ] || die "nginx: probe POST got $st, not 204"
}

# influxd with database gas, and one probe point written through /write.
start_influx_probed() {
    start_influxd "$P_INFLUX" "$P_INFLUX_RPC"
    local st
    st=$(http_status "http://127.0.0.1:$P_INFLUX/write?db=gas" -X POST \
        --data-binary 'gasdetect,groupid=2 co=26.2,no2=0.12,c2h5oh=3.5,h2=7.75')
    [ "$st" = 204 ] || die "influxdb: probe write got $st, not 204"
}

# db_count NAME: rows in the target's docs table once the count has stopped
# moving (replies of a run's last requests may still be committing).
db_count() {
    "$PY" - "$TMP/$1/data/gasket.db" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
prev, deadline = -1, time.monotonic() + 15
while True:
    n = db.execute("select count(*) from docs").fetchone()[0]
    if n == prev or time.monotonic() > deadline:
        break
    prev = n
    time.sleep(0.3)
print(n)
EOF
}

# cpu_ticks PID: user+system clock ticks of PID and of its direct children
# (nginx's worker), from /proc.
cpu_ticks() {
    "$PY" - "$1" <<'EOF'
import os, sys
root = sys.argv[1]
def stat(p):
    try:
        with open("/proc/%s/stat" % p) as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()
total = 0
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    f = stat(p)
    if f and (p == root or f[1] == root):
        total += int(f[11]) + int(f[12])
print(total)
EOF
}

# children_cpu FILE: user+system seconds of this shell's reaped children, from
# the output of `times` (run in this shell itself: a subshell starts at zero).
children_cpu() {
    tail -n 1 "$1" | awk '{ s = 0; for (i = 1; i <= NF; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%.3f\n", s }'
}

field() { sed -n "s/^BENCH .*[ ]$1=\([0-9.]*\).*/\1/p" "$2" | head -n 1; }

url_of() {
    case $1 in
    gasketd-full) echo "http://127.0.0.1:$P_FULL/gasdetector" ;;
    gasketd-normal) echo "http://127.0.0.1:$P_NORMAL/gasdetector" ;;
    nginx) echo "http://127.0.0.1:$P_NGINX/gasdetector" ;;
    influxdb) echo "http://127.0.0.1:$P_INFLUX/write?db=gas" ;;
    esac
}
args_of() { case $1 in influxdb) echo line ;; *) echo "json $API_KEY" ;; esac; }

FAILED=0

# run_wrk OUTFILE SECONDS WRK-ARGS...: wrk in the background, so that a signal
# to this script is handled at once (and the trap stops wrk too).
run_wrk() {
    local out=$1 secs=$2 rc=0
    shift 2
    timeout -k 5 $((secs + 30)) wrk "$@" >"$out" 2>&1 &
    PID[wrk]=$!
    wait "${PID[wrk]}" || rc=$?
    unset "PID[wrk]"
    return "$rc"
}

run_one() {    # TARGET ROUND
    local target=$1 round=$2 url args raw before="" after="" check="-" c0 c1 t0 t1 hz
    url=$(url_of "$target")
    read -r -a args <<<"$(args_of "$target")"
    raw="$TMP/raw-$target-r$round.txt"

    run_wrk "$TMP/warmup-$target-r$round.txt" "$WARMUP" \
        -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$LUA" "$url" -- "${args[@]}" || true
    case $target in gasketd-*) before=$(db_count "$target") ;; esac

    c0=$(cpu_ticks "${PID[$target]}")
    times >"$TMP/times0"
    local wrc=0
    run_wrk "$raw" "$D" -t"$THREADS" -c"$CONNS" -d"${D}s" --latency -s "$LUA" "$url" -- "${args[@]}" || wrc=$?
    times >"$TMP/times1"
    c1=$(cpu_ticks "${PID[$target]}")
    t0=$(children_cpu "$TMP/times0"); t1=$(children_cpu "$TMP/times1")
    hz=$(getconf CLK_TCK)

    local rps p50 p99 ok non2xx sock srv_cpu cli_cpu
    rps=$(field rps "$raw"); p50=$(field p50_us "$raw"); p99=$(field p99_us "$raw")
    ok=$(field ok "$raw"); non2xx=$(field non2xx "$raw")
    if [ -z "$rps" ] || [ "$wrc" -ne 0 ]; then
        FAILED=1
        log "round $round $target: wrk failed (exit $wrc):"
        sed 's/^/    /' "$raw"
        rec "===== round $round $target: wrk FAILED (exit $wrc)"
        cat "$raw" >>"$PART"
        printf '%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tfailed\n' "$target" "$round" >>"$ROWS"
        return 0
    fi
    sock=$(($(field connect "$raw") + $(field read "$raw") + $(field write "$raw") + $(field timeout "$raw")))
    srv_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v d="$D" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / d }')
    cli_cpu=$(awk -v a="$t0" -v b="$t1" -v d="$D" 'BEGIN { printf "%.0f", 100 * (b - a) / d }')

    case $target in gasketd-*)
        after=$(db_count "$target")
        if [ $((after - before)) -ge "$ok" ]; then
            check="ok(+$((after - before))>=$ok)"
        else
            check="LOST(+$((after - before))<$ok)"
            FAILED=1
        fi ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$round" "$rps" "$p50" "$p99" \
        "$ok" "$non2xx" "$sock" "$srv_cpu" "$cli_cpu" "$check" >>"$ROWS"
    log "$(printf 'round %d/%d %-15s %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  non-2xx %s  socket errors %s  server CPU %s%%  wrk CPU %s%%  %s' \
        "$round" "$R" "$target" "$rps" "$(awk -v x="$p50" 'BEGIN { print x / 1000 }')" "$(awk -v x="$p99" 'BEGIN { print x / 1000 }')" \
        "$non2xx" "$sock" "$srv_cpu" "$cli_cpu" "${check/-/}")"
    rec "===== round $round $target: wrk -t$THREADS -c$CONNS -d${D}s --latency $url (after ${WARMUP}s warm-up)"
    cat "$raw" >>"$PART"
    [ -n "$before" ] && rec "docs in gasket.db: before $before, after $after, 2xx seen by wrk $ok: $check"
    rec ""
}

# fsync_probe N: median and p99 of N write+fsync of 4 KiB in the temp dir, the
# floor under a durability = full commit (and InfluxDB's WAL write). On a shared
# disk it moves a lot (0.1 ms to 4 ms seen here): measured before each round.
fsync_probe() {
    "$PY" - "$TMP/fsync-probe" "$1" <<'EOF'
import os, statistics, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
ts = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    os.write(fd, b"x" * 4096)
    os.fsync(fd)
    ts.append((time.perf_counter() - t) * 1000)
os.close(fd)
os.unlink(sys.argv[1])
ts.sort()
print("write+fsync of 4 KiB: median %.2f ms, p99 %.2f ms" % (statistics.median(ts), ts[len(ts) * 99 // 100]))
EOF
}

# ---------------------------------------------------------------- header
{
    echo "gasket HTTP ingest benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "gasketd: $GASKETD (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain -- src 2>/dev/null | grep -q . && echo ', src/ modified'))"
    echo "nginx: $(nginx -v 2>&1 | sed 's/.*version: //'); influxd: $(influxd version 2>&1 | head -n 1); $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
    echo "data: $TMP on $(stat -f -c %T "$TMP"), $(fsync_probe 200)"
    [ "$(stat -f -c %T "$TMP")" != tmpfs ] || echo "WARNING: tmpfs: fsync is free here, durability = full is not measured"
    echo "settings: D=${D}s per timed run, R=$R rounds, WARMUP=${WARMUP}s, wrk -t$THREADS -c$CONNS, ulimit -n $(ulimit -n)"
    echo
} >>"$PART"
cat "$PART"

# ---------------------------------------------------------------- start
log "starting gasketd (durability full) on 127.0.0.1:$P_FULL ..."
start_gasketd gasketd-full full "$P_FULL"
log "starting nginx on 127.0.0.1:$P_NGINX ..."
start_nginx
log "starting gasketd (durability normal) on 127.0.0.1:$P_NORMAL ..."
start_gasketd gasketd-normal normal "$P_NORMAL"
log "starting influxd on 127.0.0.1:$P_INFLUX ..."
start_influx_probed
log ""

# ---------------------------------------------------------------- rounds
for ((round = 1; round <= R; round++)); do
    fs="$(fsync_probe 100); load average $(cut -d' ' -f1 /proc/loadavg)"
    log "round $round/$R: $fs"
    rec "===== round $round: $fs"
    printf 'round %d: %s\n' "$round" "$fs" >>"$TMP/fsync.txt"
    for target in "${TARGETS[@]}"; do
        run_one "$target" "$round"
    done
done

# ---------------------------------------------------------------- stop
# Stopped here rather than in the trap so that their exit status is checked.
for name in "${TARGETS[@]}"; do
    p=${PID[$name]}
    kill -TERM "$p" 2>/dev/null || true
    rc=0
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        kill -KILL "$p" 2>/dev/null || true
        STOPPED="$STOPPED $name:killed"
    fi
    wait "$p" 2>/dev/null || rc=$?
    unset "PID[$name]"
    STOPPED="$STOPPED $name:exit=$rc"
    case $name in gasketd-*) [ "$rc" -eq 0 ] || { FAILED=1; log "$name exited $rc on SIGTERM"; } ;; esac
done

# ---------------------------------------------------------------- summary
SUMMARY=$("$PY" - "$ROWS" "$D" "$R" "$CONNS" "$THREADS" "$(date -u +%Y-%m-%d)" <<'EOF'
import statistics, sys
rows_file, D, R, conns, threads, day = sys.argv[1:7]
order = ["gasketd-full", "nginx", "gasketd-normal", "influxdb"]
what = {
    "gasketd-full": "gasketd, `durability = full`: 200 after the fsynced group commit",
    "nginx": "nginx `return 204`: HTTP only, stores nothing (the ceiling)",
    "gasketd-normal": "gasketd, `durability = normal`: 200 after the WAL commit, no fsync",
    "influxdb": "InfluxDB 1.6 `POST /write`, one line of line protocol, WAL fsynced",
}
runs = {t: [] for t in order}
for line in open(rows_file):
    f = line.rstrip("\n").split("\t")
    runs[f[0]].append(f)

def med(xs):
    return statistics.median(xs) if xs else float("nan")

by_round = {}
for t in order:
    for f in runs[t]:
        if f[2] != "NA":
            by_round.setdefault(f[1], {})[t] = float(f[2])
stats = {}
for t in order:
    ok = [f for f in runs[t] if f[2] != "NA"]
    ratios = [r[t] / r["nginx"] for r in by_round.values() if t in r and r.get("nginx")]
    stats[t] = dict(
        n=len(ok), failed=len(runs[t]) - len(ok),
        rps=med([float(f[2]) for f in ok]),
        rmin=min([float(f[2]) for f in ok], default=float("nan")),
        rmax=max([float(f[2]) for f in ok], default=float("nan")),
        p50=med([float(f[3]) / 1000 for f in ok]),
        p99=med([float(f[4]) / 1000 for f in ok]),
        p99max=max([float(f[4]) / 1000 for f in ok], default=float("nan")),
        ratio=med(ratios),
        non2xx=sum(int(f[6]) for f in ok), sock=sum(int(f[7]) for f in ok),
        srv=med([float(f[8]) for f in ok]), cli=med([float(f[9]) for f in ok]),
        checks=[f[10] for f in runs[t] if f[10] not in ("-",)],
    )

out = []
out.append("Summary (median over %s rounds of %s s; wrk -t%s -c%s):" % (R, D, threads, conns))
out.append("%-15s %8s %17s %8s %8s %8s %8s %8s %8s %8s" %
           ("target", "req/s", "(min-max)", "p50 ms", "p99 ms", "x nginx", "non-2xx", "sockerr", "srv CPU", "wrk CPU"))
for t in order:
    s = stats[t]
    out.append("%-15s %8.0f %17s %8.2f %8.2f %8.2f %8d %8d %7.0f%% %7.0f%%" %
               (t, s["rps"], "(%.0f-%.0f)" % (s["rmin"], s["rmax"]), s["p50"], s["p99"], s["ratio"],
                s["non2xx"], s["sock"], s["srv"], s["cli"]))
    if s["failed"]:
        out.append("    %d run(s) of %s FAILED" % (s["failed"], t))
for t in ("gasketd-full", "gasketd-normal"):
    out.append("commit checks %s: %s" % (t, " ".join(stats[t]["checks"]) or "none"))
verdict = []
for t in ("gasketd-full", "gasketd-normal"):
    s = stats[t]
    good_rate, good_p99 = s["ratio"] >= 0.7, s["p99"] < 5.0
    why = []
    if not good_rate: why.append("rate %.2fx nginx < 0.7x" % s["ratio"])
    if not good_p99: why.append("p99 %.2f ms >= 5 ms" % s["p99"])
    verdict.append("target (>= 0.7x nginx req/s, p99 < 5 ms) %s: %s" %
                   (t, "MET" if not why else "MISSED (" + ", ".join(why) + ")"))
out += verdict
out.append("")
out.append("Markdown (docs/benchmarks.md), %s:" % day)
out.append("")
out.append("| target | what a 2xx means | req/s | (min–max) | p50 ms | p99 ms | × nginx | non-2xx / socket errors | server CPU | wrk CPU |")
out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
for t in order:
    s = stats[t]
    out.append("| %s | %s | %.0f | %.0f–%.0f | %.2f | %.2f | %.2f | %d / %d | %.0f%% | %.0f%% |" %
               (t, what[t], s["rps"], s["rmin"], s["rmax"], s["p50"], s["p99"], s["ratio"],
                s["non2xx"], s["sock"], s["srv"], s["cli"]))
out.append("")
out.append("Medians over %s interleaved rounds of %s s after a warm-up, `wrk -t%s -c%s`; "
           "× nginx is the median of the per-round ratios; CPU is busy time over the run "
           "(100%% = one core; the machine has 2)." % (R, D, threads, conns))
print("\n".join(out))
EOF
)

{
    echo "===== summary"
    echo "$SUMMARY"
    echo
    cat "$TMP/fsync.txt"
    echo
    echo "stopped:$STOPPED"
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    for name in "${TARGETS[@]}"; do
        n=$(grep -cv '^$' "$TMP/$name.log" 2>/dev/null || true)
        [ "${n:-0}" -gt 0 ] || continue
        echo "----- $name log ($n lines, last 20)"
        tail -n 20 "$TMP/$name.log"
    done
} >>"$PART"
mv "$PART" "$OUT"

log ""
log "$SUMMARY"
log ""
cat "$TMP/fsync.txt"
log "stopped:$STOPPED"
log "raw outputs and summary: ${OUT#"$ROOT"/}"
[ "$FAILED" -eq 0 ] || die "some runs failed or a commit check did not hold (see above)"
