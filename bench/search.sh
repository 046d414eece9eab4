#!/usr/bin/env bash
# Search benchmark (issue 5): gasketd's _search/_count against InfluxDB 1.6 on
# the same 10 million measurements, and gasketd's ingest rate while queries run.
#
#   bench/search.sh                          1.25M documents (10M measurements)
#   N_DOCS=100000 D=3 R=1 bench/search.sh    quick check (~2 min)
#   GASKETD=/path/to/gasketd bench/...       use that binary, skip `make`
#
# Steps, all in one run:
#  1. bench/search_gen.py gen: N_DOCS device payloads (8 gases each) for N_GROUPS
#     groups over the DAYS days ending now, as _bulk bodies of BULK documents
#     and as InfluxDB line protocol (measurement gas, tag groupid, a float
#     field per gas) in bodies of LINES lines. no2 >= 88 in ~1% of readings.
#  2. gasketd (durability = DURABILITY, [server] timezone = UTC) and influxd
#     1.6 on free loopback ports; each loaded in turn over CONNS keep-alive
#     connections (_bulk; /write?precision=s): documents/s, measurements/s.
#  3. bench/search_queries.py check: the answers of the four queries compared
#     between the two (every bucket of (a) and (b), each group's latest
#     reading for (c), the count for (d)).
#  4. bench/search_queries.py time: each query WARMUP_Q times, then N times
#     alternating the two systems; median and p90 per request; InfluxDB/gasket.
#  5. Ingest under query load: wrk -t1 -c32 POSTing the device reading to
#     /gasdetector (bench/http_ingest.lua) for D s alone and D s with a loop
#     of queries a-d on one connection (back to back, or QPAUSE s of sleep
#     after each round of a-d), R interleaved rounds (the order flips each
#     round); the ratio of the medians.
#
# Environment: N_DOCS (1250000), N_GROUPS (100), DAYS (14), BULK (2000
# documents per _bulk), LINES (5000 lines per /write), CONNS (4 loading
# connections), N (20 timed requests per query and system), WARMUP_Q (3), D
# (10 s), R (3), DURABILITY (full), QPAUSE (seconds of sleep after each round
# of the query loop, 0), GASKETD, KEEP_TMP=1 (keep the temp dir), BENCH_TMPDIR
# (/var/tmp: a real disk; ~4 GB at full size).
#
# Output: progress and a summary on stdout; everything in
# bench/results/search-<UTC time>.txt (.tmp while running). Exit 1 when a load
# failed, an answer mismatched or gasketd did not exit 0 on SIGTERM. Only
# loopback traffic; every step is bounded in time; all that it started is
# stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
PY=/usr/bin/python3
N_DOCS=${N_DOCS:-1250000}
GROUPS_N=${N_GROUPS:-100}
DAYS=${DAYS:-14}
BULK=${BULK:-2000}
LINES=${LINES:-5000}
CONNS=${CONNS:-4}
N=${N:-20}
WARMUP_Q=${WARMUP_Q:-3}
D=${D:-10}
R=${R:-3}
DURABILITY=${DURABILITY:-full}
QPAUSE=${QPAUSE:-0}
API_KEY=bench-key-0123456789abcdef

for v in N_DOCS GROUPS_N DAYS BULK LINES CONNS N WARMUP_Q D R; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || { echo "search: $v must be a positive integer" >&2; exit 2; }
done
[[ $QPAUSE =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "search: QPAUSE must be a number of seconds" >&2; exit 2; }
case $DURABILITY in full | normal) ;; *) echo "search: DURABILITY must be full or normal" >&2; exit 2 ;; esac

BENCH_NAME=search
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------- setup
"$ROOT/scripts/install-deps.sh" --bench
for t in wrk influxd curl timeout; do
    command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh --bench installs it)"
done
ulimit -n 16384

TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/gasket-search.XXXXXX")
declare -A PID=()

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_gasketd
open_results

read -r P_G P_I P_IRPC < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

