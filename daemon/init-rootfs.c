/*
 * sbx-init, root filesystem: a staging tmpfs in the sandbox's private mount
 * namespace holds the overlay (image below, tmpfs above), then /proc, /dev,
 * /tmp and the policy's mounts go on top and pivot_root makes it the root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/init.h"
#include "sbx/macro.h"

int sbx_init_fail(struct sbx_init_error *e, int err, const char *fmt, ...)
{
    if (err < 0)
        err = -err;
    e->err = err ? err : EIO;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(e->msg))
        snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", strerror(e->err));
    return -e->err;
}

#define TRY(e, call, ...)                                                                          \
    do {                                                                                           \
        if ((call) < 0)                                                                            \
            return sbx_init_fail((e), errno, __VA_ARGS__);                                         \
    } while (0)

/* Creates every missing directory of path (absolute, below the current root). */
static int mkdir_p(const char *path, mode_t mode)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return sbx_neg_errno();
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return sbx_neg_errno();
    return 0;
}

/* Makes an empty file to bind a non-directory over, creating parents. */
static int touch_p(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int r = mkdir_p(dir, 0755);
        if (r < 0)
            return r;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return errno == EEXIST ? 0 : sbx_neg_errno();
    close(fd);
    return 0;
}

/*
 * Attaches a detached mount tree (the daemon made a fresh one for this
 * sandbox) at target, a path below ".", after setting its attributes.
 */
static int attach_detached(int mount_fd, const char *target, unsigned attr_set,
                           struct sbx_init_error *e, const char *what)
{
    if (attr_set) {
        struct mount_attr attr = { .attr_set = attr_set };
        TRY(e, mount_setattr(mount_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)),
            "%s: mount_setattr", what);
    }
    TRY(e, move_mount(mount_fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH),
        "%s: move_mount to %s", what, target);
    return 0;
}

static int mount_overlay(const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                         struct sbx_init_error *e)
{
    /* Every writable layer has the size the daemon gave (size=0: unlimited). */
    char opts[256];
    snprintf(opts, sizeof(opts), "mode=0700,size=%llu", (unsigned long long)spec->overlay_size);
    TRY(e, mount("sbx-staging", spec->staging, "tmpfs", MS_NOSUID | MS_NODEV, opts),
        "mount staging tmpfs on %s", spec->staging);
    TRY(e, chdir(spec->staging), "chdir %s", spec->staging);

    if (spec->flags & SBX_SPEC_WRITABLE_IMAGE) {
        TRY(e, mkdir("root", 0755), "mkdir root");
        return attach_detached(fds->image, "root", 0, e, "image");
    }
    TRY(e, mkdir("lower", 0700), "mkdir lower");
    TRY(e, mkdir("upper", 0755), "mkdir upper");
    TRY(e, mkdir("work", 0700), "mkdir work");
    TRY(e, mkdir("root", 0755), "mkdir root");
    int r = attach_detached(fds->image, "lower", MOUNT_ATTR_RDONLY, e, "image");
    if (r < 0)
        return r;
    char ovl[1024];
    snprintf(ovl, sizeof(ovl), "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", spec->staging,
             spec->staging, spec->staging);
    TRY(e, mount("sbx-root", "root", "overlay", MS_NOSUID | MS_NODEV, ovl), "mount overlay");
    return 0;
}

/* Paths of /proc that expose or change host-wide state; uid 0 without capabilities
 * can still write some of them, so they are read-only or hidden, as in OCI runtimes. */
static const char *const proc_readonly[] = { "sys", "sysrq-trigger", "irq", "bus", "fs" };
static const char *const proc_masked[] = { "kcore", "keys", "timer_list",    "sched_debug",
                                           "acpi",  "scsi", "latency_stats", "kallsyms" };

