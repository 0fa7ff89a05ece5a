#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# End-to-end tests of sandboxd and sandboxctl, reported as TAP: a real daemon
# on a temporary socket and state directory, real sandboxes booted from a copy
# of the test image, and host-wide checks that nothing is left behind.
# Needs root.  Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, BADFRAMES, PROBE (paths),
# optionally SBX_DEFAULT_STATE_DIR (the embedded daemon's state dir) and
# E2E_SYSCALL_MODE (off, trap or rewrite: the daemon's default mode).
# Guest shell scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "1..0 # SKIP the end-to-end suite needs root"
    exit 0
fi
for var in SANDBOXD SANDBOXCTL TEST_IMAGE BADFRAMES PROBE; do
    if [ -z "${!var:-}" ] || [ ! -e "${!var}" ]; then
        echo "Bail out! $var does not name an existing file: '${!var:-}'"
        exit 1
    fi
done

exec </dev/null
T=$(mktemp -d /tmp/sbx-e2e.XXXXXX)
SOCK=$T/sandboxd.sock
STATE=$T/state
IMG=$T/test.ext4
LOG=$T/sandboxd.log
CTL_TIMEOUT=60
# Guest sleeps run for "7<our pid><n>" seconds: a number no other process uses,
# so pgrep finds exactly our guests on the host (and the sandboxctl that
# started them, which guest_pids leaves out).
SLEEP_PREFIX=7$$
CGROUP_ROOTS=(/sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/memory /sys/fs/cgroup/pids
    /sys/fs/cgroup/cpu)

daemon_pid=
started_pids=()
sleeps=0

# ---- TAP and assertions ------------------------------------------------------

# shellcheck source=tests/integration/tap.sh
. "$(dirname "$0")/tap.sh"

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
        2>>"$log" &
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

# ============================================================================== tests

test_daemon_starts() {
    start_daemon "$SOCK" "$STATE" "$LOG" || return 1
    [ -S "$SOCK" ] || { say "no socket at $SOCK"; return 1; }
}

# -- stdio and exit statuses

test_stdin_to_stdout() {
    sbx /bin/cat < <(echo data)
    expect_rc 0 && expect_out data
}

test_stderr() {
    sbx /bin/sh -c 'echo to-stdout; echo to-stderr >&2'
    expect_rc 0 && expect_out to-stdout || return 1
    [ "$err" = to-stderr ] || { say "stderr is not 'to-stderr'"; show_run; return 1; }
}

test_large_stream() {
    head -c 4194304 /dev/urandom >"$T/big"
    sbx /bin/cat <"$T/big"
    expect_rc 0 || return 1
    cmp "$T/big" "$T/out" || { say "4 MiB through /bin/cat came back different"; return 1; }
}

test_stdout_passed_not_relayed() {
    # The guest writes into the caller's own file, not into a pipe of the daemon.
    sbx /bin/sh -c 'test -f /dev/stdout && echo regular-file'
    expect_rc 0 && expect_out regular-file
}

test_args_verbatim() {
    sbx /bin/sh -c 'for a; do printf "[%s]" "$a"; done' sh 'a b' '' '*' "x'y\"z" $'tab\there'
    expect_rc 0 && expect_out "[a b][][*][x'y\"z][tab	here]"
}

test_env_option() {
    ctl -e SBX_E2E=value-1 "$IMG" /bin/sh -c 'echo "$SBX_E2E"'
    expect_rc 0 && expect_out value-1
}

test_exit_0() {
    sbx /bin/true
    expect_rc 0 && expect_out ''
}

test_exit_7_shell() {
    sbx /bin/sh -c 'echo hi; exit 7'
    expect_rc 7 && expect_out hi
}

test_exitwith() {
    local code
    for code in 0 1 7 255; do
        sbx /sbx/exitwith "$code"
        expect_rc "$code" || return 1
    done
}

test_signal_kill() {
    sbx /sbx/exitwith -s 9
    expect_rc 137
}

test_signal_term() {
    sbx /sbx/exitwith -s 15
    expect_rc 143
}

test_signal_hup_by_name() {
    sbx /sbx/exitwith -s HUP
    expect_rc 129
}

test_signal_shell_kills_itself() {
    sbx /bin/sh -c 'kill -9 $$'
    expect_rc 137
}

# -- sandboxctl's own statuses

