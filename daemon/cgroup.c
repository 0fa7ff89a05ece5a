/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-sandbox cgroups.  cgroup v2 is used whenever it is mounted (placement with
 * CLONE_INTO_CGROUP, cgroup.kill, and limits where its controllers exist); on
 * hybrid hosts whose v2 hierarchy has no controllers, limits fall back to the
 * v1 memory, pids and cpu hierarchies.
 */
#include "daemon/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "sbx/fileio.h"
#include "sbx/macro.h"

static void sweep_dead(const char *parent, const char *tag, bool v2);

static const char *const ctrl_name[SBX_CG_N] = { "memory", "pids", "cpu" };

static int write_file(const char *dir, const char *file, const char *value)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return sbx_write_small(path, value);
}

static int read_file(const char *dir, const char *file, char *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return sbx_read_small(path, buf, len);
}

/* Mount point of the filesystem type (and, for v1, the controller option). */
static char *find_mount(const char *fstype, const char *option)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return NULL;
    char *line = NULL, *found = NULL;
    size_t cap = 0;
    while (!found && getline(&line, &cap, f) > 0) {
        /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
        char mnt[4096], rest[4096];
        if (sscanf(line, "%*s %*s %*s %*s %4095s %*s", mnt) != 1)
            continue;
        char *sep = strstr(line, " - ");
        if (!sep || sscanf(sep + 3, "%*s %*s %4095s", rest) != 1)
            continue;
        char type[64];
        if (sscanf(sep + 3, "%63s", type) != 1 || strcmp(type, fstype) != 0)
            continue;
        if (option) {
            bool has = false;
            for (char *tok = strtok(rest, ","); tok; tok = strtok(NULL, ","))
                has |= strcmp(tok, option) == 0;
            if (!has)
                continue;
        }
        found = strdup(mnt);
    }
    free(line);
    fclose(f);
    return found;
}

/* The daemon's own cgroup path in a hierarchy ("0::" for v2, "N:ctrl" lines for v1). */
static char *own_cgroup(const char *controller)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return NULL;
    char *line = NULL, *found = NULL;
    size_t cap = 0;
    while (!found && getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = '\0';
        *c2 = '\0';
        const char *ctrls = c1 + 1;
        bool match = false;
        if (!controller)
            match = strcmp(line, "0") == 0 && *ctrls == '\0';
        else {
            char tmp[256];
            snprintf(tmp, sizeof(tmp), "%s", ctrls);
            for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ","))
                match |= strcmp(tok, controller) == 0;
        }
        if (match)
            found = strdup(c2 + 1);
    }
    free(line);
    fclose(f);
    return found;
}

static char *join(const char *a, const char *b, const char *c)
{
    char *s;
    if (asprintf(&s, "%s%s%s", a, b, c) < 0)
        return NULL;
    return s;
}

static void v2_init(struct sbx_cgroup_root *r, const char *tag, const char *name)
{
    _cleanup_free_ char *mnt = find_mount("cgroup2", NULL);
    _cleanup_free_ char *own = own_cgroup(NULL);
    if (!mnt || !own)
        return;
    _cleanup_free_ char *own_dir = join(mnt, strcmp(own, "/") == 0 ? "" : own, "");
    if (!own_dir)
        return;
    if (strcmp(own, "/") != 0) {
        /*
         * Under systemd (Delegate=yes) the daemon owns its cgroup, but a cgroup
         * with processes cannot hand controllers to children: the daemon moves
         * into a leaf of its own and the sandboxes become its siblings.
         */
        _cleanup_free_ char *leaf = join(own_dir, "/supervisor", "");
        if (leaf && (mkdir(leaf, 0755) == 0 || errno == EEXIST) &&
            write_file(leaf, "cgroup.procs", "0") == 0) {
            r->v2_base = TAKE_PTR(own_dir);
        }
    }
    if (!r->v2_base) {
        sweep_dead(own_dir, tag, true);
        r->v2_base = join(own_dir, "/", name);
        r->v2_base_made = true;
        if (!r->v2_base || (mkdir(r->v2_base, 0755) < 0 && errno != EEXIST)) {
            sbx_warn("cgroup v2: cannot create %s: %m", r->v2_base ? r->v2_base : "?");
            free(r->v2_base);
            r->v2_base = NULL;
            return;
        }
    }
    char ctrls[512];
    if (read_file(r->v2_base, "cgroup.controllers", ctrls, sizeof(ctrls)) < 0)
        return;
    for (int c = 0; c < SBX_CG_N; c++) {
        if (!strstr(ctrls, ctrl_name[c]))
            continue;
        char req[32];
        snprintf(req, sizeof(req), "+%s", ctrl_name[c]);
        r->v2_ctrl[c] = write_file(r->v2_base, "cgroup.subtree_control", req) == 0;
    }
}

