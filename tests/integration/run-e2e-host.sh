# SPDX-License-Identifier: LGPL-2.1-or-later
# The tests of run-e2e.sh that look from the host: a running sandbox's
# namespaces, cgroup and mounts, signals that end it, embedded mode,
# concurrency, the protocol, the daemon's own end, and what is left
# afterwards.  Sourced by run-e2e.sh.
# Guest shell scripts are single-quoted on purpose: they expand in the guest.
# The variables the tests read (rc, out, err, the records of the host state)
# are set by run-e2e-lib.sh and run-e2e.sh.
# shellcheck shell=bash disable=SC2016,SC2154

# -- a running sandbox, seen from the host

test_running_namespaces() {
    start_sleeper || return 1
    local pid ns ok=0
    pid=$(guest_pids "$dur" | head -n 1)
    for ns in mnt pid ipc uts net cgroup; do
        if [ "$(readlink "/proc/$pid/ns/$ns")" = "$(readlink "/proc/self/ns/$ns")" ]; then
            say "the guest shares the host's $ns namespace"
            ok=1
        fi
    done
    running_checks "$pid" || ok=1
    kill -TERM "$bg_pid"
    wait_exit "$bg_pid" 20 || ok=1
    stop_sleeper
    return "$ok"
}

# Checks made while the guest $1 runs: its cgroup, the host mount table, the loop device.
running_checks() {
    local pid=$1 ok=0 own guest loops
    own=$(sed -n 's/^0:://p' "/proc/$daemon_pid/cgroup")
    guest=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
    if [ -z "$guest" ] || [ "$guest" = "$own" ]; then
        say "the guest is not in a cgroup of its own (guest '$guest', sandboxd '$own')"
        ok=1
    fi
    local mounts
    mounts=$(grep -F -e "$T" /proc/self/mountinfo || true)
    if [ -n "$mounts" ]; then
        say "the host mount table refers to $T:"
        diag <<<"$mounts"
        ok=1
    fi
    loops=$(losetup -n -O NAME,RO,AUTOCLEAR -j "$IMG")
    if [ -z "$loops" ]; then
        say "no loop device backs $IMG while a sandbox runs"
        ok=1
    fi
    while read -r dev ro autoclear; do
        [ -n "$dev" ] || continue
        if [ "$ro" != 1 ] || [ "$autoclear" != 1 ]; then
            say "loop device $dev: read-only $ro, autoclear $autoclear (want 1 and 1)"
            ok=1
        fi
        if mounted_from "$dev"; then
            say "$dev is mounted in the host mount table"
            ok=1
        fi
    done <<<"$loops"
    return "$ok"
}

# mounted_from DEVICE: whether the host mount table has a mount whose source is DEVICE.
mounted_from() {
    awk -v dev="$1" '{
            for (i = 7; i < NF; i++)
                if ($i == "-") {
                    if ($(i + 2) == dev)
                        found = 1
                    break
                }
        }
        END { exit !found }' /proc/self/mountinfo
}

# SIGNAL to sandboxctl goes to the guest, /bin/sleep, which dies of it: 128+SIGNAL.
sandboxctl_signal() {
    local sig=$1 want=$2
    start_sleeper || return 1
    local start=$SECONDS ok=0
    kill "-$sig" "$bg_pid"
    if ! wait_exit "$bg_pid" 10; then
        say "sandboxctl did not exit within 10 s of SIG$sig"
        ok=1
    elif [ "$bg_rc" != "$want" ]; then
        say "sandboxctl exited with $bg_rc after SIG$sig, expected $want"
        diag "$T/bg.err"
        ok=1
    fi
    if ! wait_until 5 no_guest "$dur"; then
        say "the guest still runs after sandboxctl got SIG$sig: $(guest_pids "$dur" | tr '\n' ' ')"
        ok=1
    fi
    say "ended after $((SECONDS - start)) s"
    stop_sleeper
    return "$ok"
}

test_sigkill_sandboxctl() {
    start_sleeper || return 1
    local ok=0
    kill -KILL "$bg_pid"
    wait "$bg_pid" 2>/dev/null || true
    if ! wait_until 10 no_guest "$dur"; then
        say "the guest still runs 10 s after sandboxctl was killed: $(guest_pids "$dur")"
        ok=1
    fi
    stop_sleeper
    return "$ok"
}

# -- embedded mode: no daemon at the socket

test_embedded_exit_7() {
    ctl_at /nonexistent/sock "$IMG" /bin/sh -c 'echo hi; exit 7'
    expect_rc 7 && expect_out hi
}

test_embedded_statuses() {
    ctl_at /nonexistent/sock "$IMG" /sbx/exitwith -s 9
    expect_rc 137 || return 1
    ctl_at /nonexistent/sock "$IMG" /no/such/program
    expect_rc 127 && expect_one_line_err || return 1
    ctl_at /nonexistent/sock "$T/random.img" /bin/true
    expect_rc 125 && expect_one_line_err
}

