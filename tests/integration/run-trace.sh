#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sandboxctl run --trace and --learn (issue 19), reported as TAP.  Trace:
# strace-style lines of every process and thread, through patched sites
# too, filters, a guest that floods the ring while sandboxctl is stopped
# (drops counted, the guest never waits), and the (name, result) sequence
# of each process against strace -f of the same program natively, for
# busybox and for Debian workloads.  Learn: the learned policy passes
# `policy check`, reruns the workload with the same output, denies a call
# the workload never made, merges a second run; one per Debian workload.
# Needs root; the Debian part needs the cache of the debian suite
# (DEBIAN_DIR, default /var/cache/sandboxd-test), and is skipped without it.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, TRACECMP (tracecmp.py).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016  # guest scripts single-quoted
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init trace SANDBOXD SANDBOXCTL TEST_IMAGE TRACECMP
DEBIAN_DIR=${DEBIAN_DIR:-/var/cache/sandboxd-test}

mkdir -p "$T/policies"
suite_daemon

# run MODE OPTS... -- CMD...: sandboxctl run of the test image; sets rc.
run() {
    local mode=$1 opts=()
    shift
    while [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    shift
    rc=0
    timeout -k 5 120 "$SANDBOXCTL" run --socket "$SOCK" --syscall-mode "$mode" "${opts[@]}" \
        "$IMAGE" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
}
IMAGE=$TEST_IMAGE

has() { grep -qF -- "$2" "$1"; }
count() { grep -cF -- "$2" "$1" || true; }

skip() {
    n=$((n + 1))
    echo "ok $n - $1 # SKIP $2"
}

# ---- Lines --------------------------------------------------------------------

basic() {
    run "$1" --trace="$T/tr" -- /bin/sh -c 'echo hi; cat /nonexistent; (exit 4); exit 3'
    rc_is 3 && [ "$(cat "$T/out")" = hi ] &&
        has "$T/tr" '] execve("/bin/sh", ["/bin/sh", "-c", "echo hi; cat /nonexistent; (exit"...], NULL) = 0' &&
        has "$T/tr" '] write(1, "hi\n", 3) = 3' &&
        has "$T/tr" '] openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)' &&
        has "$T/tr" '] execve("/bin/busybox", ["cat", "/nonexistent"], NULL) = 0' &&
        has "$T/tr" '] exit_group(4) = ?' && has "$T/tr" '] +++ exited with 4 +++' &&
        has "$T/tr" '] +++ exited with 1 +++' &&
        [ "$(tail -n 1 "$T/tr")" = '[pid 2] +++ exited with 3 +++' ] &&
        # pids as the sandbox sees them: the shell is 2 (init is 1), children follow
        grep -q '^\[pid 2\] clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, .*) = 3$' "$T/tr" &&
        grep -q '^\[pid 3\] ' "$T/tr" &&
        # the trampoline's own calls never appear: it reads its exec request with
        # fallocate and maps its stats page with mmap at its fixed address
        ! grep -q 'fallocate\|0x6effffff0000\|seccomp(' "$T/tr" &&
        # nothing of the trace went to the guest's own stdout or stderr
        ! grep -q 'execve\|+++' "$T/out" "$T/err"
}
t "trap: strace-style lines, every process, sandbox pids, exits" basic trap
t "rewrite: the same" basic rewrite

trace_to_stderr() {
    run trap --trace -- /bin/sh -c 'echo out; echo err >&2'
    rc_is 0 && [ "$(cat "$T/out")" = out ] && has "$T/err" '] dup2(2, 1) = 1' &&
        has "$T/err" '] write(1, "err\n", 4) = 4' &&
        grep -qx err "$T/err"
}
t "--trace without FILE: the client's stderr" trace_to_stderr

filters() {
    run trap --trace="$T/tr:openat,%process" -- /bin/sh -c 'cat /etc/passwd >/dev/null; mkdir /tmp/d'
    rc_is 0 && has "$T/tr" 'openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3' &&
        has "$T/tr" 'clone(' && has "$T/tr" 'execve(' && has "$T/tr" 'exit_group(0) = ?' &&
        ! grep -v '\] \(openat\|clone\|execve\|exit_group\|wait4\|getpid\|getppid\|set_tid_address\|arch_prctl\|+++\|---\)' "$T/tr" |
        grep -q . &&
        run trap --trace="$T/tr:%file" -- /bin/sh -c 'mkdir /tmp/d' && rc_is 0 &&
        has "$T/tr" 'mkdir("/tmp/d", 0777) = 0' && ! has "$T/tr" 'write(' &&
        ! "$SANDBOXCTL" run --socket "$SOCK" --trace="$T/tr:open,bogus" "$IMAGE" /bin/true 2>"$T/err" &&
        has "$T/err" "'bogus': not a syscall name or class"
}
t "--trace=FILE:LIST: names and classes; unknown names refused" filters

mode_off() {
    run off --trace="$T/tr" -- /bin/true
    rc_is 125 && has "$T/err" 'need the trap or rewrite syscall mode'
}
t "tracing needs the trampoline: mode off is refused" mode_off

# The policy action trace: the calls of its rules are printed to stderr, the
# others neither printed nor (in trap mode) trapped.
policy_trace() {
    policy traced <<'YAML'
syscalls:
  rules:
    - { action: trace, syscalls: [openat, execve, mkdir] }
YAML
    run "$1" --policy traced --stats -- /bin/sh -c 'cat /etc/passwd >/dev/null; mkdir /tmp/x; /sbx/traceguest flood 100; echo ok'
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf 'done\nok')" ] &&
        has "$T/err" '] openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3' &&
        has "$T/err" '] mkdir("/tmp/x", 0777) = 0' &&
        has "$T/err" '] execve("/sbx/traceguest", ["/sbx/traceguest", "flood", "100"], NULL) = 0' &&
        [ "$(grep -c '^\[pid [0-9]*\] ' "$T/err")" = 6 ] &&
        ! awk '$1 == "getppid" && $2 > 0 { bad = 1 } END { exit !bad }' "$T/err"
}
t "trap: the policy's trace rules print their calls, and only those are gated" policy_trace trap
t "rewrite: the same" policy_trace rewrite

