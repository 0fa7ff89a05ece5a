/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A container's state: ROOT/ID/state.json, written whole to a temporary
 * file and renamed over the old one, so a reader sees one version or the
 * next.  The status is never stored: it is what the processes and the
 * cgroup say when asked, so a monitor killed with SIGKILL still reads as
 * stopped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "sbx/macro.h"

int sbx_oci_state_dir(const char *root, const char *id, char *buf, size_t len, struct sbx_error *e)
{
    /* runc's rule for ids: they name a directory and nothing more. */
    size_t n = strlen(id);
    if (n == 0 || n > 1024 || id[0] == '.' ||
        strspn(id, "abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789_+-.") != n)
        return sbx_error_set(e, EINVAL, "invalid container id %s", id);
    if (snprintf(buf, len, "%s/%s", root, id) >= (int)len)
        return sbx_error_set(e, ENAMETOOLONG, "state directory for %s: path too long", id);
    return 0;
}

static void add_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

int sbx_oci_state_write(const char *dir, const struct sbx_oci_state *s, struct sbx_error *e)
{
    json_object *o = json_object_new_object();
    if (!o)
        return -ENOMEM;
    add_str(o, "id", s->id);
    add_str(o, "bundle", s->bundle);
    add_str(o, "rootfs", s->rootfs);
    add_str(o, "created", s->created);
    add_str(o, "annotations", s->annotations_json);
    json_object_object_add(o, "monitor", json_object_new_int64(s->monitor));
    json_object_object_add(o, "monitor_start", json_object_new_uint64(s->monitor_start));
    json_object_object_add(o, "init", json_object_new_int64(s->init));
    json_object_object_add(o, "init_start", json_object_new_uint64(s->init_start));
    json_object_object_add(o, "guest", json_object_new_int64(s->guest));
    json_object_object_add(o, "guest_start", json_object_new_uint64(s->guest_start));
    json_object_object_add(o, "mode", json_object_new_int64(s->mode));
    json_object_object_add(o, "started", json_object_new_boolean(s->started));
    add_str(o, "cgroup_name", s->cg.name);
    add_str(o, "cgroup_v2", s->cg.v2_path);
    static const char *const v1[SBX_CG_N] = { "cgroup_v1_memory", "cgroup_v1_pids",
                                              "cgroup_v1_cpu" };
    for (int c = 0; c < SBX_CG_N; c++)
        add_str(o, v1[c], s->cg.v1_path[c]);
    add_str(o, "cgroup_v1_freezer", s->freezer_v1);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/.state.json.%d", dir, (int)getpid());
    snprintf(path, sizeof(path), "%s/state.json", dir);
    int r = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
        r = sbx_error_set(e, errno ? errno : EIO, "write %s: %s", tmp,
                          strerror(errno ? errno : EIO));
    if (fd >= 0)
        close(fd);
    if (r == 0 && rename(tmp, path) < 0)
        r = sbx_error_set(e, errno, "rename %s: %s", path, strerror(errno));
    if (r < 0)
        unlink(tmp);
    json_object_put(o);
    return r;
}

static char *dup_field(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v))
        return NULL;
    const char *s = json_object_get_string(v);
    return s && *s ? strdup(s) : NULL;
}

static int64_t int_field(json_object *o, const char *k)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

int sbx_oci_state_read(const char *dir, struct sbx_oci_state *ret, struct sbx_error *e)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/state.json", dir);
    json_object *o = json_object_from_file(path);
    if (!o) {
        int err = errno;
        const char *id = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
        if (access(dir, F_OK) < 0 && errno == ENOENT)
            return sbx_error_set(e, ENOENT, "container \"%s\" does not exist", id);
        return sbx_error_set(e, err ? err : EINVAL, "read %s: %s", path, json_util_get_last_err());
    }
    struct sbx_oci_state s = { .cg = { .v2_fd = -EBADF } };
    s.id = dup_field(o, "id");
    s.bundle = dup_field(o, "bundle");
    s.rootfs = dup_field(o, "rootfs");
    s.created = dup_field(o, "created");
    s.annotations_json = dup_field(o, "annotations");
    s.monitor = (pid_t)int_field(o, "monitor");
    s.monitor_start = (uint64_t)int_field(o, "monitor_start");
    s.init = (pid_t)int_field(o, "init");
    s.init_start = (uint64_t)int_field(o, "init_start");
    s.guest = (pid_t)int_field(o, "guest");
    s.guest_start = (uint64_t)int_field(o, "guest_start");
    s.mode = (uint32_t)int_field(o, "mode");
    json_object *v = NULL;
    s.started = json_object_object_get_ex(o, "started", &v) && json_object_get_boolean(v);
    s.cg.name = dup_field(o, "cgroup_name");
    s.cg.v2_path = dup_field(o, "cgroup_v2");
    s.cg.v1_path[SBX_CG_MEMORY] = dup_field(o, "cgroup_v1_memory");
    s.cg.v1_path[SBX_CG_PIDS] = dup_field(o, "cgroup_v1_pids");
    s.cg.v1_path[SBX_CG_CPU] = dup_field(o, "cgroup_v1_cpu");
    s.freezer_v1 = dup_field(o, "cgroup_v1_freezer");
    json_object_put(o);
    if (!s.id) {
        sbx_oci_state_free(&s);
        return sbx_error_set(e, EINVAL, "%s: no container id", path);
    }
    *ret = s;
    return 0;
}

void sbx_oci_state_free(struct sbx_oci_state *s)
{
    free(s->id);
    free(s->bundle);
    free(s->rootfs);
    free(s->created);
    free(s->annotations_json);
    free(s->cg.name);
    free(s->freezer_v1);
    free(s->cg.v2_path);
    for (int c = 0; c < SBX_CG_N; c++)
        free(s->cg.v1_path[c]);
    sbx_close(s->cg.v2_fd);
    *s = (struct sbx_oci_state){ .cg = { .v2_fd = -EBADF } };
}

uint64_t sbx_oci_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command may hold spaces and parentheses: fields count from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long long start = 0;
    char state = 0;
    /* state is field 3, starttime field 22. */
    if (sscanf(p + 2,
               "%c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
               "%*s %llu",
               &state, &start) != 2)
        return 0;
    return state == 'Z' || state == 'X' ? 0 : start;
}

bool sbx_oci_alive(pid_t pid, uint64_t start)
{
    return pid > 0 && start && sbx_oci_start_time(pid) == start;
}

static bool frozen(const struct sbx_oci_state *s)
{
    char path[PATH_MAX], buf[256];
    if (!s->cg.v2_path && !s->freezer_v1)
        return false;
    if (s->cg.v2_path)
        snprintf(path, sizeof(path), "%s/cgroup.freeze", s->cg.v2_path);
    else
        snprintf(path, sizeof(path), "%s/freezer.state", s->freezer_v1);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* v1 says FREEZING on the way: the container is no longer running either. */
    return s->cg.v2_path ? buf[0] == '1' : strncmp(buf, "THAWED", 6) != 0;
}

const char *sbx_oci_status(const struct sbx_oci_state *s)
{
    if (!sbx_oci_alive(s->monitor, s->monitor_start) || !sbx_oci_alive(s->init, s->init_start))
        return "stopped";
    if (frozen(s))
        return "paused";
    return s->started ? "running" : "created";
}

int sbx_oci_state_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : sbx_neg_errno();
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
            r = sbx_neg_errno();
    }
    closedir(d);
    if (rmdir(dir) < 0 && errno != ENOENT)
        return sbx_neg_errno();
    return r;
}
