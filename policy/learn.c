/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing the policy a workload needs from what it did (see learn.h).  The
 * counts travel in the file itself, as comments of one fixed form above each
 * rule ("# learned: NAME N" or "# learned: NAME arg I = VALUE N"), so that a
 * later --learn on the same file merges into them and rewrites it whole.
 */
#include "policy/learn.h"

#include <errno.h>
#include <inttypes.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "policy/policy-internal.h"
#include "sbx/macro.h"

int sbx_learn_arg_of(uint32_t nr)
{
    switch (nr) {
    case SYS_socket:
    case SYS_socketpair:
    case SYS_clone:
    case SYS_prctl:
        return 0;
    case SYS_ioctl:
        return 1;
    default:
        return -1;
    }
}

/* ioctl's request is an unsigned int in the kernel: only 32 bits count. */
static uint64_t arg_value(uint32_t nr, uint64_t v)
{
    return nr == SYS_ioctl || nr == SYS_socket || nr == SYS_socketpair || nr == SYS_prctl
               ? (v & 0xffffffffu)
               : v;
}

static void add_value(struct sbx_learn_values *vs, uint64_t v, uint64_t n)
{
    for (unsigned i = 0; i < vs->count; i++)
        if (vs->v[i] == v) {
            vs->n[i] += n;
            return;
        }
    if (vs->count == SBX_LEARN_MAX_VALUES) {
        vs->many = true;
        return;
    }
    vs->v[vs->count] = v;
    vs->n[vs->count++] = n;
}

void sbx_learn_add(struct sbx_learn *l, uint32_t nr, const uint64_t args[6])
{
    if (nr >= SBX_LEARN_NSYSCALLS)
        return;
    l->calls[nr]++;
    int a = sbx_learn_arg_of(nr);
    if (a >= 0)
        add_value(&l->values[nr], arg_value(nr, args[a]), 1);
}

int sbx_learn_merge(struct sbx_learn *l, const char *text, struct sbx_error *e)
{
    unsigned found = 0, line = 0;
    for (const char *p = text; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        line++;
        const char *q = p + strspn(p, " \t");
        if (strncmp(q, "# learned:", 10) != 0) {
            unsigned runs;
            if (sscanf(q, "# runs: %u", &runs) == 1)
                l->runs += runs;
            continue;
        }
        char name[64];
        unsigned idx;
        uint64_t v, n;
        int nr;
        if (sscanf(q, "# learned: %63s arg %u = %" SCNi64 " %" SCNu64, name, &idx, &v, &n) == 4) {
            nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name);
            if (nr < 0 || nr >= SBX_LEARN_NSYSCALLS || sbx_learn_arg_of((uint32_t)nr) != (int)idx)
                goto bad;
            l->calls[nr] += n;
            add_value(&l->values[nr], v, n);
        } else if (sscanf(q, "# learned: %63s many %" SCNu64, name, &n) == 2 ||
                   sscanf(q, "# learned: %63s %" SCNu64, name, &n) == 2) {
            nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name);
            if (nr < 0 || nr >= SBX_LEARN_NSYSCALLS)
                goto bad;
            l->calls[nr] += n;
            /* A call allowed whole stays whole. */
            if (sbx_learn_arg_of((uint32_t)nr) >= 0)
                l->values[nr].many = true;
        } else {
            goto bad;
        }
        found++;
        continue;
    bad:
        return sbx_error_set(e, EINVAL, "line %u: a '# learned:' comment this version cannot read",
                             line);
    }
    if (!found) {
        return sbx_error_set(e, EINVAL, "no '# learned:' comments: not a policy --learn wrote");
    }
    return 0;
}

/*
 * What the trampoline itself calls in trap and rewrite mode (loading a
 * program, installing its filter and handler, virtualizing exec, recording
 * a trace): a learned policy allows these too, or the workload could not
 * even start under it.  rt_sigreturn is in the list since it is never
 * recorded (the trampoline lets it through from anywhere).
 */
static const int tramp_own[] = {
    SYS_close,      SYS_execveat,     SYS_exit_group,     SYS_fork,         SYS_fallocate,
    SYS_fcntl,      SYS_fstat,        SYS_fstatfs,        SYS_getpid,       SYS_getrandom,
    SYS_gettid,     SYS_madvise,      SYS_mmap,           SYS_mprotect,     SYS_mremap,
    SYS_munmap,     SYS_openat,       SYS_prctl,          SYS_pread64,      SYS_read,
    SYS_readlinkat, SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_seccomp,
    SYS_tgkill,     SYS_write,
};

