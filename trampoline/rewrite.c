/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode: syscall sites in guest code, found at proven instruction
 * boundaries, are sent through per-site stubs to the fast entry (entry.S)
 * instead of trapping.  The stubs and the two shapes of site, and how a site
 * is pointed at its stub, are in rewrite-stub.c; the hot sites the
 * sandbox's processes share in rewrite-hot.c; the image's site map in
 * rewrite-sitemap.c.  This file decides when code is patched and keeps the
 * code registered for lazy patching.
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

#include "rewrite-internal.h"
#include "sbx/abi.h"
#include "x86-decode.h"

#define MAX_REGIONS 256
#define MAPS_MAX (1 << 20)
/* How far a lazy proof may decode. */
#define LAZY_REACH (256 << 10)
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

void sbx_rw_init(void)
{
    if (sbx_tramp.stats_mapped)
        sbx_tramp_patched_ctr = ((struct sbx_stats *)SBX_TRAMPOLINE_STATS_ADDR)->patched;
    if (rewriting())
        sbx_rw_sitemap_map();
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

/* ---- regions: registered code, patched lazily ---- */

/*
 * Memory a region keeps for its life (its known instruction starts), in the
 * trampoline's reserved range above its image, where /proc/self/maps shows
 * it with the trampoline's own mappings rather than as one more anonymous
 * mapping of the guest's; anywhere when that range is full.
 */
static long own_mmap(uint64_t bytes)
{
    uint64_t a = ((uint64_t)__sbx_image_end + SBX_RW_PAGE - 1) & ~(SBX_RW_PAGE - 1);
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
    uint64_t bytes = ((n + 1) * sizeof(uint64_t) + SBX_RW_PAGE - 1) & ~(SBX_RW_PAGE - 1);
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

/* Counts a trap at the `syscall` sc of r in the sandbox's hot sites; its count, or 0. */
static uint32_t region_hot_note(const struct region *r, uint64_t sc)
{
    return sbx_rw_hot_note(r->dev, r->ino, r->foff + (sc - r->lo) + 1);
}

/* A fresh stub in r's lazy stub page, or 0. */
static uint64_t lazy_stub(struct region *r, const struct sbx_rw_patch *pt)
{
    const unsigned cap = (SBX_RW_PAGE - SBX_RW_STUB_HDR) / SBX_RW_STUB_SIZE;
    if (!r->stubs || r->stubs_used == cap) {
        uint64_t size;
        uint64_t a = sbx_rw_new_area(r->lo, r->hi, cap, &size);
        if (!a)
            return 0;
        r->stubs = a;
        r->stubs_used = 0;
    } else if (sbx_sys3(__NR_mprotect, (long)r->stubs, SBX_RW_PAGE, PROT_READ | PROT_WRITE) < 0) {
        return 0;
    }
    uint64_t stub = r->stubs + SBX_RW_STUB_HDR + r->stubs_used++ * SBX_RW_STUB_SIZE;
    sbx_rw_stub_for(stub, r->stubs, pt);
    if (sbx_sys3(__NR_mprotect, (long)r->stubs, SBX_RW_PAGE, PROT_READ | PROT_EXEC) < 0)
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
        sbx_rw_patch_sites(s, &rg, 1, n, r->prot, NULL);
    }
    put_scratch(s);
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

/* A mapping of a file the image's site map lists: its sites, with no search and no proof. */
static void new_code_mapped(struct sbx_rw_scratch *s, const struct sbx_sitemap_file *f,
                            uint64_t addr, uint64_t len, int prot, uint64_t off)
{
    struct sbx_rw_range rg = { addr, addr + len, 0 };
    size_t n = sbx_rw_sitemap_patches(f, addr, off, len, s->patches, SBX_RW_MAX_SITES);
    sbx_rw_patch_sites(s, &rg, 1, n, prot, &rg);
}

/*
 * File-backed code of a single-threaded process: its ranges s->ranges[0..nr)
 * are registered for lazy patching, and only the sites other processes of
 * the sandbox trapped at are patched now, before anybody runs them.
 */
static void new_code_lazy(struct sbx_rw_scratch *s, unsigned nr, size_t nstarts, uint64_t addr,
                          uint64_t len, int prot, uint64_t off)
{
    for (unsigned i = 0; i < nr; i++)
        region_add(&s->ranges[i], s->starts, nstarts, prot, s->dev, s->ino,
                   off + (s->ranges[i].lo - addr));
    size_t nh = sbx_rw_hot_sites(s->dev, s->ino, off, addr, addr + len, s->hints, SBX_RW_MAX_HINTS);
    size_t n = 0, ntaken = 0;
    for (size_t h = 0; h < nh && n < SBX_RW_MAX_SITES; h++)
        for (unsigned i = 0; i < nr; i++)
            if (patch_for(&s->ranges[i], s->starts, nstarts, s->hints[h], s->taken, ntaken,
                          &s->patches[n])) {
                if (s->patches[n].slot.at)
                    s->taken[ntaken++] = s->patches[n].slot;
                n++;
                break;
            }
    struct sbx_rw_range whole = { addr, addr + len, 0 };
    sbx_rw_patch_sites(s, s->ranges, nr, n, prot, &whole);
}

/*
 * Code patched whole before it becomes executable: file-backed code of a
 * threaded process, searched for candidates and each proven, or anonymous
 * code, which has one known start (anon), swept whole.
 */
static void new_code_eager(struct sbx_rw_scratch *s, unsigned nr, size_t nstarts, int anon,
                           uint64_t addr, uint64_t len, int prot)
{
    size_t n = 0, ntaken = 0;
    for (unsigned i = 0; i < nr; i++)
        n = anon ? scan_range(&s->ranges[i], s->starts, nstarts, s, n)
                 : scan_candidates(&s->ranges[i], s->starts, nstarts, s, n, &ntaken);
    struct sbx_rw_range whole = { addr, addr + len, 0 };
    sbx_rw_patch_sites(s, s->ranges, nr, n, prot, &whole);
}

int sbx_rw_new_code(uint64_t addr, uint64_t len, int prot, int fd, uint64_t off)
{
    if (rewriting() && !(prot & PROT_WRITE) && lock()) {
        region_drop(addr, len);
        struct sbx_rw_scratch *s = get_scratch();
        const struct sbx_sitemap_file *f = fd >= 0 && s ? sbx_rw_sitemap_file(fd) : NULL;
        if (f) {
            new_code_mapped(s, f, addr, len, prot, off);
        } else if (s) {
            size_t nstarts = 1;
            unsigned nr = 1;
            if (fd >= 0) {
                nr = sbx_rw_file_ranges(s, fd, addr, off, len, &nstarts);
            } else {
                s->ranges[0] = (struct sbx_rw_range){ addr, addr + len, 1 };
                s->starts[0] = addr;
            }
            if (fd >= 0 && !is_threaded())
                new_code_lazy(s, nr, nstarts, addr, len, prot, off);
            else
                new_code_eager(s, nr, nstarts, fd < 0, addr, len, prot);
        }
        if (s)
            put_scratch(s);
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
    if (!(prot & PROT_EXEC) || (prot & PROT_WRITE) || len <= 0 || (addr & (SBX_RW_PAGE - 1)) ||
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
    sbx_rw_patch_span(&pt, &lo, &hi);
    uint64_t page = lo & ~(SBX_RW_PAGE - 1);
    uint64_t end = (hi + SBX_RW_PAGE - 1) & ~(SBX_RW_PAGE - 1);
    int mem = stub ? sbx_rw_self_mem_open() : -1;
    if (mem >= 0) {
        patched = sbx_rw_poke_patch(mem, &pt, stub);
        sbx_sys1(__NR_close, mem);
        if (patched >= 0)
            return patched;
        patched = 0;
    }
    if (stub &&
        sbx_sys3(__NR_mprotect, (long)page, (long)(end - page), PROT_READ | PROT_WRITE) == 0) {
        patched = sbx_rw_write_patch(&pt, stub);
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
    uint32_t count = r ? region_hot_note(r, sc) : 0;
    if (is_threaded())
        return;
    uint64_t *slot = seen_slot(sc);
    uint64_t v = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (v == ~sc)
        return; /* patching it failed here before */
    if (v != sc && count < SBX_RW_HOT_AT) {
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
        region_hot_note(r, ip - 2);
}

void sbx_rw_before_fork(void)
{
    /* Per process; a child starts from its parent's view. */
    static uint64_t gen_done;
    const struct sbx_stats *st = sbx_rw_shared_stats();
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
                sbx_rw_hot_sites(r->dev, r->ino, r->foff, r->lo, r->hi, s->hints, SBX_RW_MAX_HINTS);
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
