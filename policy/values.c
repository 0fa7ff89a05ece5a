/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scalar values of a policy: numbers, sizes, durations, CPU shares, errno
 * names, symbolic constants for argument conditions, rlimit names, and the
 * "did you mean" suggestions for misspelt names.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "policy/policy-internal.h"

unsigned sbx_edit_distance(const char *a, const char *b, unsigned max)
{
    size_t la = strlen(a), lb = strlen(b);
    /* Names are short; anything longer is not a typo of a name. */
    if (la > 64 || lb > 64)
        return max + 1;
    unsigned row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0], best = row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = diag + ((a[i - 1] | 0x20) == (b[j - 1] | 0x20) ? 0 : 1);
            unsigned v = cost;
            if (up + 1 < v)
                v = up + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best > max)
            return max + 1;
    }
    return row[lb] > max ? max + 1 : row[lb];
}

const char *sbx_suggest(const char *word, const char *const *candidates, size_t n)
{
    /* One edit in a short word, two in a longer one: beyond that it is a different word. */
    unsigned max = strlen(word) <= 4 ? 1 : 2;
    const char *best = NULL;
    unsigned best_d = max + 1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = sbx_edit_distance(word, candidates[i], max);
        if (d < best_d) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best;
}

/* glibc names the canonical errno values; the aliases it does not return are spelt out. */
int sbx_errno_from_name(const char *name)
{
    for (int e = 1; e < 134; e++) {
        const char *n = strerrorname_np(e);
        if (n && strcmp(n, name) == 0)
            return e;
    }
    if (strcmp(name, "EWOULDBLOCK") == 0)
        return EWOULDBLOCK;
    if (strcmp(name, "EDEADLOCK") == 0)
        return EDEADLOCK;
    if (strcmp(name, "ENOTSUP") == 0)
        return ENOTSUP;
    return -ENOENT;
}

size_t sbx_errno_names(const char **out, size_t cap)
{
    static const char *const aliases[] = { "EWOULDBLOCK", "EDEADLOCK", "ENOTSUP" };
    size_t n = 0;
    for (int e = 1; e < 134 && n < cap; e++) {
        const char *name = strerrorname_np(e);
        if (name)
            out[n++] = name;
    }
    for (size_t i = 0; i < ARRAY_SIZE(aliases) && n < cap; i++)
        out[n++] = aliases[i];
    return n;
}

/* The constants are a table, several entries a line. */
/* clang-format off */
#define C(x) { #x, (uint64_t)(x) }
/* Signed constants are compared as the 64-bit value the C library passes. */
#define CS(x) { #x, (uint64_t)(int64_t)(x) }

