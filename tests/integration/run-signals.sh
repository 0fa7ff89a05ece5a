#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Signals and terminals of `sandboxctl run`, reported as TAP: signals sent to
# sandboxctl reach the guest's main process (which may trap them), three
# interrupts end the sandbox, Ctrl-C and Ctrl-Z at the caller's terminal, and
# `-t` sessions driven through a pty (tests/integration/ttydrive.py).  As
# root and as a member of the daemon's group.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, TTYDRIVE (paths).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init signals SANDBOXD SANDBOXCTL TEST_IMAGE TTYDRIVE
IMG=$T/test.ext4
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
# A member of the daemon's group (nogroup) through its primary gid, and no one else.
MEMBER=(setpriv --reuid=4242 --regid=65534 --clear-groups --)
# Marks in the guests' command lines: numbers no other process uses.
MARK=8$$
marks=0
bg_pid=
ign_pid=

cleanup() {
    [ -z "$bg_pid" ] || kill -KILL "$bg_pid" 2>/dev/null || true
    [ -z "$ign_pid" ] || kill -TERM "$ign_pid" 2>/dev/null || true
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ "${state#Z}" = "$state" ]
}

not_alive() { ! alive "$1"; }

# Host pids of the guest processes whose command line ends in the mark $1.
guest_pids() {
    local pid found=1
    for pid in $(pgrep -f " $1\$"); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sandboxctl ] && continue
        echo "$pid"
        found=0
    done
    return "$found"
}

no_guest() { ! guest_pids "$1" >/dev/null; }

out_has() { grep -q -- "$1" "$T/out"; }

# start AS CMD...: sandboxctl run in the background (AS: "root" or "member");
# sets bg_pid and mark (the guest's last argument), and waits for "ready".
start() {
    local prefix=()
    [ "$1" = member ] && prefix=("${MEMBER[@]}")
    shift
    marks=$((marks + 1))
    mark=$MARK$marks
    : >"$T/out"
    "${prefix[@]}" "$SANDBOXCTL" run --socket "$SOCK" "$IMG" "$@" "$mark" >"$T/out" 2>"$T/err" &
    bg_pid=$!
    if ! wait_until 20 out_has ready; then
        say "the guest did not say ready within 20 s"
        return 1
    fi
}

# finish SECONDS: waits for sandboxctl; sets rc.
finish() {
    if ! wait_until "$1" not_alive "$bg_pid"; then
        say "sandboxctl still runs after $1 s"
        kill -KILL "$bg_pid" 2>/dev/null
    fi
    rc=0
    wait "$bg_pid" || rc=$?
    bg_pid=
}

# The guest: traps TERM, INT, HUP (exit 10, 11, 12) and USR1 (goes on), says which.
TRAPPER='trap "echo got TERM; exit 10" TERM; trap "echo got INT; exit 11" INT
trap "echo got HUP; exit 12" HUP; trap "echo got USR1" USR1
echo ready; while :; do sleep 0.1; done'

# trapped AS SIG STATUS: SIG to sandboxctl runs the guest's trap, whose status comes back.
trapped() {
    local as=$1 sig=$2 want=$3
    start "$as" /bin/sh -c "$TRAPPER" || return 1
    kill "-USR1" "$bg_pid"
    if ! wait_until 10 out_has "got USR1"; then
        say "SIGUSR1 to sandboxctl did not reach the guest's trap"
        return 1
    fi
    if ! alive "$bg_pid"; then
        say "SIGUSR1 ended sandboxctl"
        return 1
    fi
    kill "-$sig" "$bg_pid"
    finish 10
    out_has "got $sig" && [ "$rc" = "$want" ] && no_guest "$mark"
}

# untrapped AS SIG STATUS: a guest that does not catch SIG dies of it: 128+N.
untrapped() {
    local as=$1 sig=$2 want=$3
    start "$as" /bin/sh -c 'echo ready; exec /bin/sleep 1000 "$0"' || return 1
    wait_until 10 guest_pids "$mark" || return 1
    kill "-$sig" "$bg_pid"
    finish 10
    [ "$rc" = "$want" ] && wait_until 5 no_guest "$mark"
}

