/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The site map of a built image, made at build time.  The search parses
 * every ELF file of the image, which is untrusted input: it runs only in
 * sbx-sitemap, the daemon's own confined helper, never in this process, and
 * its output passes the daemon's checks.
 *
 * Root mounts the image read-only the way the daemon does and runs the
 * helper exactly as the daemon runs it (nobody, chrooted into the image,
 * new namespaces); where it cannot mount (no loop devices), it does what
 * every other user does.  Another user cannot mount an ext4 filesystem, not even
 * in a user namespace of its own, so the helper runs in its file mode: this
 * process walks the tree it has just written to the image, with the
 * helper's rules, and hands it each candidate file as a memfd of its
 * content with the inode number and times the mounted image shows.  Only
 * the helper reads the content; its allowlist has no call that names a
 * file, so the descriptors it is given are all it can reach.  Both ways
 * give the same map.
 */
#include "client/image-sitemap.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/blob.h"
#include "daemon/image.h"
#include "trampoline/sitemap-walk.h"
#include "daemon/sitemap.h"
#include "daemon/spawn-report.h"
#include "sbx/macro.h"
#include "sbx/sitemap.h"

/* "no site map: " and what the helper said, or strerror(r) when it said nothing. */
static int no_map(struct sbx_error *e, int r)
{
    return e->msg[0] ? sbx_error_wrap(e, "no site map") : sbx_error_set_errno(e, r, "no site map");
}

/* Over the image mounted; *ret_mounted says whether the mount succeeded. */
static int mounted(int fd, int helper, void **ret_map, size_t *ret_len, bool *ret_mounted,
                   struct sbx_error *e)
{
    struct sbx_image_cache cache;
    sbx_image_cache_init(&cache, 0);
    struct sbx_image *img = NULL;
    int r = sbx_image_acquire(&cache, fd, false, &img, e);
    *ret_mounted = r == 0;
    if (r < 0) {
        sbx_error_wrap(e, "cannot mount the image for its site map");
        sbx_image_cache_clear(&cache);
        return r;
    }
    struct sbx_sitemap_job job;
    e->msg[0] = '\0';
    r = sbx_sitemap_start(helper, img->mount_fd, &job, e);
    if (r == 0)
        r = sbx_sitemap_finish(&job, ret_map, ret_len, e);
    if (r < 0)
        no_map(e, r);
    sbx_image_release(&cache, img, 0);
    sbx_image_cache_clear(&cache);
    return r;
}

/*
 * The helper in its file mode, with sock at 3 and out at 4, as a plain
 * child of this process: with no path to open and no signal to send, new
 * namespaces would add nothing to its allowlist.
 */
static int spawn_files(int helper, int sock, int out, struct sbx_sitemap_job *job)
{
    int report[2];
    int r = sbx_spawn_report_open(report);
    if (r < 0)
        return r;
    int pidfd = -EBADF;
    struct clone_args args = {
        .flags = CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
    };
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0) {
        r = sbx_neg_errno();
        sbx_close(report[0]);
        sbx_close(report[1]);
        return r;
    }
    if (pid == 0) {
        int rep = report[1];
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
            sbx_spawn_fail(rep, SBX_SPAWN_DEATHSIG);
        if ((rep = fcntl(rep, F_DUPFD_CLOEXEC, 10)) < 0)
            _exit(SBX_SPAWN_EXIT_STATUS);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        int exe = fcntl(helper, F_DUPFD_CLOEXEC, 10);
        int s = fcntl(sock, F_DUPFD_CLOEXEC, 10);
        int o = fcntl(out, F_DUPFD_CLOEXEC, 10);
        if (null < 0 || exe < 0 || s < 0 || o < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
            dup2(s, 3) < 0 || dup2(o, 4) < 0)
            sbx_spawn_fail(rep, SBX_SPAWN_FDS);
        syscall(SYS_close_range, 5, ~0U, CLOSE_RANGE_CLOEXEC);
        char *const argv[] = { "sbx-sitemap", NULL };
        char *const envp[] = { NULL };
        syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
        sbx_spawn_fail(rep, SBX_SPAWN_EXEC);
    }
    sbx_close(report[1]);
    job->pidfd = pidfd;
    job->report = report[0];
    return 0;
}

struct feed {
    const struct sbx_tree *t;
    int sock;
    bool done; /* the helper's time is up, or it is gone */
    char *buf;
};

#define COPY_CHUNK (1U << 20)

static int64_t time_ns(const struct sbx_tree_inode *i)
{
    return i->mtime * 1000000000 + (int64_t)i->mtime_nsec;
}

