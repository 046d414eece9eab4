# shellcheck shell=bash disable=SC2154  # PID, TMP, BENCH_NAME: set by the sourcing script
# bench/lib.sh: what the benchmark scripts share, sourced by them.
#
# The caller sets BENCH_NAME (the prefix of its messages) and TMP (its temp
# dir), declares `declare -A PID=()` (name -> pid of what it started; every
# process named there is stopped on exit) and installs the traps:
#   trap cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM
# Servers log to $TMP/NAME.log.

log() { printf '%s\n' "$*"; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

# Stops everything in PID (SIGTERM, 10 s, then SIGKILL) and removes TMP
# (kept with KEEP_TMP=1); exits with the script's status.
cleanup() {
    local rc=$? name p i
    trap - EXIT INT TERM
    for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null || true; done
    for name in "${!PID[@]}"; do
        p=${PID[$name]}
        for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$p" 2>/dev/null; then
            echo "$BENCH_NAME: $name (pid $p) ignored SIGTERM for 10 s: SIGKILL" >&2
            kill -KILL "$p" 2>/dev/null || true
        fi
        wait "$p" 2>/dev/null || true
    done
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "$BENCH_NAME: temp dir kept: $TMP" >&2; else rm -rf "$TMP"; fi
    exit "$rc"
}

# wait_ready NAME PORT SECONDS: until PID[NAME] accepts TCP on 127.0.0.1:PORT;
# dies (with the end of its log) when it exits or does not listen in time.
wait_ready() {
    local name=$1 port=$2 secs=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            tail -n 20 "$TMP/$name.log" >&2 || true
            die "$name exited during start (log above)"
        fi
        if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    tail -n 20 "$TMP/$name.log" >&2 || true
    die "$name did not listen on 127.0.0.1:$port within ${secs}s"
}

# http_status URL [curl args...]: prints the status code of one request.
http_status() {
    local url=$1
    shift
    curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" || echo 000
}

# start_influxd HTTP_PORT RPC_PORT [DATA_LINES]: influxd 1.6 on loopback in
# $TMP/influxdb (WAL fsynced at once, no phone-home, no internal monitoring),
# answering /ping, with an empty database `gas`. DATA_LINES: more settings
# for its [data] section. PID[influxdb] is set.
start_influxd() {
    local port=$1 rpc=$2 extra=${3:-} dir="$TMP/influxdb" i st=000 reply
    mkdir -p "$dir"
    # Debian's 1.6 names the phone-home switch reporting-enabled (upstream:
    # reporting-disabled, which this build ignores); see `influxd config`.
    cat >"$dir/influxdb.conf" <<CONF
reporting-enabled = false
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$dir/meta"
  logging-enabled = false
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
$extra
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$port"
  log-enabled = false
  suppress-write-log = true
[logging]
  level = "error"
  suppress-logo = true
CONF
    influxd run -config "$dir/influxdb.conf" >"$TMP/influxdb.log" 2>&1 &
    PID[influxdb]=$!
    wait_ready influxdb "$port" 60
    for ((i = 0; i < 100; i++)); do
        st=$(http_status "http://127.0.0.1:$port/ping")
        [ "$st" = 204 ] && break
        sleep 0.1
    done
    [ "$st" = 204 ] || die "influxdb: /ping got $st"
    reply=$(curl -sS --max-time 10 -X POST "http://127.0.0.1:$port/query" \
        --data-urlencode "q=CREATE DATABASE gas") || die "influxdb: CREATE DATABASE failed"
    case $reply in *error*) die "influxdb: CREATE DATABASE: $reply" ;; esac
}

# build_gasketd: GASKETD, or `make programs` when unset; a copy of it goes
# to $TMP/gasketd.bin (others may rebuild build/gasketd while this runs).
build_gasketd() {
    if [ -z "${GASKETD:-}" ]; then
        log "building gasketd (make programs) ..."
        if ! (cd "$ROOT" && timeout 900 make programs) >"$TMP/make.log" 2>&1; then
            tail -n 30 "$TMP/make.log" >&2
            die "make failed (log above)"
        fi
        GASKETD="$ROOT/build/gasketd"
    fi
    [ -x "$GASKETD" ] || die "no gasketd binary at $GASKETD"
    cp "$GASKETD" "$TMP/gasketd.bin"
}

# open_results: OUT (bench/results/$BENCH_NAME-<UTC time>.txt) and PART
# (OUT.tmp, written while running: `mv "$PART" "$OUT"` at the end); rec
# writes a line there, say also prints it.
open_results() {
    mkdir -p "$ROOT/bench/results"
    OUT="$ROOT/bench/results/$BENCH_NAME-$(date -u +%Y%m%dT%H%M%SZ).txt"
    PART="$OUT.tmp"
    : >"$PART"
}
rec() { printf '%s\n' "$*" >>"$PART"; }
say() { log "$*"; rec "$*"; }

# run NAME SECONDS CMD...: CMD in the background under `timeout`, its output
# in $TMP/NAME.out, so that a signal to this script is handled at once.
run() {
    local name=$1 secs=$2 rc=0
    shift 2
    timeout -k 5 "$secs" "$@" >"$TMP/$name.out" 2>&1 &
    PID[$name]=$!
    wait "${PID[$name]}" || rc=$?
    unset "PID[$name]"
    return "$rc"
}
