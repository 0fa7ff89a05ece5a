#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What `sandboxctl run` leaves behind when it returns, and what it says when a
# run fails, reported as TAP: a writable image is unmounted, detached and
# consistent on disk by then; a seccomp kill, a corrupt image, an argv over
# the limits, a missing group and the root-only policy fields each get a
# message that names the cause.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths); EXPECT_POLICY_DIR, the
# build's policy directory.
# shellcheck disable=SC2016,SC2034  # guest scripts single-quoted; variables read in eval
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init exitmsg SANDBOXD SANDBOXCTL TEST_IMAGE
EXPECT_POLICY_DIR=${EXPECT_POLICY_DIR:-/etc/sandboxd/policies}
IMG=$T/test.ext4
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
mkdir -p "$T/policies"


# run [--as UID] POLICY IMAGE CMD...: sandboxctl run ("-" for no policy).
run() {
    local as=()
    if [ "$1" = --as ]; then
        as=(setpriv --reuid="$2" --regid=65534 --clear-groups --)
        shift 2
    fi
    local p=$1 img=$2
    shift 2
    local pol=()
    [ "$p" = - ] || pol=(--policy "$p")
    rc=0
    timeout 60 "${as[@]}" "$SANDBOXCTL" run --socket "$SOCK" "${pol[@]}" "$img" "$@" \
        >"$T/out" 2>"$T/err" || rc=$?
}

err_has() { grep -q -- "$1" "$T/err"; }
err_lines() { [ "$(wc -l <"$T/err")" -eq "$1" ]; }

# start_daemon LOG ARGS...: a daemon on $SOCK, ready when this returns.  Fd 7 is
# the test's own hold on an image's filesystem: the daemon must not inherit it.
start_daemon() {
    local log=$1
    shift
    rm -f "$T/ready"
    mkfifo "$T/ready"
    "$SANDBOXD" --socket "$SOCK" --state-dir "$T/state" --policy-dir "$T/policies" \
        --ready-fd 3 "$@" 3>"$T/ready" 2>"$log" 7<&- &
    daemon_pid=$!
    if ! read -r -t 20 _ <"$T/ready"; then
        echo "Bail out! sandboxd did not become ready"
        diag "$log"
        exit 1
    fi
}

stop_daemon() {
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
    daemon_pid=
}

start_daemon "$T/sandboxd.log" --group nogroup

# ---- a writable image is released when sandboxctl returns ------------------------

policy writable <<'YAML'
filesystem:
  writable_image: true
YAML
W=$T/writable.ext4
cp "$IMG" "$W"

# One writable run appending line I, then what the host sees of the file.
writable_round() {
    local i=$1
    run writable "$W" /bin/sh -c "echo line$i >> /appended"
    [ "$rc" = 0 ] || {
        say "round $i: the run failed"
        return 1
    }
    if ! e2fsck -fn "$W" >"$T/fsck" 2>&1; then
        say "round $i: e2fsck -fn is not clean"
        diag "$T/fsck"
        return 1
    fi
    local last
    last=$(debugfs -R 'cat /appended' "$W" 2>/dev/null | tail -n 1)
    if [ "$last" != "line$i" ]; then
        say "round $i: the file's last line reads '$last'"
        return 1
    fi
    if [ -n "$(losetup -j "$W")" ]; then
        say "round $i: a loop device is still attached: $(losetup -j "$W")"
        return 1
    fi
}

rounds_ok=0
for i in $(seq 1 20); do
    writable_round "$i" || break
    rounds_ok=$i
done
t "writable image: 20 back-to-back runs, each clean on disk, its write visible, no loop left" \
    eval '[ "$rounds_ok" = 20 ] && [ "$(debugfs -R "cat /appended" "$W" 2>/dev/null | wc -l)" = 20 ]'

# A process outside the daemon that holds the image's filesystem (here this
# shell, through the guest's /proc/PID/root) keeps the loop device bound: the
# run still ends, and the image stays exclusive until the holder lets go.
W2=$T/held.ext4
cp "$IMG" "$W2"
rc_held=0
timeout 60 "$SANDBOXCTL" run --socket "$SOCK" --policy writable --syscall-mode off "$W2" \
    /bin/sh -c 'echo held >> /appended; exec /bin/sleep 2' >"$T/held.out" 2>"$T/held.err" &
