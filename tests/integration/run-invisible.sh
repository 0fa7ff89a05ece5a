#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The guest cannot tell (issue 18), reported as TAP: /sbx/invis
# (tests/guest/invis.c) prints what a process can see of how it was started
# (its fd table and /proc fd listings, fd allocation under several
# RLIMIT_NOFILE values, dup2/dup3/F_DUPFD/close_range onto and around
# 1019-1023, open and readlink of /proc/self/exe and /proc/PID/exe, comm,
# environ, cmdline, auxv, /proc/self/maps without numbers).  It runs
# natively, as root and as uid 4242, in a chroot of the same tree (the test
# image, dumped with debugfs) with a /proc of its own pid namespace, and in a
# sandbox in each syscall mode, by the same users; the outputs must be the
# same bytes, but for what docs/trampoline.md names as unavoidable: the
# trampoline's own mappings and rewrite mode's stub pages in
# /proc/self/maps, masked by mask_maps below.
# Needs root.  Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths).
# shellcheck disable=SC2016  # the native wrapper is single-quoted: it expands in its own bash
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init invisible SANDBOXD SANDBOXCTL TEST_IMAGE
# compare prints the difference itself.
tap_on_fail() { :; }

cleanup() {
    # The native runs' mounts live in their own mount namespaces: nothing to undo.
    suite_cleanup
}
trap cleanup EXIT

ROOT=$T/root
mkdir "$ROOT" "$T/policies"
debugfs -R "rdump / $ROOT" "$TEST_IMAGE" >/dev/null 2>&1
if [ ! -x "$ROOT/sbx/invis" ]; then
    echo "Bail out! the test image has no /sbx/invis"
    exit 1
fi
: >"$ROOT/dev/null"
chmod 0755 "$ROOT"
IMG=$T/test.ext4
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"

# native UID OUT: /sbx/invis in the chroot, in new mount and pid namespaces
# (so /proc shows what a sandbox's does), with nothing but stdio open.
native() {
    local uid=$1 out=$2
    unshare --mount --pid --fork -- bash -c '
        for fd in /proc/$$/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-"
        done
        mount -t proc proc "$1/proc" && mount --bind /dev/null "$1/dev/null" &&
            exec chroot --userspec="$2:65534" --groups=65534 "$1" /sbx/invis /sbx/invis' \
        native "$ROOT" "$uid" >"$out" 2>"$out.err" </dev/null
}

# sandboxed UID MODE OUT: the same program in a sandbox of the test image.
sandboxed() {
    local uid=$1 mode=$2 out=$3
    local -a as=()
    [ "$uid" != 0 ] && as=(setpriv --reuid="$uid" --regid=65534 --clear-groups)
    "${as[@]}" "$SANDBOXCTL" run --socket "$SOCK" --syscall-mode "$mode" "$IMG" \
        /sbx/invis /sbx/invis >"$out" 2>"$out.err" </dev/null
}

# mask_maps MODE FILE: FILE without what docs/trampoline.md ("What the guest
# can tell") names as unavoidable in MODE.  In every mode: the trampoline's
# own mappings, at the addresses it reserves (invis tags those lines
# "trampoline"), and in rewrite mode the stub pages, which must lie within
# 2 GiB of the code they serve (anonymous, r-x).
mask_maps() {
    if [ "$1" = rewrite ]; then
        grep -v -e '^map: .* trampoline$' -e '^map: r-xp $' "$2"
    else
        grep -v -e '^map: .* trampoline$' "$2"
    fi
}

compare() {
    local uid=$1 mode=$2
    sandboxed "$uid" "$mode" "$T/out.$mode.$uid" || {
        say "sandboxctl failed:"
        diag "$T/out.$mode.$uid.err"
        return 1
    }
    if ! diff -u <(mask_maps "$mode" "$T/native.$uid") <(mask_maps "$mode" "$T/out.$mode.$uid") \
        >"$T/diff"; then
        say "native (-) and $mode mode (+) differ:"
        diag "$T/diff"
        return 1
    fi
}

suite_daemon

for uid in 0 4242; do
    native "$uid" "$T/native.$uid"
    t "natively as uid $uid, invis runs and sees its own program" \
        grep -qx 'open /proc/self/exe: this program' "$T/native.$uid"
    for mode in off trap rewrite; do
        t "$mode mode, uid $uid: the guest sees what a native process sees" compare "$uid" "$mode"
    done
done

tap_finish
