/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Startup of the trampoline: parse the kernel's stack, install the SIGSYS
 * handler and the IP-gated filter, load the guest (and its interpreter),
 * rebuild argv/envp/auxv in place for the guest and jump to it.
 *
 * Signal-safety contract: runs once, single-threaded, before any guest code.
 * It writes struct sbx_tramp_state, which the handler only reads afterwards.
 * The SIGSYS handler may already run during startup (the filter probe and,
 * after the filter is installed, nothing else: all startup syscalls use the
 * gate).
 */
#include <elf.h>
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <asm/stat.h>
#include <linux/stat.h>

#include "loader.h"
#include "rewrite.h"
#include "trace.h"
#include "sbx/abi.h"

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif
#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE 27
#endif
#ifndef AT_RSEQ_ALIGN
#define AT_RSEQ_ALIGN 28
#endif

/* The guest's auxv has at most this many entries, AT_NULL included. */
#define AUX_MAX 32

struct sbx_tramp_state sbx_tramp;

SBX_NORETURN void sbx_tramp_main(uint64_t *sp);

/*
 * Whether sandbox init started this trampoline and so holds SBX_FD_STATUS.
 * After a re-exec inside the sandbox, fd 1020 is the guest's own, if anything,
 * and is neither written nor closed.  Until the filter tells (a re-exec finds
 * it installed), "no filter at all" is the sure sign of a first start.
 */
static int first_start;

static SBX_NORETURN void fail(int err, int stage)
{
    if (first_start) {
        struct sbx_status_record rec = { .err = err, .stage = stage };
        sbx_sys3(__NR_write, SBX_FD_STATUS, (long)&rec, sizeof(rec));
    }
    sbx_exit(err == ENOENT ? 127 : 126);
}

/* The exec request (abi.h), read from the end of envp at startup. */
struct request {
    int mode;       /* enum sbx_syscall_mode */
    int close_fd;   /* ":close=N", or -1 */
    int keep_stats; /* ":stats" */
    int byfd;       /* ":byfd" */
    int self;       /* ":self" */
    size_t hot_len; /* ":hot=": hot_hex[0..hot_len) */
    char **tag;     /* the envp slot of the tag: envp ends here for the guest */
};

static int parse_opt(const char *s, const char *opt, const char **rest)
{
    size_t n = sbx_strlen(opt);
    if (memcmp(s, opt, n) != 0)
        return 0;
    *rest = s + n;
    return 1;
}

/* The hot sites of ":hot=", copied: the request's strings are cleared. */
static char hot_hex[SBX_EXEC_REQUEST_MAX];

/* The mode: "trap" or "rewrite", then options (abi.h). */
static int parse_mode(const char *s, struct request *rq)
{
    if (parse_opt(s, SBX_MODE_NAME_TRAP, &s))
        rq->mode = SBX_MODE_TRAP;
    else if (parse_opt(s, SBX_MODE_NAME_REWRITE, &s))
        rq->mode = SBX_MODE_REWRITE;
    else
        return -EINVAL;
    rq->close_fd = -1;
    while (*s) {
        if (parse_opt(s, ":stats", &s)) {
            rq->keep_stats = 1;
        } else if (parse_opt(s, ":byfd", &s)) {
            rq->byfd = 1;
        } else if (parse_opt(s, ":self", &s)) {
            rq->self = 1;
        } else if (parse_opt(s, ":hot=", &s)) {
            size_t n = 0;
            while (s[n] && s[n] != ':' && n < sizeof(hot_hex))
                n++;
            memcpy(hot_hex, s, n);
            rq->hot_len = n;
            s += n;
        } else if (parse_opt(s, ":close=", &s)) {
            int fd = 0;
            if (*s < '0' || *s > '9')
                return -EINVAL;
            for (; *s >= '0' && *s <= '9' && fd < 100000; s++)
                fd = fd * 10 + (*s - '0');
            rq->close_fd = fd;
        } else {
            return -EINVAL;
        }
    }
    return 0;
}

/*
 * Takes the exec request from the last two strings of envp (abi.h): the
 * tagged mode and the path.  The path is copied to static storage and both
 * strings are cleared, so the guest finds nothing of them in its memory.
 * Returns 0 with *ret_path set, or -errno.
 */
