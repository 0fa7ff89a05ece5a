/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The 'syscalls' section of a policy: mode, default action, baseline and
 * rules with argument conditions, checked against each other and against
 * the baseline.
 */
#include <errno.h>
#include <seccomp.h>
#include <string.h>

#include "policy/parse.h"

/* Every x86-64 syscall name libseccomp knows, for "did you mean". */
static const char *suggest_syscall(const char *name, char *buf, size_t size)
{
    char *names[512];
    size_t n = 0;
    for (int nr = 0; nr < 512; nr++) {
        char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
        if (s)
            names[n++] = s;
    }
    const char *hint = sbx_suggest(name, (const char *const *)names, n);
    if (hint)
        snprintf(buf, size, "%s", hint);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return hint ? buf : NULL;
}

static bool parse_errno_value(struct sbx_pctx *c, const struct sbx_ynode *n, const char *arg,
                              int *ret)
{
    uint64_t v;
    if (arg[0] >= '0' && arg[0] <= '9') {
        if (sbx_parse_dec(arg, &v) < 0 || v < 1 || v > 4095) {
            sbx_pctx_report(c, n->line, n->col, "errno value '%s' is out of range (1 to 4095)",
                            arg);
            return false;
        }
        *ret = (int)v;
        return true;
    }
    int e = sbx_errno_from_name(arg);
    if (e > 0) {
        *ret = e;
        return true;
    }
    const char *names[160];
    size_t nn = sbx_errno_names(names, ARRAY_SIZE(names));
    const char *hint = sbx_suggest(arg, names, nn);
    if (hint)
        sbx_pctx_report(c, n->line, n->col, "unknown errno name '%s' (did you mean '%s'?)", arg,
                        hint);
    else
        sbx_pctx_report(c, n->line, n->col, "unknown errno name '%s'", arg);
    return false;
}

/* "allow", "kill", "log", "trap", "trace" or "errno NAME|N". */
static bool parse_action(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key,
                         bool is_default, struct sbx_action *ret)
{
    static const char *const words[] = { "allow", "errno", "kill", "log", "trap", "trace" };
    static const enum sbx_action_kind kinds[] = { SBX_ACT_ALLOW, SBX_ACT_ERRNO, SBX_ACT_KILL,
                                                  SBX_ACT_LOG,   SBX_ACT_TRAP,  SBX_ACT_TRACE };
    const char *s = sbx_pctx_scalar(c, n, "an action", key);
    if (!s)
        return false;
    char word[16];
    size_t wlen = strcspn(s, " \t");
    const char *arg = s + wlen + strspn(s + wlen, " \t");
    size_t i = ARRAY_SIZE(words);
    if (wlen < sizeof(word)) {
        memcpy(word, s, wlen);
        word[wlen] = '\0';
        for (i = 0; i < ARRAY_SIZE(words) && strcmp(word, words[i]) != 0; i++)
            ;
    }
    if (i == ARRAY_SIZE(words)) {
        const char *hint = wlen < sizeof(word) ? sbx_suggest(word, words, ARRAY_SIZE(words)) : NULL;
        if (hint)
            sbx_pctx_report(c, n->line, n->col, "unknown action '%s' (did you mean '%s'?)", s,
                            hint);
        else
            sbx_pctx_report(c, n->line, n->col,
                            "unknown action '%s' (expected allow, errno NAME, kill, log, trap "
                            "or trace)",
                            s);
        return false;
    }
    *ret = (struct sbx_action){ .kind = kinds[i] };
    if (kinds[i] == SBX_ACT_ERRNO) {
        if (!*arg) {
            sbx_pctx_report(c, n->line, n->col,
                            "'errno' needs an errno name or number, as in 'errno EPERM'");
            return false;
        }
        if (strpbrk(arg, " \t")) {
            sbx_pctx_report(c, n->line, n->col, "unexpected text after the errno in '%s'", s);
            return false;
        }
        return parse_errno_value(c, n, arg, &ret->err);
    }
    if (*arg) {
        sbx_pctx_report(c, n->line, n->col, "action '%s' takes no argument", word);
        return false;
    }
    if (is_default && kinds[i] == SBX_ACT_TRACE) {
        sbx_pctx_report(c, n->line, n->col,
                        "'trace' cannot be the default action (list the syscalls to trace)");
        return false;
    }
    return true;
}

/*
 * One term of an argument value: a number (a negative one as its 64-bit
 * two's complement) or a constant.
 */