# A guest that shrugs off SIGINT: the third one within 3 s ends the sandbox.
three_interrupts() {
    local as=$1
    start "$as" /bin/sh -c 'trap "echo got INT" INT; echo ready; while :; do sleep 0.1; done' ||
        return 1
    kill -INT "$bg_pid"
    wait_until 5 out_has "got INT" || return 1
    kill -INT "$bg_pid"
    sleep 0.5
    if ! alive "$bg_pid" || ! guest_pids "$mark" >/dev/null; then
        say "two SIGINTs ended the run"
        return 1
    fi
    kill -INT "$bg_pid"
    finish 10
    say "stderr: $(tr '\n' ' ' <"$T/err")"
    [ "$rc" = 137 ] && grep -q "third SIGINT or SIGTERM within 3 s: ending the sandbox" "$T/err" &&
        wait_until 5 no_guest "$mark"
}

# Two SIGINTs, then a third after the window: each is just passed on.
slow_interrupts() {
    start root /bin/sh -c 'trap "echo got INT" INT; echo ready; while :; do sleep 0.1; done' ||
        return 1
    kill -INT "$bg_pid"
    sleep 2
    kill -INT "$bg_pid"
    sleep 2
    kill -INT "$bg_pid"
    sleep 1
    local got
    got=$(grep -c "got INT" "$T/out" || true)
    alive "$bg_pid" || return 1
    kill -TERM "$bg_pid"
    finish 10
    say "the guest got SIGINT $got times; status $rc"
    [ "$got" = 3 ] && [ "$rc" = 143 ]
}

# stopped PID: its state is T (stopped).
stopped() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ "${state#T}" != "$state" ]
}

# SIGTSTP stops the guest and sandboxctl; SIGCONT resumes both.
tstp_cont() {
    start root /bin/sh -c 'echo ready; exec /bin/sleep 1000 "$0"' || return 1
    wait_until 10 guest_pids "$mark" || return 1
    local g
    g=$(guest_pids "$mark")
    kill -TSTP "$bg_pid"
    if ! wait_until 5 stopped "$bg_pid" || ! wait_until 5 stopped "$g"; then
        say "after SIGTSTP: sandboxctl $(ps -o stat= -p "$bg_pid"), guest $(ps -o stat= -p "$g")"
        return 1
    fi
    kill -CONT "$bg_pid"
    if ! wait_until 5 eval '! stopped "$bg_pid" && ! stopped "$g"'; then
        say "after SIGCONT: sandboxctl $(ps -o stat= -p "$bg_pid"), guest $(ps -o stat= -p "$g")"
        return 1
    fi
    kill -TERM "$bg_pid"
    finish 10
    [ "$rc" = 143 ]
}

# Ctrl-C at the caller's terminal, without -t: SIGINT for the guest, whose trap runs.
ctrl_c_no_tty() {
    marks=$((marks + 1))
    mark=$MARK$marks
    rc=0
    timeout -k 5 60 python3 - "$SANDBOXCTL" "$SOCK" "$IMG" "$TRAPPER" "$mark" >"$T/out" \
        2>"$T/err" <<'PY' || rc=$?
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    ctl, sock, img, script, mark = sys.argv[1:]
    os.execv(ctl, [ctl, "run", "--socket", sock, img, "/bin/sh", "-c", script, mark])
seen = b""
while b"ready" not in seen:
    seen += os.read(fd, 4096)
os.write(fd, b"\x03")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace") + "\nstatus=%d\n" % os.waitstatus_to_exitcode(status))
PY
    out_has "got INT" && out_has "status=11"
}

# ttydrive WHAT AS: a -t session; its findings land in $T/tty.
ttydrive() {
    marks=$((marks + 1))
    mark=$MARK$marks
    local words=""
    [ "$2" = member ] && words="${MEMBER[*]}"
    rc=0
    TTYDRIVE_AS=$words TTYDRIVE_LOG=$T/tty.log timeout -k 5 120 python3 "$TTYDRIVE" "$1" \
        "$SANDBOXCTL" "$SOCK" "$IMG" "$mark" >"$T/tty" 2>"$T/err" || rc=$?
    cp "$T/tty" "$T/out"
    say "$(tr '\n' ' ' <"$T/tty")"
}

tty_is() { grep -qx "$1" "$T/tty"; }

tty_session() {
    ttydrive session "$1"
    local ok=0 want
    for want in prompt=1 raw=1 tty_mine=1 tty_exists=1 size=33x101 resized=40x120 bg_job=1 \
        ctrl_c_status=130 stopped_job=1 alive_after_ctrl_c=1 status=5 restored=1; do
        tty_is "$want" || {
            say "expected $want"
            ok=1
        }
    done
    grep -qx 'tty=/dev/pts/[0-9]*' "$T/tty" || ok=1
    [ "$ok" = 0 ] || diag "$T/tty.log"
    return "$ok"
}

