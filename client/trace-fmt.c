/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decoding trace records as strace prints the calls, from what the table
 * of trace-decl.c says of each syscall (its argument letters are listed
 * there).  Everything printed from memory comes from the record (what the
 * trampoline copied); without it, the pointer is printed in hex, as strace
 * does for memory it cannot read.
 */
#include "client/trace-fmt.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <linux/sched.h>
#include <linux/prctl.h>
#include <linux/stat.h>

#include "sbx/macro.h"

/* ---- output into a bounded buffer ---- */

struct out {
    char *p;
    size_t len, n;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->n < o->len ? o->len - o->n : 0;
    int k = vsnprintf(o->p + (o->n < o->len ? o->n : o->len - 1), room ? room : 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        o->n += (size_t)k;
}

struct bit {
    uint64_t v;
    const char *name;
};
#define B(x)                                                                                       \
    {                                                                                              \
        x, #x                                                                                      \
    }

/* Prints the names of the bits set in v, the rest in hex, "|"-separated; zero as zero. */
static void flags(struct out *o, uint64_t v, const struct bit *b, size_t nb, const char *zero)
{
    bool any = false;
    for (size_t i = 0; i < nb; i++)
        if (b[i].v && (v & b[i].v) == b[i].v) {
            put(o, "%s%s", any ? "|" : "", b[i].name);
            v &= ~b[i].v;
            any = true;
        }
    if (v)
        put(o, "%s%#llx", any ? "|" : "", (unsigned long long)v);
    else if (!any)
        put(o, "%s", zero);
}

/* A value from a list of names, else decimal (or hex when hex is set). */
static void value(struct out *o, uint64_t v, const struct bit *b, size_t nb, bool hex)
{
    for (size_t i = 0; i < nb; i++)
        if (b[i].v == v) {
            put(o, "%s", b[i].name);
            return;
        }
    if (hex)
        put(o, "%#llx", (unsigned long long)v);
    else
        put(o, "%lld", (long long)v);
}

static const struct bit open_flags[] = {
    B(O_WRONLY),    B(O_RDWR),    B(O_CREAT),   B(O_EXCL),
    B(O_NOCTTY),    B(O_TRUNC),   B(O_APPEND),  B(O_NONBLOCK),
    B(O_SYNC),      B(O_DSYNC),   B(O_DIRECT),  { 0100000, "O_LARGEFILE" },
    B(O_NOFOLLOW),  B(O_NOATIME), B(O_CLOEXEC), B(O_PATH),
    B(O_DIRECTORY),
};

static void open_mode(struct out *o, uint64_t v)
{
    /* O_TMPFILE includes O_DIRECTORY: print it whole, as strace does. */
    bool tmp = (v & O_TMPFILE) == O_TMPFILE;
    if (tmp)
        v &= ~(uint64_t)O_TMPFILE;
    const char *acc = (v & O_ACCMODE) == O_RDWR     ? "O_RDWR"
                      : (v & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                      : (v & O_ACCMODE) == O_RDONLY ? "O_RDONLY"
                                                    : NULL;
    if (acc)
        put(o, "%s", acc);
    else
        put(o, "%#llx", (unsigned long long)(v & O_ACCMODE));
    v &= ~(uint64_t)O_ACCMODE;
    if (tmp)
        put(o, "|O_TMPFILE");
    if (v) {
        put(o, "|");
        flags(o, v, open_flags + 2, ARRAY_SIZE(open_flags) - 2, "0");
    }
}

static const struct bit prot_bits[] = { B(PROT_READ),        B(PROT_WRITE),     B(PROT_EXEC),
                                        { 0x8, "PROT_SEM" }, B(PROT_GROWSDOWN), B(PROT_GROWSUP) };
static const struct bit map_bits[] = {
    B(MAP_FIXED),      B(MAP_ANONYMOUS), B(MAP_32BIT),     B(MAP_GROWSDOWN),       B(MAP_DENYWRITE),
    B(MAP_EXECUTABLE), B(MAP_LOCKED),    B(MAP_NORESERVE), B(MAP_POPULATE),        B(MAP_NONBLOCK),
    B(MAP_STACK),      B(MAP_HUGETLB),   B(MAP_SYNC),      B(MAP_FIXED_NOREPLACE),
};
static void map_flags(struct out *o, uint64_t v)
{
    static const struct bit type[] = { B(MAP_SHARED), B(MAP_PRIVATE), B(MAP_SHARED_VALIDATE) };
    value(o, v & 3, type, ARRAY_SIZE(type), true);
    v &= ~(uint64_t)3;
    if (v) {
        put(o, "|");
        /* MAP_FIXED_NOREPLACE is its own flag, not MAP_FIXED with more. */
        flags(o, v, map_bits, ARRAY_SIZE(map_bits), "0");
    }
}

static const struct bit at_bits[] = { B(AT_SYMLINK_NOFOLLOW), B(AT_REMOVEDIR),
                                      B(AT_SYMLINK_FOLLOW),   B(AT_NO_AUTOMOUNT),
                                      B(AT_EMPTY_PATH),       B(AT_STATX_FORCE_SYNC),
                                      B(AT_STATX_DONT_SYNC) };
static const struct bit eaccess_bits[] = { B(AT_EACCESS), B(AT_SYMLINK_NOFOLLOW),
                                           B(AT_EMPTY_PATH) };
static const struct bit access_bits[] = { B(R_OK), B(W_OK), B(X_OK) };
static const struct bit families[] = {
    B(AF_UNSPEC), B(AF_UNIX),  B(AF_INET),      B(AF_INET6), B(AF_NETLINK), B(AF_PACKET),
    B(AF_ALG),    B(AF_VSOCK), B(AF_BLUETOOTH), B(AF_KEY),   B(AF_X25),
};
static const struct bit sock_types[] = { B(SOCK_STREAM), B(SOCK_DGRAM),     B(SOCK_RAW),
                                         B(SOCK_RDM),    B(SOCK_SEQPACKET), B(SOCK_PACKET) };
static const struct bit sock_flags[] = { B(SOCK_NONBLOCK), B(SOCK_CLOEXEC) };
static const struct bit clone_bits[] = {
    B(CLONE_VM),
    B(CLONE_FS),
    B(CLONE_FILES),
    B(CLONE_SIGHAND),
    B(CLONE_PIDFD),
    B(CLONE_PTRACE),
    B(CLONE_VFORK),
    B(CLONE_PARENT),
    B(CLONE_THREAD),
    B(CLONE_NEWNS),
    B(CLONE_SYSVSEM),
    B(CLONE_SETTLS),
    B(CLONE_PARENT_SETTID),
    B(CLONE_CHILD_CLEARTID),
    B(CLONE_UNTRACED),
    B(CLONE_CHILD_SETTID),
    B(CLONE_NEWCGROUP),
    B(CLONE_NEWUTS),
    B(CLONE_NEWIPC),
    B(CLONE_NEWUSER),
    B(CLONE_NEWPID),
    B(CLONE_NEWNET),
    B(CLONE_IO),
};
static const struct bit how_names[] = { B(SIG_BLOCK), B(SIG_UNBLOCK), B(SIG_SETMASK) };
static const struct bit wait_bits[] = { B(WNOHANG), B(WUNTRACED),   B(WCONTINUED), B(WEXITED),
                                        B(WNOWAIT), B(__WNOTHREAD), B(__WALL),     B(__WCLONE) };
static const struct bit fcntl_cmds[] = {
    B(F_DUPFD),         B(F_GETFD),      B(F_SETFD),      B(F_GETFL),     B(F_SETFL),
    B(F_GETLK),         B(F_SETLK),      B(F_SETLKW),     B(F_SETOWN),    B(F_GETOWN),
    B(F_SETSIG),        B(F_GETSIG),     B(F_OFD_GETLK),  B(F_OFD_SETLK), B(F_OFD_SETLKW),
    B(F_DUPFD_CLOEXEC), B(F_SETPIPE_SZ), B(F_GETPIPE_SZ), B(F_ADD_SEALS), B(F_GET_SEALS),
};
static const struct bit prctl_opts[] = {
    B(PR_SET_PDEATHSIG),
    B(PR_GET_PDEATHSIG),
    B(PR_GET_DUMPABLE),
    B(PR_SET_DUMPABLE),
    B(PR_SET_NAME),
    B(PR_GET_NAME),
    B(PR_GET_SECCOMP),
    B(PR_SET_SECCOMP),
    B(PR_CAPBSET_READ),
    B(PR_CAPBSET_DROP),
    B(PR_SET_NO_NEW_PRIVS),
    B(PR_GET_NO_NEW_PRIVS),
    B(PR_SET_CHILD_SUBREAPER),
    B(PR_GET_CHILD_SUBREAPER),
    B(PR_SET_VMA),
    B(PR_CAP_AMBIENT),
    B(PR_SET_MM),
    B(PR_SET_THP_DISABLE),
    B(PR_GET_THP_DISABLE),
    B(PR_SET_KEEPCAPS),
    B(PR_GET_KEEPCAPS),
    B(PR_SET_TIMERSLACK),
    B(PR_GET_TIMERSLACK),
};
static const struct bit rlimits[] = {
    B(RLIMIT_CPU),      B(RLIMIT_FSIZE), B(RLIMIT_DATA),   B(RLIMIT_STACK),
    B(RLIMIT_CORE),     B(RLIMIT_RSS),   B(RLIMIT_NPROC),  B(RLIMIT_NOFILE),
    B(RLIMIT_MEMLOCK),  B(RLIMIT_AS),    B(RLIMIT_LOCKS),  B(RLIMIT_SIGPENDING),
    B(RLIMIT_MSGQUEUE), B(RLIMIT_NICE),  B(RLIMIT_RTPRIO), B(RLIMIT_RTTIME),
};
static const struct bit clocks[] = {
    B(CLOCK_REALTIME),          B(CLOCK_MONOTONIC),     B(CLOCK_PROCESS_CPUTIME_ID),
    B(CLOCK_THREAD_CPUTIME_ID), B(CLOCK_MONOTONIC_RAW), B(CLOCK_REALTIME_COARSE),
    B(CLOCK_MONOTONIC_COARSE),  B(CLOCK_BOOTTIME),
};
static const struct bit advice[] = {
    B(MADV_NORMAL),      B(MADV_RANDOM),   B(MADV_SEQUENTIAL), B(MADV_WILLNEED), B(MADV_DONTNEED),
    B(MADV_FREE),        B(MADV_REMOVE),   B(MADV_DONTFORK),   B(MADV_DOFORK),   B(MADV_MERGEABLE),
    B(MADV_UNMERGEABLE), B(MADV_HUGEPAGE), B(MADV_NOHUGEPAGE), B(MADV_DONTDUMP), B(MADV_DODUMP),
};
static const struct bit arch_codes[] = {
    { 0x1001, "ARCH_SET_GS" }, { 0x1002, "ARCH_SET_FS" },    { 0x1003, "ARCH_GET_FS" },
    { 0x1004, "ARCH_GET_GS" }, { 0x1011, "ARCH_GET_CPUID" }, { 0x1012, "ARCH_SET_CPUID" }
};
static const struct bit grnd_bits[] = { { 1, "GRND_NONBLOCK" },
                                        { 2, "GRND_RANDOM" },
                                        { 4, "GRND_INSECURE" } };
static const struct bit mremap_bits[] = { B(MREMAP_MAYMOVE), B(MREMAP_FIXED) };
static const struct bit ioctls[] = {
    { 0x5401, "TCGETS" },     { 0x5402, "TCSETS" },    { 0x5403, "TCSETSW" },
    { 0x540f, "TIOCGPGRP" },  { 0x5410, "TIOCSPGRP" }, { 0x5413, "TIOCGWINSZ" },
    { 0x5414, "TIOCSWINSZ" }, { 0x541b, "FIONREAD" },  { 0x5421, "FIONBIO" },
    { 0x5451, "FIOCLEX" },    { 0x5450, "FIONCLEX" },  { 0x540e, "TIOCSCTTY" },
};

static const char *signame(uint64_t s, char *buf, size_t len)
{
    /* The kernel's real-time signals start at 32 (glibc keeps two for itself). */
    const char *n = s > 0 && s < 32 ? sigabbrev_np((int)s) : NULL;
    if (n)
        snprintf(buf, len, "SIG%s", n);
    else if (s == 32)
        snprintf(buf, len, "SIGRTMIN");
    else if (s > 32 && s <= 64)
        snprintf(buf, len, "SIGRT_%d", (int)s - 32);
    else
        snprintf(buf, len, "%llu", (unsigned long long)s);
    return buf;
}

/* A signal set as strace prints it: [INT TERM], or ~[...] when more than half is set. */
static void sig_set(struct out *o, uint64_t set)
{
    char sb[32];
    bool inv = __builtin_popcountll(set) > 32;
    put(o, "%s[", inv ? "~" : "");
    if (inv)
        set = ~set;
    bool first = true;
    for (int s = 1; s <= 64; s++)
        if (set & (1ull << (s - 1))) {
            const char *nm = signame((uint64_t)s, sb, sizeof(sb));
            put(o, "%s%s", first ? "" : " ", nm + (strncmp(nm, "SIG", 3) ? 0 : 3));
            first = false;
        }
    put(o, "]");
}

static const struct bit sa_bits[] = {
    { 0x00000001, "SA_NOCLDSTOP" }, { 0x00000002, "SA_NOCLDWAIT" }, { 0x00000004, "SA_SIGINFO" },
    { 0x04000000, "SA_RESTORER" },  { 0x08000000, "SA_ONSTACK" },   { 0x10000000, "SA_RESTART" },
    { 0x40000000, "SA_NODEFER" },   { 0x80000000, "SA_RESETHAND" },
};

/* A string as strace quotes it: \n \t \" \\ named, other unprintables in octal. */
static void quoted(struct out *o, const char *s, size_t n, size_t max, bool cut)
{
    put(o, "\"");
    size_t k = n < max ? n : max;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            put(o, "\\%c", c);
        else if (c == '\n')
            put(o, "\\n");
        else if (c == '\t')
            put(o, "\\t");
        else if (c == '\r')
            put(o, "\\r");
        else if (c < 0x20 || c >= 0x7f)
            put(o, "\\%o", c);
        else
            put(o, "%c", c);
    }
    put(o, "\"%s", cut || n > max ? "..." : "");
}

static void pointer(struct out *o, uint64_t v)
{
    if (v)
        put(o, "%#llx", (unsigned long long)v);
    else
        put(o, "NULL");
}

/* The copy of argument i in r, if the trampoline made one. */
static const char *copied(const struct sbx_trace_rec *r, unsigned i, size_t *n, bool *cut)
{
    if (r->flags & SBX_TRACE_WIDE) {
        if (r->sarg[0] != i || r->slen[0] > 2 * SBX_TRACE_STR)
            return NULL;
        *n = r->slen[0];
        *cut = false;
        return (const char *)r->str;
    }
    for (int k = 0; k < 2; k++)
        if (r->sarg[k] == i && r->slen[k] <= SBX_TRACE_STR) {
            *n = r->slen[k];
            *cut = r->flags & (k ? SBX_TRACE_TRUNC1 : SBX_TRACE_TRUNC0);
            return r->str[k];
        }
    return NULL;
}

static void file_type(struct out *o, uint32_t mode)
{
    static const struct bit types[] = { B(S_IFREG), B(S_IFDIR), B(S_IFLNK), B(S_IFCHR),
                                        B(S_IFBLK), B(S_IFIFO), B(S_IFSOCK) };
    value(o, mode & S_IFMT, types, ARRAY_SIZE(types), true);
    put(o, "|%#o", mode & 07777);
}

static const struct bit msg_bits[] = {
    B(MSG_OOB),   B(MSG_PEEK),       B(MSG_DONTROUTE), B(MSG_CTRUNC),       B(MSG_PROXY),
    B(MSG_TRUNC), B(MSG_DONTWAIT),   B(MSG_EOR),       B(MSG_WAITALL),      B(MSG_FIN),
    B(MSG_SYN),   B(MSG_CONFIRM),    B(MSG_RST),       B(MSG_ERRQUEUE),     B(MSG_NOSIGNAL),
    B(MSG_MORE),  B(MSG_WAITFORONE), B(MSG_FASTOPEN),  B(MSG_CMSG_CLOEXEC),
};
static const struct bit poll_bits[] = {
    B(POLLIN),     B(POLLPRI),    B(POLLOUT),    B(POLLERR),    B(POLLHUP), B(POLLNVAL),
    B(POLLRDNORM), B(POLLRDBAND), B(POLLWRNORM), B(POLLWRBAND), B(POLLMSG), B(POLLRDHUP),
};

/*
 * An iovec array as encoded by the trampoline (include/sbx/trace.h), n
 * bytes at m, of a call that passed cnt elements: [{iov_base="...",
 * iov_len=N}, ...].  Returns false when the encoding does not hold up.
 */
static bool iovec(struct out *o, const char *m, size_t n, uint64_t cnt)
{
    if (n < 1)
        return false;
    unsigned k = (unsigned char)m[0] & SBX_TRACE_IOV_COUNT;
    bool addr = (unsigned char)m[0] & SBX_TRACE_IOV_ADDR;
    size_t at = 1;
    if (k > cnt)
        return false;
    put(o, "[");
    for (unsigned e = 0; e < k; e++) {
        uint64_t base, len;
        put(o, "%s{iov_base=", e ? ", " : "");
        if (addr) {
            if (at + 16 > n)
                return false;
            memcpy(&base, m + at, 8);
            memcpy(&len, m + at + 8, 8);
            at += 16;
            pointer(o, base);
        } else {
            if (at + 9 > n)
                return false;
            memcpy(&len, m + at, 8);
            unsigned char b = (unsigned char)m[at + 8];
            size_t take = b & ~SBX_TRACE_IOV_CUT;
            if (take > SBX_TRACE_IOV_DATA || at + 9 + take > n)
                return false;
            quoted(o, m + at + 9, take, SBX_TRACE_FMT_STRLEN, b & SBX_TRACE_IOV_CUT);
            at += 9 + take;
        }
        put(o, ", iov_len=%llu}", (unsigned long long)len);
    }
    put(o, "%s]", k < cnt ? (k ? ", ..." : "...") : "");
    return true;
}

static void msghdr(struct out *o, const char *m, size_t n, uint64_t v)
{
    struct sbx_trace_msghdr h;
    if (n < sizeof(h)) {
        pointer(o, v);
        return;
    }
    memcpy(&h, m, sizeof(h));
    put(o, "{msg_name=");
    pointer(o, h.name);
    put(o, ", msg_namelen=%u, msg_iov=", h.namelen);
    size_t at = o->n;
    if (n == sizeof(h) || !iovec(o, m + sizeof(h), n - sizeof(h), h.iovlen)) {
        o->n = at;
        put(o, "NULL");
    }
    put(o, ", msg_iovlen=%u", h.iovlen);
    if (h.controllen && h.ncmsg) {
        static const struct bit scm[] = { { 1, "SCM_RIGHTS" }, { 2, "SCM_CREDENTIALS" } };
        put(o, ", msg_control=[{cmsg_len=%llu, cmsg_level=", (unsigned long long)h.cmsg_len);
        if (h.cmsg_level == SOL_SOCKET) {
            put(o, "SOL_SOCKET, cmsg_type=");
            value(o, (uint32_t)h.cmsg_type, scm, ARRAY_SIZE(scm), true);
        } else {
            put(o, "%d, cmsg_type=%#x", h.cmsg_level, (unsigned)h.cmsg_type);
        }
        size_t nd = h.cmsg_ndata <= sizeof(h.cmsg_data) ? h.cmsg_ndata : 0;
        uint64_t whole = h.cmsg_len - 16;
        int32_t d[3];
        memcpy(d, h.cmsg_data, sizeof(d));
        /* The descriptors passed, or the credentials; other data is left out. */
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == 1 && nd >= 4) {
            put(o, ", cmsg_data=[");
            for (size_t k = 0; k < nd / 4; k++)
                put(o, "%s%d", k ? ", " : "", d[k]);
            put(o, "%s]}", whole > nd ? ", ..." : "");
        } else if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == 2 && nd >= 12) {
            put(o, ", cmsg_data={pid=%d, uid=%u, gid=%u}}", d[0], (unsigned)d[1], (unsigned)d[2]);
        } else {
            put(o, ", ...}");
        }
        put(o, "%s]", h.ncmsg > 1 ? ", ..." : "");
    } else if (h.controllen) {
        put(o, ", msg_control=");
        pointer(o, h.control);
    }
    put(o, ", msg_controllen=%llu, msg_flags=", (unsigned long long)h.controllen);
    flags(o, (uint32_t)h.flags, msg_bits, ARRAY_SIZE(msg_bits), "0");
    put(o, "}");
}