static int read_request(uint64_t *sp, struct request *rq, const char **ret_path)
{
    static char path[SBX_EXEC_REQUEST_MAX];
    char **env = (char **)(sp + 1) + sp[0] + 1, **e = env;
    while (*e)
        e++;
    if (e - env < 2)
        return -EINVAL;
    char *tag = e[-2], *p = e[-1];
    size_t tl = sbx_strlen(SBX_EXEC_TAG), ml = sbx_strlen(tag), pl = sbx_strlen(p);
    if (ml < tl || memcmp(tag, SBX_EXEC_TAG, tl) != 0 || pl == 0 || ml + pl + 2 > sizeof(path))
        return -EINVAL;
    int r = parse_mode(tag + tl, rq);
    if (r < 0)
        return r;
    memcpy(path, p, pl + 1);
    memset(tag, 0, ml);
    memset(p, 0, pl);
    rq->tag = e - 2;
    *ret_path = path;
    return 0;
}

_Static_assert(sizeof(struct sbx_stats) <= SBX_TRAMPOLINE_STATS_MAX, "stats overlap the image");

/*
 * Whether SBX_FD_STATS, which sandbox init left, asks to be kept open (only
 * `--stats` does).  Asked on the sandbox's first start only, and even then
 * it only reads a regular file of the stats page's size.
 */
static int stats_fd_wants_keeping(void)
{
    struct stat st;
    uint64_t head[2];
    if (sbx_sys2(__NR_fstat, SBX_FD_STATS, (long)&st) < 0 || (st.st_mode & S_IFMT) != S_IFREG ||
        st.st_size < (long)sizeof(struct sbx_stats) ||
        sbx_pread_full(SBX_FD_STATS, head, sizeof(head), 0) != (long)sizeof(head))
        return 0;
    return head[0] == SBX_STATS_MAGIC && (head[1] & SBX_STATS_KEEP_FD);
}

/*
 * Without the stats memfd (an exec when `--stats` did not keep it), rewrite
 * mode still wants a stats page for its hot sites, shared with this
 * program's children: an anonymous shared one, which nobody reads counts
 * from.  The exec request brings the hot sites along (":hot=").
 */
static void map_own_stats(void)
{
    if (sbx_tramp.mode != SBX_MODE_REWRITE)
        return;
    long m = sbx_tramp_syscall6(__NR_mmap, (long)SBX_TRAMPOLINE_STATS_ADDR,
                                sizeof(struct sbx_stats), PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m != (long)SBX_TRAMPOLINE_STATS_ADDR)
        return;
    ((struct sbx_stats *)m)->magic = SBX_STATS_MAGIC;
    sbx_tramp.stats_mapped = 1;
}

/*
 * Maps the stats page at its fixed address.  SBX_FD_STATS is looked at on
 * the sandbox's first start, or when the exec'ing trampoline kept it
 * (":stats"); otherwise it may be the guest's own descriptor.  Unless it is
 * kept, the descriptor is closed: the shared mapping goes on to this
 * process's children, and a program exec'd later has no stats page.
 */
static void map_stats(int look, int keep)
{
    struct stat st;
    if (!look || sbx_sys2(__NR_fstat, SBX_FD_STATS, (long)&st) < 0) {
        map_own_stats();
        return;
    }
    sbx_tramp.keep_stats_fd = keep;
    if (st.st_size >= (long)sizeof(struct sbx_stats)) {
        long m = sbx_tramp_syscall6(__NR_mmap, (long)SBX_TRAMPOLINE_STATS_ADDR,
                                    sizeof(struct sbx_stats), PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_FIXED_NOREPLACE, SBX_FD_STATS, 0);
        if (m == (long)SBX_TRAMPOLINE_STATS_ADDR) {
            const struct sbx_stats *stats = (const struct sbx_stats *)m;
            if (stats->magic == SBX_STATS_MAGIC)
                sbx_tramp.stats_mapped = 1;
            else
                sbx_sys2(__NR_munmap, m, sizeof(struct sbx_stats));
        }
    }
    if (!keep)
        sbx_sys1(__NR_close, SBX_FD_STATS);
}