static void v1_init(struct sbx_cgroup_root *r, const char *tag, const char *name)
{
    for (int c = 0; c < SBX_CG_N; c++) {
        if (r->v2_ctrl[c])
            continue;
        _cleanup_free_ char *mnt = find_mount("cgroup", ctrl_name[c]);
        _cleanup_free_ char *own = own_cgroup(ctrl_name[c]);
        if (!mnt || !own)
            continue;
        _cleanup_free_ char *parent = join(mnt, strcmp(own, "/") == 0 ? "" : own, "");
        char *base;
        if (!parent || asprintf(&base, "%s/%s", parent, name) < 0)
            continue;
        sweep_dead(parent, tag, false);
        if (mkdir(base, 0755) < 0 && errno != EEXIST) {
            sbx_warn("cgroup v1 %s: cannot create %s: %m", ctrl_name[c], base);
            free(base);
            continue;
        }
        r->v1_base[c] = base;
    }
}

void sbx_cgroup_root_init(struct sbx_cgroup_root *r, const char *tag)
{
    *r = (struct sbx_cgroup_root){ 0 };
    /* One base per daemon: daemons never remove each other's directories. */
    char name[128];
    snprintf(name, sizeof(name), "%s.%d", tag, (int)getpid());
    v2_init(r, tag, name);
    v1_init(r, tag, name);
    /* The defaults protect the host only where a controller enforces them: say so once. */
    for (int c = SBX_CG_MEMORY; c <= SBX_CG_PIDS; c++)
        if (!sbx_cgroup_root_can(r, c))
            sbx_warn("no %s cgroup controller (v2 or v1): sandboxes run without the default %s "
                     "limit, and a policy that sets one is refused",
                     ctrl_name[c], ctrl_name[c]);
}

void sbx_cgroup_root_done(struct sbx_cgroup_root *r)
{
    /* The base directories go too when no other daemon uses them; EBUSY is fine. */
    if (r->v2_base && r->v2_base_made)
        rmdir(r->v2_base);
    free(r->v2_base);
    for (int c = 0; c < SBX_CG_N; c++) {
        if (r->v1_base[c])
            rmdir(r->v1_base[c]);
        free(r->v1_base[c]);
    }
    *r = (struct sbx_cgroup_root){ 0 };
}

bool sbx_cgroup_root_can(const struct sbx_cgroup_root *r, enum sbx_cg_ctrl c)
{
    return r->v2_ctrl[c] || r->v1_base[c];
}

static int apply_limit(const struct sbx_cgroup *cg, enum sbx_cg_ctrl c, bool v2,
                       const struct sbx_cg_limits *lim)
{
    const char *dir = v2 ? cg->v2_path : cg->v1_path[c];
    char val[64];
    /* 0 lifts a limit an earlier call set (the spare is made with the defaults). */
    switch (c) {
    case SBX_CG_MEMORY:
        if (lim->memory)
            snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->memory);
        else
            snprintf(val, sizeof(val), "%s", v2 ? "max" : "-1");
        if (v2) {
            int r = write_file(dir, "memory.max", val);
            /* No swap: the limit means what it says. */
            if (r == 0)
                write_file(dir, "memory.swap.max", "0");
            return r;
        }
        /*
         * memsw (memory + swap, where the kernel accounts swap) may never be
         * below the memory limit: raised first, lowered after.
         */
        write_file(dir, "memory.memsw.limit_in_bytes", val);
        int r = write_file(dir, "memory.limit_in_bytes", val);
        if (r == 0)
            write_file(dir, "memory.memsw.limit_in_bytes", val);
        return r;
    case SBX_CG_PIDS:
        if (lim->pids)
            snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->pids);
        else
            snprintf(val, sizeof(val), "max");
        return write_file(dir, "pids.max", val);
    case SBX_CG_CPU: {
        if (!lim->cpu_millis)
            return write_file(dir, v2 ? "cpu.max" : "cpu.cfs_quota_us", v2 ? "max" : "-1");
        const unsigned period = 100000;
        unsigned long long quota = lim->cpu_millis * period / 1000;
        if (quota < 1000)
            quota = 1000;
        if (v2) {
            snprintf(val, sizeof(val), "%llu %u", quota, period);
            return write_file(dir, "cpu.max", val);
        }
        snprintf(val, sizeof(val), "%u", period);
        int rr = write_file(dir, "cpu.cfs_period_us", val);
        snprintf(val, sizeof(val), "%llu", quota);
        return rr < 0 ? rr : write_file(dir, "cpu.cfs_quota_us", val);
    }
    default:
        return -EINVAL;
    }
}