start_gasketd() {
    local dir="$TMP/gasketd"
    mkdir -p "$dir"
    cat >"$dir/gasket.ini" <<EOF
[server]
data_dir = $dir/data
durability = $DURABILITY
; the documents' dates are UTC, as InfluxDB's times
timezone = UTC
log_level = warn
[http]
listen = 127.0.0.1:$P_G
max_bulk_body = 256MiB
[mqtt]
listen =
[apikey bench]
key = $API_KEY
rate = 1000000
burst = 1000000
[route /gasdetector]
index = gasdetect
EOF
    "$TMP/gasketd.bin" -t -c "$dir/gasket.ini" >"$TMP/gasketd.check" 2>&1 || { cat "$TMP/gasketd.check" >&2; die "gasketd: config refused"; }
    "$TMP/gasketd.bin" -c "$dir/gasket.ini" >"$TMP/gasketd.log" 2>&1 &
    PID[gasketd]=$!
    wait_ready gasketd "$P_G" 20
}


# cpu_ticks PID: user+system clock ticks of PID (all its threads).
cpu_ticks() { awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }

# settle: until gasketd and influxd each used < 5% of a core over a second
# (InfluxDB compacts after a load, SQLite checkpoints), at most 120 s.
settle() {
    local i g0 g1 i0 i1 hz
    hz=$(getconf CLK_TCK)
    for ((i = 0; i < 120; i++)); do
        g0=$(cpu_ticks "${PID[gasketd]}"); i0=$(cpu_ticks "${PID[influxdb]}")
        sleep 1
        g1=$(cpu_ticks "${PID[gasketd]}"); i1=$(cpu_ticks "${PID[influxdb]}")
        if [ $(((g1 - g0) * 100)) -lt $((5 * hz)) ] && [ $(((i1 - i0) * 100)) -lt $((5 * hz)) ]; then
            echo "$((i + 1))"
            return 0
        fi
    done
    echo "120 (still busy)"
}

field() { sed -n "s/^$1 .*[ ]$2=\([0-9.]*\).*/\1/p" "$3" | head -n 1; }

FAILED=0
ROWS="$TMP/rows.txt"
: >"$ROWS"

# ---------------------------------------------------------------- header
{
    echo "gasket search benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "gasketd: $GASKETD (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain -- src 2>/dev/null | grep -q . && echo ', src/ modified'))"
    echo "influxd: $(influxd version 2>&1 | head -n 1); $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
    echo "data: $TMP on $(stat -f -c %T "$TMP")"
    echo "settings: N_DOCS=$N_DOCS N_GROUPS=$GROUPS_N DAYS=$DAYS BULK=$BULK LINES=$LINES CONNS=$CONNS N=$N WARMUP_Q=$WARMUP_Q D=${D}s R=$R DURABILITY=$DURABILITY QPAUSE=${QPAUSE}s"
    echo
} >>"$PART"
cat "$PART"

# ---------------------------------------------------------------- data
log "generating $N_DOCS documents ..."
run gen 1800 "$PY" "$BENCH/search_gen.py" gen --dir "$TMP/data" --docs "$N_DOCS" --groups "$GROUPS_N" \
    --days "$DAYS" --bulk "$BULK" --lines "$LINES" || { cat "$TMP/gen.out" >&2; die "generation failed"; }
say "$(cat "$TMP/gen.out")"
say "bodies: _bulk $(du -h "$TMP/data/bulk.ndjson" | cut -f1), line protocol $(du -h "$TMP/data/influx.lp" | cut -f1)"

log "starting gasketd on 127.0.0.1:$P_G and influxd on 127.0.0.1:$P_I ..."
start_gasketd
start_influxd "$P_I" "$P_IRPC"