# ---- Threads, processes, floods -------------------------------------------------

threads() {
    run "$1" --trace="$T/tr:getppid" -- /sbx/traceguest threads 4 1000
    rc_is 0 && [ "$(cat "$T/out")" = "done" ] &&
        [ "$(count "$T/tr" 'getppid() = 1')" = 4000 ] &&
        # four threads of their own, 1000 calls each
        [ "$(grep -o '^\[pid [0-9]*\]' "$T/tr" | sort | uniq -c | awk '$1 == 1000' | wc -l)" = 4 ]
}
t "trap: four threads, each call of each thread" threads trap
t "rewrite: the same through patched sites" threads rewrite

patched_sites_reported() {
    run rewrite --stats --trace="$T/tr:getppid" -- /sbx/traceguest threads 2 500
    rc_is 0 && [ "$(count "$T/tr" 'getppid() = 1')" = 1000 ] &&
        awk '$1 == "getppid" && $3 > 0 { ok = 1 } END { exit !ok }' "$T/err"
}
t "rewrite: calls through patched sites (--stats counts them) are traced" patched_sites_reported

forks() {
    run "$1" --trace="$T/tr" -- /sbx/traceguest fork 50
    rc_is 0 && [ "$(cat "$T/out")" = "child 7" ] &&
        [ "$(grep -c '^\[pid 3\] getpid() = 3$' "$T/tr")" = 50 ] &&
        has "$T/tr" '[pid 3] +++ exited with 7 +++' &&
        has "$T/tr" '[pid 2] wait4(3, [{WIFEXITED(s) && WEXITSTATUS(s) == 7}], 0, NULL) = 3' &&
        ! grep -q '^\[pid 3\] clone' "$T/tr"
}
t "trap: a forking guest, the child's calls under its own pid" forks trap
t "rewrite: the same" forks rewrite

# Signals delivered to the guest's handlers: a line each, the handler runs,
# and the disposition reads back as the guest set it.
signals() {
    run "$1" --trace="$T/tr" -- /bin/sh -c 'trap "echo got" USR1; kill -USR1 $$; trap; (exit 3); trap - USR1; trap; echo done'
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf "got\ntrap -- 'echo got' USR1\ndone")" ] &&
        has "$T/tr" '[pid 2] --- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=2, si_uid=0} ---' &&
        has "$T/tr" '[pid 2] --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=3, si_uid=0, si_status=3, ...} ---' &&
        [ "$(grep -c ' --- ' "$T/tr")" = 2 ]
}
t "trap: signals delivered to handlers" signals trap
t "rewrite: the same" signals rewrite

