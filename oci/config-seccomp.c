/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * linux.seccomp: an OCI seccomp profile as rules of the policy model, which
 * compiles them with libseccomp behind the baseline.
 */
#include <errno.h>
#include <json-c/json.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/config-json.h"
#include "oci/oci.h"
#include "sbx/macro.h"

/* ---- seccomp ---- */

static int seccomp_action(const char *name, int64_t errno_ret, struct sbx_action *ret)
{
    if (!strcmp(name, "SCMP_ACT_ALLOW"))
        *ret = (struct sbx_action){ .kind = SBX_ACT_ALLOW };
    else if (!strcmp(name, "SCMP_ACT_ERRNO"))
        *ret = (struct sbx_action){ .kind = SBX_ACT_ERRNO, .err = (int)errno_ret };
    else if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_PROCESS") ||
             !strcmp(name, "SCMP_ACT_KILL_THREAD"))
        /* The trampoline shares the guest's threads: killing one of them is killing all. */
        *ret = (struct sbx_action){ .kind = SBX_ACT_KILL };
    else if (!strcmp(name, "SCMP_ACT_LOG"))
        *ret = (struct sbx_action){ .kind = SBX_ACT_LOG };
    else
        return -EOPNOTSUPP;
    return 0;
}

static const struct {
    const char *name;
    enum sbx_cmp_op op;
} cmp_ops[] = {
    { "SCMP_CMP_EQ", SBX_CMP_EQ },
    { "SCMP_CMP_NE", SBX_CMP_NE },
    { "SCMP_CMP_LT", SBX_CMP_LT },
    { "SCMP_CMP_LE", SBX_CMP_LE },
    { "SCMP_CMP_GT", SBX_CMP_GT },
    { "SCMP_CMP_GE", SBX_CMP_GE },
    { "SCMP_CMP_MASKED_EQ", SBX_CMP_MASKED_EQ },
};

static int load_seccomp_args(json_object *args, const char *where, struct sbx_rule *rule,
                             struct sbx_error *e)
{
    if (!json_object_is_type(args, json_type_array) || json_object_array_length(args) > 6)
        return sbx_error_set(e, EINVAL, "%s.args: not an array of at most 6", where);
    size_t n = json_object_array_length(args);
    rule->args = calloc(n ? n : 1, sizeof(*rule->args));
    if (!rule->args)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(args, i);
        char w[128];
        snprintf(w, sizeof(w), "%s.args[%zu]", where, i);
        static const char *const known[] = { "index", "value", "valueTwo", "op", NULL };
        uint64_t index = 0, value = 0, two = 0;
        _cleanup_free_ char *op = NULL;
        int r = sbx_oci_json_keys(a, w, known, e);
        if (r < 0 || (r = sbx_oci_json_u64(a, "index", w, &index, e)) < 0 ||
            (r = sbx_oci_json_u64(a, "value", w, &value, e)) < 0 ||
            (r = sbx_oci_json_u64(a, "valueTwo", w, &two, e)) < 0 ||
            (r = sbx_oci_json_str(a, "op", w, &op, e)) < 0)
            return r;
        if (index > 5)
            return sbx_error_set(e, EINVAL, "%s.index: not 0..5", w);
        struct sbx_arg_cond *c = &rule->args[rule->n_args++];
        *c = (struct sbx_arg_cond){ .index = (unsigned)index, .value = value };
        bool found = false;
        for (size_t k = 0; op && k < ARRAY_SIZE(cmp_ops); k++)
            if (!strcmp(op, cmp_ops[k].name)) {
                c->op = cmp_ops[k].op;
                found = true;
            }
        if (!found)
            return sbx_error_set(e, EINVAL, "%s.op: unknown operator %s", w, op ? op : "(missing)");
        if (c->op == SBX_CMP_MASKED_EQ) {
            c->mask = value;
            c->value = two;
        } else if (two) {
            return sbx_error_set(e, EINVAL, "%s.valueTwo: only for SCMP_CMP_MASKED_EQ", w);
        }
    }
    return 0;
}

/*
 * One entry of linux.seccomp.syscalls.  Names are resolved for x86-64, the
 * only ABI sandboxes run (others are killed by the baseline): a name that
 * is a syscall of another ABI only (chown32, _llseek) has nothing to match
 * here and is left out; a name libseccomp does not know at all is refused.
 */