static bool parse_value_term(struct sbx_pctx *c, const struct sbx_ynode *n, const char *t,
                             uint64_t *ret)
{
    bool neg = t[0] == '-';
    const char *digits = neg ? t + 1 : t;
    if (digits[0] >= '0' && digits[0] <= '9') {
        uint64_t v;
        int r = sbx_parse_u64(digits, &v);
        if (r == -ERANGE || (r == 0 && neg && v > (1ull << 63))) {
            sbx_pctx_report(c, n->line, n->col, "number '%s' does not fit in 64 bits", t);
            return false;
        }
        if (r < 0) {
            sbx_pctx_report(c, n->line, n->col, "invalid number '%s'", t);
            return false;
        }
        *ret = neg ? (uint64_t)0 - v : v;
        return true;
    }
    if (sbx_constant_lookup(t, ret) == 0)
        return true;
    const char *hint = sbx_constant_suggest(t);
    if (hint)
        sbx_pctx_report(c, n->line, n->col, "unknown constant '%s' (did you mean '%s'?)", t, hint);
    else
        sbx_pctx_report(c, n->line, n->col, "unknown constant '%s'", t);
    return false;
}

/* A number, a constant, or several of them or-ed: "O_WRONLY | O_CREAT". */
static bool parse_value(struct sbx_pctx *c, const struct sbx_ynode *n, const char *key,
                        uint64_t *ret)
{
    const char *s = sbx_pctx_scalar(c, n, "a number or constant", key);
    if (!s)
        return false;
    uint64_t acc = 0;
    bool ok = true;
    for (const char *p = s;;) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, "|");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        char term[128];
        if (len == 0 || len >= sizeof(term)) {
            sbx_pctx_report(c, n->line, n->col, "invalid value '%s' for '%s'", s, key);
            return false;
        }
        memcpy(term, p, len);
        term[len] = '\0';
        uint64_t v;
        if (parse_value_term(c, n, term, &v))
            acc |= v;
        else
            ok = false;
        p += len;
        p += strspn(p, " \t");
        if (*p != '|')
            break;
        p++;
    }
    *ret = acc;
    return ok;
}

static bool parse_cond(struct sbx_pctx *c, const struct sbx_ynode *n, struct sbx_arg_cond *ret)
{
    static const char *const keys[] = { "index", "op", "value", "mask" };
    static const char *const ops[] = { "eq", "ne", "lt", "le", "gt", "ge", "masked_eq" };
    const struct sbx_ynode *v[ARRAY_SIZE(keys)];
    bool failed_before = c->failed;
    c->failed = false;
    if (sbx_pctx_fields(c, n, "an argument condition", keys, ARRAY_SIZE(keys), v)) {
        for (size_t i = 0; i < 3; i++)
            if (!v[i])
                sbx_pctx_report(c, n->line, n->col, "an argument condition needs '%s'", keys[i]);
        if (v[0]) {
            const char *s = sbx_pctx_scalar(c, v[0], "a number", "index");
            uint64_t idx;
            if (s && (sbx_parse_dec(s, &idx) < 0 || idx > 5))
                sbx_pctx_report(c, v[0]->line, v[0]->col,
                                "argument index '%s' is out of range (0 to 5)", s);
            else if (s)
                ret->index = (unsigned)idx;
        }
        int op = v[1] ? sbx_pctx_enum(c, v[1], "op", ops, ARRAY_SIZE(ops)) : -1;
        if (op >= 0)
            ret->op = (enum sbx_cmp_op)op;
        if (v[2])
            parse_value(c, v[2], "value", &ret->value);
        if (op == SBX_CMP_MASKED_EQ && !v[3])
            sbx_pctx_report(c, n->line, n->col, "op masked_eq needs a 'mask'");
        else if (op >= 0 && op != SBX_CMP_MASKED_EQ && v[3])
            sbx_pctx_report(c, v[3]->line, v[3]->col, "'mask' only applies to op masked_eq");
        else if (v[3])
            parse_value(c, v[3], "mask", &ret->mask);
    }
    bool ok = !c->failed;
    c->failed = c->failed || failed_before;
    return ok;
}

/*
 * Rules are compared pairwise; past this many syscall names the filter would
 * not fit the kernel's limit anyway, and the check must stay cheap for
 * policies that users hand to the daemon.
 */
#define MAX_SYSCALL_REFS 4096

/* Where each syscall of each rule was named, for cross-rule messages. */
struct syscall_ref {
    int nr;
    size_t rule;
    const struct sbx_ynode *node;
    bool ok; /* the whole rule parsed: only such rules are compared */
};

struct refs {
    struct syscall_ref *v;
    size_t n, cap;
    bool full; /* MAX_SYSCALL_REFS was reached and reported */
};

