/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The built-in deny list: syscalls no workload needs and sandbox escapes use,
 * the socket families that reach past a sandbox's own network namespace, and
 * set-id files where they would outlive the sandbox.  Compiled as a program
 * of its own that runs before the policy's rules, so no rule can weaken it.
 */
#include <asm/unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "policy/policy-internal.h"

/* Every namespace bit clone() accepts; CLONE_NEWTIME shares its bit with the exit signal there. */
static const uint64_t clone_ns_bits[] = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

/* Denied in every call, with the errno the caller sees. */
static const struct {
    int nr;
    int err;
} always_denied[] = {
    { __NR_io_uring_setup, EPERM },
    { __NR_io_uring_enter, EPERM },
    { __NR_io_uring_register, EPERM },
    { __NR_bpf, EPERM },
    { __NR_perf_event_open, EPERM },
    { __NR_userfaultfd, EPERM },
    { __NR_keyctl, EPERM },
    { __NR_add_key, EPERM },
    { __NR_request_key, EPERM },
    { __NR_kexec_load, EPERM },
    { __NR_kexec_file_load, EPERM },
    { __NR_init_module, EPERM },
    { __NR_finit_module, EPERM },
    { __NR_delete_module, EPERM },
    { __NR_mount, EPERM },
    { __NR_umount2, EPERM },
    { __NR_pivot_root, EPERM },
    { __NR_move_mount, EPERM },
    { __NR_fsopen, EPERM },
    { __NR_fsconfig, EPERM },
    { __NR_fsmount, EPERM },
    { __NR_fspick, EPERM },
    { __NR_open_tree, EPERM },
    { __NR_mount_setattr, EPERM },
    { __NR_setns, EPERM },
    /* clone3's flags sit behind a pointer the filter cannot read; glibc falls back to clone. */
    { __NR_clone3, ENOSYS },
    { __NR_open_by_handle_at, EPERM },
    { __NR_name_to_handle_at, EPERM },
    { __NR_acct, EPERM },
    { __NR_swapon, EPERM },
    { __NR_swapoff, EPERM },
    { __NR_reboot, EPERM },
    { __NR_syslog, EPERM },
    { __NR_vhangup, EPERM },
    { __NR_iopl, EPERM },
    { __NR_ioperm, EPERM },
    { __NR_quotactl, EPERM },
    { __NR_quotactl_fd, EPERM },
    { __NR_lookup_dcookie, EPERM },
    { __NR_nfsservctl, EPERM },
    { __NR_uselib, EPERM },
    { __NR_settimeofday, EPERM },
    { __NR_clock_settime, EPERM },
    { __NR_clock_adjtime, EPERM },
    { __NR_adjtimex, EPERM },
    { __NR_fanotify_init, EPERM },
    /* Reclaim hints for other processes: memory managers use it, workloads do not. */
    { __NR_process_madvise, EPERM },
};

/* Older C library headers lack it; the number is the same on every architecture. */
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

/*
 * The socket families a sandbox without the host's network keeps: the ones
 * that live inside a network namespace and that ordinary programs use (ip
 * and ifconfig speak NETLINK_ROUTE; AF_PACKET needs CAP_NET_RAW besides).
 * Every other family fails as if the kernel had none of it.  AF_VSOCK
 * reaches the hypervisor and AF_BLUETOOTH the host's radios whatever the
 * namespace, AF_ALG is the kernel's crypto code, and the rest have nothing
 * to talk to in a namespace that holds only lo, yet each is kernel code that
 * a socket() call may load as a module.  A list of what stays, so that a
 * family a later kernel adds is refused as well.  Sorted; the last is the
 * largest.
 */
static const int kept_families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET };

/*
 * Where a set-id bit reaches a file: the mode of the chmod calls and of the
 * calls that create one.  flags_arg names the open flags for the calls whose
 * mode counts only when they create (O_CREAT or O_TMPFILE); the kernel
 * ignores it otherwise, and callers leave anything there.  mkdir and mkdirat
 * need no rule: the kernel drops both bits there itself.  openat2 passes its
 * mode behind a pointer and is refused whole (see sbx_baseline_add_rules).
 */