test_125_not_ext4() {
    head -c 4194304 /dev/urandom >"$T/random.img"
    ctl "$T/random.img" /bin/true
    expect_rc 125 && expect_one_line_err
}

test_125_empty_file() {
    : >"$T/empty.img"
    ctl "$T/empty.img" /bin/true
    expect_rc 125 && expect_one_line_err
}

# A directory is a root of its own (run DIR): an empty one has no /bin/true.
test_127_empty_directory() {
    mkdir -p "$T/a-directory"
    ctl "$T/a-directory" /bin/true
    expect_rc 127 && expect_one_line_err
}

test_125_missing_image() {
    ctl "$T/no-such-image.ext4" /bin/true
    expect_rc 125 && expect_one_line_err
}

test_126_not_executable() {
    sbx /etc/sbx-image
    expect_rc 126 && expect_one_line_err
}

test_126_directory() {
    sbx /etc
    expect_rc 126 && expect_one_line_err
}

test_127_missing() {
    sbx /no/such/program
    expect_rc 127 && expect_one_line_err
}

test_path_lookup() {
    sbx sh -c 'echo found-by-path'
    expect_rc 0 && expect_out found-by-path
}

test_127_path_lookup() {
    sbx no-such-command-e2e
    expect_rc 127 && expect_one_line_err
}

test_127_missing_in_existing_dir() {
    sbx /bin/no-such-program
    expect_rc 127 && expect_one_line_err
}

# -- what the guest sees

test_image_files() {
    sbx /bin/cat /etc/sbx-image
    expect_rc 0 && expect_out 'sandboxd test image'
}

test_host_files_hidden() {
    echo host-only >"$T/host-only"
    local host_paths=("$T/host-only" "$SANDBOXD" /etc/sbx-e2e-none)
    [ -e /etc/debian_version ] && host_paths+=(/etc/debian_version)
    [ -e /etc/os-release ] && host_paths+=(/etc/os-release)
    sbx /bin/sh -c 'for p; do [ -e "$p" ] && echo "visible: $p"; done; echo checked' sh \
        "${host_paths[@]}"
    expect_rc 0 && expect_out checked
}

test_proc_own_pids() {
    # Only sandbox init and ls itself should be there.
    sbx /bin/ls -1 /proc
    expect_rc 0 || return 1
    local pid pids count=0
    pids=$(grep -x '[0-9][0-9]*' "$T/out" | sort -n | tr '\n' ' ')
    for pid in $pids; do
        count=$((count + 1))
        if [ "$pid" -gt 16 ]; then
            say "pid $pid in the guest's /proc: $pids"
            return 1
        fi
    done
    if [ "$count" -lt 1 ] || [ "$count" -gt 4 ]; then
        say "expected at most 4 processes in the guest's /proc, got $count: $pids"
        return 1
    fi
}

test_guest_pid_small() {
    sbx /sbx/probe pid
    expect_rc 0 || return 1
    local pid
    pid=$(sed -n 's/^pid=\([0-9]*\) .*/\1/p' <<<"$out")
    if [ -z "$pid" ] || [ "$pid" -gt 16 ]; then
        say "the guest's pid is not small: $out"
        return 1
    fi
}

test_fds_only_stdio_off() {
    ctl --syscall-mode off "$IMG" /sbx/probe fds
    expect_rc 0 && expect_out $'0\n1\n2'
}

# In every mode the guest has exactly its stdio: the trampoline closes every
# descriptor sandbox init left for it (include/sbx/abi.h) before the guest
# runs (only --stats keeps SBX_FD_STATS, and no test here asks for it).
expect_guest_fds() {
    expect_rc 0 && expect_out $'0\n1\n2'
}

test_fds_default_mode() {
    sbx /sbx/probe fds
    expect_guest_fds
}

test_fds_caller_extra_fd() {
    # Descriptors that sandboxctl inherited stay on the host.
    sbx /sbx/probe fds 7</etc/hostname 8>"$T/extra"
    expect_guest_fds
}

test_ifaces_only_lo() {
    sbx /sbx/probe ifaces
    expect_rc 0 && expect_out lo
}

test_lo_up() {
    sbx ip addr show lo
    expect_rc 0 || return 1
    grep -q '<.*UP.*>' "$T/out" && grep -q 'inet 127\.0\.0\.1' "$T/out" && return 0
    say "lo is not up with 127.0.0.1"
    show_run
    return 1
}