static bool refs_add(struct sbx_pctx *c, struct refs *r, int nr, size_t rule,
                     const struct sbx_ynode *node)
{
    if (r->n == MAX_SYSCALL_REFS) {
        if (!r->full)
            sbx_pctx_report(c, node->line, node->col, "the rules name more than %u syscalls in all",
                            MAX_SYSCALL_REFS);
        c->failed = r->full = true;
        return false;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct syscall_ref *v = reallocarray(r->v, cap, sizeof(*v));
        if (!v) {
            c->oom = c->failed = true;
            return false;
        }
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = (struct syscall_ref){ .nr = nr, .rule = rule, .node = node };
    return true;
}

static void parse_rule_syscalls(struct sbx_pctx *c, const struct sbx_ynode *n,
                                struct sbx_rule *rule, size_t idx, struct refs *refs)
{
    if (!sbx_pctx_kind(c, n, SBX_YNODE_SEQ, "syscalls"))
        return;
    if (n->n == 0) {
        sbx_pctx_report(c, n->line, n->col, "a rule needs at least one syscall");
        return;
    }
    rule->syscalls = calloc(n->n, sizeof(*rule->syscalls));
    if (!rule->syscalls) {
        c->oom = c->failed = true;
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct sbx_ynode *item = n->items[i];
        const char *name = sbx_pctx_scalar(c, item, "a syscall name", "syscalls");
        if (!name)
            continue;
        int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name);
        if (nr < 0) {
            char buf[64];
            const char *hint = suggest_syscall(name, buf, sizeof(buf));
            if (hint)
                sbx_pctx_report(c, item->line, item->col,
                                "unknown syscall '%s' (did you mean '%s'?)", name, hint);
            else
                sbx_pctx_report(c, item->line, item->col, "unknown syscall '%s'", name);
            continue;
        }
        rule->syscalls[rule->n_syscalls++] = nr;
        if (!refs_add(c, refs, nr, idx, item))
            return;
    }
}

static void parse_rule(struct sbx_pctx *c, const struct sbx_ynode *n, struct sbx_rule *rule,
                       size_t idx, struct refs *refs)
{
    static const char *const keys[] = { "action", "syscalls", "args" };
    const struct sbx_ynode *v[ARRAY_SIZE(keys)];
    rule->line = n->line;
    rule->col = n->col;
    if (!sbx_pctx_fields(c, n, "a rule", keys, ARRAY_SIZE(keys), v))
        return;
    if (!v[0])
        sbx_pctx_report(c, n->line, n->col, "a rule needs an 'action'");
    else
        parse_action(c, v[0], "action", false, &rule->action);
    if (!v[1])
        sbx_pctx_report(c, n->line, n->col, "a rule needs 'syscalls'");
    else
        parse_rule_syscalls(c, v[1], rule, idx, refs);
    if (!v[2] || !sbx_pctx_kind(c, v[2], SBX_YNODE_SEQ, "args") || v[2]->n == 0)
        return;
    if (v[2]->n > 6) {
        sbx_pctx_report(c, v[2]->line, v[2]->col, "a rule compares at most 6 arguments");
        return;
    }
    rule->args = calloc(v[2]->n, sizeof(*rule->args));
    if (!rule->args) {
        c->oom = c->failed = true;
        return;
    }
    for (size_t i = 0; i < v[2]->n; i++) {
        const struct sbx_ynode *cn = v[2]->items[i];
        struct sbx_arg_cond cond = { 0 };
        if (!parse_cond(c, cn, &cond))
            continue;
        bool twice = false;
        for (size_t j = 0; j < rule->n_args; j++)
            twice = twice || rule->args[j].index == cond.index;
        if (twice) {
            sbx_pctx_report(c, cn->line, cn->col,
                            "argument %u is compared twice in one rule (libseccomp allows one "
                            "comparison per argument; split the rule)",
                            cond.index);
            continue;
        }
        rule->args[rule->n_args++] = cond;
    }
}

static bool same_action(const struct sbx_action *a, const struct sbx_action *b)
{
    return a->kind == b->kind && (a->kind != SBX_ACT_ERRNO || a->err == b->err);
}

static bool same_conds(const struct sbx_rule *a, const struct sbx_rule *b)
{
    if (a->n_args != b->n_args)
        return false;
    for (size_t i = 0; i < a->n_args; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n_args && !found; j++)
            found = a->args[i].index == b->args[j].index && a->args[i].op == b->args[j].op &&
                    a->args[i].value == b->args[j].value && a->args[i].mask == b->args[j].mask;
        if (!found)
            return false;
    }
    return true;
}

/*
 * Rules against each other and against the baseline.  libseccomp lets an
 * unconditional rule silently replace every conditional rule of the same
 * syscall, and the baseline runs first, so both cases below would leave a
 * rule that never applies: errors, not surprises.
 */
