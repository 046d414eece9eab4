#!/usr/bin/env bash
# Dashboard benchmark (issue 10): the page in Debian's Chromium (headless,
# playwright-core) against gasketd holding 200 groups x 30 days of readings.
#
#   bench/dashboard.sh                         200 groups, 30 days, 10 min of live updates
#   HEAP_S=60 LOADS=3 bench/dashboard.sh       quicker
#   DATA_DIR=/var/tmp/x bench/dashboard.sh     load once into x, reuse it next time
#   GASKETD=/path/to/gasketd bench/...         use that binary, skip `make`
#
# Steps, all in one run:
#  1. bench/search_gen.py gen: one reading per group every 5 minutes for
#     N_GROUPS groups over DAYS days ending now (8 gases each, no2 past the
#     warning level in ~1%), as _bulk bodies; loaded over CONNS connections.
#     With DATA_DIR holding a gasketd data dir of a previous run (its
#     .loaded file), this is skipped.
#  2. gasketd (durability = full, rules no2 88/120 and co 35/200, live topic
#     on, HTTP on loopback: the dashboard needs no login there).
#  3. bench/dashboard.mjs in Chromium: LOADS first loads in new contexts
#     (navigation start -> a card for every group; bytes transferred),
#     CHARTS clicks on "30 d" on one group's page (click -> charts drawn),
#     then the overview open HEAP_S seconds while bench/dashboard_feed.py
#     posts RATE readings/s across the groups: the JS heap after a forced
#     garbage collection every SAMPLE_S seconds, and gasketd's RSS and CPU.
#
# Environment: N_GROUPS (200), DAYS (30), CONNS (2), LOADS (5), CHARTS (5),
# HEAP_S (600), SAMPLE_S (30), RATE (200), GROUP (17: the group charted),
# DATA_DIR, GASKETD, KEEP_TMP=1, BENCH_TMPDIR (/var/tmp).
#
# Output: progress and a summary on stdout; everything in
# bench/results/dashboard-<UTC time>.txt. Exit 1 when a load or the feed
# failed, or the page logged an error. Only loopback traffic; every step is
# bounded in time; all that it started is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
PY=/usr/bin/python3
GROUPS_N=${N_GROUPS:-200}
DAYS=${DAYS:-30}
CONNS=${CONNS:-2}
LOADS=${LOADS:-5}
CHARTS=${CHARTS:-5}
HEAP_S=${HEAP_S:-600}
SAMPLE_S=${SAMPLE_S:-30}
RATE=${RATE:-200}
GROUP=${GROUP:-17}
API_KEY=bench-key-0123456789abcdef

for v in GROUPS_N DAYS CONNS LOADS CHARTS HEAP_S SAMPLE_S RATE; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || { echo "dashboard: $v must be a positive integer" >&2; exit 2; }
done

BENCH_NAME=dashboard
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

"$ROOT/scripts/install-deps.sh" --bench
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium not found (scripts/install-deps.sh installs it)"
[ -d "$ROOT/tests/e2e/node_modules/playwright-core" ] || die "tests/e2e has no playwright-core (scripts/install-deps.sh)"

TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/gasket-dashboard.XXXXXX")
declare -A PID=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_gasketd
open_results

P_G=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATA=${DATA_DIR:-$TMP/gdata}
mkdir -p "$DATA"
cat >"$TMP/gasket.ini" <<EOF2
[server]
data_dir = $DATA
durability = full
timezone = Asia/Seoul
log_level = warn
[http]
listen = 127.0.0.1:$P_G
max_bulk_body = 256MiB
[mqtt]
listen =
[apikey bench]
key = $API_KEY
routes = /gasdetector
read = gasdetect
rate = 1000000
burst = 1000000
[route /gasdetector]
index = gasdetect
topic = pi/1
[rule no2]
field = no2.value
warn = 88
alarm = 120
clear = 80
unit = ppm
[rule co]
field = co.value
warn = 35
alarm = 200
unit = ppm
EOF2
"$TMP/gasketd.bin" -t -c "$TMP/gasket.ini" >"$TMP/check.log" 2>&1 || { cat "$TMP/check.log" >&2; die "config refused"; }

FAILED=0
{
    echo "gasket dashboard benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "gasketd: $GASKETD (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n 1); playwright-core $(node -p "require('$ROOT/tests/e2e/node_modules/playwright-core/package.json').version")"
    echo "settings: N_GROUPS=$GROUPS_N DAYS=$DAYS LOADS=$LOADS CHARTS=$CHARTS HEAP_S=$HEAP_S SAMPLE_S=$SAMPLE_S RATE=$RATE GROUP=$GROUP"
    echo
} >>"$PART"
cat "$PART"