test_dev_minimal() {
    sbx /bin/sh -c 'ls -a /dev | grep -v "^\.\.*$" | sort | tr "\n" " "'
    expect_rc 0 &&
        expect_out "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero "
}

test_dev_works() {
    sbx /bin/sh -c 'echo x >/dev/null && head -c 5 /dev/zero | wc -c && head -c 8 /dev/urandom |
        wc -c && if echo x >/dev/full; then echo full-accepted; fi; readlink /dev/fd'
    expect_rc 0 && expect_out $'5\n8\n/proc/self/fd'
}

test_tmp_tmpfs() {
    sbx /bin/sh -c 'stat -f -c %T /tmp && echo x >/tmp/f && cat /tmp/f'
    expect_rc 0 && expect_out $'tmpfs\nx'
}

test_overlay_private_writes() {
    sbx /bin/sh -c 'echo written >/etc/e2e-new && cat /etc/e2e-new &&
        echo changed >>/etc/sbx-image && cat /etc/sbx-image && echo x >/sbx/e2e-new'
    expect_rc 0 && expect_out $'written\nsandboxd test image\nchanged' || return 1
    sbx /bin/sh -c 'for p in /etc/e2e-new /sbx/e2e-new; do [ -e $p ] && echo "leaked: $p";
        done; cat /etc/sbx-image'
    expect_rc 0 && expect_out 'sandboxd test image'
}

# host_probe NAME: the probe's answer on the host, unprivileged and without
# capabilities or filter.
host_probe() {
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
        "$PROBE" syscall "$1" 2>&1 || true
}

# probe_syscall NAME EXPECTED: the probe's answer in the sandbox.  When the
# sandbox must refuse, the same probe runs on the host first (host_probe): it
# must get another answer there, or the check would not tell the filter from
# the kernel.
probe_syscall() {
    if [ "$2" != ok ] && [ "$(host_probe "$1")" = "$2" ]; then
        say "on the host, without the filter, $1 already fails with ${2#errno=}: no proof"
        return 1
    fi
    sbx /sbx/probe syscall "$1"
    expect_rc 0 && expect_out "$2"
}

# The trampoline's shared files (exec requests, counters) keep their size: a
# guest that shrank them would make every mapping of them fault, the daemon's too.
test_shared_files_sealed() {
    # The one descriptor a guest may keep of ours: the stats page under --stats.
    local -a stats=(--stats)
    [ "${E2E_SYSCALL_MODE:-}" = off ] && stats=()
    ctl "${stats[@]}" "$IMG" /bin/sh -c 'for fd in 1019 1021 1023; do
            [ -e /proc/self/fd/$fd ] || { echo "no fd $fd"; continue; }
            truncate -s 0 /proc/self/fd/$fd 2>/dev/null && echo "truncated $fd"
        done; echo done'
    if [ "${#stats[@]}" = 0 ]; then
        expect_rc 0 && expect_out $'no fd 1019\nno fd 1021\nno fd 1023\ndone'
    else
        expect_rc 0 && expect_out $'no fd 1019\nno fd 1023\ndone'
    fi
}

# fd 1020 is the trampoline's startup status pipe only for the sandbox's first
# program; a guest's own fd 1020 survives its execs untouched.
test_guest_fd_1020_survives_exec() {
    sbx /bin/sh -c 'exec 1020>/tmp/x; echo one >&1020; /bin/sh -c "echo two >&1020"
        tr "\n" " " </tmp/x'
    expect_rc 0 && expect_out 'one two '
}

test_caps() {
    sbx /sbx/probe caps
    expect_rc 0 && expect_out "CapInh=0000000000000000
CapPrm=0000000000000000
CapEff=0000000000000000
CapBnd=0000000000000000
CapAmb=0000000000000000
NoNewPrivs=1
Seccomp=2"
}

test_identity_is_caller() {
    sbx /sbx/probe ids
    expect_rc 0 || return 1
    local uid gid
    uid=$(sed -n 1p <<<"$out")
    gid=$(sed -n 2p <<<"$out")
    [ "$uid" = "uid=$(id -u) euid=$(id -u) suid=$(id -u)" ] &&
        [ "$gid" = "gid=$(id -g) egid=$(id -g) sgid=$(id -g)" ] && return 0
    say "guest identity differs from the caller's ($(id -u):$(id -g))"
    show_run
    return 1
}

