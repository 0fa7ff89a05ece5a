/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Site maps: running sbx-sitemap (trampoline/sitemap-main.c) and checking what
 * it wrote before any sandbox sees it.  The helper reads untrusted files;
 * the daemon trusts nothing of its output but the format this file checks.
 */
#include "daemon/sitemap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/blob.h"
#include "daemon/spawn-report.h"
#include "sbx/macro.h"
#include "sbx/sitemap.h"

#define BAD(...)                                                                                   \
    do {                                                                                           \
        return sbx_error_set(e, EBADMSG, __VA_ARGS__);                                             \
    } while (0)

static int check_site(const struct sbx_sitemap_file *f, const struct sbx_sitemap_site *s,
                      uint32_t i, struct sbx_error *e)
{
    if (s->slot_at == 0 && s->slot_end == 0) {
        if (s->off > f->size || f->size - s->off < 7)
            BAD("file %u: mov site at %llu lies outside the file", i, (unsigned long long)s->off);
        return 0;
    }
    /* `eb rel8` from off + 2 to the slot, which must not overlap the syscall. */
    int64_t at = s->slot_at, end = s->slot_end;
    if (at - 2 < -128 || at - 2 > 127 || end - at < 5 || end - at > 64 || (at < 2 && end > 0))
        BAD("file %u: syscall site at %llu has a bad slot [%lld, %lld)", i,
            (unsigned long long)s->off, (long long)at, (long long)end);
    /* size is at most 512 MiB (checked first), so none of this can wrap. */
    if (s->off > f->size || f->size - s->off < 2 || (at < 0 && s->off < (uint64_t)-at) ||
        (end > 0 && f->size - s->off < (uint64_t)end))
        BAD("file %u: syscall site at %llu or its slot lies outside the file", i,
            (unsigned long long)s->off);
    return 0;
}

