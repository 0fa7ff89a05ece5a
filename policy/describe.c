/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The syscall section of a parsed policy written back in the policy's own
 * words: an action as `default:` and `action:` take it, a comparison as
 * `op:` takes it, a syscall by its x86-64 name.  `sandboxctl inspect` shows
 * a sandbox's rules so (daemon/lifecycle-policy.c) and `run --learn` names
 * its calls so.  What is written here parses back to the same rule
 * (tests/unit/test-policy-describe.c holds the parser to that).
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

static const char *const action_words[SBX_ACT_TRACE + 1] = {
    [SBX_ACT_ALLOW] = "allow", [SBX_ACT_ERRNO] = "errno", [SBX_ACT_KILL] = "kill",
    [SBX_ACT_LOG] = "log",     [SBX_ACT_TRAP] = "trap",   [SBX_ACT_TRACE] = "trace",
};

static const char *const cmp_names[SBX_CMP_MASKED_EQ + 1] = {
    [SBX_CMP_EQ] = "eq",
    [SBX_CMP_NE] = "ne",
    [SBX_CMP_LT] = "lt",
    [SBX_CMP_LE] = "le",
    [SBX_CMP_GT] = "gt",
    [SBX_CMP_GE] = "ge",
    [SBX_CMP_MASKED_EQ] = "masked_eq",
};

const char *sbx_policy_action_text(const struct sbx_action *a, char *buf, size_t len)
{
    if ((unsigned)a->kind > SBX_ACT_TRACE) {
        snprintf(buf, len, "?");
        return buf;
    }
    if (a->kind != SBX_ACT_ERRNO) {
        snprintf(buf, len, "%s", action_words[a->kind]);
        return buf;
    }
    /* The canonical name where glibc has one (EAGAIN for EWOULDBLOCK), else the number. */
    const char *name = strerrorname_np(a->err);
    if (name)
        snprintf(buf, len, "errno %s", name);
    else
        snprintf(buf, len, "errno %d", a->err);
    return buf;
}

const char *sbx_policy_cmp_name(enum sbx_cmp_op op)
{
    return (unsigned)op <= SBX_CMP_MASKED_EQ ? cmp_names[op] : "?";
}

const char *sbx_policy_syscall_name(int nr, char *buf, size_t len)
{
    char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
    snprintf(buf, len, "%s", s ? s : "?");
    free(s);
    return buf;
}
