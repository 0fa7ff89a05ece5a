# SPDX-License-Identifier: LGPL-2.1-or-later
# The tests of run-e2e.sh that look at one run: stdio and statuses, what
# the guest sees, and the kernel boundary it meets.  Sourced by run-e2e.sh.
# Guest shell scripts are single-quoted on purpose: they expand in the guest.
# The variables the tests read (rc, out, err, the records of the host state)
# are set by run-e2e-lib.sh and run-e2e.sh.
# shellcheck shell=bash disable=SC2016,SC2154


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

test_exit_7_shell() {
    sbx /bin/sh -c 'echo hi; exit 7'
    expect_rc 7 && expect_out hi
}

test_signal_shell_kills_itself() {
    sbx /bin/sh -c 'kill -9 $$'
    expect_rc 137
}

test_path_lookup() {
    sbx sh -c 'echo found-by-path'
    expect_rc 0 && expect_out found-by-path
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
