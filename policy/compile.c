/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy -> classic BPF.  libseccomp compiles the baseline and the policy's
 * own rules as two programs; this file chains them into one.
 */
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "policy/policy-internal.h"

struct bpf_prog {
    struct sock_filter *insns;
    size_t n;
};

static void bpf_prog_done(struct bpf_prog *p)
{
    free(p->insns);
    p->insns = NULL;
    p->n = 0;
}

static void scmp_releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

static uint32_t scmp_action(const struct sbx_action *a)
{
    switch (a->kind) {
    case SBX_ACT_ALLOW:
    case SBX_ACT_TRACE: /* The trampoline records these; the kernel lets them through. */
        return SCMP_ACT_ALLOW;
    case SBX_ACT_ERRNO:
        return SCMP_ACT_ERRNO((uint16_t)a->err);
    case SBX_ACT_KILL:
        /* Killed by sandboxd, which so learns the call's name (include/sbx/notify.h). */
        return SCMP_ACT_NOTIFY;
    case SBX_ACT_LOG:
        return SCMP_ACT_LOG;
    case SBX_ACT_TRAP:
        return SCMP_ACT_TRAP;
    }
    return SCMP_ACT_KILL_PROCESS;
}

static enum scmp_compare scmp_op(enum sbx_cmp_op op)
{
    switch (op) {
    case SBX_CMP_EQ:
        return SCMP_CMP_EQ;
    case SBX_CMP_NE:
        return SCMP_CMP_NE;
    case SBX_CMP_LT:
        return SCMP_CMP_LT;
    case SBX_CMP_LE:
        return SCMP_CMP_LE;
    case SBX_CMP_GT:
        return SCMP_CMP_GT;
    case SBX_CMP_GE:
        return SCMP_CMP_GE;
    case SBX_CMP_MASKED_EQ:
        return SCMP_CMP_MASKED_EQ;
    }
    return _SCMP_CMP_MIN;
}

/* A context for native x86-64 only; any other ABI (i386, x32) kills the process. */
static int new_ctx(uint32_t def_action, scmp_filter_ctx *ret)
{
    _cleanup_(scmp_releasep) scmp_filter_ctx ctx = seccomp_init(def_action);
    if (!ctx)
        return -ENOMEM;
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (r < 0)
        return r;
    /* The program goes to a memfd, never loaded here: nothing to do with NNP. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (r < 0)
        return r;
    /*
     * A binary search on the syscall number rather than a chain of compares:
     * the kernel runs the program once per syscall number when it installs
     * it (to find the ones it may allow without running it), so a chain
     * costs that length times every number, hundreds of microseconds at
     * each start, and a passthrough call that is not cached walks it too.
     */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(ctx);
    return 0;
}

static int add_policy_rules(scmp_filter_ctx ctx, const struct sbx_policy *p, uint32_t def)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct sbx_rule *rule = &p->rules[i];
        uint32_t act = scmp_action(&rule->action);
        /* libseccomp refuses a rule that repeats the default, and such a rule changes nothing. */
        if (act == def)
            continue;
        struct scmp_arg_cmp cmps[6];
        if (rule->n_args > ARRAY_SIZE(cmps))
            return -EINVAL;
        for (size_t a = 0; a < rule->n_args; a++) {
            const struct sbx_arg_cond *c = &rule->args[a];
            cmps[a] = (struct scmp_arg_cmp){ .arg = c->index, .op = scmp_op(c->op) };
            if (c->op == SBX_CMP_MASKED_EQ) {
                cmps[a].datum_a = c->mask;
                cmps[a].datum_b = c->value;
            } else {
                cmps[a].datum_a = c->value;
            }
        }
        for (size_t s = 0; s < rule->n_syscalls; s++) {
            int r = seccomp_rule_add_exact_array(ctx, act, rule->syscalls[s],
                                                 (unsigned)rule->n_args, cmps);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* libseccomp 2.5 only exports to an fd; take the program back through a memfd. */
static int export_to_mem(scmp_filter_ctx ctx, struct bpf_prog *ret)
{
    _cleanup_close_ int fd = memfd_create("sbx-bpf", MFD_CLOEXEC);
    if (fd < 0)
        return sbx_neg_errno();
    int r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return r;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sbx_neg_errno();
    size_t size = (size_t)st.st_size;
    if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
        size / sizeof(struct sock_filter) > SBX_BPF_MAX_INSNS)
        return -E2BIG;
    _cleanup_free_ struct sock_filter *insns = malloc(size);
    if (!insns)
        return -ENOMEM;
    for (size_t off = 0; off < size;) {
        ssize_t n = pread(fd, (char *)insns + off, size - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? sbx_neg_errno() : -EIO;
        off += (size_t)n;
    }
    ret->insns = TAKE_PTR(insns);
    ret->n = size / sizeof(struct sock_filter);
    return 0;
}

static int compile_baseline(const struct sbx_baseline_opts *o, struct bpf_prog *ret)
{
    _cleanup_(scmp_releasep) scmp_filter_ctx ctx = NULL;
    int r = new_ctx(SCMP_ACT_ALLOW, &ctx);
    if (r < 0)
        return r;
    r = sbx_baseline_add_rules(ctx, o);
    if (r < 0)
        return r;
    return export_to_mem(ctx, ret);
}

static int compile_rules(const struct sbx_policy *p, struct bpf_prog *ret)
{
    _cleanup_(scmp_releasep) scmp_filter_ctx ctx = NULL;
    uint32_t def = scmp_action(&p->default_action);
    int r = new_ctx(def, &ctx);
    if (r < 0)
        return r;
    r = add_policy_rules(ctx, p, def);
    if (r < 0)
        return r;
    return export_to_mem(ctx, ret);
}

/*
 * Appends second behind first: every "return ALLOW" of first becomes a
 * jump to second's first instruction.  Jumps in classic BPF are relative
 * and second is appended whole, so no other instruction changes.  The
 * result denies what first denies and otherwise does what second does.
 */
static int chain(struct bpf_prog *first, const struct bpf_prog *second)
{
    size_t n = first->n + second->n;
    if (n > SBX_BPF_MAX_INSNS)
        return -E2BIG;
    struct sock_filter *insns = realloc(first->insns, n * sizeof(*insns));
    if (!insns)
        return -ENOMEM;
    first->insns = insns;
    for (size_t i = 0; i < first->n; i++) {
        struct sock_filter *f = &insns[i];
        if (BPF_CLASS(f->code) != BPF_RET)
            continue;
        /* libseccomp returns constants only; anything else would escape the rewrite. */
        if (BPF_RVAL(f->code) != BPF_K)
            return -EINVAL;
        if ((f->k & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_ALLOW)
            continue;
        *f = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, (uint32_t)(first->n - i - 1), 0, 0);
    }
    memcpy(insns + first->n, second->insns, second->n * sizeof(*insns));
    first->n = n;
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const char *)buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sbx_neg_errno();
        off += (size_t)n;
    }
    return 0;
}

