#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Robustness end to end, reported as TAP: images whose superblock asks for
# dangerous error behaviour, images the kernel cannot mount and the reason the
# user is told, failed launches and the processes they leave, the default
# limits of a sandbox without a policy, and a full state directory.  Every
# outcome is checked from the host.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, SUBREAPER (paths).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016,SC2034  # guest scripts single-quoted; variables read in eval
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init robust SANDBOXD SANDBOXCTL TEST_IMAGE SUBREAPER
IMG=$T/test.ext4
LOG=$T/sandboxd.log
mkdir -p "$T/policies"
cp "$TEST_IMAGE" "$IMG"
suite_sleeps 8
cleanup_mounts=("$T/tiny" "$T/fuse")

# start_daemon SOCKET STATE LOG [ARG...]: a daemon of our own; sets daemon_pid.
start_daemon() {
    local sock=$1 state=$2 log=$3
    shift 3
    rm -f "$T/ready"
    mkfifo "$T/ready"
    "$SANDBOXD" --socket "$sock" --state-dir "$state" --policy-dir "$T/policies" \
        --ready-fd 3 "$@" 3>"$T/ready" 2>>"$log" &
    daemon_pid=$!
    started_pids+=("$daemon_pid")
    if ! read -r -t 30 _ <"$T/ready"; then
        say "sandboxd did not become ready; its log:"
        diag "$log"
        return 1
    fi
}

stop_daemon() {
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
}

# run [--policy NAME] IMAGE CMD...: sandboxctl run; sets rc (output in $T/out, $T/err).
run() {
    rc=0
    timeout -k 5 120 "$SANDBOXCTL" run --socket "$SOCK" "$@" >"$T/out" 2>"$T/err" || rc=$?
}

out_is() { [ "$(cat "$T/out")" = "$1" ]; }
err_has() { grep -q -- "$1" "$T/err"; }
# The run failed before the guest started, with one line naming the cause.
refused_with() {
    say "message: $(head -c 300 "$T/err")"
    rc_is 125 && [ "$(wc -l <"$T/err")" -eq 1 ] && err_has "$1"
}

# start_sleeper IMAGE: a sandbox of IMAGE running /bin/sleep; sets bg_pid and guest.
start_sleeper() {
    sleeps=$((sleeps + 1))
    local dur=$SLEEP_PREFIX$sleeps
    "$SANDBOXCTL" run --socket "$SOCK" "$@" /bin/sleep "$dur" >"$T/out" 2>"$T/err" &
    bg_pid=$!
    started_pids+=("$bg_pid")
    guest=
    local end=$((SECONDS + 20)) pid
    while [ -z "$guest" ] && [ "$SECONDS" -lt "$end" ]; do
        for pid in $(pgrep -f "/bin/sleep $dur\$" || true); do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sandboxctl ] || guest=$pid
        done
        [ -n "$guest" ] || sleep 0.1
    done
    [ -n "$guest" ]
}

stop_sleeper() {
    kill -KILL "$bg_pid" 2>/dev/null || true
    wait "$bg_pid" 2>/dev/null || true
    [ -z "$guest" ] || kill -KILL "$guest" 2>/dev/null || true
}

start_daemon "$SOCK" "$T/state" "$LOG"

# ---- the image's superblock does not choose the kernel's error behaviour -------

# ext4_options IMAGE: the mount options ext4 uses for IMAGE, as sandboxes see it.
ext4_options() {
    local loop
    loop=$(losetup -n -O NAME -j "$1" | head -n 1)
    [ -n "$loop" ] && cat "/proc/fs/ext4/${loop#/dev/}/options"
}

# mounted_safely IMAGE: while a guest of IMAGE runs, ext4 treats errors by
# remounting read-only, never by a panic or a warning (panic_on_warn).
mounted_safely() {
    local img=$1 opts
    shift
    start_sleeper "$@" "$img" || { say "the guest did not start"; return 1; }
    opts=$(ext4_options "$img" | tr '\n' ' ')
    stop_sleeper
    say "options: $opts"
    [[ " $opts " == *" errors=remount-ro "* ]] && [[ " $opts " != *" errors=panic "* ]] &&
        [[ " $opts " == *" nowarn_on_error "* ]] && [[ " $opts " == *" block_validity "* ]]
}