int sbx_sitemap_check(const void *buf, size_t len, struct sbx_error *e)
{
    struct sbx_sitemap_header h;
    if (len < sizeof(h))
        BAD("%zu bytes: shorter than a header", len);
    memcpy(&h, buf, sizeof(h));
    if (h.magic != SBX_SITEMAP_MAGIC || h.version != SBX_SITEMAP_VERSION)
        BAD("bad magic or version %u", h.version);
    if (len > SBX_SITEMAP_MAX_BYTES || h.nfiles > SBX_SITEMAP_MAX_FILES ||
        h.nsites > SBX_SITEMAP_MAX_SITES)
        BAD("too large: %zu bytes, %u files, %u sites", len, h.nfiles, h.nsites);
    uint64_t want = sizeof(h) + (uint64_t)h.nfiles * sizeof(struct sbx_sitemap_file) +
                    (uint64_t)h.nsites * sizeof(struct sbx_sitemap_site);
    if (h.bytes != want || len != want)
        BAD("%zu bytes where the header implies %llu", len, (unsigned long long)want);
    const struct sbx_sitemap_file *files =
        (const struct sbx_sitemap_file *)((const char *)buf + sizeof(h));
    const struct sbx_sitemap_site *sites = (const struct sbx_sitemap_site *)(files + h.nfiles);
    for (uint32_t i = 0; i < h.nfiles; i++) {
        const struct sbx_sitemap_file *f = &files[i];
        if (i > 0 && f->ino <= files[i - 1].ino)
            BAD("file %u: inode %llu out of order", i, (unsigned long long)f->ino);
        if (f->size > SBX_SITEMAP_MAX_FILE_SIZE)
            BAD("file %u: size %llu over the limit", i, (unsigned long long)f->size);
        if ((uint64_t)f->first + f->nsites > h.nsites)
            BAD("file %u: sites %u..%u beyond the %u there are", i, f->first, f->first + f->nsites,
                h.nsites);
        for (uint32_t k = 0; k < f->nsites; k++) {
            const struct sbx_sitemap_site *s = &sites[f->first + k];
            if (k > 0 && s->off <= s[-1].off)
                BAD("file %u: site %u out of order", i, k);
            int r = check_site(f, s, i, e);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/*
 * clone3 into new namespaces, then exec the helper with root at 3 and out
 * at 4.  The child runs in a copy of the daemon: async-signal-safe calls only.
 */
static pid_t spawn(int helper_fd, int root_fd, int out_fd, int report, int *ret_pidfd)
{
    int pidfd = -1;
    struct clone_args args = {
        .flags =
            CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
    };
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0)
        return sbx_neg_errno();
    if (pid == 0) {
        /* A daemon that dies (even of SIGKILL) takes its helper with it. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
            sbx_spawn_fail(report, SBX_SPAWN_DEATHSIG);
        /* Out of the way of 0-4, which the helper's descriptors take. */
        if ((report = fcntl(report, F_DUPFD_CLOEXEC, 10)) < 0)
            _exit(SBX_SPAWN_EXIT_STATUS);
        /* Nothing of the daemon's but stderr (the journal), for its messages. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
            sbx_spawn_fail(report, SBX_SPAWN_FDS);
        int exe = fcntl(helper_fd, F_DUPFD_CLOEXEC, 10);
        int root = fcntl(root_fd, F_DUPFD_CLOEXEC, 10);
        int out = fcntl(out_fd, F_DUPFD_CLOEXEC, 10);
        if (exe < 0 || root < 0 || out < 0 || dup2(root, 3) < 0 || dup2(out, 4) < 0)
            sbx_spawn_fail(report, SBX_SPAWN_FDS);
        syscall(SYS_close_range, 5, ~0U, CLOSE_RANGE_CLOEXEC);
        char *const argv[] = { "sbx-sitemap", NULL };
        char *const envp[] = { NULL };
        syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
        sbx_spawn_fail(report, SBX_SPAWN_EXEC);
    }
    *ret_pidfd = pidfd;
    return (pid_t)pid;
}

int sbx_sitemap_start(int helper_fd, int root_fd, struct sbx_sitemap_job *job, struct sbx_error *e)
{
    *job = (struct sbx_sitemap_job){ .pidfd = -EBADF, .out = -EBADF, .report = -EBADF };
    _cleanup_close_ int out = memfd_create("sbx-sitemap-out", MFD_CLOEXEC);
    if (out < 0)
        return sbx_error_set_errno(e, errno, "cannot start sbx-sitemap");
    int report[2];
    int r = sbx_spawn_report_open(report);
    if (r < 0)
        return sbx_error_set_errno(e, r, "cannot start sbx-sitemap");
    int pidfd = -EBADF;
    pid_t pid = spawn(helper_fd, root_fd, out, report[1], &pidfd);
    sbx_close(report[1]);
    if (pid < 0) {
        sbx_close(report[0]);
        return sbx_error_set_errno(e, (int)pid, "cannot start sbx-sitemap");
    }
    job->pidfd = pidfd;
    job->out = TAKE_FD(out);
    job->report = report[0];
    return 0;
}

void sbx_sitemap_kill(struct sbx_sitemap_job *job)
{
    if (job->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, job->pidfd, SIGKILL, NULL, 0);
}

int sbx_sitemap_cancel(struct sbx_sitemap_job *job, int timeout_ms)
{
    int r = 0;
    sbx_sitemap_kill(job);
    if (job->pidfd >= 0) {
        /*
         * Waited for with poll, never with a blocking waitid: libuv may have
         * made the pidfd non-blocking, and a helper stuck in I/O may take long.
         */
        struct pollfd p = { .fd = job->pidfd, .events = POLLIN };
        while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
            ;
        siginfo_t si = { 0 };
        if (waitid(P_PIDFD, (id_t)job->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
            r = -ETIMEDOUT;
    }
    job->pidfd = sbx_close(job->pidfd);
    job->out = sbx_close(job->out);
    job->report = sbx_close(job->report);
    return r;
}

int sbx_sitemap_finish(struct sbx_sitemap_job *job, void **ret_map, size_t *ret_len,
                       struct sbx_error *e)
{
    siginfo_t si = { 0 };
    int r = waitid(P_PIDFD, (id_t)job->pidfd, &si, WEXITED) < 0 ? sbx_neg_errno() : 0;
    job->pidfd = sbx_close(job->pidfd);
    _cleanup_close_ int out = TAKE_FD(job->out);
    _cleanup_close_ int report = TAKE_FD(job->report);
    if (r < 0)
        return sbx_error_set_errno(e, r, "cannot reap sbx-sitemap");
    if (si.si_code == CLD_EXITED && si.si_status == SBX_SPAWN_EXIT_STATUS &&
        sbx_spawn_report_read(report, e)) {
        e->err = EIO;
        return sbx_error_wrap(e, "sbx-sitemap");
    }
    if (si.si_code != CLD_EXITED || si.si_status != 0)
        return sbx_error_set(e, EIO, "sbx-sitemap %s %d",
                             si.si_code == CLD_EXITED ? "exited with" : "died of signal",
                             si.si_status);
    struct stat st;
    if (fstat(out, &st) < 0)
        return sbx_error_set_errno(e, errno, "cannot examine the site map");
    size_t len = (size_t)st.st_size;
    if (len < sizeof(struct sbx_sitemap_header) || len > SBX_SITEMAP_MAX_BYTES)
        return sbx_error_set(e, EBADMSG, "sbx-sitemap wrote %zu bytes", len);
    /* The helper is gone and nobody else holds the memfd: its bytes stay put. */
    _cleanup_free_ char *map = malloc(len);
    if (!map)
        return sbx_error_set_errno(e, ENOMEM, "cannot read the site map back");
    if (pread(out, map, len, 0) != (ssize_t)len)
        return sbx_error_set(e, EIO, "cannot read the site map back");
    if ((r = sbx_sitemap_check(map, len, e)) < 0)
        return sbx_error_wrap(e, "sbx-sitemap wrote a bad map");
    *ret_map = TAKE_PTR(map);
    *ret_len = len;
    return 0;
}

/* A stored map: this header, then the map. */
struct stored {
    uint64_t magic;
    struct sbx_sitemap_key key;
};
#define STORED_MAGIC 0x3170616d74697362ULL /* "bsitmap1" */

static void stored_name(const struct sbx_sitemap_key *key, char *buf, size_t len)
{
    /* One file per image file: a new version of the image replaces the old map. */
    snprintf(buf, len, "%llx-%llx.map", (unsigned long long)key->dev, (unsigned long long)key->ino);
}

int sbx_sitemap_load(int dirfd, const struct sbx_sitemap_key *key, void **ret_map, size_t *ret_len)
{
    char name[64];
    stored_name(key, name, sizeof(name));
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return sbx_neg_errno();
    struct stat st;
    struct stored h;
    if (fstat(fd, &st) < 0)
        return sbx_neg_errno();
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(h) ||
        (uint64_t)st.st_size - sizeof(h) > SBX_SITEMAP_MAX_BYTES ||
        pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != STORED_MAGIC ||
        memcmp(&h.key, key, sizeof(*key)) != 0)
        return -ENOENT;
    size_t len = (size_t)st.st_size - sizeof(h);
    _cleanup_free_ char *map = malloc(len ? len : 1);
    struct sbx_error ignored = { 0 };
    if (!map)
        return -ENOMEM;
    /* A stored map that is not well-formed is as good as none: it is made again. */
    if (pread(fd, map, len, sizeof(h)) != (ssize_t)len || sbx_sitemap_check(map, len, &ignored) < 0)
        return -ENOENT;
    *ret_map = TAKE_PTR(map);
    *ret_len = len;
    return 0;
}

/*
 * A write that comes up short sets no errno: the next one says why (ENOSPC
 * on a full disk), so keep writing until one does.
 */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sbx_neg_errno();
        if (n == 0)
            return -EIO; /* nothing written and no reason given */
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sbx_sitemap_store(int dirfd, const struct sbx_sitemap_key *key, const void *map, size_t len)
{
    char name[64], tmp[80];
    stored_name(key, name, sizeof(name));
    snprintf(tmp, sizeof(tmp), ".%s.%d", name, (int)getpid());
    _cleanup_close_ int fd =
        openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return sbx_neg_errno();
    struct stored h = { .magic = STORED_MAGIC, .key = *key };
    int r = write_all(fd, &h, sizeof(h));
    if (r == 0)
        r = write_all(fd, map, len);
    if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        r = sbx_neg_errno();
    if (r < 0)
        unlinkat(dirfd, tmp, 0);
    return r;
}

int sbx_sitemap_trampoline(const void *map, size_t len)
{
    _cleanup_free_ char *tail = malloc(len + sizeof(struct sbx_sitemap_footer));
    if (!tail)
        return -ENOMEM;
    struct sbx_sitemap_footer ft = { .magic = SBX_SITEMAP_FOOTER_MAGIC, .bytes = len };
    memcpy(tail, map, len);
    memcpy(tail + len, &ft, sizeof(ft));
    return sbx_blob_memfd_trampoline_with(tail, len + sizeof(ft));
}
