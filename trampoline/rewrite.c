/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode: syscall sites in guest code, found at proven instruction
 * boundaries, are sent through per-site stubs to the fast entry (entry.S)
 * instead of trapping.  Two shapes (rewrite-site.h):
 *
 * A mov site A is `b8 imm32 0f 05`.  Only its 5-byte mov becomes `e9 rel32`
 * to a stub; the `syscall` at A+5 stays, so every instruction boundary
 * survives and a branch straight to A+5 still traps.  Its stub (64 bytes):
 *
 *   +0  lea -128(%rsp),%rsp      step over the guest's red zone
 *   +5  mov $imm32,%eax
 *   +10 call *slot(%rip)         slot = first 8 bytes of the stub page(s)
 *   +16 lea 128(%rsp),%rsp
 *   +24 lea A+7(%rip),%rcx       what a real syscall leaves in rcx
 *   +31 jmp A+7
 *   +36 lea 128(%rsp),%rsp       the fast entry returns here (+20) when the
 *   +44 jmp A+5                  call needs the trap path: eax = nr again
 *
 * A syscall site S is any other `0f 05` (eax from a register, `xor
 * %eax,%eax` as in glibc's read, memory).  It becomes `eb rel8` to a slot P,
 * five bytes of dead padding within 128 bytes that become `e9 rel32` to the
 * stub (sbx_rw_find_slot proves the padding dead); S+2 is untouched, so the
 * trap of the call that patches it returns where it always did.  Its stub:
 *
 *   +0  lea -128(%rsp),%rsp
 *   +5  call *slot(%rip)         rax is the guest's number, whatever it is
 *   +11 lea 128(%rsp),%rsp
 *   +19 lea S+2(%rip),%rcx
 *   +26 jmp S+2
 *   +31 lea 128(%rsp),%rsp       the trap path (+11 + 20): a real `syscall`
 *   +39 syscall                  here, with the guest's registers and stack
 *   +41 lea S+2(%rip),%rcx
 *   +48 jmp S+2
 *
 * Proofs.  A site counts only at an instruction boundary proven by linear
 * decoding (x86-decode.c) from a known point: the start of an executable
 * segment, an executable section's start or end, a function symbol's start
 * or end, an .eh_frame function start (rewrite-elf.c), or the start of an
 * anonymous range (a JIT's buffer).  In file-backed code, decoding from the
 * last known point before a candidate must land exactly on it (whole ranges
 * are searched for `syscall` first, scan_candidates).  Anonymous code is
 * swept whole (scan_range) for mov sites only: a site counts when the sweep
 * that found it lands exactly on the next known point, or the range's end,
 * without an undecodable byte.
 *
 * When.  Code that nobody can run yet is patched before it becomes
 * executable: it is mapped (mmap, the loader) or mprotect'ed readable and
 * not executable, patched, then given the guest's protection, so no page is
 * ever writable and executable.  Scanning all of a libc and ld.so at every
 * exec costs 2 ms (12 ms as a full sweep), more than a short-lived process
 * saves, so file-backed code of a single-threaded process is only
 * registered (its known points kept) and each site is patched lazily at its
 * second trap (docs/trampoline.md has the measurements).  Before the
 * first thread starts (the first clone sharing memory, still
 * single-threaded) every registered range is scanned and patched; from then
 * on new mappings are patched eagerly and code that another thread may be
 * running is never written (in-place rewriting with int3 + membarrier is
 * not implemented): it keeps the trap path, and a forked child, which is
 * single-threaded again, patches it lazily.  Anonymous code (JIT) is small
 * and patched eagerly.  Guest signals are blocked while guest code is not
 * executable.
 *
 * Signal-safety contract: see rewrite.h.  Shared state (regions, stub
 * areas, `threaded`) is changed under a try-lock; scratch memory is
 * mmap'ed per call.
 */
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <asm/stat.h>

#include "rewrite-internal.h"
#include "trace.h"
#include "sbx/abi.h"
#include "sbx/sitemap.h"
#include "x86-decode.h"

#define PAGE 4096ULL
#define STUB_SIZE 64
#define STUB_HDR 64
#define MAX_AREAS 1024
#define MAX_REGIONS 256
#define MAPS_MAX (1 << 20)
/* How far a lazy proof may decode. */
#define LAZY_REACH (256 << 10)
/* rel32 reach, with room for the size of a stub area. */
#define REACH ((1LL << 31) - (16LL << 20))

struct area {
    uint64_t lo, hi;
};

/* File-backed code registered for lazy patching. */
struct region {
    uint64_t lo, hi; /* code bytes; lo == hi: free slot */
    int prot;
    uint64_t *starts; /* sorted known points in [lo, hi], own mapping */
    size_t nstarts;
    uint64_t starts_bytes;
    uint64_t stubs; /* stub page for lazy patches, or 0 */
    unsigned stubs_used;
    uint64_t dev, ino, foff; /* the file, and the file offset at lo */
};

/* The stats page's patched[] counters, or NULL; read by the fast entry. */
uint64_t *sbx_tramp_patched_ctr;

static int rw_lock;
static int threaded;
static struct area areas[MAX_AREAS];
static unsigned nareas;
static struct region regions[MAX_REGIONS];
/* Slots at and above this were never used: searches stop here (every trap searches). */
static unsigned regions_used;

static int try_lock(void)
{
    return __atomic_exchange_n(&rw_lock, 1, __ATOMIC_ACQUIRE) == 0;
}

static void release(void)
{
    __atomic_store_n(&rw_lock, 0, __ATOMIC_RELEASE);
}

/*
 * Memory that changed (munmap, mremap, MAP_FIXED, mprotect) while somebody
 * else held the lock: sbx_rw_forget could not drop the regions there, so it
 * bumps stale_gen, and whoever holds the lock next (or still holds it) drops
 * every region before it reads any.  Registered code is a cache; losing it
 * only costs traps.
 */
static unsigned stale_gen, stale_done;

static void region_drop(uint64_t addr, uint64_t len);

static void drop_if_stale(void)
{
    unsigned g = __atomic_load_n(&stale_gen, __ATOMIC_ACQUIRE);
    if (g != stale_done) {
        stale_done = g;
        region_drop(0, UINT64_MAX);
    }
}

static int lock(void)
{
    if (!try_lock())
        return 0;
    drop_if_stale();
    return 1;
}

static void unlock(void)
{
    drop_if_stale();
    release();
}

static int rewriting(void)
{
    return sbx_tramp.mode == SBX_MODE_REWRITE;
}

static int is_threaded(void)
{
    return __atomic_load_n(&threaded, __ATOMIC_ACQUIRE);
}

/* ---- the image's site map (include/sbx/sitemap.h) ---- */

/*
 * The daemon proved every site of a read-only image's files ahead of time
 * and checked the map it appended to this trampoline's sealed memfd.  A
 * mapping of a file the map lists gets all its sites patched before it
 * becomes executable, with no search and no proof here: nothing of it traps
 * first, and nothing of it is registered for lazy patching.  A file is known
 * by inode, size, mtime and ctime (include/sbx/sitemap.h); a file that
 * matches and still changed is someone's own code, which the map can only
 * mis-patch for whoever runs it (docs/security.md).
 */
static const struct sbx_sitemap_header *sitemap;
static const struct sbx_sitemap_file *sitemap_files;
static const struct sbx_sitemap_site *sitemap_sites;

static void sitemap_map_from(int fd)
{
    struct stat st;
    struct sbx_sitemap_footer ft;
    /* The map leaves out the sites of ungated numbers, which a trace gates: patch lazily. */
    if (sbx_trace_on)
        return;
    if (sbx_sys2(__NR_fstat, fd, (long)&st) < 0 ||
        (uint64_t)st.st_size < sizeof(ft) + sizeof(*sitemap) ||
        sbx_pread_full(fd, &ft, sizeof(ft), st.st_size - sizeof(ft)) != (long)sizeof(ft) ||
        ft.magic != SBX_SITEMAP_FOOTER_MAGIC || ft.bytes < sizeof(*sitemap) ||
        ft.bytes > SBX_SITEMAP_MAX_BYTES || ft.bytes > st.st_size - sizeof(ft))
        return;
    uint64_t at = st.st_size - sizeof(ft) - ft.bytes, page = at & ~(PAGE - 1);
    uint64_t len = at - page + ft.bytes;
    long m = sbx_tramp_syscall6(__NR_mmap, (long)SBX_TRAMPOLINE_SITEMAP_ADDR, (long)len, PROT_READ,
                                MAP_SHARED | MAP_FIXED_NOREPLACE, fd, (long)page);
    if (m != (long)SBX_TRAMPOLINE_SITEMAP_ADDR) {
        if (m >= 0)
            sbx_sys2(__NR_munmap, m, (long)len);
        return;
    }
    const struct sbx_sitemap_header *h = (const void *)(m + (at - page));
    if (h->magic != SBX_SITEMAP_MAGIC || h->version != SBX_SITEMAP_VERSION ||
        h->bytes != ft.bytes || h->nfiles > SBX_SITEMAP_MAX_FILES ||
        h->nsites > SBX_SITEMAP_MAX_SITES ||
        sizeof(*h) + (uint64_t)h->nfiles * sizeof(*sitemap_files) +
                (uint64_t)h->nsites * sizeof(*sitemap_sites) !=
            h->bytes) {
        sbx_sys2(__NR_munmap, m, (long)len);
        return;
    }
    sitemap_files = (const struct sbx_sitemap_file *)(h + 1);
    sitemap_sites = (const struct sbx_sitemap_site *)(sitemap_files + h->nfiles);
    sitemap = h;
}

/*
 * The trampoline's memfd (with the map at its end) is this process's exe
 * file, so it is reached through /proc/self/exe, and no descriptor of it
 * stays open for the guest to see; the mapping outlives the descriptor.
 */
static void sitemap_map(void)
{
    long fd = sbx_sys4(__NR_openat, AT_FDCWD, (long)"/proc/self/exe", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    sitemap_map_from((int)fd);
    sbx_sys1(__NR_close, fd);
}

/* The map's entry for the file open at fd, or NULL. */
static const struct sbx_sitemap_file *sitemap_file(int fd)
{
    struct stat st;
    if (!sitemap || sbx_sys2(__NR_fstat, fd, (long)&st) < 0)
        return NULL;
    size_t lo = 0, hi = sitemap->nfiles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sitemap_files[mid].ino < (uint64_t)st.st_ino)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == sitemap->nfiles)
        return NULL;
    const struct sbx_sitemap_file *f = &sitemap_files[lo];
    int64_t mtime = (int64_t)st.st_mtime * 1000000000 + (int64_t)st.st_mtime_nsec;
    int64_t ctime = (int64_t)st.st_ctime * 1000000000 + (int64_t)st.st_ctime_nsec;
    if (f->ino != (uint64_t)st.st_ino || f->size != (uint64_t)st.st_size || f->mtime_ns != mtime ||
        f->ctime_ns != ctime || (uint64_t)f->first + f->nsites > sitemap->nsites)
        return NULL;
    return f;
}

/*
 * The listed sites of f that lie, with their slots, inside the mapping at
 * addr of file offsets [off, off + len): into out[0..max).
 */
static size_t sitemap_patches(const struct sbx_sitemap_file *f, uint64_t addr, uint64_t off,
                              uint64_t len, struct sbx_rw_patch *out, size_t max)
{
    size_t n = 0;
    for (uint32_t k = 0; k < f->nsites && n < max; k++) {
        const struct sbx_sitemap_site *s = &sitemap_sites[f->first + k];
        int slot = s->slot_at != s->slot_end;
        int64_t lo = slot && s->slot_at < 0 ? s->slot_at : 0;
        int64_t hi = !slot ? SBX_RW_MOV_LEN : s->slot_end > 2 ? s->slot_end : 2;
        if ((lo < 0 && s->off < (uint64_t)-lo) || s->off + (uint64_t)lo < off ||
            s->off + (uint64_t)hi > off + len)
            continue;
        uint64_t site = addr + (s->off - off);
        out[n] = (struct sbx_rw_patch){ .site = site };
        if (slot)
            out[n].slot = (struct sbx_rw_slot){ site + (uint64_t)(int64_t)s->slot_at,
                                                site + (uint64_t)(int64_t)s->slot_end };
        n++;
    }
    return n;
}

void sbx_rw_init(void)
{
    if (sbx_tramp.stats_mapped)
        sbx_tramp_patched_ctr = ((struct sbx_stats *)SBX_TRAMPOLINE_STATS_ADDR)->patched;
    if (rewriting())
        sitemap_map();
}

static uint64_t block_signals(void)
{
    uint64_t all = ~0ULL, old = 0;
    sbx_sys4(__NR_rt_sigprocmask, 0 /* SIG_BLOCK */, (long)&all, (long)&old, 8);
    return old;
}

static void restore_signals(uint64_t old)
{
    sbx_sys4(__NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (long)&old, 0, 8);
}

static struct sbx_rw_scratch *get_scratch(void)
{
    long m = sbx_tramp_syscall6(__NR_mmap, 0, sizeof(struct sbx_rw_scratch), PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return m < 0 ? NULL : (struct sbx_rw_scratch *)m;
}

static void put_scratch(struct sbx_rw_scratch *s)
{
    sbx_sys2(__NR_munmap, (long)s, sizeof(*s));
}

/* ---- finding sites ---- */

/*
 * Whether the `syscall` at sc ends a mov site that is patched already (its
 * traps made it hot before): its own syscall needs no patch of its own.
 */
static int patched_mov_site(uint64_t lo, uint64_t sc)
{
    if (sc < lo + 5)
        return 0;
    const uint8_t *p = (const uint8_t *)sc - 5;
    int32_t rel;
    memcpy(&rel, p + 1, 4);
    return p[0] == 0xe9 && sbx_rw_owns(sc + (uint64_t)(int64_t)rel, 1);
}

/* Linear sweep of r with known points st[]; appends proven mov sites to s->patches[n...]. */
static size_t scan_range(const struct sbx_rw_range *r, const uint64_t *st, size_t nstarts,
                         struct sbx_rw_scratch *s, size_t n)
{
    size_t k = 0, pending = n;
    uint64_t pos;
    while (k < nstarts && st[k] < r->lo)
        k++;
    if (r->lo_known) {
        pos = r->lo;
    } else {
        if (k == nstarts || st[k] >= r->hi)
            return n;
        pos = st[k];
    }
    for (;;) {
        /* At or past known points: confirmed when on one, restart when past. */
        while (k < nstarts && st[k] <= pos) {
            if (st[k] < pos) {
                n = pending;
                pos = st[k];
            }
            pending = n;
            k++;
        }
        if (pos >= r->hi)
            break;
        int len = sbx_x86_insn_len((const uint8_t *)pos, r->hi - pos);
        if (len < 0) {
            n = pending;
            if (k == nstarts || st[k] >= r->hi)
                return n;
            pos = st[k];
            continue;
        }
        if (len == 5 && r->hi - pos >= SBX_RW_MOV_LEN && sbx_rw_is_mov_site((const uint8_t *)pos) &&
            !sbx_rw_known_ungated(pos, pos + 5) && n < SBX_RW_MAX_SITES)
            s->patches[n++] = (struct sbx_rw_patch){ .site = pos };
        pos += (uint64_t)len;
    }
    return pos == r->hi ? n : pending;
}

/* Proven sites of r (sbx_rw_candidates) into s->patches[n...]; s->taken[0..*ntaken) their slots. */
static size_t scan_candidates(const struct sbx_rw_range *r, const uint64_t *st, size_t nstarts,
                              struct sbx_rw_scratch *s, size_t n, size_t *ntaken)
{
    return sbx_rw_candidates(st, nstarts, r->lo, r->hi, patched_mov_site, s->patches, n,
                             SBX_RW_MAX_SITES, s->taken, ntaken);
}

static int in_reach(uint64_t a, uint64_t b)
{
    int64_t d = (int64_t)(a - b);
    return d < REACH && d > -REACH;
}

/* Maps size bytes read-write within reach of [lo, hi), never over anything. */
static uint64_t map_area(uint64_t lo, uint64_t hi, uint64_t size)
{
    static const int64_t steps[] = { 1, 16, 256, 4096, 65536 };
    for (int dir = 0; dir < 2; dir++) {
        for (unsigned i = 0; i < SBX_ARRAY_SIZE(steps); i++) {
            for (int j = 0; j < 8; j++) {
                int64_t delta = (int64_t)((uint64_t)steps[i] * (uint64_t)(j + 1) * PAGE);
                uint64_t a = dir == 0 ? (lo & ~(PAGE - 1)) - size - (uint64_t)delta + PAGE
                                      : ((hi + PAGE - 1) & ~(PAGE - 1)) + (uint64_t)delta - PAGE;
                if (a < 0x10000 || a + size > SBX_ELF_USER_TOP || !in_reach(a, hi) ||
                    !in_reach(a + size, lo) ||
                    (a < SBX_TRAMPOLINE_RESERVED_HI && a + size > SBX_TRAMPOLINE_RESERVED_LO))
                    continue;
                long r =
                    sbx_tramp_syscall6(__NR_mmap, (long)a, (long)size, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
                if (r == (long)a)
                    return a;
                if (r >= 0)
                    sbx_sys2(__NR_munmap, r, (long)size);
            }
        }
    }
    return 0;
}

static void put32(uint8_t *p, int64_t v)
{
    int32_t x = (int32_t)v;
    memcpy(p, &x, 4);
}

static const uint8_t lea_down[] = { 0x48, 0x8d, 0x64, 0x24, 0x80 };
static const uint8_t lea_up[] = { 0x48, 0x8d, 0xa4, 0x24, 0x80, 0x00, 0x00, 0x00 };

/* lea to(%rip),%rcx at p (7 bytes), p being at address at. */
static void emit_lea_rcx(uint8_t *p, uint64_t at, uint64_t to)
{
    p[0] = 0x48;
    p[1] = 0x8d;
    p[2] = 0x0d;
    put32(p + 3, (int64_t)(to - (at + 7)));
}

/* jmp to at p (5 bytes), p being at address at. */
static void emit_jmp(uint8_t *p, uint64_t at, uint64_t to)
{
    p[0] = 0xe9;
    put32(p + 1, (int64_t)(to - (at + 5)));
}

/* The stub of a mov site (layout at the top of this file). */
static void emit_mov_stub(uint8_t *p, uint64_t at, uint64_t site, uint32_t imm, uint64_t slot)
{
    memset(p, 0xcc, STUB_SIZE);
    memcpy(p, lea_down, 5);
    p[5] = 0xb8;
    memcpy(p + 6, &imm, 4);
    p[10] = 0xff;
    p[11] = 0x15;
    put32(p + 12, (int64_t)(slot - (at + 16)));
    memcpy(p + 16, lea_up, 8);
    emit_lea_rcx(p + 24, at + 24, site + 7);
    emit_jmp(p + 31, at + 31, site + 7);
    memcpy(p + 36, lea_up, 8);
    emit_jmp(p + 44, at + 44, site + 5);
}

/* The stub of a syscall site (layout at the top of this file). */
static void emit_syscall_stub(uint8_t *p, uint64_t at, uint64_t site, uint64_t slot)
{
    memset(p, 0xcc, STUB_SIZE);
    memcpy(p, lea_down, 5);
    p[5] = 0xff;
    p[6] = 0x15;
    put32(p + 7, (int64_t)(slot - (at + 11)));
    memcpy(p + 11, lea_up, 8);
    emit_lea_rcx(p + 19, at + 19, site + 2);
    emit_jmp(p + 26, at + 26, site + 2);
    /* +31 = +11 + SBX_RW_STUB_ALT_DELTA: the trap path */
    memcpy(p + 31, lea_up, 8);
    p[39] = 0x0f;
    p[40] = 0x05;
    emit_lea_rcx(p + 41, at + 41, site + 2);
    emit_jmp(p + 48, at + 48, site + 2);
}

static int register_area(uint64_t lo, uint64_t size)
{
    if (nareas == MAX_AREAS)
        return -1;
    areas[nareas] = (struct area){ lo, lo + size };
    __atomic_store_n(&nareas, nareas + 1, __ATOMIC_RELEASE);
    return 0;
}

/* A read-write stub area for n stubs near [lo, hi), its slot filled; 0 when none. */
static uint64_t new_area(uint64_t lo, uint64_t hi, size_t n, uint64_t *ret_size)
{
    uint64_t size = (STUB_HDR + n * STUB_SIZE + PAGE - 1) & ~(PAGE - 1);
    if (nareas == MAX_AREAS)
        return 0;
    uint64_t a = map_area(lo, hi, size);
    if (!a)
        return 0;
    uint64_t entry = (uint64_t)sbx_tramp_fast_entry;
    memcpy((void *)a, &entry, sizeof(entry));
    register_area(a, size);
    *ret_size = size;
    return a;
}

static void stub_for(uint64_t stub, uint64_t area, const struct sbx_rw_patch *pt)
{
    if (pt->slot.at) {
        emit_syscall_stub((uint8_t *)stub, stub, pt->site, area);
    } else {
        uint32_t imm;
        memcpy(&imm, (const uint8_t *)pt->site + 1, 4);
        emit_mov_stub((uint8_t *)stub, stub, pt->site, imm, area);
    }
}

/* Whether [lo, hi) is still padding only (a slot nobody wrote yet). */
static int still_padding(uint64_t lo, uint64_t hi)
{
    for (uint64_t pos = lo; pos < hi;) {
        int len = sbx_x86_insn_len((const uint8_t *)pos, hi - pos);
        uint64_t t;
        if (len < 0 || sbx_x86_insn_flow((const uint8_t *)pos, len, pos, &t) != SBX_X86_PAD)
            return 0;
        pos += (uint64_t)len;
    }
    return 1;
}

/*
 * Points a site at its stub, writing the bytes at out (the code's own
 * address, or a copy of the patch's span at the address base).  Every byte
 * of the code is checked first: a mov site must still hold the mov its stub
 * was built from, a syscall site its `syscall` and its slot padding.
 * Returns whether it wrote.
 */
static int patch_to(const struct sbx_rw_patch *pt, uint64_t stub, uint8_t *out, uint64_t base)
{
    const uint8_t *p = (const uint8_t *)pt->site;
    uint8_t *po = (uint8_t *)((uintptr_t)out + (pt->site - base));
    if (pt->slot.at) {
        if (p[0] != 0x0f || p[1] != 0x05 || !still_padding(pt->slot.at, pt->slot.end))
            return 0;
        uint8_t *q = (uint8_t *)((uintptr_t)out + (pt->slot.at - base));
        emit_jmp(q, pt->slot.at, stub);
        memset(q + SBX_RW_SLOT_LEN, 0x90, pt->slot.end - pt->slot.at - SBX_RW_SLOT_LEN);
        po[1] = (uint8_t)(int8_t)(int64_t)(pt->slot.at - (pt->site + 2));
        po[0] = 0xeb;
        return 1;
    }
    uint8_t expect[SBX_RW_MOV_LEN];
    memcpy(expect, (const uint8_t *)stub + 5, 5);
    expect[5] = 0x0f;
    expect[6] = 0x05;
    if (memcmp(p, expect, SBX_RW_MOV_LEN) != 0)
        return 0;
    emit_jmp(po, pt->site, stub);
    return 1;
}

/* In place: the pages of the site and its slot are writable, not executable. */
static int write_patch(const struct sbx_rw_patch *pt, uint64_t stub)
{
    return patch_to(pt, stub, (uint8_t *)0, 0);
}

static void patch_span(const struct sbx_rw_patch *pt, uint64_t *lo, uint64_t *hi);

/*
 * /proc/self/mem writes to code that is not writable without changing its
 * protection, so the patched page does not split its mapping in two or
 * three (an mprotect round trip leaves it VM_ACCOUNT, which its neighbours
 * are not): /proc/self/maps keeps the lines a native process has.  Open for
 * the moment of a patch only; -1 where it cannot be opened.
 */
static int self_mem_open(void)
{
    long fd = sbx_sys4(__NR_openat, AT_FDCWD, (long)"/proc/self/mem", O_RDWR | O_CLOEXEC, 0);
    return fd < 0 ? -1 : (int)fd;
}

/*
 * Writes one patch through mem (self_mem_open): 1 written, 0 the code is no
 * longer what was proven, -1 the kernel refused the write (a kernel booted
 * with proc_mem.force_override=never, say): the caller mprotects instead.
 */
static int poke_patch(int mem, const struct sbx_rw_patch *pt, uint64_t stub)
{
    uint64_t lo, hi;
    uint8_t buf[512];
    patch_span(pt, &lo, &hi);
    if (hi - lo > sizeof(buf))
        return -1;
    memcpy(buf, (const void *)lo, hi - lo);
    if (!patch_to(pt, stub, buf, lo))
        return 0;
    return sbx_sys4(__NR_pwrite64, mem, (long)buf, (long)(hi - lo), (long)lo) == (long)(hi - lo)
               ? 1
               : -1;
}

/* The bytes a patch writes: [*lo, *hi). */
static void patch_span(const struct sbx_rw_patch *pt, uint64_t *lo, uint64_t *hi)
{
    *lo = pt->site;
    *hi = pt->site + (pt->slot.at ? 2 : SBX_RW_MOV_LEN);
    if (pt->slot.at && pt->slot.at < *lo)
        *lo = pt->slot.at;
    if (pt->slot.at && pt->slot.end > *hi)
        *hi = pt->slot.end;
}

/*
 * Patches pt[0..n) (inside the ranges r[0..nr)) that nobody can be
 * running: stubs in a new area, then each range writable, written and back
 * to prot.
 */
static void patch_sites(const struct sbx_rw_range *r, unsigned nr, const struct sbx_rw_patch *pt,
                        size_t n, int prot)
{
    if (!n)
        return;
    uint64_t size, lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t a, b;
        patch_span(&pt[i], &a, &b);
        lo = a < lo ? a : lo;
        hi = b > hi ? b : hi;
    }
    uint64_t area = new_area(lo, hi, n, &size);
    if (!area)
        return;
    for (size_t i = 0; i < n; i++)
        stub_for(area + STUB_HDR + i * STUB_SIZE, area, &pt[i]);
    if (sbx_sys3(__NR_mprotect, (long)area, (long)size, PROT_READ | PROT_EXEC) < 0)
        return;
    int mem = self_mem_open(), poked = mem >= 0;
    for (size_t j = 0; poked && j < n; j++)
        poked = poke_patch(mem, &pt[j], area + STUB_HDR + j * STUB_SIZE) >= 0;
    if (mem >= 0)
        sbx_sys1(__NR_close, mem);
    /* Refused: what was poked no longer checks out below, the rest is written in place. */
    for (unsigned i = 0; !poked && i < nr; i++) {
        uint64_t plo = r[i].lo & ~(PAGE - 1), phi = (r[i].hi + PAGE - 1) & ~(PAGE - 1);
        if (sbx_sys3(__NR_mprotect, (long)plo, (long)(phi - plo), PROT_READ | PROT_WRITE) < 0)
            continue;
        for (size_t j = 0; j < n; j++)
            if (pt[j].site >= r[i].lo && pt[j].site < r[i].hi)
                write_patch(&pt[j], area + STUB_HDR + j * STUB_SIZE);
        sbx_sys3(__NR_mprotect, (long)plo, (long)(phi - plo), prot);
    }
}

/* ---- regions: registered code, patched lazily ---- */

/*
 * Memory a region keeps for its life (its known instruction starts), in the
 * trampoline's reserved range above its image, where /proc/self/maps shows
 * it with the trampoline's own mappings rather than as one more anonymous
 * mapping of the guest's; anywhere when that range is full.
 */
static long own_mmap(uint64_t bytes)
{
    uint64_t a = ((uint64_t)__sbx_image_end + PAGE - 1) & ~(PAGE - 1);
    for (; a + bytes <= SBX_TRAMPOLINE_RESERVED_HI; a += bytes) {
        long m = sbx_tramp_syscall6(__NR_mmap, (long)a, (long)bytes, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (m == (long)a)
            return m;
        if (m != -EEXIST)
            break;
    }
    return sbx_tramp_syscall6(__NR_mmap, 0, (long)bytes, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void region_add(const struct sbx_rw_range *rg, const uint64_t *st, size_t nst, int prot,
                       uint64_t dev, uint64_t ino, uint64_t foff)
{
    struct region *r = NULL;
    unsigned slot = 0;
    for (unsigned i = 0; i < MAX_REGIONS && !r; i++)
        if (regions[i].lo == regions[i].hi) {
            r = &regions[i];
            slot = i;
        }
    if (!r)
        return;
    size_t first = 0, n = 0;
    while (first < nst && st[first] < rg->lo)
        first++;
    while (first + n < nst && st[first + n] <= rg->hi)
        n++;
    uint64_t bytes = ((n + 1) * sizeof(uint64_t) + PAGE - 1) & ~(PAGE - 1);
    long m = own_mmap(bytes);
    if (m < 0)
        return;
    uint64_t *copy = (uint64_t *)m;
    size_t k = 0;
    if (rg->lo_known && (n == 0 || st[first] != rg->lo))
        copy[k++] = rg->lo;
    memcpy(copy + k, st + first, n * sizeof(uint64_t));
    *r = (struct region){
        .lo = rg->lo,
        .hi = rg->hi,
        .prot = prot,
        .starts = copy,
        .nstarts = k + n,
        .starts_bytes = bytes,
        .dev = dev,
        .ino = ino,
        .foff = foff,
    };
    if (slot >= regions_used)
        __atomic_store_n(&regions_used, slot + 1, __ATOMIC_RELEASE);
}

/* Drops regions overlapping [addr, addr + len): that memory changes. Under the lock. */
static void region_drop(uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;
    for (unsigned i = 0; i < MAX_REGIONS; i++) {
        struct region *r = &regions[i];
        if (r->lo == r->hi || r->lo >= end || r->hi <= addr)
            continue;
        sbx_sys2(__NR_munmap, (long)r->starts, (long)r->starts_bytes);
        *r = (struct region){ 0 };
    }
}

/* A fresh stub in r's lazy stub page, or 0. */
static uint64_t lazy_stub(struct region *r, const struct sbx_rw_patch *pt)
{
    const unsigned cap = (PAGE - STUB_HDR) / STUB_SIZE;
    if (!r->stubs || r->stubs_used == cap) {
        uint64_t size;
        uint64_t a = new_area(r->lo, r->hi, cap, &size);
        if (!a)
            return 0;
        r->stubs = a;
        r->stubs_used = 0;
    } else if (sbx_sys3(__NR_mprotect, (long)r->stubs, PAGE, PROT_READ | PROT_WRITE) < 0) {
        return 0;
    }
    uint64_t stub = r->stubs + STUB_HDR + r->stubs_used++ * STUB_SIZE;
    stub_for(stub, r->stubs, pt);
    if (sbx_sys3(__NR_mprotect, (long)r->stubs, PAGE, PROT_READ | PROT_EXEC) < 0)
        return 0;
    return stub;
}

/* Scans and patches every registered region; single-threaded, under the lock. */
static void patch_regions(void)
{
    struct sbx_rw_scratch *s = get_scratch();
    if (!s)
        return;
    for (unsigned i = 0; i < MAX_REGIONS; i++) {
        struct region *r = &regions[i];
        if (r->lo == r->hi)
            continue;
        struct sbx_rw_range rg = { r->lo, r->hi, 0 };
        size_t ntaken = 0;
        size_t n = scan_candidates(&rg, r->starts, r->nstarts, s, 0, &ntaken);
        patch_sites(&rg, 1, s->patches, n, r->prot);
    }
    put_scratch(s);
}

/* ---- hot sites, shared by the sandbox's processes (struct sbx_hot_site) ---- */

/*
 * A site that trapped this often in the sandbox, in any processes, is
 * patched at its next trap in any process, when a process maps its file,
 * and by a parent before it forks (its children inherit the patch).  So the
 * first calls of a shell's children, or of a pipeline's later programs, do
 * not all trap.  The table is the guests' to write: entries are hints, the
 * sites they name are proven like any other, and at most SBX_RW_MAX_HINTS
 * are tried per mapping.
 */
#define HOT_AT 2
#define HOT_PROBE 8

static struct sbx_stats *shared_stats(void)
{
    return sbx_tramp.stats_mapped ? (struct sbx_stats *)SBX_TRAMPOLINE_STATS_ADDR : NULL;
}

static uint64_t hot_hash(uint64_t dev, uint64_t ino, uint64_t off1)
{
    uint64_t h = (dev * 0x9e3779b97f4a7c15ULL) ^ (ino * 0xc2b2ae3d27d4eb4fULL) ^ off1;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

/* Counts a trap at the `syscall` sc of file-backed r; the site's count in the sandbox, or 0. */
static uint32_t hot_note(const struct region *r, uint64_t sc)
{
    struct sbx_stats *st = shared_stats();
    if (!st || !r->ino)
        return 0;
    uint64_t off1 = r->foff + (sc - r->lo) + 1;
    uint64_t h = hot_hash(r->dev, r->ino, off1);
    for (unsigned i = 0; i < HOT_PROBE; i++) {
        struct sbx_hot_site *e = &st->hot[(h + i) & (SBX_STATS_HOT - 1)];
        uint64_t cur = __atomic_load_n(&e->off1, __ATOMIC_ACQUIRE);
        if (cur == 0 && __atomic_compare_exchange_n(&e->off1, &cur, off1, 0, __ATOMIC_ACQ_REL,
                                                    __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&e->dev, r->dev, __ATOMIC_RELAXED);
            __atomic_store_n(&e->ino, r->ino, __ATOMIC_RELAXED);
            __atomic_store_n(&e->traps, 1, __ATOMIC_RELEASE);
            return 1;
        }
        if (cur == off1 && __atomic_load_n(&e->traps, __ATOMIC_ACQUIRE) == 0)
            return 0; /* another process is filling this entry in, maybe for this site */
        if (cur == off1 && __atomic_load_n(&e->dev, __ATOMIC_RELAXED) == r->dev &&
            __atomic_load_n(&e->ino, __ATOMIC_RELAXED) == r->ino) {
            uint32_t n = __atomic_add_fetch(&e->traps, 1, __ATOMIC_RELAXED);
            if (n == HOT_AT)
                __atomic_add_fetch(&st->hot_gen, 1, __ATOMIC_RELEASE);
            return n;
        }
    }
    return 0;
}

/*
 * Across an exec without the stats memfd (abi.h: only `--stats` keeps it)
 * the new program gets a stats page of its own, and the hot sites travel in
 * the exec request (":hot=", 48 hex digits each: off1, dev, ino), so that a
 * site the process made hot is patched when the new program maps its file.
 */
#define HOT_CARRY 64

static void hex64(char *out, uint64_t v)
{
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = "0123456789abcdef"[v & 15];
}

size_t sbx_rw_hot_export(char *buf, size_t cap)
{
    const struct sbx_stats *st = shared_stats();
    size_t n = 0;
    for (unsigned i = 0; st && i < SBX_STATS_HOT && n + 48 <= cap && n / 48 < HOT_CARRY; i++) {
        const struct sbx_hot_site *e = &st->hot[i];
        uint64_t off1 = __atomic_load_n(&e->off1, __ATOMIC_ACQUIRE);
        if (!off1 || __atomic_load_n(&e->traps, __ATOMIC_RELAXED) < HOT_AT)
            continue;
        hex64(buf + n, off1);
        hex64(buf + n + 16, __atomic_load_n(&e->dev, __ATOMIC_RELAXED));
        hex64(buf + n + 32, __atomic_load_n(&e->ino, __ATOMIC_RELAXED));
        n += 48;
    }
    return n;
}

static int unhex64(const char *s, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        *v = *v << 4 | (uint64_t)d;
    }
    return 1;
}

void sbx_rw_hot_import(const char *hex, size_t len)
{
    struct sbx_stats *st = shared_stats();
    for (size_t at = 0; st && at + 48 <= len && at / 48 < HOT_CARRY; at += 48) {
        uint64_t off1, dev, ino;
        if (!unhex64(hex + at, &off1) || !unhex64(hex + at + 16, &dev) ||
            !unhex64(hex + at + 32, &ino) || !off1)
            return;
        uint64_t h = hot_hash(dev, ino, off1);
        for (unsigned i = 0; i < HOT_PROBE; i++) {
            struct sbx_hot_site *e = &st->hot[(h + i) & (SBX_STATS_HOT - 1)];
            if (e->off1 == 0) {
                *e = (struct sbx_hot_site){ .off1 = off1, .dev = dev, .ino = ino, .traps = HOT_AT };
                break;
            }
        }
    }
}

/*
 * The hot sites of file (dev, ino) that lie in [lo, hi), where file offset
 * foff is mapped at lo: their `syscall` addresses into out[0..max).
 */
static size_t hot_sites(uint64_t dev, uint64_t ino, uint64_t foff, uint64_t lo, uint64_t hi,
                        uint64_t *out, size_t max)
{
    const struct sbx_stats *st = shared_stats();
    size_t n = 0;
    if (!st || !ino || hi - lo < 2)
        return 0;
    for (unsigned i = 0; i < SBX_STATS_HOT && n < max; i++) {
        const struct sbx_hot_site *e = &st->hot[i];
        uint64_t off1 = __atomic_load_n(&e->off1, __ATOMIC_ACQUIRE);
        if (!off1 || __atomic_load_n(&e->ino, __ATOMIC_RELAXED) != ino ||
            __atomic_load_n(&e->dev, __ATOMIC_RELAXED) != dev ||
            __atomic_load_n(&e->traps, __ATOMIC_RELAXED) < HOT_AT)
            continue;
        uint64_t off = off1 - 1;
        if (off < foff || off - foff > hi - lo - 2)
            continue;
        out[n++] = lo + (off - foff);
    }
    return n;
}

/* The patch for the `syscall` at sc in rg, if it proves (mov site first); 0 when none. */
static int patch_for(const struct sbx_rw_range *rg, const uint64_t *st, size_t nst, uint64_t sc,
                     const struct sbx_rw_slot *taken, size_t ntaken, struct sbx_rw_patch *pt)
{
    const uint8_t *p = (const uint8_t *)sc;
    if (sc < rg->lo || sc + 2 > rg->hi || p[0] != 0x0f || p[1] != 0x05 ||
        patched_mov_site(rg->lo, sc))
        return 0;
    if (sc >= rg->lo + 5 && sbx_rw_is_mov_site(p - 5) && sbx_rw_prove(st, nst, rg->hi, sc - 5)) {
        *pt = (struct sbx_rw_patch){ .site = sc - 5 };
        return 1;
    }
    if (sbx_rw_find_slot(st, nst, rg->lo, rg->hi, sc, taken, ntaken, &pt->slot)) {
        pt->site = sc;
        return 1;
    }
    return 0;
}

/* ---- the ways code appears ---- */

int sbx_rw_new_code(uint64_t addr, uint64_t len, int prot, int fd, uint64_t off)
{
    if (rewriting() && !(prot & PROT_WRITE) && lock()) {
        region_drop(addr, len);
        struct sbx_rw_scratch *s = get_scratch();
        const struct sbx_sitemap_file *f = fd >= 0 && s ? sitemap_file(fd) : NULL;
        if (f) {
            struct sbx_rw_range rg = { addr, addr + len, 0 };
            size_t n = sitemap_patches(f, addr, off, len, s->patches, SBX_RW_MAX_SITES);
            patch_sites(&rg, 1, s->patches, n, prot);
            put_scratch(s);
        } else if (s) {
            size_t nstarts = 1;
            unsigned nr = 1;
            if (fd >= 0) {
                nr = sbx_rw_file_ranges(s, fd, addr, off, len, &nstarts);
            } else {
                s->ranges[0] = (struct sbx_rw_range){ addr, addr + len, 1 };
                s->starts[0] = addr;
            }
            if (fd >= 0 && !is_threaded()) {
                for (unsigned i = 0; i < nr; i++)
                    region_add(&s->ranges[i], s->starts, nstarts, prot, s->dev, s->ino,
                               off + (s->ranges[i].lo - addr));
                /* What other processes of the sandbox trapped at: patch it before anybody runs it.
                 */
                size_t nh =
                    hot_sites(s->dev, s->ino, off, addr, addr + len, s->hints, SBX_RW_MAX_HINTS);
                size_t n = 0, ntaken = 0;
                for (size_t h = 0; h < nh && n < SBX_RW_MAX_SITES; h++)
                    for (unsigned i = 0; i < nr; i++)
                        if (patch_for(&s->ranges[i], s->starts, nstarts, s->hints[h], s->taken,
                                      ntaken, &s->patches[n])) {
                            if (s->patches[n].slot.at)
                                s->taken[ntaken++] = s->patches[n].slot;
                            n++;
                            break;
                        }
                patch_sites(s->ranges, nr, s->patches, n, prot);
            } else {
                /* Anonymous code has one known start: sweep it whole. */
                size_t n = 0, ntaken = 0;
                for (unsigned i = 0; i < nr; i++)
                    n = fd >= 0 ? scan_candidates(&s->ranges[i], s->starts, nstarts, s, n, &ntaken)
                                : scan_range(&s->ranges[i], s->starts, nstarts, s, n);
                patch_sites(s->ranges, nr, s->patches, n, prot);
            }
            put_scratch(s);
        }
        unlock();
    }
    return (int)sbx_sys3(__NR_mprotect, (long)addr, (long)len, prot);
}

long sbx_rw_mmap(long addr, long len, long prot, long flags, long fd, long off)
{
    if (!rewriting() || !(prot & PROT_EXEC) || (prot & PROT_WRITE) ||
        (flags & MAP_TYPE) != MAP_PRIVATE || len <= 0)
        return sbx_tramp_syscall6(__NR_mmap, addr, len, prot, flags, fd, off);
    uint64_t mask = block_signals();
    long r =
        sbx_tramp_syscall6(__NR_mmap, addr, len, (prot & ~PROT_EXEC) | PROT_READ, flags, fd, off);
    if (r >= 0 || r < -4095) {
        int fdx = (flags & MAP_ANONYMOUS) ? -1 : (int)fd;
        int e = sbx_rw_new_code((uint64_t)r, (uint64_t)len, (int)prot, fdx, (uint64_t)off);
        if (e < 0) {
            /* mmap says EPERM where mprotect says EACCES (a noexec mount). */
            sbx_sys2(__NR_munmap, r, len);
            r = e == -EACCES ? -EPERM : e;
        }
    }
    restore_signals(mask);
    return r;
}

static uint64_t parse_hex(const char **p)
{
    uint64_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uint64_t)(c - 'a' + 10);
        else
            return v;
    }
}

/*
 * Whether every mapping overlapping [addr, addr + len) is anonymous
 * (no file, not vdso/vvar): only then is the range's start the known start
 * of its code.  /proc/self/maps, in a scratch mapping; no /proc: no.
 */
static int range_is_anon(uint64_t addr, uint64_t len)
{
    long fd = sbx_sys4(__NR_openat, AT_FDCWD, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    long m = sbx_tramp_syscall6(__NR_mmap, 0, MAPS_MAX, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok = 0;
    if (m >= 0) {
        char *buf = (char *)m;
        long n = 0, r;
        while (n < MAPS_MAX - 1 &&
               (r = sbx_sys3(__NR_read, fd, (long)(buf + n), MAPS_MAX - 1 - n)) > 0)
            n += r;
        buf[n] = '\0';
        ok = n > 0 && n < MAPS_MAX - 1;
        for (const char *p = buf; ok && *p;) {
            uint64_t lo = parse_hex(&p);
            p++;
            uint64_t hi = parse_hex(&p);
            /* perms, offset, dev, inode, then the optional name */
            int field = 0;
            uint64_t inode = 0;
            while (*p && *p != '\n' && field < 4) {
                while (*p == ' ')
                    p++;
                field++;
                if (field == 4) {
                    while (*p >= '0' && *p <= '9')
                        inode = inode * 10 + (uint64_t)(*p++ - '0');
                } else {
                    while (*p && *p != ' ' && *p != '\n')
                        p++;
                }
            }
            while (*p == ' ')
                p++;
            if (lo < addr + len && hi > addr) {
                int named = *p && *p != '\n';
                if (inode != 0 ||
                    (named && memcmp(p, "[heap]", 6) != 0 && memcmp(p, "[anon:", 6) != 0))
                    ok = 0;
            }
            while (*p && *p != '\n')
                p++;
            if (*p)
                p++;
        }
        sbx_sys2(__NR_munmap, m, MAPS_MAX);
    }
    sbx_sys1(__NR_close, fd);
    return ok;
}

long sbx_rw_mprotect(long addr, long len, long prot)
{
    if (!rewriting())
        return sbx_sys3(__NR_mprotect, addr, len, prot);
    if (!(prot & PROT_EXEC) || (prot & PROT_WRITE) || len <= 0 || (addr & (PAGE - 1)) ||
        !range_is_anon((uint64_t)addr, (uint64_t)len)) {
        sbx_rw_forget((uint64_t)addr, (uint64_t)len);
        return sbx_sys3(__NR_mprotect, addr, len, prot);
    }
    if (is_threaded()) {
        /* Other threads may run it: register it, a single-threaded child patches it. */
        long r = sbx_sys3(__NR_mprotect, addr, len, prot);
        if (r == 0 && lock()) {
            region_drop((uint64_t)addr, (uint64_t)len);
            struct sbx_rw_range rg = { (uint64_t)addr, (uint64_t)(addr + len), 1 };
            uint64_t start = (uint64_t)addr;
            region_add(&rg, &start, 1, (int)prot, 0, 0, 0);
            unlock();
        }
        return r;
    }
    uint64_t mask = block_signals();
    long r = sbx_sys3(__NR_mprotect, addr, len, (prot & ~PROT_EXEC) | PROT_READ);
    if (r == 0)
        r = sbx_rw_new_code((uint64_t)addr, (uint64_t)len, (int)prot, -1, 0);
    restore_signals(mask);
    return r;
}

/*
 * Sites that trapped in this process, direct-mapped by address: the site
 * itself once it trapped once, its complement once patching it failed.  A lazy
 * patch (proof, stub, two mprotects) costs more than a trap, so a site is
 * patched at its second trap: code that runs once, as in the many short-lived
 * children of a shell, is never patched for nothing; and a site that cannot be
 * patched is not tried again at every trap.  A collision only costs a trap or
 * a retry; races between threads are as harmless.
 */
#define SEEN_SLOTS 256
static uint64_t seen[SEEN_SLOTS];

static uint64_t *seen_slot(uint64_t site)
{
    return &seen[((site >> 3) ^ (site >> 13)) & (SEEN_SLOTS - 1)];
}

static struct region *region_at(uint64_t sc)
{
    unsigned n = __atomic_load_n(&regions_used, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (regions[i].lo <= sc && sc + 2 <= regions[i].hi)
            return &regions[i];
    return NULL;
}

/*
 * Patches the `syscall` at sc of region r in place: single-threaded, under
 * the lock, guest signals blocked.  Either shape keeps every instruction boundary, so the trap that
 * asked for it (and any frame pointing into the site) resumes correctly.
 */
static int patch_in_place(struct region *r, uint64_t sc)
{
    struct sbx_rw_patch pt = { 0 };
    struct sbx_rw_range rg = { r->lo, r->hi, 0 };
    /* A handler that ran before the caller blocked signals may have started a thread. */
    if (is_threaded() || !patch_for(&rg, r->starts, r->nstarts, sc, NULL, 0, &pt))
        return 0;
    int patched = 0;
    uint64_t stub = lazy_stub(r, &pt);
    uint64_t lo, hi;
    patch_span(&pt, &lo, &hi);
    uint64_t page = lo & ~(PAGE - 1);
    uint64_t end = (hi + PAGE - 1) & ~(PAGE - 1);
    int mem = stub ? self_mem_open() : -1;
    if (mem >= 0) {
        patched = poke_patch(mem, &pt, stub);
        sbx_sys1(__NR_close, mem);
        if (patched >= 0)
            return patched;
        patched = 0;
    }
    if (stub &&
        sbx_sys3(__NR_mprotect, (long)page, (long)(end - page), PROT_READ | PROT_WRITE) == 0) {
        patched = write_patch(&pt, stub);
        sbx_sys3(__NR_mprotect, (long)page, (long)(end - page), r->prot);
    }
    return patched;
}

void sbx_rw_lazy(uint64_t ip)
{
    /* Keyed by the `syscall` (ip - 2), whatever shape its site has. */
    uint64_t sc = ip - 2;
    if (!rewriting())
        return;
    /*
     * Counted in the sandbox's table in any process (a threaded one keeps
     * trapping, but tells the others); read without the lock: a racing
     * change of the regions only makes a wrong hint.
     */
    struct region *r = region_at(sc);
    uint32_t count = r ? hot_note(r, sc) : 0;
    if (is_threaded())
        return;
    uint64_t *slot = seen_slot(sc);
    uint64_t v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (v == ~sc)
        return; /* patching it failed here before */
    if (v != sc && count < HOT_AT) {
        __atomic_store_n(slot, sc, __ATOMIC_RELAXED);
        return;
    }
    uint64_t mask = block_signals();
    if (lock()) {
        r = region_at(sc);
        if (!r || !patch_in_place(r, sc))
            __atomic_store_n(slot, ~sc, __ATOMIC_RELAXED); /* give up on it here */
        unlock();
    }
    restore_signals(mask);
}

void sbx_rw_note_exit(uint64_t ip)
{
    struct region *r = rewriting() ? region_at(ip - 2) : NULL;
    if (r)
        hot_note(r, ip - 2);
}

void sbx_rw_before_fork(void)
{
    /* Per process; a child starts from its parent's view. */
    static uint64_t gen_done;
    const struct sbx_stats *st = shared_stats();
    if (!rewriting() || !st || is_threaded())
        return;
    uint64_t gen = __atomic_load_n(&st->hot_gen, __ATOMIC_ACQUIRE);
    if (gen == gen_done)
        return;
    /* Blocked throughout: no handler of ours can munmap what we are reading. */
    uint64_t mask = block_signals();
    if (!lock()) {
        restore_signals(mask);
        return;
    }
    gen_done = gen;
    struct sbx_rw_scratch *s = get_scratch();
    if (s) {
        for (unsigned i = 0; i < MAX_REGIONS; i++) {
            struct region *r = &regions[i];
            if (r->lo == r->hi || !r->ino)
                continue;
            size_t nh =
                hot_sites(r->dev, r->ino, r->foff, r->lo, r->hi, s->hints, SBX_RW_MAX_HINTS);
            for (size_t h = 0; h < nh; h++) {
                uint64_t sc = s->hints[h];
                const uint8_t *p = (const uint8_t *)sc;
                if (p[0] == 0x0f && p[1] == 0x05 && *seen_slot(sc) != ~sc)
                    patch_in_place(r, sc);
            }
        }
        put_scratch(s);
    }
    unlock();
    restore_signals(mask);
}

void sbx_rw_note_threads(void)
{
    if (is_threaded())
        return;
    /* Still single-threaded: the last moment to patch registered code in place. */
    if (rewriting()) {
        uint64_t mask = block_signals();
        if (lock()) {
            patch_regions();
            unlock();
        }
        restore_signals(mask);
    }
    __atomic_store_n(&threaded, 1, __ATOMIC_RELEASE);
}

void sbx_rw_after_fork(void)
{
    /*
     * The child has one thread: code only it can run may be patched again.
     * A lock held by another thread of the parent has no owner here; the
     * tables are consistent at every step, so it is simply released.  Each
     * is written only when it must change: every page the child writes
     * costs it a copy-on-write fault, a few microseconds of a fork that
     * costs ~90 natively.  seen[] is inherited: a site the parent trapped
     * at once is patched at the child's first trap there.
     */
    if (__atomic_load_n(&threaded, __ATOMIC_RELAXED))
        __atomic_store_n(&threaded, 0, __ATOMIC_RELEASE);
    if (__atomic_load_n(&rw_lock, __ATOMIC_RELAXED) ||
        __atomic_load_n(&stale_gen, __ATOMIC_RELAXED) != stale_done)
        unlock();
}

void sbx_rw_forget(uint64_t addr, uint64_t len)
{
    if (!rewriting())
        return;
    if (lock()) {
        region_drop(addr, len);
        unlock();
    } else {
        __atomic_add_fetch(&stale_gen, 1, __ATOMIC_RELEASE);
    }
}

int sbx_rw_owns(uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;
    unsigned n = __atomic_load_n(&nareas, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (addr < areas[i].hi && end > areas[i].lo)
            return 1;
    return 0;
}
