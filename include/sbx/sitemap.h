/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The site map of an image: for every ELF file of a read-only image, the
 * syscall sites rewrite mode may patch, proven ahead of time (file offsets).
 * sbx-sitemap computes it in a locked-down process of its own from the
 * image's bytes alone; the daemon checks it (sbx_sitemap_check), appends it
 * to a sealed copy of the trampoline for that image's sandboxes, and the
 * trampoline patches a mapped file's listed sites before the mapping becomes
 * executable (docs/trampoline.md, "Site maps").
 *
 * Layout: header, files[nfiles] sorted by ino (unique), sites[nsites]; file
 * i owns sites[first .. first + nsites), sorted by off.  A syscall site's
 * slot is [off + slot_at, off + slot_end); a mov site has slot_at ==
 * slot_end == 0 and covers [off, off + 7).
 *
 * A trampoline memfd that carries a map ends with the map and then a
 * footer giving the map's length: the map lies right before the footer.
 *
 * Header-only, freestanding: the trampoline includes it.
 */
#pragma once

#include <stdint.h>

#define SBX_SITEMAP_MAGIC 0x3170616d65746973ULL /* "sitemap1" */
#define SBX_SITEMAP_FOOTER_MAGIC 0x746f6f6670616d73ULL
#define SBX_SITEMAP_VERSION 2
/* Upper bounds the daemon enforces and the trampoline relies on. */
#define SBX_SITEMAP_MAX_BYTES (16U << 20)
#define SBX_SITEMAP_MAX_FILES (1U << 17)
#define SBX_SITEMAP_MAX_SITES (1U << 19)
/* Larger files are not listed. */
#define SBX_SITEMAP_MAX_FILE_SIZE (512ULL << 20)
/* A slot lies within rel8 reach of the end of its `syscall`. */
#define SBX_SITEMAP_SLOT_REACH 160

struct sbx_sitemap_header {
    uint64_t magic;
    uint32_t version;
    uint32_t nfiles;
    uint32_t nsites;
    uint32_t reserved;
    uint64_t bytes; /* header + files + sites */
};

/*
 * A file is known by inode, size, mtime and ctime: through the sandbox's
 * overlay an image file shows the inode and times it has in the image, and
 * a copy-up, which keeps the inode number, changes the ctime, which nobody
 * can set.
 */
struct sbx_sitemap_file {
    uint64_t ino;
    uint64_t size;
    int64_t mtime_ns, ctime_ns;
    uint32_t first, nsites;
};

struct sbx_sitemap_site {
    uint64_t off;
    int32_t slot_at, slot_end;
};

struct sbx_sitemap_footer {
    uint64_t magic;
    uint64_t bytes; /* of the map, which ends where the footer starts */
    uint64_t reserved;
};

_Static_assert(sizeof(struct sbx_sitemap_header) == 32, "ABI");
_Static_assert(sizeof(struct sbx_sitemap_file) == 40, "ABI");
_Static_assert(sizeof(struct sbx_sitemap_header) + SBX_SITEMAP_MAX_FILES * 40ULL +
                       SBX_SITEMAP_MAX_SITES * 16ULL <=
                   SBX_SITEMAP_MAX_BYTES,
               "a map at every limit fits");
_Static_assert(sizeof(struct sbx_sitemap_site) == 16, "ABI");