static const struct {
    const char *name;
    uint64_t value;
} constants[] = {
    /* socket(2) */
    C(AF_UNSPEC), C(AF_UNIX), C(AF_LOCAL), C(AF_INET), C(AF_INET6), C(AF_NETLINK), C(AF_PACKET),
    C(AF_VSOCK), C(AF_ALG), C(AF_KEY), C(AF_BLUETOOTH), C(AF_CAN), C(AF_XDP),
    C(SOCK_STREAM), C(SOCK_DGRAM), C(SOCK_RAW), C(SOCK_SEQPACKET), C(SOCK_NONBLOCK),
    C(SOCK_CLOEXEC),
    /* open(2) */
    C(O_RDONLY), C(O_WRONLY), C(O_RDWR), C(O_ACCMODE), C(O_CREAT), C(O_EXCL), C(O_NOCTTY),
    C(O_TRUNC), C(O_APPEND), C(O_NONBLOCK), C(O_DSYNC), C(O_SYNC), C(O_DIRECTORY),
    C(O_NOFOLLOW), C(O_CLOEXEC), C(O_PATH), C(O_TMPFILE), C(O_NOATIME), C(O_DIRECT),
    C(O_LARGEFILE),
    /* *at(2) */
    CS(AT_FDCWD), C(AT_SYMLINK_NOFOLLOW), C(AT_REMOVEDIR), C(AT_SYMLINK_FOLLOW),
    C(AT_EMPTY_PATH),
    /* fcntl(2) */
    C(F_DUPFD), C(F_GETFD), C(F_SETFD), C(F_GETFL), C(F_SETFL), C(F_GETLK), C(F_SETLK),
    C(F_SETLKW), C(F_DUPFD_CLOEXEC), C(F_SETPIPE_SZ), C(F_GETPIPE_SZ), C(F_ADD_SEALS),
    C(F_GET_SEALS), C(FD_CLOEXEC),
    /* mmap(2), mprotect(2) */
    C(PROT_NONE), C(PROT_READ), C(PROT_WRITE), C(PROT_EXEC), C(PROT_GROWSDOWN),
    C(PROT_GROWSUP), C(MAP_SHARED), C(MAP_PRIVATE), C(MAP_SHARED_VALIDATE), C(MAP_FIXED),
    C(MAP_ANONYMOUS), C(MAP_ANON), C(MAP_GROWSDOWN), C(MAP_DENYWRITE), C(MAP_EXECUTABLE),
    C(MAP_LOCKED), C(MAP_NORESERVE), C(MAP_POPULATE), C(MAP_NONBLOCK), C(MAP_STACK),
    C(MAP_HUGETLB), C(MAP_SYNC), C(MAP_FIXED_NOREPLACE), C(MAP_32BIT),
    /* clone(2), unshare(2) */
    C(CLONE_VM), C(CLONE_FS), C(CLONE_FILES), C(CLONE_SIGHAND), C(CLONE_PIDFD),
    C(CLONE_PTRACE), C(CLONE_VFORK), C(CLONE_PARENT), C(CLONE_THREAD), C(CLONE_NEWNS),
    C(CLONE_SYSVSEM), C(CLONE_SETTLS), C(CLONE_PARENT_SETTID), C(CLONE_CHILD_CLEARTID),
    C(CLONE_DETACHED), C(CLONE_UNTRACED), C(CLONE_CHILD_SETTID), C(CLONE_NEWCGROUP),
    C(CLONE_NEWUTS), C(CLONE_NEWIPC), C(CLONE_NEWUSER), C(CLONE_NEWPID), C(CLONE_NEWNET),
    C(CLONE_IO), C(CLONE_NEWTIME),
    /* prctl(2) */
    C(PR_SET_PDEATHSIG), C(PR_GET_PDEATHSIG), C(PR_GET_DUMPABLE), C(PR_SET_DUMPABLE),
    C(PR_SET_NAME), C(PR_GET_NAME), C(PR_GET_SECCOMP), C(PR_SET_SECCOMP), C(PR_CAPBSET_READ),
    C(PR_CAPBSET_DROP), C(PR_SET_NO_NEW_PRIVS), C(PR_GET_NO_NEW_PRIVS), C(PR_SET_KEEPCAPS),
    C(PR_GET_KEEPCAPS), C(PR_SET_CHILD_SUBREAPER), C(PR_SET_MM), C(PR_SET_VMA),
    /* kill(2) and friends */
    C(SIGHUP), C(SIGINT), C(SIGQUIT), C(SIGILL), C(SIGTRAP), C(SIGABRT), C(SIGBUS), C(SIGFPE),
    C(SIGKILL), C(SIGUSR1), C(SIGSEGV), C(SIGUSR2), C(SIGPIPE), C(SIGALRM), C(SIGTERM),
    C(SIGCHLD), C(SIGCONT), C(SIGSTOP), C(SIGTSTP), C(SIGTTIN), C(SIGTTOU), C(SIGSYS),
    /* ioctl(2) */
    C(TCGETS), C(TCSETS), C(TCSETSW), C(TCSETSF), C(TIOCGWINSZ), C(TIOCSWINSZ), C(TIOCGPGRP),
    C(TIOCSPGRP), C(TIOCSCTTY), C(TIOCNOTTY), C(TIOCSTI), C(TIOCLINUX), C(FIONREAD),
    C(FIONBIO), C(FIOCLEX), C(FIONCLEX), C(FIOASYNC),
    /* madvise(2) */
    C(MADV_NORMAL), C(MADV_RANDOM), C(MADV_SEQUENTIAL), C(MADV_WILLNEED), C(MADV_DONTNEED),
    C(MADV_FREE), C(MADV_DONTFORK), C(MADV_DOFORK), C(MADV_HUGEPAGE), C(MADV_NOHUGEPAGE),
};
/* clang-format on */

int sbx_constant_lookup(const char *name, uint64_t *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(constants); i++)
        if (strcmp(constants[i].name, name) == 0) {
            *ret = constants[i].value;
            return 0;
        }
    return -ENOENT;
}

const char *sbx_constant_suggest(const char *name)
{
    const char *names[ARRAY_SIZE(constants)];
    for (size_t i = 0; i < ARRAY_SIZE(constants); i++)
        names[i] = constants[i].name;
    return sbx_suggest(name, names, ARRAY_SIZE(names));
}

int sbx_parse_u64(const char *s, uint64_t *ret)
{
    unsigned base = 10;
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
        base = 8;
        p += 2;
    } else if (p[0] == '0' && p[1]) {
        base = 8;
        p++;
    }
    if (!*p)
        return -EINVAL;
    uint64_t v = 0;
    for (; *p; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (*p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else if (*p == '_' && p[1]) /* YAML-style digit grouping: 1_000_000 */
            continue;
        else
            return -EINVAL;
        if (d >= base)
            return -EINVAL;
        if (v > (UINT64_MAX - d) / base)
            return -ERANGE;
        v = v * base + d;
    }
    *ret = v;
    return 0;
}

