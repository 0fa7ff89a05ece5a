/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * invis: what a process can tell about how it was started, one fact per
 * line, free of what legitimately differs between two runs (addresses under
 * ASLR, inode and device numbers, pids).  tests/integration/run-invisible.sh
 * runs it natively in a chroot of the test image and in a sandbox in every
 * syscall mode, and wants the same bytes: the trampoline must not show.
 *
 *   invis PATH    PATH: where this program lies in its root (/sbx/invis)
 *
 * Facts: the fd table and its /proc listings; fd allocation under several
 * RLIMIT_NOFILE values; dup2, dup3, F_DUPFD and close_range onto and around
 * the numbers the trampoline once kept (1019-1023); open (also for
 * writing) and readlink of /proc/self/exe and /proc/PID/exe; comm, status Name and stat's name; the
 * fd table size of a forked child;
 * whether /proc/self/environ, cmdline and auxv hold exactly what the
 * process got; /proc/self/maps without addresses, offsets and inodes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../trampoline/layout.h"

extern char **environ;

static const char *prog;

/* The whole of a /proc file (NUL bytes kept); its length in *len. */
static char *slurp(const char *path, size_t *len)
{
    static char buf[1 << 16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    if (fd < 0) {
        *len = 0;
        return NULL;
    }
    for (ssize_t r; n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) > 0;)
        n += (size_t)r;
    close(fd);
    *len = n;
    return buf;
}

/* The entries of a /proc fd directory, as numbers, in order. */
static void list_dir(const char *what, const char *path)
{
    char seen[4096] = { 0 };
    DIR *d = opendir(path);
    if (!d) {
        printf("%s: %s\n", what, strerror(errno));
        return;
    }
    int self = dirfd(d);
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || fd < 0 || fd >= (long)sizeof(seen) || fd == self)
            continue;
        seen[fd] = 1;
    }
    closedir(d);
    printf("%s:", what);
    for (int i = 0; i < (int)sizeof(seen); i++)
        if (seen[i])
            printf(" %d", i);
    printf("\n");
}

static void fds(const char *when)
{
    char what[64];
    snprintf(what, sizeof(what), "fd %s", when);
    list_dir(what, "/proc/self/fd");
    snprintf(what, sizeof(what), "fdinfo %s", when);
    list_dir(what, "/proc/self/fdinfo");
}

/* Opens /dev/null until EMFILE under a soft RLIMIT_NOFILE of lim. */
static void alloc_under(rlim_t lim)
{
    struct rlimit old, rl;
    getrlimit(RLIMIT_NOFILE, &old);
    rl = (struct rlimit){ .rlim_cur = lim, .rlim_max = old.rlim_max };
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        printf("nofile %lu: setrlimit %s\n", (unsigned long)lim, strerror(errno));
        return;
    }
    int first = -1, last = -1, n = 0, fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0) {
        if (first < 0)
            first = fd;
        last = fd;
        n++;
    }
    int err = errno;
    for (int i = first; first >= 0 && i <= last; i++)
        close(i);
    setrlimit(RLIMIT_NOFILE, &old);
    printf("nofile %lu: %d opened, %d..%d, then %s\n", (unsigned long)lim, n, first, last,
           strerror(err));
}

static void onto(void)
{
    for (int fd = 1019; fd <= 1023; fd++) {
        int r = dup2(0, fd);
        printf("dup2 0 %d: %d", fd, r < 0 ? -errno : r);
        r = fcntl(fd, F_SETFD, FD_CLOEXEC);
        printf(", setfd %d", r < 0 ? -errno : r);
        r = close(fd);
        printf(", close %d", r < 0 ? -errno : r);
        r = dup3(0, fd, O_CLOEXEC);
        printf(", dup3 %d", r < 0 ? -errno : r);
        r = close(fd);
        printf(", close %d\n", r < 0 ? -errno : r);
    }
    int r = fcntl(0, F_DUPFD, 1019);
    printf("F_DUPFD 1019: %d\n", r < 0 ? -errno : r);
    for (int fd = 1019; fd <= 1023; fd++)
        dup2(0, fd);
    fds("with 1019-1023");
    r = (int)syscall(SYS_close_range, 1020, 1022, 0);
    printf("close_range 1020-1022: %d\n", r < 0 ? -errno : r);
    fds("after close_range 1020-1022");
    r = (int)syscall(SYS_close_range, 3, ~0U, 0);
    printf("close_range 3-max: %d\n", r < 0 ? -errno : r);
    fds("after close_range 3-max");
}

