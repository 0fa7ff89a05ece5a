/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of rewrite mode shared by its files: rewrite.c (when code is
 * patched, registered code), rewrite-stub.c (stubs and patches),
 * rewrite-hot.c (hot sites), rewrite-sitemap.c (the image's site map) and
 * rewrite-elf.c (known instruction starts from an ELF file).
 *
 * Signal-safety contract: declarations only; see rewrite.h.
 */
#pragma once

#include <elf.h>

#include "rewrite-site.h"
#include "rewrite.h"

#define SBX_RW_MAX_STARTS 65536
#define SBX_RW_MAX_SITES 16384
#define SBX_RW_MAX_RANGES 16
#define SBX_RW_EH_MAX (8 << 20)
#define SBX_RW_MAX_HINTS 256
#define SBX_RW_PAGE 4096ULL
/* A site that trapped this often in the sandbox is patched at its next trap (rewrite-hot.c). */
#define SBX_RW_HOT_AT 2

/* Code bytes to scan, [lo, hi); lo_known: lo is the start of a segment. */
struct sbx_rw_range {
    uint64_t lo, hi;
    int lo_known;
};

/* Per-call working memory, mmap'ed (too large for a guest's stack). */
struct sbx_rw_scratch {
    uint64_t starts[SBX_RW_MAX_STARTS];
    uint64_t sort_tmp[SBX_RW_MAX_STARTS];
    uint32_t sort_count[4][256];
    struct sbx_rw_patch patches[SBX_RW_MAX_SITES];
    struct sbx_rw_slot taken[SBX_RW_MAX_SITES]; /* the slots of patches[] */
    struct sbx_rw_range ranges[SBX_RW_MAX_RANGES];
    Elf64_Phdr ph[64];
    Elf64_Shdr sh[256];
    char names[4096];  /* the start of .shstrtab */
    uint64_t dev, ino; /* of the file sbx_rw_file_ranges read */
    uint64_t hints[SBX_RW_MAX_HINTS];
    uint8_t buf[8192];
    uint8_t poke[SBX_RW_PAGE]; /* the bytes of one /proc/self/mem write (rewrite-stub.c) */
};

/*
 * For a mapping of fd's file offsets [off, off + len) at addr: fills
 * s->ranges with the executable PT_LOAD bytes inside it (returns how many)
 * and s->starts with the known instruction starts and ends inside them,
 * sorted and unique (*ret_nstarts): segment starts, executable section
 * starts and ends, function symbols (.symtab, .dynsym) with their ends, and
 * the function starts of .eh_frame_hdr or .eh_frame; s->dev and s->ino name
 * the file.
 */
unsigned sbx_rw_file_ranges(struct sbx_rw_scratch *s, int fd, uint64_t addr, uint64_t off,
                            uint64_t len, size_t *ret_nstarts);

/*
 * Sorts a[0..n) and drops duplicates; returns the new count.  tmp (n words)
 * and count are working memory; with tmp NULL it sorts in place, slower.
 */
size_t sbx_rw_sort_unique(uint64_t *a, uint64_t *tmp, uint32_t (*count)[256], size_t n);

/* ---- rewrite-stub.c ---- */

/* A read-write stub area for n stubs near [lo, hi), its slot filled; 0 when none. */
uint64_t sbx_rw_new_area(uint64_t lo, uint64_t hi, size_t n, uint64_t *ret_size);
/* Writes the stub for pt at stub, inside the (read-write) area. */
void sbx_rw_stub_for(uint64_t stub, uint64_t area, const struct sbx_rw_patch *pt);
/* The bytes a patch writes: [*lo, *hi). */
void sbx_rw_patch_span(const struct sbx_rw_patch *pt, uint64_t *lo, uint64_t *hi);
/* In place: the pages of the site and its slot are writable, not executable; whether it wrote. */
int sbx_rw_write_patch(const struct sbx_rw_patch *pt, uint64_t stub);
/* /proc/self/mem for writing, for the moment of a patch; -1 where it cannot be opened. */
int sbx_rw_self_mem_open(void);
/*
 * Writes one patch through mem: 1 written, 0 the code is no longer what was
 * proven, -1 the kernel refused the write: the caller mprotects instead.
 */
int sbx_rw_poke_patch(int mem, const struct sbx_rw_patch *pt, uint64_t stub);
/*
 * Patches s->patches[0..n) (inside the ranges r[0..nr)) that nobody can be
 * running: stubs in a new area, then each site written, the code left at prot.
 * fresh, when not NULL, is the whole mapping the ranges lie in, which is not
 * executable yet and gets its protection from the caller afterwards: it is
 * made writable and written directly, and left so.
 */
void sbx_rw_patch_sites(struct sbx_rw_scratch *s, const struct sbx_rw_range *r, unsigned nr,
                        size_t n, int prot, const struct sbx_rw_range *fresh);

/* ---- rewrite-hot.c ---- */

struct sbx_stats;
/* The sandbox's stats page, or NULL when this process has none. */
struct sbx_stats *sbx_rw_shared_stats(void);
/*
 * Counts a trap at file offset off1 - 1 of the file (dev, ino); the site's
 * count in the sandbox, or 0.
 */
uint32_t sbx_rw_hot_note(uint64_t dev, uint64_t ino, uint64_t off1);
/*
 * The hot sites of file (dev, ino) that lie in [lo, hi), where file offset
 * foff is mapped at lo: their `syscall` addresses into out[0..max).
 */
size_t sbx_rw_hot_sites(uint64_t dev, uint64_t ino, uint64_t foff, uint64_t lo, uint64_t hi,
                        uint64_t *out, size_t max);

/* ---- rewrite-sitemap.c ---- */

struct sbx_sitemap_file;
/* Maps the site map appended to this process's exe file, if it has a valid one. */
void sbx_rw_sitemap_map(void);
/* The map's entry for the file open at fd, or NULL. */
const struct sbx_sitemap_file *sbx_rw_sitemap_file(int fd);
/*
 * The listed sites of f that lie, with their slots, inside the mapping at
 * addr of file offsets [off, off + len): into out[0..max).
 */
size_t sbx_rw_sitemap_patches(const struct sbx_sitemap_file *f, uint64_t addr, uint64_t off,
                              uint64_t len, struct sbx_rw_patch *out, size_t max);
