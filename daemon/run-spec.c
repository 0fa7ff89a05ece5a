/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure decisions of a RUN request's translation (run-spec.h). */
#include "daemon/run-spec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Sets or replaces one KEY=VALUE; -E2BIG past the protocol's count, never a silent drop. */
static int env_set(struct sbx_run_env *e, char *kv)
{
    size_t klen = strcspn(kv, "=");
    for (uint32_t i = 0; i < e->n; i++) {
        if (strncmp(e->items[i], kv, klen) == 0 && e->items[i][klen] == '=') {
            e->items[i] = kv;
            return 0;
        }
    }
    if (e->n >= SBX_PROTO_MAX_ARGS)
        return -E2BIG;
    e->items[e->n++] = kv;
    return 0;
}

int sbx_run_env_build(struct sbx_run_env *e, const struct sbx_policy *p,
                      const struct sbx_image_config *img, const struct sbx_msg_run *run,
                      uint32_t uid)
{
    int r = 0;
    e->n = 0;
    if (!p->env_replace) {
        r |= env_set(e, "PATH=" SBX_RUN_DEFAULT_PATH);
        r |= env_set(e, uid == 0 ? "HOME=/root" : "HOME=/");
        for (size_t i = 0; i < img->n_env; i++)
            r |= env_set(e, img->env[i]);
    }
    for (size_t i = 0; i < p->n_env; i++)
        r |= env_set(e, p->env[i]);
    for (uint32_t i = 0; i < run->envc; i++)
        r |= env_set(e, run->env[i]);
    e->items[e->n] = NULL;
    return r ? -E2BIG : 0;
}

int sbx_run_check_ids(const struct sbx_caller *caller, bool operator_policy, uint32_t uid,
                      uint32_t gid, const uint32_t *groups, size_t n, struct sbx_error *e)
{
    if (caller->uid == 0)
        return 0;
    /* Group 0 owns files of root's, such as those 0640 root:root. */
    for (size_t i = 0; i <= n; i++) {
        if ((i < n ? groups[i] : gid) == 0)
            return sbx_error_set(e, EPERM,
                                 "permission denied: only root may run a guest with group 0 (%s)",
                                 i < n ? "in the policy's groups" : "as its gid");
    }
    if (operator_policy)
        return 0;
    if (uid != caller->uid)
        return sbx_error_set(
            e, EPERM,
            "permission denied: only root or an operator's policy may run the guest "
            "as uid %u (yours is %u)",
            uid, (unsigned)caller->uid);
    for (size_t i = 0; i <= n; i++) {
        uint32_t g = i < n ? groups[i] : gid;
        if (!sbx_caller_in_group(caller, g))
            return sbx_error_set(
                e, EPERM,
                "permission denied: only root or an operator's policy may give the "
                "guest gid %u (not one of your groups)",
                g);
    }
    return 0;
}

int sbx_run_check_limits(const struct sbx_policy *p, bool operator_policy, const char *limit_option,
                         const struct sbx_policy_bounds *operator_bounds, const uint64_t *hard,
                         struct sbx_error *e)
{
    struct sbx_policy_bounds defaults;
    const struct sbx_policy_bounds *b = operator_bounds;
    const char *what;
    if (operator_policy && !limit_option)
        return 0;
    if (!operator_policy) {
        struct sbx_policy *def = NULL;
        if (sbx_policy_new_default(&def) < 0)
            return -ENOMEM;
        sbx_policy_bounds_of(def, hard, &defaults);
        sbx_policy_free(def);
        b = &defaults;
    }
    if (!sbx_policy_exceeds(p, b, &what))
        return 0;
    if (operator_policy)
        return sbx_error_set(
            e, EPERM,
            "permission denied: %s may lower the operator's policy's limits, not raise them "
            "(%s)",
            limit_option, what);
    return sbx_error_set(
        e, EPERM,
        "permission denied: only root or an operator's policy may ask for more than the "
        "default limits (%s%s%s)",
        what, limit_option ? ", from " : "", limit_option ? limit_option : "");
}