/* Remembers what /proc/self/exe should read back as: the file actually run. */
static void record_exe(int fd, const char *fallback)
{
    char link[32] = "/proc/self/fd/";
    size_t n = sbx_strlen(link);
    n += sbx_utoa((uint64_t)fd, link + n);
    link[n] = '\0';
    long r = sbx_sys4(__NR_readlinkat, AT_FDCWD, (long)link, (long)sbx_tramp.exe_path,
                      sizeof(sbx_tramp.exe_path) - 1);
    if (r <= 0 || sbx_tramp.exe_path[0] != '/') {
        r = (long)sbx_strlen(fallback);
        if (r >= (long)sizeof(sbx_tramp.exe_path))
            r = sizeof(sbx_tramp.exe_path) - 1;
        memcpy(sbx_tramp.exe_path, fallback, (size_t)r);
    }
    sbx_tramp.exe_path[r] = '\0';
    sbx_tramp.exe_len = (size_t)r;
}

struct aux_in {
    uint64_t val[AUX_MAX * 2];
    int have[64];
    uint64_t get[64];
};

static void aux_put(uint64_t *aux, unsigned *n, uint64_t type, uint64_t val)
{
    aux[(*n)++] = type;
    aux[(*n)++] = val;
}

/*
 * Rewrites the kernel's tables for the guest.  The old layout at sp is
 * argc, argv[0..argc], envp[..NULL], auxv[..AT_NULL], then strings.  The new
 * tables keep the strings where they are: argv is the guest's (or, for a
 * script, [interp, arg?, path] in front of argv[1..]), envp is the guest's
 * (up to env_end, the exec request's slot), auxv is rebuilt.  They end where
 * the old ones ended, and _start keeps C code 8 KiB below sp, so they never
 * meet a live frame.
 */
static uint64_t build_stack(uint64_t *sp, char **prefix, unsigned nprefix, unsigned skip,
                            char **env_end, const uint64_t *aux, unsigned naux_words)
{
    uint64_t argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **e = env_end;
    while (*e)
        e++;
    uint64_t *old_aux = (uint64_t *)(e + 1);
    while (old_aux[0] != AT_NULL)
        old_aux += 2;
    uint64_t old_end = (uint64_t)(old_aux + 2);

    /* Words copied verbatim: argv[skip..argc], NULL, envp up to env_end; then a NULL. */
    uint64_t *copy_from = (uint64_t *)(argv + (skip < argc ? skip : argc));
    uint64_t copy_words = (uint64_t)((uint64_t *)env_end - copy_from);
    uint64_t words = 1 + nprefix + copy_words + 1 + naux_words;
    uint64_t *nsp = (uint64_t *)((old_end - words * 8) & ~15ULL);

    memmove(nsp + 1 + nprefix, copy_from, copy_words * 8);
    nsp[0] = (argc > skip ? argc - skip : 0) + nprefix;
    for (unsigned i = 0; i < nprefix; i++)
        nsp[1 + i] = (uint64_t)prefix[i];
    nsp[1 + nprefix + copy_words] = 0;
    memcpy(nsp + 1 + nprefix + copy_words + 1, aux, naux_words * 8);
    return (uint64_t)nsp;
}

/*
 * Tells the kernel what it would have recorded had it exec'd the guest
 * itself (prctl PR_SET_MM_MAP, unprivileged unless the exe file changes):
 * the program's code and data, a break after the program (natively placed,
 * so /proc/self/maps shows [heap] where a native process has it), the
 * guest's stack, the environment without the exec request, and the guest's
 * auxv, which /proc/self/auxv reads.  The kernel's own values describe the
 * trampoline.  A policy that refuses prctl leaves them so (startup goes on:
 * this is what the guest sees, not what it may do).
 */
struct mm_strings {
    uint64_t arg_start, env_start, env_end;
};

/* Where argv's and envp's strings lie (read before the tables are rebuilt). */
static struct mm_strings mm_strings(uint64_t *sp, char **tag)
{
    char **argv = (char **)(sp + 1), **env = argv + sp[0] + 1;
    uint64_t env_start = (uint64_t)(env < tag ? env[0] : tag[0]);
    return (struct mm_strings){
        .arg_start = sp[0] ? (uint64_t)argv[0] : env_start,
        .env_start = env_start,
        .env_end = (uint64_t)tag[0],
    };
}