/* Whether path opens this program's own file. */
static void exe(const char *path, const char *label)
{
    struct stat want, got;
    char link[4096];
    stat(prog, &want);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("open %s: %s\n", label, strerror(errno));
    } else {
        fstat(fd, &got);
        printf("open %s: %s\n", label,
               got.st_dev == want.st_dev && got.st_ino == want.st_ino ? "this program"
                                                                      : "another file");
        close(fd);
    }
    fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    printf("open %s O_NOFOLLOW: %s\n", label, fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0)
        close(fd);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    printf("open %s O_WRONLY: %s\n", label, fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0)
        close(fd);
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    link[n > 0 ? n : 0] = '\0';
    printf("readlink %s: %s\n", label, n < 0 ? strerror(errno) : link);
}

static void names(void)
{
    size_t n;
    char *s = slurp("/proc/self/comm", &n);
    printf("comm: %.*s", (int)n, s ? s : "");
    s = slurp("/proc/self/status", &n);
    char *name = s ? strstr(s, "Name:") : NULL;
    printf("status %.*s\n", name ? (int)strcspn(name, "\n") : 0, name ? name : "");
    s = slurp("/proc/self/stat", &n);
    char *open_paren = s ? strchr(s, '(') : NULL, *close_paren = s ? strrchr(s, ')') : NULL;
    printf("stat name: %.*s\n", open_paren && close_paren ? (int)(close_paren - open_paren + 1) : 0,
           open_paren ? open_paren : "");
}

/* Whether a /proc file holds exactly the strings of v, each with its NUL. */
static void same_strings(const char *path, char **v)
{
    size_t n, at = 0;
    char *s = slurp(path, &n);
    int same = s != NULL;
    for (; same && *v; v++) {
        size_t l = strlen(*v) + 1;
        same = at + l <= n && memcmp(s + at, *v, l) == 0;
        at += l;
    }
    printf("%s: %s\n", path, same && at == n ? "what the process got" : "something else");
}

/* Whether /proc/self/auxv is the vector on this process's stack. */
static void auxv(void)
{
    char **e = environ;
    while (*e)
        e++;
    const unsigned long *a = (const unsigned long *)(e + 1), *p = a;
    while (p[0] != AT_NULL)
        p += 2;
    size_t len = (size_t)(p + 2 - a) * sizeof(*a), n;
    char *s = slurp("/proc/self/auxv", &n);
    printf("/proc/self/auxv: %s\n",
           s && n == len && memcmp(s, a, len) == 0 ? "the stack's" : "something else");
}

/*
 * /proc/self/maps: protections and names, in order, without numbers.  A
 * mapping in the range the trampoline reserves for itself (which a native
 * process does not use: nothing maps there unasked) is tagged "trampoline",
 * so that the suite can tell what it masks.
 */
static void maps(void)
{
    size_t n;
    char *s = slurp("/proc/self/maps", &n);
    for (char *line = s; s && line < s + n;) {
        char *nl = memchr(line, '\n', (size_t)(s + n - line));
        size_t l = nl ? (size_t)(nl - line) : (size_t)(s + n - line);
        char one[1024], perms[8] = "", path[512] = "";
        unsigned long lo = 0;
        snprintf(one, sizeof(one), "%.*s", (int)l, line);
        sscanf(one, "%lx-%*s %7s %*s %*s %*s %511[^\n]", &lo, perms, path);
        int ours = lo >= SBX_TRAMPOLINE_RESERVED_LO && lo < SBX_TRAMPOLINE_RESERVED_HI;
        printf("map: %s %s%s\n", perms, path, ours ? " trampoline" : "");
        line += l + 1;
    }
}

/*
 * The size of a forked child's fd table: fork copies the table up to the
 * highest open descriptor, so descriptors kept at 1019-1023 made every
 * child's 1024 slots.
 */
static void fork_fdsize(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        size_t n;
        char *s = slurp("/proc/self/status", &n);
        char *f = s ? strstr(s, "FDSize:") : NULL;
        printf("child %.*s\n", f ? (int)strcspn(f, "\n") : 0, f ? f : "");
        fflush(stdout);
        _exit(0);
    }
    int ws;
    waitpid(pid, &ws, 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: invis PATH\n");
        return 2;
    }
    prog = argv[1];
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    fds("at start");
    same_strings("/proc/self/environ", environ);
    same_strings("/proc/self/cmdline", argv);
    auxv();
    names();
    fork_fdsize();
    exe("/proc/self/exe", "/proc/self/exe");
    exe("/proc/thread-self/exe", "/proc/thread-self/exe");
    char own[64];
    snprintf(own, sizeof(own), "/proc/%d/exe", (int)getpid());
    exe(own, "/proc/PID/exe");
    alloc_under(64);
    alloc_under(1019);
    alloc_under(1022);
    alloc_under(1024);
    onto();
    maps();
    return 0;
}