static uint64_t limit_of(const struct sbx_cg_limits *lim, enum sbx_cg_ctrl c)
{
    return c == SBX_CG_MEMORY ? lim->memory : c == SBX_CG_PIDS ? lim->pids : lim->cpu_millis;
}

int sbx_cgroup_limit(const struct sbx_cgroup_root *r, struct sbx_cgroup *cg,
                     const struct sbx_cg_limits *lim, struct sbx_error *e)
{
    for (int c = 0; c < SBX_CG_N; c++) {
        bool v2 = r->v2_ctrl[c];
        /* A limit to set, or one an earlier call set that this one lifts. */
        bool present = v2 ? cg->limited[c] : cg->v1_path[c] != NULL;
        if (!limit_of(lim, c) && !present)
            continue;
        /* The spare was made with the defaults: a run that keeps them writes nothing. */
        if (cg->applied[c] && cg->applied_value[c] == limit_of(lim, c))
            continue;
        if (!v2 && !cg->v1_path[c]) {
            if (!r->v1_base[c])
                return sbx_error_set(e, EOPNOTSUPP,
                                     "the %s limit cannot be enforced: no %s controller on "
                                     "this host",
                                     ctrl_name[c], ctrl_name[c]);
            cg->v1_path[c] = join(r->v1_base[c], "/", cg->name);
            if (!cg->v1_path[c] || mkdir(cg->v1_path[c], 0755) < 0) {
                int err = cg->v1_path[c] ? sbx_neg_errno() : -ENOMEM;
                sbx_error_set_errno(e, err, "cannot create %s cgroup", ctrl_name[c]);
                free(cg->v1_path[c]);
                cg->v1_path[c] = NULL;
                return err;
            }
        }
        int err = apply_limit(cg, c, v2, lim);
        if (err < 0)
            return sbx_error_set_errno(e, err, "cannot set the %s limit", ctrl_name[c]);
        cg->limited[c] = limit_of(lim, c) != 0;
        cg->applied[c] = true;
        cg->applied_value[c] = limit_of(lim, c);
    }
    return 0;
}

int sbx_cgroup_create(const struct sbx_cgroup_root *r, const char *name,
                      const struct sbx_cg_limits *lim, struct sbx_cgroup *ret, struct sbx_error *e)
{
    struct sbx_cgroup cg = { .v2_fd = -EBADF, .name = strdup(name) };
    int err = 0;
    if (!cg.name)
        return sbx_error_set_errno(e, ENOMEM, "cannot create cgroup %s", name);
    if (r->v2_base) {
        cg.v2_path = join(r->v2_base, "/", name);
        if (!cg.v2_path) {
            err = sbx_error_set_errno(e, ENOMEM, "cannot create cgroup %s", name);
            goto fail;
        }
        if (mkdir(cg.v2_path, 0755) < 0) {
            err = sbx_error_set_errno(e, errno, "cannot create cgroup %s", cg.v2_path);
            free(cg.v2_path);
            cg.v2_path = NULL;
            goto fail;
        }
        cg.v2_fd = open(cg.v2_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg.v2_fd < 0) {
            err = sbx_error_set_errno(e, errno, "cannot open cgroup %s", cg.v2_path);
            goto fail;
        }
    }
    if ((err = sbx_cgroup_limit(r, &cg, lim, e)) < 0)
        goto fail;
    *ret = cg;
    return 0;
fail:
    sbx_cgroup_destroy(&cg);
    return err;
}

int sbx_cgroup_attach_v1(struct sbx_cgroup *cg, pid_t pid)
{
    char val[32];
    snprintf(val, sizeof(val), "%d", (int)pid);
    for (int c = 0; c < SBX_CG_N; c++) {
        /* Each move is slow (it waits for an RCU grace period): once per controller. */
        if (!cg->v1_path[c] || cg->v1_attached[c])
            continue;
        int r = write_file(cg->v1_path[c], "cgroup.procs", val);
        if (r < 0)
            return r;
        cg->v1_attached[c] = true;
    }
    return 0;
}