start_gasketd() {
    "$TMP/gasketd.bin" -c "$TMP/gasket.ini" >>"$TMP/gasketd.log" 2>&1 &
    PID[gasketd]=$!
    wait_ready gasketd "$P_G" 60
}

# ---------------------------------------------------------------- data
if [ -f "$DATA/.loaded" ] && [ "$(cat "$DATA/.loaded")" = "$GROUPS_N $DAYS" ]; then
    say "data: reusing $DATA ($(cat "$DATA/.loaded"): groups days, loaded $(stat -c %y "$DATA/.loaded" | cut -d. -f1))"
    start_gasketd
else
    docs=$((GROUPS_N * DAYS * 288))
    log "generating $docs documents ..."
    run gen 1800 "$PY" "$BENCH/search_gen.py" gen --dir "$TMP/gen" --docs "$docs" --groups "$GROUPS_N" \
        --days "$DAYS" --bulk 2000 --lines 5000 || { cat "$TMP/gen.out" >&2; die "generation failed"; }
    say "$(cat "$TMP/gen.out")"
    start_gasketd
    log "loading gasketd ($CONNS connections) ..."
    run load 3600 "$PY" "$BENCH/search_gen.py" load --dir "$TMP/gen" --target gasket --port "$P_G" \
        --key "$API_KEY" --conns "$CONNS" || { cat "$TMP/load.out" >&2; die "load failed"; }
    say "$(cat "$TMP/load.out")"
    rm -rf "$TMP/gen"
    echo "$GROUPS_N $DAYS" >"$DATA/.loaded"
fi
say "stored: $(curl -sS --max-time 60 -H "x-api-key: $API_KEY" "http://127.0.0.1:$P_G/gasdetect/_count"), data dir $(du -sh "$DATA" | cut -f1)"

# ---------------------------------------------------------------- browser
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/${PID[gasketd]}/status"; }
cpu_ticks() { awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }

log "measuring in Chromium (first loads, 30-day charts, then ${HEAP_S}s of live updates) ..."
node "$BENCH/dashboard.mjs" --url "http://127.0.0.1:$P_G/" --groups "$GROUPS_N" --group "$GROUP" \
    --loads "$LOADS" --charts "$CHARTS" --heap-seconds "$HEAP_S" --sample-seconds "$SAMPLE_S" \
    >"$TMP/page.out" 2>&1 &
PID[page]=$!
# the feed starts when the page says HEAPSTART
for ((i = 0; i < 6000; i++)); do
    grep -q '^HEAPSTART' "$TMP/page.out" && break
    kill -0 "${PID[page]}" 2>/dev/null || break
    sleep 0.1
done
FEED_OK=1
if grep -q '^HEAPSTART' "$TMP/page.out"; then
    rss0=$(rss_kb); c0=$(cpu_ticks "${PID[gasketd]}"); t0=$(date +%s.%N)
    (   # gasketd's RSS every SAMPLE_S seconds while the feed runs
        s0=$(date +%s)
        while kill -0 "${PID[gasketd]}" 2>/dev/null; do
            echo "RSS t=$(($(date +%s) - s0)) gasketd_kb=$(rss_kb)"
            sleep "$SAMPLE_S"
        done
    ) >"$TMP/rss.out" 2>/dev/null &
    PID[rss]=$!
    timeout -k 5 $((HEAP_S + 60)) "$PY" "$BENCH/dashboard_feed.py" --port "$P_G" --key "$API_KEY" \
        --rate "$RATE" --seconds "$HEAP_S" --groups "$GROUPS_N" >"$TMP/feed.out" 2>&1 || FEED_OK=0
    rss1=$(rss_kb); c1=$(cpu_ticks "${PID[gasketd]}"); t1=$(date +%s.%N)
    kill "${PID[rss]}" 2>/dev/null || true
    wait "${PID[rss]}" 2>/dev/null || true
    unset "PID[rss]"
fi
rc=0
timeout 300 tail --pid="${PID[page]}" -f /dev/null || true
wait "${PID[page]}" || rc=$?
unset "PID[page]"
while read -r line; do say "$line"; done <"$TMP/page.out"
if [ -f "$TMP/feed.out" ]; then
    while read -r line; do say "$line"; done <"$TMP/rss.out"
    say "$(cat "$TMP/feed.out")"
    say "gasketd during the feed: RSS ${rss0} -> ${rss1} kB, CPU $(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" -v s0="$t0" -v s1="$t1" 'BEGIN { printf "%.0f%% of a core", 100 * (b - a) / hz / (s1 - s0) }')"
fi
[ "$rc" -eq 0 ] || { FAILED=1; say "the page's measurement FAILED (exit $rc)"; }
[ "$FEED_OK" -eq 1 ] || { FAILED=1; say "the feed FAILED"; }
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
mv "$PART" "$OUT"
log "results: $OUT"
exit "$FAILED"
