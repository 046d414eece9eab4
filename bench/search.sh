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
#     connections (_bulk; /write?precision=s): documents/s, measurements/s,
#     and for gasketd's _bulk the issue 12 target, >= 100,000 documents/s.
#     InfluxDB first; then it is waited for (at most COMPACT_S s) until its
#     full compaction is done: one generation of .tsm files per shard, an
#     empty WAL, no file changing for 2 s (it is configured to snapshot its
#     cache 2 s and compact a shard in full 5 s after the last write). Then
#     gasketd, and once it is idle and its files stop changing, the bytes on
#     disk that each keeps (allocated blocks): InfluxDB its data and wal
#     dirs; gasketd every file of its data_dir but gasketd.pid, .admin.lock,
#     apikeys*, devices.ini, devices/ and dashboard_users (so gasket.db,
#     -wal, -shm, mqtt.db, alarms.db and any file the store adds); each
#     file listed with du in the results. Per document, and against the raw
#     NDJSON (the _bulk bodies as posted, action lines included; also the
#     document lines alone): issue 12's target is <= 0.6 for gasketd.
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
# of the query loop, 0), COMPACT_S (300: the longest wait for InfluxDB's
# compaction), GASKETD, KEEP_TMP=1 (keep the temp dir), BENCH_TMPDIR
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
COMPACT_S=${COMPACT_S:-300}
API_KEY=bench-key-0123456789abcdef

for v in N_DOCS GROUPS_N DAYS BULK LINES CONNS N WARMUP_Q D R COMPACT_S; do
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
meta() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$TMP/data/meta.json"; }