int sbx_cgroup_v1_procs_open(const struct sbx_cgroup *cg, int fds[SBX_CG_N])
{
    for (int c = 0; c < SBX_CG_N; c++)
        fds[c] = -EBADF;
    for (int c = 0; c < SBX_CG_N; c++) {
        if (!cg->v1_path[c] || cg->v1_attached[c])
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/cgroup.procs", cg->v1_path[c]);
        fds[c] = open(path, O_WRONLY | O_CLOEXEC);
        if (fds[c] < 0) {
            int err = sbx_neg_errno();
            for (int i = 0; i < c; i++)
                sbx_close(fds[i]);
            fds[c] = -EBADF;
            return err;
        }
    }
    return 0;
}

void sbx_cgroup_v1_self_attached(struct sbx_cgroup *cg, const int fds[SBX_CG_N])
{
    for (int c = 0; c < SBX_CG_N; c++)
        if (fds[c] >= 0)
            cg->v1_attached[c] = true;
}

bool sbx_cgroup_oom_killed(const struct sbx_cgroup *cg)
{
    char buf[1024];
    const char *dir = cg->v1_path[SBX_CG_MEMORY] ? cg->v1_path[SBX_CG_MEMORY] : cg->v2_path;
    const char *file = cg->v1_path[SBX_CG_MEMORY] ? "memory.oom_control" : "memory.events";
    if (!dir || read_file(dir, file, buf, sizeof(buf)) < 0)
        return false;
    const char *p = strstr(buf, "oom_kill ");
    return p && strtoull(p + 9, NULL, 10) > 0;
}

/*
 * rmdir fails with EBUSY while the group holds tasks, dying ones included:
 * then, in v2, cgroup.kill ends them, and they get a moment to go.  Only
 * then: a write to cgroup.kill stops forks in the whole hierarchy until an
 * RCU grace period passes (cgroup_threadgroup_rwsem taken for writing),
 * 6-12 ms on the development VM, and a sandbox that ends normally has no
 * task left by now (its init is reaped, so is its pid namespace).
 */
static void remove_dir(const char *path, bool v2)
{
    for (int i = 0; i < 200; i++) {
        if (rmdir(path) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY) {
            sbx_warn("cannot remove cgroup %s: %m", path);
            return;
        }
        if (v2 && i == 0)
            write_file(path, "cgroup.kill", "1");
        else
            nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    }
    sbx_warn("cgroup %s still busy, left behind", path);
}

/* v1 has no cgroup.kill: signal every listed process (they cannot fork past pids.max). */
static void kill_v1(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    for (int round = 0; round < 8; round++) {
        FILE *f = fopen(path, "re");
        if (!f)
            return;
        int pid, n = 0;
        while (fscanf(f, "%d", &pid) == 1) {
            kill(pid, SIGKILL);
            n++;
        }
        fclose(f);
        if (n == 0)
            return;
    }
}

void sbx_cgroup_destroy(struct sbx_cgroup *cg)
{
    if (cg->v2_path) {
        remove_dir(cg->v2_path, true);
        free(cg->v2_path);
    }
    sbx_close(cg->v2_fd);
    for (int c = 0; c < SBX_CG_N; c++) {
        if (!cg->v1_path[c])
            continue;
        if (!cg->v2_path)
            kill_v1(cg->v1_path[c]);
        remove_dir(cg->v1_path[c], false);
        free(cg->v1_path[c]);
    }
    free(cg->name);
    *cg = (struct sbx_cgroup){ .v2_fd = -EBADF };
}

/*
 * Removes the base directories of daemons that died without cleaning up:
 * "TAG.PID" whose PID is gone, with their empty (or emptied) sandbox groups.
 */
static void sweep_dead(const char *parent, const char *tag, bool v2)
{
    DIR *dir = opendir(parent);
    if (!dir)
        return;
    size_t tlen = strlen(tag);
    struct dirent *de;
    while ((de = readdir(dir))) {
        char *end;
        if (strncmp(de->d_name, tag, tlen) != 0 || de->d_name[tlen] != '.')
            continue;
        long pid = strtol(de->d_name + tlen + 1, &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char base[4096];
        snprintf(base, sizeof(base), "%s/%s", parent, de->d_name);
        DIR *sub = opendir(base);
        struct dirent *se;
        while (sub && (se = readdir(sub))) {
            if (se->d_type != DT_DIR || se->d_name[0] == '.')
                continue;
            char child[4096 + 256];
            snprintf(child, sizeof(child), "%s/%s", base, se->d_name);
            kill_v1(child);
            remove_dir(child, v2);
        }
        if (sub)
            closedir(sub);
        rmdir(base);
    }
    closedir(dir);
}