/* The pollfds of a record, n bytes at m: revents (after the call) or events. */
static void pollfds(struct out *o, const char *m, size_t n, uint64_t cnt, bool revents)
{
    bool first = true;
    put(o, "[");
    for (size_t at = 0; at + 8 <= n; at += 8) {
        int32_t fd;
        uint16_t ev[2];
        memcpy(&fd, m + at, 4);
        memcpy(ev, m + at + 4, 4);
        if (revents && !ev[1])
            continue;
        put(o, "%s{fd=%d", first ? "" : ", ", fd);
        /* A negative descriptor is not polled: strace prints it alone. */
        if (fd >= 0 || revents) {
            put(o, ", %s=", revents ? "revents" : "events");
            flags(o, ev[revents], poll_bits, ARRAY_SIZE(poll_bits), "0");
        }
        put(o, "}");
        first = false;
    }
    if (!revents && n / 8 < cnt)
        put(o, "%s...", first ? "" : ", ");
    put(o, "]");
}

static const struct bit cld_codes[] = { { 1, "CLD_EXITED" },  { 2, "CLD_KILLED" },
                                        { 3, "CLD_DUMPED" },  { 4, "CLD_TRAPPED" },
                                        { 5, "CLD_STOPPED" }, { 6, "CLD_CONTINUED" } };

