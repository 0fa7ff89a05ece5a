#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The fault suite, reported as TAP: a client killed at any point of a run,
# the daemon killed with SIGKILL and restarted, stopped with SIGTERM while
# sandboxes run, 1000 concurrent clients, malformed frames, bad images, a
# full state directory, a guest out of memory, guests that flood their
# stdout or leave orphans.  After each fault, checked from the host: no
# mount refers to the suite's files, no loop device of them is attached
# (but the image cache's one of the good image), the daemon has no more
# descriptors, child processes and cgroups than it had at rest, no guest of
# the suite runs, and the next run is served.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, FLOOD, BADFRAMES (paths).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016,SC2153  # guest scripts single-quoted; FLOOD from the environment
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init fault SANDBOXD SANDBOXCTL TEST_IMAGE FLOOD BADFRAMES
IMG=$T/test.ext4
LOG=$T/sandboxd.log
mkdir -p "$T/policies"
cp "$TEST_IMAGE" "$IMG"
suite_sleeps 6
cleanup_mounts=("$T/tiny")

tap_on_fail() {
    say "last run: exit status ${rc:-?}; stderr:"
    diag "$T/err" 2>/dev/null || true
    say "end of sandboxd's log:"
    tail -c 1500 "$LOG" | diag
}

# start_daemon: a daemon of the suite's, on $SOCK, its state in $STATE; sets daemon_pid.
start_daemon() {
    rm -f "$T/ready"
    mkfifo "$T/ready"
    "$SANDBOXD" --socket "$SOCK" --state-dir "${STATE:-$T/state}" --policy-dir "$T/policies" \
        --group nogroup --ready-fd 3 3>"$T/ready" 2>>"$LOG" &
    daemon_pid=$!
    started_pids+=("$daemon_pid")
    if ! read -r -t 30 _ <"$T/ready"; then
        say "sandboxd did not become ready"
        return 1
    fi
}

# run [OPTION...] IMAGE CMD...: sandboxctl run; sets rc (output in $T/out, $T/err).
run() {
    rc=0
    timeout -k 5 120 "$SANDBOXCTL" run --socket "$SOCK" "$@" >"$T/out" 2>"$T/err" || rc=$?
}

# start_sleeper: a guest /bin/sleep in the background; sets bg_pid, guest and dur.
start_sleeper() {
    sleeps=$((sleeps + 1))
    dur=$SLEEP_PREFIX$sleeps
    "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/sleep "$dur" >"$T/bg.out" 2>"$T/bg.err" &
    bg_pid=$!
    started_pids+=("$bg_pid")
    wait_until 20 guest_of "$dur" || { say "the guest did not start"; return 1; }
    guest=$(guest_of "$dur")
}

# guest_of DURATION: the pid of the guest sleeping DURATION, if it runs.
guest_of() {
    local pid
    for pid in $(pgrep -f "sleep $1\$" || true); do
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != sandboxctl ]; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

# ---- what the daemon holds, and what must not be left -----------------------

