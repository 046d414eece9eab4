#!/usr/bin/env bash
# What the rules and Lua functions cost at ingest: gasketd with no rules,
# gasketd with the eight example rules (gasket.example.ini's [rule] sections,
# on_change) and gasketd whose route runs functions/gasdetect.lua (the
# original Lambda), side by side in interleaved rounds, with the HTTP ingest benchmark's wrk
# load (bench/http_ingest.lua: the device's reading, one POST per request).
#
#   bench/rules_ingest.sh            R=3 rounds of D=10 s per target
#   D=5 R=1 bench/rules_ingest.sh    shorter
#
# Targets (issue 4): the rules cost under 10% of the ingest rate, the Lua
# function under 25%. Both daemons
# use durability = full, as deployed. Loopback only; everything started is
# stopped on exit. Results: stdout and bench/results/rules_ingest-<UTC>.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${D:-10}
R=${R:-3}
KEY=bench-key-0123456789abcdef
"$ROOT/scripts/install-deps.sh" --bench
make -C "$ROOT" --no-print-directory programs >/dev/null
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/gasket-rules.XXXXXX")
OUT="$ROOT/bench/results/rules_ingest-$(date -u +%Y%m%dT%H%M%SZ).txt"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {    # NAME PORT no|yes|lua
    local dir="$TMP/$1"
    mkdir -p "$dir"
    {
        printf '[server]\ndata_dir = %s/data\nlog_level = warn\n[http]\nlisten = 127.0.0.1:%s\n' "$dir" "$2"
        printf '[mqtt]\nlisten =\n[apikey bench]\nkey = %s\nrate = 1000000\nburst = 1000000\n' "$KEY"
        if [ "$3" = yes ]; then
            # the [rule] sections of the example, verbatim
            awk '/^\[rule /{on=1} /^\[/{if ($0 !~ /^\[rule /) on=0} on' "$ROOT/gasket.example.ini"
        elif [ "$3" = lua ]; then
            printf '[route /gasdetector]\nfunction = %s/functions/gasdetect.lua\n' "$ROOT"
        fi
    } >"$dir/gasket.ini"
    "$ROOT/build/gasketd" -c "$dir/gasket.ini" >"$dir/log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$2/healthz" && return 0
        sleep 0.05
    done
    cat "$dir/log" >&2
    exit 1
}

P0=$(free_port); start norules "$P0" no
P1=$(free_port); start rules "$P1" yes
P2=$(free_port); start lua "$P2" lua
grep -c '^\[rule ' "$TMP/rules/gasket.ini" | sed 's/^/rules loaded: /'

run() {    # PORT -> req/s
    local url="http://127.0.0.1:$1/gasdetector"
    wrk -t1 -c32 -d2s -s "$ROOT/bench/http_ingest.lua" "$url" -- json "$KEY" >/dev/null
    wrk -t1 -c32 -d"${D}s" --latency -s "$ROOT/bench/http_ingest.lua" "$url" -- json "$KEY" |
        sed -n 's/^BENCH .* rps=\([0-9.]*\).* p99_us=\([0-9]*\).*non2xx=\([0-9]*\).*/\1 \2 \3/p'
}

{
    echo "rules_ingest $(date -u +%FT%TZ), gasket $(git -C "$ROOT" rev-parse --short HEAD), D=${D}s R=$R, wrk -t1 -c32"
    for r in $(seq "$R"); do
        for t in norules rules lua; do
            port=$P0; [ $t = rules ] && port=$P1; [ $t = lua ] && port=$P2
            read -r rps p99 bad < <(run "$port")
            echo "round $r $t rps $rps p99_us $p99 non2xx $bad"
        done
    done
} | tee "$OUT.tmp"
/usr/bin/python3 - "$OUT.tmp" <<'PY' | tee -a "$OUT.tmp"
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("round ")]
by = {}
for _, r, t, _, rps, _, p99, _, bad in rows:
    by.setdefault(t, []).append((float(rps), int(p99), int(bad)))
for t in ("norules", "rules", "lua"):
    v = by[t]
    print("%-8s median %8.0f req/s (min %.0f, max %.0f), median p99 %.2f ms, non-2xx %d" % (
        t, statistics.median(x[0] for x in v), min(x[0] for x in v), max(x[0] for x in v),
        statistics.median(x[1] for x in v) / 1000, sum(x[2] for x in v)))
for t, target in (("rules", 0.10), ("lua", 0.25)):
    ratio = statistics.median(b[0] / a[0] for a, b in zip(by["norules"], by[t]))
    cost = 1 - ratio
    print("%s/norules median ratio %.3f: costs %.1f%% of the ingest rate (target < %d%%): %s"
          % (t, ratio, 100 * cost, 100 * target, "MET" if cost < target else "MISSED"))
PY
mv "$OUT.tmp" "$OUT"
echo "results: $OUT"