# Signals taken by their default action: a line as the signal arrives (the
# trampoline's handler stands in for SIG_DFL), and the process's end from
# its parent's wait4, or from the EXIT report for the main process.
default_signals() {
    run "$1" --trace="$T/tr" -- /sbx/traceguest segv
    rc_is 0 && [ "$(cat "$T/out")" = "child killed by 11" ] &&
        has "$T/tr" '[pid 3] --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---' &&
        [ "$(grep -A1 -F '[pid 3] +++ killed by SIGSEGV +++' "$T/tr" | tail -n 1)" = \
            '[pid 2] wait4(3, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV}], 0, NULL) = 3' ] &&
        run "$1" --trace="$T/tr" -- /bin/sh -c 'kill -TERM $$; echo survived' && rc_is 143 &&
        [ ! -s "$T/out" ] &&
        has "$T/tr" '[pid 2] --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=2, si_uid=0} ---' &&
        [ "$(tail -n 1 "$T/tr")" = '[pid 2] +++ killed by SIGTERM +++' ] &&
        run "$1" --trace="$T/tr:write" -- /bin/sh -c 'kill -KILL $$' && rc_is 137 &&
        [ "$(tail -n 1 "$T/tr")" = '[pid 2] +++ killed by SIGKILL +++' ] && ! has "$T/tr" '--- SIGKILL'
}
# A child killed at once, maybe before its fork has returned through the
# trampoline: the signal is its own, the parent lives on and reaps it.  (Its
# --- line may be missing: a signal during the exec of sleep, before the new
# trampoline installs its stand-ins, meets the kernel's SIG_DFL.)
killed_child() {
    local i
    for i in 1 2 3 4 5; do
        run "$1" --trace="$T/tr" -- /bin/sh -c 'sleep 5 & kill -TERM $!; wait $!; echo $?'
        rc_is 0 && [ "$(cat "$T/out")" = 143 ] && has "$T/tr" '[pid 3] +++ killed by SIGTERM +++' &&
            ! grep -q '^\[pid 2\] --- SIGTERM' "$T/tr" || return 1
    done
}
t "trap: a child killed at once; its signal under its own pid" killed_child trap
t "rewrite: the same" killed_child rewrite

t "trap: default-action signals, killed by, whatever the filter" default_signals trap
t "rewrite: the same" default_signals rewrite

# The dispositions the guest reads back are what it set (the stand-in is
# never seen), and SA_RESETHAND leaves the second signal to the default.
sigdfl() {
    run "$1" --trace="$T/tr" -- /sbx/traceguest sigdfl
    rc_is 138 && [ "$(sed -n 5p "$T/out")" = "term dfl 0x14000000 1" ] &&
        [ "$(grep -c '^\[pid 2\] --- SIGUSR1 {' "$T/tr")" = 2 ] &&
        [ "$(tail -n 1 "$T/tr")" = '[pid 2] +++ killed by SIGUSR1 +++' ]
}
t "trap: dispositions read back as set; SA_RESETHAND then the default" sigdfl trap
t "rewrite: the same" sigdfl rewrite

# The trampoline's own guest programs, traced: every one still passes (the
# three that check which sites stay unpatched are left out: a trace gates
# and patches more on purpose).
tramp_guests() {
    local g args ok=0
    for g in fork vfork threads signals sigsys gate readlink execchain rw-sites rw-signals rw-fds \
        rw-hints; do
        args=()
        case $g in
        readlink) args=(/sbx/tramp-readlink) ;;
        execchain) args=(/sbx/tramp-execchain 5) ;;
        esac
        run "$1" --trace=/dev/null -- "/sbx/tramp-$g" "${args[@]}"
        if ! rc_is 0 || ! grep -qx "PASS $g" "$T/out"; then
            say "tramp-$g: exit $rc, $(tail -n 1 "$T/out")"
            ok=1
        fi
    done
    return "$ok"
}
t "trap: the trampoline's guest programs pass under --trace" tramp_guests trap
t "rewrite: the same" tramp_guests rewrite

