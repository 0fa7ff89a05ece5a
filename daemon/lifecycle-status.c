/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * STATUS (the daemon as a whole) and the live figures of one sandbox that
 * inspect and `sandboxctl stats` show: the cgroup's usage and the
 * trampoline's syscall counters.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/lifecycle.h"
#include "daemon/sandbox.h"
#include "policy/policy.h"
#include "sbx-config.h"
#include "sbx/abi.h"
#include "sbx/macro.h"

#define DU_MAX_DEPTH 4
#define DU_MAX_ENTRIES 100000 /* a bound on the walk, not on the directory */

static json_object *int_or_null(int64_t v)
{
    return v >= 0 ? json_object_new_int64(v) : NULL;
}

/*
 * The trampoline's counters, read with pread like the exit's statistics: a
 * guest may scribble on them, so they are figures, not facts.
 */
static void add_syscalls(json_object *o, const struct sbx_sandbox *s)
{
    if (s->stats_fd < 0) {
        json_object_object_add(o, "syscalls", NULL);
        return;
    }
    struct sbx_stats *st = malloc(sizeof(*st));
    if (!st || pread(s->stats_fd, st, sizeof(*st), 0) != (ssize_t)sizeof(*st)) {
        free(st);
        json_object_object_add(o, "syscalls", NULL);
        return;
    }
    uint64_t trapped = 0, patched = 0;
    /* Per syscall too, those counted at all: at most SBX_STATS_NSYSCALLS entries. */
    json_object *each = json_object_new_object();
    char name[64];
    for (unsigned i = 0; i < SBX_STATS_NSYSCALLS; i++) {
        trapped += st->trapped[i];
        patched += st->patched[i];
        if (!st->trapped[i] && !st->patched[i])
            continue;
        json_object *c = json_object_new_object();
        json_object_object_add(c, "trapped", json_object_new_uint64(st->trapped[i]));
        json_object_object_add(c, "patched", json_object_new_uint64(st->patched[i]));
        sbx_policy_syscall_name((int)i, name, sizeof(name));
        if (name[0] == '?')
            snprintf(name, sizeof(name), "%u", i);
        json_object_object_add(each, name, c);
    }
    free(st);
    json_object *j = json_object_new_object();
    json_object_object_add(j, "trapped", json_object_new_int64((int64_t)trapped));
    json_object_object_add(j, "patched", json_object_new_int64((int64_t)patched));
    json_object_object_add(j, "by_syscall", each);
    json_object_object_add(o, "syscalls", j);
}

json_object *sbx_life_usage_json(const struct sbx_life *l)
{
    if (!l->sandbox)
        return NULL;
    struct sbx_cg_usage u;
    sbx_cgroup_usage(&l->sandbox->cg, &u);
    json_object *j = json_object_new_object();
    json_object_object_add(j, "memory_current_bytes", int_or_null(u.memory_current));
    json_object_object_add(j, "memory_peak_bytes", int_or_null(u.memory_peak));
    json_object_object_add(j, "cpu_usec", int_or_null(u.cpu_usec));
    json_object_object_add(j, "pids_current", int_or_null(u.pids_current));
    add_syscalls(j, l->sandbox);
    return j;
}

/* Bytes of the regular files under dir_fd, a few levels down and a bounded number of them. */
static uint64_t du(int dir_fd, int depth, unsigned *budget)
{
    int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        sbx_close(fd);
        return 0;
    }
    uint64_t total = 0;
    struct dirent *de;
    while (*budget > 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        (*budget)--;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            total += (uint64_t)st.st_blocks * 512;
        } else if (S_ISDIR(st.st_mode) && depth > 0) {
            _cleanup_close_ int sub =
                openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                total += du(sub, depth - 1, budget);
        }
    }
    closedir(d);
    return total;
}

static int64_t count_entries(int dir_fd)
{
    if (dir_fd < 0)
        return -1;
    int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        sbx_close(fd);
        return -1;
    }
    rewinddir(d);
    int64_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* What the caller may see: its own sandboxes' numbers (root's: all), the daemon's for everyone. */
json_object *sbx_lifecycle_status_json(struct sbx_daemon *d, uid_t uid)
{
    struct sbx_lifecycle *lc = &d->lifecycle;
    int64_t running = 0, detached = 0, records = 0;
    for (struct sbx_life *l = lc->lives; l; l = l->next) {
        if (uid != 0 && l->uid != uid)
            continue;
        running += l->running;
        detached += l->running && l->detached;
        records += l->detached;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "server", json_object_new_string("sandboxd " SBX_VERSION));
    json_object_object_add(o, "pid", json_object_new_int64(getpid()));
    char t[64];
    sbx_format_time(lc->started_ms, t, sizeof(t));
    json_object_object_add(o, "started", json_object_new_string(t));
    json_object_object_add(o, "uptime_ms",
                           json_object_new_int64((int64_t)sbx_daemon_now(d) - lc->loop_started));
    json_object_object_add(o, "scope", json_object_new_string(uid == 0 ? "all" : "own"));
    json_object *s = json_object_new_object();
    json_object_object_add(s, "running", json_object_new_int64(running));
    json_object_object_add(s, "detached_running", json_object_new_int64(detached));
    json_object_object_add(s, "recorded", json_object_new_int64(records));
    json_object_object_add(o, "sandboxes", s);
    json_object_object_add(o, "images_cached", json_object_new_int64((int64_t)d->images.n));
    json_object_object_add(o, "sitemaps", int_or_null(count_entries(d->sitemap_dir_fd)));
    json_object_object_add(o, "state_dir", json_object_new_string(d->cfg.state_dir));
    _cleanup_close_ int sd = open(d->cfg.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    unsigned budget = DU_MAX_ENTRIES;
    json_object_object_add(o, "state_dir_bytes",
                           sd >= 0 ? json_object_new_int64((int64_t)du(sd, DU_MAX_DEPTH, &budget))
                                   : NULL);
    json_object *lim = json_object_new_object();
    json_object_object_add(lim, "max_detached", json_object_new_int64(d->cfg.max_detached));
    json_object_object_add(lim, "max_detached_all",
                           json_object_new_int64(d->lifecycle.max_detached_all));
    json_object_object_add(lim, "max_records", json_object_new_int64(d->cfg.max_records));
    json_object_object_add(lim, "log_size_bytes", json_object_new_int64((int64_t)d->cfg.log_size));
    json_object_object_add(o, "limits", lim);
    return o;
}
