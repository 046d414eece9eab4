#!/usr/bin/env bash
# Installs the Debian 12 packages gasket needs to build, test and benchmark.
# Idempotent: packages already present are skipped; prints nothing when all are.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the benchmark anchors)
set -euo pipefail

BUILD="gcc make pkg-config libuv1-dev libssl-dev libhttp-parser-dev libwslay-dev
libjansson-dev libsqlite3-dev liblua5.4-dev libinih-dev libcurl4-openssl-dev
libmosquitto-dev"
TEST="clang libclang-rt-14-dev curl openssl python3 python3-pytest python3-paho-mqtt
mosquitto-clients"
BENCH="wrk nginx-light mosquitto influxdb"

want="$BUILD $TEST"
[ "${1:-}" = "--bench" ] && want="$want $BENCH"

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
