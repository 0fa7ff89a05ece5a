/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode's hot sites, shared by the sandbox's processes in the stats
 * page (struct sbx_hot_site, include/sbx/abi.h), and carried across an exec
 * in the exec request.
 *
 * A site that trapped this often in the sandbox, in any processes, is
 * patched at its next trap in any process, when a process maps its file,
 * and by a parent before it forks (its children inherit the patch).  So the
 * first calls of a shell's children, or of a pipeline's later programs, do
 * not all trap.  The table is the guests' to write: entries are hints, the
 * sites they name are proven like any other, and at most SBX_RW_MAX_HINTS
 * are tried per mapping.
 *
 * Signal-safety contract: see rewrite.h.  The table is written with atomic
 * operations only, by any process of the sandbox at any time.
 */
#include "rewrite-internal.h"
#include "sbx/abi.h"

#define HOT_PROBE 8

struct sbx_stats *sbx_rw_shared_stats(void)
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

uint32_t sbx_rw_hot_note(uint64_t dev, uint64_t ino, uint64_t off1)
{
    struct sbx_stats *st = sbx_rw_shared_stats();
    if (!st || !ino)
        return 0;
    uint64_t h = hot_hash(dev, ino, off1);
    for (unsigned i = 0; i < HOT_PROBE; i++) {
        struct sbx_hot_site *e = &st->hot[(h + i) & (SBX_STATS_HOT - 1)];
        uint64_t cur = __atomic_load_n(&e->off1, __ATOMIC_ACQUIRE);
        if (cur == 0 && __atomic_compare_exchange_n(&e->off1, &cur, off1, 0, __ATOMIC_ACQ_REL,
                                                    __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&e->dev, dev, __ATOMIC_RELAXED);
            __atomic_store_n(&e->ino, ino, __ATOMIC_RELAXED);
            __atomic_store_n(&e->traps, 1, __ATOMIC_RELEASE);
            return 1;
        }
        if (cur == off1 && __atomic_load_n(&e->traps, __ATOMIC_ACQUIRE) == 0)
            return 0; /* another process is filling this entry in, maybe for this site */
        if (cur == off1 && __atomic_load_n(&e->dev, __ATOMIC_RELAXED) == dev &&
            __atomic_load_n(&e->ino, __ATOMIC_RELAXED) == ino) {
            uint32_t n = __atomic_add_fetch(&e->traps, 1, __ATOMIC_RELAXED);
            if (n == SBX_RW_HOT_AT)
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
    const struct sbx_stats *st = sbx_rw_shared_stats();
    size_t n = 0;
    for (unsigned i = 0; st && i < SBX_STATS_HOT && n + 48 <= cap && n / 48 < HOT_CARRY; i++) {
        const struct sbx_hot_site *e = &st->hot[i];
        uint64_t off1 = __atomic_load_n(&e->off1, __ATOMIC_ACQUIRE);
        if (!off1 || __atomic_load_n(&e->traps, __ATOMIC_RELAXED) < SBX_RW_HOT_AT)
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
    struct sbx_stats *st = sbx_rw_shared_stats();
    for (size_t at = 0; st && at + 48 <= len && at / 48 < HOT_CARRY; at += 48) {
        uint64_t off1, dev, ino;
        if (!unhex64(hex + at, &off1) || !unhex64(hex + at + 16, &dev) ||
            !unhex64(hex + at + 32, &ino) || !off1)
            return;
        uint64_t h = hot_hash(dev, ino, off1);
        for (unsigned i = 0; i < HOT_PROBE; i++) {
            struct sbx_hot_site *e = &st->hot[(h + i) & (SBX_STATS_HOT - 1)];
            if (e->off1 == 0) {
                *e = (struct sbx_hot_site){
                    .off1 = off1, .dev = dev, .ino = ino, .traps = SBX_RW_HOT_AT
                };
                break;
            }
        }
    }
}

size_t sbx_rw_hot_sites(uint64_t dev, uint64_t ino, uint64_t foff, uint64_t lo, uint64_t hi,
                        uint64_t *out, size_t max)
{
    const struct sbx_stats *st = sbx_rw_shared_stats();
    size_t n = 0;
    if (!st || !ino || hi - lo < 2)
        return 0;
    for (unsigned i = 0; i < SBX_STATS_HOT && n < max; i++) {
        const struct sbx_hot_site *e = &st->hot[i];
        uint64_t off1 = __atomic_load_n(&e->off1, __ATOMIC_ACQUIRE);
        if (!off1 || __atomic_load_n(&e->ino, __ATOMIC_RELAXED) != ino ||
            __atomic_load_n(&e->dev, __ATOMIC_RELAXED) != dev ||
            __atomic_load_n(&e->traps, __ATOMIC_RELAXED) < SBX_RW_HOT_AT)
            continue;
        uint64_t off = off1 - 1;
        if (off < foff || off - foff > hi - lo - 2)
            continue;
        out[n++] = lo + (off - foff);
    }
    return n;
}
