#!/usr/bin/env bash
# Installs what `make cross ARCH=...` and scripts/cross-check.sh need on a
# Debian 12 amd64 machine: the architecture added to dpkg, Debian's cross
# toolchain (crossbuild-essential-ARCH), pkg-config for that architecture
# (pkgconf:ARCH gives TRIPLET-pkg-config), the :ARCH dev packages gasket links
# and qemu-user-static to run the result. Idempotent: prints nothing and
# changes nothing when all is there.
#
# libhttp-parser-dev and libwslay-dev are not Multi-Arch: same, so their :ARCH
# package would replace the native one and break the native build. Their
# headers are architecture-independent (in /usr/include), so the native -dev
# packages serve both; only the :ARCH runtime libraries are installed, and
# `make cross` links them through build/cross/ARCH/lib/ (Makefile).
# apt runs with --no-remove: it aborts rather than remove a native package.
#
# Usage: scripts/cross-deps.sh arm64|armhf   (as root, or with sudo)
set -euo pipefail

ARCH="${1:-}"
case "$ARCH" in
arm64 | armhf) ;;
*)
    echo "usage: $0 arm64|armhf" >&2
    exit 2
    ;;
esac

DEV="libuv1-dev libssl-dev libjansson-dev libsqlite3-dev liblua5.4-dev libinih-dev
zlib1g-dev libcurl4-openssl-dev libmosquitto-dev libzstd-dev"
want="crossbuild-essential-$ARCH pkgconf:$ARCH qemu-user-static binfmt-support
libhttp-parser-dev libwslay-dev libhttp-parser2.9:$ARCH libwslay1:$ARCH"
for p in $DEV; do want="$want $p:$ARCH"; done

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

if ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
    echo "cross-deps: dpkg --add-architecture $ARCH"
    $SUDO dpkg --add-architecture "$ARCH"
fi

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "cross-deps: installing:$missing"
# The lists must be current: a new architecture has none yet, and the :ARCH
# packages must be the same version as the native ones.
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends --no-remove $missing
