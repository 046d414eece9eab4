#!/usr/bin/env bash
# A/B of two gasketd binaries on the latency of one search query:
#
#   bench/query_ab.sh OLD_GASKETD NEW_GASKETD        (~3 min)
#   Q=b N_DOCS=100000 bench/query_ab.sh OLD NEW      another query, less data
#
# 1. bench/search_gen.py makes N_DOCS (300000) seed documents of 100 groups
#    over 14 days; NEW loads them by _bulk into one data_dir (timezone UTC,
#    durability normal) and moves them all into gasket.db (POST /_flush).
# 2. In R (3) rounds, each binary in turn (the order flipping every round)
#    serves that data_dir alone and answers query Q (a: one group's 24 h
#    1-min avg of no2; see bench/search_queries.py) one request after
#    another on one keep-alive connection for D (5) s, after a 1 s warm-up:
#    requests answered and the median latency per run; the summary has the
#    medians of both over the rounds and their ratios NEW/OLD.
# Results in bench/results/query_ab-<UTC time>.txt. Loopback only; every
# step is bounded in time; what it started is stopped on exit.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: bench/query_ab.sh OLD_GASKETD NEW_GASKETD" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
PY=/usr/bin/python3
R=${R:-3}
D=${D:-5}
N_DOCS=${N_DOCS:-300000}
Q=${Q:-a}
KEY=bench-key-0123456789abcdef

BENCH_NAME=query_ab
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
for v in R D N_DOCS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "$v must be a positive integer"
done
[[ $Q =~ ^(a|b|c|d)$ ]] || die "Q must be one of a b c d"
"$ROOT/scripts/install-deps.sh" --bench
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/gasket-qab.XXXXXX")
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
say "query_ab $(date -u '+%Y-%m-%d %H:%M:%S') UTC: old ${BIN[old]}, new ${BIN[new]}, query $Q"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$TMP/gasket.ini" <<EOF
[server]
data_dir = $TMP/data
durability = normal
log_level = warn
timezone = UTC
[http]
listen = 127.0.0.1:$PORT
max_bulk_body = 64MiB
[mqtt]
listen =
[apikey bench]
key = $KEY
rate = 1000000
burst = 1000000
EOF
start() {
    "$TMP/gasketd-$1" -c "$TMP/gasket.ini" >"$TMP/$1.log" 2>&1 &
    PID[$1]=$!
    wait_ready "$1" "$PORT" 30
}
stop() {
    kill -TERM "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
    unset "PID[$1]"
}

run gen 900 "$PY" "$BENCH/search_gen.py" gen --dir "$TMP/gen" --docs "$N_DOCS" --groups 100 \
    --days 14 --bulk 2000 || die "search_gen gen failed"
start new
run load 900 "$PY" "$BENCH/search_gen.py" load --dir "$TMP/gen" --target gasket --port "$PORT" \
    --key "$KEY" --conns 4 || die "loading failed: $(cat "$TMP/load.out")"
say "$(grep LOAD "$TMP/load.out")"
[ "$(http_status "http://127.0.0.1:$PORT/_flush" -X POST -H "x-api-key: $KEY")" = 200 ] ||
    die "POST /_flush failed"
stop new

cat >"$TMP/time.py" <<'PYEOF'
import statistics, sys, time
import search_queries as sq
port, key, q, secs = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
g = sq.Gasket(port, key, "17")
t_end = time.time() + 1
while time.time() < t_end:
    g.raw(q)
ts, t_end = [], time.time() + secs
while time.time() < t_end:
    t0 = time.perf_counter()
    body = g.raw(q)
    ts.append((time.perf_counter() - t0) * 1000)
print("QUERY q=%s n=%d median_ms=%.3f bytes=%d" % (q, len(ts), statistics.median(ts), len(body)))
PYEOF
declare -A MED=([old]="" [new]="") CNT=([old]="" [new]="")
for ((r = 1; r <= R; r++)); do
    order="old new"
    [ $((r % 2)) -eq 0 ] && order="new old"
    for k in $order; do
        start "$k"
        run "t-$k-$r" $((D + 60)) env PYTHONPATH="$BENCH" "$PY" "$TMP/time.py" "$PORT" "$KEY" "$Q" "$D" ||
            die "queries failed: $(cat "$TMP/t-$k-$r.out")"
        stop "$k"
        line=$(grep QUERY "$TMP/t-$k-$r.out")
        MED[$k]="${MED[$k]} $(sed 's/.*median_ms=\([0-9.]*\).*/\1/' <<<"$line")"
        CNT[$k]="${CNT[$k]} $(sed 's/.* n=\([0-9]*\).*/\1/' <<<"$line")"
        say "round $r $k: $line"
    done
done
say "$("$PY" - "${MED[old]}" "${MED[new]}" "${CNT[old]}" "${CNT[new]}" <<'PYEOF'
import statistics, sys
mo, mn, co, cn = ([float(x) for x in a.split()] for a in sys.argv[1:5])
print("SUMMARY median_ms old=%.3f new=%.3f ratio=%.2f; requests per run old=%.0f new=%.0f ratio=%.2f" % (
    statistics.median(mo), statistics.median(mn), statistics.median(mn) / statistics.median(mo),
    statistics.median(co), statistics.median(cn), statistics.median(cn) / statistics.median(co)))
PYEOF
)"
mv "$PART" "$OUT"
log "results: $OUT"