test_embedded_isolation() {
    ctl_at /nonexistent/sock "$IMG" /sbx/probe caps
    expect_rc 0 || return 1
    if ! grep -qx 'Seccomp=2' "$T/out" || ! grep -qx 'CapEff=0000000000000000' "$T/out"; then
        show_run
        return 1
    fi
    ctl_at /nonexistent/sock "$IMG" /sbx/probe fds
    expect_guest_fds
}

test_embedded_sigterm() {
    start_sleeper /nonexistent/sock || return 1
    local ok=0 private
    private=$(pgrep -P "$bg_pid" | tr '\n' ' ')
    if [ -z "$private" ]; then
        say "sandboxctl has no child: where is its private daemon?"
        ok=1
    fi
    kill -TERM "$bg_pid"
    if ! wait_exit "$bg_pid" 10; then
        ok=1
    elif [ "$bg_rc" != 143 ]; then
        say "sandboxctl exited with $bg_rc, expected 143"
        diag "$T/bg.err"
        ok=1
    fi
    if ! wait_until 5 no_guest "$dur"; then
        say "the guest still runs"
        ok=1
    fi
    local pid
    for pid in $private; do
        if alive "$pid"; then
            say "sandboxctl's private daemon $pid outlived it"
            ok=1
        fi
    done
    stop_sleeper
    return "$ok"
}

# -- concurrency

test_two_concurrent() {
    # Each sandbox needs the other one running: A says ping and waits for pong.
    rm -f "$T/f1" "$T/f2"
    mkfifo "$T/f1" "$T/f2"
    "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/sh -c \
        'echo ping; read -r x; [ "$x" = pong ]' >"$T/f1" <"$T/f2" 2>"$T/a.err" &
    local a=$!
    "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/sh -c \
        'read -r x; [ "$x" = ping ] && echo pong' <"$T/f1" >"$T/f2" 2>"$T/b.err" &
    local b=$!
    started_pids+=("$a" "$b")
    local ok=0 a_rc b_rc
    a_rc=timeout
    b_rc=timeout
    if wait_exit "$a" 30; then
        a_rc=$bg_rc
    fi
    if wait_exit "$b" 30; then
        b_rc=$bg_rc
    fi
    if [ "$a_rc" != 0 ] || [ "$b_rc" != 0 ]; then
        say "sandbox A: $a_rc, sandbox B: $b_rc (both should be 0)"
        diag "$T/a.err"
        diag "$T/b.err"
        ok=1
    fi
    return "$ok"
}

test_many_concurrent() {
    local pids=() k ok=0
    for k in 1 2 3 4 5 6 7 8; do
        "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/sh -c "sleep 1; exit $((k * 10))" \
            >/dev/null 2>"$T/many.$k.err" &
        pids+=("$!")
        started_pids+=("$!")
    done
    for k in 1 2 3 4 5 6 7 8; do
        if ! wait_exit "${pids[k - 1]}" 60; then
            ok=1
        elif [ "$bg_rc" != $((k * 10)) ]; then
            say "sandbox $k exited with $bg_rc, expected $((k * 10))"
            diag "$T/many.$k.err"
            ok=1
        fi
    done
    return "$ok"
}

# -- the protocol

test_badframes() {
    local r=0
    timeout -k 5 300 "$BADFRAMES" "$SOCK" >"$T/badframes.out" 2>&1 || r=$?
    sed 's/^/#   /' "$T/badframes.out"
    [ "$r" = 0 ]
}

test_daemon_alive() {
    alive "$daemon_pid" || { say "sandboxd is gone; its log:"; diag "$LOG"; return 1; }
    sbx /bin/true
    expect_rc 0
}

test_second_daemon_refused() {
    local r=0 ok=0
    timeout -k 5 20 "$SANDBOXD" --socket "$SOCK" --state-dir "$T/state2" \
        2>"$T/second.log" || r=$?
    if [ "$r" = 0 ] || [ "$r" = 124 ]; then
        say "a second sandboxd on a served socket exited with $r"
        ok=1
    fi
    diag "$T/second.log"
    # The first one keeps serving, including new sandboxes (and their cgroups).
    sbx /bin/true
    expect_rc 0 || ok=1
    return "$ok"
}

test_daemon_sigterm_with_sandbox() {
    if ! start_sleeper; then
        stop_daemon
        return 1
    fi
    local ok=0 pid=$daemon_pid
    kill -TERM "$pid"
    if ! wait_exit "$pid" 20; then
        say "sandboxd did not exit within 20 s of SIGTERM"
        ok=1
    elif [ "$bg_rc" != 0 ]; then
        say "sandboxd exited with $bg_rc after SIGTERM"
        ok=1
    fi
    daemon_pid=
    if ! wait_exit "$bg_pid" 10; then
        say "sandboxctl still waits after sandboxd stopped"
        ok=1
    elif [ "$bg_rc" = 0 ]; then
        say "sandboxctl reported success for a sandbox that sandboxd killed"
        ok=1
    else
        say "sandboxctl exited with $bg_rc: $(cat "$T/bg.err")"
    fi
    if ! wait_until 5 no_guest "$dur"; then
        say "the guest outlived sandboxd"
        ok=1
    fi
    if [ -e "$SOCK" ]; then
        say "sandboxd left its socket $SOCK behind"
        ok=1
    fi
    stop_sleeper
    return "$ok"
}

