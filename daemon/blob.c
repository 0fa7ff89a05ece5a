/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helper programs embedded in the daemon (tools/embed.py), handed to sandboxes
 * as sealed memfds: the guest can never reach a host path of either, and the
 * daemon needs no install location to find them.
 */
#include "daemon/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sbx/macro.h"

extern const unsigned char sbx_init_blob[];
extern const size_t sbx_init_blob_size;
extern const unsigned char sbx_trampoline_blob[];
extern const size_t sbx_trampoline_blob_size;
extern const unsigned char sbx_sitemap_blob[];
extern const size_t sbx_sitemap_blob_size;

static int write_all(int fd, const void *data, size_t size)
{
    const unsigned char *p = data;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, p + off, size - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return sbx_neg_errno();
        }
        off += (size_t)n;
    }
    return 0;
}

/* data, then (when tail_size > 0) zeros up to a page boundary and tail. */
static int blob_memfd_tail(const char *name, const unsigned char *data, size_t size,
                           const void *tail, size_t tail_size)
{
    _cleanup_close_ int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return sbx_neg_errno();
    int r = write_all(fd, data, size);
    if (r == 0 && tail_size > 0) {
        size_t at = (size + 4095) & ~(size_t)4095;
        if (ftruncate(fd, (off_t)at) < 0 || lseek(fd, (off_t)at, SEEK_SET) < 0)
            return sbx_neg_errno();
        r = write_all(fd, tail, tail_size);
    }
    if (r < 0)
        return r;
    /* Sealed, so neither a guest nor a bug can ever change what sandboxes execute. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        return sbx_neg_errno();
    return TAKE_FD(fd);
}

static int blob_memfd(const char *name, const unsigned char *data, size_t size)
{
    return blob_memfd_tail(name, data, size, NULL, 0);
}

int sbx_blob_memfd_init(void)
{
    return blob_memfd("sbx-init", sbx_init_blob, sbx_init_blob_size);
}

int sbx_blob_memfd_trampoline(void)
{
    return blob_memfd("sbx-trampoline", sbx_trampoline_blob, sbx_trampoline_blob_size);
}

int sbx_blob_memfd_trampoline_with(const void *tail, size_t tail_size)
{
    return blob_memfd_tail("sbx-trampoline", sbx_trampoline_blob, sbx_trampoline_blob_size, tail,
                           tail_size);
}

uint64_t sbx_blob_sitemap_id(void)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < sbx_sitemap_blob_size; i++)
        h = (h ^ sbx_sitemap_blob[i]) * 0x100000001b3ULL;
    return h;
}

int sbx_blob_memfd_sitemap(void)
{
    return blob_memfd("sbx-sitemap", sbx_sitemap_blob, sbx_sitemap_blob_size);
}
