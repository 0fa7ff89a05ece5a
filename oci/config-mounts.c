/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mounts: the bundle's mount list as sbx-init's binds, tmpfs and kernel
 * filesystems, or refused by name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "oci/config-json.h"
#include "oci/oci.h"
#include "sbx/macro.h"

/* ---- mounts ---- */

struct mount_opts {
    bool ro, recursive, copyup;
    char *data; /* tmpfs: "size=...,mode=..." */
};

/*
 * Mount options: the flags sandboxd applies anyway (nosuid, nodev; binds
 * are always private) are accepted, ro and rbind are honoured, noexec is
 * honoured for tmpfs, and anything that would ask for more (suid, dev,
 * shared propagation) is refused.
 */
static int parse_mount_opts(json_object *m, const char *where, bool bind, struct mount_opts *ret,
                            struct sbx_error *e)
{
    json_object *opts = sbx_oci_json_get(m, "options");
    if (!opts)
        return 0;
    if (!json_object_is_type(opts, json_type_array))
        return sbx_error_set(e, EINVAL, "%s.options: not an array", where);
    static const char *const harmless[] = {
        "nosuid", "nodev",    "noexec",      "rprivate",    "private", "rslave",
        "slave",  "relatime", "norelatime",  "strictatime", "noatime", "nodiratime",
        "rw",     "bind",     "newinstance", "exec",        NULL
    };
    for (size_t i = 0; i < json_object_array_length(opts); i++) {
        const char *o = json_object_get_string(json_object_array_get_idx(opts, i));
        if (!o)
            return sbx_error_set(e, EINVAL, "%s.options[%zu]: not a string", where, i);
        if (!strcmp(o, "ro")) {
            ret->ro = true;
            continue;
        }
        if (!strcmp(o, "rbind")) {
            ret->recursive = true;
            continue;
        }
        if (!bind && !strcmp(o, "tmpcopyup")) {
            ret->copyup = true;
            continue;
        }
        bool ok = false;
        for (const char *const *h = harmless; *h && !ok; h++)
            ok = !strcmp(*h, o);
        if (ok)
            continue;
        if (!bind && strchr(o, '=')) {
            size_t len = ret->data ? strlen(ret->data) : 0;
            char *d = realloc(ret->data, len + strlen(o) + 2);
            if (!d)
                return -ENOMEM;
            snprintf(d + len, strlen(o) + 2, "%s%s", len ? "," : "", o);
            ret->data = d;
            continue;
        }
        return sbx_error_set(e, EOPNOTSUPP, "%s.options[%zu]: %s is not supported", where, i, o);
    }
    return 0;
}

/* "size=64m,mode=1777" (units k, m, g) to bytes and mode; other keys are refused. */
static int tmpfs_data(const char *data, const char *where, struct sbx_spec_tmpfs *t,
                      struct sbx_error *e)
{
    _cleanup_free_ char *buf = strdup(data ? data : "");
    if (!buf)
        return -ENOMEM;
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *v = strchr(kv, '=');
        *v++ = '\0';
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, !strcmp(kv, "mode") ? 8 : 10);
        if (errno || end == v)
            return sbx_error_set(e, EINVAL, "%s.options: %s=%s is not a number", where, kv, v);
        if (!strcmp(kv, "size")) {
            unsigned shift = 0;
            switch (*end) {
            case 'k':
            case 'K':
                shift = 10;
                end++;
                break;
            case 'm':
            case 'M':
                shift = 20;
                end++;
                break;
            case 'g':
            case 'G':
                shift = 30;
                end++;
                break;
            default:
                break;
            }
            if (*end || x > (UINT64_MAX >> shift))
                return sbx_error_set(e, EINVAL, "%s.options: size=%s", where, v);
            t->size = x << shift;
        } else if (!strcmp(kv, "mode")) {
            if (*end || x > 07777)
                return sbx_error_set(e, EINVAL, "%s.options: mode=%s", where, v);
            t->mode = (uint32_t)x;
        } else {
            return sbx_error_set(e, EOPNOTSUPP, "%s.options: %s= is not supported", where, kv);
        }
    }
    return 0;
}

