#!/usr/bin/env bash
# A/B of two gasketd binaries on what the store's writer and hot tier cost:
#
#   bench/ab_store.sh OLD_GASKETD NEW_GASKETD      (~6 min)
#   PARTS=bulk bench/ab_store.sh OLD NEW           only part 3
#
# Both binaries run at once (durability = full, data on /var/tmp), and:
#  1. ingest: in R rounds, each binary in turn (the order flips every round),
#     wrk -t1 -c32 for D s (6) POSTs the device reading with groupid 1..G
#     (50) in turn (bench/http_ingest.lua); readings/s per run, and the
#     median of each binary's runs and their ratio NEW/OLD.
#  2. hot-tier queries: both are given the same HOT_DOCS (16000) documents
#     of HOT_GROUPS groups (1 and 50) over the last 24 h by _bulk
#     (bench/search_gen.py; `flush_docs` and `flush_interval` raised so
#     that every one stays in the hot tier), then queries a and b of
#     bench/search_queries.py (a group's 24 h 1-min avg, 14 d 1-h avg+max
#     of every group) run N (30) times each, alternating the two; the
#     medians (ms), and whether the two answers are the same bytes (sums
#     of floating-point values may differ in the last digit when the two
#     add in another order; then the JSON is compared with numbers to
#     1e-12).
#  3. _bulk through the moves: BULK_DOCS (300000) seed documents of 100
#     groups over 14 days (bench/search_gen.py, as bench/search.sh loads
#     them) posted by _bulk over 4 connections to a fresh gasketd with the
#     default flush settings, one binary at a time (the other stopped), in
#     BULK_R (2) rounds, the order flipping; documents/s of each load (the
#     hot tier waits for the mover at twice flush_docs, so this is the
#     moves' pace), the medians and their ratio NEW/OLD.
# PARTS ("ingest hot bulk") picks the parts to run.
# Output: progress and summary on stdout, also written to
# bench/results/ab_store-<UTC time>.txt. Only loopback traffic; every step
# is bounded in time; what it started is stopped on exit.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: bench/ab_store.sh OLD_GASKETD NEW_GASKETD" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
PY=/usr/bin/python3
R=${R:-3}
D=${D:-6}
G=${G:-50}
N=${N:-30}
HOT_DOCS=${HOT_DOCS:-16000}
HOT_GROUPS=${HOT_GROUPS:-1 50}
BULK_DOCS=${BULK_DOCS:-300000}
BULK_R=${BULK_R:-2}
PARTS=${PARTS:-ingest hot bulk}
KEY=bench-key-0123456789abcdef

BENCH_NAME=ab_store
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
for v in R D G N HOT_DOCS BULK_DOCS BULK_R; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "$v must be a positive integer"
done
"$ROOT/scripts/install-deps.sh" --bench
command -v wrk >/dev/null || die "wrk not found (scripts/install-deps.sh --bench installs it)"
ulimit -n 16384
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/gasket-ab.XXXXXX")
declare -A PID=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
declare -A BIN=([old]=$1 [new]=$2)
for k in old new; do
    [ -x "${BIN[$k]}" ] || die "no gasketd binary at ${BIN[$k]}"
    cp "${BIN[$k]}" "$TMP/gasketd-$k"
done
open_results
say "ab_store $(date -u '+%Y-%m-%d %H:%M:%S') UTC: old ${BIN[old]}, new ${BIN[new]}"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# start NAME PORT [MORE SETTINGS]: gasketd-NAME on 127.0.0.1:PORT, PID[NAME].
start() {
    local name=$1 port=$2 dir="$TMP/$1-$2"
    mkdir -p "$dir"
    cat >"$dir/gasket.ini" <<EOF
[server]
data_dir = $dir/data
durability = full
log_level = warn
${3:-}
[http]
listen = 127.0.0.1:$port
max_bulk_body = 64MiB
[mqtt]
listen =
[apikey bench]
key = $KEY
rate = 1000000
burst = 1000000
EOF
    "$TMP/gasketd-$name" -c "$dir/gasket.ini" >"$TMP/$name.log" 2>&1 &
    PID[$name]=$!
    wait_ready "$name" "$port" 20
}
stop_one() {
    [ -n "${PID[$1]:-}" ] || return 0
    kill -TERM "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
    unset "PID[$1]"
}
stop_both() {
    stop_one old
    stop_one new
}
# median_ratio NAME "OLD VALUES" "NEW VALUES": a summary line
median_ratio() {
    "$PY" - "$@" <<'PYEOF'
import statistics, sys
o = [float(x) for x in sys.argv[2].split()]
n = [float(x) for x in sys.argv[3].split()]
mo, mn = statistics.median(o), statistics.median(n)
print("%s old_median=%.0f new_median=%.0f ratio=%.2f" % (sys.argv[1], mo, mn, mn / mo))
PYEOF
}
ports() { "$PY" -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])'; }

