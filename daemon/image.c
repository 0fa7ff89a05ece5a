/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest images: loop device (LOOP_CONFIGURE, autoclear) + ext4 mounted with the
 * new mount API.  The mount is never attached to the daemon's mount table: a
 * detached mount fd is cached per image, and sandboxes clone it.  When the
 * last fd goes, the kernel unmounts the filesystem and autoclear frees the
 * loop device, so no error path can leave either behind.
 */
#include "daemon/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "daemon/fdcheck.h"
#include "daemon/image-super.h"
#include "daemon/kmsg.h"
#include "sbx/macro.h"

void sbx_image_cache_init(struct sbx_image_cache *c, size_t max_idle)
{
    *c = (struct sbx_image_cache){ .max_idle = max_idle };
}

static void image_free(struct sbx_image *img)
{
    if (!img)
        return;
    sbx_close(img->mount_fd);
    sbx_close(img->trampoline_fd);
    free(img);
}

/* Attaches image_fd to a free loop device; returns the loop device's fd. */
static int loop_attach(int image_fd, bool writable, int *ret_nr)
{
    _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return sbx_neg_errno();
    /* Another process may grab the same free device between GET_FREE and CONFIGURE. */
    for (int attempt = 0; attempt < 16; attempt++) {
        int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (nr < 0)
            return sbx_neg_errno();
        char path[32];
        snprintf(path, sizeof(path), "/dev/loop%d", nr);
        _cleanup_close_ int lfd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (lfd < 0) {
            if (errno == ENOENT)
                continue;
            return sbx_neg_errno();
        }
        struct loop_config cfg = {
            .fd = (uint32_t)image_fd,
            .info.lo_flags = LO_FLAGS_AUTOCLEAR | (writable ? 0 : LO_FLAGS_READ_ONLY),
        };
        if (ioctl(lfd, LOOP_CONFIGURE, &cfg) < 0) {
            if (errno == EBUSY)
                continue;
            return sbx_neg_errno();
        }
        *ret_nr = nr;
        return TAKE_FD(lfd);
    }
    return -EBUSY;
}

/* Sets e to the last error the filesystem logged to the fs context, if it logged one. */
static void fs_context_message(int fsfd, int err, struct sbx_error *e)
{
    char buf[256];
    ssize_t n;
    while ((n = read(fsfd, buf, sizeof(buf) - 1)) > 0) {
        buf[n] = '\0';
        if (buf[n - 1] == '\n')
            buf[n - 1] = '\0';
        /* Lines are "e msg", "w msg" or "i msg"; errors are the ones worth showing. */
        if (buf[0] == 'e' && buf[1] == ' ')
            sbx_error_set(e, err, "%s", buf + 2);
    }
}

/* Optional ext4 features this kernel was built with, as far as they decide a mount. */
static unsigned kernel_features(void)
{
    unsigned f = 0;
    if (access("/sys/fs/ext4/features/encryption", F_OK) == 0)
        f |= SBX_IMAGE_KERNEL_ENCRYPT;
    if (access("/sys/fs/ext4/features/casefold", F_OK) == 0)
        f |= SBX_IMAGE_KERNEL_CASEFOLD;
    return f;
}

/*
 * The superblock and size of the loop device, as the kernel will see them.
 * A caller who can write the image file may change it at any time, so
 * nothing read here is what keeps the host safe (the mount options are);
 * it only lets the daemon refuse early and say why a mount failed.
 */
static int read_super(const char *source, struct sbx_image_super *sb, uint64_t *ret_bytes)
{
    _cleanup_close_ int dev = open(source, O_RDONLY | O_CLOEXEC);
    if (dev < 0)
        return sbx_neg_errno();
    if (ioctl(dev, BLKGETSIZE64, ret_bytes) < 0)
        return sbx_neg_errno();
    return sbx_image_super_read(dev, sb);
}

/*
 * The group descriptors, checked before the kernel parses them (the image
 * is hostile input to it); a table that cannot be read is left to the
 * kernel.  -EUCLEAN with e when they are corrupt.
 */
static int check_groups(const char *source, const struct sbx_image_super *sb, uint64_t bytes,
                        struct sbx_error *e)
{
    _cleanup_close_ int dev = open(source, O_RDONLY | O_CLOEXEC);
    struct sbx_error why = { 0 };
    if (dev < 0 || sbx_image_groups_check(dev, sb, bytes, &why) != -EUCLEAN)
        return 0;
    *e = why;
    return sbx_error_wrap(e, "cannot mount it");
}