test_session_leader() {
    sbx /sbx/probe sid
    expect_rc 0 || return 1
    [[ $out == *leader=yes ]] && return 0
    show_run
    return 1
}

test_hostname() {
    local before after
    before=$(hostname)
    sbx /bin/sh -c 'hostname; cat /proc/sys/kernel/hostname'
    after=$(hostname)
    expect_rc 0 && expect_out $'sandbox\nsandbox' || return 1
    [ "$before" = "$after" ] || { say "the host's hostname changed: $before -> $after"; return 1; }
}

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

# ============================================================================== main

cp "$TEST_IMAGE" "$IMG"
image_sum=$(sha256sum <"$IMG")
loops_before=$(losetup -a -n -O NAME | sort)
cgroups_before=$(cgroup_dirs)
init_before=$(sbx_init_pids)
say "sandboxd $SANDBOXD, sandboxctl $SANDBOXCTL, image $IMG, state $STATE"

t "sandboxd starts on a temporary socket and state dir" test_daemon_starts
if [ -z "$daemon_pid" ] || ! alive "$daemon_pid"; then
    echo "Bail out! sandboxd did not start"
    exit 1
fi

t "stdin and stdout pass through: echo data | run IMG /bin/cat" test_stdin_to_stdout
t "stderr passes through" test_stderr
t "4 MiB round trip through /bin/cat is byte-exact" test_large_stream
t "the guest's stdout is the caller's own file, not a relay" test_stdout_passed_not_relayed
t "arguments reach the guest verbatim" test_args_verbatim
t "-e KEY=VALUE sets the guest's environment" test_env_option
t "exit status 0 (/bin/true)" test_exit_0
t "sh -c 'echo hi; exit 7' prints hi and exits 7" test_exit_7_shell
t "exitwith N exits with N (0 1 7 255)" test_exitwith
t "death by SIGKILL exits 137" test_signal_kill
t "death by SIGTERM exits 143" test_signal_term
t "death by SIGHUP exits 129" test_signal_hup_by_name
t "a shell that kills itself with -9 exits 137" test_signal_shell_kills_itself
t "125 for an image that is not ext4" test_125_not_ext4
t "125 for an empty image file" test_125_empty_file
t "127 for an empty directory as the root" test_127_empty_directory
t "125 for a nonexistent image path" test_125_missing_image
t "126 for a non-executable file (/etc/sbx-image)" test_126_not_executable
t "126 for a directory as command (/etc)" test_126_directory
t "127 for a missing program (/no/such/program)" test_127_missing
t "127 for a missing program in an existing directory" test_127_missing_in_existing_dir
t "a command without a slash is found in the guest's PATH" test_path_lookup
t "127 for a command without a slash that is not in PATH" test_127_path_lookup
t "the guest sees the image's files (/etc/sbx-image)" test_image_files
t "the guest does not see host-only files" test_host_files_hidden
t "/proc shows only the sandbox's few processes" test_proc_own_pids
t "the guest's pid is small" test_guest_pid_small
t "--syscall-mode off: the guest's open fds are exactly 0 1 2" test_fds_only_stdio_off
t "default mode: fds 0 1 2 and at most the trampoline's own" test_fds_default_mode
t "fds the caller leaves open do not reach the guest" test_fds_caller_extra_fd
t "the only network interface is lo" test_ifaces_only_lo
t "lo is up with 127.0.0.1" test_lo_up
t "/dev holds only the minimal set" test_dev_minimal
t "/dev/null, /dev/zero, /dev/urandom, /dev/full and /dev/fd work" test_dev_works
t "/tmp is a writable tmpfs" test_tmp_tmpfs
t "writes land in a private overlay; a second sandbox does not see them" \
    test_overlay_private_writes
