/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest side of `--trace`: one fixed-size record per syscall into the
 * sandbox's trace ring (include/sbx/trace.h).  Formatting and I/O are the
 * client's; here only the call, its result, the thread id and the bytes of
 * the few pointer arguments the decoder prints are written.
 *
 * Guest memory is read directly, and only where the kernel has just read or
 * written it for this call (a result >= 0, or a path lookup error), so that
 * a bad pointer the kernel refused with EFAULT is never touched.  What is
 * copied comes from the table below, by syscall number.
 *
 * Signal-safety contract: called from the SIGSYS handler and the fast
 * entry's slow path, in many threads at once and nested; state on the stack,
 * the ring written with atomics only (reserve by compare-and-swap, publish
 * by a release store of seq).  A full ring waits, boundedly, for a reader
 * that is only slow, then drops the record and counts it (wait_for_room).
 */
#include <asm/stat.h>
#include <asm/unistd.h>
#include <linux/mman.h>

#include "sbx/abi.h"
#include "sbx/trace.h"
#include "gate-prog.h"
#include "trace.h"
#include "virt.h"

/* Set at startup when the ring is mapped; sbx_trace_sel is read by entry.S. */
uint8_t sbx_trace_on;
uint8_t sbx_trace_sel[512];
uint8_t sbx_trace_signals;
static uint64_t ring_mask;
/*
 * The process's id while it can have but one thread, so that a record
 * needs no gettid; 0 once it may have more (a clone onto a new stack was
 * asked for), and then each record asks the kernel.  Refreshed in a fork's
 * child.
 */
static int32_t one_tid;

enum copy_kind {
    CP_NONE = 0,
    CP_STR,     /* NUL-terminated string */
    CP_BUF_LEN, /* buffer, length in argument p */
    CP_BUF_RET, /* buffer, length = the result */
    CP_MEM,     /* p bytes from offset off, when the call succeeded */
    CP_ARGV,    /* NULL-terminated array of strings, packed NUL-separated */
    CP_ADDR,    /* a socket address, length in argument p */
    CP_IOV,     /* an iovec array, count in argument p, with the data */
    CP_RIOV,    /* an iovec array, count in argument p, the addresses only */
    CP_MSG,     /* a struct msghdr and its iovec array */
    CP_POLL,    /* a pollfd array, count in argument p */
    CP_DENTS,   /* directory entries: their number */
};

struct copy {
    uint8_t arg1; /* argument index + 1; 0 = nothing */
    uint8_t kind;
    uint8_t p;
    uint8_t off;
};

#define S(i)                                                                                       \
    {                                                                                              \
        (i) + 1, CP_STR, 0, 0                                                                      \
    }
#define BL(i, l)                                                                                   \
    {                                                                                              \
        (i) + 1, CP_BUF_LEN, (l), 0                                                                \
    }
#define BR(i)                                                                                      \
    {                                                                                              \
        (i) + 1, CP_BUF_RET, 0, 0                                                                  \
    }
#define M(i, n, o)                                                                                 \
    {                                                                                              \
        (i) + 1, CP_MEM, (n), (o)                                                                  \
    }
#define AV(i)                                                                                      \
    {                                                                                              \
        (i) + 1, CP_ARGV, 0, 0                                                                     \
    }
#define SA(i, l)                                                                                   \
    {                                                                                              \
        (i) + 1, CP_ADDR, (l), 0                                                                   \
    }
#define IOV(i, n)                                                                                  \
    {                                                                                              \
        (i) + 1, CP_IOV, (n), 0                                                                    \
    }
#define RIOV(i, n)                                                                                 \
    {                                                                                              \
        (i) + 1, CP_RIOV, (n), 0                                                                   \
    }
#define MSG(i)                                                                                     \
    {                                                                                              \
        (i) + 1, CP_MSG, 0, 0                                                                      \
    }
#define POLL(i, n)                                                                                 \
    {                                                                                              \
        (i) + 1, CP_POLL, (n), 0                                                                   \
    }
#define DENTS(i)                                                                                   \
    {                                                                                              \
        (i) + 1, CP_DENTS, 0, 0                                                                    \
    }
/* struct stat from st_mode to st_size (mode, nlink-free part, uid, gid, rdev, size). */
#define STAT(i) M(i, 32, 24)

