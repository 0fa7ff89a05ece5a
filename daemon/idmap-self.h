/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ids of sandboxd's own user namespace, which a rootless private daemon has only some of. */
#pragma once

#include <stddef.h>

#include "sbx/error.h"

struct sbx_spec;

/*
 * Checks that the guest's uid, gid and groups exist in the daemon's user
 * namespace (a rootless one maps the caller's ids, and a subordinate range
 * if it has one); where setgroups is denied there (a map of the caller's
 * own ids alone), sets SBX_SPEC_KEEP_GROUPS, and refuses a guest with
 * supplementary groups.  -errno and msg naming the id and the fix.
 */
int sbx_idmap_self_check(struct sbx_spec *spec, struct sbx_error *e);