t "a guest cannot shrink the stats page it keeps under --stats" test_shared_files_sealed
t "a guest's own fd 1020 survives exec" test_guest_fd_1020_survives_exec
t "seccomp: mount fails with EPERM" probe_syscall mount errno=EPERM
t "seccomp: unshare(CLONE_NEWUSER|CLONE_NEWNS) fails with EPERM" probe_syscall unshare-mnt errno=EPERM
t "seccomp: unshare(CLONE_NEWUSER) fails with EPERM" probe_syscall unshare-user errno=EPERM
t "seccomp: unshare(CLONE_FILES) works" probe_syscall unshare-files ok
t "seccomp: bpf fails with EPERM" probe_syscall bpf errno=EPERM
t "seccomp: io_uring_setup fails with EPERM" probe_syscall io_uring errno=EPERM
t "seccomp: keyctl fails with EPERM" probe_syscall keyctl errno=EPERM
t "seccomp: perf_event_open fails with EPERM" probe_syscall perf_event_open errno=EPERM
t "seccomp: userfaultfd fails with EPERM" probe_syscall userfaultfd errno=EPERM
t "seccomp: ioctl TIOCSTI fails with EPERM" probe_syscall tiocsti errno=EPERM
t "seccomp: clone3 fails with ENOSYS" probe_syscall clone3 errno=ENOSYS
# Socket families that reach past the sandbox's network namespace.  The host
# needs a vsock transport (a VM's) for the kernel to say yes without the filter.
if [ "$(host_probe vsock)" = ok ]; then
    t "seccomp: socket(AF_VSOCK) fails with EAFNOSUPPORT" probe_syscall vsock errno=EAFNOSUPPORT
else
    t "seccomp: socket(AF_VSOCK) fails # SKIP the host has no vsock transport" true
fi
t "seccomp: a NETLINK_KOBJECT_UEVENT socket fails with EPROTONOSUPPORT" \
    probe_syscall netlink-uevent errno=EPROTONOSUPPORT
t "seccomp: a NETLINK_ROUTE socket works" probe_syscall netlink-route ok
t "capabilities all zero, NoNewPrivs 1, Seccomp 2" test_caps
t "the guest runs as the caller's uid and gid" test_identity_is_caller
t "the guest is a session leader" test_session_leader
t "the hostname is 'sandbox' and the host's is unchanged" test_hostname
t "a running guest: own namespaces and cgroup, image on a ro autoclear loop, no host mounts" \
    test_running_namespaces
t "SIGTERM to sandboxctl reaches the guest, which dies of it (exit 143)" sandboxctl_signal TERM 143
t "SIGINT to sandboxctl reaches the guest, which dies of it (exit 130)" sandboxctl_signal INT 130
t "SIGHUP to sandboxctl reaches the guest, which dies of it (exit 129)" sandboxctl_signal HUP 129
t "SIGKILL to sandboxctl: sandboxd ends the sandbox" test_sigkill_sandboxctl
t "sandboxd still serves" test_daemon_alive
t "embedded: --socket /nonexistent/sock runs 'echo hi; exit 7' with no daemon" \
    test_embedded_exit_7
t "embedded: statuses 137, 127 and 125" test_embedded_statuses
t "embedded: same isolation (caps, seccomp, fds)" test_embedded_isolation
t "embedded: SIGTERM reaches the guest; the sandbox and the private daemon end" \
    test_embedded_sigterm
t "sandboxd still serves after embedded runs ended" test_daemon_alive
t "two sandboxes run at the same time and talk through the caller's pipes" test_two_concurrent
t "eight concurrent sandboxes all complete with their own status" test_many_concurrent
t "malformed frames get an ERROR and a close; sandboxd keeps serving" test_badframes
t "sandboxd still serves after the malformed frames" test_daemon_alive
t "a second sandboxd on the same socket is refused; the first keeps serving" \
    test_second_daemon_refused
t "SIGTERM to sandboxd with a running sandbox: exits 0, ends the sandbox" \
    test_daemon_sigterm_with_sandbox
t "SIGKILL to sandboxd: the guest dies with it, sandboxctl exits 125" test_daemon_sigkill
t "sandboxd restarts over the stale socket of a killed one and serves" test_restart_after_crash
t "afterwards: no loop device of the suite is attached" test_no_loop_device
t "afterwards: no mount refers to the state dir or the image" test_no_mounts
t "afterwards: no cgroup directory is left behind" test_no_cgroups
t "afterwards: no process of the suite is left" test_no_processes
t "afterwards: the image is unchanged (sha256)" test_image_unchanged
t "afterwards: sandboxd's log reports no cleanup, init protocol or sanitizer problem" test_daemon_log_clean

tap_finish