/* One candidate file to the helper, and its answer. */
static int feed_file(struct feed *f, const struct sbx_tree_inode *i)
{
    unsigned char magic[SELFMAG];
    /* Only the helper's first test, so as not to copy what it would skip unread. */
    if (i->size < sizeof(Elf64_Ehdr) || i->size > SBX_SITEMAP_MAX_FILE_SIZE)
        return 0;
    int r = sbx_tree_read(f->t, i, 0, magic, sizeof(magic));
    if (r < 0)
        return r;
    if (memcmp(magic, ELFMAG, SELFMAG) != 0)
        return 0;
    _cleanup_close_ int mfd = memfd_create("sbx-sitemap-file", MFD_CLOEXEC);
    if (mfd < 0)
        return sbx_neg_errno();
    for (uint64_t off = 0; off < i->size; off += COPY_CHUNK) {
        size_t n = i->size - off < COPY_CHUNK ? (size_t)(i->size - off) : COPY_CHUNK;
        if ((r = sbx_tree_read(f->t, i, off, f->buf, n)) < 0)
            return r;
        ssize_t w = pwrite(mfd, f->buf, n, (off_t)off);
        if (w != (ssize_t)n)
            return w < 0 ? sbx_neg_errno() : -EIO;
    }
    struct sbx_sitemap_walk_record rec = {
        .ino = i->out_ino, .size = i->size, .mtime_ns = time_ns(i), .ctime_ns = time_ns(i)
    };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } c = { 0 };
    struct iovec iov = { .iov_base = &rec, .iov_len = sizeof(rec) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)
    };
    struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &mfd, sizeof(int));
    ssize_t n;
    while ((n = sendmsg(f->sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    char more = 0;
    if (n == (ssize_t)sizeof(rec))
        while ((n = read(f->sock, &more, 1)) < 0 && errno == EINTR)
            ;
    /* A helper that is gone says why when it is reaped. */
    if (more != SBX_SITEMAP_WALK_MORE)
        f->done = true;
    return 0;
}

/* The walk of sbx-sitemap over a mounted image, over the tree instead. */
static int feed_dir(struct feed *f, const struct sbx_tree_node *dir, unsigned depth)
{
    for (size_t k = 0; k < dir->inode->nchildren && !f->done; k++) {
        const struct sbx_tree_node *n = dir->inode->children[k];
        const struct sbx_tree_inode *i = n->inode;
        int r = 0;
        if (i->type == SBX_TREE_DIR) {
            if (depth < 2 && sbx_sitemap_walk_skipped(depth ? dir->name : NULL, n->name))
                continue;
            if (depth < SBX_SITEMAP_WALK_MAX_DEPTH)
                r = feed_dir(f, n, depth + 1);
        } else if (i->type == SBX_TREE_REG) {
            r = feed_file(f, i);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int from_tree(const struct sbx_tree *t, int helper, void **ret_map, size_t *ret_len,
                     struct sbx_error *e)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return sbx_neg_errno();
    _cleanup_close_ int sock = sv[0];
    _cleanup_close_ int theirs = sv[1];
    _cleanup_close_ int out = memfd_create("sbx-sitemap-out", MFD_CLOEXEC);
    if (out < 0)
        return sbx_neg_errno();
    struct sbx_sitemap_job job = { .pidfd = -EBADF, .out = -EBADF, .report = -EBADF };
    int r = spawn_files(helper, theirs, out, &job);
    if (r < 0) {
        return sbx_error_set(e, r, "cannot start sbx-sitemap: %s", strerror(-r));
    }
    job.out = TAKE_FD(out);
    theirs = sbx_close(theirs);
    struct feed f = { .t = t, .sock = sock, .buf = malloc(COPY_CHUNK) };
    r = f.buf ? feed_dir(&f, &t->root, 0) : -ENOMEM;
    free(f.buf);
    if (r < 0) {
        sbx_error_set(e, r, "cannot hand the image's files to sbx-sitemap: %s", strerror(-r));
        sbx_sitemap_cancel(&job, 1000);
        return r;
    }
    /* The end of the list. */
    sock = sbx_close(sock);
    e->msg[0] = '\0';
    r = sbx_sitemap_finish(&job, ret_map, ret_len, e);
    return r < 0 ? no_map(e, r) : r;
}

int sbx_image_build_sitemap(int fd, const struct sbx_tree *t, void **ret_map, size_t *ret_len,
                            struct sbx_error *e)
{
    _cleanup_close_ int helper = sbx_blob_memfd_sitemap();
    if (helper < 0) {
        return sbx_error_set_errno(e, helper, "no sbx-sitemap in this build");
    }
    if (geteuid() == 0) {
        bool was_mounted;
        int r = mounted(fd, helper, ret_map, ret_len, &was_mounted, e);
        /* Root without loop devices (in a container) is handed the files as anyone else. */
        if (r == 0 || was_mounted)
            return r;
    }
    return from_tree(t, helper, ret_map, ret_len, e);
}