# A daemon killed with SIGKILL while a sandbox runs: the guest dies with it,
# sandboxctl reports 125, and the next daemon starts over the stale socket.
test_daemon_sigkill() {
    start_daemon "$SOCK" "$STATE" "$LOG" || return 1
    if ! start_sleeper; then
        stop_daemon
        return 1
    fi
    local ok=0
    kill -KILL "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=
    if ! wait_until 10 no_guest "$dur"; then
        say "the guest outlived the killed sandboxd"
        ok=1
    fi
    if ! wait_exit "$bg_pid" 10; then
        ok=1
    elif [ "$bg_rc" != 125 ]; then
        say "sandboxctl exited with $bg_rc, expected 125"
        ok=1
    elif [ "$(wc -l <"$T/bg.err")" != 1 ]; then
        say "expected one line on stderr:"
        diag "$T/bg.err"
        ok=1
    fi
    stop_sleeper
    return "$ok"
}

test_restart_after_crash() {
    # The stale socket of the dead daemon must not stop the next one.
    start_daemon "$SOCK" "$STATE" "$LOG" || return 1
    sbx /bin/sh -c 'echo again'
    expect_rc 0 && expect_out again || return 1
    local pid=$daemon_pid
    kill -TERM "$pid"
    daemon_pid=
    wait_exit "$pid" 20 || return 1
    [ "$bg_rc" = 0 ] || { say "sandboxd exited with $bg_rc after SIGTERM"; return 1; }
}

# -- after everything

test_no_loop_device() {
    if ! wait_until 10 no_loop_devices_of_ours; then
        say "loop devices still attached to files of this suite:"
        loop_devices_of_ours | diag
        return 1
    fi
    local new
    new=$(comm -13 <(printf '%s\n' "$loops_before") <(losetup -a -n -O NAME | sort))
    [ -z "$new" ] || say "new loop devices of other processes (not ours): $new"
}

test_no_mounts() {
    local patterns=(-e "$T" -e "$TEST_IMAGE") mounts
    if [ -n "${SBX_DEFAULT_STATE_DIR:-}" ]; then
        patterns+=(-e "$SBX_DEFAULT_STATE_DIR")
    fi
    mounts=$(grep -F "${patterns[@]}" /proc/self/mountinfo /proc/1/mountinfo || true)
    if [ -n "$mounts" ]; then
        say "mounts refer to the suite's state dir or images, or the default state dir:"
        diag <<<"$mounts"
        return 1
    fi
}

test_no_cgroups() {
    local new dir ok=0 pid
    new=$(comm -13 <(printf '%s\n' "$cgroups_before") <(cgroup_dirs))
    for dir in $new; do
        # Daemons name their groups sandboxd.PID and sbx-PID-N.  One that another
        # user of this machine is running (alive, not started here) is not ours.
        pid=$(basename "$dir" |
            sed -n -e 's/^sbx-\([0-9]*\)-.*/\1/p' -e 's/^sandboxd\.\([0-9]*\)$/\1/p')
        if [ -n "$pid" ] && alive "$pid" && ! printf '%s\n' "${started_pids[@]}" | grep -qx "$pid"
        then
            say "ignoring $dir of a daemon this suite did not start"
            continue
        fi
        say "left behind: $dir"
        ok=1
    done
    return "$ok"
}

test_no_processes() {
    local pid ok=0
    for pid in "${started_pids[@]}"; do
        if alive "$pid"; then
            say "process $pid started by this suite still runs:" \
                "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
            ok=1
        fi
    done
    local guests
    guests=$(guest_pids "${SLEEP_PREFIX}[0-9]*" | tr '\n' ' ' || true)
    if [ -n "$guests" ]; then
        say "guests of this suite still run: $guests"
        ok=1
    fi
    local new
    new=$(comm -13 <(printf '%s\n' "$init_before") <(sbx_init_pids))
    for pid in $new; do
        # Somebody else's sandboxes may run at the same time: ours boot from $T.
        if ! of_suite "$pid"; then
            say "ignoring sandbox init $pid: not one of this suite's"
            continue
        fi
        say "sandbox init $pid of this suite still runs (parent $(ps -o ppid= "$pid"))"
        ok=1
    done
    return "$ok"
}

test_image_unchanged() {
    local after
    after=$(sha256sum <"$IMG")
    [ "$after" = "$image_sum" ] || { say "the image changed: $image_sum -> $after"; return 1; }
}

test_daemon_log_clean() {
    local problems
    problems=$(grep -E 'left behind|cannot remove|still busy|unexpected frame from init|Sanitizer' "$LOG" || true)
    if [ -n "$problems" ]; then
        say "sandboxd reported problems:"
        diag <<<"$problems"
        return 1
    fi
}