cp "$TEST_IMAGE" "$T/errors-panic.ext4"
tune2fs -e panic "$T/errors-panic.ext4" >/dev/null
t "image: a superblock saying errors=panic is mounted errors=remount-ro" \
    mounted_safely "$T/errors-panic.ext4"

cp "$TEST_IMAGE" "$T/mountopts-panic.ext4"
tune2fs -E mount_opts=errors=panic "$T/mountopts-panic.ext4" >/dev/null
t "image: mount options errors=panic in the superblock are overridden" \
    mounted_safely "$T/mountopts-panic.ext4"

cp "$TEST_IMAGE" "$T/mountopts-warn.ext4"
# tune2fs -E takes one option; debugfs writes the field (and its checksum) as it is.
debugfs -w -R "ssv mount_opts warn_on_error,noblock_validity" "$T/mountopts-warn.ext4" \
    >/dev/null 2>&1
t "image: warn_on_error and noblock_validity in the superblock are overridden" \
    mounted_safely "$T/mountopts-warn.ext4"

cp "$TEST_IMAGE" "$T/writable.ext4"
tune2fs -e panic -E mount_opts=errors=panic "$T/writable.ext4" >/dev/null
policy writable <<'YAML'
filesystem: { writable_image: true }
YAML
t "image: a writable image is mounted errors=remount-ro too" \
    mounted_safely "$T/writable.ext4" --policy writable

# Multi-mount protection: a read-write mount of an image whose MMP block is
# not clean sleeps in the kernel for twice the check interval the image
# chooses (here 2 x 15 s), and the daemon mounts in its event loop.
mkfs.ext4 -q -F -O mmp,^metadata_csum "$T/mmp.ext4" 16M >/dev/null 2>&1
mmp_block=$(dumpe2fs -h "$T/mmp.ext4" 2>/dev/null | awk '/^MMP block number/ {print $4}')
block_size=$(dumpe2fs -h "$T/mmp.ext4" 2>/dev/null | awk '/^Block size/ {print $3}')
# mmp_seq (offset 4) 1, not the clean value; mmp_check_interval (offset 112) 7 s.
printf '\x01\x00\x00\x00' |
    dd of="$T/mmp.ext4" bs=1 seek=$((mmp_block * block_size + 4)) conv=notrunc status=none
printf '\x07\x00' |
    dd of="$T/mmp.ext4" bs=1 seek=$((mmp_block * block_size + 112)) conv=notrunc status=none
"$SANDBOXCTL" run --socket "$SOCK" --policy writable "$T/mmp.ext4" /bin/true \
    >"$T/mmp.out" 2>"$T/mmp.err" &
mmp_run=$!
started_pids+=("$mmp_run")
sleep 0.5
rc=0
timeout 10 "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/echo serving >"$T/out" 2>"$T/err" || rc=$?
t "image: a writable image with multi-mount protection does not stall the daemon" \
    eval 'rc_is 0 && out_is serving'
mmp_rc=0
wait "$mmp_run" || mmp_rc=$?
cp "$T/mmp.err" "$T/err"
rc=$mmp_rc
t "image: a writable image with multi-mount protection is refused, naming it" \
    refused_with "multi-mount protection"

cp "$TEST_IMAGE" "$T/mountopts-debug.ext4"
tune2fs -E mount_opts=debug "$T/mountopts-debug.ext4" >/dev/null
run "$T/mountopts-debug.ext4" /bin/true
t "image: other mount options in the superblock refuse the image, naming them" \
    refused_with "mount options 'debug'"

# ---- why an image does not mount ----------------------------------------------------

cp "$TEST_IMAGE" "$T/truncated.ext4"
truncate -s 2M "$T/truncated.ext4"
run "$T/truncated.ext4" /bin/true
t "image: a truncated image is refused as bad geometry, with its sizes" \
    refused_with "bad geometry: .* blocks .* the file holds"

