#!/usr/bin/env bash
# HTTP ingest benchmark: gasketd against nginx and InfluxDB 1.6 on this machine.
#
#   bench/http_ingest.sh                  R=3 rounds of D=10 s per target and
#                                         groupid count (~7 min)
#   D=3 R=1 WARMUP=1 bench/http_ingest.sh quick check (~1 min)
#   N_GROUPS=50 SEQ=0 bench/http_ingest.sh   50 groupids only, no one-device rows
#   GASKETD=/path/to/gasketd bench/...    use that binary, skip `make`
#
# Environment: D (seconds per timed run, 10), R (rounds, 3), WARMUP (seconds of
# warm-up before each timed run, 2), CONNS (wrk connections, 32), THREADS (wrk
# threads, 1), N_GROUPS (groupid counts to run, each a pass over every target:
# "1 50"; with N > 1 the requests carry groupid 1..N in turn), SEQ (1: also
# the one-device rows; 0: not), GASKETD (binary; default: `make` then build/gasketd),
# KEEP_TMP=1 (keep the temp dir with logs and databases), BENCH_TMPDIR (where
# that temp dir goes, /var/tmp: the databases must be on a real disk).
#
# Targets, each POSTing one gas reading per request, all started once and
# benchmarked in interleaved rounds (in each round, for each groupid count:
# gasketd-full, nginx, gasketd-normal, influxdb; then the one-device rows) so
# that the noise of a shared machine spreads evenly:
#   gasketd-full    gasketd, durability = full: 200 only after the group commit
#                   holding the reading is fsynced
#   nginx           nginx `return 204` for the same request: the ceiling of
#                   HTTP on this machine with this client (parses, answers,
#                   stores nothing)
#   gasketd-normal  gasketd, durability = normal: committed to the WAL, no fsync
#   influxdb        influxd 1.6, one line of line protocol per POST /write
#                   (WAL fsynced per write, wal-fsync-delay = 0s)
# and, with SEQ=1, after the passes of each round (groupid "2" only):
#   gasketd-full-1dev  gasketd-full with wrk -t1 -c1: one device posting one
#                      reading at a time (each waits for its own fsync)
#   influxdb-1dev      influxdb, the same
# After each gasketd run the documents in gasket.db are counted: every 200 wrk
# saw must be a committed row (count taken after the warm-up and after the
# timed run, each after POST /_flush and once the count has stopped moving).
# Bytes written per reading: write_bytes of /proc/PID/io (what the server sent
# to the block layer: journal, WAL, checkpoints, TSM files) over the timed run,
# the move of its readings into gasket.db by /_flush included (taken
# after the settled counts for gasketd) divided by the 2xx answers wrk saw;
# none for nginx (it stores nothing).
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
SEQ_TARGETS=(gasketd-full-1dev influxdb-1dev)
GROUP_COUNTS=${N_GROUPS:-1 50}
SEQ=${SEQ:-1}

for v in D R WARMUP CONNS THREADS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || { echo "http_ingest: $v must be a positive integer" >&2; exit 2; }
done
read -r -a GROUP_LIST <<<"$GROUP_COUNTS"
[ "${#GROUP_LIST[@]}" -ge 1 ] || { echo "http_ingest: N_GROUPS must list groupid counts, e.g. \"1 50\"" >&2; exit 2; }
for g in "${GROUP_LIST[@]}"; do
    [[ $g =~ ^[0-9]+$ && $g -ge 1 ]] || { echo "http_ingest: N_GROUPS must list positive integers, not '$g'" >&2; exit 2; }
done
[[ $SEQ =~ ^[01]$ ]] || { echo "http_ingest: SEQ must be 0 or 1" >&2; exit 2; }

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
# moving (replies of a run's last requests may still be committing), after
# POST /_flush has moved the hot tier into gasket.db: the bytes that move
# writes are counted with the readings of the run it follows.
db_count() {
    local st
    st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "x-api-key: $API_KEY" \
        "$(url_of "$1" | sed 's|/gasdetector$|/_flush|')")
    [ "$st" = 200 ] || die "$1: POST /_flush got $st"
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

