/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the daemon's site map check (daemon/sitemap.c): the
 * map comes from a helper that read untrusted files.  Whatever the check
 * accepts, every file's sites and slots lie inside the map and inside the
 * file, in rel8 reach of their syscall, as the trampoline assumes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/blob.h"
#include "daemon/sitemap.h"
#include "sbx/sitemap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* sitemap.c's one tie to the daemon's embedded programs, not needed here. */
int sbx_blob_memfd_trampoline_with(const void *tail, size_t tail_size)
{
    (void)tail;
    (void)tail_size;
    return -ENOSYS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that any read past the map is caught. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct sbx_error e = { 0 };
    if (sbx_sitemap_check(buf, size, &e) == 0) {
        const struct sbx_sitemap_header *h = (const void *)buf;
        const struct sbx_sitemap_file *f = (const void *)(h + 1);
        const struct sbx_sitemap_site *s = (const void *)(f + h->nfiles);
        if ((const uint8_t *)(s + h->nsites) != buf + size)
            abort();
        for (uint32_t i = 0; i < h->nfiles; i++) {
            if (i && f[i].ino <= f[i - 1].ino)
                abort();
            for (uint32_t k = 0; k < f[i].nsites; k++) {
                const struct sbx_sitemap_site *x = &s[f[i].first + k];
                int64_t lo = x->slot_at < 0 ? x->slot_at : 0;
                int64_t hi = x->slot_at == x->slot_end ? 7 : x->slot_end > 2 ? x->slot_end : 2;
                /* What the trampoline's arithmetic needs: no offset near a wrap. */
                if (f[i].size > SBX_SITEMAP_MAX_FILE_SIZE || x->off >= f[i].size)
                    abort();
                if ((int64_t)x->off + lo < 0 || (uint64_t)((int64_t)x->off + hi) > f[i].size)
                    abort();
                if (x->slot_at != x->slot_end &&
                    (x->slot_at - 2 < -128 || x->slot_at - 2 > 127 ||
                     x->slot_end - x->slot_at < 5 || (x->slot_at < 2 && x->slot_end > 0)))
                    abort();
            }
        }
    } else if (!memchr(e.msg, '\0', sizeof(e.msg))) {
        abort();
    }
    free(buf);
    return 0;
}
