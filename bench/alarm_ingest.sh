#!/usr/bin/env bash
# What alarms cost at ingest: the same HTTP ingest load (one reading per POST,
# 50 groups in turn) against two identical gasketd, both durability = full
# with the rule `no2 >= 88` (on_change):
#   calm   no2 never reaches a level: no alarm event at all
#   cross  each group's no2 alternates 95 / 10, so every reading raises or
#          clears an alarm (history row, alarms.json state, MQTT publish)
# benchmarked in interleaved rounds (calm, cross, calm, cross, ...).
#
#   bench/alarm_ingest.sh               R=5 rounds of D=10 s per target
#   D=5 R=3 bench/alarm_ingest.sh       shorter
#   GASKETD=/path/to/gasketd bench/...  that binary, no `make`
#
# Target (issue 9): cross/calm median ratio >= 0.95. Loopback only; every
# wrk run is bounded by D (+ WARMUP); everything started is stopped on exit.
# Results: stdout and bench/results/alarm_ingest-<UTC>.txt. After the runs the
# history of the cross daemon is checked to hold alarms (GET /alarms).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${D:-10}
R=${R:-5}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
KEY=bench-key-0123456789abcdef
for v in D R WARMUP CONNS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || { echo "alarm_ingest: $v must be a positive integer" >&2; exit 2; }
done
BENCH_NAME=alarm_ingest
declare -A PID=()
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/gasket-alarm.XXXXXX")
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM

command -v wrk >/dev/null || "$ROOT/scripts/install-deps.sh" --bench
if [ -z "${GASKETD:-}" ]; then
    make -C "$ROOT" --no-print-directory programs >/dev/null
    GASKETD=$ROOT/build/gasketd
fi
OUT="$ROOT/bench/results/alarm_ingest-$(date -u +%Y%m%dT%H%M%SZ).txt"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {    # NAME PORT
    local dir="$TMP/$1"
    mkdir -p "$dir"
    cat >"$dir/gasket.ini" <<INI
[server]
data_dir = $dir/data
log_level = warn
durability = full
[http]
listen = 127.0.0.1:$2
[mqtt]
listen =
[apikey bench]
key = $KEY
rate = 1000000
burst = 1000000
admin = true
[rule no2]
field = no2.value
op = >=
warn = 88
INI
    "$GASKETD" -c "$dir/gasket.ini" >"$TMP/$1.log" 2>&1 &
    PID[$1]=$!
    wait_ready "$1" "$2" 30
}

PC=$(free_port); start calm "$PC"
PX=$(free_port); start cross "$PX"

run() {    # PORT MODE -> "rps p99_us non2xx"
    local url="http://127.0.0.1:$1/gasdetector"
    timeout $((WARMUP + 30)) wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$ROOT/bench/alarm_ingest.lua" "$url" -- "$2" "$KEY" >/dev/null
    timeout $((D + 30)) wrk -t1 -c"$CONNS" -d"${D}s" --latency -s "$ROOT/bench/alarm_ingest.lua" "$url" -- "$2" "$KEY" |
        sed -n 's/^BENCH .* rps=\([0-9.]*\).* p99_us=\([0-9]*\).*non2xx=\([0-9]*\).*/\1 \2 \3/p'
}

{
    echo "alarm_ingest $(date -u +%FT%TZ), gasket $(git -C "$ROOT" rev-parse --short HEAD), D=${D}s R=$R, wrk -t1 -c$CONNS, $(nproc) CPUs"
    for r in $(seq "$R"); do
        read -r rps p99 bad < <(run "$PC" calm)
        echo "round $r calm rps $rps p99_us $p99 non2xx $bad"
        read -r rps p99 bad < <(run "$PX" cross)
        echo "round $r cross rps $rps p99_us $p99 non2xx $bad"
    done
    total=$(curl -sS --max-time 30 -H "x-api-key: $KEY" "http://127.0.0.1:$PX/alarms?limit=1" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
    echo "cross: $total alarms in the history"
} | tee "$OUT.tmp"
/usr/bin/python3 - "$OUT.tmp" <<'PY' | tee -a "$OUT.tmp"
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("round ")]
by = {}
for _, r, t, _, rps, _, p99, _, bad in rows:
    by.setdefault(t, []).append((float(rps), int(p99), int(bad)))
for t in ("calm", "cross"):
    v = by[t]
    print("%-6s median %8.0f req/s (min %.0f, max %.0f), median p99 %.2f ms, non-2xx %d" % (
        t, statistics.median(x[0] for x in v), min(x[0] for x in v), max(x[0] for x in v),
        statistics.median(x[1] for x in v) / 1000, sum(x[2] for x in v)))
ratio = statistics.median(b[0] / a[0] for a, b in zip(by["calm"], by["cross"]))
print("cross/calm median ratio %.3f (target >= 0.95): %s" % (ratio, "MET" if ratio >= 0.95 else "MISSED"))
PY
mv "$OUT.tmp" "$OUT"
echo "results: $OUT"
