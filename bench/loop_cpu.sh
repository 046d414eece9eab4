#!/usr/bin/env bash
# Loop CPU per POST: the CPU time gasketd's event-loop thread spends on one
# POST /gasdetector of the seed reading, for one or more gasketd binaries side
# by side (e.g. a branch against main).
#
#   bench/loop_cpu.sh                         build/gasketd (after `make programs`)
#   bench/loop_cpu.sh /tmp/prev/build/gasketd build/gasketd    two binaries
#   D=5 R=1 bench/loop_cpu.sh                 quick check
#
# Environment: D (seconds per timed run, 10: ~150-250k requests here), R
# (rounds, 3), WARMUP (seconds before each timed run, 2), CONNS (wrk
# connections, 32), KEEP_TMP=1 (keep the temp dir), BENCH_TMPDIR (/var/tmp).
#
# Every binary runs as its own gasketd (durability = normal, no MQTT
# listener) on a free loopback port; the rounds are interleaved (A, B, A, B,
# ...) so that the noise of a shared machine spreads evenly. A timed run is
# wrk -t1 -cCONNS -dD POSTing the reading of bench/http_ingest.lua; the loop
# thread is gasketd's main thread (task id = pid: uv_run runs there; the store
# writer and the pools are the other tasks), and its CPU is utime + stime of
# /proc/PID/task/PID/stat over the run, divided by the 2xx answers wrk saw.
# The whole process's CPU per POST is shown next to it.
#
# Output: every run and, per binary, the medians over the rounds, on stdout
# and in bench/results/loop_cpu-<UTC time>.txt. Only loopback traffic; every
# step is bounded in time; all that it started is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LUA="$ROOT/bench/http_ingest.lua"
PY=/usr/bin/python3
D=${D:-10}
R=${R:-3}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
API_KEY=bench-key-0123456789abcdef

for v in D R WARMUP CONNS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || { echo "loop_cpu: $v must be a positive integer" >&2; exit 2; }
done

BENCH_NAME=loop_cpu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

command -v wrk >/dev/null || die "wrk not found (scripts/install-deps.sh --bench installs it)"
BINS=("$@")
[ "${#BINS[@]}" -ge 1 ] || BINS=("$ROOT/build/gasketd")
for b in "${BINS[@]}"; do [ -x "$b" ] || die "no gasketd binary at $b (make -j2 programs builds build/gasketd)"; done

TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/gasket-loopcpu.XXXXXX")
declare -A PID=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/loop_cpu-$STAMP.txt"
: >"$OUT"
say() { printf '%s\n' "$*" | tee -a "$OUT"; }

SEED='{"groupid":"2","gps":"37.61002501514269, 126.99636868892937","co":{"sensorid":"0005","sensortype":"8","value":"26.20","createdtime":"2021-09-03 18:14:49"},"no2":{"sensorid":"0006","sensortype":"8","value":"0.12","createdtime":"2021-09-03 18:14:49"},"c2h5oh":{"sensorid":"0007","sensortype":"8","value":"3.5","createdtime":"2021-09-03 18:14:49"},"h2":{"sensorid":"0008","sensortype":"8","value":"7.75","createdtime":"2021-09-03 18:14:49"}}'
HZ=$(getconf CLK_TCK)

# A free loopback port per binary, chosen while all are bound so they differ.
read -r -a PORTS < <("$PY" -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])' "${#BINS[@]}")

start() {    # INDEX
    local i=$1 dir="$TMP/g$1" st
    mkdir -p "$dir"
    cat >"$dir/gasket.ini" <<EOF
[server]
data_dir = $dir/data
durability = normal
log_level = warn
[http]
listen = 127.0.0.1:${PORTS[$i]}
[mqtt]
listen =
[apikey bench]
key = $API_KEY
rate = 1000000
burst = 1000000
EOF
    "${BINS[$i]}" -c "$dir/gasket.ini" >"$TMP/g$i.log" 2>&1 &
    PID[g$i]=$!
    wait_ready "g$i" "${PORTS[$i]}" 20
    st=$(http_status "http://127.0.0.1:${PORTS[$i]}/gasdetector" -X POST -H "x-api-key: $API_KEY" \
        -H 'Content-Type: application/json' --data-binary "$SEED")
    [ "$st" = 200 ] || die "g$i: probe POST got $st, not 200"
}

ticks() {    # PID [TID]: utime + stime of the process, or of one of its tasks
    local f="/proc/$1/stat"
    [ -n "${2:-}" ] && f="/proc/$1/task/$2/stat"
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$f"
}

run() {    # INDEX ROUND: one timed run; appends "index loop_us proc_us requests" to $TMP/runs
    local i=$1 round=$2 p=${PID[g$1]} url="http://127.0.0.1:${PORTS[$1]}/gasdetector" l0 l1 p0 p1 ok raw
    raw="$TMP/wrk-g$i-r$round.txt"
    timeout -k 5 $((WARMUP + 30)) wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$LUA" "$url" -- json "$API_KEY" >/dev/null 2>&1 || true
    l0=$(ticks "$p" "$p"); p0=$(ticks "$p")
    timeout -k 5 $((D + 30)) wrk -t1 -c"$CONNS" -d"${D}s" -s "$LUA" "$url" -- json "$API_KEY" >"$raw" 2>&1 ||
        { cat "$raw" >&2; die "wrk failed against ${BINS[$i]}"; }
    l1=$(ticks "$p" "$p"); p1=$(ticks "$p")
    ok=$(sed -n 's/^BENCH .* ok=\([0-9]*\).*/\1/p' "$raw")
    [ -n "$ok" ] && [ "$ok" -gt 0 ] || { cat "$raw" >&2; die "no 2xx answers from ${BINS[$i]}"; }
    local non2xx; non2xx=$(sed -n 's/^BENCH .* non2xx=\([0-9]*\).*/\1/p' "$raw")
    [ "$non2xx" = 0 ] || die "${BINS[$i]} answered $non2xx requests with an error status"
    awk -v i="$i" -v a="$l0" -v b="$l1" -v c="$p0" -v d="$p1" -v n="$ok" -v hz="$HZ" \
        'BEGIN { printf "%d %.2f %.2f %d\n", i, (b - a) / hz * 1e6 / n, (d - c) / hz * 1e6 / n, n }' >>"$TMP/runs"
    tail -n 1 "$TMP/runs" | awk -v r="$round" -v b="${BINS[$i]}" \
        '{ printf "round %d  %-40s loop %6.2f us/POST  process %6.2f us/POST  (%d POSTs)\n", r, b, $2, $3, $4 }' | tee -a "$OUT"
}

say "gasket loop CPU per POST, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say "settings: D=${D}s, R=$R, WARMUP=${WARMUP}s, wrk -t1 -c$CONNS, durability = normal, CLK_TCK=$HZ"
for i in "${!BINS[@]}"; do say "binary $i: ${BINS[$i]}"; start "$i"; done
: >"$TMP/runs"
for ((round = 1; round <= R; round++)); do
    for i in "${!BINS[@]}"; do run "$i" "$round"; done
done
say ""
say "medians over $R rounds (us of CPU per POST):"
for i in "${!BINS[@]}"; do
    awk -v i="$i" '$1 == i { print $2, $3 }' "$TMP/runs" | "$PY" -c '
import statistics, sys
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
print("%-40s loop %6.2f  process %6.2f" % (sys.argv[1], statistics.median(r[0] for r in rows),
      statistics.median(r[1] for r in rows)))' "${BINS[$i]}" | tee -a "$OUT"
done
say "results: $OUT"