# ---- 1. ingest
if [[ " $PARTS " == *" ingest "* ]]; then
read -r PO PN < <(ports)
declare -A PORT=([old]=$PO [new]=$PN)
start old "$PO"
start new "$PN"
declare -A RATES=([old]="" [new]="")
for ((r = 1; r <= R; r++)); do
    order="old new"
    [ $((r % 2)) -eq 0 ] && order="new old"
    for k in $order; do
        run "wrk-$k-$r" $((D + 30)) wrk -t1 -c32 -d"${D}s" -s "$BENCH/http_ingest.lua" \
            "http://127.0.0.1:${PORT[$k]}/gasdetector" -- json "$KEY" "$G" ||
            die "wrk failed: $(tail -n 5 "$TMP/wrk-$k-$r.out")"
        rps=$(grep -o 'rps=[0-9.]*' "$TMP/wrk-$k-$r.out" | cut -d= -f2)
        non2xx=$(grep -o 'non2xx=[0-9]*' "$TMP/wrk-$k-$r.out" | cut -d= -f2)
        [ "$non2xx" = 0 ] || die "$k: $non2xx answers were not 2xx"
        RATES[$k]="${RATES[$k]} $rps"
        say "ingest round $r $k: $rps readings/s ($G groupids, wrk -c32, durability full)"
    done
done
stop_both
say "$(median_ratio INGEST "${RATES[old]}" "${RATES[new]}")"
fi

# ---- 2. hot-tier queries
cat >"$TMP/hotq.py" <<'PYEOF'
import json, statistics, sys, time
import search_queries as sq

def close(a, b):
    """equal, numbers to 1e-12 relative (a sum in another order), "took" aside"""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(k == "took" or close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    return a == b
po, pn, key, groups, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
grp = "17" if groups >= 17 else "1"
g = {"old": sq.Gasket(int(po), key, grp), "new": sq.Gasket(int(pn), key, grp)}
for q in "ab":
    t = {k: [] for k in g}
    for i in range(n):
        for k in (("old", "new") if i % 2 == 0 else ("new", "old")):
            t0 = time.perf_counter()
            g[k].raw(q)
            t[k].append((time.perf_counter() - t0) * 1000)
    a, b = g["old"].raw(q), g["new"].raw(q)
    same = "same" if a == b else "same to 1e-12" if close(json.loads(a), json.loads(b)) else "differ"
    print("HOTQ groups=%d query=%s old_ms=%.2f new_ms=%.2f ratio=%.2f answers=%s" % (
        groups, q, statistics.median(t["old"]), statistics.median(t["new"]),
        statistics.median(t["new"]) / statistics.median(t["old"]), same))
PYEOF
[[ " $PARTS " == *" hot "* ]] || HOT_GROUPS=""
for hg in $HOT_GROUPS; do
    read -r PO PN < <(ports)
    PORT=([old]=$PO [new]=$PN)
    start old "$PO" $'flush_docs = 1000000\nflush_interval = 1h'
    start new "$PN" $'flush_docs = 1000000\nflush_interval = 1h'
    rm -rf "$TMP/data"
    run gen 300 "$PY" "$BENCH/search_gen.py" gen --dir "$TMP/data" --docs "$HOT_DOCS" \
        --groups "$hg" --days 1 --bulk 2000 || die "search_gen gen failed"
    for k in old new; do
        run "load-$k" 300 "$PY" "$BENCH/search_gen.py" load --dir "$TMP/data" --target gasket \
            --port "${PORT[$k]}" --key "$KEY" --conns 2 || die "loading $k failed: $(cat "$TMP/load-$k.out")"
        say "hot $hg groups, $k: $(grep LOAD "$TMP/load-$k.out")"
    done
    run "q-$hg" 600 env PYTHONPATH="$BENCH" "$PY" "$TMP/hotq.py" "$PO" "$PN" "$KEY" "$hg" "$N" ||
        die "queries failed: $(cat "$TMP/q-$hg.out")"
    while read -r line; do say "$line"; done <"$TMP/q-$hg.out"
    stop_both
done
# ---- 3. _bulk through the moves
if [[ " $PARTS " == *" bulk "* ]]; then
    run bgen 900 "$PY" "$BENCH/search_gen.py" gen --dir "$TMP/bulk" --docs "$BULK_DOCS" \
        --groups 100 --days 14 --bulk 2000 || die "search_gen gen failed"
    declare -A BR=([old]="" [new]="")
    for ((r = 1; r <= BULK_R; r++)); do
        order="old new"
        [ $((r % 2)) -eq 0 ] && order="new old"
        for k in $order; do
            read -r P1 _ < <(ports)
            start "$k" "$P1"
            run "bload-$k-$r" 900 "$PY" "$BENCH/search_gen.py" load --dir "$TMP/bulk" \
                --target gasket --port "$P1" --key "$KEY" --conns 4 ||
                die "loading $k failed: $(cat "$TMP/bload-$k-$r.out")"
            rate=$(grep -o 'docs_per_s=[0-9.]*' "$TMP/bload-$k-$r.out" | cut -d= -f2)
            BR[$k]="${BR[$k]} $rate"
            say "bulk round $r $k: $(grep LOAD "$TMP/bload-$k-$r.out")"
            stop_one "$k"
            rm -rf "$TMP/$k-$P1"
        done
    done
    say "$(median_ratio BULK "${BR[old]}" "${BR[new]}")"
fi
mv "$PART" "$OUT"
log "results: $OUT"