static void set_mm(const struct sbx_tramp_image *exe, const struct sbx_elf_plan *plan,
                   const struct mm_strings *str, uint64_t nsp, const uint64_t *aux,
                   unsigned naux_words)
{
    uint64_t code_lo = UINT64_MAX, code_hi = 0, data_lo = 0, data_hi = 0;
    for (unsigned i = 0; i < plan->nseg; i++) {
        const struct sbx_elf_segment *g = &plan->seg[i];
        uint64_t lo = g->map_addr + exe->bias, hi = lo + g->file_len;
        if (lo < code_lo)
            code_lo = lo;
        if ((g->prot & PROT_EXEC) && hi > code_hi)
            code_hi = hi;
        if (lo > data_lo)
            data_lo = lo;
        if (hi > data_hi)
            data_hi = hi;
    }
    if (code_hi <= code_lo) {
        code_lo = plan->lo + exe->bias;
        code_hi = plan->hi + exe->bias;
    }
    if (data_hi < data_lo)
        data_hi = data_lo;
    uint64_t rnd = 0;
    sbx_sys3(__NR_getrandom, (long)&rnd, sizeof(rnd), 0);
    /* As the kernel randomizes it: up to 32 MiB above the program's end, page-granular. */
    uint64_t brk = plan->hi + exe->bias + (rnd % 8192) * 4096;
    struct prctl_mm_map m = {
        .start_code = code_lo,
        .end_code = code_hi,
        .start_data = data_lo,
        .end_data = data_hi,
        .start_brk = brk,
        .brk = brk,
        .start_stack = nsp,
        .arg_start = str->arg_start,
        .arg_end = str->env_start,
        .env_start = str->env_start,
        .env_end = str->env_end,
        .auxv = (__u64 *)aux,
        .auxv_size = naux_words * 8,
        .exe_fd = (uint32_t)-1,
    };
    sbx_sys5(__NR_prctl, PR_SET_MM, PR_SET_MM_MAP, (long)&m, sizeof(m), 0);
}

/*
 * The kernel named the process after the trampoline's memfd or "exe"; a
 * native exec names it after the last component of the path it was given,
 * or after the file's own name for an exec by descriptor.
 */
static void set_comm(const struct request *rq, const char *path)
{
    const char *name = rq->self ? "exe" : rq->byfd ? sbx_tramp.exe_path : path;
    const char *base = name;
    for (const char *c = name; *c; c++)
        if (*c == '/' && c[1])
            base = c + 1;
    char comm[16];
    size_t n = 0;
    while (base[n] && base[n] != '/' && n < sizeof(comm) - 1) {
        comm[n] = base[n];
        n++;
    }
    comm[n] = '\0';
    sbx_sys2(__NR_prctl, PR_SET_NAME, (long)comm);
}

static unsigned make_auxv(uint64_t *out, const struct aux_in *in, const struct sbx_tramp_image *exe,
                          const struct sbx_tramp_image *interp, const char *execfn)
{
    static const int passed[] = { AT_SYSINFO_EHDR, AT_MINSIGSTKSZ, AT_HWCAP,
                                  AT_PAGESZ,       AT_CLKTCK,      AT_UID,
                                  AT_EUID,         AT_GID,         AT_EGID,
                                  AT_HWCAP2,       AT_PLATFORM,    AT_RSEQ_FEATURE_SIZE,
                                  AT_RSEQ_ALIGN };
    unsigned n = 0;
    for (unsigned i = 0; i < SBX_ARRAY_SIZE(passed); i++)
        if (in->have[passed[i]])
            aux_put(out, &n, (uint64_t)passed[i], in->get[passed[i]]);
    aux_put(out, &n, AT_PHDR, exe->phdr_addr);
    aux_put(out, &n, AT_PHENT, sizeof(Elf64_Phdr));
    aux_put(out, &n, AT_PHNUM, exe->phnum);
    aux_put(out, &n, AT_BASE, interp ? interp->bias : 0);
    aux_put(out, &n, AT_FLAGS, 0);
    aux_put(out, &n, AT_ENTRY, exe->entry);
    aux_put(out, &n, AT_SECURE, 0);
    if (in->have[AT_RANDOM]) {
        /* Fresh bytes for the guest's stack protector and pointer guard. */
        sbx_sys3(__NR_getrandom, (long)in->get[AT_RANDOM], 16, 0);
        aux_put(out, &n, AT_RANDOM, in->get[AT_RANDOM]);
    }
    aux_put(out, &n, AT_EXECFN, (uint64_t)execfn);
    aux_put(out, &n, AT_NULL, 0);
    return n;
}