tty_kill() {
    ttydrive kill root
    tty_is prompt=1 && tty_is raw=1 && tty_is guests=1 && tty_is status=137 &&
        tty_is restored=1 && wait_until 5 no_guest "-s $mark"
}

# SIGTERM to sandboxctl -t: the guest's interactive shell ignores it; the third
# ends the sandbox, and the terminal comes back.
tty_sigterm() {
    ttydrive term root
    tty_is prompt=1 && tty_is after_one=1 && tty_is status=137 && tty_is ended_said=1 &&
        tty_is restored=1
}

# -t without -i: the guest has a terminal, but sandboxctl does not read its stdin.
tty_no_input() {
    rc=0
    echo hello | timeout -k 5 60 "$SANDBOXCTL" run --socket "$SOCK" -t "$IMG" /bin/sh -c \
        'tty; read -t 1 x; echo "read=[$x]"' >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = 0 ] && grep -q '^/dev/pts/[0-9]' "$T/out" && grep -q 'read=\[\]' "$T/out"
}

tty_input() {
    rc=0
    echo hello | timeout -k 5 60 "$SANDBOXCTL" run --socket "$SOCK" -t -i "$IMG" /bin/sh -c \
        'read x; echo "read=[$x]"' >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = 0 ] && grep -q 'read=\[hello\]' "$T/out"
}

# The guest's last output still in the pty when it exits reaches stdout, all of it.
tty_drain() {
    rc=0
    timeout -k 5 60 "$SANDBOXCTL" run --socket "$SOCK" -t "$IMG" /bin/sh -c \
        'i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done; exit 6' >"$T/out" \
        2>"$T/err" || rc=$?
    local n last
    n=$(grep -c '^line' "$T/out" || true)
    last=$(tail -n 1 "$T/out" | tr -d '\r')
    say "status $rc, $n lines, the last '$last'"
    [ "$rc" = 6 ] && [ "$n" = 3000 ] && [ "$last" = line2999 ]
}

# -t -i with stdout a pipe whose reader leaves after a line (`| head -1`): the
# output is dropped, the guest's status comes back, the terminal is restored.
tty_pipe_closed() {
    ttydrive pipe root
    tty_is prompt=1 && tty_is first_line=1 && tty_is status=3 && tty_is restored=1
}

# Without -t the guest writes to that pipe itself: it dies of SIGPIPE, as it
# would outside a sandbox (sandboxctl's own disposition does not reach it).
# With the suite's daemon and with sandboxctl's private one.
guest_sigpipe() {
    local sock status
    for sock in "$SOCK" "$T/none/sock"; do
        {
            rc=0
            timeout -k 5 60 "$SANDBOXCTL" run --socket "$sock" "$IMG" /bin/sh -c \
                'while :; do echo y; done' 2>"$T/err" || rc=$?
            echo "$rc" >"$T/status"
        } | head -n 1 >"$T/out" || true
        status=$(cat "$T/status")
        say "--socket $sock: status $status"
        [ "$status" = 141 ] || return 1
    done
}

# tty_job WHAT WANT...: a -t -i job of an interactive bash (ttydrive.py WHAT).
tty_job() {
    ttydrive "$1" root
    shift
    local ok=0 want
    for want in "$@"; do
        tty_is "$want" || {
            say "expected $want"
            ok=1
        }
    done
    [ "$ok" = 0 ] || diag "$T/tty.log"
    wait_until 5 no_guest "$mark" || ok=1
    return "$ok"
}

# Started with `&`: the shell's terminal stays as it is and the shell reads
# its lines; after fg the job's terminal is raw and its input reaches the guest.
tty_background() {
    tty_job background shell=1 started=1 bg_untouched=1 shell_reads=1 fg_raw=1 fg_input=1 \
        status=4 restored=1
}

# Stopped (SIGTSTP) and continued with bg: the same, and fg takes the terminal again.
tty_stop_bg() {
    tty_job stop-bg shell=1 started2=1 raw2=1 stopped_restored=1 bg_again_untouched=1 \
        fg_again_raw=1 fg_again_input=1 status2=5 restored=1
}

