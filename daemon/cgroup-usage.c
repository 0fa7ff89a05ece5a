/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a sandbox's cgroup uses, for inspect: the v2 files first, then the v1
 * controller's where the sandbox has a v1 group of it (cgroup.c makes one
 * only for a controller v2 lacks).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/cgroup.h"
#include "sbx/macro.h"

/* The number in dir/file, or after "key " on one of its lines; -1 when there is none. */
static int64_t read_number(const char *dir, const char *file, const char *key)
{
    if (!dir)
        return -1;
    char path[4096], buf[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = buf;
    if (key) {
        size_t kl = strlen(key);
        p = NULL;
        for (const char *line = buf; line && *line;
             line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
            if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
                p = line + kl + 1;
                break;
            }
        }
        if (!p)
            return -1;
    }
    char *end;
    long long v = strtoll(p, &end, 10);
    return end == p || v < 0 ? -1 : (int64_t)v;
}

void sbx_cgroup_usage(const struct sbx_cgroup *cg, struct sbx_cg_usage *ret)
{
    ret->memory_current = read_number(cg->v2_path, "memory.current", NULL);
    ret->memory_peak = read_number(cg->v2_path, "memory.peak", NULL);
    ret->cpu_usec = read_number(cg->v2_path, "cpu.stat", "usage_usec");
    ret->pids_current = read_number(cg->v2_path, "pids.current", NULL);
    const char *mem = cg->v1_path[SBX_CG_MEMORY];
    if (ret->memory_current < 0)
        ret->memory_current = read_number(mem, "memory.usage_in_bytes", NULL);
    if (ret->memory_peak < 0)
        ret->memory_peak = read_number(mem, "memory.max_usage_in_bytes", NULL);
    if (ret->cpu_usec < 0) {
        int64_t ns = read_number(cg->v1_path[SBX_CG_CPU], "cpuacct.usage", NULL);
        ret->cpu_usec = ns < 0 ? -1 : ns / 1000;
    }
    if (ret->pids_current < 0)
        ret->pids_current = read_number(cg->v1_path[SBX_CG_PIDS], "pids.current", NULL);
}
