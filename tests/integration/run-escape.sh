#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The escape suite, reported as TAP: one guest program per escape family
# (tests/guest/escape/, /sbx/esc-NAME in the test image), each run in every
# syscall mode through a daemon of the suite's own, and first on the host,
# unsandboxed, as a control that shows the attempt can succeed at all.  The
# table below says, per attempt, what the sandbox must answer and what the
# host answers; the checks after it look at the host's own state where that
# is the proof (a listener that must see no connection, a process that must
# stay alive, a clock, hostname and core_pattern that must not change, a
# cgroup that must be left neither by the guest nor after it, files that
# must not be rewritten).  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, ESCAPE_GUESTS (the directory
# of the esc-* programs as built, for the controls).
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init escape SANDBOXD SANDBOXCTL TEST_IMAGE ESCAPE_GUESTS
IMG=$T/test.ext4
MODES=(off trap rewrite)
# A caller other than root, in the daemon's group (nogroup).
USER_ID=4242

cleanup() {
    [ -z "${host_loop:-}" ] || losetup -d "$host_loop" || true
    suite_cleanup
}
trap cleanup EXIT

# After a failed attempt its output is shown by the test itself.
tap_on_fail() { :; }

# The image: the test image with a set-user-ID-root copy of esc-setuid and
# two device nodes, /dev/null's (1:3) and a loop device's of the host's
# (over a file of the suite's), that a nodev mount must make useless.
truncate -s 1M "$T/disk"
host_loop=$(losetup -f --show "$T/disk")
disk_dev=$(lsblk -dno MAJ:MIN "$host_loop" | tr -d ' ')
cp "$TEST_IMAGE" "$IMG"
debugfs -w -f - "$IMG" >/dev/null 2>&1 <<EOF
sif /sbx/esc-setuid mode 0104755
sif /sbx/esc-setuid uid 0
cd /sbx
mknod null-node c 1 3
sif null-node mode 020666
mknod disk-node b ${disk_dev%%:*} ${disk_dev##*:}
sif disk-node mode 060600
EOF
mkdir -p "$T/policies" "$T/host" "$T/jail"
MARKER=$T/marker-$$
echo "only the host has this file" >"$MARKER"
chmod 0644 "$MARKER"
# A copy for the host's set-user-ID control; $T is on a filesystem with suid.
install -m 04755 -o 0 -g 0 "$ESCAPE_GUESTS/esc-setuid" "$T/esc-setuid"

suite_daemon

# ---- processes and addresses the attempts aim at ---------------------------

# Host processes of root's and of the other caller's, to be signalled from inside.
sleep 3600 &
root_sleeper=$!
setpriv --reuid="$USER_ID" --regid=65534 --clear-groups sleep 3600 &
user_sleeper=$!
setpriv --reuid="$USER_ID" --regid=65534 --clear-groups sleep 3600 &
control_sleeper=$!
started_pids+=("$root_sleeper" "$user_sleeper" "$control_sleeper")

host_addr=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
host_addr=${host_addr:-127.0.0.1}
# A listener on every address of the host, on the first free port of a few.
for PORT in $((20000 + $$ % 20000)) $((20001 + $$ % 20000)) $((20002 + $$ % 20000)); do
    "$ESCAPE_GUESTS/esc-hostnet" serve "$PORT" 3600 >"$T/listener" 2>&1 &
    listener=$!
    started_pids+=("$listener")
    wait_until 10 grep -q listening "$T/listener" && break
    kill "$listener" 2>/dev/null || true
done
if ! grep -q listening "$T/listener"; then
    echo "Bail out! the host's listener did not start: $(cat "$T/listener")"
    exit 1
fi

core_pattern=$(cat /proc/sys/kernel/core_pattern)
host_name=$(hostname)
sums() { sha256sum "$SANDBOXD" "$SANDBOXCTL" "$IMG"; }
sums_before=$(sums)

# ---- the programs: arguments inside, arguments on the host, caller ----------

declare -A guest_args host_args caller
proc_files="/proc/sys/kernel/core_pattern /proc/sys/vm/drop_caches"
guest_args=(
    [ptrace]=init
    [mountapi]=/tmp
    [hostnet]="$PORT $host_addr"
    [procsys]="write $proc_files /proc/sys/kernel/hostname /proc/sysrq-trigger"
    [devnode]="/tmp null-node=/sbx/null-node disk-node=/sbx/disk-node"
    [cgroup]=/tmp
    [kill]="$user_sleeper all"
    [fds]="${MARKER#/} init create=by-guest"
    [chroot]="/tmp/jail $MARKER"
)
# "-": no control (the attempt would change the host, or there is nothing to show).
host_args=(
    [ptrace]=""
    [mountapi]=$T/host
    [hostnet]="$PORT $host_addr"
    [procsys]="open $proc_files"
    [devnode]="$T/host null-node=/dev/null disk-node=$host_loop"
    [cgroup]=$T/host
    [kill]=$control_sleeper
    [fds]="${MARKER#/} create=by-control"
    [chroot]="$T/jail/inner $MARKER"
    [timehost]=-
    [exe]=-
    [gate]=-
)
# Who runs each program in its sandboxes: both callers, unless named here
# (a set-user-ID file is the other caller's test; its control runs as that
# caller too, every other control as root).
caller=([setuid]=user)

# The attempts.  PROGRAM LABEL MODES SANDBOXED CONTROL: in each of MODES
# ("all" or a comma list) the line "LABEL VALUE" of PROGRAM's output in a
# sandbox must have a VALUE matching the extended regex SANDBOXED; on the
# host, VALUE must be CONTROL ("-": not run there, or not comparable).
read -r -d '' TABLE <<'EOF' || true
ptrace       attach-child          all          errno=EPERM                   ok
ptrace       seize-child           all          errno=EPERM                   ok
ptrace       traceme               all          ok                            ok
ptrace       attach-init           all          errno=EPERM                   -
ptrace       vm-read-init          all          errno=E(PERM|SRCH)            -
mountapi     mount                 all          errno=EPERM                   ok
mountapi     umount                all          errno=EPERM                   errno=EINVAL
mountapi     pivot_root            all          errno=EPERM                   errno=EBUSY
mountapi     fsopen                all          errno=EPERM                   ok
mountapi     fspick                all          errno=EPERM                   ok
mountapi     open_tree             all          errno=EPERM                   ok
mountapi     move_mount            all          errno=EPERM                   errno=EBADF
mountapi     fsmount               all          errno=EPERM                   errno=EBADF
mountapi     mount_setattr         all          errno=EPERM                   errno=EINVAL
namespaces   unshare-user          all          errno=EPERM                   ok
namespaces   unshare-mnt           all          errno=EPERM                   ok
namespaces   unshare-pid           all          errno=EPERM                   ok
namespaces   unshare-net           all          errno=EPERM                   ok
namespaces   unshare-uts           all          errno=EPERM                   ok
namespaces   unshare-ipc           all          errno=EPERM                   ok
namespaces   unshare-cgroup        all          errno=EPERM                   ok
namespaces   unshare-time          all          errno=EPERM                   ok
namespaces   clone-user            all          errno=EPERM                   ok
namespaces   clone-mnt             all          errno=EPERM                   ok
namespaces   clone-pid             all          errno=EPERM                   ok
namespaces   clone-net             all          errno=EPERM                   ok
namespaces   clone-uts             all          errno=EPERM                   ok
namespaces   clone-ipc             all          errno=EPERM                   ok
namespaces   clone-cgroup          all          errno=EPERM                   ok
namespaces   clone3                all          errno=ENOSYS                  ok
namespaces   clone3-user           all          errno=ENOSYS                  ok
namespaces   setns-net             all          errno=EPERM                   ok
namespaces   setns-init-mnt        all          errno=E(PERM|ACCES)           -
bpf          map-create            all          errno=EPERM                   ok
bpf          prog-load             all          errno=EPERM                   ok
iouring      setup                 all          errno=EPERM                   ok
iouring      enter                 all          errno=EPERM                   errno=EBADF
iouring      register              all          errno=EPERM                   errno=EBADF
perf         self                  all          errno=EPERM                   ok
perf         cpu0                  all          errno=EPERM                   ok
uffd         user-mode             all          errno=EPERM                   ok
uffd         all                   all          errno=EPERM                   ok
uffd         dev                   all          errno=E(NOENT|ACCES|PERM)     ok
keyring      add_key               all          errno=EPERM                   ok
keyring      keyctl                all          errno=EPERM                   ok
keyring      request_key           all          errno=EPERM                   errno=ENOKEY
kmod         init_module           all          errno=EPERM                   -
kmod         finit_module          all          errno=EPERM                   -
kmod         delete_module         all          errno=EPERM                   -
kmod         kexec_load            all          errno=EPERM                   -
kmod         kexec_file_load       all          errno=EPERM                   -
handle       name_to_handle_at     all          errno=EPERM                   ok
handle       open_by_handle_at     all          errno=EPERM                   ok
tty          openpt                all          ok                            ok
tty          tiocsti               all          errno=EPERM                   ok
tty          tiocsti-high          all          errno=EPERM                   ok
tty          tioclinux             all          errno=EPERM                   errno=ENOTTY
tty          tiocsti-stdin         all          errno=EPERM                   errno=ENOTTY
rawsock      packet-raw            all          errno=EPERM                   ok
rawsock      packet-dgram          all          errno=EPERM                   ok
rawsock      inet-raw              all          errno=EPERM                   ok
rawsock      inet6-raw             all          errno=EPERM                   ok
rawsock      inet-raw-tcp          all          errno=EPERM                   ok
hostnet      connect-lo            all          errno=ECONNREFUSED            ok
hostnet      connect-host          all          errno=E(NETUNREACH|CONNREFUSED) ok
procsys      /proc/sys/kernel/core_pattern all  errno=E(ROFS|ACCES|PERM)      ok
procsys      /proc/sys/vm/drop_caches all       errno=E(ROFS|ACCES|PERM)      ok
procsys      /proc/sys/kernel/hostname all      errno=E(ROFS|ACCES|PERM)      -
procsys      /proc/sysrq-trigger   all          errno=E(NOENT|ROFS|ACCES|PERM) -
kmem         kcore                 all          errno=E(NOENT|ACCES|PERM)     -
kmem         kmsg-read             all          errno=E(NOENT|ACCES|PERM)     ok
kmem         kmsg-write            all          errno=E(NOENT|ACCES|PERM)     ok
kmem         syslog                all          errno=EPERM                   ok
kmem         kallsyms              all          (zeros|errno=E(PERM|ACCES|NOENT)) addresses
devnode      mknod-char            all          errno=EPERM                   ok
devnode      mknod-block           all          errno=EPERM                   ok
devnode      null-node             all          errno=EACCES                  ok
devnode      disk-node             all          errno=EACCES                  ok
setuid       euid                  all          4242                          0
setuid       setuid0               all          errno=EPERM                   ok
setuid       setresuid0            all          errno=EPERM                   ok
setuid       setgroups0            all          errno=EPERM                   ok
cgroup       procs-root            all          errno=E(NOENT|ACCES|PERM|ROFS) -
cgroup       mount-cgroup2         all          errno=EPERM                   ok
cgroup       mount-cgroup1         all          errno=EPERM                   ok
kill         kill                  all          errno=ESRCH                   ok
kill         pidfd_open            all          errno=ESRCH                   ok
kill         tgkill                all          errno=ESRCH                   -
kill         kill-all              all          errno=ESRCH                   -
timehost     settimeofday          all          errno=EPERM                   -
timehost     clock_settime         all          errno=EPERM                   -
timehost     adjtimex              all          errno=EPERM                   -
timehost     sethostname           all          errno=EPERM                   -
timehost     setdomainname         all          errno=EPERM                   -
abi          i386-getpid           all          killed=SIGSYS                 ok
abi          i386-mount            all          killed=SIGSYS                 errno=EFAULT
abi          i386-unshare          all          killed=SIGSYS                 ok
abi          x32-getpid            all          killed=SIGSYS                 errno=ENOSYS
abi          x32-mount             all          killed=SIGSYS                 errno=ENOSYS
seccomp      allow-all-then-unshare all         errno=EPERM                   ok
seccomp      sigsys-ignored-then-unshare all    errno=EPERM                   ok
seccomp      clear-nnp             all          errno=EINVAL                  errno=EINVAL
seccomp      strict                all          errno=EINVAL                  ok
seccomp      seccomp-mode          all          2                             0
fds          leak                  all          none                          /proc/self/fd/3
fds          init-fd               all          none                          -
fds          create-in-fd3         all          errno=EBADF                   ok
chroot       dotdot                all          errno=ENOENT                  ok
chroot       chroot                all          errno=EPERM                   ok
chroot       breakout              all          errno=EPERM                   ok
exe          self-exe              all          errno=E(TXTBSY|ACCES|PERM|ROFS) -
exe          self-exe-reopen       all          errno=E(TXTBSY|ACCES|PERM|ROFS) -
exe          init-exe              all          errno=E(ACCES|PERM|NOENT)     -
exe          init-exe-reopen       all          errno=E(ACCES|PERM|NOENT)     -
exe          trampoline-fd         all          errno=E(NOENT|TXTBSY|PERM|ACCES) -
exe          trampoline-fd-pwrite  all          errno=EBADF                   -
exe          trampoline-fd-mmap    all          errno=EBADF                   -
gate         gate                  off          absent                        -
gate         gate-mount            trap,rewrite errno=EPERM                   -
gate         gate-unshare          trap,rewrite errno=EPERM                   -
gate         gate-mprotect         trap,rewrite ok                            -
gate         rewritten-gate-mount  trap,rewrite errno=EPERM                   -
gate         copied-gate-mount     trap,rewrite errno=EPERM                   -
gate         smash-then-mount      trap,rewrite (errno=EPERM|killed=SIG.*)    -
EOF

# ---- running them ----------------------------------------------------------

# run_guest PROG MODE WHO: the program in a sandbox, run by root or by the
# other caller (WHO: root or user); its output in $T/esc-PROG-MODE-WHO.
run_guest() {
    local prog=$1 mode=$2 who=$3 args rc=0 out=$T/esc-$1-$2-$3
    read -r -a args <<<"${guest_args[$prog]:-}"
    local cmd=("$SANDBOXCTL" run --socket "$SOCK" --syscall-mode "$mode" "$IMG" "/sbx/esc-$prog"
        "${args[@]}")
    if [ "$who" = user ]; then
        cmd=(setpriv --reuid="$USER_ID" --regid=65534 --clear-groups "${cmd[@]}")
    fi
    # The caller's fd 3, a directory of the host's, must not reach the guest.
    timeout -k 5 60 "${cmd[@]}" 3<"$T/jail" >"$out" 2>"$out.err" || rc=$?
    echo "exit $rc" >>"$out"
}

# run_control PROG: the program on the host, unsandboxed, with fd 3 as above.
run_control() {
    local prog=$1 args rc=0
    read -r -a args <<<"${host_args[$prog]:-}"
    local cmd=("$ESCAPE_GUESTS/esc-$prog" "${args[@]}")
    if [ "${caller[$prog]:-root}" = user ]; then
        [ "$prog" = setuid ] && cmd=("$T/esc-setuid")
        cmd=(setpriv --reuid="$USER_ID" --regid=65534 --clear-groups "${cmd[@]}")
    fi
    (cd "$T/host" && timeout -k 5 60 "${cmd[@]}" 3<"$T/jail") >"$T/ctl-$prog" 2>&1 || rc=$?
    echo "exit $rc" >>"$T/ctl-$prog"
}

# value_of FILE LABEL: the VALUE of the line "LABEL VALUE".
value_of() {
    awk -v l="$2" 'index($0, l " ") == 1 { print substr($0, length(l) + 2); exit }' "$1"
}

# attempt_refused FILE LABEL REGEX: the sandbox's answer matches REGEX.
attempt_refused() {
    local got
    got=$(value_of "$1" "$2")
    [[ "$got" =~ ^($3)$ ]] && return 0
    say "'$2' answered '${got:-nothing}', expected /$3/; the output:"
    diag "$1"
    diag "${1}.err"
    return 1
}

# control_succeeds FILE LABEL VALUE: the host's answer is VALUE.
control_succeeds() {
    local got
    got=$(value_of "$1" "$2")
    [ "$got" = "$3" ] && return 0
    say "on the host '$2' answered '${got:-nothing}', expected '$3'; the output:"
    diag "$1"
    return 1
}

declare -A ran_control ran_guest
while read -r prog label modes expect control; do
    [ -n "$prog" ] || continue
    if [ "$control" != - ] && [ "${host_args[$prog]:-}" != - ]; then
        [ -n "${ran_control[$prog]:-}" ] || { run_control "$prog"; ran_control[$prog]=1; }
        t "control: $prog $label on the host: $control" \
            control_succeeds "$T/ctl-$prog" "$label" "$control"
    fi
    for mode in "${MODES[@]}"; do
        [ "$modes" = all ] || [[ ",$modes," == *",$mode,"* ]] || continue
        for who in ${caller[$prog]:-root user}; do
            [ -n "${ran_guest[$prog-$mode-$who]:-}" ] ||
                { run_guest "$prog" "$mode" "$who"; ran_guest[$prog-$mode-$who]=1; }
            t "escape: $prog $label ($mode, $who): $expect" \
                attempt_refused "$T/esc-$prog-$mode-$who" "$label" "$expect"
        done
    done
done <<<"$TABLE"

# ---- what the host itself shows --------------------------------------------

# Every guest program ran to its end (exit 0): no attempt took it down unseen.
guests_finished() {
    local f bad=0
    for f in "$T"/esc-*-root "$T"/esc-*-user; do
        [ "$(tail -n 1 "$f")" = "exit 0" ] || { say "$f: $(tail -n 1 "$f")"; bad=1; }
    done
    return $bad
}
t "every escape program ran to its end in every mode" guests_finished

# The listener saw the control's two connections and none of the sandboxes'.
listener_saw_control_only() {
    local n
    n=$(grep -c '^accepted' "$T/listener" || true)
    say "connections accepted: $n"
    diag "$T/listener"
    [ "$n" -eq 2 ]
}
t "host network: the host's listener saw only the control's connections" listener_saw_control_only

t "kill: root's host process, aimed at from inside, still runs" kill -0 "$root_sleeper"
t "kill: the other caller's host process still runs" kill -0 "$user_sleeper"
control_killed() { wait_until 10 sh -c "! kill -0 $control_sleeper"; }
t "kill: the control killed its target on the host" control_killed

t "procsys: the host's core_pattern is unchanged" \
    test "$(cat /proc/sys/kernel/core_pattern)" = "$core_pattern"
t "timehost: the host's hostname is unchanged" test "$(hostname)" = "$host_name"
t "timehost: the host's clock is not in 2001" test "$(date +%Y)" -gt 2001
t "exe: sandboxd, sandboxctl and the image are unchanged" test "$(sums)" = "$sums_before"
# Every sandbox's caller passed $T/jail as its fd 3, and so did the control's.
t "fds: the control made a file through its fd 3" test -e "$T/jail/by-control"
t "fds: no guest made one through the caller's fd 3" test ! -e "$T/jail/by-guest"

# ---- the cgroup, while a guest runs and after --------------------------------

# cgroup_held: a guest that tried to leave its cgroup is, seen from the
# host, still in one of this daemon's below the root; once it has ended that
# cgroup is gone.
cgroup_held() {
    local secs=7$$ pid="" path
    "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /sbx/esc-cgroup /tmp "$secs" >"$T/cg-out" 2>&1 &
    local client=$!
    started_pids+=("$client")
    wait_until 20 grep -q waiting "$T/cg-out" || { say "the guest did not start"; diag "$T/cg-out"; return 1; }
    pid=$(pgrep -f "^/sbx/esc-cgroup /tmp $secs\$" | head -n 1)
    path=$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")
    say "the guest's cgroup: ${path:-none}"
    diag "$T/cg-out"
    kill -TERM "$client"
    wait "$client" || true
    [[ "$path" == */sbx-"$daemon_pid"-* ]] || return 1
    wait_until 20 test ! -e "/sys/fs/cgroup/unified$path" -a ! -e "/sys/fs/cgroup$path"
}
t "cgroup: the guest stays in its sandbox's cgroup, which is removed after it" cgroup_held

t "the daemon still serves" "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/true
tap_finish