/* waitid's siginfo (48 bytes at m): {} when no child was waited for (WNOHANG), as strace. */
static void waitid_info(struct out *o, const char *m)
{
    int32_t si[7];
    int64_t t[2];
    char sb[32];
    memcpy(si, m, sizeof(si));
    memcpy(t, m + 32, sizeof(t));
    if (si[0] == 0) {
        put(o, "{}");
        return;
    }
    put(o, "{si_signo=%s, si_code=", signame((uint32_t)si[0], sb, sizeof(sb)));
    value(o, (uint32_t)si[2], cld_codes, ARRAY_SIZE(cld_codes), false);
    put(o, ", si_pid=%d, si_uid=%u, si_status=", si[4], (unsigned)si[5]);
    if (si[2] == 1)
        put(o, "%d", si[6]);
    else
        put(o, "%s", signame((uint32_t)si[6], sb, sizeof(sb)));
    put(o, ", si_utime=%lld, si_stime=%lld}", (long long)t[0], (long long)t[1]);
}

static void arg(struct out *o, const struct sbx_trace_rec *r, unsigned i, char kind)
{
    uint64_t v = r->args[i];
    size_t n = 0;
    bool cut = false;
    const char *mem = copied(r, i, &n, &cut);
    char sb[32];
    switch (kind) {
    case 'd':
    case 'f':
        put(o, "%d", (int)v);
        break;
    case 'D':
        put(o, "%lld", (long long)v);
        break;
    case 'u':
        put(o, "%llu", (unsigned long long)v);
        break;
    case 'F':
        if ((int)v == AT_FDCWD)
            put(o, "AT_FDCWD");
        else
            put(o, "%d", (int)v);
        break;
    case 's':
        /* Up to the NUL: getcwd's result includes it. */
        if (mem)
            quoted(o, mem, strnlen(mem, n), SBX_TRACE_STR, cut);
        else
            pointer(o, v);
        break;
    case 'b':
        if (mem)
            quoted(o, mem, n, SBX_TRACE_FMT_STRLEN, cut);
        else
            pointer(o, v);
        break;
    case 'o':
        open_mode(o, v);
        break;
    case 'j':
        flags(o, v, open_flags + 2, ARRAY_SIZE(open_flags) - 2, "0");
        break;
    case 'm':
        put(o, "%#llo", (unsigned long long)(v & 07777));
        break;
    case 'P':
        flags(o, v, prot_bits, ARRAY_SIZE(prot_bits), "PROT_NONE");
        break;
    case 'M':
        map_flags(o, v);
        break;
    case 'a':
        flags(o, v, access_bits, ARRAY_SIZE(access_bits), "F_OK");
        break;
    case 'A':
        flags(o, v, at_bits, ARRAY_SIZE(at_bits), "0");
        break;
    case 'E':
        flags(o, v, eaccess_bits, ARRAY_SIZE(eaccess_bits), "0");
        break;
    case 'k':
        value(o, v, families, ARRAY_SIZE(families), false);
        break;
    case 'T':
        value(o, v & 0xf, sock_types, ARRAY_SIZE(sock_types), false);
        if (v & ~(uint64_t)0xf) {
            put(o, "|");
            flags(o, v & ~(uint64_t)0xf, sock_flags, ARRAY_SIZE(sock_flags), "0");
        }
        break;
    case 'c': {
        /* The low byte of clone's flags is the exit signal. */
        uint64_t sig = v & 0xff;
        if (v & ~(uint64_t)0xff)
            flags(o, v & ~(uint64_t)0xff, clone_bits, ARRAY_SIZE(clone_bits), "0");
        if (sig)
            put(o, "%s%s", v & ~(uint64_t)0xff ? "|" : "", signame(sig, sb, sizeof(sb)));
        else if (!(v & ~(uint64_t)0xff))
            put(o, "0");
        break;
    }
    case 'g':
        put(o, "%s", signame(v, sb, sizeof(sb)));
        break;
    case 'h':
        value(o, v, how_names, ARRAY_SIZE(how_names), false);
        break;
    case 'W':
        flags(o, v, wait_bits, ARRAY_SIZE(wait_bits), "0");
        break;
    case 'l':
        value(o, v, fcntl_cmds, ARRAY_SIZE(fcntl_cmds), false);
        break;
    case 'r':
        value(o, v, prctl_opts, ARRAY_SIZE(prctl_opts), false);
        break;
    case 'R':
        value(o, v, rlimits, ARRAY_SIZE(rlimits), false);
        break;
    case 'C':
        value(o, v, clocks, ARRAY_SIZE(clocks), false);
        break;
    case 'K':
        value(o, v, advice, ARRAY_SIZE(advice), false);
        break;
    case 'I':
        value(o, v, arch_codes, ARRAY_SIZE(arch_codes), true);
        break;
    case 'G':
        flags(o, v, grnd_bits, ARRAY_SIZE(grnd_bits), "0");
        break;
    case 'Y':
        flags(o, v, mremap_bits, ARRAY_SIZE(mremap_bits), "0");
        break;
    case 'i':
        value(o, v & 0xffffffffu, ioctls, ARRAY_SIZE(ioctls), true);
        break;
    case 'S':
        if (mem && n >= 32) {
            uint32_t mode;
            int64_t size;
            uint64_t rdev;
            memcpy(&mode, mem, 4);
            memcpy(&rdev, mem + 16, 8);
            memcpy(&size, mem + 24, 8);
            put(o, "{st_mode=");
            file_type(o, mode);
            if (S_ISCHR(mode) || S_ISBLK(mode))
                put(o, ", st_rdev=makedev(%#x, %#x), ...}",
                    (unsigned)(((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfffu)),
                    (unsigned)((rdev & 0xff) | ((rdev >> 12) & ~0xffu)));
            else
                put(o, ", st_size=%lld, ...}", (long long)size);
        } else {
            pointer(o, v);
        }
        break;
    case 'X':
        if (mem && n >= 48) {
            uint16_t mode;
            uint64_t size;
            memcpy(&mode, mem + 28, 2);
            memcpy(&size, mem + 40, 8);
            put(o, "{stx_mask=%#x, stx_mode=", (unsigned)*(const uint32_t *)(const void *)mem);
            file_type(o, mode);
            put(o, ", stx_size=%llu, ...}", (unsigned long long)size);
        } else {
            pointer(o, v);
        }
        break;
    case 't':
        if (mem && n >= 16) {
            int64_t ts[2];
            memcpy(ts, mem, 16);
            put(o, "{tv_sec=%lld, tv_nsec=%lld}", (long long)ts[0], (long long)ts[1]);
        } else {
            pointer(o, v);
        }
        break;
    case 'L':
        if (mem && n >= 16) {
            uint64_t l[2];
            memcpy(l, mem, 16);
            put(o, "{rlim_cur=");
            if (l[0] == UINT64_MAX)
                put(o, "RLIM64_INFINITY");
            else
                put(o, "%llu", (unsigned long long)l[0]);
            put(o, ", rlim_max=");
            if (l[1] == UINT64_MAX)
                put(o, "RLIM64_INFINITY");
            else
                put(o, "%llu", (unsigned long long)l[1]);
            put(o, "}");
        } else {
            pointer(o, v);
        }
        break;
    case 'n':
        if (mem && n >= 8) {
            int fd[2];
            memcpy(fd, mem, 8);
            put(o, "[%d, %d]", fd[0], fd[1]);
        } else {
            pointer(o, v);
        }
        break;
    case 'w':
        if (mem && n >= 4) {
            int st;
            memcpy(&st, mem, 4);
            if ((st & 0x7f) == 0)
                put(o, "[{WIFEXITED(s) && WEXITSTATUS(s) == %d}]", (st >> 8) & 0xff);
            else if (((st & 0x7f) + 1) >> 1 > 0)
                put(o, "[{WIFSIGNALED(s) && WTERMSIG(s) == %s%s}]",
                    signame((uint64_t)(st & 0x7f), sb, sizeof(sb)),
                    st & 0x80 ? " && WCOREDUMP(s)" : "");
            else
                put(o, "[%#x]", (unsigned)st);
        } else {
            pointer(o, v);
        }
        break;
    case 'z':
        if (mem && n >= 8) {
            uint64_t set;
            memcpy(&set, mem, 8);
            sig_set(o, set);
        } else {
            pointer(o, v);
        }
        break;
    case 'q':
        if (mem && n >= 32) {
            uint64_t sa[4];
            memcpy(sa, mem, 32);
            put(o, "{sa_handler=");
            if (sa[0] == 0)
                put(o, "SIG_DFL");
            else if (sa[0] == 1)
                put(o, "SIG_IGN");
            else
                put(o, "%#llx", (unsigned long long)sa[0]);
            put(o, ", sa_mask=");
            sig_set(o, sa[3]);
            put(o, ", sa_flags=");
            /* The kernel keeps 32 bits: glibc's int flags arrive sign-extended. */
            flags(o, sa[1] & 0xffffffffu, sa_bits, ARRAY_SIZE(sa_bits), "0");
            if (sa[1] & 0x04000000)
                put(o, ", sa_restorer=%#llx", (unsigned long long)sa[2]);
            put(o, "}");
        } else {
            pointer(o, v);
        }
        break;
    case 'U':
        if (mem && n > 0) {
            put(o, "{sysname=");
            quoted(o, mem, strnlen(mem, n), SBX_TRACE_STR, false);
            put(o, ", ...}");
        } else {
            pointer(o, v);
        }
        break;
    case 'v':
        if (mem) {
            put(o, "[");
            size_t at = 0;
            for (bool first = true; at < n; first = false) {
                size_t l = strnlen(mem + at, n - at);
                put(o, "%s", first ? "" : ", ");
                quoted(o, mem + at, l, SBX_TRACE_FMT_STRLEN, at + l >= n && cut);
                at += l + 1;
            }
            put(o, "%s]", cut ? ", ..." : "");
        } else {
            pointer(o, v);
        }
        break;
    case 'e':
        if (mem && n >= 2) {
            uint16_t fam;
            memcpy(&fam, mem, 2);
            put(o, "{sa_family=");
            value(o, fam, families, ARRAY_SIZE(families), false);
            if (fam == AF_UNIX && n > 2) {
                /* An abstract name starts with a NUL: strace prints it as @name. */
                const char *p = mem + 2;
                size_t l = strnlen(p, n - 2);
                put(o, ", sun_path=");
                if (l == 0 && n > 3) {
                    put(o, "@");
                    quoted(o, p + 1, strnlen(p + 1, n - 3), SBX_TRACE_STR, cut);
                } else {
                    quoted(o, p, l, SBX_TRACE_STR, cut);
                }
            } else if (fam == AF_INET && n >= 8) {
                const unsigned char *a = (const unsigned char *)mem;
                put(o, ", sin_port=htons(%u), sin_addr=inet_addr(\"%u.%u.%u.%u\")",
                    (unsigned)(a[2] << 8 | a[3]), a[4], a[5], a[6], a[7]);
            }
            put(o, "}");
        } else {
            pointer(o, v);
        }
        break;
    case 'V': {
        size_t at = o->n;
        if (!mem || i + 1 >= 6 || !iovec(o, mem, n, r->args[i + 1])) {
            o->n = at;
            pointer(o, v);
        }
        break;
    }
    case 'H':
        if (mem)
            msghdr(o, mem, n, v);
        else
            pointer(o, v);
        break;
    case 'N':
        flags(o, v, msg_bits, ARRAY_SIZE(msg_bits), "0");
        break;
    case 'Q':
        if (mem && n % 8 == 0 && n / 8 <= r->args[i + 1])
            pollfds(o, mem, n, r->args[i + 1], false);
        else
            pointer(o, v);
        break;
    case 'Z':
        pointer(o, v);
        if (mem && n == 4) {
            uint32_t count;
            memcpy(&count, mem, 4);
            put(o, " /* %u entries */", count);
        }
        break;
    case 'y': {
        static const struct bit idtypes[] = {
            { 0, "P_ALL" }, { 1, "P_PID" }, { 2, "P_PGID" }, { 3, "P_PIDFD" }
        };
        value(o, v, idtypes, ARRAY_SIZE(idtypes), false);
        break;
    }
    case 'J':
        if (mem && n >= 48)
            waitid_info(o, mem);
        else
            pointer(o, v);
        break;
    case 'p':
        pointer(o, v);
        break;
    case 'x':
    default:
        put(o, "%#llx", (unsigned long long)v);
        break;
    }
}

static void result(struct out *o, const struct sbx_trace_rec *r, char kind)
{
    if (r->flags & SBX_TRACE_NORET) {
        put(o, " = ?");
        return;
    }
    int64_t v = r->ret;
    if (v < 0 && v >= -4095) {
        int e = (int)-v;
        const char *name = strerrorname_np(e);
        /* The restart codes never reach a guest, but strace names them. */
        if (e == 512)
            put(o, " = ? ERESTARTSYS (To be restarted if SA_RESTART is set)");
        else if (e == 516)
            put(o, " = ? ERESTART_RESTARTBLOCK (Interrupted by signal)");
        else if (name)
            put(o, " = -1 %s (%s)", name, strerror(e));
        else
            put(o, " = -1 E%d", e);
        return;
    }
    /* fcntl's F_GETFD and F_GETFL answer flags: strace names them. */
    if (r->nr == SYS_fcntl && (r->args[1] == F_GETFD || r->args[1] == F_GETFL)) {
        put(o, " = %#llx (flags ", (unsigned long long)v);
        if (r->args[1] == F_GETFD)
            flags(o, (uint64_t)v, (const struct bit[]){ B(FD_CLOEXEC) }, 1, "0");
        else
            open_mode(o, (uint64_t)v);
        put(o, ")");
        return;
    }
    /* poll and ppoll: the descriptors that have events, as strace lists them. */
    if (r->nr == SYS_poll || r->nr == SYS_ppoll) {
        size_t n = 0;
        bool cut = false;
        const char *mem = copied(r, 0, &n, &cut);
        put(o, " = %lld", (long long)v);
        if (v == 0)
            put(o, " (Timeout)");
        else if (mem && n % 8 == 0 && n / 8 <= r->args[1]) {
            put(o, " (");
            pollfds(o, mem, n, r->args[1], true);
            put(o, ")");
        }
        return;
    }
    if (kind == 'x')
        put(o, " = %#llx", (unsigned long long)v);
    else if (kind == 'o')
        put(o, " = %#llo", (unsigned long long)v);
    else
        put(o, " = %lld", (long long)v);
}

/* "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=3, ...} ---", as strace. */
static void signal_line(struct out *o, const struct sbx_trace_rec *r)
{
    static const struct bit si_codes[] = { { 0, "SI_USER" },
                                           { 0x80, "SI_KERNEL" },
                                           { (uint32_t)-1, "SI_QUEUE" },
                                           { (uint32_t)-2, "SI_TIMER" },
                                           { (uint32_t)-6, "SI_TKILL" } };
    static const struct bit fault_codes[] = { { 1, "SEGV_MAPERR" }, { 2, "SEGV_ACCERR" } };
    char sb[32];
    int32_t code = (int32_t)r->args[0];
    bool user = code <= 0 || code == 0x80;
    bool fault = r->nr == SIGSEGV || r->nr == SIGBUS || r->nr == SIGILL || r->nr == SIGFPE;
    const char *name = signame(r->nr, sb, sizeof(sb));
    put(o, "--- %s {si_signo=%s, si_code=", name, name);
    if (!user && r->nr == SIGCHLD)
        value(o, (uint32_t)code, cld_codes, ARRAY_SIZE(cld_codes), false);
    else if (!user && r->nr == SIGSEGV)
        value(o, (uint32_t)code, fault_codes, ARRAY_SIZE(fault_codes), false);
    else
        value(o, (uint32_t)code, si_codes, ARRAY_SIZE(si_codes), false);
    if (!user && r->nr == SIGCHLD)
        put(o, ", si_pid=%d, si_uid=%u, si_status=%d, ...", (int)r->args[1], (unsigned)r->args[2],
            (int)r->args[3]);
    else if (!user && fault) {
        put(o, ", si_addr=");
        pointer(o, r->args[4]);
    } else if (code == 0 || code == -1 || code == -6)
        put(o, ", si_pid=%d, si_uid=%u", (int)r->args[1], (unsigned)r->args[2]);
    put(o, "} ---");
}

size_t sbx_trace_format(const struct sbx_trace_rec *r, char *buf, size_t len)
{
    struct out o = { buf, len, 0 };
    if (len == 0)
        return 0;
    buf[0] = '\0';
    if (r->kind == SBX_TRACE_SIGNAL) {
        signal_line(&o, r);
        return o.n < len ? o.n : len - 1;
    }
    char nb[48];
    const struct sbx_trace_decl *d = sbx_trace_decl(r->nr);
    put(&o, "%s(", sbx_trace_name(r->nr, nb, sizeof(nb)));
    const char *args = d ? d->args : "xxxxxx";
    /* fcntl's commands that take no argument print without one. */
    size_t nargs = strlen(args);
    if (r->nr == SYS_fcntl &&
        (r->args[1] == F_GETFD || r->args[1] == F_GETFL || r->args[1] == F_GETOWN ||
         r->args[1] == F_GETSIG || r->args[1] == F_GETPIPE_SZ || r->args[1] == F_GET_SEALS))
        nargs = 2;
    for (unsigned i = 0; i < nargs && i < 6; i++) {
        /* O: the mode of open/openat, printed only when the flags create a file. */
        if (args[i] == 'O' && !(r->args[i - 1] & O_CREAT) &&
            (r->args[i - 1] & O_TMPFILE) != O_TMPFILE)
            break;
        if (args[i] == '_')
            continue;
        if (i)
            put(&o, ", ");
        arg(&o, r, i, args[i] == 'O' ? 'm' : args[i]);
    }
    put(&o, ")");
    result(&o, r, d ? d->ret : 'd');
    return o.n < len ? o.n : len - 1;
}

bool sbx_trace_reaped_killed(const struct sbx_trace_rec *r, int *pid, int *sig, bool *core)
{
    size_t n = 0;
    bool cut = false;
    if (r->kind != SBX_TRACE_SYSCALL || (r->flags & SBX_TRACE_NORET))
        return false;
    /* waitid: the siginfo of a child killed or dumped, unless WNOWAIT left it to be waited for. */
    if (r->nr == SYS_waitid) {
        const char *m = r->ret == 0 && !(r->args[3] & WNOWAIT) ? copied(r, 2, &n, &cut) : NULL;
        int32_t si[7];
        if (!m || n < sizeof(si))
            return false;
        memcpy(si, m, sizeof(si));
        if (si[0] != SIGCHLD || (si[2] != 2 && si[2] != 3) || si[4] <= 0)
            return false;
        *pid = si[4];
        *sig = si[6];
        *core = si[2] == 3;
        return true;
    }
    const char *mem = r->nr == SYS_wait4 && r->ret > 0 ? copied(r, 1, &n, &cut) : NULL;
    int st;
    if (!mem || n < 4)
        return false;
    memcpy(&st, mem, 4);
    if (!WIFSIGNALED(st))
        return false;
    *pid = (int)r->ret;
    *sig = WTERMSIG(st);
    *core = WCOREDUMP(st);
    return true;
}

size_t sbx_trace_format_killed(int sig, bool core, char *buf, size_t len)
{
    char sb[32];
    int k = snprintf(buf, len, "+++ killed by %s%s +++", signame((uint64_t)sig, sb, sizeof(sb)),
                     core ? " (core dumped)" : "");
    return k < 0 ? 0 : (size_t)k < len ? (size_t)k : len ? len - 1 : 0;
}
