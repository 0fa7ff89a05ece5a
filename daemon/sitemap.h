/*
 * Site maps (include/sbx/sitemap.h): the daemon runs sbx-sitemap over a
 * read-only image once, checks what it wrote, and hands the image's
 * sandboxes a sealed trampoline memfd with the map appended.
 */
#pragma once

#include <stddef.h>

/* 0 if buf[0..len) is a well-formed map; else -EBADMSG, and msg says what is wrong. */
int sbx_sitemap_check(const void *buf, size_t len, char *msg, size_t msglen);

/*
 * Runs the sbx-sitemap program in memfd helper_fd over the directory
 * root_fd, for at most timeout_ms, checks its map and returns a sealed
 * memfd of the trampoline followed by the map and its footer; -errno with
 * msg set on failure.
 */
int sbx_sitemap_build(int helper_fd, int root_fd, int timeout_ms, char *msg, size_t msglen);