# The ring holds 65536 records: sandboxctl is stopped while the guest makes
# 500000 calls, so most cannot be recorded.  The guest must finish all the
# same (it never waits for the drainer), and every call is either a line or
# in the count of drops.  The guest waits on its stdin, a fifo, until
# sandboxctl is stopped: started at once, it could make all its calls before
# the stop on a slow machine, and every one would be a line.
flood() {
    local pid lines dropped go
    rm -f "$T/tr" "$T/out" "$T/go"
    mkfifo "$T/go"
    exec {go}<>"$T/go"
    "$SANDBOXCTL" run --socket "$SOCK" --syscall-mode "$1" --trace="$T/tr" "$IMAGE" \
        /sbx/traceguest flood 500000 go >"$T/out" 2>"$T/err" <"$T/go" &
    pid=$!
    if ! wait_until 30 test -s "$T/tr"; then
        exec {go}>&-
        return 1
    fi
    kill -STOP "$pid"
    echo >&"$go"
    exec {go}>&-
    wait_until 60 grep -qx "done" "$T/out" || { kill -CONT "$pid"; return 1; }
    kill -CONT "$pid"
    rc=0
    wait "$pid" || rc=$?
    lines=$(count "$T/tr" 'getppid() = 1')
    dropped=$(sed -n 's/^sandboxctl: --trace: \([0-9]*\) calls not recorded (the trace ring of 65536 records was full), 0 records left incomplete$/\1/p' "$T/tr")
    say "$lines getppid lines, $dropped calls dropped"
    rc_is 0 && [ -n "$dropped" ] && [ "$dropped" -gt 0 ] &&
        [ $((lines + dropped)) -ge 500000 ] && [ $((lines + dropped)) -le 500010 ] &&
        tail -n 1 "$T/tr" | grep -q '^sandboxctl: --trace: '"$dropped"' calls not recorded'

}
t "trap: a flood while the drainer is stopped: drops counted, the guest finishes" flood trap
t "rewrite: the same" flood rewrite

# ---- Against strace -----------------------------------------------------------

# strace_native ROOT OUT CMD...: strace -f of CMD chrooted into ROOT, with
# /proc and /tmp mounted as in a sandbox and the sandbox's environment.
strace_native() {
    local root=$1 out=$2
    shift 2
    timeout -k 5 120 unshare --mount --propagation private -- /bin/bash -c '
        r=$1 o=$2
        shift 2
        mount --bind "$r" "$r" && mount -o remount,bind,ro "$r" &&
            mount -t proc -o nosuid,nodev,noexec proc "$r/proc" &&
            mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/tmp" || exit 125
        cd / && exec env -i --default-signal PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LC_ALL=C strace -f -qq -o "$o" chroot "$r" "$@"
    ' native "$root" "$out" "$@" >"$T/native.out" 2>"$T/native.err" </dev/null || nrc=$?
}

# compare MODE PROG CMD...: same output and the same sequences as strace -f
# (and the same whole lines for the calls named in the array EXACT).
EXACT=()
compare() {
    local mode=$1 prog=$2 ign=() e
    shift 2
    [ "$mode" = rewrite ] && ign=(--ignore rt_sigprocmask)
    for e in "${EXACT[@]}"; do
        ign+=(--exact "$e")
    done
    nrc=0
    strace_native "$ROOT" "$T/native.st" "$@"
    run "$mode" -e LC_ALL=C --trace="$T/tr" -- "$@"
    [ "$rc" = "$nrc" ] && cmp -s "$T/native.out" "$T/out" && cmp -s "$T/native.err" "$T/err" ||
        return 1
    if ! "$TRACECMP" --from-exec "$prog" "${ign[@]}" "$T/native.st" "$T/tr" >"$T/cmp"; then
        diag "$T/cmp"
        return 1
    fi
    say "$(cat "$T/cmp")"
}

# same_output MODE CMD...: traced, the same exit status, stdout and stderr as natively.
same_output() {
    local mode=$1
    shift
    nrc=0
    strace_native "$ROOT" "$T/native.st" "$@"
    run "$mode" --trace="$T/tr" -- "$@"
    [ "$rc" = "$nrc" ] && cmp -s "$T/native.out" "$T/out" && cmp -s "$T/native.err" "$T/err"
}