static const struct copy copies[SBX_STATS_NSYSCALLS][2] = {
    [__NR_read] = { BR(1) },
    [__NR_write] = { BL(1, 2) },
    [__NR_pread64] = { BR(1) },
    [__NR_pwrite64] = { BL(1, 2) },
    [__NR_open] = { S(0) },
    [__NR_creat] = { S(0) },
    [__NR_stat] = { S(0), STAT(1) },
    [__NR_lstat] = { S(0), STAT(1) },
    [__NR_fstat] = { STAT(1) },
    [__NR_newfstatat] = { S(1), STAT(2) },
    [__NR_statx] = { S(1), M(4, 56, 0) },
    [__NR_access] = { S(0) },
    [__NR_faccessat] = { S(1) },
    [__NR_faccessat2] = { S(1) },
    [__NR_openat] = { S(1) },
    [__NR_openat2] = { S(1) },
    [__NR_execve] = { S(0), AV(1) },
    [__NR_execveat] = { S(1), AV(2) },
    [__NR_chdir] = { S(0) },
    [__NR_mkdir] = { S(0) },
    [__NR_mkdirat] = { S(1) },
    [__NR_rmdir] = { S(0) },
    [__NR_unlink] = { S(0) },
    [__NR_unlinkat] = { S(1) },
    [__NR_rename] = { S(0), S(1) },
    [__NR_renameat] = { S(1), S(3) },
    [__NR_renameat2] = { S(1), S(3) },
    [__NR_link] = { S(0), S(1) },
    [__NR_linkat] = { S(1), S(3) },
    [__NR_symlink] = { S(0), S(1) },
    [__NR_symlinkat] = { S(0), S(2) },
    [__NR_readlink] = { S(0), BR(1) },
    [__NR_readlinkat] = { S(1), BR(2) },
    [__NR_chmod] = { S(0) },
    [__NR_fchmodat] = { S(1) },
    [__NR_chown] = { S(0) },
    [__NR_lchown] = { S(0) },
    [__NR_fchownat] = { S(1) },
    [__NR_truncate] = { S(0) },
    [__NR_statfs] = { S(0) },
    [__NR_utimensat] = { S(1) },
    [__NR_getcwd] = { BR(0) },
    [__NR_uname] = { M(0, 65, 0) },
    [__NR_pipe] = { M(0, 8, 0) },
    [__NR_pipe2] = { M(0, 8, 0) },
    [__NR_socketpair] = { M(3, 8, 0) },
    [__NR_wait4] = { M(1, 4, 0) },
    /* waitid's siginfo: si_signo to si_stime. */
    [__NR_waitid] = { M(2, 48, 0) },
    [__NR_clock_gettime] = { M(1, 16, 0) },
    [__NR_nanosleep] = { M(0, 16, 0) },
    [__NR_clock_nanosleep] = { M(2, 16, 0) },
    [__NR_connect] = { SA(1, 2) },
    [__NR_bind] = { SA(1, 2) },
    [__NR_sendto] = { BL(1, 2), SA(4, 5) },
    [__NR_recvfrom] = { BR(1) },
    [__NR_rt_sigaction] = { M(1, 32, 0) },
    [__NR_rt_sigprocmask] = { M(1, 8, 0) },
    [__NR_prlimit64] = { M(2, 16, 0), M(3, 16, 0) },
    /* Alone in a record, these take both strings' room (SBX_TRACE_WIDE). */
    [__NR_readv] = { IOV(1, 2) },
    [__NR_writev] = { IOV(1, 2) },
    [__NR_preadv] = { IOV(1, 2) },
    [__NR_pwritev] = { IOV(1, 2) },
    [__NR_preadv2] = { IOV(1, 2) },
    [__NR_pwritev2] = { IOV(1, 2) },
    [__NR_process_vm_readv] = { IOV(1, 2), RIOV(3, 4) },
    [__NR_process_vm_writev] = { IOV(1, 2), RIOV(3, 4) },
    [__NR_sendmsg] = { MSG(1) },
    [__NR_recvmsg] = { MSG(1) },
    [__NR_poll] = { POLL(0, 1) },
    [__NR_ppoll] = { POLL(0, 1) },
    [__NR_getdents] = { DENTS(1) },
    [__NR_getdents64] = { DENTS(1) },
};