/* Whether something the guest writes outlives the sandbox: a writable bind or image. */
static bool writes_persist(const struct sbx_policy *p)
{
    if (p->writable_image)
        return true;
    for (size_t i = 0; i < p->n_mounts; i++)
        if (p->mounts[i].type == SBX_MOUNT_BIND && !p->mounts[i].readonly)
            return true;
    return false;
}

/*
 * Capabilities with which a guest of other ids still makes a set-id-root
 * file: it takes uid or gid 0, sets the bits on a file root owns, or gives
 * its own file to group 0 (CAP_CHOWN) and keeps a set-group-ID bit for a
 * group it is not in (CAP_FSETID).
 */
#define ROOT_FILE_CAPS                                                                             \
    ((1ull << CAP_SETUID) | (1ull << CAP_SETGID) | (1ull << CAP_FOWNER) | (1ull << CAP_CHOWN) |    \
     (1ull << CAP_FSETID))

/*
 * The baseline for one sandbox.  Without user namespaces guest ids are host
 * ids, so a guest holding id 0 that can write where files persist could leave
 * a set-id-root program for the host (it does nothing inside: every mount is
 * nosuid and no_new_privs is set).  Where writes vanish with the sandbox, set-id
 * bits stay allowed: package managers set them in the overlay.
 */
static struct sbx_baseline_opts baseline_opts(const struct sbx_policy *p, unsigned flags)
{
    bool root = (flags & SBX_POLICY_GUEST_ROOT) || (p->caps_keep & ROOT_FILE_CAPS);
    return (struct sbx_baseline_opts){
        .own_network = p->network == SBX_NET_NONE,
        .no_setid = root && writes_persist(p),
    };
}

static int build(const struct sbx_policy *p, const struct sbx_baseline_opts *o,
                 struct bpf_prog *ret)
{
    _cleanup_(bpf_prog_done) struct bpf_prog prog = { 0 };
    int r;
    bool trivial = p->n_rules == 0 && p->default_action.kind == SBX_ACT_ALLOW;
    if (p->baseline) {
        r = compile_baseline(o, &prog);
        if (r < 0)
            return r;
        /* Default allow and no rules: the baseline alone says it all. */
        if (!trivial) {
            _cleanup_(bpf_prog_done) struct bpf_prog rules = { 0 };
            r = compile_rules(p, &rules);
            if (r < 0)
                return r;
            r = chain(&prog, &rules);
            if (r < 0)
                return r;
        }
    } else {
        r = compile_rules(p, &prog);
        if (r < 0)
            return r;
    }
    *ret = prog;
    prog = (struct bpf_prog){ 0 };
    return 0;
}

int sbx_policy_compiled_size(const struct sbx_policy *p, size_t *ret_insns)
{
    /* The parser checks the size before it has read the network and the mounts. */
    const struct sbx_baseline_opts all = { .own_network = true, .no_setid = true };
    _cleanup_(bpf_prog_done) struct bpf_prog prog = { 0 };
    int r = build(p, &all, &prog);
    if (r < 0)
        return r;
    /* The trampoline's prefix goes in front of it in trap and rewrite mode. */
    if (prog.n > SBX_POLICY_MAX_INSNS)
        return -E2BIG;
    *ret_insns = prog.n;
    return 0;
}

int sbx_policy_export_bpf(const struct sbx_policy *p, unsigned flags, int fd)
{
    if (!p || fd < 0 || (flags & ~(unsigned)SBX_POLICY_GUEST_ROOT))
        return -EINVAL;
    const struct sbx_baseline_opts o = baseline_opts(p, flags);
    _cleanup_(bpf_prog_done) struct bpf_prog prog = { 0 };
    int r = build(p, &o, &prog);
    if (r < 0)
        return r;
    return write_all(fd, prog.insns, prog.n * sizeof(*prog.insns));
}