/*
 * Why a mount failed with err, for people: the kernel's word (the fs
 * context's, or its log's about this loop device: daemon/kmsg.c), or the
 * superblock's.  When none explains it, the message says where to look.
 */
static void explain_failure(int fsfd, int kmsg, const char *source, int err, int super_err,
                            const struct sbx_image_super *sb, uint64_t bytes, bool writable,
                            struct sbx_error *e)
{
    e->msg[0] = '\0';
    fs_context_message(fsfd, err, e);
    if (e->msg[0])
        return;
    if (super_err == -ENODATA) {
        sbx_error_set(e, err, "not an ext4 filesystem (%llu bytes, too short to hold one)",
                      (unsigned long long)bytes);
        return;
    }
    if (super_err < 0) {
        sbx_error_set(e, err, "its superblock cannot be read (%s)", strerror(-super_err));
        return;
    }
    if (sbx_image_super_explain(sb, bytes, writable, kernel_features(), e)) {
        e->err = sbx_error_errno(err);
        return;
    }
    const char *dev = source + strlen("/dev/");
    /* EUCLEAN is ext4's EFSCORRUPTED, EBADMSG its EFSBADCRC (a checksum). */
    const char *corrupt = err == -EUCLEAN || err == -EBADMSG ? "the filesystem is corrupt: " : "";
    char kern[SBX_KMSG_REASON_MAX] = "";
    if (kmsg >= 0 && sbx_kmsg_collect(kmsg, dev, kern, sizeof(kern)) > 0)
        sbx_error_set(e, err, "%s%s; the kernel says: %s", corrupt, strerror(-err), kern);
    else
        sbx_error_set(e, err, "%s%s (the kernel logged why, as 'EXT4-fs (%s)'%s)", corrupt,
                      strerror(-err), dev, err == -EUCLEAN ? "; e2fsck -fn shows it too" : "");
}

/* -errno (err) with e saying "cannot mount it: " and why. */
static int mount_failure(int fsfd, int kmsg, const char *source, int err, int super_err,
                         const struct sbx_image_super *sb, uint64_t bytes, bool writable,
                         struct sbx_error *e)
{
    explain_failure(fsfd, kmsg, source, err, super_err, sb, bytes, writable, e);
    return sbx_error_wrap(e, "cannot mount it");
}

#define MOUNT_TIMEOUT_S 5

static void on_mount_timeout(int sig)
{
    (void)sig; /* only there to interrupt the kernel's wait */
}

/*
 * Creates the filesystem of fs, with the kernel's interruptible waits cut
 * short: a read-write mount with multi-mount protection sleeps for as long
 * as the image says (hours), in the daemon's event loop.  The superblock
 * check refuses such an image, but its owner may set the feature after the
 * check; a signal to this thread after MOUNT_TIMEOUT_S ends the wait.  Waits
 * for I/O are not interruptible, and are not cut.
 */
static int create_within_timeout(int fs)
{
    static bool handler_set;
    if (!handler_set) {
        struct sigaction sa = { .sa_handler = on_mount_timeout }; /* no SA_RESTART */
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGALRM, &sa, NULL) < 0)
            return sbx_neg_errno();
        handler_set = true;
    }
    struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
    ev._sigev_un._tid = gettid();
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) < 0)
        return sbx_neg_errno();
    struct itimerspec when = { .it_value = { .tv_sec = MOUNT_TIMEOUT_S } };
    int r = timer_settime(timer, 0, &when, NULL) < 0 ? sbx_neg_errno() : 0;
    if (r == 0 && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        r = sbx_neg_errno();
    timer_delete(timer);
    return r;
}

/*
 * Mounts /dev/loopN with options of the daemon's own.  ext4 takes its error
 * behaviour from the superblock unless told (errors=panic there panics the
 * host at the first corrupt inode a guest looks up, even read-only), and the
 * superblock's mount options string is applied too: the daemon sets every
 * option an image could use against the host, and refuses the others.
 */
