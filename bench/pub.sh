#!/usr/bin/env bash
# gasket-pub's benchmark (issue 11): what a device pays per reading, and how
# fast a spool of readings kept while offline drains into gasketd.
#
#   bench/pub.sh                    D=60 s per steady run, a 100,000-reading drain: ~4 min
#   D=20 N=20000 bench/pub.sh       shorter
#   GASKETD=... GASKET_PUB=... bench/pub.sh    other binaries, no make
#
# Steady: gasket-pub --sim at 10 readings/s for D seconds over HTTP and over
# MQTT (gasketd's broker), and a bash loop running date and curl per reading
# for scale: CPU per reading from /proc/PID/stat (utime + stime, 10 ms
# ticks: use D >= 60), memory from /proc/PID/status (VmRSS with its private
# part RssAnon, VmHWM). Drain: N readings of 8 gases kept in a spool while
# the server was unreachable (through --stdin), then `gasket-pub --drain`
# into gasketd with durability = full: readings stored per second, with the
# default --batch (500 per _bulk request) and with single POSTs (--batch 1,
# on N1 readings); every reading of the spool must be in gasket.db.
# Output: stdout and bench/results/pub-<UTC time>.txt. Loopback only; temp
# dir in BENCH_TMPDIR (/var/tmp: a real disk, or fsync costs nothing).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${D:-60}
N=${N:-100000}
N1=${N1:-5000}
if [ -z "${GASKETD:-}" ]; then
    "$ROOT/scripts/install-deps.sh"
    (cd "$ROOT" && make -j"$(nproc)" build/gasketd build/gasket-pub) >/dev/null
    GASKETD="$ROOT/build/gasketd"
    GASKET_PUB="$ROOT/build/gasket-pub"
fi
GASKET_PUB=${GASKET_PUB:-$(dirname "$GASKETD")/gasket-pub}
mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/pub-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
    echo "# bench/pub.sh D=$D N=$N N1=$N1 $(date -u +%FT%TZ)"
    echo "# $(uname -srm); $(nproc) cores; $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    timeout $((4 * D + 600)) /usr/bin/python3 "$ROOT/bench/pub_measure.py" --gasketd "$GASKETD" \
        --pub "$GASKET_PUB" --duration "$D" --drain "$N" --drain-single "$N1"
} 2>&1 | tee "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "results: $OUT"