# set_incompat IMAGE BIT: sets a bit of s_feature_incompat (superblock offset 0x60).
set_incompat() {
    local off=$((1024 + 0x60)) v
    v=$(od -An -tu4 -j "$off" -N4 "$1" | tr -d ' ')
    v=$((v | $2))
    printf '%b' "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((v & 255)) $((v >> 8 & 255)) \
        $((v >> 16 & 255)) $((v >> 24 & 255)))" |
        dd of="$1" bs=1 seek="$off" conv=notrunc status=none
}
mkdir -p "$T/emptyroot"
mkfs.ext4 -q -F -O ^metadata_csum -d "$T/emptyroot" "$T/feature.ext4" 8M >/dev/null 2>&1
set_incompat "$T/feature.ext4" $((0x40000000))
run "$T/feature.ext4" /bin/true
t "image: an unknown incompatible feature is named as unsupported" \
    refused_with "unsupported ext4 features.*0x40000000"

head -c 4194304 /dev/zero >"$T/zeros.img"
run "$T/zeros.img" /bin/true
t "image: a file without an ext4 superblock is named as not ext4" \
    refused_with "not an ext4 filesystem"

# ---- failed launches leave no zombie -----------------------------------------------

# zombies_of PID: the zombie children of PID.
zombies_of() {
    ps --ppid "$1" -o stat=,pid=,comm= | awk '$1 ~ /^Z/'
}
no_zombies() {
    [ -z "$(zombies_of "$daemon_pid")" ]
}

# A SPEC larger than a frame: a named policy's environment (not part of RUN,
# and at most a policy file's 64 KiB) on top of an argv that RUN carries.
big=$(head -c 60000 /dev/zero | tr '\0' x)
{
    echo "process:"
    echo "  env:"
    echo "    BIG: $big"
} >"$T/policies/huge-env.yaml"
args=()
for i in $(seq 17); do
    args+=("$big")
done
failed=0
for i in 1 2 3; do
    run --policy huge-env "$IMG" /bin/true "${args[@]}"
    [ "$rc" = 125 ] && failed=$((failed + 1))
done
say "$failed of 3 runs failed as expected; $(head -n 1 "$T/err")"
t "launch: three runs whose spec is too large fail with a message" \
    eval '[ "$failed" = 3 ] && err_has "spec"'
wait_until 5 no_zombies || true
t "launch: the failed launches leave no zombie child of the daemon" \
    eval 'no_zombies || { say "zombies: $(zombies_of "$daemon_pid" | tr "\n" " ")"; false; }'
run "$IMG" /bin/echo still-serving
t "launch: the daemon serves the next run" eval 'rc_is 0 && out_is still-serving'

# An image on a FUSE filesystem: each read of it would wait for a user-space
# server inside the daemon's loop.  fuse2fs serves an ext4 file holding a copy
# of the test image.
fuse_refused() {
    mkdir -p "$T/fuseroot" "$T/fuse"
    cp "$IMG" "$T/fuseroot/test.ext4"
    mkfs.ext4 -q -F -d "$T/fuseroot" "$T/outer.ext4" 64M >/dev/null 2>&1
    fuse2fs -o ro "$T/outer.ext4" "$T/fuse" >/dev/null 2>&1 || {
        say "fuse2fs cannot mount here"
        return 1
    }
    run "$T/fuse/test.ext4" /bin/true
    umount "$T/fuse" || true
    refused_with "FUSE"
}
if command -v fuse2fs >/dev/null && [ -c /dev/fuse ]; then
    t "image: an image on a FUSE filesystem is refused, naming it" fuse_refused
else
    t "image: an image on a FUSE filesystem is refused # SKIP no fuse2fs or /dev/fuse" true
fi

# A FIFO in the policy directory is refused at once; the loop never waits on it.
mkfifo "$T/policies/fifo.yaml"
run --policy fifo "$IMG" /bin/true
t "policy: a FIFO in the policy directory is refused as not a regular file" \
    refused_with "is not a regular file"
run "$IMG" /bin/echo still-serving
t "policy: the daemon serves the next run" eval 'rc_is 0 && out_is still-serving'

# At stop: the spare and a site-map build.  A daemon under
# a subreaper must leave it nothing to reap when SIGTERM ends it.
"$SUBREAPER" "$SANDBOXD" --socket "$T/reaped.sock" --state-dir "$T/reaped-state" \
    --policy-dir "$T/policies" --syscall-mode rewrite >"$T/reaped.pid" 2>"$T/reaped.log" &
