/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-sandbox cgroups: v2 first, the v1 memory/pids/cpu controllers where v2 lacks them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sbx/error.h"

enum sbx_cg_ctrl { SBX_CG_MEMORY, SBX_CG_PIDS, SBX_CG_CPU, SBX_CG_N };

struct sbx_cgroup_root {
    char *v2_base;           /* directory under which sandbox cgroups are made; NULL = none */
    bool v2_base_made;       /* made by this daemon (removed at exit), not systemd's */
    bool v2_ctrl[SBX_CG_N];  /* controller enabled for children of v2_base */
    char *v1_base[SBX_CG_N]; /* v1 fallback per controller; NULL = none */
};

struct sbx_cgroup {
    char *name;
    char *v2_path;
    int v2_fd; /* O_DIRECTORY fd for CLONE_INTO_CGROUP; -EBADF if none */
    char *v1_path[SBX_CG_N];
    bool v1_attached[SBX_CG_N]; /* init was moved into v1_path[c] */
    bool limited[SBX_CG_N];     /* a limit is set on controller c */
    /* The value sbx_cgroup_limit last wrote for controller c, if applied[c]. */
    uint64_t applied_value[SBX_CG_N];
    bool applied[SBX_CG_N];
};

struct sbx_cg_limits {
    uint64_t memory; /* bytes; 0 = none */
    uint64_t pids;
    uint64_t cpu_millis;
};

/* Finds the hierarchies and prepares the base directories.  Never fails hard:
 * a host with no usable cgroup gets an empty root (limits then refused). */
void sbx_cgroup_root_init(struct sbx_cgroup_root *r, const char *tag);
void sbx_cgroup_root_done(struct sbx_cgroup_root *r);
/* Whether a limit on this controller can be enforced. */
bool sbx_cgroup_root_can(const struct sbx_cgroup_root *r, enum sbx_cg_ctrl c);

/* Creates the cgroup(s) for one sandbox and applies limits (see sbx_cgroup_limit). */
int sbx_cgroup_create(const struct sbx_cgroup_root *r, const char *name,
                      const struct sbx_cg_limits *lim, struct sbx_cgroup *ret, struct sbx_error *e);
/* Applies limits to an existing sandbox cgroup; v1 groups are made only for
 * the controllers a limit needs (attach the process with sbx_cgroup_attach_v1). */
int sbx_cgroup_limit(const struct sbx_cgroup_root *r, struct sbx_cgroup *cg,
                     const struct sbx_cg_limits *lim, struct sbx_error *e);
/* Moves pid into the v1 groups (v2 placement is done by CLONE_INTO_CGROUP). */
int sbx_cgroup_attach_v1(struct sbx_cgroup *cg, pid_t pid);
/*
 * For a child that moves itself: opens cgroup.procs of every v1 group it is
 * not in yet (fds[c], else -EBADF).  Writing "0" to each before anything else
 * runs puts the writer there; sbx_cgroup_v1_self_attached then records it.
 */
int sbx_cgroup_v1_procs_open(const struct sbx_cgroup *cg, int fds[SBX_CG_N]);
void sbx_cgroup_v1_self_attached(struct sbx_cgroup *cg, const int fds[SBX_CG_N]);
/* Whether the memory controller killed something in this cgroup. */
bool sbx_cgroup_oom_killed(const struct sbx_cgroup *cg);
/* Kills whatever is left, removes the directories. */
void sbx_cgroup_destroy(struct sbx_cgroup *cg);

/* What a sandbox's cgroup uses now (cgroup-usage.c); -1 where the host cannot tell. */
struct sbx_cg_usage {
    int64_t memory_current; /* bytes */
    int64_t memory_peak;    /* bytes; v2 memory.peak needs Linux 5.19 */
    int64_t cpu_usec;
    int64_t pids_current;
};
void sbx_cgroup_usage(const struct sbx_cgroup *cg, struct sbx_cg_usage *ret);