held_run=$!
guest=
for _ in $(seq 1 100); do
    for p in $(pgrep -x sleep || true); do
        if grep -q "sbx-$daemon_pid-" "/proc/$p/cgroup" 2>/dev/null; then
            guest=$p
        fi
    done
    [ -n "$guest" ] && break
    sleep 0.05
done
held=no
if [ -n "$guest" ] && exec 7<"/proc/$guest/root/appended"; then
    held=yes
fi
wait "$held_run" || rc_held=$?
t "held image: the run ends all the same (exit 0)" eval '[ "$held" = yes ] && [ "$rc_held" = 0 ]'
t "held image: sandboxd warns that the loop device still holds it" \
    grep -q "still attached to a loop device" "$T/sandboxd.log"
run writable "$W2" /bin/true
t "held image: the next writable run is refused as in use" \
    eval 'rc_is 125 && err_lines 1 && err_has "image $W2: in use: its loop device still holds it"'
# The daemon's memory of the lingering mount goes with it; the loop device
# does not, and a restarted daemon must find it there.
stop_daemon
start_daemon "$T/restarted.log" --group nogroup
run writable "$W2" /bin/sh -c 'echo restarted >> /appended'
t "held image: after a restart of sandboxd, a writable run is still refused, naming the loop device" \
    eval 'rc_is 125 && err_lines 1 && err_has "image $W2: in use: /dev/loop[0-9]* is attached to it"'
run - "$W2" /bin/true
t "held image: after a restart, a read-only run is refused too (the file is attached read-write)" \
    eval 'rc_is 125 && err_lines 1 && err_has "image $W2: in use: /dev/loop[0-9]* is attached to it"'
if [ "$held" = yes ]; then
    exec 7<&-
fi
run writable "$W2" /bin/sh -c 'echo after >> /appended'
t "held image: once let go, the next writable run works and writes" \
    eval 'rc_is 0 && [ "$(debugfs -R "cat /appended" "$W2" 2>/dev/null)" = "$(printf "held\nafter")" ] &&
        [ -z "$(losetup -j "$W2")" ]'
t "held image: e2fsck -fn finds the file clean" eval 'e2fsck -fn "$W2" >"$T/out" 2>&1'

# A cached read-only image is not looked for among the host's loop devices
# again; a write through another attachment changes the file's mtime, so the
# next run misses the cache, looks, and is refused.  The block written is the
# one read from there: the filesystem does not change.
R=$T/cached.ext4
cp "$IMG" "$R"
run - "$R" /bin/true
rc_cached=$rc
other_loop=$(losetup -f --show "$R")
detach_other() { losetup -d "$other_loop" 2>/dev/null || true; }
trap 'detach_other; suite_cleanup' EXIT
mtime_before=$(stat -c %Y.%y "$R")
sleep 0.1
dd if="$other_loop" of="$T/block" bs=4096 count=1 skip=1 status=none
dd if="$T/block" of="$other_loop" bs=4096 count=1 seek=1 conv=notrunc,fsync status=none
say "mtime $mtime_before, after the write $(stat -c %Y.%y "$R")"
run - "$R" /bin/true
t "a cached image written through another loop device is refused as attached" \
    eval '[ "$rc_cached" = 0 ] && [ "$(stat -c %Y.%y "$R")" != "$mtime_before" ] && rc_is 125 &&
        err_lines 1 && err_has "image $R: in use: $other_loop is attached to it"'
detach_other
run - "$R" /bin/true
t "once the other loop device is gone, the image runs again" rc_is 0

# ---- a seccomp kill names the call, and the call does not run ------------------

policy kill-mkdir <<'YAML'
syscalls:
  rules:
    - { action: kill, syscalls: [mkdir, mkdirat] }
YAML
policy kill-execve <<'YAML'
syscalls:
  rules:
    - { action: kill, syscalls: [execve] }
YAML
policy kill-execveat <<'YAML'
syscalls:
  rules:
    - { action: kill, syscalls: [execveat] }
YAML
policy kill-read <<'YAML'
syscalls:
  rules:
    - { action: kill, syscalls: [read] }