static const struct {
    int nr;
    unsigned mode_arg;
    int flags_arg; /* -1: the call always uses its mode */
} mode_calls[] = {
    { __NR_chmod, 1, -1 },     { __NR_fchmod, 1, -1 }, { __NR_fchmodat, 2, -1 },
    { __NR_fchmodat2, 2, -1 }, { __NR_creat, 1, -1 },  { __NR_mknod, 1, -1 },
    { __NR_mknodat, 2, -1 },   { __NR_open, 2, 1 },    { __NR_openat, 3, 2 },
};

/* O_TMPFILE includes O_DIRECTORY; the kernel creates on this bit alone. */
#define TMPFILE_BIT (O_TMPFILE & ~O_DIRECTORY)

/* Denied only for some argument values or in some sandboxes; see sbx_baseline_add_rules. */
static const int some_args_denied[] = {
    __NR_clone,       __NR_unshare, __NR_ptrace,     __NR_ioctl,
    __NR_personality, __NR_socket,  __NR_socketpair, __NR_openat2,
};

enum sbx_baseline_scope sbx_baseline_scope(int nr)
{
    for (size_t i = 0; i < ARRAY_SIZE(always_denied); i++)
        if (always_denied[i].nr == nr)
            return SBX_BASELINE_ALWAYS;
    for (size_t i = 0; i < ARRAY_SIZE(some_args_denied); i++)
        if (some_args_denied[i] == nr)
            return SBX_BASELINE_SOME_ARGS;
    for (size_t i = 0; i < ARRAY_SIZE(mode_calls); i++)
        if (mode_calls[i].nr == nr)
            return SBX_BASELINE_SOME_ARGS;
    return SBX_BASELINE_NONE;
}

static struct scmp_arg_cmp masked(unsigned arg, uint64_t mask, uint64_t value)
{
    return (struct scmp_arg_cmp){
        .arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = value
    };
}

static int deny_if(scmp_filter_ctx ctx, int nr, unsigned arg, uint64_t mask, uint64_t value)
{
    struct scmp_arg_cmp cmp = masked(arg, mask, value);
    return seccomp_rule_add_exact_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &cmp);
}

static bool family_kept(uint64_t family)
{
    for (size_t i = 0; i < ARRAY_SIZE(kept_families); i++)
        if ((uint64_t)kept_families[i] == family)
            return true;
    return false;
}

/*
 * EAFNOSUPPORT, as from a kernel built without the family: programs read it
 * as "not here" and take their fallback, where EPERM reads as a missing
 * privilege and is often fatal.
 */
static int add_family_rules(scmp_filter_ctx ctx, int nr)
{
    const uint64_t last = (uint64_t)kept_families[ARRAY_SIZE(kept_families) - 1];
    /*
     * The kernel reads the family as an int, but the comparisons are on all 64
     * bits: a value with anything in the high half is above the last kept
     * family and refused, never let through as the family of its low half.
     */
    struct scmp_arg_cmp cmp = { .arg = 0, .op = SCMP_CMP_GT, .datum_a = last };
    int r = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, 1, &cmp);
    for (uint64_t f = 0; r >= 0 && f < last; f++) {
        if (family_kept(f))
            continue;
        cmp = (struct scmp_arg_cmp){ .arg = 0, .op = SCMP_CMP_EQ, .datum_a = f };
        r = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, 1, &cmp);
    }
    return r;
}

/*
 * The host's device events: the kernel sends them to the uevent sockets of
 * every network namespace that the host's user namespace owns, a sandbox's
 * too.  EPROTONOSUPPORT, as for a netlink protocol the kernel lacks.
 */
static int add_uevent_rule(scmp_filter_ctx ctx)
{
    struct scmp_arg_cmp cmps[] = {
        { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_NETLINK },
        masked(2, 0xffffffffu, NETLINK_KOBJECT_UEVENT), /* an int in the kernel */
    };
    return seccomp_rule_add_exact_array(ctx, SCMP_ACT_ERRNO(EPROTONOSUPPORT), __NR_socket,
                                        ARRAY_SIZE(cmps), cmps);
}