static int load_seccomp_rule(json_object *sc, const char *where, int64_t def_errno,
                             struct sbx_policy *p, struct sbx_error *e)
{
    static const char *const known[] = { "names",   "action",   "errnoRet", "args",
                                         "comment", "includes", "excludes", NULL };
    int r = sbx_oci_json_keys(sc, where, known, e);
    if (r < 0 || (r = sbx_oci_json_refuse(sc, "includes", where, e)) < 0 ||
        (r = sbx_oci_json_refuse(sc, "excludes", where, e)) < 0)
        return r;
    _cleanup_free_ char *action = NULL;
    int64_t err = def_errno;
    if ((r = sbx_oci_json_str(sc, "action", where, &action, e)) < 0 ||
        (r = sbx_oci_json_i64(sc, "errnoRet", where, &err, e)) < 0)
        return r;
    if (err < 0 || err > 4095)
        return sbx_error_set(e, EINVAL, "%s.errnoRet: not an errno value", where);
    struct sbx_rule rule = { 0 };
    if (!action || seccomp_action(action, err, &rule.action) < 0)
        return sbx_error_set(e, EOPNOTSUPP, "%s.action: %s is not supported", where,
                             action ? action : "(missing)");
    json_object *names = sbx_oci_json_get(sc, "names");
    if (!names || !json_object_is_type(names, json_type_array))
        return sbx_error_set(e, EINVAL, "%s.names: missing or not an array", where);
    size_t n = json_object_array_length(names);
    rule.syscalls = calloc(n ? n : 1, sizeof(int));
    if (!rule.syscalls)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(names, i));
        int nr = name ? seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name) : __NR_SCMP_ERROR;
        if (nr == __NR_SCMP_ERROR) {
            free(rule.syscalls);
            return sbx_error_set(e, EINVAL, "%s.names[%zu]: unknown syscall %s", where, i,
                                 name ? name : "(not a string)");
        }
        if (nr >= 0)
            rule.syscalls[rule.n_syscalls++] = nr;
    }
    json_object *args = sbx_oci_json_get(sc, "args");
    if (args && (r = load_seccomp_args(args, where, &rule, e)) < 0) {
        free(rule.syscalls);
        free(rule.args);
        return r;
    }
    if (rule.n_syscalls == 0) {
        free(rule.syscalls);
        free(rule.args);
        return 0;
    }
    p->rules[p->n_rules++] = rule;
    return 0;
}

/*
 * linux.seccomp becomes the policy's own rules: the baseline is compiled
 * first and what it denies stays denied whatever the profile says
 * (policy/compile.c chains the two programs).
 */
int sbx_oci_config_seccomp(json_object *linux_, struct sbx_policy *p, struct sbx_error *e)
{
    json_object *sc = sbx_oci_json_get(linux_, "seccomp");
    if (!sc)
        return 0;
    static const char *const known[] = {
        "defaultAction", "defaultErrnoRet", "architectures",    "syscalls",
        "flags",         "listenerPath",    "listenerMetadata", NULL
    };
    int r = sbx_oci_json_keys(sc, "linux.seccomp", known, e);
    if (r < 0 || (r = sbx_oci_json_refuse(sc, "flags", "linux.seccomp", e)) < 0 ||
        (r = sbx_oci_json_refuse(sc, "listenerPath", "linux.seccomp", e)) < 0 ||
        (r = sbx_oci_json_refuse(sc, "listenerMetadata", "linux.seccomp", e)) < 0)
        return r;
    _cleanup_free_ char *def = NULL;
    int64_t def_errno = EPERM;
    if ((r = sbx_oci_json_str(sc, "defaultAction", "linux.seccomp", &def, e)) < 0 ||
        (r = sbx_oci_json_i64(sc, "defaultErrnoRet", "linux.seccomp", &def_errno, e)) < 0)
        return r;
    if (def_errno < 0 || def_errno > 4095)
        return sbx_error_set(e, EINVAL, "linux.seccomp.defaultErrnoRet: not an errno value");
    if (!def || seccomp_action(def, def_errno, &p->default_action) < 0)
        return sbx_error_set(e, EOPNOTSUPP, "linux.seccomp.defaultAction: %s is not supported",
                             def ? def : "(missing)");
    /* The architectures are the ABIs the profile covers; sandboxes run x86-64 alone. */
    json_object *sys = sbx_oci_json_get(sc, "syscalls");
    if (!sys)
        return 0;
    if (!json_object_is_type(sys, json_type_array))
        return sbx_error_set(e, EINVAL, "linux.seccomp.syscalls: not an array");
    size_t n = json_object_array_length(sys);
    if (n > 4096)
        return sbx_error_set(e, E2BIG, "linux.seccomp.syscalls: more than 4096 entries");
    p->rules = calloc(n ? n : 1, sizeof(*p->rules));
    if (!p->rules)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char where[64];
        snprintf(where, sizeof(where), "linux.seccomp.syscalls[%zu]", i);
        /* An errno rule without errnoRet returns EPERM, as in runc. */
        if ((r = load_seccomp_rule(json_object_array_get_idx(sys, i), where, EPERM, p, e)) < 0)
            return r;
    }
    return 0;
}
