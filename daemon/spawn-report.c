/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "daemon/spawn-report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sbx/macro.h"

struct report {
    int32_t step;
    int32_t err;
};

static const char *const step_names[] = {
    [SBX_SPAWN_CGROUP] = "join its v1 cgroups",
    [SBX_SPAWN_FDS] = "set up its descriptors",
    [SBX_SPAWN_NOFILE] = "set its open-file limit",
    [SBX_SPAWN_DEATHSIG] = "ask to die with sandboxd",
    [SBX_SPAWN_EXEC] = "exec its program",
    [SBX_SPAWN_USERNS] = "take the ids of its user namespace",
};

int sbx_spawn_report_open(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return sbx_neg_errno();
    /* The parent reads only after the child is gone: never wait on it. */
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        int err = sbx_neg_errno();
        sbx_close(fds[0]);
        sbx_close(fds[1]);
        return err;
    }
    return 0;
}

void sbx_spawn_fail(int report_fd, enum sbx_spawn_step step)
{
    struct report r = { .step = (int32_t)step, .err = errno };
    /* Eight bytes into an empty pipe: written whole, or there is nothing more to do. */
    ssize_t n = write(report_fd, &r, sizeof(r));
    (void)n;
    _exit(SBX_SPAWN_EXIT_STATUS);
}

int sbx_spawn_report_read(int report_fd, struct sbx_error *e)
{
    struct report r;
    if (report_fd < 0 || read(report_fd, &r, sizeof(r)) != sizeof(r))
        return 0;
    const char *step = r.step > 0 && (size_t)r.step < ARRAY_SIZE(step_names) && step_names[r.step]
                           ? step_names[r.step]
                           : "start";
    sbx_error_set_errno(e, r.err > 0 ? r.err : EIO, "cannot %s", step);
    return 1;
}
