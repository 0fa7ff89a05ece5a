/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of rewrite mode shared by rewrite.c (patching) and
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
