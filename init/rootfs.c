/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sbx-init, root filesystem: a staging tmpfs in the sandbox's private mount
 * namespace holds the overlay (image below, tmpfs above), then /proc, /dev,
 * /tmp and the policy's mounts go on top and pivot_root makes it the root.
 *
 * The tree is the image's, and the image is hostile: its symlinks may point
 * anywhere on the host, and this process still has the host's root and
 * every capability.  So no path of the tree is ever a string joined to a
 * host path.  The assembled root is held as a directory fd; every mount
 * point is looked up from it with openat2(RESOLVE_IN_ROOT), which resolves
 * symlinks as they would resolve inside the sandbox; a missing component is
 * created relative to its parent's fd; and every mount is made detached
 * (fsopen/fsmount, open_tree) and moved onto the fd of its mount point.
 *
 * A missing component is created only on a filesystem of the sandbox's own:
 * the overlay (its upper layer is on the staging tmpfs), the writable image
 * (the caller's own file), or a tmpfs made here.  Every mount attached here
 * is recorded by mount id, and the parent of a component to create must be
 * on one of these.  A bind is a host directory: creating in it would leave
 * a root-owned entry on the host, so a mount point missing inside a bind is
 * an error.  One that exists there may be mounted on: binds are made private
 * before they are attached, so nothing mounted on them reaches the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init/init.h"
#include "sbx/macro.h"

/*
 * How a path below a directory fd is looked up.  Policy targets resolve as
 * the guest would see them: symlinks are followed, an absolute one or ".."
 * stays inside the new root, magic links (/proc/self/root...) are refused.
 * The sandbox's own mount points (/proc, /dev, /tmp, and what goes inside
 * the fresh /proc and /dev) follow no symlink at all.
 */
#define RESOLVE_GUEST (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
#define RESOLVE_STRICT (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)

/* Common attributes of every mount the sandbox gets. */
#define ATTR_BASE (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
#define ATTR_MASK (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/*
 * The mounts attached so far, by mount id: the sandbox's own filesystems
 * (target NULL), on which mount points may be created, and the binds (their
 * target), in which they may not.
 */
struct mount_rec {
    uint64_t id;
    const char *target;
    bool system; /* /dev or /dev/shm: the sandbox's own, but no place for a policy mount */
};

struct mounts {
    struct mount_rec *m;
    size_t n, cap;
};

static void mounts_free(struct mounts *ms)
{
    free(ms->m);
}

/* The mount id of the mount fd is on; or -errno. */
static int mount_id(int fd, uint64_t *ret)
{
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
        return sbx_neg_errno();
    if (!(stx.stx_mask & STATX_MNT_ID))
        return -EOPNOTSUPP;
    *ret = stx.stx_mnt_id;
    return 0;
}

/* Records the mount that the mount fd mnt is, as the sandbox's own (target NULL) or a bind. */
static int mounts_add(struct mounts *ms, int mnt, const char *target, struct sbx_error *e,
                      const char *what)
{
    uint64_t id;
    int r = mount_id(mnt, &id);
    if (r < 0)
        return sbx_error_set_errno(e, r, "%s: the mount id of the new mount", what);
    if (ms->n == ms->cap) {
        size_t cap = ms->cap ? 2 * ms->cap : 8;
        void *m = reallocarray(ms->m, cap, sizeof(*ms->m));
        if (!m)
            return sbx_error_set_errno(e, ENOMEM, "%s: record the mount", what);
        ms->m = m;
        ms->cap = cap;
    }
    ms->m[ms->n++] = (struct mount_rec){ .id = id, .target = target };
    return 0;
}

/* An O_PATH fd of path below dir, looked up as `resolve` says; or -errno. */
static int open_below(int dir, const char *path, int oflags, uint64_t resolve)
{
    struct open_how how = {
        .flags = (uint64_t)(O_PATH | O_CLOEXEC | oflags),
        .resolve = resolve,
    };
    int fd;
    /* EAGAIN: a rename raced the lookup; nothing else runs here, so retrying ends. */
    do
        fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd < 0 ? sbx_neg_errno() : fd;
}

/* Creates name (no slash) in parent, a directory or an empty file; its O_PATH fd, or -errno. */
static int create_in(int parent, const char *name, int dir)
{
    if (dir) {
        if (mkdirat(parent, name, 0755) < 0)
            return sbx_neg_errno();
    } else {
        int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            return sbx_neg_errno();
        close(fd);
    }
    int fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
    return fd < 0 ? sbx_neg_errno() : fd;
}

/*
 * Whether a missing component may be created in parent: only on a mount of
 * the sandbox's own.  0, or -errno with e filled, naming the missing path.
 */
static int may_create_in(const struct mounts *ms, int parent, struct sbx_error *e, const char *what,
                         const char *prefix)
{
    uint64_t id;
    int r = mount_id(parent, &id);
    if (r < 0)
        return sbx_error_set_errno(e, r, "%s: the mount id of the parent of /%s", what, prefix);
    for (size_t i = 0; i < ms->n; i++) {
        if (ms->m[i].id != id)
            continue;
        if (!ms->m[i].target)
            return 0;
        return sbx_error_set_errno(
            e, EPERM,
            "%s: the mount point /%s does not exist and would be created in the "
            "bind mount at %s; create it in the bind's source first",
            what, prefix, ms->m[i].target);
    }
    return sbx_error_set_errno(
        e, EPERM,
        "%s: the mount point /%s does not exist and cannot be created: it would "
        "be on a mount that is not one of the sandbox's own filesystems (a mount "
        "below a bind's source, /proc, /dev/pts)",
        what, prefix);
}

/* Fills e for a component of a mount point that could not be opened or made. */
static int component_fail(struct sbx_error *e, int err, uint64_t resolve, int parent,
                          const char *name, const char *what, const char *prefix)
{
    struct stat st;
    switch (err) {
    case -EEXIST:
        /* It did not resolve, yet it is there: a symlink to nothing inside the sandbox. */
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return sbx_error_set_errno(e, ENOENT,
                                       "%s: /%s is a symlink to a path that does not exist in the "
                                       "sandbox",
                                       what, prefix);
        return sbx_error_set_errno(e, err, "%s: /%s", what, prefix);
    case -ELOOP:
        if (resolve & RESOLVE_NO_SYMLINKS)
            return sbx_error_set_errno(e, err, "%s: /%s is a symlink, which is not allowed here",
                                       what, prefix);
        return sbx_error_set_errno(
            e, err, "%s: /%s leads through a /proc magic link or too many symlinks", what, prefix);
    case -ENOTDIR:
        return sbx_error_set_errno(e, err, "%s: /%s is not a directory", what, prefix);
    case -EXDEV:
        return sbx_error_set_errno(e, err, "%s: /%s leads out of the sandbox", what, prefix);
    default:
        return sbx_error_set_errno(e, err, "%s: cannot open or create /%s", what, prefix);
    }
}

/*
 * The mount point target (absolute, in the sandbox) below root, looked up
 * as `resolve` says: a directory, or with dir 0 anything but a directory.
 * Each missing component is created in the directory its parent resolved
 * to (directories 0755, the last one as an empty file 0644 when dir is 0),
 * if that is on one of the sandbox's own mounts in ms.
 * Returns its O_PATH fd, or -errno with e filled, naming `what`.
 */
static int open_mount_point(const struct mounts *ms, int root, const char *target, uint64_t resolve,
                            int dir, struct sbx_error *e, const char *what)
{
    char rel[PATH_MAX];
    const char *t = target + strspn(target, "/");
    if (!*t)
        return sbx_error_set_errno(e, EINVAL, "%s: the sandbox's root is no mount point", what);
    if (snprintf(rel, sizeof(rel), "%s", t) >= (int)sizeof(rel))
        return sbx_error_set_errno(e, ENAMETOOLONG, "%s", what);

    _cleanup_close_ int cur = -EBADF;
    int parent = root;
    char *name = rel;
    for (;;) {
        char *slash = strchr(name, '/');
        int last = !slash || slash[strspn(slash, "/")] == '\0';
        if (slash)
            *slash = '\0';
        int want_dir = !last || dir;
        /* The whole prefix from the root, so that symlinks resolve as in the sandbox. */
        int fd = open_below(root, rel, want_dir ? O_DIRECTORY : 0, resolve);
        if (fd == -ENOENT) {
            int r = may_create_in(ms, parent, e, what, rel);
            if (r < 0)
                return r;
            fd = create_in(parent, name, want_dir);
        }
        if (fd < 0)
            return component_fail(e, fd, resolve, parent, name, what, rel);
        sbx_close(cur);
        parent = cur = fd;
        if (last)
            break;
        *slash = '/';
        name = slash + 1 + strspn(slash + 1, "/");
    }
    struct stat st;
    if (fstat(cur, &st) < 0)
        return sbx_error_set_errno(e, errno, "%s: stat the mount point", what);
    if (!dir && S_ISDIR(st.st_mode))
        return sbx_error_set_errno(e, EISDIR,
                                   "%s: the mount point is a directory, the source is not", what);
    return TAKE_FD(cur);
}

/*
 * Sets attributes on a detached mount tree, makes it private and moves it
 * onto the mount point's fd.  A clone of a shared host mount (a bind's
 * source) is a peer of it: a mount made on it later would propagate to the
 * host's mount, so no tree is attached unless it is private.
 */
static int attach(int mnt, uint64_t attr_set, int mount_point, struct sbx_error *e,
                  const char *what)
{
    struct mount_attr attr = { .attr_set = attr_set, .propagation = MS_PRIVATE };
    if (mount_setattr(mnt, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return sbx_error_set_errno(e, errno, "%s: mount_setattr", what);
    if (move_mount(mnt, "", mount_point, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return sbx_error_set_errno(e, errno, "%s: move_mount", what);
    return 0;
}

/*
 * A new detached mount of a filesystem: options as "key=value,flag,..."
 * (values without commas), attributes as for fsmount.  Its fd, or -errno.
 */
static int new_mount(const char *fstype, const char *opts, unsigned attrs, struct sbx_error *e,
                     const char *what)
{
    _cleanup_close_ int fs = fsopen(fstype, FSOPEN_CLOEXEC);
    if (fs < 0)
        return sbx_error_set_errno(e, errno, "%s: fsopen %s", what, fstype);
    _cleanup_free_ char *buf = strdup(opts ? opts : "");
    if (!buf)
        return sbx_error_set_errno(e, ENOMEM, "%s: %s options", what, fstype);
    char *save = NULL;
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *v = strchr(kv, '=');
        if (v)
            *v++ = '\0';
        if (fsconfig(fs, v ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, kv, v, 0) < 0)
            return sbx_error_set_errno(e, errno, "%s: %s option %s", what, fstype, kv);
    }
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return sbx_error_set_errno(e, errno, "%s: create the %s filesystem", what, fstype);
    int mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
    if (mnt < 0)
        return sbx_error_set_errno(e, errno, "%s: fsmount %s", what, fstype);
    return mnt;
}

/* Mounts a new filesystem onto the mount point's fd; records it in ms unless ms is NULL. */
static int mount_new(struct mounts *ms, const char *fstype, const char *opts, unsigned attrs,
                     int mount_point, struct sbx_error *e, const char *what)
{
    _cleanup_close_ int mnt = new_mount(fstype, opts, attrs, e, what);
    if (mnt < 0)
        return mnt;
    int r = attach(mnt, 0, mount_point, e, what);
    if (r < 0 || !ms)
        return r;
    return mounts_add(ms, mnt, NULL, e, what);
}

/*
 * Binds the host's character device /dev/NAME onto the mount point's fd.
 * The bind keeps the flags of the host's /dev mount, so the node works
 * even where the sandbox's /dev tmpfs is nodev.
 */
static int bind_host_dev(const char *name, int mount_point, struct sbx_error *e, const char *what)
{
    char host[64];
    snprintf(host, sizeof(host), "/dev/%s", name);
    _cleanup_close_ int tree =
        open_tree(AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
    if (tree < 0)
        return sbx_error_set_errno(e, errno, "%s: bind %s", what, host);
    struct stat st;
    if (fstat(tree, &st) < 0 || !S_ISCHR(st.st_mode))
        return sbx_error_set_errno(e, ENODEV, "%s: %s is not a character device", what, host);
    return attach(tree, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, mount_point, e, what);
}

/* Hides what fd names: an empty read-only tmpfs over a directory, /dev/null over the rest. */
static int mask(int fd, struct sbx_error *e, const char *what)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sbx_error_set_errno(e, errno, "%s: stat", what);
    if (S_ISDIR(st.st_mode))
        return mount_new(NULL, "tmpfs", "source=sbx-mask,size=0,mode=0555", ATTR_MASK, fd, e, what);
    return bind_host_dev("null", fd, e, what);
}

/* The staging tmpfs on the daemon's staging directory (a host path of its own); its fd. */
static int mount_staging(const struct sbx_spec *spec, struct sbx_error *e)
{
    /* Every writable layer has the size the daemon gave (size=0: unlimited). */
    char opts[128];
    snprintf(opts, sizeof(opts), "source=sbx-staging,mode=0700,size=%llu",
             (unsigned long long)spec->overlay_size);
    _cleanup_close_ int mnt = new_mount("tmpfs", opts, ATTR_BASE, e, "staging tmpfs");
    if (mnt < 0)
        return mnt;
    /* SBX_SPEC_USERNS: init cannot look up even "." there, but can mount on its cwd. */
    _cleanup_close_ int dir =
        spec->flags & SBX_SPEC_USERNS
            ? AT_FDCWD
            : open(spec->staging, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0 && dir != AT_FDCWD)
        return sbx_error_set_errno(e, errno, "staging directory %s", spec->staging);
    int r = attach(mnt, 0, dir, e, "staging tmpfs");
    return r < 0 ? r : TAKE_FD(mnt);
}

/* A new directory of the staging tmpfs; its O_PATH fd. */
static int staging_dir(int staging, const char *name, mode_t mode, struct sbx_error *e)
{
    if (mkdirat(staging, name, mode) < 0)
        return sbx_error_set_errno(e, errno, "staging: mkdir %s", name);
    int fd = openat(staging, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? sbx_error_set_errno(e, errno, "staging: open %s", name) : fd;
}

/* Assembles the root (the image, or the overlay on it) on the staging tmpfs; its fd. */
static int mount_root(struct mounts *ms, const struct sbx_spec *spec,
                      const struct sbx_init_fds *fds, struct sbx_error *e)
{
    _cleanup_close_ int staging = mount_staging(spec, e);
    if (staging < 0)
        return staging;
    _cleanup_close_ int root_dir = staging_dir(staging, "root", 0755, e);
    if (root_dir < 0)
        return root_dir;
    if (spec->flags & (SBX_SPEC_WRITABLE_IMAGE | SBX_SPEC_READONLY_ROOT)) {
        /*
         * A directory root may come from a mount that allows devices: never in
         * a sandbox.  A read-only one becomes so once its mount points are made.
         */
        int r = attach(fds->image, ATTR_BASE, root_dir, e, "image");
        if (r < 0 || (r = mounts_add(ms, fds->image, NULL, e, "image")) < 0)
            return r;
        int root = fcntl(fds->image, F_DUPFD_CLOEXEC, 3);
        return root < 0 ? sbx_error_set_errno(e, errno, "image root") : root;
    }
    _cleanup_close_ int lower = staging_dir(staging, "lower", 0700, e);
    _cleanup_close_ int upper = lower < 0 ? -EBADF : staging_dir(staging, "upper", 0755, e);
    _cleanup_close_ int work = upper < 0 ? -EBADF : staging_dir(staging, "work", 0700, e);
    if (work < 0)
        return -e->err;
    int r = attach(fds->image, MOUNT_ATTR_RDONLY, lower, e, "image");
    if (r < 0)
        return r;
    /*
     * The layers are named relative to the staging tmpfs, directories this
     * process just made: a host path to them would pass through the daemon's
     * state directory, which init in a user namespace of its own cannot search.
     */
    if (fchdir(staging) < 0)
        return sbx_error_set_errno(e, errno, "chdir into the staging tmpfs");
    /*
     * In a user namespace of its own init may not set trusted.* xattrs, which
     * mark opaque directories and redirects: the overlay keeps them in user.*
     * xattrs of the upper tmpfs, or removing a directory of the image fails.
     */
    const char *opts = spec->flags & SBX_SPEC_USERNS
                           ? "source=sbx-root,lowerdir=lower,upperdir=upper,workdir=work,userxattr"
                           : "source=sbx-root,lowerdir=lower,upperdir=upper,workdir=work";
    _cleanup_close_ int root = new_mount("overlay", opts, ATTR_BASE, e, "overlay");
    if (root < 0)
        return root;
    if ((r = attach(root, 0, root_dir, e, "overlay")) < 0 ||
        (r = mounts_add(ms, root, NULL, e, "overlay")) < 0)
        return r;
    return TAKE_FD(root);
}

/* Paths of /proc that expose or change host-wide state; uid 0 without capabilities
 * can still write some of them, so they are read-only or hidden, as in OCI runtimes. */
static const char *const proc_readonly[] = { "sys", "sysrq-trigger", "irq", "bus", "fs" };
static const char *const proc_masked[] = { "kcore", "keys", "timer_list",    "sched_debug",
                                           "acpi",  "scsi", "latency_stats", "kallsyms" };

/* An entry of the fresh /proc, or -ENOENT when this kernel has none. */
static int proc_entry(int proc, const char *name, struct sbx_error *e)
{
    int fd = open_below(proc, name, 0, RESOLVE_STRICT);
    if (fd < 0 && fd != -ENOENT)
        return sbx_error_set_errno(e, fd, "/proc/%s", name);
    return fd;
}

/*
 * Makes the host-wide paths of a fresh /proc read-only or hidden: mounts on
 * entries of proc, which may be attached or (see sbx_init_premount) not yet.
 */
static int proc_protect(int proc, struct sbx_error *e)
{
    int r;
    char what[64];
    for (size_t i = 0; i < ARRAY_SIZE(proc_readonly); i++) {
        snprintf(what, sizeof(what), "read-only /proc/%s", proc_readonly[i]);
        _cleanup_close_ int fd = proc_entry(proc, proc_readonly[i], e);
        if (fd == -ENOENT)
            continue;
        if (fd < 0)
            return fd;
        _cleanup_close_ int tree =
            open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (tree < 0)
            return sbx_error_set_errno(e, errno, "%s: open_tree", what);
        if ((r = attach(tree, ATTR_MASK, fd, e, what)) < 0)
            return r;
    }
    for (size_t i = 0; i < ARRAY_SIZE(proc_masked); i++) {
        snprintf(what, sizeof(what), "mask /proc/%s", proc_masked[i]);
        _cleanup_close_ int fd = proc_entry(proc, proc_masked[i], e);
        if (fd == -ENOENT)
            continue;
        if (fd < 0 || (r = mask(fd, e, what)) < 0)
            return fd < 0 ? fd : r;
    }
    return 0;
}

/*
 * A copy of a premade tree (sbx_init_premount), mounts below included, in
 * one call.  Its mounts are new, so they come after the root's in the
 * guest's mountinfo, as they would had they been made here.
 */
static int clone_premade(int tree, struct sbx_error *e, const char *what)
{
    int fd =
        open_tree(tree, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    return fd < 0 ? sbx_error_set_errno(e, errno, "%s: copy the premade mounts", what) : fd;
}

static int mount_proc(const struct mounts *ms, int root, const struct sbx_init_premade *pre,
                      struct sbx_error *e)
{
    _cleanup_close_ int mp = open_mount_point(ms, root, "/proc", RESOLVE_STRICT, 1, e, "/proc");
    if (mp < 0)
        return mp;
    if (pre->proc >= 0) {
        _cleanup_close_ int proc = clone_premade(pre->proc, e, "/proc");
        return proc < 0 ? proc : attach(proc, 0, mp, e, "/proc");
    }
    _cleanup_close_ int proc = new_mount("proc", NULL, ATTR_BASE | MOUNT_ATTR_NOEXEC, e, "/proc");
    if (proc < 0)
        return proc;
    int r = attach(proc, 0, mp, e, "/proc");
    return r < 0 ? r : proc_protect(proc, e);
}

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
static const char *const dev_links[][2] = {
    { "/proc/self/fd", "fd" },       { "/proc/self/fd/0", "stdin" },
    { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
    { "pts/ptmx", "ptmx" },
};

/*
 * /dev: a tmpfs that can hold no usable device node of its own (nodev), with
 * the host's harmless character devices bound onto empty files, a private
 * devpts and a /dev/shm.  devpts cannot be nodev: its pty nodes are devices.
 * /dev/shm stays executable like /tmp: the guest can write and run programs
 * in its overlay anyway, and some programs map shared memory executable.
 * dev_fill makes the nodes, links and devpts in the tmpfs dev, which ms
 * records; mount_dev attaches it and adds /dev/shm.
 */
static int dev_fill(const struct mounts *ms, int dev, struct sbx_error *e)
{
    int r;
    char what[64];
    for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
        snprintf(what, sizeof(what), "/dev/%s", dev_nodes[i]);
        _cleanup_close_ int node =
            open_mount_point(ms, dev, dev_nodes[i], RESOLVE_STRICT, 0, e, what);
        if (node < 0 || (r = bind_host_dev(dev_nodes[i], node, e, what)) < 0)
            return node < 0 ? node : r;
    }
    for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++)
        if (symlinkat(dev_links[i][0], dev, dev_links[i][1]) < 0)
            return sbx_error_set_errno(e, errno, "symlink /dev/%s", dev_links[i][1]);
    _cleanup_close_ int pts = open_mount_point(ms, dev, "pts", RESOLVE_STRICT, 1, e, "/dev/pts");
    if (pts < 0 || (r = mount_new(NULL, "devpts", "newinstance,ptmxmode=0666,mode=0620",
                                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, pts, e, "/dev/pts")) < 0)
        return pts < 0 ? pts : r;
    return 0;
}

static int new_dev(struct sbx_error *e)
{
    return new_mount("tmpfs", "source=sbx-dev,mode=0755,size=64k", ATTR_BASE | MOUNT_ATTR_NOEXEC, e,
                     "/dev");
}

static int mount_dev(struct mounts *ms, int root, const struct sbx_spec *spec,
                     const struct sbx_init_premade *pre, struct sbx_error *e)
{
    _cleanup_close_ int mp = open_mount_point(ms, root, "/dev", RESOLVE_STRICT, 1, e, "/dev");
    if (mp < 0)
        return mp;
    bool made = pre->dev >= 0;
    _cleanup_close_ int dev = made ? clone_premade(pre->dev, e, "/dev") : new_dev(e);
    if (dev < 0)
        return dev;
    int r = attach(dev, 0, mp, e, "/dev");
    if (r < 0 || (r = mounts_add(ms, dev, NULL, e, "/dev")) < 0 ||
        (!made && (r = dev_fill(ms, dev, e)) < 0))
        return r;
    char opts[64];
    snprintf(opts, sizeof(opts), "source=sbx-shm,mode=1777,size=%llu",
             (unsigned long long)spec->shm_size);
    _cleanup_close_ int shm = open_mount_point(ms, dev, "shm", RESOLVE_STRICT, 1, e, "/dev/shm");
    if (shm < 0 || (r = mount_new(ms, "tmpfs", opts, ATTR_BASE, shm, e, "/dev/shm")) < 0)
        return shm < 0 ? shm : r;
    return 0;
}

static int mount_tmp(struct mounts *ms, int root, const struct sbx_spec *spec, struct sbx_error *e)
{
    _cleanup_close_ int mp = open_mount_point(ms, root, "/tmp", RESOLVE_STRICT, 1, e, "/tmp");
    if (mp < 0)
        return mp;
    char opts[64];
    snprintf(opts, sizeof(opts), "source=sbx-tmp,mode=1777,size=%llu",
             (unsigned long long)spec->tmp_size);
    return mount_new(ms, "tmpfs", opts, ATTR_BASE, mp, e, "/tmp");
}

/*
 * The kernel filesystems an OCI bundle asks for, at their usual places:
 * sysfs read-only (it shows the host's devices and tunables), cgroup2
 * read-only inside it (the sandbox's cgroup namespace makes its own cgroup
 * the root), and a POSIX message queue filesystem of the sandbox's ipc
 * namespace in /dev, before /dev is closed to further mounts.
 */
static int mount_kernel_fs(struct mounts *ms, int root, const struct sbx_spec *spec,
                           struct sbx_error *e)
{
    int r;
    if (spec->flags & SBX_SPEC_SYSFS) {
        _cleanup_close_ int mp = open_mount_point(ms, root, "/sys", RESOLVE_STRICT, 1, e, "/sys");
        if (mp < 0)
            return mp;
        _cleanup_close_ int sys =
            new_mount("sysfs", NULL, ATTR_BASE | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_RDONLY, e, "/sys");
        if (sys < 0 || (r = attach(sys, 0, mp, e, "/sys")) < 0)
            return sys < 0 ? sys : r;
        if (spec->flags & SBX_SPEC_CGROUPFS) {
            _cleanup_close_ int cg = open_below(sys, "fs/cgroup", O_DIRECTORY, RESOLVE_STRICT);
            if (cg < 0)
                return sbx_error_set_errno(e, cg, "/sys/fs/cgroup");
            if ((r = mount_new(NULL, "cgroup2", NULL,
                               ATTR_BASE | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_RDONLY, cg, e,
                               "/sys/fs/cgroup")) < 0)
                return r;
        }
    }
    if (spec->flags & SBX_SPEC_MQUEUE) {
        /* From /dev's own root: RESOLVE_STRICT does not cross into another mount. */
        _cleanup_close_ int dev =
            open_below(root, "dev", O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
        if (dev < 0)
            return sbx_error_set_errno(e, dev, "/dev");
        _cleanup_close_ int mp =
            open_mount_point(ms, dev, "mqueue", RESOLVE_STRICT, 1, e, "/dev/mqueue");
        if (mp < 0 || (r = mount_new(NULL, "mqueue", NULL, ATTR_BASE | MOUNT_ATTR_NOEXEC, mp, e,
                                     "/dev/mqueue")) < 0)
            return mp < 0 ? mp : r;
    }
    return 0;
}

/*
 * Marks /dev and /dev/shm: the sandbox's own filesystems, on which sbx-init
 * made the device nodes, yet no place for a policy mount.  sbx-init opens
 * paths there as root (the pty of -t), and the guest's /dev is for the
 * sandbox to define.
 */
static int mark_system(struct mounts *ms, int root, struct sbx_error *e)
{
    static const char *const paths[] = { "dev", "dev/shm" };
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        _cleanup_close_ int fd =
            open_below(root, paths[i], O_DIRECTORY,
                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        uint64_t id;
        int r = fd < 0 ? fd : mount_id(fd, &id);
        if (r < 0)
            return sbx_error_set_errno(e, r, "the mount of /%s", paths[i]);
        for (size_t k = 0; k < ms->n; k++)
            if (ms->m[k].id == id)
                ms->m[k].system = true;
    }
    return 0;
}

/*
 * A policy mount goes only on the sandbox's root, /tmp, a policy tmpfs or
 * inside a bind: never in /proc, /dev and the mounts in them, which are not
 * in ms or are marked system.
 */
static int not_system(const struct mounts *ms, int mp, struct sbx_error *e, const char *what)
{
    uint64_t id;
    int r = mount_id(mp, &id);
    if (r < 0)
        return sbx_error_set_errno(e, r, "%s: the mount id of the mount point", what);
    for (size_t i = 0; i < ms->n; i++)
        if (ms->m[i].id == id && !ms->m[i].system)
            return 0;
    return sbx_error_set_errno(e, EPERM,
                               "%s: the mount point is in the sandbox's own /proc or /dev, which a "
                               "policy cannot mount in",
                               what);
}

/*
 * A regular file bound at /dev/NAME, as kubelet binds /dev/termination-log.
 * /dev takes no other mount: it holds the nodes sbx-init opens as root.  A
 * file goes there only under a name that is new (none of sbx-init's nodes,
 * links or mounts: the O_EXCL create fails on those), directly in /dev, and
 * the bind is nodev and noexec like /dev itself.
 */
static bool dev_file_bind(const char *target, const struct stat *src)
{
    if (!S_ISREG(src->st_mode) || strncmp(target, "/dev/", 5) != 0)
        return false;
    const char *name = target + 5;
    return *name && *name != '.' && !strchr(name, '/');
}

static int mount_dev_file(struct mounts *ms, int root, const struct sbx_spec_bind *b, int src,
                          struct sbx_error *e, const char *what)
{
    _cleanup_close_ int dev =
        open_below(root, "dev", O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    if (dev < 0)
        return sbx_error_set_errno(e, dev, "%s: /dev", what);
    _cleanup_close_ int mp = create_in(dev, b->target + 5, 0);
    if (mp == -EEXIST)
        return sbx_error_set_errno(e, EPERM, "%s: %s is one of the sandbox's own files in /dev",
                                   what, b->target);
    if (mp < 0)
        return sbx_error_set_errno(e, mp, "%s: create the mount point", what);
    uint64_t attrs =
        ATTR_BASE | MOUNT_ATTR_NOEXEC | ((b->flags & SBX_BIND_READONLY) ? MOUNT_ATTR_RDONLY : 0);
    int r = attach(src, attrs, mp, e, what);
    return r < 0 ? r : mounts_add(ms, src, b->target, e, what);
}

static int mount_policy(struct mounts *ms, int root, const struct sbx_spec *spec,
                        const struct sbx_init_fds *fds, struct sbx_error *e)
{
    char what[PATH_MAX + 16];
    int r;
    for (uint32_t i = 0; i < spec->n_binds; i++) {
        const struct sbx_spec_bind *b = &spec->binds[i];
        snprintf(what, sizeof(what), "bind %s", b->target);
        struct stat st;
        if (fstat(fds->binds[i], &st) < 0)
            return sbx_error_set_errno(e, errno, "%s: stat the source", what);
        if (dev_file_bind(b->target, &st)) {
            if ((r = mount_dev_file(ms, root, b, fds->binds[i], e, what)) < 0)
                return r;
            continue;
        }
        _cleanup_close_ int mp =
            open_mount_point(ms, root, b->target, RESOLVE_GUEST, S_ISDIR(st.st_mode), e, what);
        if (mp < 0)
            return mp;
        if ((r = not_system(ms, mp, e, what)) < 0)
            return r;
        uint64_t attrs = ATTR_BASE | ((b->flags & SBX_BIND_READONLY) ? MOUNT_ATTR_RDONLY : 0);
        if ((r = attach(fds->binds[i], attrs, mp, e, what)) < 0 ||
            (r = mounts_add(ms, fds->binds[i], b->target, e, what)) < 0)
            return r;
    }
    for (uint32_t i = 0; i < spec->n_tmpfs; i++) {
        const struct sbx_spec_tmpfs *t = &spec->tmpfs[i];
        snprintf(what, sizeof(what), "tmpfs %s", t->target);
        _cleanup_close_ int mp = open_mount_point(ms, root, t->target, RESOLVE_GUEST, 1, e, what);
        if (mp < 0)
            return mp;
        if ((r = not_system(ms, mp, e, what)) < 0)
            return r;
        char opts[128];
        int n =
            snprintf(opts, sizeof(opts), "source=sbx-tmpfs,mode=%04o", t->mode ? t->mode : 01777);
        if (t->size)
            snprintf(opts + n, sizeof(opts) - (size_t)n, ",size=%llu", (unsigned long long)t->size);
        if ((r = mount_new(ms, "tmpfs", opts, ATTR_BASE, mp, e, what)) < 0)
            return r;
    }
    for (uint32_t i = 0; i < spec->n_masked; i++) {
        snprintf(what, sizeof(what), "mask %s", spec->masked[i]);
        const char *rel = spec->masked[i] + strspn(spec->masked[i], "/");
        _cleanup_close_ int fd = open_below(root, *rel ? rel : ".", 0, RESOLVE_GUEST);
        if (fd == -ENOENT)
            continue; /* nothing there to hide */
        if (fd < 0)
            return sbx_error_set_errno(e, fd, "%s", what);
        if ((r = mask(fd, e, what)) < 0)
            return r;
    }
    for (uint32_t i = 0; i < spec->n_readonly; i++) {
        snprintf(what, sizeof(what), "read-only %s", spec->readonly[i]);
        const char *rel = spec->readonly[i] + strspn(spec->readonly[i], "/");
        _cleanup_close_ int fd = open_below(root, *rel ? rel : ".", 0, RESOLVE_GUEST);
        if (fd == -ENOENT)
            continue;
        if (fd < 0)
            return sbx_error_set_errno(e, fd, "%s", what);
        _cleanup_close_ int tree =
            open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (tree < 0)
            return sbx_error_set_errno(e, errno, "%s: open_tree", what);
        if ((r = attach(tree, ATTR_BASE | MOUNT_ATTR_RDONLY, fd, e, what)) < 0)
            return r;
    }
    return 0;
}

/*
 * A premade /proc or /dev, detached.  Mounting on a detached mount needs
 * Linux 6.15: on an older kernel, or if any step fails here, nothing is kept
 * (-EBADF) and sbx_init_rootfs makes it at the request, reporting what fails.
 */
static int premade_proc(void)
{
    struct sbx_error e;
    _cleanup_close_ int proc = new_mount("proc", NULL, ATTR_BASE | MOUNT_ATTR_NOEXEC, &e, "/proc");
    if (proc < 0 || proc_protect(proc, &e) < 0)
        return -EBADF;
    return TAKE_FD(proc);
}

static int premade_dev(void)
{
    struct sbx_error e;
    _cleanup_(mounts_free) struct mounts ms = { .n = 0 };
    _cleanup_close_ int dev = new_dev(&e);
    if (dev < 0 || mounts_add(&ms, dev, NULL, &e, "/dev") < 0 || dev_fill(&ms, dev, &e) < 0)
        return -EBADF;
    return TAKE_FD(dev);
}

void sbx_init_premount(struct sbx_init_premade *ret)
{
    *ret = (struct sbx_init_premade){ .proc = -EBADF, .dev = -EBADF };
    /* As in sbx_init_rootfs: nothing done here may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return;
    ret->proc = premade_proc();
    ret->dev = premade_dev();
}

/*
 * The part of the root that depends on no more than PREPARE's fields: the
 * image (or the overlay on it), /proc, /dev, /tmp and the kernel
 * filesystems.  The policy's mounts and the pivot depend on the request.
 */
static int mount_base(struct mounts *ms, const struct sbx_spec *spec,
                      const struct sbx_init_fds *fds, const struct sbx_init_premade *pre,
                      struct sbx_error *e)
{
    _cleanup_close_ int root = mount_root(ms, spec, fds, e);
    if (root < 0)
        return root;
    int r;
    if ((r = mount_proc(ms, root, pre, e)) < 0 || (r = mount_dev(ms, root, spec, pre, e)) < 0 ||
        (r = mount_tmp(ms, root, spec, e)) < 0 || (r = mount_kernel_fs(ms, root, spec, e)) < 0 ||
        (r = mark_system(ms, root, e)) < 0)
        return r;
    return TAKE_FD(root);
}

struct sbx_init_root {
    struct sbx_msg_prepare params; /* what it was built for */
    struct mounts ms;
    int root;
};

void sbx_init_root_free(struct sbx_init_root *p)
{
    if (!p)
        return;
    mounts_free(&p->ms);
    sbx_close(p->root);
    sbx_msg_prepare_free(&p->params);
    free(p);
}

/* The spec fields mount_base reads, from PREPARE's. */
static struct sbx_spec prepare_spec(const struct sbx_msg_prepare *m)
{
    return (struct sbx_spec){ .staging = m->staging,
                              .flags = m->flags,
                              .overlay_size = m->overlay_size,
                              .tmp_size = m->tmp_size,
                              .shm_size = m->shm_size };
}

struct sbx_init_root *sbx_init_prepare(struct sbx_msg_prepare *m, int image,
                                       const struct sbx_init_premade *pre)
{
    struct sbx_init_root *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->root = -EBADF;
    p->params = *m;
    *m = (struct sbx_msg_prepare){ 0 };
    /*
     * As in sbx_init_rootfs, nothing done here may propagate back to the
     * host.  A failure is not kept: the SPEC carries the image too, and its
     * own attempt at the same steps reports what fails.
     */
    struct sbx_error ignored;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        sbx_init_root_free(p);
        return NULL;
    }
    struct sbx_spec spec = prepare_spec(&p->params);
    struct sbx_init_fds fds = { .image = image };
    if ((p->root = mount_base(&p->ms, &spec, &fds, pre, &ignored)) < 0) {
        sbx_init_root_free(p);
        return NULL;
    }
    return p;
}

/* Whether spec asks for the root p was built for. */
static bool prepared_for(const struct sbx_init_root *p, const struct sbx_spec *spec)
{
    return strcmp(p->params.staging, spec->staging) == 0 &&
           p->params.flags == (spec->flags & SBX_PREPARE_FLAGS) &&
           p->params.overlay_size == spec->overlay_size && p->params.tmp_size == spec->tmp_size &&
           p->params.shm_size == spec->shm_size;
}

int sbx_init_rootfs(const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                    const struct sbx_init_premade *pre, struct sbx_init_root *prepared,
                    struct sbx_error *e)
{
    /* Nothing done below may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return sbx_error_set_errno(e, errno, "make / private");
    _cleanup_(mounts_free) struct mounts ms = { .n = 0 };
    _cleanup_close_ int root = -EBADF;
    int r;
    /*
     * The prepared root, if the daemon says the image is PREPARE's, it was
     * built, and for this spec's fields.
     */
    if ((spec->flags & SBX_SPEC_PREPARED) && prepared && prepared_for(prepared, spec)) {
        ms = prepared->ms;
        prepared->ms = (struct mounts){ .n = 0 };
        root = TAKE_FD(prepared->root);
    } else {
        /*
         * Otherwise one is built from the spec's image, as without a spare.
         * A prepared root is not this one: its mounts stay under the staging
         * directory, covered by this root's, and go with the old root.
         */
        if ((root = mount_base(&ms, spec, fds, pre, e)) < 0)
            return root;
    }
    if ((r = mount_policy(&ms, root, spec, fds, e)) < 0)
        return r;
    struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
    if ((spec->flags & SBX_SPEC_READONLY_ROOT) &&
        mount_setattr(root, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
        return sbx_error_set_errno(e, errno, "make the root read-only");

    if (fchdir(root) < 0)
        return sbx_error_set_errno(e, errno, "chdir into the new root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return sbx_error_set_errno(e, errno, "pivot_root");
    /* The old root now sits on top of the new one; detach it and everything below. */
    if (umount2(".", MNT_DETACH) < 0)
        return sbx_error_set_errno(e, errno, "detach the old root");
    if (chdir("/") < 0)
        return sbx_error_set_errno(e, errno, "chdir /");
    return 0;
}
