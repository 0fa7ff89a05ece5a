/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The policy model's life cycle and the questions the daemon asks of a
 * validated policy (root-only features, limits the host cannot enforce).
 */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/resource.h>

#include "policy/policy-internal.h"

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void sbx_policy_free(struct sbx_policy *p)
{
    if (!p)
        return;
    free(p->name);
    for (size_t i = 0; i < p->n_rules; i++) {
        free(p->rules[i].syscalls);
        free(p->rules[i].args);
    }
    free(p->rules);
    for (size_t i = 0; i < p->n_mounts; i++) {
        free(p->mounts[i].source);
        free(p->mounts[i].target);
    }
    free(p->mounts);
    free_strv(p->masked, p->n_masked);
    free(p->user);
    free(p->group);
    free_strv(p->groups, p->n_groups);
    free(p->cwd);
    free_strv(p->env, p->n_env);
    free(p->hostname);
    free(p->rlimits);
    free(p->file);
    free(p->memory_option);
    free(p->pids_option);
    free(p->cpu_option);
    free(p);
}

/* Everything a policy file leaves out: what the daemon uses when none is named. */
struct sbx_policy *sbx_policy_alloc_defaults(void)
{
    struct sbx_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->default_action = (struct sbx_action){ .kind = SBX_ACT_ALLOW };
    p->baseline = true;
    p->umask = -1;
    p->network = SBX_NET_NONE;
    p->memory = SBX_POLICY_DEFAULT_MEMORY;
    p->pids = SBX_POLICY_DEFAULT_PIDS;
    p->overlay_size = SBX_POLICY_DEFAULT_OVERLAY_SIZE;
    p->tmp_size = SBX_POLICY_DEFAULT_TMP_SIZE;
    p->shm_size = SBX_POLICY_DEFAULT_SHM_SIZE;
    p->cwd = strdup("/");
    p->hostname = strdup("sandbox");
    if (!p->cwd || !p->hostname) {
        sbx_policy_free(p);
        return NULL;
    }
    return p;
}

int sbx_policy_new_default(struct sbx_policy **ret)
{
    struct sbx_policy *p = sbx_policy_alloc_defaults();
    if (!p)
        return -ENOMEM;
    p->name = strdup("default");
    if (!p->name) {
        sbx_policy_free(p);
        return -ENOMEM;
    }
    *ret = p;
    return 0;
}

void sbx_policy_bounds_of(const struct sbx_policy *p, const uint64_t *hard,
                          struct sbx_policy_bounds *ret)
{
    *ret = (struct sbx_policy_bounds){
        .memory = p->memory,
        .pids = p->pids,
        .cpu_millis = p->cpu_millis,
        .timeout_ms = p->timeout_ms,
        .overlay_size = p->overlay_size,
        .tmp_size = p->tmp_size,
        .shm_size = p->shm_size,
        .tmpfs_size = p->tmp_size,
    };
    for (size_t i = 0; i < p->n_mounts; i++)
        if (p->mounts[i].type == SBX_MOUNT_TMPFS && p->mounts[i].size > ret->tmpfs_size)
            ret->tmpfs_size = p->mounts[i].size;
    for (int r = 0; r < RLIM_NLIMITS; r++)
        ret->rlimit_max[r] = hard[r];
    for (size_t i = 0; i < p->n_rlimits; i++)
        if (p->rlimits[i].resource >= 0 && p->rlimits[i].resource < RLIM_NLIMITS &&
            p->rlimits[i].max < ret->rlimit_max[p->rlimits[i].resource])
            ret->rlimit_max[p->rlimits[i].resource] = p->rlimits[i].max;
}

/* Whether v (0: unlimited) asks for more than the bound b (0: unlimited). */
static bool more(uint64_t v, uint64_t b)
{
    return b != 0 && (v == 0 || v > b);
}