static const char *name_of(int nr, char *buf, size_t len)
{
    return sbx_policy_syscall_name(nr, buf, len);
}

int sbx_learn_write(const struct sbx_learn *l, const char *name, FILE *f)
{
    uint64_t total = 0;
    unsigned used = 0;
    for (unsigned nr = 0; nr < SBX_LEARN_NSYSCALLS; nr++) {
        total += l->calls[nr];
        used += l->calls[nr] != 0;
    }
    fprintf(f,
            "# Written by sandboxctl run --learn: the syscalls the workload made, one rule\n"
            "# each, or one per argument value while a few values were seen.  The\n"
            "# '# learned:' comments hold the counts; --learn on this file adds to them.\n"
            "# runs: %u\n"
            "# %" PRIu64 " calls of %u syscalls\n"
            "name: %s\n"
            "syscalls:\n"
            "  default: errno EPERM\n"
            "  baseline: default\n"
            "  rules:\n",
            l->runs, total, used, name);
    char nb[64];
    for (unsigned nr = 0; nr < SBX_LEARN_NSYSCALLS; nr++) {
        if (!l->calls[nr])
            continue;
        name_of((int)nr, nb, sizeof(nb));
        const struct sbx_learn_values *vs = &l->values[nr];
        int a = sbx_learn_arg_of(nr);
        /* What the baseline always denies failed for the workload too: no rule may allow it. */
        if (sbx_baseline_scope((int)nr) == SBX_BASELINE_ALWAYS) {
            fprintf(f, "    # learned: %s %s%" PRIu64 "\n", nb, a >= 0 ? "many " : "",
                    l->calls[nr]);
            fprintf(f, "    # (denied by the baseline: no rule can allow it)\n");
            continue;
        }
        if (a < 0 || vs->many || vs->count == 0) {
            fprintf(f, "    # learned: %s %s%" PRIu64 "\n", nb, a >= 0 ? "many " : "",
                    l->calls[nr]);
            fprintf(f, "    - { action: allow, syscalls: [%s] }\n", nb);
            continue;
        }
        for (unsigned i = 0; i < vs->count; i++) {
            fprintf(f, "    # learned: %s arg %d = %#" PRIx64 " %" PRIu64 "\n", nb, a, vs->v[i],
                    vs->n[i]);
            if (nr == SYS_ioctl)
                fprintf(f,
                        "    - { action: allow, syscalls: [%s], args: [{ index: %d, op: masked_eq, "
                        "mask: 0xffffffff, value: %#" PRIx64 " }] }\n",
                        nb, a, vs->v[i]);
            else
                fprintf(f,
                        "    - { action: allow, syscalls: [%s], args: [{ index: %d, op: eq, "
                        "value: %#" PRIx64 " }] }\n",
                        nb, a, vs->v[i]);
        }
    }
    /*
     * A prctl the workload made is learned per operation: the trampoline's
     * own (after an exec inside the sandbox it asks PR_GET_SECCOMP whether
     * its filter runs, then sets the exec's name and memory map) are added
     * when the workload's rules do not already allow every operation.
     */
    const struct sbx_learn_values *pv = &l->values[SYS_prctl];
    if (l->calls[SYS_prctl] && !pv->many && pv->count > 0) {
        static const unsigned tramp_prctl[] = { PR_SET_NAME, PR_GET_SECCOMP, PR_SET_MM };
        for (size_t i = 0; i < ARRAY_SIZE(tramp_prctl); i++) {
            bool seen = false;
            for (unsigned k = 0; k < pv->count; k++)
                seen |= pv->v[k] == tramp_prctl[i];
            if (!seen)
                fprintf(f,
                        "    # The trampoline's own prctl.\n"
                        "    - { action: allow, syscalls: [prctl], args: [{ index: 0, op: eq, "
                        "value: %#x }] }\n",
                        tramp_prctl[i]);
        }
    }
    bool first = true;
    for (size_t i = 0; i < ARRAY_SIZE(tramp_own); i++) {
        if (l->calls[tramp_own[i]])
            continue;
        fprintf(f, "%s%s",
                first ? "    # The trampoline's own calls (trap and rewrite mode).\n"
                        "    - action: allow\n      syscalls: ["
                      : ", ",
                name_of(tramp_own[i], nb, sizeof(nb)));
        first = false;
    }
    if (!first)
        fprintf(f, "]\n");
    return ferror(f) ? -EIO : 0;
}