static int mount_proc(struct sbx_init_error *e)
{
    TRY(e, mkdir_p("root/proc", 0555), "mkdir /proc");
    TRY(e, mount("proc", "root/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
        "mount /proc");
    char path[256];
    for (size_t i = 0; i < ARRAY_SIZE(proc_readonly); i++) {
        snprintf(path, sizeof(path), "root/proc/%s", proc_readonly[i]);
        if (access(path, F_OK) < 0)
            continue;
        TRY(e, mount(path, path, NULL, MS_BIND | MS_REC, NULL), "bind %s", path);
        TRY(e,
            mount(NULL, path, NULL,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
            "remount %s read-only", path);
    }
    for (size_t i = 0; i < ARRAY_SIZE(proc_masked); i++) {
        snprintf(path, sizeof(path), "root/proc/%s", proc_masked[i]);
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            TRY(e,
                mount("sbx-mask", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "size=0,mode=0555"),
                "mask %s", path);
        else
            TRY(e, mount("/dev/null", path, NULL, MS_BIND, NULL), "mask %s", path);
    }
    return 0;
}

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
static const char *const dev_links[][2] = {
    { "/proc/self/fd", "fd" },       { "/proc/self/fd/0", "stdin" },
    { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
    { "pts/ptmx", "ptmx" },
};

static int mount_dev(const struct sbx_spec *spec, struct sbx_init_error *e)
{
    TRY(e, mkdir_p("root/dev", 0755), "mkdir /dev");
    TRY(e, mount("sbx-dev", "root/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k"),
        "mount /dev");
    char path[256], host[64];
    for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
        snprintf(path, sizeof(path), "root/dev/%s", dev_nodes[i]);
        snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
        TRY(e, touch_p(path), "create %s", path);
        /* Bind the host's nodes: the guest gets these devices and no others. */
        TRY(e, mount(host, path, NULL, MS_BIND, NULL), "bind %s", host);
    }
    for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++) {
        snprintf(path, sizeof(path), "root/dev/%s", dev_links[i][1]);
        TRY(e, symlink(dev_links[i][0], path), "symlink %s", path);
    }
    TRY(e, mkdir("root/dev/pts", 0755), "mkdir /dev/pts");
    TRY(e,
        mount("devpts", "root/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620"),
        "mount /dev/pts");
    TRY(e, mkdir("root/dev/shm", 01777), "mkdir /dev/shm");
    char opts[64];
    snprintf(opts, sizeof(opts), "mode=1777,size=%llu", (unsigned long long)spec->shm_size);
    TRY(e, mount("sbx-shm", "root/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts), "mount /dev/shm");
    return 0;
}

static int mount_policy(const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                        struct sbx_init_error *e)
{
    char path[4096];
    for (uint32_t i = 0; i < spec->n_binds; i++) {
        const struct sbx_spec_bind *b = &spec->binds[i];
        snprintf(path, sizeof(path), "root%s", b->target);
        struct stat st;
        if (fstat(fds->binds[i], &st) < 0)
            return sbx_init_fail(e, errno, "bind %s: stat source", b->target);
        int r = S_ISDIR(st.st_mode) ? mkdir_p(path, 0755) : touch_p(path);
        if (r < 0)
            return sbx_init_fail(e, r, "bind %s: create mount point", b->target);
        r = attach_detached(fds->binds[i], path,
                            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                ((b->flags & SBX_BIND_READONLY) ? MOUNT_ATTR_RDONLY : 0),
                            e, b->target);
        if (r < 0)
            return r;
    }
    for (uint32_t i = 0; i < spec->n_tmpfs; i++) {
        const struct sbx_spec_tmpfs *t = &spec->tmpfs[i];
        snprintf(path, sizeof(path), "root%s", t->target);
        int r = mkdir_p(path, 0755);
        if (r < 0)
            return sbx_init_fail(e, r, "tmpfs %s: create mount point", t->target);
        char opts[128];
        int n = snprintf(opts, sizeof(opts), "mode=%04o", t->mode ? t->mode : 01777);
        if (t->size)
            snprintf(opts + n, sizeof(opts) - (size_t)n, ",size=%llu", (unsigned long long)t->size);
        TRY(e, mount("sbx-tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts), "tmpfs %s",
            t->target);
    }
    for (uint32_t i = 0; i < spec->n_masked; i++) {
        snprintf(path, sizeof(path), "root%s", spec->masked[i]);
        struct stat st;
        if (lstat(path, &st) < 0)
            continue; /* nothing there to hide */
        if (S_ISDIR(st.st_mode))
            TRY(e,
                mount("sbx-mask", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "size=0,mode=0555"),
                "mask %s", spec->masked[i]);
        else
            TRY(e, mount("/dev/null", path, NULL, MS_BIND, NULL), "mask %s", spec->masked[i]);
    }
    return 0;
}

int sbx_init_rootfs(const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                    struct sbx_init_error *e)
{
    /* Nothing done below may propagate back to the host. */
    TRY(e, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make / private");
    int r = mount_overlay(spec, fds, e);
    if (r < 0)
        return r;
    if ((r = mount_proc(e)) < 0 || (r = mount_dev(spec, e)) < 0)
        return r;
    TRY(e, mkdir_p("root/tmp", 01777), "mkdir /tmp");
    char opts[64];
    snprintf(opts, sizeof(opts), "mode=1777,size=%llu", (unsigned long long)spec->tmp_size);
    TRY(e, mount("sbx-tmp", "root/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts), "mount /tmp");
    if ((r = mount_policy(spec, fds, e)) < 0)
        return r;

    TRY(e, chdir("root"), "chdir into the new root");
    TRY(e, syscall(SYS_pivot_root, ".", "."), "pivot_root");
    /* The old root now sits on top of the new one; detach it and everything below. */
    TRY(e, umount2(".", MNT_DETACH), "detach the old root");
    TRY(e, chdir("/"), "chdir /");
    return 0;
}