static int image_mount(int loop_nr, bool writable, int *ret_fd, struct sbx_error *e)
{
    char source[32];
    snprintf(source, sizeof(source), "/dev/loop%d", loop_nr);
    struct sbx_image_super sb;
    uint64_t bytes = 0;
    int super_err = read_super(source, &sb, &bytes);
    int r;
    if (super_err == 0 && (r = sbx_image_super_check(&sb, writable, e)) < 0)
        return r;
    if (super_err == 0 && (r = check_groups(source, &sb, bytes, e)) < 0)
        return r;
    _cleanup_close_ int fs = fsopen("ext4", FSOPEN_CLOEXEC);
    if (fs < 0)
        return sbx_neg_errno();
    if (fsconfig(fs, FSCONFIG_SET_STRING, "source", source, 0) < 0)
        return sbx_neg_errno();
    if (!writable) {
        /* A read-only device cannot replay a journal; mount what is there. */
        if (fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_FLAG, "norecovery", NULL, 0) < 0)
            return sbx_neg_errno();
    }
    /*
     * An error stops writes and nothing else; no WARN (panic_on_warn would
     * make one a panic); metadata blocks are checked against the filesystem's
     * own zones before they are read.
     */
    if (fsconfig(fs, FSCONFIG_SET_STRING, "errors", "remount-ro", 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_FLAG, "nowarn_on_error", NULL, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_FLAG, "block_validity", NULL, 0) < 0)
        return sbx_error_set_errno(e, errno, "cannot set its mount options");
    /* Where the kernel's log ends now: what the mount logs comes after. */
    _cleanup_close_ int kmsg = sbx_kmsg_open_end();
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if ((r = create_within_timeout(fs)) < 0) {
        clock_gettime(CLOCK_MONOTONIC, &end);
        if (end.tv_sec - start.tv_sec >= MOUNT_TIMEOUT_S)
            return sbx_error_set(e, r,
                                 "cannot mount it: the kernel was still at it after %d s "
                                 "(a writable image with multi-mount protection?)",
                                 MOUNT_TIMEOUT_S);
        return mount_failure(fs, kmsg, source, r, super_err, &sb, bytes, writable, e);
    }
    unsigned attrs = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | (writable ? 0 : MOUNT_ATTR_RDONLY);
    int m = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
    if (m < 0)
        return sbx_neg_errno();
    *ret_fd = m;
    return 0;
}

/*
 * Whether /dev/loopNR is still bound to the file dev:ino.  Closing the last
 * reference to a detached mount unmounts it in the closing task before the
 * close returns (task work); the filesystem's final writes and the loop
 * device's autoclear happen there too, when it lets go of the device.  So
 * this is false right after the daemon's close, unless another process still
 * holds the mount.  A device that cannot be asked counts as bound.
 */
static bool loop_holds(int nr, dev_t dev, ino_t ino)
{
    char path[32];
    snprintf(path, sizeof(path), "/dev/loop%d", nr);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno != ENOENT && errno != ENXIO;
    struct loop_info64 info;
    if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
        return errno != ENXIO;
    return info.lo_device == (uint64_t)dev && info.lo_inode == (uint64_t)ino;
}

/*
 * Whether any loop device on the host is bound to the file dev:ino (with
 * rw_only, bound read-write); if so, its name goes to name.  The daemon's
 * cache knows only the mounts this daemon made since it started: a mount
 * that outlived an earlier daemon (a process outside held it) is found only
 * here.  A device that cannot be asked is skipped: it was freed meanwhile,
 * or is not a loop device the daemon could have made.
 */
