#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# systemd-analyze verify of the units as meson installs them, reported as
# TAP.  The build is installed into a temporary root (the units and the
# binaries their ExecStart= names) with a copy of the host's own unit
# directory beside them, so that verify resolves sysinit.target and the
# rest of the default dependencies inside that root.  verify exits 0 after
# mere warnings (an unknown key, a bad value it ignores), so any line it
# prints fails the test.
# Usage: run-verify.sh BUILD_DIR UNITDIR UNIT...
set -euo pipefail

build=$1
unitdir=$2
shift 2
if ! command -v systemd-analyze >/dev/null; then
    echo "1..0 # SKIP systemd-analyze is not installed"
    exit 0
fi
host_units=
for d in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -e "$d/sysinit.target" ]; then
        host_units=$d
        break
    fi
done
if [ -z "$host_units" ]; then
    echo "1..0 # SKIP no systemd unit directory with sysinit.target on this host"
    exit 0
fi

T=$(mktemp -d /tmp/sbx-verify.XXXXXX)
trap 'rm -rf "$T"' EXIT
# shellcheck source=tests/integration/tap.sh
. "$(dirname "$0")/../integration/tap.sh"

mkdir -p "$T/root/usr/lib/systemd"
cp -a "$host_units" "$T/root/usr/lib/systemd/system"
# A sandboxd installed on the host is not what is being checked.
rm -f "$T/root/usr/lib/systemd/system"/sandboxd.*
if ! meson install -C "$build" --no-rebuild --quiet --destdir "$T/root" >"$T/install.log" 2>&1; then
    echo "Bail out! meson install --destdir failed"
    diag "$T/install.log"
    exit 1
fi

# verify_unit NAME: the installed NAME passes verify without a word.
verify_unit() {
    local path=$T/root$unitdir/$1
    if [ ! -e "$path" ]; then
        say "meson install put no $1 in $unitdir"
        return 1
    fi
    local rc=0
    systemd-analyze verify --root="$T/root" "$path" >"$T/verify.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || [ -s "$T/verify.log" ]; then
        say "systemd-analyze verify ${path#"$T"/root} exited $rc:"
        diag "$T/verify.log"
        return 1
    fi
}

for unit in "$@"; do
    t "systemd-analyze verify $unit" verify_unit "$unit"
done
tap_finish