YAML
mkdir -p "$T/vol"
# krun MODE POLICY CMD...: a run with $T/vol at /vol, read-write ("-" for no policy).
krun() {
    local m=$1 pol=()
    [ "$2" = - ] || pol=(--policy "$2")
    shift 2
    rc=0
    timeout 60 "$SANDBOXCTL" run --socket "$SOCK" "${pol[@]}" --syscall-mode "$m" \
        -v "$T/vol:/vol:rw" "$IMG" "$@" >"$T/out" 2>"$T/err" || rc=$?
}
sbx_lines() { [ "$(grep -c '^sandboxctl: ' "$T/err")" -eq "$1" ]; }
for m in off trap rewrite; do
    # The same call without the kill rule does make the directory: the host's check can fail.
    rm -rf "$T/vol"/*
    krun "$m" - /bin/mkdir /vol/control
    t "seccomp kill ($m): without the rule, mkdir makes /vol/control on the host" \
        eval 'rc_is 0 && [ -d "$T/vol/control" ]'

    krun "$m" kill-mkdir /bin/mkdir /vol/main
    t "seccomp kill ($m): the main process exits 159 with one line naming mkdir" \
        eval 'rc_is 159 && err_lines 1 &&
            err_has "^sandboxctl: killed by SIGSYS: the seccomp policy.s kill action, on syscall mkdir$"'
    t "seccomp kill ($m): the killed mkdir made nothing on the host" eval '[ ! -e "$T/vol/main" ]'

    krun "$m" kill-mkdir /bin/sh -c 'mkdir /vol/child; s=$?; echo "$s" >/vol/status; exit "$s"'
    t "seccomp kill ($m): a shell sees its child end with 159, sandboxctl names mkdir once" \
        eval 'rc_is 159 && [ "$(cat "$T/vol/status")" = 159 ] && sbx_lines 1 &&
            err_has "^sandboxctl: a process was killed by the seccomp policy.s kill action, on syscall mkdir$"'
    t "seccomp kill ($m): the child's killed mkdir made nothing on the host" \
        eval '[ ! -e "$T/vol/child" ]'

    # A guest that ignores SIGSYS still dies, and its call still does not run: in trap and
    # rewrite modes of SIGSYS (the trampoline sees the daemon's signal), in off mode of the
    # SIGKILL that follows when SIGSYS did not end it.
    krun "$m" kill-mkdir /bin/sh -c "trap '' SYS; exec mkdir /vol/ignored"
    if [ "$m" = off ]; then
        t "seccomp kill ($m): a guest that ignores SIGSYS gets SIGKILL, and one line naming mkdir" \
            eval 'rc_is 137 && [ ! -e "$T/vol/ignored" ] && sbx_lines 1 &&
                err_has "^sandboxctl: killed by SIGKILL: the seccomp policy.s kill action, on syscall mkdir, after SIGSYS did not end"'
    else
        t "seccomp kill ($m): a guest that ignores SIGSYS dies of it all the same, naming mkdir" \
            eval 'rc_is 159 && [ ! -e "$T/vol/ignored" ] && sbx_lines 1 &&
                err_has "^sandboxctl: killed by SIGSYS: the seccomp policy.s kill action, on syscall mkdir$"'
    fi

    # A worker that catches SIGSYS forks in its handler: no process it made outlives its kill.
    rm -rf "$T/vol"/*
    krun "$m" kill-mkdir /sbx/killdodge fork /vol
    t "seccomp kill ($m): a child forked in the SIGSYS handler does not outlive the kill" \
        eval 'rc_is 0 && grep -q "^worker signal" "$T/out" && [ ! -e "$T/vol/dir" ] &&
            [ ! -e "$T/vol/survived" ]'

    # A process whose leader has ended (a zombie while its threads run) and that blocks
    # SIGSYS is still ended by the SIGKILL of the grace period.
    rm -rf "$T/vol"/*
    krun "$m" kill-mkdir /sbx/killdodge zombie /vol
    t "seccomp kill ($m): a process with a zombie leader does not outlive the kill" \
        eval 'rc_is 0 && grep -q "^worker signal" "$T/out" && [ ! -e "$T/vol/dir" ] &&
            [ ! -e "$T/vol/survived" ]'

    # A caller that interrupts its own killed call before sandboxd reads it may live on
    # (EINTR, the race is the guest's to win), but its call never runs.
    rm -rf "$T/vol"/*
    krun "$m" kill-mkdir /sbx/killdodge intr /vol
    t "seccomp kill ($m): a killed call that a signal interrupts still never runs" \
        eval 'rc_is 0 && grep -q "^died [0-9]* eintr [0-9]* other 0$" "$T/out" &&
            [ ! -e "$T/vol/dir" ]'

    # The trampoline carries out a guest's exec as an exec of itself: the policy's rule on
    # execve and the one on execveat each still decide their own call (in off mode a rule
    # on execve ends the guest's own first execve).
    krun "$m" kill-execveat /sbx/killdodge execveat /sbx/exitwith 3
    t "seccomp kill ($m): a kill rule on execveat kills the guest's execveat, naming it" \
        eval 'rc_is 159 && sbx_lines 1 && err_has "kill action, on syscall execveat$"'
    if [ "$m" != off ]; then
        rm -rf "$T/vol"/*
        krun "$m" kill-execve /bin/sh -c '/sbx/exitwith 3; echo "$?" >/vol/status'
        t "seccomp kill ($m): a kill rule on execve kills the guest's execve, naming it" \
            eval 'rc_is 0 && [ "$(cat "$T/vol/status")" = 159 ] && sbx_lines 1 &&
                err_has "kill action, on syscall execve$"'
    fi

    # What a kill rule costs: the sandbox's filter holds the one listener a chain may have.
    krun "$m" kill-mkdir /sbx/probe syscall seccomp-listener
    t "seccomp kill ($m): with a kill rule, the guest's own seccomp listener is refused (EBUSY)" \
        eval 'rc_is 0 && [ "$(cat "$T/out")" = errno=EBUSY ]'
    krun "$m" - /sbx/probe syscall seccomp-listener
    t "seccomp kill ($m): without one, the guest may have a seccomp listener" \
        eval 'rc_is 0 && [ "$(cat "$T/out")" = ok ]'

    # The installer's own first call under the filter is a read: killed and named, no hang.
    krun "$m" kill-read /bin/true
    t "seccomp kill ($m): a kill rule on read kills at the filter's install, naming read" \
        eval 'rc_is 159 && err_lines 1 && err_has "kill action, on syscall read$"'
done
run - "$IMG" /bin/sh -c 'exit 3'
t "an ordinary exit says nothing on stderr" eval 'rc_is 3 && err_lines 0'

# ---- a corrupt image and an argv over the limits name the cause ----------------------

cp "$IMG" "$T/corrupt.ext4"
block_size=$(dumpe2fs -h "$T/corrupt.ext4" 2>/dev/null | sed -n 's/^Block size: *//p')
# The group descriptors follow the superblock's block: zeroed, sandboxd refuses them itself,
# before the kernel parses them.
gdt_block=$((block_size == 1024 ? 2 : 1))
dd if=/dev/zero of="$T/corrupt.ext4" bs="$block_size" seek="$gdt_block" count=1 conv=notrunc \
    status=none
