# SPDX-License-Identifier: LGPL-2.1-or-later
# The helpers of run-e2e.sh: TAP assertions on a run's status and output,
# sandboxctl runs against the suite's daemon, the daemon itself, and the
# host state the suite records before its tests and compares after.  Sourced
# by run-e2e.sh, which sets T, SOCK, STATE, IMG, LOG and the tool paths.
# It sets variables (bg_rc) for those files and reads theirs (SOCK).
# shellcheck shell=bash disable=SC2034,SC2153

# ---- TAP and assertions ------------------------------------------------------

# shellcheck source=tests/integration/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

show_run() {
    say "exit status $rc; stdout:"
    diag "$T/out"
    say "stderr:"
    diag "$T/err"
}

expect_rc() {
    [ "$rc" = "$1" ] && return 0
    say "expected exit status $1"
    show_run
    return 1
}

expect_out() {
    [ "$out" = "$1" ] && return 0
    say "expected stdout:"
    printf '%s\n' "$1" | diag
    show_run
    return 1
}

# sandboxctl's own failures: exactly one line on stderr, from sandboxctl.
expect_one_line_err() {
    local lines
    lines=$(wc -l <"$T/err")
    if [ "$lines" -eq 1 ] && [[ $err == sandboxctl:* ]]; then
        say "message: $err"
        return 0
    fi
    say "expected one line starting with 'sandboxctl:' on stderr, got $lines lines"
    show_run
    return 1
}

# wait_until SECONDS CMD...: polls CMD until it succeeds.
wait_until() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}

# Running, that is: a zombie waiting for its (possibly lazy) reaper is dead.
alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ "${state#Z}" = "$state" ]
}

not_alive() {
    ! alive "$1"
}

# wait_exit PID SECONDS: waits for our background child; sets bg_rc, or fails
# (and kills it) when it is still running after SECONDS.
wait_exit() {
    if ! wait_until "$2" not_alive "$1"; then
        say "process $1 still running after $2 s"
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        return 1
    fi
    bg_rc=0
    wait "$1" || bg_rc=$?
}

# ---- Running sandboxes ---------------------------------------------------------

# ctl_at SOCKET ARGS...: sandboxctl run; sets rc, out and err (stdin from the caller).
ctl_at() {
    local sock=$1
    shift
    rc=0
    timeout -k 5 "$CTL_TIMEOUT" "$SANDBOXCTL" run --socket "$sock" "$@" >"$T/out" 2>"$T/err" ||
        rc=$?
    out=$(head -c 65536 "$T/out" | tr -d '\0')
    err=$(head -c 65536 "$T/err" | tr -d '\0')
}

ctl() {
    ctl_at "$SOCK" "$@"
}

# sbx CMD ARGS...: runs CMD in the test image through the daemon.
sbx() {
    ctl "$IMG" "$@"
}

# guest_pids DURATION_REGEX: host pids of our guest sleeps.  The guest's
# command line ends in "sleep N" (the trampoline puts its own words in front).
guest_pids() {
    local pid found=1
    for pid in $(pgrep -f "/bin/sleep $1\$"); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sandboxctl ] && continue
        echo "$pid"
        found=0
    done
    return "$found"
}

no_guest() {
    ! guest_pids "$1" >/dev/null
}

# start_sleeper [SOCKET]: a sandbox running /bin/sleep with a fresh duration;
# sets bg_pid (sandboxctl) and dur, and waits until the guest runs.
start_sleeper() {
    local sock=${1:-$SOCK}
    sleeps=$((sleeps + 1))
    dur=$SLEEP_PREFIX$sleeps
    "$SANDBOXCTL" run --socket "$sock" "$IMG" /bin/sleep "$dur" >"$T/bg.out" 2>"$T/bg.err" &
    bg_pid=$!
    started_pids+=("$bg_pid")
    if ! wait_until 20 guest_pids "$dur"; then
        say "the guest /bin/sleep $dur did not start within 20 s; sandboxctl stderr:"
        diag "$T/bg.err"
        kill -KILL "$bg_pid" 2>/dev/null
        return 1
    fi
}

# stop_sleeper: ends a leftover sleeper of a failed test, so the next test starts clean.
stop_sleeper() {
    kill -KILL "$bg_pid" 2>/dev/null || true
    wait "$bg_pid" 2>/dev/null || true
    local pid
    for pid in $(guest_pids "$dur"); do
        say "killing leftover guest $pid"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# ---- The daemon --------------------------------------------------------------------

start_daemon() {
    local sock=$1 state=$2 log=$3
    local mode=()
    if [ -n "${E2E_SYSCALL_MODE:-}" ]; then
        mode=(--syscall-mode "$E2E_SYSCALL_MODE")
    fi
    rm -f "$T/ready"
    "$SANDBOXD" --socket "$sock" --state-dir "$state" "${mode[@]}" --ready-fd 3 3>"$T/ready" \
        --subuid-file "$T/subuid" --subgid-file "$T/subgid" 2>>"$log" &
    daemon_pid=$!
    started_pids+=("$daemon_pid")
    local end=$((SECONDS + 30))
    until grep -q READY "$T/ready"; do
        if ! alive "$daemon_pid" || [ "$SECONDS" -ge "$end" ]; then
            break
        fi
        sleep 0.1
    done
    if ! grep -q READY "$T/ready"; then
        say "sandboxd did not report READY; its log:"
        diag "$log"
        return 1
    fi
}

stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait_exit "$daemon_pid" 30 || true
    daemon_pid=
}

cleanup() {
    stop_daemon
    local pid
    for pid in "${started_pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in $(guest_pids "${SLEEP_PREFIX}[0-9]*" || true); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf --one-file-system "$T"
}
trap cleanup EXIT

# ---- Host state, recorded before and compared after ---------------------------------

loop_devices_of_ours() {
    losetup -a -n -O NAME,BACK-FILE 2>/dev/null | grep -F "$T" || true
}

no_loop_devices_of_ours() {
    [ -z "$(loop_devices_of_ours)" ]
}

cgroup_dirs() {
    local root
    for root in "${CGROUP_ROOTS[@]}"; do
        [ -d "$root" ] || continue
        find "$root" -xdev -maxdepth 6 -type d \( -name 'sandboxd*' -o -name 'sbx-*' \) \
            2>/dev/null || true
    done | sort -u
}

# of_suite PID: whether sandbox init PID belongs to this suite: its stdio or
# its mounts (the daemon's staging directory) lead into $T.
of_suite() {
    local fd
    for fd in "/proc/$1"/fd/*; do
        [[ $(readlink "$fd" 2>/dev/null) == "$T"/* ]] && return 0
    done
    grep -qF "$T" "/proc/$1/mountinfo" 2>/dev/null
}

# Sandbox init runs from a memfd, so its name is "memfd:sbx-init".
sbx_init_pids() {
    local pid
    for pid in $(pgrep -x '(memfd:)?sbx-init' || true); do
        if alive "$pid"; then
            echo "$pid"
        fi
    done | sort
}