/*
 * Whether the kernel has read a path argument for this result: it did for
 * success and for the errors of a path lookup.  Other errors (EFAULT above
 * all, EBADF or EINVAL found before the path was read, a policy's errno)
 * leave the pointer unread, and so do we.
 */
static int path_was_read(long ret)
{
    switch (ret) {
    case -ENOENT:
    case -ENOTDIR:
    case -EACCES:
    case -ELOOP:
    case -EEXIST:
    case -EISDIR:
    case -ENOTEMPTY:
    case -EROFS:
    case -EXDEV:
    case -ENXIO:
    case -ETXTBSY:
        return 1;
    default:
        return ret >= 0;
    }
}

/* Whether connect, bind or sendto read their address for this result. */
static int addr_was_read(long ret)
{
    switch (ret) {
    case -ECONNREFUSED:
    case -EINPROGRESS:
    case -EADDRINUSE:
    case -EADDRNOTAVAIL:
    case -ENETUNREACH:
    case -EHOSTUNREACH:
    case -ETIMEDOUT:
    case -EAGAIN:
    case -ENOENT:
    case -EACCES:
    case -EISCONN:
        return 1;
    default:
        return ret >= 0;
    }
}

struct kiovec {
    uint64_t base, len;
};

/*
 * Encodes cnt iovecs at v into dst (cap bytes; include/sbx/trace.h): with
 * the data, the first total bytes spread over them in order (what the
 * kernel read or wrote), else their addresses.  Returns the bytes used.
 */
static size_t copy_iov(char *dst, size_t cap, const struct kiovec *v, uint64_t cnt, uint64_t total,
                       int data)
{
    size_t n = 1;
    unsigned k = 0;
    for (; k < cnt && k < SBX_TRACE_IOV_COUNT; k++) {
        struct kiovec e = v[k];
        if (!data) {
            if (n + 16 > cap)
                break;
            memcpy(dst + n, &e, 16);
            n += 16;
            continue;
        }
        if (n + 9 > cap)
            break;
        uint64_t have = e.len < total ? e.len : total;
        total -= have;
        uint64_t room = cap - n - 9;
        uint64_t take = have < SBX_TRACE_IOV_DATA ? have : SBX_TRACE_IOV_DATA;
        if (take > room)
            take = room;
        memcpy(dst + n, &e.len, 8);
        dst[n + 8] = (char)(take | (take < have ? SBX_TRACE_IOV_CUT : 0));
        memcpy(dst + n + 9, (const char *)e.base, take);
        n += 9 + take;
    }
    dst[0] = (char)(k | (data ? 0 : SBX_TRACE_IOV_ADDR));
    return n;
}

struct kmsghdr {
    uint64_t name;
    uint32_t namelen, pad0;
    uint64_t iov, iovlen, control, controllen;
    int32_t flags, pad1;
};

/* A msghdr the kernel has read (and, for recvmsg, written back) for a result ret >= 0. */
static size_t copy_msg(char *dst, size_t cap, const struct kmsghdr *m, long ret)
{
    struct kmsghdr k = *m;
    struct sbx_trace_msghdr h = {
        .name = k.name,
        .control = k.control,
        .controllen = k.controllen,
        .namelen = k.namelen,
        .iovlen = (uint32_t)k.iovlen,
        .flags = k.flags,
    };
    /* Control messages as CMSG_NXTHDR walks them; only their headers. */
    uint64_t off = 0;
    while (k.control && h.ncmsg < SBX_TRACE_CMSG_MAX && off + 16 <= k.controllen) {
        uint64_t len;
        memcpy(&len, (const char *)k.control + off, 8);
        if (len < 16 || len > k.controllen - off)
            break;
        if (h.ncmsg++ == 0) {
            h.cmsg_len = len;
            memcpy(&h.cmsg_level, (const char *)k.control + off + 8, 4);
            memcpy(&h.cmsg_type, (const char *)k.control + off + 12, 4);
            h.cmsg_ndata =
                len - 16 < sizeof(h.cmsg_data) ? (uint8_t)(len - 16) : (uint8_t)sizeof(h.cmsg_data);
            memcpy(h.cmsg_data, (const char *)k.control + off + 16, h.cmsg_ndata);
        }
        off += (len + 7) & ~7ull;
    }
    memcpy(dst, &h, sizeof(h));
    if (!k.iov)
        return sizeof(h);
    return sizeof(h) + copy_iov(dst + sizeof(h), cap - sizeof(h), (const struct kiovec *)k.iov,
                                k.iovlen, (uint64_t)ret, 1);
}