BB_SCRIPT='echo hi; (echo sub); /bin/busybox true | /bin/busybox cat; /bin/busybox ls /nonexistent; exit 3'
if command -v strace >/dev/null && command -v debugfs >/dev/null; then
    ROOT=$T/root
    mkdir "$ROOT"
    debugfs -R "rdump / $ROOT" "$TEST_IMAGE" >"$T/debugfs.log" 2>&1
    t "busybox, trap: the (name, result) sequences of strace -f" compare trap /bin/busybox \
        /bin/busybox sh -c "$BB_SCRIPT"
    t "busybox, rewrite: the same" compare rewrite /bin/busybox /bin/busybox sh -c "$BB_SCRIPT"
    t "fork, rewrite: the same" compare rewrite /sbx/traceguest /sbx/traceguest fork 5
    # The decoded structures, line by line as strace prints them.
    EXACT=(writev readv poll sendmsg recvmsg getdents64)
    t "iovecs, msghdr, pollfds, dirents, trap: strace's whole lines" compare trap /sbx/traceguest \
        /sbx/traceguest structs
    t "rewrite: the same" compare rewrite /sbx/traceguest /sbx/traceguest structs
    EXACT=()
    # What the guest reads back of its dispositions, and its death, as natively (the
    # sequences differ by nature here: a signal raised by a call is shown before it).
    t "dispositions, trap: the output and exit status of the native run" same_output trap \
        /sbx/traceguest sigdfl
    t "rewrite: the same" same_output rewrite /sbx/traceguest sigdfl
else
    skip "busybox against strace -f" "strace or debugfs missing"
fi

DEBIAN_WORKLOADS=(
    "/usr/bin/dash@-c@echo \$((6*7)) | /usr/bin/tr 4 x; /usr/bin/ls /etc/nonexistent"
    "/usr/bin/python3@-c@print(sum(range(10)))"
    "/usr/bin/sqlite3@:memory:@create table t(x); insert into t values (6*7); select * from t"
    "/usr/bin/bash@-c@cd /etc && /usr/bin/tar cf - passwd group | /usr/bin/gzip -n | /usr/bin/md5sum"
)
if command -v strace >/dev/null && [ -f "$DEBIAN_DIR/debian.ext4" ] && [ -d "$DEBIAN_DIR/rootfs/usr" ]; then
    # Read-only use of the debian suite's cache, under its shared lock.
    exec 8<"$DEBIAN_DIR/.lock"
    flock -s 8
    ROOT=$DEBIAN_DIR/rootfs
    IMAGE=$DEBIAN_DIR/debian.ext4
    for w in "${DEBIAN_WORKLOADS[@]}"; do
        IFS=@ read -r -a cmd <<<"$w"
        t "Debian ${cmd[0]##*/}, trap: the sequences of strace -f" compare trap "${cmd[0]}" "${cmd[@]}"
        t "Debian ${cmd[0]##*/}, rewrite: the same" compare rewrite "${cmd[0]}" "${cmd[@]}"
    done
    IMAGE=$TEST_IMAGE
else
    skip "Debian workloads against strace -f" "no strace or no $DEBIAN_DIR/debian.ext4"
fi

# ---- Learn --------------------------------------------------------------------

learn_rerun_deny() {
    local p=$T/learned.yaml
    rm -f "$p"
    run trap --learn "$p" -- /bin/sh -c 'echo hi; ls /sbx >/dev/null'
    rc_is 0 && [ "$(cat "$T/out")" = hi ] && [ -s "$p" ] &&
        grep -qx '  default: errno EPERM' "$p" && grep -qx '# runs: 1' "$p" &&
        grep -q '^    # learned: getdents64 [0-9]' "$p" && grep -q '^    # learned: ioctl arg 1 = ' "$p" &&
        ! grep -q 'learned: mkdir' "$p" &&
        "$SANDBOXCTL" policy check "$p" >"$T/check" 2>&1 &&
        run trap --policy "$p" -- /bin/sh -c 'echo hi; ls /sbx >/dev/null' && rc_is 0 &&
        [ "$(cat "$T/out")" = hi ] &&
        run rewrite --policy "$p" -- /bin/sh -c 'echo hi; ls /sbx >/dev/null' && rc_is 0 &&
        [ "$(cat "$T/out")" = hi ] &&
        # a call the workload never made fails with EPERM under the learned policy...
        run trap --policy "$p" -- /bin/sh -c 'echo hi; mkdir /tmp/d' && rc_is 1 &&
        has "$T/err" "can't create directory '/tmp/d': Operation not permitted" &&
        # ...and works under the base policy
        run trap -- /bin/sh -c 'echo hi; mkdir /tmp/d' && rc_is 0
}
t "--learn: policy check accepts it, the workload reruns, mkdir is denied" learn_rerun_deny

