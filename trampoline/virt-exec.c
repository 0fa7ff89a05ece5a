/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * execve/execveat re-enter the trampoline: the target is resolved and
 * checked first (so ENOENT, EACCES, ENOEXEC... come back to the guest as a
 * native execve would return them), then the process execs the trampoline's
 * memfd with the guest's own argv, the mode and path in its slot of the exec
 * request file (SBX_FD_EXEC), and the new trampoline loads the target the
 * same way the first one did.
 *
 * /proc/self/exe names the trampoline's memfd in the kernel, so an exec of
 * it runs the path the guest was loaded from, which is what readlink of it
 * shows the guest (virt-proc.c).
 *
 * Targets relative to a directory fd, or given as an fd (AT_EMPTY_PATH),
 * become /proc/self/fd/N[/path].  A close-on-exec N would vanish in the exec,
 * so it is duplicated to a plain fd M first and the new trampoline is told to
 * close M (mode "trap:close=M" in the request).
 *
 * Signal-safety contract: runs in the SIGSYS handler on the guest's stack;
 * everything larger than a few words lives in a scratch mapping that is
 * unmapped when the exec fails (and vanishes with the old image when it
 * succeeds).
 */
#include <linux/falloc.h>
#include <linux/fcntl.h>
#include <linux/mman.h>

#include "loader.h"
#include "sbx/abi.h"
#include "virt.h"

#define ARGV_MAX (1 << 20)

struct scratch {
    struct sbx_tramp_target target;
    char path[SBX_PATH_MAX + 64];
    char mode[48];
    char req[SBX_EXEC_SLOT];
};

/* Appends s to buf at *n, within cap (the last byte kept for NUL). */
static int append(char *buf, size_t *n, size_t cap, const char *s)
{
    size_t len = sbx_strlen(s);
    if (*n + len >= cap)
        return -ENAMETOOLONG;
    memcpy(buf + *n, s, len + 1);
    *n += len;
    return 0;
}

static int append_fd_path(char *buf, size_t *n, size_t cap, int fd)
{
    char num[24];
    num[sbx_utoa((uint64_t)fd, num)] = '\0';
    int r = append(buf, n, cap, "/proc/self/fd/");
    return r < 0 ? r : append(buf, n, cap, num);
}

/*
 * Builds the path the new trampoline will open.  Returns 0, with *ret_dup
 * set to a duplicated fd to close later (or -1), or -errno.
 */
static int target_path(struct scratch *s, int dirfd, const char *path, int flags, int *ret_dup)
{
    size_t n = 0;
    *ret_dup = -1;
    /* The kernel's link names this trampoline: exec what it stands for (as readlink says). */
    if ((dirfd == AT_FDCWD || path[0] == '/') && sbx_virt_is_self_exe(path))
        return append(s->path, &n, sizeof(s->path), sbx_tramp.exe_path);
    if (path[0] == '/')
        return append(s->path, &n, sizeof(s->path), path);
    if (path[0] == '\0' && !(flags & AT_EMPTY_PATH))
        return -ENOENT;
    if (dirfd == AT_FDCWD) {
        /* The request's path always contains a slash. */
        int r = append(s->path, &n, sizeof(s->path), "./");
        return r < 0 ? r : append(s->path, &n, sizeof(s->path), path);
    }
    long fl = sbx_sys2(__NR_fcntl, dirfd, F_GETFD);
    if (fl < 0)
        return (int)fl;
    int fd = dirfd;
    if (fl & FD_CLOEXEC) {
        long d = sbx_sys3(__NR_fcntl, dirfd, F_DUPFD, 3);
        if (d < 0)
            return (int)d;
        fd = *ret_dup = (int)d;
    }
    int r = append_fd_path(s->path, &n, sizeof(s->path), fd);
    if (r == 0 && path[0]) {
        r = append(s->path, &n, sizeof(s->path), "/");
        if (r == 0)
            r = append(s->path, &n, sizeof(s->path), path);
    }
    return r;
}

static void make_mode(struct scratch *s, int dup_fd)
{
    size_t n = 0;
    append(s->mode, &n, sizeof(s->mode),
           sbx_tramp.mode == SBX_MODE_REWRITE ? SBX_MODE_NAME_REWRITE : SBX_MODE_NAME_TRAP);
    if (dup_fd >= 0) {
        char num[24];
        num[sbx_utoa((uint64_t)dup_fd, num)] = '\0';
        append(s->mode, &n, sizeof(s->mode), ":close=");
        append(s->mode, &n, sizeof(s->mode), num);
    }
}

/*
 * Execs the trampoline with the guest's own argv and envp; the mode and the
 * path go into this process's slot of the exec request file (abi.h).
 */
static long exec_with(struct scratch *s, char **argv, char **envp, int dup_fd)
{
    make_mode(s, dup_fd);
    size_t n = 0;
    long r = append(s->req, &n, sizeof(s->req), s->mode);
    if (r == 0) {
        n++; /* keep the NUL */
        r = append(s->req, &n, sizeof(s->req), s->path);
    }
    if (r < 0)
        return r;
    n++;
    long off = sbx_sys0(__NR_getpid) * SBX_EXEC_SLOT;
    long m = sbx_tramp_syscall6(__NR_mmap, 0, SBX_EXEC_SLOT, PROT_READ | PROT_WRITE, MAP_SHARED,
                                SBX_FD_EXEC, off);
    if (m < 0)
        return m;
    memcpy((void *)m, s->req, n);
    sbx_sys2(__NR_munmap, m, SBX_EXEC_SLOT);
    r = sbx_sys5(__NR_execveat, SBX_FD_TRAMPOLINE, (long)"", (long)argv, (long)envp, AT_EMPTY_PATH);
    /* Still here: the exec failed, and the slot's page goes back. */
    sbx_sys4(__NR_fallocate, SBX_FD_EXEC, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
             SBX_EXEC_SLOT);
    return r;
}

long sbx_virt_execveat(struct sbx_call *c, int dirfd, const char *path, char **argv, char **envp,
                       int flags)
{
    if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
        return -EINVAL;
    if (!path)
        return -EFAULT;
    long m = sbx_tramp_syscall6(__NR_mmap, 0, sizeof(struct scratch), PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m < 0)
        return m;
    struct scratch *s = (struct scratch *)m;
    int dup_fd;
    long r = target_path(s, dirfd, path, flags, &dup_fd);
    if (r == 0) {
        /* For a bare fd (empty path) NOFOLLOW would refuse the /proc magic link. */
        int nofollow = (flags & AT_SYMLINK_NOFOLLOW) && path[0];
        r = sbx_tramp_resolve(s->path, nofollow, &s->target);
        if (r == 0) {
            sbx_tramp_target_close(&s->target);
            r = exec_with(s, argv, envp, dup_fd);
        }
    }
    if (dup_fd >= 0)
        sbx_sys1(__NR_close, dup_fd);
    sbx_sys2(__NR_munmap, m, sizeof(struct scratch));
    (void)c;
    return r;
}