static void read_aux(uint64_t *sp, struct aux_in *in)
{
    char **e = (char **)(sp + 1) + sp[0] + 1;
    while (*e)
        e++;
    for (uint64_t *a = (uint64_t *)(e + 1); a[0] != AT_NULL; a += 2) {
        if (a[0] < 64) {
            in->have[a[0]] = 1;
            in->get[a[0]] = a[1];
        }
    }
}

void sbx_tramp_main(uint64_t *sp)
{
    first_start = sbx_sys1(__NR_prctl, PR_GET_SECCOMP) == 0;
    sbx_tramp.guard_lo = SBX_TRAMPOLINE_RESERVED_LO;
    /* The image and what rewrite.c keeps above it (own_mmap). */
    sbx_tramp.guard_hi = SBX_TRAMPOLINE_RESERVED_HI;
    if ((uint64_t)sbx_tramp_gate != SBX_TRAMPOLINE_GATE)
        fail(EFAULT, SBX_STAGE_SETUP);

    int r = sbx_tramp_install_handler();
    if (r < 0)
        fail(-r, SBX_STAGE_SETUP);
    r = sbx_tramp_setup_filter();
    if (r < 0)
        fail(-r, SBX_STAGE_FILTER);
    first_start = r == 1;
    if (first_start)
        sbx_sys1(__NR_close, SBX_FD_TRAMPOLINE);

    struct request rq = { 0 };
    const char *path = 0;
    r = read_request(sp, &rq, &path);
    if (r < 0)
        fail(-r, SBX_STAGE_SETUP);
    sbx_tramp.mode = rq.mode;
    int keep_stats = first_start ? stats_fd_wants_keeping() : rq.keep_stats;
    map_stats(first_start || keep_stats, keep_stats);
    sbx_rw_hot_import(hot_hex, rq.hot_len);
    sbx_trace_init();
    sbx_rw_init();

    static struct sbx_tramp_target t;
    r = sbx_tramp_resolve(path, 0, &t);
    if (rq.close_fd >= 0)
        sbx_sys1(__NR_close, rq.close_fd);
    if (r < 0)
        fail(-r, t.err_stage);

    struct sbx_tramp_image exe, interp;
    r = sbx_tramp_map_plan(t.fd, &t.plan, 0, &exe);
    if (r < 0)
        fail(-r, SBX_STAGE_LOAD);
    if (t.interp_fd >= 0) {
        r = sbx_tramp_map_plan(t.interp_fd, &t.interp_plan, 1, &interp);
        if (r < 0)
            fail(-r, SBX_STAGE_LOAD);
    }
    record_exe(t.fd, t.is_script ? t.sh_interp : path);
    sbx_trace_exec(path, (char *const *)(sp + 1));
    sbx_tramp_target_close(&t);
    set_comm(&rq, path);

    static struct aux_in in;
    uint64_t aux[AUX_MAX * 2];
    read_aux(sp, &in);
    unsigned naux = make_auxv(aux, &in, &exe, t.plan.interp_len ? &interp : 0, path);

    /* A script runs as: interp [arg] path argv[1]... (the guest's argv[0] goes). */
    char *prefix[3];
    unsigned nprefix = 0, skip = 0;
    if (t.is_script) {
        /* The strings live in static storage, which outlives startup. */
        prefix[nprefix++] = (char *)t.sh_interp;
        if (t.sh_arg)
            prefix[nprefix++] = (char *)t.sh_arg;
        prefix[nprefix++] = (char *)path;
        skip = 1;
    }
    struct mm_strings str = mm_strings(sp, rq.tag);
    uint64_t nsp = build_stack(sp, prefix, nprefix, skip, rq.tag, aux, naux);
    uint64_t entry = t.plan.interp_len ? interp.entry : exe.entry;
    set_mm(&exe, &t.plan, &str, nsp, aux, naux);

    if (first_start)
        sbx_sys1(__NR_close, SBX_FD_STATUS);
    sbx_tramp_enter(nsp, entry);
}
