/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewrite mode's use of the image's site map (include/sbx/sitemap.h): the
 * daemon proved every site of a read-only image's files ahead of time and
 * checked the map it appended to this trampoline's sealed memfd.  A mapping
 * of a file the map lists gets all its sites patched before it becomes
 * executable, with no search and no proof here: nothing of it traps first,
 * and nothing of it is registered for lazy patching.  A file is known by
 * inode, size, mtime and ctime (include/sbx/sitemap.h); a file that matches
 * and still changed is someone's own code, which the map can only mis-patch
 * for whoever runs it (docs/security.md).
 *
 * Signal-safety contract: see rewrite.h.  The map is mapped once, at
 * startup, read-only; the lookups only read it.
 */
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <asm/stat.h>

#include "rewrite-internal.h"
#include "trace.h"
#include "sbx/sitemap.h"

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
    uint64_t at = st.st_size - sizeof(ft) - ft.bytes, page = at & ~(SBX_RW_PAGE - 1);
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
void sbx_rw_sitemap_map(void)
{
    long fd = sbx_sys4(__NR_openat, AT_FDCWD, (long)"/proc/self/exe", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    sitemap_map_from((int)fd);
    sbx_sys1(__NR_close, fd);
}

const struct sbx_sitemap_file *sbx_rw_sitemap_file(int fd)
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

size_t sbx_rw_sitemap_patches(const struct sbx_sitemap_file *f, uint64_t addr, uint64_t off,
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
