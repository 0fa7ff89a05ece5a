/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helper programs embedded in the daemon, handed to sandboxes as sealed memfds. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A sealed, read-only memfd holding the embedded program; -errno on failure. */
int sbx_blob_memfd_init(void);
int sbx_blob_memfd_trampoline(void);
/* The trampoline, then from the next page boundary tail (a site map and its footer). */
int sbx_blob_memfd_trampoline_with(const void *tail, size_t tail_size);
/* sbx-sitemap (trampoline/sitemap-main.c); built in with the trampoline. */
int sbx_blob_memfd_sitemap(void);
/* A hash of sbx-sitemap: stored maps made by another build are not used. */
uint64_t sbx_blob_sitemap_id(void);