# ---------------------------------------------------------------- load
load() {    # gasket|influx PORT
    local t=$1 name="load-$1" c0 c1 secs hz pid
    pid=${PID[$([ "$t" = gasket ] && echo gasketd || echo influxdb)]}
    hz=$(getconf CLK_TCK)
    c0=$(cpu_ticks "$pid")
    if ! run "$name" 3600 "$PY" "$BENCH/search_gen.py" load --dir "$TMP/data" --target "$t" --port "$2" \
        --key "$API_KEY" --conns "$CONNS"; then
        FAILED=1
        say "$(cat "$TMP/$name.out")"
        say "load $t FAILED"
        return 0
    fi
    c1=$(cpu_ticks "$pid")
    secs=$(field LOAD seconds "$TMP/$name.out")
    say "$(cat "$TMP/$name.out") server_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f%%", 100 * (b - a) / hz / s }')"
    grep '^LOAD' "$TMP/$name.out" | sed "s/\$/ server_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / s }')/" >>"$ROWS"
}
log "loading InfluxDB ($CONNS connections, $LINES lines per /write) ..."
load influx "$P_I"
log "loading gasketd ($CONNS connections, $BULK documents per _bulk) ..."
load gasket "$P_G"

gcount=$(curl -sS --max-time 60 -H "x-api-key: $API_KEY" "http://127.0.0.1:$P_G/gasdetect/_count" | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
icount=$(curl -sS --max-time 120 -G "http://127.0.0.1:$P_I/query" --data-urlencode db=gas \
    --data-urlencode 'q=SELECT count(no2) FROM gas' | sed -n 's/.*"values":\[\[[^,]*,\([0-9]*\)\]\].*/\1/p')
say "stored: gasketd _count $gcount, InfluxDB count(no2) $icount (expected $(sed -n 's/.*"docs": \([0-9]*\).*/\1/p' "$TMP/data/meta.json"))"
say "on disk: gasketd data $(du -sh "$TMP/gasketd/data" | cut -f1), InfluxDB $(du -sh "$TMP/influxdb" | cut -f1)"
say "settled after $(settle) s"

# ---------------------------------------------------------------- check
log "checking the answers ..."
if run check 900 "$PY" "$BENCH/search_queries.py" check --gport "$P_G" --iport "$P_I" --key "$API_KEY"; then :; else
    FAILED=1
fi
say "$(cat "$TMP/check.out")"
grep '^CHECK' "$TMP/check.out" >>"$ROWS" || true

# ---------------------------------------------------------------- time
log "timing the queries (N=$N each, after $WARMUP_Q warm-ups) ..."
if run time 3600 "$PY" "$BENCH/search_queries.py" time --gport "$P_G" --iport "$P_I" --key "$API_KEY" \
    -n "$N" --warmup "$WARMUP_Q"; then :; else
    FAILED=1
fi
say "$(cat "$TMP/time.out")"
grep '^TIME' "$TMP/time.out" >>"$ROWS" || true
say "load average after the queries: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- ingest under query load
URL="http://127.0.0.1:$P_G/gasdetector"
ingest() {    # MODE ROUND   (MODE alone|queries)
    local mode=$1 round=$2 raw="$TMP/wrk-$1-r$2.txt" rps wrc=0 ok non2xx
    timeout -k 5 $((D + 30)) wrk -t1 -c32 -d1s -s "$BENCH/http_ingest.lua" "$URL" -- json "$API_KEY" >/dev/null 2>&1 || true
    if [ "$mode" = queries ]; then
        timeout -k 5 $((D + 300)) "$PY" "$BENCH/search_queries.py" loop --gport "$P_G" --key "$API_KEY" \
            --seconds "$D" --pause "$QPAUSE" >"$TMP/loop-r$round.out" 2>&1 &
        PID[loop]=$!
    fi
    timeout -k 5 $((D + 30)) wrk -t1 -c32 -d"${D}s" --latency -s "$BENCH/http_ingest.lua" "$URL" -- json "$API_KEY" \
        >"$raw" 2>&1 &
    PID[wrk]=$!
    wait "${PID[wrk]}" || wrc=$?
    unset "PID[wrk]"
    if [ "$mode" = queries ]; then
        wait "${PID[loop]}" || { FAILED=1; say "query loop failed: $(tail -n 3 "$TMP/loop-r$round.out")"; }
        unset "PID[loop]"
    fi
    rps=$(field BENCH rps "$raw"); ok=$(field BENCH ok "$raw"); non2xx=$(field BENCH non2xx "$raw")
    if [ -z "$rps" ] || [ "$wrc" -ne 0 ]; then
        FAILED=1
        say "round $round ingest $mode: wrk failed (exit $wrc): $(tail -n 5 "$raw")"
        return 0
    fi
    local line="INGEST mode=$mode round=$round rps=$rps p99_us=$(field BENCH p99_us "$raw") ok=$ok non2xx=$non2xx"
    [ "$mode" = queries ] && line="$line $(sed -n 's/^LOOP //p' "$TMP/loop-r$round.out")"
    say "$line"
    echo "$line" >>"$ROWS"
}
log "ingest under query load: $R rounds of ${D}s alone and ${D}s with the query loop (pause ${QPAUSE}s) ..."
for ((round = 1; round <= R; round++)); do
    if ((round % 2)); then ingest alone "$round"; ingest queries "$round"
    else ingest queries "$round"; ingest alone "$round"; fi
done

# ---------------------------------------------------------------- stop
STOPPED=""
for name in gasketd influxdb; do
    p=${PID[$name]}
    kill -TERM "$p" 2>/dev/null || true
    rc=0
    for ((i = 0; i < 300; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && { kill -KILL "$p" 2>/dev/null || true; STOPPED="$STOPPED $name:killed"; }
    wait "$p" 2>/dev/null || rc=$?
    unset "PID[$name]"
    STOPPED="$STOPPED $name:exit=$rc"
    [ "$name" = gasketd ] && [ "$rc" -ne 0 ] && { FAILED=1; log "gasketd exited $rc on SIGTERM"; }
done

# ---------------------------------------------------------------- summary
SUMMARY=$("$PY" - "$ROWS" "$(date -u +%Y-%m-%d)" <<'EOF'
import re, statistics, sys
rows = [l.rstrip("\n") for l in open(sys.argv[1])]
def kv(line):
    return dict(re.findall(r"(\w+)=([^ ]+)", line))
loads = {kv(l)["target"]: kv(l) for l in rows if l.startswith("LOAD ")}
times = {kv(l)["q"]: kv(l) for l in rows if l.startswith("TIME ")}
checks = {}
for l in rows:
    m = re.match(r"CHECK q=(\w+) (\w+)", l)
    if m:
        checks[m.group(1)] = m.group(2)
ing = [kv(l) for l in rows if l.startswith("INGEST ")]
out = []
what = {"a": "(a) 24 h, 1-min avg of no2, one group",
        "b": "(b) 14 d, 1-h avg+max of no2, 100 groups",
        "c": "(c) latest document of each group",
        "d": "(d) count no2 >= 88 over 7 d"}
target = {"a": 20.0, "b": 200.0}
out.append("| query | gasket median ms | gasket p90 ms | InfluxDB median ms | InfluxDB p90 ms | InfluxDB / gasket | answers | target |")
out.append("|---|--:|--:|--:|--:|--:|---|---|")
verdicts = []
for q in "abcd":
    t = times.get(q)
    if not t:
        out.append("| %s | – | – | – | – | – | %s | – |" % (what[q], checks.get(q, "?")))
        continue
    gm, ratio = float(t["gasket_med_ms"]), float(t["ratio"])
    if q in target:
        ok = gm < target[q] and ratio >= 3
        why = []
        if gm >= target[q]: why.append("%.1f ms >= %g ms" % (gm, target[q]))
        if ratio < 3: why.append("%.2fx < 3x" % ratio)
        v = "< %g ms, ≥ 3×: **%s**" % (target[q], "MET" if ok else "MISSED")
        verdicts.append("target (%s) %s%s" % (q, "MET" if ok else "MISSED", "" if ok else " (" + ", ".join(why) + ")"))
    else:
        v = "none"
    out.append("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s |" % (
        what[q], gm, float(t["gasket_p90_ms"]), float(t["influx_med_ms"]), float(t["influx_p90_ms"]),
        ratio, checks.get(q, "?"), v))
if "c2" in times:
    t = times["c2"]
    out.append("| (c') InfluxDB `last(no2)` per group, for reference | – | – | %.2f | %.2f | – | – | – |" % (
        float(t["influx_med_ms"]), float(t["influx_p90_ms"])))
out.append("")
out.append("| load | documents | seconds | documents/s | measurements/s | server CPU |")
out.append("|---|--:|--:|--:|--:|--:|")
for t, name in (("gasket", "gasketd `_bulk`"), ("influx", "InfluxDB `/write`")):
    l = loads.get(t)
    if l:
        out.append("| %s | %s | %s | %s | %s | %s%% |" % (name, l["docs"], l["seconds"], l["docs_per_s"],
                                                          l["meas_per_s"], l.get("server_cpu", "?")))
if "gasket" in loads and "influx" in loads:
    out.append("")
    out.append("load rate gasketd / InfluxDB: %.2f" % (float(loads["gasket"]["docs_per_s"]) / float(loads["influx"]["docs_per_s"])))
alone = [float(r["rps"]) for r in ing if r["mode"] == "alone"]
withq = [float(r["rps"]) for r in ing if r["mode"] == "queries"]
if alone and withq:
    ratio = statistics.median(withq) / statistics.median(alone)
    rounds = [int(r.get("rounds", 0)) for r in ing if r["mode"] == "queries"]
    secs = [float(r.get("seconds", 1)) for r in ing if r["mode"] == "queries"]
    out.append("")
    out.append("| ingest (wrk -t1 -c32, POST /gasdetector) | req/s median | (min–max) | p99 ms median | query rounds a-d / s |")
    out.append("|---|--:|--:|--:|--:|")
    for name, xs, mode in (("alone", alone, "alone"), ("with the query loop", withq, "queries")):
        p99 = statistics.median([float(r["p99_us"]) / 1000 for r in ing if r["mode"] == mode])
        qr = "–" if mode == "alone" else "%.2f" % (sum(rounds) / sum(secs))
        out.append("| %s | %.0f | %.0f–%.0f | %.2f | %s |" % (name, statistics.median(xs), min(xs), max(xs), p99, qr))
    verdicts.append("target ingest under query load >= 0.90: %.2f %s" % (ratio, "MET" if ratio >= 0.9 else "MISSED"))
    qm = {}
    for q in "abcd":
        xs = [float(r[q + "_med_ms"]) for r in ing if r["mode"] == "queries" and (q + "_med_ms") in r]
        if xs:
            qm[q] = statistics.median(xs)
    out.append("")
    out.append("query medians during ingest (ms): " + ", ".join("%s %.1f" % kv for kv in qm.items()))
mism = [q for q, v in checks.items() if v != "ok"]
verdicts.append("answers: " + ("all equal to InfluxDB's" if not mism and checks else "MISMATCH in " + ",".join(mism)))
print("\n".join(verdicts + [""] + out))
EOF
)

{
    echo "===== summary"
    echo "$SUMMARY"
    echo
    echo "stopped:$STOPPED"
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    for name in gasketd influxdb; do
        n=$(grep -cv '^$' "$TMP/$name.log" 2>/dev/null || true)
        [ "${n:-0}" -gt 0 ] || continue
        echo "----- $name log ($n lines, last 20)"
        tail -n 20 "$TMP/$name.log"
    done
} >>"$PART"
mv "$PART" "$OUT"

log ""
log "$SUMMARY"
log "stopped:$STOPPED"
log "raw outputs and summary: ${OUT#"$ROOT"/}"
[ "$FAILED" -eq 0 ] || die "a load, an answer check or a shutdown failed (see above)"