/* Copies what c describes into r->str[i]; returns the SBX_TRACE_TRUNC bit when it was cut. */
static unsigned copy_one(struct sbx_trace_rec *r, int i, const struct copy *c, const long *a,
                         long ret, size_t cap)
{
    const char *src = (const char *)a[c->arg1 - 1];
    size_t n = 0;
    unsigned cut = 0;
    char *dst = (char *)r->str + i * SBX_TRACE_STR; /* wide: both strings */
    if (!src)
        return 0;
    switch (c->kind) {
    case CP_STR:
        if (!path_was_read(ret))
            return 0;
        while (n < cap && src[n])
            n++;
        memcpy(dst, src, n);
        cut = n == cap && src[n];
        break;
    case CP_BUF_LEN:
    case CP_BUF_RET: {
        if (ret <= 0)
            return 0;
        uint64_t len = (uint64_t)ret;
        if (c->kind == CP_BUF_LEN && (uint64_t)a[c->p] < len)
            len = (uint64_t)a[c->p];
        n = len < cap ? (size_t)len : cap;
        cut = len > cap;
        memcpy(dst, src, n);
        break;
    }
    case CP_ADDR:
        if (!addr_was_read(ret))
            return 0;
        n = (uint64_t)a[c->p] < cap ? (size_t)a[c->p] : cap;
        memcpy(dst, src, n);
        break;
    case CP_MEM:
        if (ret < 0)
            return 0;
        n = c->p < cap ? c->p : cap;
        memcpy(dst, src + c->off, n);
        break;
    case CP_ARGV: {
        /*
         * Only the new program's trampoline sees a successful exec, and reads
         * its own argv (sbx_trace_exec); a failed one may have failed before
         * anything read the guest's argv.
         */
        if (ret < 0)
            return 0;
        char *const *v = (char *const *)src;
        for (; *v && n < cap; v++) {
            const char *s = *v;
            while (n < cap && *s)
                dst[n++] = *s++;
            if (n < cap)
                dst[n++] = '\0';
            else
                cut = 1;
        }
        if (*v)
            cut = 1;
        break;
    }
    case CP_IOV:
    case CP_RIOV:
        /* The kernel read the whole array, and the first ret bytes of the data. */
        if (ret < 0)
            return 0;
        n = copy_iov(dst, cap, (const struct kiovec *)src, (uint64_t)a[c->p], (uint64_t)ret,
                     c->kind == CP_IOV);
        break;
    case CP_MSG:
        if (ret < 0)
            return 0;
        n = copy_msg(dst, cap, (const struct kmsghdr *)src, ret);
        break;
    case CP_POLL:
        /* Read at the start; revents written back also when a signal interrupted the wait. */
        if (ret < 0 && ret != -EINTR)
            return 0;
        n = (uint64_t)a[c->p] < cap / 8 ? (size_t)a[c->p] * 8 : cap / 8 * 8;
        memcpy(dst, src, n);
        break;
    case CP_DENTS: {
        if (ret < 0)
            return 0;
        /* d_reclen is at offset 16 in both linux_dirent and linux_dirent64. */
        uint32_t count = 0;
        for (uint64_t off = 0; off + 18 <= (uint64_t)ret; count++) {
            uint16_t len;
            memcpy(&len, src + off + 16, 2);
            if (len == 0)
                break;
            off += len;
        }
        memcpy(dst, &count, 4);
        n = 4;
        break;
    }
    default:
        return 0;
    }
    r->sarg[i] = (uint8_t)(c->arg1 - 1);
    r->slen[i] = (uint16_t)n;
    return cut ? (i ? SBX_TRACE_TRUNC1 : SBX_TRACE_TRUNC0) : 0;
}

static struct sbx_trace_ring *ring(void)
{
    return (struct sbx_trace_ring *)SBX_TRAMPOLINE_TRACE_ADDR;
}

/*
 * The tail at which the reader was last found stalled (plus one; 0: never).
 * While the tail stays there a full ring drops at once; once it moves the
 * reader is alive again and is waited for again.
 */