# write_bytes PID: bytes PID has sent to the block layer so far (/proc/PID/io).
write_bytes() { sed -n 's/^write_bytes: //p' "/proc/$1/io"; }

# base_of TARGET: the server behind a row (the one-device rows share theirs).
base_of() { echo "${1%-1dev}"; }

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

run_one() {    # TARGET ROUND GROUPS
    local target=$1 round=$2 groups=$3 server url args raw before="" after="" check="-" c0 c1 t0 t1 hz
    local threads=$THREADS conns=$CONNS w0="" w1="" bpr="NA"
    server=$(base_of "$target")
    case $target in *-1dev) threads=1 conns=1 ;; esac
    url=$(url_of "$server")
    read -r -a args <<<"$(args_of "$server") $groups"
    raw="$TMP/raw-$target-g$groups-r$round.txt"

    run_wrk "$TMP/warmup-$target-g$groups-r$round.txt" "$WARMUP" \
        -t"$threads" -c"$conns" -d"${WARMUP}s" -s "$LUA" "$url" -- "${args[@]}" || true
    case $server in gasketd-*) before=$(db_count "$server") ;; esac
    [ "$server" = nginx ] || w0=$(write_bytes "${PID[$server]}")

    c0=$(cpu_ticks "${PID[$server]}")
    times >"$TMP/times0"
    local wrc=0
    run_wrk "$raw" "$D" -t"$threads" -c"$conns" -d"${D}s" --latency -s "$LUA" "$url" -- "${args[@]}" || wrc=$?
    times >"$TMP/times1"
    c1=$(cpu_ticks "${PID[$server]}")
    t0=$(children_cpu "$TMP/times0"); t1=$(children_cpu "$TMP/times1")
    hz=$(getconf CLK_TCK)

    local rps p50 p99 ok non2xx sock srv_cpu cli_cpu
    rps=$(field rps "$raw"); p50=$(field p50_us "$raw"); p99=$(field p99_us "$raw")
    ok=$(field ok "$raw"); non2xx=$(field non2xx "$raw")
    if [ -z "$rps" ] || [ "$wrc" -ne 0 ]; then
        FAILED=1
        log "round $round $target (groups $groups): wrk failed (exit $wrc):"
        sed 's/^/    /' "$raw"
        rec "===== round $round $target (groups $groups): wrk FAILED (exit $wrc)"
        cat "$raw" >>"$PART"
        printf '%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tfailed\t%s\t%s\tNA\n' "$target" "$round" "$groups" "$conns" >>"$ROWS"
        return 0
    fi
    sock=$(($(field connect "$raw") + $(field read "$raw") + $(field write "$raw") + $(field timeout "$raw")))
    srv_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v d="$D" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / d }')
    cli_cpu=$(awk -v a="$t0" -v b="$t1" -v d="$D" 'BEGIN { printf "%.0f", 100 * (b - a) / d }')

    case $server in gasketd-*)
        after=$(db_count "$server")
        if [ $((after - before)) -ge "$ok" ]; then
            check="ok(+$((after - before))>=$ok)"
        else
            check="LOST(+$((after - before))<$ok)"
            FAILED=1
        fi ;;
    esac
    if [ -n "$w0" ]; then
        w1=$(write_bytes "${PID[$server]}")
        [ "$ok" -gt 0 ] && bpr=$(awk -v a="$w0" -v b="$w1" -v n="$ok" 'BEGIN { printf "%.0f", (b - a) / n }')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$round" "$rps" "$p50" "$p99" \
        "$ok" "$non2xx" "$sock" "$srv_cpu" "$cli_cpu" "$check" "$groups" "$conns" "$bpr" >>"$ROWS"
    log "$(printf 'round %d/%d groups %-3s %-17s %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  non-2xx %s  socket errors %s  server CPU %s%%  wrk CPU %s%%  bytes/reading %s  %s' \
        "$round" "$R" "$groups" "$target" "$rps" "$(awk -v x="$p50" 'BEGIN { print x / 1000 }')" "$(awk -v x="$p99" 'BEGIN { print x / 1000 }')" \
        "$non2xx" "$sock" "$srv_cpu" "$cli_cpu" "${bpr/NA/-}" "${check/-/}")"
    rec "===== round $round $target groups $groups: wrk -t$threads -c$conns -d${D}s --latency $url (after ${WARMUP}s warm-up)"
    cat "$raw" >>"$PART"
    [ -n "$before" ] && rec "docs in gasket.db: before $before, after $after, 2xx seen by wrk $ok: $check"
    [ -n "$w0" ] && rec "write_bytes of $server: before $w0, after $w1: $bpr bytes per 2xx"
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
    echo "settings: D=${D}s per timed run, R=$R rounds, WARMUP=${WARMUP}s, wrk -t$THREADS -c$CONNS, N_GROUPS=\"${GROUP_LIST[*]}\", SEQ=$SEQ, ulimit -n $(ulimit -n)"
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
    for groups in "${GROUP_LIST[@]}"; do
        for target in "${TARGETS[@]}"; do
            run_one "$target" "$round" "$groups"
        done
    done
    if [ "$SEQ" = 1 ]; then
        for target in "${SEQ_TARGETS[@]}"; do
            run_one "$target" "$round" 1
        done
    fi
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
SUMMARY=$("$PY" - "$ROWS" "$D" "$R" "$CONNS" "$THREADS" "$(date -u +%Y-%m-%d)" "${GROUP_LIST[*]}" "$SEQ" <<'EOF'
import os, statistics, sys
rows_file, D, R, conns, threads, day, group_list, seq = sys.argv[1:9]
groups = group_list.split()
targets = ["gasketd-full", "nginx", "gasketd-normal", "influxdb"]
order = [(t, g) for g in groups for t in targets]
if seq == "1":
    order += [("gasketd-full-1dev", "1"), ("influxdb-1dev", "1")]
what = {
    "gasketd-full": "gasketd, `durability = full`: 200 after the fsynced group commit",
    "nginx": "nginx `return 204`: HTTP only, stores nothing (the ceiling)",
    "gasketd-normal": "gasketd, `durability = normal`: 200 after the WAL commit, no fsync",
    "influxdb": "InfluxDB 1.6 `POST /write`, one line of line protocol, WAL fsynced",
    "gasketd-full-1dev": "gasketd `full`, one device: one reading at a time on one connection",
    "influxdb-1dev": "InfluxDB 1.6, one device: one point at a time on one connection",
}
runs = {k: [] for k in order}
for line in open(rows_file):
    f = line.rstrip("\n").split("\t")
    runs[(f[0], f[11])].append(f)

def med(xs):
    return statistics.median(xs) if xs else float("nan")

by_round = {}
for k in order:
    for f in runs[k]:
        if f[2] != "NA":
            by_round.setdefault((k[1], f[1]), {})[k[0]] = float(f[2])
stats = {}
for k in order:
    t, g = k
    ok = [f for f in runs[k] if f[2] != "NA"]
    ratios = [] if t.endswith("-1dev") else \
        [r[t] / r["nginx"] for (rg, _), r in by_round.items() if rg == g and t in r and r.get("nginx")]
    bpr = [float(f[13]) for f in ok if f[13] != "NA"]
    stats[k] = dict(
        n=len(ok), failed=len(runs[k]) - len(ok),
        conns=ok[0][12] if ok else "?",
        rps=med([float(f[2]) for f in ok]),
        rmin=min([float(f[2]) for f in ok], default=float("nan")),
        rmax=max([float(f[2]) for f in ok], default=float("nan")),
        p50=med([float(f[3]) / 1000 for f in ok]),
        p99=med([float(f[4]) / 1000 for f in ok]),
        ratio=med(ratios) if ratios else None,
        bpr=med(bpr) if bpr else None,
        non2xx=sum(int(f[6]) for f in ok), sock=sum(int(f[7]) for f in ok),
        srv=med([float(f[8]) for f in ok]), cli=med([float(f[9]) for f in ok]),
        checks=[f[10] for f in runs[k] if f[10] != "-"],
    )

def ratio(s, dash="-"):
    return "%.2f" % s["ratio"] if s["ratio"] is not None else dash

def bpr(s, dash="-"):
    return "%.0f" % s["bpr"] if s["bpr"] is not None else dash

out = []
out.append("Summary (median over %s rounds of %s s; wrk -t%s -c%s, the -1dev rows -t1 -c1):" % (R, D, threads, conns))
out.append("%-17s %6s %5s %8s %17s %8s %8s %8s %9s %8s %8s %8s %8s" %
           ("target", "groups", "conns", "req/s", "(min-max)", "p50 ms", "p99 ms", "x nginx", "B/reading",
            "non-2xx", "sockerr", "srv CPU", "wrk CPU"))
for k in order:
    s = stats[k]
    out.append("%-17s %6s %5s %8.0f %17s %8.2f %8.2f %8s %9s %8d %8d %7.0f%% %7.0f%%" %
               (k[0], k[1], s["conns"], s["rps"], "(%.0f-%.0f)" % (s["rmin"], s["rmax"]), s["p50"], s["p99"],
                ratio(s), bpr(s), s["non2xx"], s["sock"], s["srv"], s["cli"]))
    if s["failed"]:
        out.append("    %d run(s) of %s (groups %s) FAILED" % (s["failed"], k[0], k[1]))
for k in order:
    if k[0].startswith("gasketd-"):
        out.append("commit checks %s groups %s: %s" % (k[0], k[1], " ".join(stats[k]["checks"]) or "none"))
for k in order:
    if k[0] not in ("gasketd-full", "gasketd-normal"):
        continue
    s = stats[k]
    why = []
    if s["ratio"] is None or not s["ratio"] >= 0.7: why.append("rate %s x nginx < 0.7x" % ratio(s))
    if not s["p99"] < 5.0: why.append("p99 %.2f ms >= 5 ms" % s["p99"])
    out.append("target (>= 0.7x nginx req/s, p99 < 5 ms) %s groups %s: %s" %
               (k[0], k[1], "MET" if not why else "MISSED (" + ", ".join(why) + ")"))
out.append("")
out.append("Markdown (docs/benchmarks.md), %s:" % day)
out.append("")
out.append("| target | groupids | conns | what a 2xx means | req/s | (min–max) | p50 ms | p99 ms | × nginx "
           "| bytes written / reading | non-2xx / socket errors | server CPU | wrk CPU |")
out.append("|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for k in order:
    s = stats[k]
    out.append("| %s | %s | %s | %s | %.0f | %.0f–%.0f | %.2f | %.2f | %s | %s | %d / %d | %.0f%% | %.0f%% |" %
               (k[0], k[1], s["conns"], what[k[0]], s["rps"], s["rmin"], s["rmax"], s["p50"], s["p99"],
                ratio(s, "—"), bpr(s, "—"), s["non2xx"], s["sock"], s["srv"], s["cli"]))
out.append("")
out.append("Medians over %s interleaved rounds of %s s after a warm-up, `wrk -t%s -c%s` "
           "(the -1dev rows: `wrk -t1 -c1`, one device posting one reading at a time); groupids N: "
           "the requests carry groupid 1..N in turn; × nginx is the median of the per-round ratios "
           "at the same groupid count; bytes written / reading is `write_bytes` of /proc/PID/io over "
           "the run divided by the 2xx answers; CPU is busy time over the run "
           "(100%% = one core; the machine has %d)." % (R, D, threads, conns, os.cpu_count()))
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