# inherited_dispositions: a daemon started with signals ignored and blocked (as a
# service manager or a shell may start it) gives none of that to its guests: in every
# mode the guest's shell sees no signal ignored or blocked, as a native one started
# with default dispositions.  The init resets only what is not already the default,
# which it asks of the kernel before its request comes; this checks the guest's view
# from the host.
inherited_dispositions() {
    local mode ign blk ok=0
    mkdir -p "$T/ign/state"
    mkfifo "$T/ign/ready"
    env --ignore-signal=USR2,ALRM,URG,XFSZ,40,50,64 --block-signal=USR2,WINCH,45 \
        "$SANDBOXD" --socket "$T/ign/sock" --state-dir "$T/ign/state" --group nogroup \
        --ready-fd 3 3>"$T/ign/ready" 2>"$T/ign/sandboxd.log" &
    ign_pid=$!
    if ! read -r -t 20 _ <"$T/ign/ready"; then
        say "the second daemon did not become ready"
        return 1
    fi
    # The premise: the daemon itself holds those dispositions (bits 12, 14, 23, 25, 40...).
    say "daemon: $(grep -E '^Sig(Ign|Blk):' "/proc/$ign_pid/status" | tr '\n' ' ')"
    [ "$(awk '/^SigIgn:/ { print $2 }' "/proc/$ign_pid/status")" != 0000000000000000 ] || ok=1
    for mode in off trap rewrite; do
        rc=0
        timeout -k 5 60 "$SANDBOXCTL" run --socket "$T/ign/sock" --syscall-mode "$mode" "$IMG" \
            /bin/cat /proc/self/status >"$T/out" 2>"$T/err" || rc=$?
        ign=$(awk '/^SigIgn:/ { print $2 }' "$T/out")
        blk=$(awk '/^SigBlk:/ { print $2 }' "$T/out")
        say "mode $mode: status $rc, SigIgn ${ign:-?}, SigBlk ${blk:-?}"
        [ "$rc" = 0 ] && [ "$ign" = 0000000000000000 ] && [ "$blk" = 0000000000000000 ] || ok=1
    done
    kill -TERM "$ign_pid"
    wait "$ign_pid" || true
    ign_pid=
    return "$ok"
}

mkfifo "$T/ready"
"$SANDBOXD" --socket "$SOCK" --state-dir "$T/state" --group nogroup --ready-fd 3 3>"$T/ready" \
    2>"$T/sandboxd.log" &
daemon_pid=$!
if ! read -r -t 20 _ <"$T/ready"; then
    echo "Bail out! sandboxd did not become ready"
    diag "$T/sandboxd.log"
    exit 1
fi

for as in root member; do
    t "$as: SIGUSR1 and SIGTERM reach a trapping guest; its status 10 comes back" \
        trapped "$as" TERM 10
    t "$as: SIGINT reaches a trapping guest; its status 11 comes back" trapped "$as" INT 11
    t "$as: SIGHUP reaches a trapping guest; its status 12 comes back" trapped "$as" HUP 12
    t "$as: a guest that does not catch SIGTERM dies of it (143)" untrapped "$as" TERM 143
    t "$as: the same with SIGUSR2 (140) and SIGQUIT (131)" \
        eval 'untrapped "$as" USR2 140 && untrapped "$as" QUIT 131'
    t "$as: a third SIGINT within 3 s ends the sandbox (137, said on stderr)" \
        three_interrupts "$as"
    t "$as: a -t session: job control, Ctrl-C, Ctrl-Z, window size, terminal restored" \
        tty_session "$as"
done
t "a daemon started with signals ignored and blocked gives none of them to a guest" \
    inherited_dispositions
t "SIGINTs 2 s apart are each passed on; none ends the sandbox" slow_interrupts
t "SIGTSTP stops sandboxctl and the guest, SIGCONT resumes both" tstp_cont
t "Ctrl-C at the caller's terminal without -t is SIGINT for the guest" ctrl_c_no_tty
t "-t: SIGKILL of the guest's shell: status 137, the terminal restored" tty_kill
t "-t: SIGTERM to sandboxctl reaches the guest's shell; the third ends it, terminal restored" \
    tty_sigterm
t "-t without -i: the guest has a tty, sandboxctl's stdin is not copied" tty_no_input
t "-t -i with a pipe as stdin: its bytes reach the guest" tty_input
t "-t: every line the guest wrote before exiting reaches stdout" tty_drain
t "-t -i, stdout a pipe closed after a line: status 3, the terminal restored" tty_pipe_closed
t "without -t, a guest writing to a closed pipe dies of SIGPIPE (141)" guest_sigpipe
t "-t -i started with & from bash: the terminal is left alone until fg" tty_background
t "-t -i stopped and continued with bg: the terminal is left alone until fg" tty_stop_bg

tap_finish