/*
 * tmpcopyup fills a tmpfs with what the root has at its mount point.
 * sbx-init does not copy; where there is nothing to copy (the directory is
 * empty or missing, as /tmp, /run and /var/tmp of images usually are) the
 * tmpfs is the same without it, and otherwise the option is refused.  The
 * path is resolved inside the root, as the container would see it.
 */
static int empty_in_root(const char *root, const char *dst, const char *where, struct sbx_error *e)
{
    _cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return sbx_error_set(e, errno, "root.path %s: %s", root, strerror(errno));
    struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    const char *rel = dst + strspn(dst, "/");
    int fd = (int)syscall(SYS_openat2, rfd, *rel ? rel : ".", &how, sizeof(how));
    if (fd < 0)
        return errno == ENOENT
                   ? 0
                   : sbx_error_set(e, errno, "%s: %s in the root: %s", where, dst, strerror(errno));
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -ENOMEM;
    }
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)))
        empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    if (!empty)
        return sbx_error_set(e, EOPNOTSUPP,
                             "%s.options: tmpcopyup of %s, which is not empty in the root, is not "
                             "supported",
                             where, dst);
    return 0;
}

/*
 * The mounts sbx-init makes itself (the hardened /proc, /dev with its
 * devpts and /dev/shm) stand in for the engine's: an entry for one of
 * them is accepted when it asks for no more than sbx-init gives.  /dev/shm
 * is the sandbox's own tmpfs of 64 MiB, not the engine's bind.
 */