/* EPERM, as the kernel answers a caller that may not set a bit. */
static int add_setid_rules(scmp_filter_ctx ctx)
{
    static const uint64_t setid_bits[] = { S_ISUID, S_ISGID };
    static const uint64_t create_bits[] = { O_CREAT, TMPFILE_BIT };
    int r = 0;
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(mode_calls); i++) {
        for (size_t b = 0; r >= 0 && b < ARRAY_SIZE(setid_bits); b++) {
            struct scmp_arg_cmp cmps[2] = { masked(mode_calls[i].mode_arg, setid_bits[b],
                                                   setid_bits[b]) };
            if (mode_calls[i].flags_arg < 0) {
                r = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ERRNO(EPERM), mode_calls[i].nr, 1,
                                                 cmps);
                continue;
            }
            for (size_t c = 0; r >= 0 && c < ARRAY_SIZE(create_bits); c++) {
                cmps[1] = masked((unsigned)mode_calls[i].flags_arg, create_bits[c], create_bits[c]);
                r = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ERRNO(EPERM), mode_calls[i].nr, 2,
                                                 cmps);
            }
        }
    }
    /*
     * openat2's mode sits behind a pointer.  Its callers fall back to openat
     * on ENOSYS, as they must on kernels before 5.6.
     */
    if (r >= 0)
        r = seccomp_rule_add_exact(ctx, SCMP_ACT_ERRNO(ENOSYS), __NR_openat2, 0);
    return r;
}

int sbx_baseline_add_rules(void *scmp_ctx, const struct sbx_baseline_opts *o)
{
    scmp_filter_ctx ctx = scmp_ctx;
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(always_denied); i++) {
        r = seccomp_rule_add_exact(ctx, SCMP_ACT_ERRNO(always_denied[i].err), always_denied[i].nr,
                                   0);
        if (r < 0)
            return r;
    }

    /* A new namespace of any kind, one rule per bit: each rule is "this bit is set". */
    for (size_t i = 0; i < ARRAY_SIZE(clone_ns_bits); i++) {
        r = deny_if(ctx, __NR_clone, 0, clone_ns_bits[i], clone_ns_bits[i]);
        if (r < 0)
            return r;
        r = deny_if(ctx, __NR_unshare, 0, clone_ns_bits[i], clone_ns_bits[i]);
        if (r < 0)
            return r;
    }
    r = deny_if(ctx, __NR_unshare, 0, CLONE_NEWTIME, CLONE_NEWTIME);
    if (r < 0)
        return r;

    /*
     * ptrace's request is a long in the kernel, so all 64 bits count.  Only
     * attaching to a process that is not a child is the escape; debugging
     * one's own children (PTRACE_TRACEME, requests on a tracee) stays.
     */
    r = deny_if(ctx, __NR_ptrace, 0, UINT64_MAX, PTRACE_ATTACH);
    if (r < 0)
        return r;
    r = deny_if(ctx, __NR_ptrace, 0, UINT64_MAX, PTRACE_SEIZE);
    if (r < 0)
        return r;

    /*
     * The kernel reads an ioctl command as an unsigned int: compare the low
     * 32 bits only, or a command with garbage in the high half slips past.
     */
    r = deny_if(ctx, __NR_ioctl, 1, 0xffffffffu, TIOCSTI);
    if (r < 0)
        return r;
    r = deny_if(ctx, __NR_ioctl, 1, 0xffffffffu, TIOCLINUX);
    if (r < 0)
        return r;

    /*
     * personality(2) takes an unsigned int; only PER_LINUX (0) and the query
     * 0xffffffff pass, so the low 32 bits must be all clear or all set.
     * libseccomp allows one comparison per argument in a rule, so "neither"
     * is spelled as a union: a 32-bit word is neither all clear nor all set
     * exactly when, going round it, some bit is set and the next one is
     * clear.  32 one-comparison rules say that.
     */
    for (unsigned bit = 0; bit < 32; bit++) {
        uint64_t set = 1ull << bit, clear = 1ull << ((bit + 1) % 32);
        r = deny_if(ctx, __NR_personality, 0, set | clear, set);
        if (r < 0)
            return r;
    }

    if (o->own_network &&
        ((r = add_family_rules(ctx, __NR_socket)) < 0 ||
         (r = add_family_rules(ctx, __NR_socketpair)) < 0 || (r = add_uevent_rule(ctx)) < 0))
        return r;
    if (o->no_setid)
        return add_setid_rules(ctx);
    return 0;
}
