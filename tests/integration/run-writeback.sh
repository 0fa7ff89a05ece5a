#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A writable image's write-back is its own sandbox's time, reported as TAP:
# while a group member's run writes 500 MiB into a writable image and ends,
# another sandbox's /bin/true, started every 0.1 s, keeps being served; and
# when the writer's sandboxctl returns, the data is in the file.
# Needs root.  Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths).
# shellcheck disable=SC2016,SC2034  # variables read in eval
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init writeback SANDBOXD SANDBOXCTL TEST_IMAGE
MIB=500
# How long the prober's slowest run took is reported, not asserted: speed is
# the benchmark harness's to measure.  Before the write-back moved out of the
# daemon's event loop it was 0.8 to 1.6 s here; afterwards under 0.1 s.
prober=

cleanup() {
    touch "$T/stop"
    if [ -n "$prober" ]; then
        wait "$prober" || true
    fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

mkdir "$T/policies"
printf 'filesystem:\n  writable_image: true\n' >"$T/policies/writable.yaml"
cp "$TEST_IMAGE" "$T/ro.ext4"
chmod 0644 "$T/ro.ext4"
# The writer's image: room for the data, and a directory the member may write.
W=$T/writable.ext4
cp "$TEST_IMAGE" "$W"
e2fsck -fp "$W" >/dev/null
resize2fs "$W" 2G >/dev/null 2>&1
debugfs -w -R "mkdir /data" "$W" >/dev/null 2>&1
debugfs -w -R "sif /data mode 041777" "$W" >/dev/null 2>&1
chown 4242 "$W"
chmod 0600 "$W"

suite_daemon

# The prober: one read-only /bin/true run every 0.1 s, each run's milliseconds.
probe() {
    while [ ! -e "$T/stop" ]; do
        local s e
        s=$(date +%s%N)
        timeout 60 "$SANDBOXCTL" run --socket "$SOCK" "$T/ro.ext4" /bin/true || echo "fail" >>"$T/probe.err"
        e=$(date +%s%N)
        echo $(((e - s) / 1000000)) >>"$T/probe.ms"
        sleep 0.1
    done
}
timeout 60 "$SANDBOXCTL" run --socket "$SOCK" "$T/ro.ext4" /bin/true
probe &
prober=$!
sleep 1
rc=0
timeout 120 setpriv --reuid=4242 --regid=65534 --clear-groups -- "$SANDBOXCTL" run \
    --socket "$SOCK" --policy writable "$W" \
    /bin/dd if=/dev/zero of=/data/big bs=1M count="$MIB" >"$T/out" 2>"$T/err" || rc=$?
# Right after the writer's EXIT, from the host.
size=$(debugfs -R 'stat /data/big' "$W" 2>/dev/null | sed -n 's/.*Size: *\([0-9]*\).*/\1/p' | head -n 1)
fsck_rc=0
e2fsck -fn "$W" >"$T/fsck" 2>&1 || fsck_rc=$?
attached=$(losetup -j "$W")
sleep 1.5
touch "$T/stop"
wait "$prober"
prober=
worst=$(sort -n "$T/probe.ms" | tail -n 1)

t "the writer's run exits 0" eval '[ "$rc" = 0 ] || { diag "$T/err"; false; }'
t "when its sandboxctl returns, the $MIB MiB are in the file, which e2fsck finds clean" \
    eval '[ "$size" = $((MIB * 1048576)) ] && [ "$fsck_rc" = 0 ] && [ -z "$attached" ] ||
        { say "size ${size:-?}, e2fsck $fsck_rc, loop: $attached"; diag "$T/fsck"; false; }'
t "every probe run succeeds" eval '[ ! -e "$T/probe.err" ] && [ "$(wc -l <"$T/probe.ms")" -ge 10 ]'
say "the slowest probe run took $worst ms"

tap_finish