static int load_mount(json_object *m, const char *where, struct sbx_oci_config *c,
                      struct sbx_error *e)
{
    static const char *const known[] = { "destination", "type",        "source", "options",
                                         "uidMappings", "gidMappings", NULL };
    int r = sbx_oci_json_keys(m, where, known, e);
    if (r < 0 || (r = sbx_oci_json_refuse(m, "uidMappings", where, e)) < 0 ||
        (r = sbx_oci_json_refuse(m, "gidMappings", where, e)) < 0)
        return r;
    _cleanup_free_ char *dst = NULL, *type = NULL, *src = NULL;
    if ((r = sbx_oci_json_str(m, "destination", where, &dst, e)) < 0 ||
        (r = sbx_oci_json_str(m, "type", where, &type, e)) < 0 ||
        (r = sbx_oci_json_str(m, "source", where, &src, e)) < 0)
        return r;
    if (!dst || dst[0] != '/')
        return sbx_error_set(e, EINVAL, "%s.destination: missing or not absolute", where);
    struct mount_opts o = { 0 };
    bool bind = type && !strcmp(type, "bind");
    if (!type) {
        /* A mount without a type is a bind when its options say so. */
        json_object *opts = sbx_oci_json_get(m, "options");
        for (size_t i = 0; opts && i < json_object_array_length(opts); i++) {
            const char *s = json_object_get_string(json_object_array_get_idx(opts, i));
            bind |= s && (!strcmp(s, "bind") || !strcmp(s, "rbind"));
        }
        if (!bind)
            return sbx_error_set(e, EINVAL, "%s.type: missing", where);
    }
    r = parse_mount_opts(m, where, bind, &o, e);
    _cleanup_free_ char *data = o.data;
    if (r < 0)
        return r;
    struct sbx_spec *spec = &c->proc.spec;
    if (!strcmp(dst, "/dev/shm") ||
        (!bind && (!strcmp(dst, "/proc") || !strcmp(dst, "/dev") || !strcmp(dst, "/dev/pts")))) {
        static const char *const own[][2] = { { "/proc", "proc" },
                                              { "/dev", "tmpfs" },
                                              { "/dev/pts", "devpts" } };
        if (!strcmp(dst, "/dev/shm"))
            return 0;
        for (size_t i = 0; i < ARRAY_SIZE(own); i++)
            if (!strcmp(dst, own[i][0]) && strcmp(type, own[i][1]) != 0)
                return sbx_error_set(e, EOPNOTSUPP, "%s: %s at %s is not supported", where, type,
                                     dst);
        return 0;
    }
    if (bind) {
        if (!src || src[0] != '/')
            return sbx_error_set(e, EINVAL, "%s.source: missing or not absolute", where);
        if (spec->n_binds >= SBX_OCI_MAX_BINDS)
            return sbx_error_set(e, E2BIG, "%s: more than %d bind mounts", where,
                                 SBX_OCI_MAX_BINDS);
        struct sbx_spec_bind *nb = reallocarray(spec->binds, spec->n_binds + 1, sizeof(*nb));
        if (!nb)
            return -ENOMEM;
        spec->binds = nb;
        struct sbx_oci_bind *ns = reallocarray(c->binds, spec->n_binds + 1, sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        c->binds = ns;
        nb[spec->n_binds] = (struct sbx_spec_bind){ .target = TAKE_PTR(dst),
                                                    .flags = o.ro ? SBX_BIND_READONLY : 0 };
        ns[spec->n_binds] =
            (struct sbx_oci_bind){ .source = TAKE_PTR(src), .recursive = o.recursive };
        spec->n_binds++;
        return 0;
    }
    if (!strcmp(type, "tmpfs")) {
        struct sbx_spec_tmpfs t = { 0 };
        if ((r = tmpfs_data(data, where, &t, e)) < 0 ||
            (o.copyup && (r = empty_in_root(c->root_path, dst, where, e)) < 0))
            return r;
        if (o.ro)
            return sbx_error_set(e, EOPNOTSUPP, "%s.options: a read-only tmpfs is not supported",
                                 where);
        struct sbx_spec_tmpfs *nt = reallocarray(spec->tmpfs, spec->n_tmpfs + 1, sizeof(*nt));
        if (!nt)
            return -ENOMEM;
        spec->tmpfs = nt;
        t.target = TAKE_PTR(dst);
        nt[spec->n_tmpfs++] = t;
        return 0;
    }
    static const struct {
        const char *type, *dst;
        uint32_t flag;
        bool ro;
    } kernel_fs[] = {
        { "sysfs", "/sys", SBX_SPEC_SYSFS, true },
        { "cgroup", "/sys/fs/cgroup", SBX_SPEC_CGROUPFS, true },
        { "cgroup2", "/sys/fs/cgroup", SBX_SPEC_CGROUPFS, true },
        { "mqueue", "/dev/mqueue", SBX_SPEC_MQUEUE, false },
    };
    for (size_t i = 0; i < ARRAY_SIZE(kernel_fs); i++) {
        if (strcmp(type, kernel_fs[i].type) != 0)
            continue;
        if (strcmp(dst, kernel_fs[i].dst) != 0)
            return sbx_error_set(e, EOPNOTSUPP, "%s: %s is supported at %s only", where, type,
                                 kernel_fs[i].dst);
        /* sysfs and cgroupfs show host state: sbx-init mounts them read-only, whatever asked. */
        if (data)
            return sbx_error_set(e, EOPNOTSUPP, "%s.options: %s is not supported", where, data);
        spec->flags |= kernel_fs[i].flag;
        return 0;
    }
    return sbx_error_set(e, EOPNOTSUPP, "%s.type: %s is not supported", where, type);
}

int sbx_oci_config_mounts(json_object *root, struct sbx_oci_config *c, struct sbx_error *e)
{
    json_object *ms = sbx_oci_json_get(root, "mounts");
    if (!ms)
        return 0;
    if (!json_object_is_type(ms, json_type_array))
        return sbx_error_set(e, EINVAL, "mounts: not an array");
    for (size_t i = 0; i < json_object_array_length(ms); i++) {
        char where[32];
        snprintf(where, sizeof(where), "mounts[%zu]", i);
        int r = load_mount(json_object_array_get_idx(ms, i), where, c, e);
        if (r < 0)
            return r;
    }
    if ((c->proc.spec.flags & SBX_SPEC_CGROUPFS) && !(c->proc.spec.flags & SBX_SPEC_SYSFS))
        return sbx_error_set(e, EOPNOTSUPP, "mounts: a cgroup mount needs sysfs at /sys");
    return 0;
}
