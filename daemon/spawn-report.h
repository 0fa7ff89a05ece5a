/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a child of clone3 tells its parent when a step before exec fails:
 * which step and the errno, over a close-on-exec pipe that exec closes, so
 * "exited without a report" can say what went wrong.
 */
#pragma once

#include <stddef.h>

#include "sbx/error.h"

enum sbx_spawn_step {
    SBX_SPAWN_CGROUP = 1, /* join the sandbox's v1 cgroups */
    SBX_SPAWN_FDS,        /* put its descriptors in place */
    SBX_SPAWN_NOFILE,     /* set its open-file limit */
    SBX_SPAWN_DEATHSIG,   /* ask to die with the daemon */
    SBX_SPAWN_EXEC,       /* exec the embedded program */
    SBX_SPAWN_USERNS,     /* take the ids of its user namespace */
};

/* The status such a child exits with; neither sbx-init nor sbx-sitemap uses it. */
#define SBX_SPAWN_EXIT_STATUS 123

/* A pipe for one child: fds[0] the parent keeps (non-blocking), fds[1] the child writes. */
int sbx_spawn_report_open(int fds[2]);

/* In the child: reports errno for step and exits.  Async-signal-safe. */
__attribute__((noreturn)) void sbx_spawn_fail(int report_fd, enum sbx_spawn_step step);

/*
 * In the parent, once the child is gone: whether it reported a failure; if
 * so, 1 with e saying "cannot STEP: ERROR" and holding the child's errno.
 * Never blocks.
 */
int sbx_spawn_report_read(int report_fd, struct sbx_error *e);