int sbx_policy_exceeds(const struct sbx_policy *p, const struct sbx_policy_bounds *b,
                       const char **ret_what)
{
    const char *what = NULL;
    if (more(p->memory, b->memory))
        what = "limits: memory";
    else if (more(p->pids, b->pids))
        what = "limits: pids";
    else if (more(p->cpu_millis, b->cpu_millis))
        what = "limits: cpu";
    else if (more(p->timeout_ms, b->timeout_ms))
        what = "limits: timeout";
    else if (more(p->overlay_size, b->overlay_size))
        what = "filesystem: overlay_size";
    else if (more(p->tmp_size, b->tmp_size))
        what = "filesystem: tmp_size";
    else if (more(p->shm_size, b->shm_size))
        what = "filesystem: shm_size";
    for (size_t i = 0; !what && i < p->n_mounts; i++)
        if (p->mounts[i].type == SBX_MOUNT_TMPFS && p->mounts[i].size &&
            more(p->mounts[i].size, b->tmpfs_size))
            what = "filesystem: mounts: a tmpfs size";
    for (size_t i = 0; !what && i < p->n_rlimits; i++) {
        const struct sbx_rlimit *r = &p->rlimits[i];
        if (r->resource >= 0 && r->resource < RLIM_NLIMITS &&
            (r->cur > b->rlimit_max[r->resource] || r->max > b->rlimit_max[r->resource]))
            what = "process: rlimits";
    }
    if (!what)
        return 0;
    if (ret_what)
        *ret_what = what;
    return 1;
}

/*
 * The capabilities a caller other than root may keep in a sandbox's own
 * user namespace: podman's default set, what package managers and
 * servers need over their own files and processes.  The others
 * (net_admin, sys_admin, net_raw, mknod, bpf, ...) are namespaced too, but
 * they open kernel code (nf_tables, mounts of more filesystems, raw
 * packets) that hosts disabling unprivileged user namespaces mean to keep
 * from their users; they stay root's.
 */
static const uint64_t userns_caps =
    (1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_FOWNER) | (1ull << CAP_FSETID) |
    (1ull << CAP_KILL) | (1ull << CAP_NET_BIND_SERVICE) | (1ull << CAP_SETFCAP) |
    (1ull << CAP_SETGID) | (1ull << CAP_SETPCAP) | (1ull << CAP_SETUID) | (1ull << CAP_SYS_CHROOT);

static int needs_root(const struct sbx_policy *p, bool own_userns, const char **ret_what)
{
    const char *what = NULL;
    if (!p->baseline)
        what = "syscalls: baseline: none";
    else if (p->caps_keep & ~(own_userns ? userns_caps : 0))
        what = "process: capabilities";
    else if (p->network == SBX_NET_HOST)
        what = "network: host";
    else if (p->userns == SBX_USERNS_HOST)
        what = "userns: host";
    if (!what)
        return 0;
    if (ret_what)
        *ret_what = what;
    return 1;
}

int sbx_policy_needs_root(const struct sbx_policy *p, const char **ret_what)
{
    return needs_root(p, false, ret_what);
}

int sbx_policy_needs_root_userns(const struct sbx_policy *p, const char **ret_what)
{
    return needs_root(p, p->userns == SBX_USERNS_PRIVATE, ret_what);
}

int sbx_policy_check_host(const struct sbx_policy *p, const struct sbx_host_features *h,
                          struct sbx_diags *diags)
{
    const struct {
        bool set, supported;
        unsigned line, col;
        const char *option, *key, *controller;
    } limits[] = {
        { p->memory_set && p->memory != 0, h->memory, p->memory_line, p->memory_col,
          p->memory_option, "memory", "memory" },
        { p->pids_set && p->pids != 0, h->pids, p->pids_line, p->pids_col, p->pids_option, "pids",
          "pids" },
        { p->cpu_millis != 0, h->cpu, p->cpu_line, p->cpu_col, p->cpu_option, "cpu", "cpu" },
    };
    int ret = 0;
    for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
        if (!limits[i].set || limits[i].supported)
            continue;
        const char *opt = limits[i].option;
        int r = sbx_diag_add(diags, opt ? opt : p->file, opt ? 0 : limits[i].line,
                             opt ? 0 : limits[i].col,
                             "limits.%s is unsupported on this host (no %s cgroup controller)",
                             limits[i].key, limits[i].controller);
        if (r < 0)
            return r;
        ret = -EOPNOTSUPP;
    }
    return ret;
}

void sbx_policy_limits(const struct sbx_policy *p, const struct sbx_host_features *h,
                       struct sbx_policy_limits *ret)
{
    /*
     * A default the host cannot enforce is dropped rather than failing every
     * run; a limit the policy set was refused by sbx_policy_check_host.
     */
    *ret = (struct sbx_policy_limits){
        .memory = h->memory || p->memory_set ? p->memory : 0,
        .pids = h->pids || p->pids_set ? p->pids : 0,
        .cpu_millis = p->cpu_millis,
    };
}