reaper=$!
started_pids+=("$reaper")
wait_until 30 test -S "$T/reaped.sock" || say "the daemon under the subreaper did not start"
reaped_daemon=$(head -n 1 "$T/reaped.pid")
cp "$TEST_IMAGE" "$T/fresh.ext4"
# A run that ends at once (no such program), so that no sandbox holds up the stop.
"$SANDBOXCTL" run --socket "$T/reaped.sock" "$T/fresh.ext4" /no/such/program >/dev/null 2>&1 &
started_pids+=("$!")
# The first rewrite-mode run of an image starts sbx-sitemap, which works for
# some 50 ms: watch for it with shell builtins only, and stop the daemon then.
helper_runs() {
    local kids=() k comm
    # The file has no final newline, so read reports EOF even when it read the list.
    read -r -a kids <"/proc/$reaped_daemon/task/$reaped_daemon/children" || true
    for k in "${kids[@]}"; do
        read -r comm <"/proc/$k/comm" 2>/dev/null || continue
        [[ $comm == *sitem* ]] && return 0
    done
    return 1
}
end=$((SECONDS + 20))
until helper_runs || [ "$SECONDS" -ge "$end" ]; do :; done
kill -TERM "$reaped_daemon"
reaper_rc=0
wait "$reaper" || reaper_rc=$?
if grep -q "site map of" "$T/reaped.log"; then
    say "the site map was done before the daemon stopped: its helper was not killed"
fi
t "stop: SIGTERM with a spare and a site-map build leaves nothing unreaped" \
    eval '[ "$reaper_rc" = 0 ] || { diag "$T/reaped.log"; false; }'

# ---- default limits --------------------------------------------------------------

