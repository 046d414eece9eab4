#!/usr/bin/env bash
# Installs the Debian 12 packages gasket needs to build, test and benchmark,
# and the npm packages of the lock files: the dashboard's libraries (web/,
# embedded in gasketd), playwright-core for its browser tests (tests/e2e, on
# Debian's chromium: nothing downloads a browser) and the OpenSearch
# JavaScript client the integration tests drive. npm runs no install scripts.
# Idempotent: packages already present are skipped; prints nothing when all are.
# node and npm come from Debian's nodejs/npm only when the commands are missing
# (a node installed otherwise, e.g. NodeSource's, is kept).
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the benchmark anchors)
#        scripts/install-deps.sh --web       (only web/'s npm packages: make's
#                                             rule for the embedded libraries)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

BUILD="gcc make pkg-config libuv1-dev libssl-dev libhttp-parser-dev libwslay-dev
libjansson-dev libsqlite3-dev liblua5.4-dev libinih-dev libcurl4-openssl-dev
libmosquitto-dev zlib1g-dev libzstd-dev"
TEST="clang libclang-rt-14-dev curl openssl python3 python3-pytest python3-paho-mqtt
mosquitto-clients chromium fonts-nanum python3-zstandard"
BENCH="wrk nginx-light mosquitto influxdb"

want="$BUILD $TEST"
[ "${1:-}" = "--bench" ] && want="$want $BENCH"
[ "${1:-}" = "--web" ] && want=""

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
command -v node >/dev/null || missing="$missing nodejs"
command -v npm >/dev/null || missing="$missing npm"

if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# npm writes node_modules/.package-lock.json last: (re)install when it is
# missing (no or a half-done install) or older than the committed lock file.
npm_ci() {
    if [ "$ROOT/$1/package-lock.json" -nt "$ROOT/$1/node_modules/.package-lock.json" ]; then
        echo "install-deps: npm ci in $1"
        npm ci --prefix "$ROOT/$1" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
    fi
}
npm_ci web
[ "${1:-}" = "--web" ] && exit 0
npm_ci tests/e2e
npm_ci tests/clients/opensearch-js
