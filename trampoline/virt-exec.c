/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * execve/execveat re-enter the trampoline: the target is resolved and
 * checked first (so ENOENT, EACCES, ENOEXEC... come back to the guest as a
 * native execve would return them), then the process execs the trampoline
 * with the guest's own argv, and envp followed by the exec request (mode and
 * path, abi.h), and the new trampoline loads the target the same way the
 * first one did.  The trampoline is reached as /proc/self/exe: the kernel's
 * link names the trampoline's memfd, which this process was exec'd from, so
 * no descriptor of it has to stay open.  (This needs the sandbox's /proc at
 * /proc in the process's root, as sandbox init mounts it.)
 *
 * For the guest, /proc/self/exe stands for the program it was loaded from:
 * an exec of it runs that path, as readlink and open of it show
 * (virt-proc.c).
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
#include <linux/fcntl.h>
#include <linux/mman.h>

#include "loader.h"
#include "rewrite.h"
#include "sbx/abi.h"
#include "virt.h"

#define ARGV_MAX (1 << 20)

struct scratch {
    struct sbx_tramp_target target;
    char path[SBX_PATH_MAX + 64];
    char mode[SBX_EXEC_REQUEST_MAX];
    int byfd, self; /* the exec was by descriptor, or of the exe link */
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
    if ((dirfd == AT_FDCWD || path[0] == '/') && sbx_virt_is_self_exe(path)) {
        s->self = 1;
        return append(s->path, &n, sizeof(s->path), sbx_tramp.exe_path);
    }
    if (path[0] == '/')
        return append(s->path, &n, sizeof(s->path), path);
    if (path[0] == '\0' && !(flags & AT_EMPTY_PATH))
        return -ENOENT;
    if (dirfd == AT_FDCWD) {
        /* The request's path always contains a slash. */
        int r = append(s->path, &n, sizeof(s->path), "./");
        return r < 0 ? r : append(s->path, &n, sizeof(s->path), path);
    }
    s->byfd = path[0] == '\0';
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
    append(s->mode, &n, sizeof(s->mode), SBX_EXEC_TAG);
    append(s->mode, &n, sizeof(s->mode),
           sbx_tramp.mode == SBX_MODE_REWRITE ? SBX_MODE_NAME_REWRITE : SBX_MODE_NAME_TRAP);
    if (sbx_tramp.keep_stats_fd)
        append(s->mode, &n, sizeof(s->mode), ":stats");
    if (s->byfd)
        append(s->mode, &n, sizeof(s->mode), ":byfd");
    if (s->self)
        append(s->mode, &n, sizeof(s->mode), ":self");
    /* Without the kept memfd the new program's stats page starts empty: carry the hot sites. */
    if (sbx_tramp.mode == SBX_MODE_REWRITE && !sbx_tramp.keep_stats_fd) {
        size_t room = sizeof(s->mode) / 2 - n;
        append(s->mode, &n, sizeof(s->mode), ":hot=");
        n += sbx_rw_hot_export(s->mode + n, room > 5 ? room - 5 : 0);
        s->mode[n] = '\0';
    }
    if (dup_fd >= 0) {
        char num[24];
        num[sbx_utoa((uint64_t)dup_fd, num)] = '\0';
        append(s->mode, &n, sizeof(s->mode), ":close=");
        append(s->mode, &n, sizeof(s->mode), num);
    }
}

/*
 * Execs the trampoline with the guest's own argv, and its envp followed by
 * the exec request (abi.h) in a copy of the pointer array.  The exec is the
 * syscall the guest made, nr, so that the policy's rule on execve and the
 * one on execveat each decide their own call (an errno, a kill and its
 * name), as they do without a trampoline.
 */
static long exec_with(struct scratch *s, long nr, char **argv, char **envp, int dup_fd)
{
    make_mode(s, dup_fd);
    if (sbx_strlen(s->mode) + sbx_strlen(s->path) + 2 > SBX_EXEC_REQUEST_MAX)
        return -ENAMETOOLONG;
    size_t n = 0;
    while (envp && envp[n]) {
        if (++n > ARGV_MAX)
            return -E2BIG;
    }
    size_t len = (n + 3) * sizeof(char *);
    long m = sbx_tramp_syscall6(__NR_mmap, 0, (long)len, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m < 0)
        return m;
    char **env = (char **)m;
    if (n)
        memcpy(env, envp, n * sizeof(char *));
    env[n] = s->mode;
    env[n + 1] = s->path;
    env[n + 2] = 0;
    long r =
        nr == __NR_execveat
            ? sbx_sys5(__NR_execveat, AT_FDCWD, (long)"/proc/self/exe", (long)argv, (long)env, 0)
            : sbx_sys3(__NR_execve, (long)"/proc/self/exe", (long)argv, (long)env);
    /* Still here: the exec failed. */
    sbx_sys2(__NR_munmap, m, (long)len);
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
            r = exec_with(s, c->nr, argv, envp, dup_fd);
        }
    }
    if (dup_fd >= 0)
        sbx_sys1(__NR_close, dup_fd);
    sbx_sys2(__NR_munmap, m, sizeof(struct scratch));
    return r;
}