# cg_file PID FILE: FILE of a cgroup of PID (v2, or a v1 hierarchy); fails if none has it.
cg_file() {
    local pid=$1 file=$2 ctrls path root c
    while IFS=: read -r _ ctrls path; do
        if [ -z "$ctrls" ]; then
            set -- /sys/fs/cgroup/unified /sys/fs/cgroup
        else
            set --
            for c in ${ctrls//,/ }; do
                set -- "$@" "/sys/fs/cgroup/$c"
            done
        fi
        for root; do
            if [ -f "$root$path/$file" ]; then
                cat "$root$path/$file"
                return 0
            fi
        done
    done <"/proc/$pid/cgroup"
    return 1
}

# limits_are IMAGE PIDS MEMORY [ARG...]: a sleeping guest's cgroup has those limits.
limits_are() {
    local pids=$1 mem=$2 got_pids got_mem
    shift 2
    start_sleeper "$@" "$IMG" || { say "the guest did not start"; return 1; }
    got_pids=$(cg_file "$guest" pids.max || echo none)
    got_mem=$(cg_file "$guest" memory.max || cg_file "$guest" memory.limit_in_bytes || echo none)
    stop_sleeper
    say "pids.max $got_pids, memory limit $got_mem"
    [ "$got_pids" = "$pids" ] && [ "$got_mem" = "$mem" ]
}
t "limits: without a policy a sandbox has pids.max 1024 and a 1 GiB memory limit" \
    limits_are 1024 1073741824

# df_sizes CMD...: the 1K-block sizes of /, /tmp and /dev/shm in the guest.
df_sizes() {
    run "$@" /bin/sh -c 'for m in / /tmp /dev/shm; do df -k "$m" | awk "NR==2 {print \$2}"; done'
    tr '\n' ' ' <"$T/out"
}
sizes=$(df_sizes "$IMG")
t "limits: without a policy /, /tmp and /dev/shm are 1 GiB, 512 MiB and 64 MiB" \
    eval 'say "sizes: $sizes"; [ "$sizes" = "1048576 524288 65536 " ]'

# The shell counts with builtins only: once the bomb stops, nothing can fork.
run "$IMG" /bin/sh -c '(for i in $(seq 3000); do sleep 30 & done) 2>/dev/null
    set -- /proc/[0-9]*; echo $#; kill -9 -1'
t "limits: a fork bomb stops at the default pids limit" \
    eval 'count=$(head -n 1 "$T/out"); say "processes: $count";
          [ -n "$count" ] && [ "$count" -le 1024 ] && [ "$count" -ge 900 ]'

policy raised <<'YAML'
filesystem:
  overlay_size: 2G
  tmp_size: 1G
  shm_size: 128M
limits: { memory: 2G, pids: 4096 }
YAML
t "limits: a policy raises the pids and memory limits" \
    limits_are 4096 2147483648 --policy raised
sizes=$(df_sizes --policy raised "$IMG")
t "limits: a policy raises the sizes of /, /tmp and /dev/shm" \
    eval 'say "sizes: $sizes"; [ "$sizes" = "2097152 1048576 131072 " ]'

policy lowered <<'YAML'
filesystem: { overlay_size: 8M, tmp_size: 4M, shm_size: 1M }
limits: { memory: 64M, pids: 32 }
YAML
t "limits: a policy lowers the pids and memory limits" \
    limits_are 32 67108864 --policy lowered
sizes=$(df_sizes --policy lowered "$IMG")
t "limits: a policy lowers the sizes of /, /tmp and /dev/shm" \
    eval 'say "sizes: $sizes"; [ "$sizes" = "8192 4096 1024 " ]'

policy unlimited <<'YAML'
limits: { memory: unlimited, pids: unlimited }
YAML
# unlimited: no limit of the sandbox's own; whatever the daemon's cgroup has applies.
not_limited() {
    start_sleeper --policy unlimited "$IMG" || { say "the guest did not start"; return 1; }
    local got own
    got=$(cg_file "$guest" pids.max || echo max)
    own=$(cg_file "$daemon_pid" pids.max || echo max)
    say "pids.max $got (the daemon's: $own)"
    [ "$got" = max ] || [ "$got" = "$own" ] || { stop_sleeper; return 1; }
    got=$(cg_file "$guest" memory.max || cg_file "$guest" memory.limit_in_bytes || echo max)
    own=$(cg_file "$daemon_pid" memory.max || cg_file "$daemon_pid" memory.limit_in_bytes ||
        echo max)
    stop_sleeper
    say "memory limit $got (the daemon's: $own)"
    [ "$got" = max ] || [ "$got" = "$own" ]
}
t "limits: a policy lifts the pids and memory limits with 'unlimited'" not_limited

# ---- a full state directory is named as such ---------------------------------

stop_daemon
mkdir -p "$T/tiny"
mount -t tmpfs -o size=64k sbx-robust-tiny "$T/tiny"
cp "$TEST_IMAGE" "$T/sitemap.ext4"
: >"$T/tiny.log"
start_daemon "$SOCK" "$T/tiny" "$T/tiny.log" --syscall-mode rewrite
# Leave less room than the site map needs, so that its write comes up short.
head -c $((60 * 1024)) /dev/zero >"$T/tiny/filler" 2>/dev/null || true
run "$T/sitemap.ext4" /bin/true
wait_until 20 grep -q "cannot store" "$T/tiny.log" || true
t "state: a full state directory is logged as No space left on device" \
    eval 'grep -q "No space left on device" "$T/tiny.log" ||
          { diag "$T/tiny.log"; false; }'
stop_daemon

# ---- a daemon that never answers ------------------------------------------------

# sandboxctl sends its request right behind HELLO and reads the answer with
# its signals in hand: three SIGINTs end it, as while a guest runs, against
# a socket whose peer accepts and then says nothing.
mute_daemon() {
    local pid ok=0
    python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(4)
conn, _ = s.accept()
time.sleep(60)' "$T/mute.sock" &
    pid=$!
    started_pids+=("$pid")
    wait_until 10 test -S "$T/mute.sock" || return 1
    "$SANDBOXCTL" run --socket "$T/mute.sock" "$IMG" /bin/true >"$T/out" 2>"$T/err" &
    local ctl=$!
    sleep 0.5
    for _ in 1 2 3; do
        kill -INT "$ctl" 2>/dev/null || true
        sleep 0.1
    done
    if wait_until 10 eval '! kill -0 "$ctl" 2>/dev/null'; then
        rc=0
        wait "$ctl" || rc=$?
        say "status $rc: $(head -c 200 "$T/err")"
        if ! rc_is 130 || ! err_has "a third SIGINT"; then
            ok=1
        fi
    else
        say "sandboxctl still runs 10 s after three SIGINTs"
        kill -KILL "$ctl"
        wait "$ctl" 2>/dev/null || true
        ok=1
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return "$ok"
}
t "client: against a daemon that never answers, three SIGINTs end sandboxctl" mute_daemon

tap_finish