daemon_fds() { find "/proc/$daemon_pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
daemon_children() { pgrep -P "$daemon_pid" | wc -l; }
# The daemon's sandbox cgroups (sbx-PID-N, in every hierarchy it uses).
daemon_cgroups() {
    find /sys/fs/cgroup -maxdepth 5 -type d -name "sbx-$daemon_pid-*" 2>/dev/null | wc -l
}
suite_mounts() {
    grep -hF "$T" /proc/self/mountinfo /proc/1/mountinfo "/proc/$daemon_pid/mountinfo" \
        2>/dev/null | grep -vF "$T/tiny" || true
}
# Loop devices over the suite's files but the good image, which the cache keeps.
suite_loops() {
    losetup -a -n -O NAME,BACK-FILE 2>/dev/null | grep -F "$T" | grep -vF " $IMG" || true
}

holdings() { echo "$(daemon_fds) $(daemon_children) $(daemon_cgroups)"; }

# rest: records what the daemon holds when nothing runs: after a run, once
# the counts have stayed the same for a second (the site map of a new image
# is made in the background, and the next spare sandbox is prepared during
# or after a run).
rest() {
    run "$IMG" /bin/true
    local i now last=""
    for i in $(seq 1 40); do
        now=$(holdings)
        [ "$now" = "$last" ] && break
        last=$now
        sleep 1
    done
    read -r rest_fds rest_children rest_cgroups <<<"$now"
    say "at rest: $rest_fds fds, $rest_children children, $rest_cgroups cgroup directories"
}

# settled_to FDS CHILDREN CGROUPS: the daemon holds no more than that, and
# nothing of the suite is left elsewhere.
settled_to() {
    [ "$(daemon_fds)" -le "$1" ] && [ "$(daemon_children)" -le "$2" ] &&
        [ "$(daemon_cgroups)" -le "$3" ] && [ -z "$(suite_mounts)" ] &&
        [ -z "$(suite_loops)" ] && [ -z "$(suite_guests)" ]
}

# left_nothing: within 20 s the daemon is back at rest, and it serves a run.
left_nothing() {
    if ! wait_until 20 settled_to "$rest_fds" "$rest_children" "$rest_cgroups"; then
        say "daemon: $(daemon_fds) fds (at rest $rest_fds), $(daemon_children) children" \
            "(at rest $rest_children), $(daemon_cgroups) cgroup directories (at rest $rest_cgroups)"
        find "/proc/$daemon_pid/fd" -mindepth 1 -printf '%f -> %l\n' | diag
        say "mounts: $(suite_mounts | head -c 500)"
        say "loop devices: $(suite_loops | tr '\n' ' ')"
        say "guests: $(suite_guests | tr '\n' ' ')"
        return 1
    fi
    run "$IMG" /sbx/exitwith 7
    rc_is 7 || { say "the next run exited $rc, not 7"; return 1; }
}

# fault NAME FUNCTION: the fault's own test, then the one that nothing is left.
fault() {
    t "$1" "$2"
    t "after $1: nothing left behind, the next run is served" left_nothing
}

start_daemon
rest

# ---- clients -----------------------------------------------------------------

client_killed_running() {
    start_sleeper || return 1
    kill -KILL "$bg_pid"
    wait "$bg_pid" 2>/dev/null || true
    wait_until 10 sh -c "! kill -0 $guest 2>/dev/null" || { say "the guest outlived its client"; return 1; }
}
fault "client: SIGKILL while its guest runs ends the guest" client_killed_running

# The client dies at some point of its conversation: before HELLO, during
# the launch, after STARTED.  Twenty runs, killed after 0 to 90 ms.
client_killed_anywhere() {
    local i pid
    for i in $(seq 0 19); do
        "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/sleep "$SLEEP_PREFIX$((900 + i))" \
            >/dev/null 2>&1 &
        pid=$!
        sleep "0.0$((i / 2))"
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
    done
}
fault "client: SIGKILL at any point of twenty launches" client_killed_anywhere

client_stopped() {
    start_sleeper || return 1
    # A stopped client holds its connection; the guest runs on and ends with it.
    kill -STOP "$bg_pid"
    sleep 0.5
    kill -0 "$guest" || { say "the guest died while its client was stopped"; return 1; }
    kill -KILL "$bg_pid"
    kill -CONT "$bg_pid" 2>/dev/null || true
    wait "$bg_pid" 2>/dev/null || true
    wait_until 10 sh -c "! kill -0 $guest 2>/dev/null"
}
fault "client: stopped, then killed" client_stopped

# 1000 clients at once: 950 idle connections of the flood client and 50 runs.
thousand_clients() {
    "$FLOOD" idle "$SOCK" 950 60 >"$T/flood.out" 2>&1 &
    local flood=$! i ok=0 pids=()
    started_pids+=("$flood")
    wait_until 30 grep -q '^holding' "$T/flood.out" || { say "flood: $(cat "$T/flood.out")"; ok=1; }
    for i in $(seq 1 50); do
        timeout -k 5 120 "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /sbx/exitwith "$i" \
            >/dev/null 2>"$T/many.$i" &
        pids+=("$!")
    done
    for i in $(seq 1 50); do
        rc=0
        wait "${pids[$((i - 1))]}" || rc=$?
        if [ "$rc" != "$i" ]; then
            say "run $i exited $rc: $(head -c 200 "$T/many.$i")"
            ok=1
        fi
    done
    kill -TERM "$flood" 2>/dev/null || true
    wait "$flood" 2>/dev/null || true
    return "$ok"
}
fault "1000 concurrent clients: 50 runs among 950 idle connections, each its own status" \
    thousand_clients

malformed_frames() {
    rc=0
    timeout -k 5 300 "$BADFRAMES" "$SOCK" >"$T/err" 2>&1 || rc=$?
    rc_is 0
}
fault "malformed frames (badframes)" malformed_frames

# ---- bad images ----------------------------------------------------------------

# refused IMAGE: the run fails with 125 and one line, within 60 s.
refused() {
    run "$1" /bin/true
    say "message: $(head -c 300 "$T/err")"
    rc_is 125 && [ "$(wc -l <"$T/err")" -eq 1 ]
}

: >"$T/empty.ext4"
refused_empty() { refused "$T/empty.ext4"; }
fault "bad image: empty" refused_empty
head -c 8M /dev/urandom >"$T/random.ext4"
refused_random() { refused "$T/random.ext4"; }
fault "bad image: random bytes" refused_random
head -c 1M "$IMG" >"$T/truncated.ext4"
refused_truncated() { refused "$T/truncated.ext4"; }
fault "bad image: truncated to 1 MiB" refused_truncated
# The superblock's magic (0xEF53 at byte 1080) zeroed.
cp "$IMG" "$T/nomagic.ext4"
printf '\0\0' | dd of="$T/nomagic.ext4" bs=1 seek=1080 conv=notrunc status=none
refused_nomagic() { refused "$T/nomagic.ext4"; }
fault "bad image: superblock without its magic" refused_nomagic
# The whole superblock overwritten with random bytes.
cp "$IMG" "$T/garbled.ext4"
head -c 1024 /dev/urandom | dd of="$T/garbled.ext4" bs=1024 seek=1 conv=notrunc status=none
refused_garbled() { refused "$T/garbled.ext4"; }
fault "bad image: superblock of random bytes" refused_garbled
# A directory is a root (run DIR): an empty one has no /bin/true, and is not kept.
mkdir "$T/dir.ext4"
empty_dir_root() {
    run "$T/dir.ext4" /bin/true
    say "message: $(head -c 300 "$T/err")"
    rc_is 127 && [ "$(wc -l <"$T/err")" -eq 1 ]
}
fault "an empty directory as the root" empty_dir_root
mkfifo "$T/fifo.ext4"
refused_fifo() { refused "$T/fifo.ext4"; }
fault "bad image: a FIFO (nobody writes it)" refused_fifo

# The bad images came and went many times over: still nothing attached.
bad_images_again() {
    local i f
    for i in 1 2 3; do
        for f in empty random truncated nomagic garbled; do
            run "$T/$f.ext4" /bin/true
            rc_is 125 || { say "$f: exit $rc"; return 1; }
        done
    done
}
fault "bad images: each three more times" bad_images_again

# ---- guests ----------------------------------------------------------------------

out_of_memory() {
    # dd's 256 MiB buffer, in a 32 MiB sandbox: the kernel's OOM killer.
    run --memory 32M "$IMG" /bin/dd if=/dev/zero of=/dev/null bs=256M count=1
    rc_is 137
}
fault "guest: out of memory under --memory 32M (exit 137)" out_of_memory

tmp_full() {
    # /tmp is a tmpfs of the sandbox's: filling it is the guest's own problem.
    run "$IMG" /bin/sh -c 'head -c 600M /dev/zero >/tmp/fill; echo "fill $?"; rm /tmp/fill'
    rc_is 0 && grep -qx 'fill 1' "$T/out"
}
fault "guest: fills its /tmp" tmp_full

stdout_flood_pipe() {
    local log0
    log0=$(stat -c %s "$LOG")
    set +o pipefail
    "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/sh -c 'while :; do echo sandbox; done' \
        2>"$T/err" | head -c 50M >/dev/null
    rc=${PIPESTATUS[0]}
    set -o pipefail
    say "sandboxctl exited $rc; the log grew by $(($(stat -c %s "$LOG") - log0)) bytes"
    # SIGPIPE once head has gone, and not a line in the daemon's log per byte.
    rc_is 141 && [ $(($(stat -c %s "$LOG") - log0)) -lt 4096 ]
}
fault "guest: floods a pipe on stdout until its reader goes (SIGPIPE)" stdout_flood_pipe

stdout_flood_timeout() {
    run --timeout 2s "$IMG" /bin/sh -c 'while :; do echo sandbox; echo sandbox >&2; done'
    rc_is 124
}
fault "guest: floods stdout until its --timeout" stdout_flood_timeout

orphans() {
    sleeps=$((sleeps + 1))
    local p=$SLEEP_PREFIX$sleeps
    # Two children and a grandchild in a session of its own; the guest exits at once.
    run "$IMG" /bin/sh -c "sleep ${p}1 & sleep ${p}2 & setsid sh -c 'sleep ${p}3 &' ; exit 4"
    rc_is 4 || return 1
    wait_until 10 sh -c "! pgrep -f 'sleep ${p}[123]\$'" || { say "orphans live on"; return 1; }
}
fault "guest: exits leaving orphans, which end with it" orphans

fork_and_die() {
    # The guest's parent dies while a child holds stdout open.
    run "$IMG" /bin/sh -c "(sleep ${SLEEP_PREFIX}99 &) ; kill -KILL \$\$"
    rc_is 137
}
fault "guest: killed while its orphan holds stdout" fork_and_die

# Guests that exit at once: init's GUEST frame may reach the daemon after
# the guest has gone, which is no reason for a warning.
fast_guests_quiet() {
    local log0 i
    log0=$(stat -c %s "$LOG")
    for i in $(seq 1 30); do
        run "$IMG" /sbx/exitwith 7
        rc_is 7 || return 1
    done
    if tail -c +$((log0 + 1)) "$LOG" | grep -q 'unexpected frame from init'; then
        say "$(tail -c +$((log0 + 1)) "$LOG" | grep -c 'unexpected frame from init') of 30" \
            "runs logged 'unexpected frame from init'"
        return 1
    fi
}
t "guest: thirty that exit at once, and no warning in the daemon's log" fast_guests_quiet
t "after thirty fast guests: nothing left behind, the next run is served" left_nothing

# ---- the daemon --------------------------------------------------------------------

daemon_sigterm_live() {
    local i pids=() guests=() ok=0 old=$daemon_pid
    for i in 1 2 3; do
        start_sleeper || return 1
        pids+=("$bg_pid")
        guests+=("$guest")
    done
    kill -TERM "$daemon_pid"
    rc=0
    timeout 30 tail --pid="$daemon_pid" -f /dev/null || { say "sandboxd still runs"; ok=1; }
    wait "$daemon_pid" || rc=$?
    [ "$rc" = 0 ] || { say "sandboxd exited $rc after SIGTERM"; ok=1; }
    for i in 0 1 2; do
        rc=0
        wait "${pids[$i]}" || rc=$?
        [ "$rc" != 0 ] || { say "client $i reported success"; ok=1; }
        wait_until 10 sh -c "! kill -0 ${guests[$i]}" ||
            { say "guest ${guests[$i]} outlived sandboxd"; ok=1; }
    done
    daemon_gone "$old" || ok=1
    return "$ok"
}

# cgroups_of PID: the cgroup directories of daemon PID, in every hierarchy.
cgroups_of() {
    find /sys/fs/cgroup -maxdepth 5 -type d \( -name "sandboxd.$1" -o -name "sbx-$1-*" \) \
        2>/dev/null
}

# daemon_gone PID [killed]: nothing of the stopped daemon PID is left: no
# child, no mount, no loop device of the suite's, no guest; no cgroup and no
# socket either, unless it was killed (the next daemon sweeps its cgroups).
daemon_gone() {
    local old=$1
    wait_until 20 sh -c "! pgrep -P $old >/dev/null" || { say "children of $old live on"; return 1; }
    wait_until 10 test -z "$(losetup -a -n -O BACK-FILE | grep -F "$T")" ||
        { say "loop devices left: $(losetup -a | grep -F "$T")"; return 1; }
    [ -z "$(suite_mounts)" ] || { say "mounts left: $(suite_mounts)"; return 1; }
    [ -z "$(suite_guests)" ] || { say "guests left: $(suite_guests)"; return 1; }
    [ "${2:-}" = killed ] && return 0
    wait_until 10 test -z "$(cgroups_of "$old")" ||
        { say "cgroups of $old are left: $(cgroups_of "$old" | tr '\n' ' ')"; return 1; }
    [ ! -e "$SOCK" ] || { say "the socket is left"; return 1; }
}

t "daemon: SIGTERM with three sandboxes running: exits 0, and they end with it" daemon_sigterm_live
restart() { start_daemon && rest; }
t "daemon: starts again after SIGTERM" restart
t "after the SIGTERM: nothing left behind, the next run is served" left_nothing

daemon_sigkill_live() {
    killed_pid=$daemon_pid
    local old=$daemon_pid
    start_sleeper || return 1
    kill -KILL "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null || true
    rc=0
    wait "$bg_pid" || rc=$?
    [ "$rc" = 125 ] || { say "the client exited $rc, not 125"; return 1; }
    wait_until 10 sh -c "! kill -0 $guest" || { say "the guest outlived sandboxd"; return 1; }
    daemon_gone "$old" killed
}
t "daemon: SIGKILL with a sandbox running: its guest and children go" daemon_sigkill_live
t "daemon: starts again over the killed one's socket and state" restart
swept() {
    [ -z "$(cgroups_of "$killed_pid")" ] ||
        { say "left: $(cgroups_of "$killed_pid" | tr '\n' ' ')"; return 1; }
}
t "daemon: the restarted one has removed the killed one's cgroups" swept
t "after the SIGKILL: nothing left behind, the next run is served" left_nothing

# ---- a full state directory ----------------------------------------------------------

full_state_dir() {
    local ok=0
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
    mkdir -p "$T/tiny"
    mount -t tmpfs -o size=256k,mode=0755 sbx-fault "$T/tiny"
    STATE=$T/tiny/state
    start_daemon || return 1
    # Fill it: the daemon's next files and the site map store find no room.
    dd if=/dev/zero of="$T/tiny/fill" bs=4k status=none 2>/dev/null || true
    for mode in off trap rewrite; do
        run --syscall-mode "$mode" "$IMG" /sbx/exitwith 3
        say "$mode with a full state directory: exit $rc $(head -c 200 "$T/err")"
        if ! rc_is 3 && ! { rc_is 125 && [ "$(wc -l <"$T/err")" -eq 1 ]; }; then
            ok=1
        fi
    done
    rm -f "$T/tiny/fill"
    return "$ok"
}
t "a full state directory: each run succeeds or fails with one line" full_state_dir
t "after the full state directory: the daemon rests" rest
t "after the full state directory: nothing left behind, the next run is served" left_nothing

stop_and_check() {
    local old=$daemon_pid
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || return 1
    daemon_gone "$old" && umount "$T/tiny"
}
t "last: sandboxd stops, leaving no loop device, mount, cgroup or process" stop_and_check
tap_finish
