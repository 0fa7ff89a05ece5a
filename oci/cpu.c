/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * linux.resources.cpu on the container's cgroup, after daemon/cgroup.c made
 * it: the weight (cpu.shares, a pod's CPU request) and the quota with the
 * engine's own period, which the daemon's limit (a share of one CPU over a
 * fixed period) cannot say exactly.  cgroup v2 where it has the cpu
 * controller (cpu.weight, cpu.max), else the v1 cpu hierarchy (cpu.shares,
 * cpu.cfs_period_us, cpu.cfs_quota_us).  Neither: an error naming the field.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "sbx/macro.h"

static int write_in(const char *dir, const char *file, const char *val, struct sbx_error *e)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    size_t len = strlen(val);
    if (fd < 0 || write(fd, val, len) != (ssize_t)len)
        return sbx_error_set(e, errno, "linux.resources.cpu: write %s to %s: %s", val, path,
                             strerror(errno));
    return 0;
}

/* The v2 weight (1..10000) of a v1 share (2..262144), the same linear map as runc's and crun's. */
static uint64_t weight_of(uint64_t shares)
{
    return 1 + ((shares - 2) * 9999) / 262142;
}

int sbx_oci_cpu_apply(const struct sbx_cgroup_root *root, struct sbx_cgroup *cg,
                      const struct sbx_oci_cpu *cpu, struct sbx_error *e)
{
    if (!cpu->shares && !cpu->quota)
        return 0;
    char val[64];
    int r;
    if (root->v2_ctrl[SBX_CG_CPU] && cg->v2_path) {
        snprintf(val, sizeof(val), "%" PRIu64, weight_of(cpu->shares));
        if (cpu->shares && (r = write_in(cg->v2_path, "cpu.weight", val, e)) < 0)
            return r;
        snprintf(val, sizeof(val), "%" PRIu64 " %" PRIu64, cpu->quota, cpu->period);
        return cpu->quota ? write_in(cg->v2_path, "cpu.max", val, e) : 0;
    }
    if (!cg->v1_path[SBX_CG_CPU]) {
        if (!root->v1_base[SBX_CG_CPU])
            return sbx_error_set(e, EOPNOTSUPP,
                                 "linux.resources.cpu.%s: cannot be enforced: no cpu controller "
                                 "on this host",
                                 cpu->shares ? "shares" : "quota");
        /* A weight alone: daemon/cgroup.c makes v1 groups for limits only. */
        if (asprintf(&cg->v1_path[SBX_CG_CPU], "%s/%s", root->v1_base[SBX_CG_CPU], cg->name) < 0) {
            cg->v1_path[SBX_CG_CPU] = NULL;
            return -ENOMEM;
        }
        if (mkdir(cg->v1_path[SBX_CG_CPU], 0755) < 0 && errno != EEXIST) {
            r = sbx_error_set(e, errno, "linux.resources.cpu: create %s: %s",
                              cg->v1_path[SBX_CG_CPU], strerror(errno));
            free(cg->v1_path[SBX_CG_CPU]);
            cg->v1_path[SBX_CG_CPU] = NULL;
            return r;
        }
    }
    const char *dir = cg->v1_path[SBX_CG_CPU];
    snprintf(val, sizeof(val), "%" PRIu64, cpu->shares);
    if (cpu->shares && (r = write_in(dir, "cpu.shares", val, e)) < 0)
        return r;
    if (!cpu->quota)
        return 0;
    snprintf(val, sizeof(val), "%" PRIu64, cpu->period);
    if ((r = write_in(dir, "cpu.cfs_period_us", val, e)) < 0)
        return r;
    snprintf(val, sizeof(val), "%" PRIu64, cpu->quota);
    return write_in(dir, "cpu.cfs_quota_us", val, e);
}