int sbx_parse_dec(const char *s, uint64_t *ret)
{
    uint64_t v = 0;
    if (!*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

/* Splits "123K" into its digits and a suffix; the digits are decimal here. */
static int parse_dec_prefix(const char **s, uint64_t *ret)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *s = p;
    *ret = v;
    return 0;
}

static int mul_checked(uint64_t a, uint64_t b, uint64_t *ret)
{
    if (b && a > UINT64_MAX / b)
        return -ERANGE;
    *ret = a * b;
    return 0;
}

int sbx_parse_size(const char *s, uint64_t *ret)
{
    uint64_t v;
    const char *p = s;
    int r = parse_dec_prefix(&p, &v);
    if (r < 0)
        return r;
    uint64_t mult = 1;
    switch (*p) {
    case 'K':
    case 'k':
        mult = 1ull << 10;
        break;
    case 'M':
    case 'm':
        mult = 1ull << 20;
        break;
    case 'G':
    case 'g':
        mult = 1ull << 30;
        break;
    case 'T':
    case 't':
        mult = 1ull << 40;
        break;
    case '\0':
        break;
    default:
        return -EINVAL;
    }
    if (*p) {
        p++;
        /* "64M", "64MB" and "64MiB" all mean 64 * 2^20. */
        if (*p == 'i')
            p++;
        if (*p == 'B')
            p++;
        if (*p)
            return -EINVAL;
    }
    return mul_checked(v, mult, ret);
}

int sbx_parse_duration_ms(const char *s, uint64_t *ret)
{
    uint64_t v;
    const char *p = s;
    int r = parse_dec_prefix(&p, &v);
    if (r < 0)
        return r;
    uint64_t mult;
    if (strcmp(p, "ms") == 0)
        mult = 1;
    else if (strcmp(p, "s") == 0 || *p == '\0')
        mult = 1000;
    else if (strcmp(p, "m") == 0 || strcmp(p, "min") == 0)
        mult = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        mult = 3600 * 1000;
    else
        return -EINVAL;
    return mul_checked(v, mult, ret);
}

int sbx_parse_cpu_millis(const char *s, uint64_t *ret)
{
    uint64_t whole;
    const char *p = s;
    int r = parse_dec_prefix(&p, &whole);
    if (r < 0)
        return r;
    /* Fixed point with three decimals: no floating point, no locale. */
    uint64_t frac = 0;
    unsigned digits = 0;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (digits == 3) {
                if (*p != '0')
                    return -ERANGE; /* finer than a thousandth of a CPU */
                continue;
            }
            frac = frac * 10 + (unsigned)(*p - '0');
            digits++;
        }
    }
    for (; digits < 3; digits++)
        frac *= 10;
    bool percent = *p == '%';
    if (percent)
        p++;
    if (*p)
        return -EINVAL;
    uint64_t millis;
    r = mul_checked(whole, 1000, &millis);
    if (r < 0 || millis > UINT64_MAX - frac)
        return -ERANGE;
    millis += frac;
    if (percent) {
        /* 1% = 10 thousandths; what is left must be a whole thousandth. */
        if (millis % 100)
            return -ERANGE;
        millis /= 100;
    }
    *ret = millis;
    return 0;
}

static const struct {
    const char *name;
    int resource;
} rlimits[] = {
    { "as", RLIMIT_AS },
    { "core", RLIMIT_CORE },
    { "cpu", RLIMIT_CPU },
    { "data", RLIMIT_DATA },
    { "fsize", RLIMIT_FSIZE },
    { "locks", RLIMIT_LOCKS },
    { "memlock", RLIMIT_MEMLOCK },
    { "msgqueue", RLIMIT_MSGQUEUE },
    { "nice", RLIMIT_NICE },
    { "nofile", RLIMIT_NOFILE },
    { "nproc", RLIMIT_NPROC },
    { "rss", RLIMIT_RSS },
    { "rtprio", RLIMIT_RTPRIO },
    { "rttime", RLIMIT_RTTIME },
    { "sigpending", RLIMIT_SIGPENDING },
    { "stack", RLIMIT_STACK },
};

int sbx_rlimit_from_name(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(rlimits); i++)
        if (strcmp(rlimits[i].name, name) == 0)
            return rlimits[i].resource;
    return -ENOENT;
}

const char *sbx_rlimit_name(int resource)
{
    for (size_t i = 0; i < ARRAY_SIZE(rlimits); i++)
        if (rlimits[i].resource == resource)
            return rlimits[i].name;
    return NULL;
}

size_t sbx_rlimit_names(const char **out, size_t cap)
{
    size_t n = 0;
    for (; n < ARRAY_SIZE(rlimits) && n < cap; n++)
        out[n] = rlimits[n].name;
    return n;
}