static bool loop_find(dev_t dev, ino_t ino, bool rw_only, char *name, size_t len)
{
    DIR *dir = opendir("/sys/block");
    if (!dir)
        return false;
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(dir))) {
        if (strncmp(de->d_name, "loop", 4) != 0)
            continue;
        char path[sizeof("/dev/") + sizeof(de->d_name)];
        snprintf(path, sizeof(path), "/dev/%s", de->d_name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct loop_info64 info;
        if (fd < 0 || ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
            continue;
        if (info.lo_device != (uint64_t)dev || info.lo_inode != (uint64_t)ino ||
            (rw_only && (info.lo_flags & LO_FLAGS_READ_ONLY)))
            continue;
        snprintf(name, len, "%s", path);
        found = true;
    }
    closedir(dir);
    return found;
}

/*
 * A directory root (sandboxctl run DIR): a detached recursive clone of the
 * directory the caller opened, the same kind of tree sbx-init gets for an
 * image mount, so it becomes the overlay's read-only lower layer the same
 * way.  A bind is live, so it changes with the directory; it is not kept
 * after its last sandbox; it has no loop device, no superblock to check and
 * no site map to store (rewrite mode patches lazily).
 */
static int dir_mount(int dir_fd, struct sbx_image *img, struct sbx_error *e)
{
    img->mount_fd =
        (int)syscall(SYS_open_tree, dir_fd, "",
                     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    if (img->mount_fd < 0)
        return sbx_error_set_errno(e, errno, "cannot clone the directory's mount");
    img->loop_nr = -1;
    img->sitemap_tried = true;
    return 0;
}

/* An image file: attached to a loop device, its filesystem mounted detached. */
static int loop_mount(int image_fd, bool writable, struct sbx_image *img, struct sbx_error *e)
{
    int nr;
    _cleanup_close_ int loop = loop_attach(image_fd, writable, &nr);
    if (loop < 0)
        return sbx_error_set_errno(e, loop, "cannot attach a loop device");
    /* On failure, closing the last loop fd with autoclear set detaches the device. */
    int r = image_mount(nr, writable, &img->mount_fd, e);
    if (r < 0)
        return r;
    img->loop_nr = nr;
    return 0;
}

static void cache_unlink(struct sbx_image_cache *c, struct sbx_image *img)
{
    for (struct sbx_image **p = &c->head; *p; p = &(*p)->next) {
        if (*p == img) {
            *p = img->next;
            c->n--;
            image_free(img);
            return;
        }
    }
}

static int attached_elsewhere(const char *loop_name, struct sbx_error *e)
{
    return sbx_error_set(
        e, EBUSY,
        "in use: %s is attached to it (a mount of it that a process outside sandboxd "
        "holds, or another attachment of the file)",
        loop_name);
}

static int image_acquire(struct sbx_image_cache *c, int image_fd, bool writable,
                         struct sbx_image **ret, struct sbx_error *e)
{
    /*
     * The cache matches by fstat, which any fd answers, an O_PATH one too: the
     * fd must itself prove that its sender could open the file the way the
     * sandbox uses it, or a cached image of another user would boot for it.
     */
    const char *why;
    unsigned need = SBX_FDCHECK_READ | (writable ? SBX_FDCHECK_WRITE : 0);
    int bad = sbx_fdcheck_access(image_fd, need, &why);
    if (bad < 0)
        return sbx_error_set(e, bad, "%s%s", why,
                             writable ? " (the policy asks for a writable image)" : "");
    struct stat st;
    if (fstat(image_fd, &st) < 0)
        return sbx_error_set_errno(e, errno, "cannot stat it");
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return sbx_error_set(e, EINVAL, "neither a regular file nor a directory");
    if (S_ISDIR(st.st_mode) && writable)
        return sbx_error_set(e, EINVAL,
                             "a directory root is never writable (the policy asks for a writable "
                             "image): the guest writes to its private overlay");
    /*
     * The daemon reads the image in its event loop (the superblock, the
     * mount, a directory root's etc/passwd): a file whose every read a
     * user-space server answers could stall it for everyone.  A private
     * daemon serves only the user who runs that server.
     */
    struct statfs sfs;
    if (!c->fuse_ok && fstatfs(image_fd, &sfs) == 0 && sfs.f_type == FUSE_SUPER_MAGIC)
        return sbx_error_set(
            e, EINVAL,
            "on a FUSE filesystem, whose server could stall sandboxd: copy it to a "
            "local filesystem first");
    int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    /*
     * A writable image excludes every other use of the same file, whatever its
     * size and mtime (both change once it is mounted read-write).
     */
    if (sbx_image_file_busy(c, st.st_dev, st.st_ino))
        return sbx_error_set(e, EBUSY,
                             "in use: its loop device still holds it after its writable "
                             "sandbox ended (a process outside the daemon holds its filesystem)");
    for (struct sbx_image *i = c->head; i; i = i->next) {
        if (i->dev == st.st_dev && i->ino == st.st_ino && i->refs > 0 && (writable || i->writable))
            return sbx_error_set(e, EBUSY,
                                 "in use by another sandbox (writable images are exclusive)");
    }
    struct sbx_image *i = c->head;
    while (i) {
        struct sbx_image *next = i->next;
        bool same_file = i->dev == st.st_dev && i->ino == st.st_ino;
        bool same_version = i->size == st.st_size && i->mtime_ns == mtime;
        if (same_file && !writable && same_version) {
            i->refs++;
            *ret = i;
            return 0;
        }
        /* An unused mount of an older version, or one about to be written, is stale. */
        if (same_file && i->refs == 0)
            cache_unlink(c, i);
        i = next;
    }
    /*
     * Outside this daemon's cache (a new mount only: a cached one is of the
     * same size and mtime, and a write through another attachment changes
     * the mtime): a read-only mount is refused while the file is attached
     * read-write (its filesystem changes under the reader).  For a writable
     * one, every mount of the file this daemon had is gone by now, so a loop
     * device still bound to it is another's: two read-write ext4 instances,
     * or one under a reader, corrupt the file.  A directory has no loop
     * device.  The scan asks every loop device of the host, which is why a
     * cached image does not pay for it.
     */
    char loop_name[300];
    if (S_ISREG(st.st_mode) &&
        loop_find(st.st_dev, st.st_ino, !writable, loop_name, sizeof(loop_name)))
        return attached_elsewhere(loop_name, e);
    struct sbx_image *img = calloc(1, sizeof(*img));
    if (!img)
        return -ENOMEM;
    img->mount_fd = -EBADF;
    img->trampoline_fd = -EBADF;
    int r =
        S_ISDIR(st.st_mode) ? dir_mount(image_fd, img, e) : loop_mount(image_fd, writable, img, e);
    if (r < 0) {
        image_free(img);
        return r;
    }
    img->writable = writable;
    img->dev = st.st_dev;
    img->ino = st.st_ino;
    img->size = st.st_size;
    img->mtime_ns = mtime;
    img->refs = 1;
    img->next = c->head;
    c->head = img;
    c->n++;
    *ret = img;
    return 0;
}

int sbx_image_acquire(struct sbx_image_cache *c, int image_fd, bool writable,
                      struct sbx_image **ret, struct sbx_error *e)
{
    e->msg[0] = '\0';
    int r = image_acquire(c, image_fd, writable, ret, e);
    if (r >= 0)
        return r;
    /* Steps that fail only with an errno leave the message to it. */
    if (!e->msg[0])
        sbx_error_set(e, r, "%s", strerror(-r));
    e->err = -r;
    return sbx_error_wrap(e, "image");
}

struct sbx_image *sbx_image_find(struct sbx_image_cache *c, const struct sbx_root_key *k)
{
    if (!k->set)
        return NULL;
    for (struct sbx_image *i = c->head; i; i = i->next)
        if (i->dev == k->dev && i->ino == k->ino && i->size == k->size &&
            i->mtime_ns == k->mtime_ns && !i->writable && !i->lingering && i->loop_nr >= 0 &&
            i->mount_fd >= 0)
            return i;
    return NULL;
}

void sbx_image_hold(struct sbx_image *img)
{
    img->refs++;
}

int sbx_image_take_mount(struct sbx_image *img)
{
    int fd = img->mount_fd;
    img->mount_fd = -EBADF;
    return fd;
}

bool sbx_image_file_busy(struct sbx_image_cache *c, dev_t dev, ino_t ino)
{
    bool busy = false;
    struct sbx_image *i = c->head;
    while (i) {
        struct sbx_image *next = i->next;
        if (i->lingering && i->dev == dev && i->ino == ino) {
            if (loop_holds(i->loop_nr, dev, ino))
                busy = true;
            else
                cache_unlink(c, i);
        }
        i = next;
    }
    return busy;
}

int sbx_image_release(struct sbx_image_cache *c, struct sbx_image *img, uint64_t now_ms)
{
    if (!img)
        return 0;
    img->released_ms = now_ms;
    if (--img->refs > 0)
        return 0;
    img->idle_since_ms = now_ms;
    /*
     * A directory root is made again by one open_tree, and kept it would pin
     * the caller's filesystem in the daemon: it goes with its last sandbox.
     */
    if (img->loop_nr < 0) {
        cache_unlink(c, img);
        return 0;
    }
    /* A writable image is never shared, and its file may be changed later: unmount it now. */
    if (img->writable) {
        img->mount_fd = sbx_close(img->mount_fd);
        img->trampoline_fd = sbx_close(img->trampoline_fd);
        if (loop_holds(img->loop_nr, img->dev, img->ino)) {
            img->lingering = true;
            return -EBUSY;
        }
        cache_unlink(c, img);
        return 0;
    }
    size_t idle = 0;
    for (struct sbx_image *i = c->head; i; i = i->next)
        idle += i->refs == 0 && !i->lingering;
    while (idle > c->max_idle) {
        struct sbx_image *oldest = NULL;
        for (struct sbx_image *i = c->head; i; i = i->next)
            if (i->refs == 0 && !i->lingering &&
                (!oldest || i->idle_since_ms < oldest->idle_since_ms))
                oldest = i;
        cache_unlink(c, oldest);
        idle--;
    }
    return 0;
}

void sbx_image_cache_trim(struct sbx_image_cache *c, uint64_t now_ms, uint64_t max_idle_ms)
{
    struct sbx_image *i = c->head;
    while (i) {
        struct sbx_image *next = i->next;
        if (i->lingering ? !loop_holds(i->loop_nr, i->dev, i->ino)
                         : i->refs == 0 && now_ms - i->idle_since_ms >= max_idle_ms)
            cache_unlink(c, i);
        i = next;
    }
}

void sbx_image_cache_clear(struct sbx_image_cache *c)
{
    while (c->head) {
        struct sbx_image *next = c->head->next;
        image_free(c->head);
        c->head = next;
    }
    c->n = 0;
}
