#!/usr/bin/env bash
# HTTP ingest latency with and without a large MQTT state being saved.
#
#   bench/mqtt_state.sh                     R=2 rounds of D=20 s per target
#   GASKETD=/path/to/gasketd bench/...      that binary (default: make programs)
#
# Environment: D (seconds per timed run, 20), R (rounds, 2), CONNS (wrk
# connections, 32), RETAINED (10000), SESSIONS (5000), KEEP_TMP=1, BENCH_TMPDIR
# (/var/tmp: a real disk, so that fsync costs what it costs).
#
# Two gasketd, both durability = full, both with an MQTT listener:
#   plain   no MQTT state
#   loaded  RETAINED retained topics and SESSIONS persistent sessions (each
#           with a subscription), made by bench/mqtt_state_load.py through
#           the broker, persist_interval = 2s, and during each timed run the
#           state keeps changing (200 retained topics and 20 QoS 1 messages
#           queued to 50 offline sessions each, per second), so that every
#           save (about D/2 of them per run) has thousands of rows to write.
# wrk POSTs readings of 64 groupids (bench/mqtt_state.lua) to each, in
# interleaved rounds (plain, loaded, plain, ...). Reported per target: rps and
# p50/p99/p99.9/max latency of every round, and the ratio loaded/plain of the
# p99.9. A save that blocked the event loop shows as a p99.9 (and max) jump.
# Output: stdout and bench/results/mqtt_state-<UTC time>.txt. Bounded: about
# 2*R*(D+2) s plus the load (a minute), every step under a timeout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
PY=/usr/bin/python3
D=${D:-20}
R=${R:-2}
CONNS=${CONNS:-32}
RETAINED=${RETAINED:-10000}
SESSIONS=${SESSIONS:-5000}
API_KEY=bench-key-0123456789abcdef

BENCH_NAME=mqtt_state
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

for t in wrk curl timeout; do command -v "$t" >/dev/null || die "$t not found"; done
"$PY" -c 'import paho.mqtt.client' || die "python3-paho-mqtt not found"
ulimit -n 16384

TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/gasket-bench.XXXXXX")
declare -A PID=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${GASKETD:-}" ]; then
    (cd "$ROOT" && timeout 900 make -j2 programs) >"$TMP/make.log" 2>&1 || { tail -n 30 "$TMP/make.log" >&2; die "make failed"; }
    GASKETD="$ROOT/build/gasketd"
fi
[ -x "$GASKETD" ] || die "no gasketd binary at $GASKETD"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$BENCH/results"
OUT="$BENCH/results/mqtt_state-$STAMP.txt"
: >"$OUT"
rec() { printf '%s\n' "$*" | tee -a "$OUT"; }

read -r H_PLAIN M_PLAIN H_LOADED M_LOADED < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

start_gasketd() {    # NAME HTTP_PORT MQTT_PORT
    local name=$1 dir="$TMP/$1"
    mkdir -p "$dir"
    cat >"$dir/gasket.ini" <<EOI
[server]
data_dir = $dir/data
durability = full
log_level = warn
[http]
listen = 127.0.0.1:$2
[mqtt]
listen = 127.0.0.1:$3
allow_anonymous = true
persist_interval = 2s
max_retained_per_identity = 0
max_queued = 100000
[apikey bench]
key = $API_KEY
rate = 1000000
burst = 1000000
EOI
    "$GASKETD" -c "$dir/gasket.ini" >"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    wait_ready "$name" "$2" 20
}

start_gasketd plain "$H_PLAIN" "$M_PLAIN"
start_gasketd loaded "$H_LOADED" "$M_LOADED"
rec "# mqtt_state $STAMP: D=${D}s R=$R CONNS=$CONNS RETAINED=$RETAINED SESSIONS=$SESSIONS"
rec "# gasketd: $GASKETD ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?)); $(nproc) cores; $(uname -r)"
t0=$(date +%s)
timeout 300 "$PY" "$BENCH/mqtt_state_load.py" "$M_LOADED" fill "$RETAINED" "$SESSIONS" || die "loading the MQTT state failed"
rec "# loaded $RETAINED retained topics and $SESSIONS sessions in $(( $(date +%s) - t0 ))s"
sleep 3    # the first save of everything
grep -h "loaded\|persistence" "$TMP/loaded.log" || true

declare -A P999=()
run() {    # NAME HTTP_PORT ROUND
    local name=$1 port=$2 churn_pid=""
    if [ "$name" = loaded ]; then
        timeout $((D + 30)) "$PY" "$BENCH/mqtt_state_load.py" "$M_LOADED" churn "$((D + 2))" "$RETAINED" &
        churn_pid=$!
    fi
    local rep
    rep=$(timeout $((D + 30)) wrk -t1 -c"$CONNS" -d"${D}s" --latency --timeout 10s \
        -s "$BENCH/mqtt_state.lua" "http://127.0.0.1:$port/gasdetector" -- "$API_KEY")
    [ -n "$churn_pid" ] && { wait "$churn_pid" || die "churn failed"; }
    local line; line=$(grep '^BENCH' <<<"$rep") || die "no BENCH line from wrk: $rep"
    rec "$name round $3: ${line#BENCH }"
    P999[$name]="${P999[$name]:-} $(sed -E 's/.*p999_us=([0-9]+).*/\1/' <<<"$line")"
    grep -q ' errors=0' <<<"$line" || die "$name: wrk saw errors"
}

for ((r = 1; r <= R; r++)); do
    run plain "$H_PLAIN" "$r"
    run loaded "$H_LOADED" "$r"
done
saves=$(grep -c "persistence" "$TMP/loaded.log" || true)
rec "# persistence errors logged by loaded: $saves"
"$PY" - "${P999[plain]}" "${P999[loaded]}" <<'EOP' | tee -a "$OUT"
import sys
p = [int(x) for x in sys.argv[1].split()]
l = [int(x) for x in sys.argv[2].split()]
print("p99.9 plain (us): %s; loaded (us): %s; ratio of the medians loaded/plain: %.2f"
      % (p, l, sorted(l)[len(l) // 2] / max(1, sorted(p)[len(p) // 2])))
EOP
log "results: $OUT"