# The files each system keeps the data in, one "BLOCKS BYTES PATH" line each
# (512-byte blocks allocated, apparent size, path under its dir), sorted.
# gasketd: every file under data_dir but the pid file and the key, device
# and user files (gasketd.pid, .admin.lock, apikeys*, devices.ini, devices/,
# dashboard_users): gasket.db, its -wal and -shm, mqtt.db, alarms.db and
# whatever the store adds. InfluxDB: its data and wal dirs (not meta/).
gasket_files() {
    local d="$TMP/gasketd/data"
    find "$d" -type f ! -name gasketd.pid ! -name .admin.lock ! -name 'apikeys*' ! -name devices.ini \
        ! -name dashboard_users ! -path "$d/devices/*" -printf '%b %s %P\n' | sort -k3
}
influx_files() {
    local d="$TMP/influxdb"
    find "$d" \( -path "$d/data/*" -o -path "$d/wal/*" \) -type f -printf '%b %s %P\n' | sort -k3
}
# influx_compacted: every shard of `gas` (data/gas/RP/ID) holds one
# generation of .tsm files (a full compaction's result), none is being
# written (.tmp) and the WAL holds no bytes (the cache was snapshotted).
influx_compacted() {
    local d="$TMP/influxdb" shard gens
    [ -d "$d/data/gas" ] || return 1
    [ -z "$(find "$d/data/gas" -name '*.tmp' -print -quit)" ] || return 1
    [ -z "$(find "$d/wal" -type f -size +0c -print -quit)" ] || return 1
    for shard in "$d"/data/gas/*/*/; do
        case $shard in */_series/*) continue ;; esac    # the series file, not a shard
        gens=$(find "$shard" -maxdepth 1 -name '*.tsm' -printf '%f\n' | cut -d- -f1 | sort -u | wc -l)
        [ "$gens" -eq 1 ] || return 1
    done
}
# wait_files SECONDS LIST DONE: until DONE succeeds and LIST's output is the
# same three checks running, a second apart; prints the seconds waited, or
# "SECONDS+" when it gave up.
wait_files() {
    local secs=$1 list=$2 done=$3 i same=0 prev="" cur
    for ((i = 0; i < secs; i++)); do
        cur=$("$list")
        if [ "$cur" = "$prev" ] && "$done"; then same=$((same + 1)); else same=0; fi
        [ "$same" -ge 2 ] && { echo "$i"; return 0; }
        prev=$cur
        sleep 1
    done
    echo "$secs+"
}
# disk gasket|influx WAITED DIR LIST: the bytes LIST counts (listed with du
# in the results), per document and against the raw NDJSON; a DISK row.
disk() {
    local t=$1 waited=$2 dir=$3 list=$4 files docs bulk src blocks bytes shards="" gens="" state
    files=$("$list")
    docs=$(meta docs); bulk=$(meta bulk_bytes); src=$(meta source_bytes)
    blocks=$(awk '{ s += $1 } END { print s + 0 }' <<<"$files")
    bytes=$(awk '{ s += $2 } END { print s + 0 }' <<<"$files")
    rec "----- $t: the files counted (du -k, under ${dir#"$TMP"/})"
    (cd "$dir" && awk '{ print $3 }' <<<"$files" | xargs -r du -k) >>"$PART"
    if [ "$t" = influx ]; then
        shards=$(awk '$3 ~ /^data\/gas\/.*\.tsm$/ { n = split($3, p, "/"); print p[n - 1] }' <<<"$files" | sort -u | wc -l)
        gens=$(awk '$3 ~ /^data\/gas\/.*\.tsm$/ { n = split($3, p, "/"); split(p[n], g, "-"); print p[n - 1] "/" g[1] }' <<<"$files" | sort -u | wc -l)
        influx_compacted && state=compacted || state=not-compacted
    else
        state=settled
    fi
    local row
    row=$(awk -v t="$t" -v b="$blocks" -v a="$bytes" -v d="$docs" -v bulk="$bulk" -v src="$src" \
        -v n="$(wc -l <<<"$files")" -v w="$waited" -v st="$state" -v sh="$shards" -v g="$gens" 'BEGIN {
        b *= 512
        printf "DISK target=%s bytes=%.0f apparent=%.0f files=%d docs=%d per_doc=%.1f ndjson=%.0f source=%.0f ratio=%.3f ratio_source=%.3f waited=%s state=%s", \
            t, b, a, n, d, b / d, bulk, src, b / bulk, b / src, w, st
        if (sh != "") printf " shards=%s generations=%s", sh, g
    }')
    say "$row"
    echo "$row" >>"$ROWS"
    if [ "$t" = gasket ]; then
        say "on disk: gasketd $(awk '{ printf "%s%s %.1f MB", (NR > 1 ? ", " : ""), $3, $1 * 512 / 1e6 }' <<<"$files")"
    fi
}

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
    echo "settings: N_DOCS=$N_DOCS N_GROUPS=$GROUPS_N DAYS=$DAYS BULK=$BULK LINES=$LINES CONNS=$CONNS N=$N WARMUP_Q=$WARMUP_Q D=${D}s R=$R DURABILITY=$DURABILITY QPAUSE=${QPAUSE}s COMPACT_S=${COMPACT_S}s"
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
# The cache goes to a .tsm file 2 s after the last write, and a shard
# written to for none in 5 s is compacted in full (defaults 10 min and 4 h):
# the bytes kept are counted after the load's full compaction.
start_influxd "$P_I" "$P_IRPC" '  cache-snapshot-write-cold-duration = "2s"
  compact-full-write-cold-duration = "5s"'

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
log "waiting for InfluxDB's full compaction (at most ${COMPACT_S}s) ..."
IWAIT=$(wait_files "$COMPACT_S" influx_files influx_compacted)
disk influx "$IWAIT" "$TMP/influxdb" influx_files
log "loading gasketd ($CONNS connections, $BULK documents per _bulk) ..."
load gasket "$P_G"

# the documents still in the hot tier (RAM, and the journal) go into
# gasket.db before its bytes are counted; like InfluxDB's compaction, the
# time this takes is not part of the load rate, and is shown on its own
t0=$(date +%s.%N)
st=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 600 -X POST -H "x-api-key: $API_KEY" "http://127.0.0.1:$P_G/_flush")
say "gasketd POST /_flush after the load: $st in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
[ "$st" = 200 ] || FAILED=1
gcount=$(curl -sS --max-time 60 -H "x-api-key: $API_KEY" "http://127.0.0.1:$P_G/gasdetect/_count" | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
icount=$(curl -sS --max-time 120 -G "http://127.0.0.1:$P_I/query" --data-urlencode db=gas \
    --data-urlencode 'q=SELECT count(no2) FROM gas' | sed -n 's/.*"values":\[\[[^,]*,\([0-9]*\)\]\].*/\1/p')
say "stored: gasketd _count $gcount, InfluxDB count(no2) $icount (expected $(meta docs))"
say "settled after $(settle) s"
GWAIT=$(wait_files 120 gasket_files true)
disk gasket "$GWAIT" "$TMP/gasketd/data" gasket_files

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
out.append("| load | documents | seconds | documents/s | measurements/s | server CPU | target |")
out.append("|---|--:|--:|--:|--:|--:|---|")
for t, name in (("gasket", "gasketd `_bulk`"), ("influx", "InfluxDB `/write`")):
    l = loads.get(t)
    if l:
        v = "–"
        if t == "gasket":
            v = "≥ 100,000 documents/s: **%s**" % ("MET" if float(l["docs_per_s"]) >= 100000 else "MISSED")
        out.append("| %s | %s | %s | %s | %s | %s%% | %s |" % (name, l["docs"], l["seconds"], l["docs_per_s"],
                                                               l["meas_per_s"], l.get("server_cpu", "?"), v))
if "gasket" in loads and "influx" in loads:
    out.append("")
    out.append("load rate gasketd / InfluxDB: %.3f" % (float(loads["gasket"]["docs_per_s"]) / float(loads["influx"]["docs_per_s"])))
if "gasket" in loads:
    r = float(loads["gasket"]["docs_per_s"])
    verdicts.append("target _bulk >= 100,000 documents/s: %.0f %s" % (r, "MET" if r >= 100000 else "MISSED"))
disks = {kv(l)["target"]: kv(l) for l in rows if l.startswith("DISK ")}
if disks:
    out.append("")
    out.append("| bytes on disk after loading | files | MB | bytes per document | / raw NDJSON (_bulk bodies) | / document lines alone | target |")
    out.append("|---|--:|--:|--:|--:|--:|---|")
    for t, name in (("gasket", "gasketd data_dir (settled after %s s)"),
                    ("influx", "InfluxDB data + wal (%s; waited %s s)")):
        d = disks.get(t)
        if not d:
            continue
        if t == "gasket":
            name = name % d["waited"]
            v = "≤ 0.6: **%s**" % ("MET" if float(d["ratio"]) <= 0.6 else "MISSED")
            verdicts.append("target bytes kept <= 0.6 x raw NDJSON: %.2f %s" % (
                float(d["ratio"]), "MET" if float(d["ratio"]) <= 0.6 else "MISSED"))
        else:
            name = name % ("%s shards, %s generations, %s" % (d.get("shards", "?"), d.get("generations", "?"),
                                                               d["state"]), d["waited"])
            v = "–"
        out.append("| %s | %s | %.1f | %.1f | %.3f | %.3f | %s |" % (
            name, d["files"], int(d["bytes"]) / 1e6, float(d["per_doc"]), float(d["ratio"]),
            float(d["ratio_source"]), v))
    d = next(iter(disks.values()))
    out.append("| raw NDJSON: _bulk bodies (document lines alone) | – | %.1f (%.1f) | %.1f (%.1f) | 1 | – | – |" % (
        int(d["ndjson"]) / 1e6, int(d["source"]) / 1e6, int(d["ndjson"]) / int(d["docs"]),
        int(d["source"]) / int(d["docs"])))
    if "gasket" in disks and "influx" in disks:
        out.append("")
        out.append("bytes kept gasketd / InfluxDB: %.1f" % (int(disks["gasket"]["bytes"]) / int(disks["influx"]["bytes"])))
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