run - "$T/corrupt.ext4" /bin/true
t "corrupt image: one line naming the file and that it cannot be mounted" \
    eval 'rc_is 125 && err_lines 1 && err_has "image $T/corrupt.ext4: cannot mount it: "'
t "corrupt image: sandboxd names the bad group descriptor before the kernel sees it" \
    eval 'err_has "the filesystem is corrupt: group 0.s block bitmap (block 0) is outside" &&
        ! err_has "the kernel says"'

# The root directory's inode zeroed: only the kernel can find that, and says so while mounting.
cp "$IMG" "$T/badroot.ext4"
itable=$(dumpe2fs "$T/badroot.ext4" 2>/dev/null | sed -n 's/^ *Inode table at \([0-9]*\)-.*/\1/p' | head -n 1)
dd if=/dev/zero of="$T/badroot.ext4" bs="$block_size" seek="$itable" count=1 conv=notrunc \
    status=none
run - "$T/badroot.ext4" /bin/true
t "corrupt root inode: one line naming the file, with the kernel's own reason" \
    eval 'rc_is 125 && err_lines 1 && err_has "image $T/badroot.ext4: cannot mount it: " &&
        err_has "the filesystem is corrupt: .*; the kernel says: .*root inode"'

run - "$IMG" /bin/true $(seq 1 5000)
t "argv: more entries than the protocol carries names the limit of 4096" \
    eval 'rc_is 125 && err_lines 1 && err_has "5001 arguments, at most 4096"'