static void check_rules(struct sbx_pctx *c, const struct refs *refs)
{
    const struct sbx_policy *p = c->p;
    for (size_t i = 0; i < refs->n; i++) {
        const struct syscall_ref *r = &refs->v[i];
        const struct sbx_rule *rule = &p->rules[r->rule];
        if (!r->ok)
            continue;
        if (p->baseline && sbx_baseline_scope(r->nr) == SBX_BASELINE_ALWAYS) {
            sbx_pctx_report(c, r->node->line, r->node->col,
                            "'%s' is denied by the baseline and no rule can change that (set "
                            "'baseline: none' to write your own rules for it)",
                            r->node->scalar);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const struct syscall_ref *q = &refs->v[j];
            const struct sbx_rule *other = &p->rules[q->rule];
            if (!q->ok || q->nr != r->nr || q->rule == r->rule ||
                same_action(&rule->action, &other->action))
                continue;
            if (same_conds(rule, other)) {
                sbx_pctx_report(c, r->node->line, r->node->col,
                                "conflicting rules for '%s': the rule at line %u has the same "
                                "arguments and another action",
                                r->node->scalar, other->line);
                break;
            }
            if (!rule->n_args || !other->n_args) {
                sbx_pctx_report(c, r->node->line, r->node->col,
                                "conflicting rules for '%s': the rule at line %u has another "
                                "action, and a rule without 'args' overrides every rule with "
                                "'args' for the same syscall",
                                r->node->scalar, other->line);
                break;
            }
        }
    }
}

static void parse_rules(struct sbx_pctx *c, const struct sbx_ynode *n)
{
    struct sbx_policy *p = c->p;
    if (!sbx_pctx_kind(c, n, SBX_YNODE_SEQ, "rules") || n->n == 0)
        return;
    p->rules = calloc(n->n, sizeof(*p->rules));
    if (!p->rules) {
        c->oom = c->failed = true;
        return;
    }
    p->n_rules = n->n;
    struct refs refs = { 0 };
    for (size_t i = 0; i < n->n && !c->oom; i++) {
        bool failed = c->failed;
        c->failed = false;
        size_t first_ref = refs.n;
        parse_rule(c, n->items[i], &p->rules[i], i, &refs);
        for (size_t j = first_ref; j < refs.n; j++)
            refs.v[j].ok = !c->failed;
        c->failed = c->failed || failed;
    }
    /* Cross-rule checks compare complete rules only. */
    if (!c->oom)
        check_rules(c, &refs);
    free(refs.v);
}

void sbx_parse_syscalls(struct sbx_pctx *c, const struct sbx_ynode *n)
{
    static const char *const keys[] = { "mode", "default", "baseline", "rules" };
    static const char *const modes[] = { "off", "trap", "rewrite" };
    static const char *const baselines[] = { "default", "none" };
    const struct sbx_ynode *v[ARRAY_SIZE(keys)];
    struct sbx_policy *p = c->p;
    if (!sbx_pctx_fields(c, n, "'syscalls'", keys, ARRAY_SIZE(keys), v))
        return;
    if (v[0]) {
        int m = sbx_pctx_enum(c, v[0], "mode", modes, ARRAY_SIZE(modes));
        if (m >= 0) {
            /* The order of modes[] is the order of enum sbx_syscall_mode. */
            p->mode = (enum sbx_syscall_mode)m;
            p->mode_set = true;
        }
    }
    if (v[1])
        parse_action(c, v[1], "default", true, &p->default_action);
    /* Before the rules: whether the baseline is on decides what they may name. */
    if (v[2])
        p->baseline = sbx_pctx_enum(c, v[2], "baseline", baselines, ARRAY_SIZE(baselines)) != 1;
    if (v[3])
        parse_rules(c, v[3]);
    if (c->failed || !p->n_rules)
        return;
    /* A policy that validates but cannot be loaded would fail only at sandbox start. */
    size_t insns;
    int r = sbx_policy_compiled_size(p, &insns);
    if (r == -E2BIG)
        sbx_pctx_report(c, n->line, n->col,
                        "the rules compile to a filter longer than %u instructions (the "
                        "kernel's limit of %u, less %u for the trampoline)",
                        SBX_POLICY_MAX_INSNS, SBX_BPF_MAX_INSNS, SBX_FILTER_PREFIX_MAX);
    else if (r == -ENOMEM)
        c->oom = c->failed = true;
    else if (r < 0)
        sbx_pctx_report(c, n->line, n->col, "the rules do not compile: %s", strerror(-r));
}
