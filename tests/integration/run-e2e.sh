#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# End-to-end tests of sandboxd and sandboxctl, reported as TAP: a real daemon
# on a temporary socket and state directory, real sandboxes booted from a copy
# of the test image, and host-wide checks that nothing is left behind.  The
# helpers are in run-e2e-lib.sh, the tests in run-e2e-guest.sh (one run seen
# from inside) and run-e2e-host.sh (seen from the host); this file has the
# data-shaped cases as tables and the order the tests run in.
# Needs root.  Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, BADFRAMES, PROBE (paths),
# optionally SBX_DEFAULT_STATE_DIR (the embedded daemon's state dir) and
# E2E_SYSCALL_MODE (off, trap or rewrite: the daemon's default mode).
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
# Host ids for the sandboxes' user namespaces, private to this suite (suite.sh says why).
SUBID_BASE=$((1342177280 + ($$ % 128) * 65536 * 64))
echo "sandboxd:$SUBID_BASE:4194304" >"$T/subuid"
cp "$T/subuid" "$T/subgid"
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

# shellcheck source=tests/integration/run-e2e-lib.sh
. "$(dirname "$0")/run-e2e-lib.sh"
# shellcheck source=tests/integration/run-e2e-guest.sh
. "$(dirname "$0")/run-e2e-guest.sh"
# shellcheck source=tests/integration/run-e2e-host.sh
. "$(dirname "$0")/run-e2e-host.sh"

# ---- Exit statuses: one runner, one table ------------------------------------

# Images that are not images, under $T: random bytes, empty; and an empty
# directory, a root of its own (run DIR) that has no /bin/true.
make_bad_images() {
    head -c 4194304 /dev/urandom >"$T/random.img"
    : >"$T/empty.img"
    mkdir -p "$T/a-directory"
}

# run_status STATUS CHECK IMAGE ARGV...: runs ARGV in IMAGE ($IMG for "-",
# else a file under $T) and expects STATUS; CHECK "one-line" also expects
# sandboxctl's single line on stderr, "silent" an empty stdout.
run_status() {
    local status=$1 check=$2 image=$3
    shift 3
    [ "$image" = - ] && image=$IMG || image=$T/$image
    ctl "$image" "$@"
    expect_rc "$status" || return 1
    case $check in
    one-line) expect_one_line_err ;;
    silent) expect_out '' ;;
    esac
}

# status|check|image|what|argv (words split on spaces)
STATUS_CASES=(
    "0|silent|-|exit status 0 (/bin/true)|/bin/true"
    "0|-|-|exitwith 0 exits with 0|/sbx/exitwith 0"
    "1|-|-|exitwith 1 exits with 1|/sbx/exitwith 1"
    "7|-|-|exitwith 7 exits with 7|/sbx/exitwith 7"
    "255|-|-|exitwith 255 exits with 255|/sbx/exitwith 255"
    "137|-|-|death by SIGKILL exits 137|/sbx/exitwith -s 9"
    "143|-|-|death by SIGTERM exits 143|/sbx/exitwith -s 15"
    "129|-|-|death by SIGHUP exits 129|/sbx/exitwith -s HUP"
    "125|one-line|random.img|125 for an image that is not ext4|/bin/true"
    "125|one-line|empty.img|125 for an empty image file|/bin/true"
    "127|one-line|a-directory|127 for an empty directory as the root|/bin/true"
    "125|one-line|no-such-image.ext4|125 for a nonexistent image path|/bin/true"
    "126|one-line|-|126 for a non-executable file (/etc/sbx-image)|/etc/sbx-image"
    "126|one-line|-|126 for a directory as command (/etc)|/etc"
    "127|one-line|-|127 for a missing program (/no/such/program)|/no/such/program"
    "127|one-line|-|127 for a missing program in an existing directory|/bin/no-such-program"
    "127|one-line|-|127 for a command without a slash that is not in PATH|no-such-command-e2e"
)

# ---- Seccomp probes: one runner (probe_syscall), one table ---------------------

# probe|answer|what the baseline policy does
PROBE_CASES=(
    "mount|errno=EPERM|mount fails with EPERM"
    "unshare-mnt|errno=EPERM|unshare(CLONE_NEWUSER|CLONE_NEWNS) fails with EPERM"
    "unshare-user|errno=EPERM|unshare(CLONE_NEWUSER) fails with EPERM"
    "unshare-files|ok|unshare(CLONE_FILES) works"
    "bpf|errno=EPERM|bpf fails with EPERM"
    "io_uring|errno=EPERM|io_uring_setup fails with EPERM"
    "keyctl|errno=EPERM|keyctl fails with EPERM"
    "perf_event_open|errno=EPERM|perf_event_open fails with EPERM"
    "userfaultfd|errno=EPERM|userfaultfd fails with EPERM"
    "tiocsti|errno=EPERM|ioctl TIOCSTI fails with EPERM"
    "clone3|errno=ENOSYS|clone3 fails with ENOSYS"
    "netlink-uevent|errno=EPROTONOSUPPORT|a NETLINK_KOBJECT_UEVENT socket fails with EPROTONOSUPPORT"
    "netlink-route|ok|a NETLINK_ROUTE socket works"
)

# ============================================================================== main

cp "$TEST_IMAGE" "$IMG"
image_sum=$(sha256sum <"$IMG")
loops_before=$(losetup -a -n -O NAME | sort)
cgroups_before=$(cgroup_dirs)
init_before=$(sbx_init_pids)
make_bad_images
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
for case in "${STATUS_CASES[@]}"; do
    IFS="|" read -r status check image what argv <<<"$case"
    read -ra words <<<"$argv"
    t "$what" run_status "$status" "$check" "$image" "${words[@]}"
done
t "sh -c 'echo hi; exit 7' prints hi and exits 7" test_exit_7_shell
t "a shell that kills itself with -9 exits 137" test_signal_shell_kills_itself
t "a command without a slash is found in the guest's PATH" test_path_lookup
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
for case in "${PROBE_CASES[@]}"; do
    IFS="|" read -r probe answer what <<<"$case"
    t "seccomp: $what" probe_syscall "$probe" "$answer"
done
# Socket families that reach past the sandbox's network namespace.  The host
# needs a vsock transport (a VM's) for the kernel to say yes without the filter.
if [ "$(host_probe vsock)" = ok ]; then
    t "seccomp: socket(AF_VSOCK) fails with EAFNOSUPPORT" probe_syscall vsock errno=EAFNOSUPPORT
else
    t "seccomp: socket(AF_VSOCK) fails # SKIP the host has no vsock transport" true
fi
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