long=$(head -c 70000 /dev/zero | tr '\0' a)
run - "$IMG" /bin/echo "$long"
t "argv: a string over 64 KiB names the entry and the string limit" \
    eval 'rc_is 125 && err_lines 1 && err_has "argv entry 1 is 70000 bytes, at most 65536"'
# PATH and HOME come first: a policy's 4095 variables make 4097, past what
# the SPEC carries; refused with the count, never cut short.
{
    echo "process:"
    echo "  env:"
    for i in $(seq 4095); do echo "    V$i: x"; done
} >"$T/policies/env-4095.yaml"
run env-4095 "$IMG" /bin/true
t "env: more variables than a spec carries names the limit of 4096" \
    eval 'rc_is 125 && err_lines 1 && err_has "more than 4096 variables"'
mid=$(head -c 60000 /dev/zero | tr '\0' b)
run - "$IMG" /bin/echo "$mid" "$mid" "$mid" "$mid" "$mid" "$mid" "$mid" "$mid" "$mid" "$mid" \
    "$mid" "$mid" "$mid" "$mid" "$mid" "$mid" "$mid" "$mid"
t "argv: a request over the frame size names the limit of 1 MiB" \
    eval 'rc_is 125 && err_lines 1 && err_has "limit of 1048576 bytes per frame"'

# ---- what only root may ask for is named as written -----------------------------

policy host-net <<'YAML'
network: host
YAML
run --as 4242 host-net "$IMG" /bin/true
t "network: host as a group member is refused, naming 'network: host'" \
    eval 'rc_is 125 && err_has "only root may use '"'"'network: host'"'"' in a policy"'
policy no-baseline <<'YAML'
syscalls: { baseline: none }
YAML
run --as 4242 no-baseline "$IMG" /bin/true
t "baseline: none as a group member is refused, naming 'syscalls: baseline: none'" \
    eval 'rc_is 125 && err_has "only root may use '"'"'syscalls: baseline: none'"'"'"'
# In the host's user namespace a kept capability is the host's; in the
# sandbox's own it is the namespace's, and any caller may keep one of
# podman's default set (net_raw is not in it).
policy caps <<'YAML'
process: { capabilities: [CAP_NET_RAW] }
userns: host
YAML
run --as 4242 caps "$IMG" /bin/true
t "kept capabilities in the host's userns as a group member are refused, naming 'process: capabilities'" \
    eval 'rc_is 125 && err_has "only root may use '"'"'process: capabilities'"'"'"'
policy caps-own <<'YAML'
process: { capabilities: [CAP_CHOWN] }
YAML
run --as 4242 caps-own "$IMG" /bin/true
t "kept capabilities in the sandbox's own userns as a group member run" rc_is 0
policy caps-raw <<'YAML'
process: { capabilities: [CAP_NET_RAW] }
YAML
run --as 4242 caps-raw "$IMG" /bin/true
t "net_raw in the sandbox's own userns as a group member is refused, naming 'process: capabilities'" \
    eval 'rc_is 125 && err_has "only root may use '"'"'process: capabilities'"'"'"'

# ---- the default policy directory ------------------------------------------------

"$SANDBOXD" --help >"$T/out" 2>&1 || true
t "sandboxd's default policy directory is $EXPECT_POLICY_DIR, whatever the prefix" \
    grep -q -- "--policy-dir DIR .*(default $EXPECT_POLICY_DIR)" "$T/out"

# ---- a group that does not exist ------------------------------------------------

stop_daemon
start_daemon "$T/nogroup.log" --group sbx-no-such-group
t "sandboxd warns at start that its group does not exist" \
    grep -q "group 'sbx-no-such-group' does not exist" "$T/nogroup.log"
run --as 4242 - "$IMG" /bin/true
t "a caller outside the group is told who may connect, not to start sandboxd" \
    eval 'rc_is 125 && err_lines 1 && err_has "Permission denied" && err_has "group" &&
        ! err_has "start sandboxd"'
run - "$IMG" /bin/echo served
t "root is still served" eval 'rc_is 0 && [ "$(cat "$T/out")" = served ]'

tap_finish