static uint64_t stalled_tail;

/*
 * A full ring: waits up to about 100 ms for the reader to free a record, so
 * that a reader that is merely slow (a loaded machine) loses nothing.  A
 * reader that frees nothing in that time is stalled (stopped, or gone): the
 * call is dropped, and so are the next ones until the tail moves, so that a
 * guest is never held longer than that per stall.  Whether there is room
 * again comes back as true.
 */
static int wait_for_room(struct sbx_trace_ring *rg, uint64_t t)
{
    if (__atomic_load_n(&stalled_tail, __ATOMIC_RELAXED) == t + 1)
        return 0;
    struct {
        long sec, nsec;
    } pause = { 0, 100000 };
    for (int i = 0; i < 1000; i++) {
        sbx_sys2(__NR_nanosleep, (long)&pause, 0);
        uint64_t h = __atomic_load_n(&rg->head, __ATOMIC_RELAXED);
        if (h - __atomic_load_n(&rg->tail, __ATOMIC_ACQUIRE) <= ring_mask)
            return 1;
    }
    __atomic_store_n(&stalled_tail, t + 1, __ATOMIC_RELAXED);
    return 0;
}

/* Reserves a record, or counts a drop and returns NULL. */
static struct sbx_trace_rec *reserve(uint64_t *pos)
{
    struct sbx_trace_ring *rg = ring();
    uint64_t h = __atomic_load_n(&rg->head, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t t = __atomic_load_n(&rg->tail, __ATOMIC_ACQUIRE);
        if (h - t > ring_mask) {
            if (wait_for_room(rg, t)) {
                h = __atomic_load_n(&rg->head, __ATOMIC_RELAXED);
                continue;
            }
            __atomic_fetch_add(&rg->dropped, 1, __ATOMIC_RELAXED);
            return 0;
        }
        if (__atomic_compare_exchange_n(&rg->head, &h, h + 1, 1, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            break;
    }
    *pos = h;
    /*
     * seq still holds the position of a lap before (or 0), never pos + 1: the
     * reader waits for it without our clearing it first.
     */
    /*
     * The next record's two first cache lines (all a call without copies
     * writes), for writing: fetched while this call runs, not when the next
     * one stores to them.  A hint: it neither faults nor blocks.
     */
    struct sbx_trace_rec *next = &rg->rec[(h + 1) & ring_mask];
    __builtin_prefetch(next, 1);
    __builtin_prefetch((const char *)next + 64, 1);
    return &rg->rec[h & ring_mask];
}

static void publish(struct sbx_trace_rec *r, uint64_t pos)
{
    __atomic_store_n(&r->seq, pos + 1, __ATOMIC_RELEASE);
}

static void put(long nr, const long *a, long ret, unsigned kind, unsigned flags)
{
    uint64_t pos;
    struct sbx_trace_rec *r = reserve(&pos);
    if (!r)
        return;
    r->nr = (uint32_t)nr;
    /*
     * A signal asks the kernel: a fork's child can take one before its
     * clone has returned through us and refreshed one_tid.
     */
    r->tid = one_tid && kind != SBX_TRACE_SIGNAL ? one_tid : (int32_t)sbx_sys0(__NR_gettid);
    r->kind = (uint16_t)kind;
    r->sarg[0] = r->sarg[1] = SBX_TRACE_NOARG;
    r->slen[0] = r->slen[1] = 0;
    for (int i = 0; i < 6; i++)
        r->args[i] = (uint64_t)a[i];
    r->ret = ret;
    if (!(flags & SBX_TRACE_NORET) && nr >= 0 && nr < SBX_STATS_NSYSCALLS) {
        const struct copy *cp = copies[nr];
        /* A structure alone in its record takes both strings' room. */
        if (cp[0].kind >= CP_IOV && cp[0].kind <= CP_POLL && !cp[1].arg1) {
            flags |= copy_one(r, 0, &cp[0], a, ret, 2 * SBX_TRACE_STR);
            if (r->sarg[0] != SBX_TRACE_NOARG)
                flags |= SBX_TRACE_WIDE;
        } else {
            for (int i = 0; i < 2; i++)
                if (cp[i].arg1)
                    flags |= copy_one(r, i, &cp[i], a, ret, SBX_TRACE_STR);
        }
    }
    r->flags = (uint16_t)flags;
    publish(r, pos);
}

void sbx_trace_call(const struct sbx_call *c, long ret)
{
    /* A fork's child returns here too: its parent records the call. */
    if (ret == 0 && (c->nr == __NR_fork || c->nr == __NR_vfork || c->nr == __NR_clone ||
                     c->nr == __NR_clone3)) {
        if (one_tid)
            one_tid = (int32_t)sbx_sys0(__NR_gettid);
        return;
    }
    put(c->nr, c->a, ret, SBX_TRACE_SYSCALL, 0);
}

void sbx_trace_before(const struct sbx_call *c)
{
    /* A thread, or a process sharing this memory, could read one_tid: stop trusting it. */
    if (c->nr == __NR_clone3 || (c->nr == __NR_clone && c->a[1]))
        one_tid = 0;
    if (c->nr == __NR_exit_group || c->nr == __NR_exit)
        put(c->nr, c->a, 0, SBX_TRACE_SYSCALL, SBX_TRACE_NORET);
}

/*
 * The guest's handlers of the signals whose disposition points at the
 * wrapper, per process (dispositions are).
 */
struct guest_sa {
    uint64_t handler, flags;
};
static struct guest_sa guest_sa[65];

typedef void sbx_sa_handler(int);
typedef void sbx_sa_sigaction(int, struct sbx_siginfo *, void *);

#define SA_ONSTACK 0x08000000UL

/*
 * The signals whose default action ends the process (terminate or dump
 * core), SIGSYS (the trampoline's) and SIGKILL (which no handler can see)
 * left out.  While the guest leaves them at SIG_DFL, dfl_wrapper is
 * installed in its place, so that a death by such a signal is recorded too.
 * The signals whose default is to be ignored, stop or continue get no
 * handler: one would make the calls they interrupt fail with EINTR, and
 * SIGCHLD's default would stop reaping nothing the guest asked for.
 */
static int fatal_default(int sig)
{
    if (sig >= 32 && sig <= 64)
        return 1; /* real-time: terminate */
    switch (sig) {
    case 1:  /* SIGHUP */
    case 2:  /* SIGINT */
    case 3:  /* SIGQUIT */
    case 4:  /* SIGILL */
    case 5:  /* SIGTRAP */
    case 6:  /* SIGABRT */
    case 7:  /* SIGBUS */
    case 8:  /* SIGFPE */
    case 10: /* SIGUSR1 */
    case 11: /* SIGSEGV */
    case 12: /* SIGUSR2 */
    case 13: /* SIGPIPE */
    case 14: /* SIGALRM */
    case 15: /* SIGTERM */
    case 16: /* SIGSTKFLT */
    case 24: /* SIGXCPU */
    case 25: /* SIGXFSZ */
    case 26: /* SIGVTALRM */
    case 27: /* SIGPROF */
    case 29: /* SIGIO */
    case 30: /* SIGPWR */
        return 1;
    default:
        return 0;
    }
}

/* What the guest's SIG_DFL of each signal under dfl_wrapper reads back as: its flags, restorer. */
static struct guest_sa guest_dfl[65];
static uint64_t guest_dfl_restorer[65];

static void record_signal(int sig, const struct sbx_siginfo *si)
{
    const char *u = (const char *)si + 16;
    int32_t pid, uid, status;
    uint64_t addr;
    memcpy(&pid, u, 4);
    memcpy(&uid, u + 4, 4);
    memcpy(&status, u + 8, 4);
    memcpy(&addr, u, 8);
    long a[6] = { si->si_code, pid, uid, status, (long)addr, 0 };
    put(sig, a, 0, SBX_TRACE_SIGNAL, SBX_TRACE_NORET);
}

static void dfl_wrapper(int sig, struct sbx_siginfo *si, void *uc);

/* Installs dfl_wrapper for sig with the guest's mask; 0 or -errno. */
static long install_dfl(int sig, uint64_t mask)
{
    struct sbx_ksigaction w = {
        .handler = (uint64_t)dfl_wrapper,
        .flags = SBX_SA_SIGINFO | SBX_SA_RESTORER | SA_ONSTACK,
        .restorer = (uint64_t)sbx_tramp_restorer,
        .mask = mask & ~SBX_SIGBIT(SBX_SIGSYS),
    };
    return sbx_sys4(__NR_rt_sigaction, sig, (long)&w, 0, 8);
}

/*
 * A signal the guest left at its default action, which ends the process:
 * recorded, then carried out by the kernel as it would have been.  The
 * disposition goes back to SIG_DFL; a fault (si_code > 0: SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE) is left to recur when the instruction runs again, with
 * its own siginfo; any other signal is sent again to this thread, and is
 * delivered once the mask this handler runs with is restored.  Either way
 * the process dies of the signal, with its core dump and its wait status.
 */
static void dfl_wrapper(int sig, struct sbx_siginfo *si, void *uc)
{
    (void)uc;
    if (sig < 1 || sig > 64)
        return;
    record_signal(sig, si);
    struct sbx_ksigaction dfl = { .handler = SBX_SIG_DFL };
    sbx_sys4(__NR_rt_sigaction, sig, (long)&dfl, 0, 8);
    int fault = si->si_code > 0 && (sig == 4 || sig == 7 || sig == 8 || sig == 11);
    if (fault)
        return;
    /*
     * Asked of the kernel, never one_tid: a fork's child can take a signal
     * before its clone has returned through us and refreshed it, and would
     * send the signal to its parent.
     */
    long pid = sbx_sys0(__NR_getpid);
    long tid = sbx_sys0(__NR_gettid);
    /*
     * Fail closed: a policy that refuses the resend must not let the guest
     * outlive a signal that ends it (it then exits with the shell's status
     * for the signal, 128 + N, not by the signal).
     */
    if (sbx_sys3(__NR_tgkill, pid, tid, sig) < 0)
        sbx_sys1(__NR_exit_group, 128 + sig);
}

static void sig_wrapper(int sig, struct sbx_siginfo *si, void *uc)
{
    if (sig < 1 || sig > 64)
        return;
    struct guest_sa g = guest_sa[sig];
    record_signal(sig, si);
    /* SA_RESETHAND: the kernel has put SIG_DFL back; a fatal one is watched again. */
    struct sbx_ksigaction cur;
    if ((g.flags & SBX_SA_RESETHAND) && fatal_default(sig) &&
        sbx_sys4(__NR_rt_sigaction, sig, 0, (long)&cur, 8) == 0 && cur.handler == SBX_SIG_DFL) {
        /* The kernel reset the handler only: the guest's flags read back. */
        guest_dfl[sig] = (struct guest_sa){ SBX_SIG_DFL, g.flags };
        guest_dfl_restorer[sig] = cur.restorer;
        install_dfl(sig, cur.mask);
    }
    if (g.handler <= 1)
        return; /* reset meanwhile: nothing the guest asked for runs */
    if (g.flags & SBX_SA_SIGINFO)
        ((sbx_sa_sigaction *)g.handler)(sig, si, uc);
    else
        ((sbx_sa_handler *)g.handler)(sig);
}

long sbx_trace_rt_sigaction(struct sbx_call *c, struct sbx_ksigaction *act)
{
    int sig = (int)c->a[0];
    struct sbx_ksigaction *oact = (struct sbx_ksigaction *)c->a[2];
    if (sig < 1 || sig > 64)
        return sbx_call_gate(c);
    struct guest_sa old = guest_sa[sig], old_dfl = guest_dfl[sig];
    uint64_t old_restorer = guest_dfl_restorer[sig];
    if (act && act->handler > 1) {
        guest_sa[sig] = (struct guest_sa){ act->handler, act->flags };
        act->handler = (uint64_t)sig_wrapper;
        act->flags |= SBX_SA_SIGINFO;
    } else if (act && act->handler == SBX_SIG_DFL && fatal_default(sig)) {
        /* A fatal default: watched by dfl_wrapper, read back as the guest set it. */
        guest_dfl[sig] = (struct guest_sa){ SBX_SIG_DFL, act->flags };
        guest_dfl_restorer[sig] = act->restorer;
        act->handler = (uint64_t)dfl_wrapper;
        act->flags = SBX_SA_SIGINFO | SBX_SA_RESTORER | SA_ONSTACK;
        act->restorer = (uint64_t)sbx_tramp_restorer;
    }
    /* SIG_IGN stays the kernel's to carry out: a handler would change what it does. */
    long r = sbx_call_gate(c);
    if (r < 0) {
        guest_sa[sig] = old;
        guest_dfl[sig] = old_dfl;
        guest_dfl_restorer[sig] = old_restorer;
        return r;
    }
    if (oact && oact->handler == (uint64_t)sig_wrapper) {
        oact->handler = old.handler;
        oact->flags = old.flags;
    } else if (oact && oact->handler == (uint64_t)dfl_wrapper) {
        oact->handler = SBX_SIG_DFL;
        oact->flags = old_dfl.flags;
        oact->restorer = old_restorer;
    }
    return r;
}

/*
 * At startup (each exec): the signals at SIG_DFL whose default ends the
 * process get dfl_wrapper; what the guest reads back stays what the kernel
 * had.  Those at SIG_IGN (inherited across exec) are left alone.
 */
static void watch_defaults(void)
{
    for (int sig = 1; sig <= 64; sig++) {
        struct sbx_ksigaction cur;
        if (!fatal_default(sig) || sbx_sys4(__NR_rt_sigaction, sig, 0, (long)&cur, 8) < 0 ||
            cur.handler != SBX_SIG_DFL)
            continue;
        guest_dfl[sig] = (struct guest_sa){ SBX_SIG_DFL, cur.flags };
        guest_dfl_restorer[sig] = cur.restorer;
        install_dfl(sig, cur.mask);
    }
}

void sbx_trace_exec(const char *path, char *const *argv)
{
    if (!sbx_trace_wants(__NR_execve))
        return;
    long a[6] = { (long)path, (long)argv, 0, 0, 0, 0 };
    put(__NR_execve, a, 0, SBX_TRACE_EXEC, 0);
}

/*
 * Reads what the ring's header asks for.  The header is the guest's to
 * write, too: a guest can narrow what later programs record (never what the
 * kernel's policy decides); tracing is an account of a cooperating workload.
 */
int sbx_trace_wanted(uint8_t *sel)
{
    struct stat st;
    struct sbx_trace_ring h;
    if (sbx_sys2(__NR_fstat, SBX_FD_STATS, (long)&st) < 0 ||
        st.st_size <= (long)(SBX_TRACE_OFFSET + sizeof(h)) ||
        sbx_pread_full(SBX_FD_STATS, &h, sizeof(h), SBX_TRACE_OFFSET) != (long)sizeof(h) ||
        h.magic != SBX_TRACE_MAGIC)
        return 0;
    if (h.what != SBX_TRACE_SELECT) {
        for (int i = 0; i < 512; i++)
            sel[i] = 1;
        return SBX_TRACE_ALL;
    }
    for (int i = 0; i < 512; i++)
        sel[i] = (h.select[i / 64] >> (i % 64)) & 1;
    return SBX_TRACE_SELECT;
}

void sbx_trace_init(void)
{
    struct stat st;
    if (sbx_sys2(__NR_fstat, SBX_FD_STATS, (long)&st) < 0 || st.st_size <= (long)SBX_TRACE_OFFSET)
        return;
    uint64_t bytes = (uint64_t)st.st_size - SBX_TRACE_OFFSET;
    uint64_t nrec = sbx_trace_nrec(bytes);
    if (nrec == 0)
        return;
    if (bytes > SBX_TRAMPOLINE_TRACE_MAX)
        bytes = SBX_TRAMPOLINE_TRACE_MAX;
    long m = sbx_tramp_syscall6(__NR_mmap, (long)SBX_TRAMPOLINE_TRACE_ADDR, (long)bytes,
                                PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
                                SBX_FD_STATS, SBX_TRACE_OFFSET);
    if (m != (long)SBX_TRAMPOLINE_TRACE_ADDR)
        return;
    int what = ring()->magic == SBX_TRACE_MAGIC ? sbx_trace_wanted(sbx_trace_sel) : 0;
    if (!what) {
        sbx_sys2(__NR_munmap, m, (long)bytes);
        return;
    }
    ring_mask = nrec - 1;
    sbx_trace_signals = what == SBX_TRACE_ALL;
    one_tid = (int32_t)sbx_sys0(__NR_gettid);
    if (sbx_trace_signals)
        watch_defaults();
    sbx_trace_on = 1;
    /* The filter gates what is traced: its sites are worth patching. */
    sbx_gate_also(sbx_trace_sel);
}
