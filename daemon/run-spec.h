/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pure decisions of a RUN request's translation into a sandbox spec
 * (run.c): the guest's environment and its precedence, which identities a
 * caller may give its guest, and which limits it may ask for.  No I/O: the
 * caller passes in what the daemon knows (the caller's credentials, its
 * group membership, the daemon's hard rlimits), so that tests/unit/
 * test-run-spec.c can check each decision on its own.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/caller.h"
#include "daemon/image-config.h"
#include "policy/policy.h"
#include "proto/proto.h"
#include "sbx/error.h"

/* The PATH a guest gets unless the image, the policy or the caller sets one. */
#define SBX_RUN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* A guest's environment; items point into the strings it was built from. */
struct sbx_run_env {
    char *items[SBX_PROTO_MAX_ARGS + 1]; /* NULL-terminated */
    uint32_t n;
};

/*
 * Builds the environment of a guest running as uid: PATH and HOME, then
 * the image's Env, then the policy's env, then the request's -e, each
 * KEY=VALUE replacing an earlier one of the same key; a policy with
 * env_mode replace drops the first two.  -E2BIG when the result would have
 * more than SBX_PROTO_MAX_ARGS variables: none is dropped silently.
 */
int sbx_run_env_build(struct sbx_run_env *e, const struct sbx_policy *p,
                      const struct sbx_image_config *img, const struct sbx_msg_run *run,
                      uint32_t uid);

/*
 * Whether caller may run its guest as uid, gid and groups[0..n) (host ids,
 * no user namespace).  Root may give any.  Anyone else never gets group 0,
 * which owns files of root's; and unless the policy is the operator's
 * (operator_policy), only its own uid and groups it is a member of, since
 * any other id would reach, through a bind mount, the files of whoever has
 * it.  0, or -EPERM with e.
 */
int sbx_run_check_ids(const struct sbx_caller *caller, bool operator_policy, uint32_t uid,
                      uint32_t gid, const uint32_t *groups, size_t n, struct sbx_error *e);

/*
 * Whether a caller other than root may have the limits of policy p (the
 * request's options applied).  Without an operator's policy it gets no
 * more than the default policy gives under the daemon's hard rlimits
 * hard[RLIM_NLIMITS]; over an operator's policy, whose limits before the
 * options were operator_bounds, its options (the last that set a limit:
 * limit_option, or NULL) may lower them, never raise them.  0, -EPERM with
 * e, or -ENOMEM.
 */
int sbx_run_check_limits(const struct sbx_policy *p, bool operator_policy, const char *limit_option,
                         const struct sbx_policy_bounds *operator_bounds, const uint64_t *hard,
                         struct sbx_error *e);