# The shell forks for cat while learning; a shell that execs its one command
# in place runs the trampoline's exec path under the learned policy, with
# the prctl calls it makes there (before the fix: exit 126, no output).
learn_exec_in_place() {
    local p=$T/learned-exec.yaml m
    for m in trap rewrite; do
        rm -f "$p"
        run "$m" --learn "$p" -- /bin/sh -c 'cat /etc/passwd >/dev/null; echo hi'
        rc_is 0 && grep -q '^    # learned: prctl arg 0 = ' "$p" &&
            run "$m" --policy "$p" -- /bin/sh -c 'cat /etc/passwd' && rc_is 0 &&
            grep -q '^root:' "$T/out" || return 1
    done
}
t "--learn: a workload that execs in place runs under the policy it learned" learn_exec_in_place

learn_merge() {
    local p=$T/learned.yaml
    run trap --learn "$p" -- /bin/sh -c 'mkdir /tmp/d && echo made'
    rc_is 0 && grep -qx '# runs: 2' "$p" && grep -q '^    # learned: mkdir 1$' "$p" &&
        grep -q '^    # learned: getdents64 [0-9]' "$p" &&
        run trap --policy "$p" -- /bin/sh -c 'echo hi; ls /sbx >/dev/null' && rc_is 0 &&
        run trap --policy "$p" -- /bin/sh -c 'mkdir /tmp/d && echo made' && rc_is 0 &&
        [ "$(cat "$T/out")" = made ] &&
        run trap --policy "$p" -- /bin/sh -c 'rmdir /tmp' && rc_is 1 &&
        has "$T/err" 'Operation not permitted' &&
        printf 'name: x\nsyscalls:\n  default: allow\n' >"$T/hand.yaml" &&
        run trap --learn "$T/hand.yaml" -- /bin/true && rc_is 125 &&
        has "$T/err" "not a policy --learn wrote"
}
t "--learn on a learned file merges the runs; a hand-written file is refused" learn_merge

learn_debian() {
    local p=$T/learned-$1.yaml
    shift
    rm -f "$p"
    nrc=0
    strace_native "$ROOT" "$T/native.st" "$@"
    run trap -e LC_ALL=C --learn "$p" -- "$@"
    [ "$rc" = "$nrc" ] && cmp -s "$T/native.out" "$T/out" &&
        "$SANDBOXCTL" policy check "$p" >"$T/check" 2>&1 &&
        run trap -e LC_ALL=C --policy "$p" -- "$@" && [ "$rc" = "$nrc" ] &&
        cmp -s "$T/native.out" "$T/out" && cmp -s "$T/native.err" "$T/err" &&
        run rewrite -e LC_ALL=C --policy "$p" -- "$@" && [ "$rc" = "$nrc" ] &&
        cmp -s "$T/native.out" "$T/out"
}
if command -v strace >/dev/null && [ -f "$DEBIAN_DIR/debian.ext4" ] && [ -d "$DEBIAN_DIR/rootfs/usr" ]; then
    ROOT=$DEBIAN_DIR/rootfs
    IMAGE=$DEBIAN_DIR/debian.ext4
    i=0
    for w in "${DEBIAN_WORKLOADS[@]}"; do
        IFS=@ read -r -a cmd <<<"$w"
        i=$((i + 1))
        t "Debian ${cmd[0]##*/}: its learned policy passes it (trap, rewrite)" learn_debian "$i" "${cmd[@]}"
    done
    IMAGE=$TEST_IMAGE
else
    skip "learned policies of the Debian workloads" "no $DEBIAN_DIR/debian.ext4"
fi

tap_finish
