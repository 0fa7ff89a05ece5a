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
#include <linux/falloc.h>
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <asm/stat.h>

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

/* The request's mode: "trap" or "rewrite", optionally ":close=N" (an fd of a re-exec). */
static int parse_mode(const char *s, int *close_fd)
{
    static const char suffix[] = ":close=";
    int mode;
    size_t n;
    if (memcmp(s, SBX_MODE_NAME_TRAP, 4) == 0) {
        mode = SBX_MODE_TRAP;
        n = 4;
    } else if (memcmp(s, SBX_MODE_NAME_REWRITE, 7) == 0) {
        mode = SBX_MODE_REWRITE;
        n = 7;
    } else {
        return -EINVAL;
    }
    *close_fd = -1;
    if (s[n] == '\0')
        return mode;
    if (memcmp(s + n, suffix, sizeof(suffix) - 1) != 0)
        return -EINVAL;
    s += n + sizeof(suffix) - 1;
    int fd = 0;
    for (; *s >= '0' && *s <= '9' && fd < 100000; s++)
        fd = fd * 10 + (*s - '0');
    if (*s)
        return -EINVAL;
    *close_fd = fd;
    return mode;
}

/*
 * Reads this process's exec request from SBX_FD_EXEC (abi.h): "MODE\0PATH\0"
 * in the slot of its pid, then punches the slot out so it takes no memory.
 * Returns the mode with *ret_path pointing into static storage, or -errno.
 */
static int read_request(const char **ret_path, int *close_fd)
{
    static char req[SBX_EXEC_SLOT + 1];
    long pid = sbx_sys0(__NR_getpid);
    long off = pid * SBX_EXEC_SLOT;
    long m = sbx_tramp_syscall6(__NR_mmap, 0, SBX_EXEC_SLOT, PROT_READ, MAP_SHARED, SBX_FD_EXEC,
                                off);
    if (m < 0)
        return (int)m;
    memcpy(req, (const void *)m, SBX_EXEC_SLOT);
    sbx_sys2(__NR_munmap, m, SBX_EXEC_SLOT);
    sbx_sys4(__NR_fallocate, SBX_FD_EXEC, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
             SBX_EXEC_SLOT);
    req[SBX_EXEC_SLOT] = '\0';
    size_t ml = sbx_strlen(req);
    if (ml == 0 || ml + 1 >= SBX_EXEC_SLOT)
        return -EINVAL;
    const char *path = req + ml + 1;
    if (!path[0] || ml + 1 + sbx_strlen(path) >= SBX_EXEC_SLOT)
        return -EINVAL;
    int mode = parse_mode(req, close_fd);
    if (mode < 0)
        return mode;
    *ret_path = path;
    return mode;
}

_Static_assert(sizeof(struct sbx_stats) <= SBX_TRAMPOLINE_STATS_MAX, "stats overlap the image");

static void map_stats(void)
{
    struct stat st;
    if (sbx_sys2(__NR_fstat, SBX_FD_STATS, (long)&st) < 0)
        return;
    sbx_tramp.keep_stats_fd = 1;
    if (st.st_size < (long)sizeof(struct sbx_stats))
        return;
    long m = sbx_tramp_syscall6(__NR_mmap, (long)SBX_TRAMPOLINE_STATS_ADDR,
                                sizeof(struct sbx_stats), PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_FIXED_NOREPLACE, SBX_FD_STATS, 0);
    if (m != (long)SBX_TRAMPOLINE_STATS_ADDR)
        return;
    const struct sbx_stats *stats = (const struct sbx_stats *)SBX_TRAMPOLINE_STATS_ADDR;
    if (stats->magic != SBX_STATS_MAGIC) {
        sbx_sys2(__NR_munmap, m, sizeof(struct sbx_stats));
        return;
    }
    sbx_tramp.stats_mapped = 1;
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
 * script, [interp, arg?, path] in front of argv[1..]), envp is unchanged,
 * auxv is rebuilt.  They end where the old ones ended, and
 * _start keeps C code 8 KiB below sp, so they never meet a live frame.
 */
static uint64_t build_stack(uint64_t *sp, char **prefix, unsigned nprefix, unsigned skip,
                            const uint64_t *aux, unsigned naux_words)
{
    uint64_t argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **env = argv + argc + 1;
    char **e = env;
    while (*e)
        e++;
    uint64_t *old_aux = (uint64_t *)(e + 1);
    while (old_aux[0] != AT_NULL)
        old_aux += 2;
    uint64_t old_end = (uint64_t)(old_aux + 2);

    /* Words copied verbatim: argv[skip..argc], NULL, envp..., NULL. */
    uint64_t *copy_from = (uint64_t *)(argv + (skip < argc ? skip : argc));
    uint64_t copy_words = (uint64_t)((uint64_t *)(e + 1) - copy_from);
    uint64_t words = 1 + nprefix + copy_words + naux_words;
    uint64_t *nsp = (uint64_t *)((old_end - words * 8) & ~15ULL);

    memmove(nsp + 1 + nprefix, copy_from, copy_words * 8);
    nsp[0] = (argc > skip ? argc - skip : 0) + nprefix;
    for (unsigned i = 0; i < nprefix; i++)
        nsp[1 + i] = (uint64_t)prefix[i];
    memcpy(nsp + 1 + nprefix + copy_words, aux, naux_words * 8);
    return (uint64_t)nsp;
}

static unsigned make_auxv(uint64_t *out, const struct aux_in *in, const struct sbx_tramp_image *exe,
                          const struct sbx_tramp_image *interp, const char *execfn)
{
    static const int passed[] = { AT_SYSINFO_EHDR, AT_MINSIGSTKSZ, AT_HWCAP,  AT_PAGESZ,
                                  AT_CLKTCK,       AT_UID,         AT_EUID,   AT_GID,
                                  AT_EGID,         AT_HWCAP2,      AT_PLATFORM, AT_RSEQ_FEATURE_SIZE,
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
    sbx_tramp.guard_hi = (uint64_t)__sbx_image_end;
    if ((uint64_t)sbx_tramp_gate != SBX_TRAMPOLINE_GATE)
        fail(EFAULT, SBX_STAGE_SETUP);

    int r = sbx_tramp_install_handler();
    if (r < 0)
        fail(-r, SBX_STAGE_SETUP);
    r = sbx_tramp_setup_filter();
    if (r < 0)
        fail(-r, SBX_STAGE_FILTER);
    first_start = r == 1;

    int close_fd = -1;
    const char *path = 0;
    int mode = read_request(&path, &close_fd);
    if (mode < 0)
        fail(-mode, SBX_STAGE_SETUP);
    sbx_tramp.mode = mode;
    map_stats();
    sbx_trace_init();
    sbx_rw_init();

    static struct sbx_tramp_target t;
    r = sbx_tramp_resolve(path, 0, &t);
    if (close_fd >= 0)
        sbx_sys1(__NR_close, close_fd);
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
    uint64_t nsp = build_stack(sp, prefix, nprefix, skip, aux, naux);
    uint64_t entry = t.plan.interp_len ? interp.entry : exe.entry;

    if (first_start)
        sbx_sys1(__NR_close, SBX_FD_STATUS);
    sbx_tramp_enter(nsp, entry);
}
