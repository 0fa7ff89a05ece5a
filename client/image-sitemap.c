/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The site map of a built image, made at build time.  The search parses
 * every ELF file of the image, which is untrusted input: it runs exactly as
 * the daemon runs it, in sbx-sitemap (nobody, chrooted into the image, a
 * seccomp allowlist, new namespaces), over the image mounted read-only the
 * way the daemon mounts it, and its output passes the daemon's checks.
 */
#include "client/image-sitemap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/blob.h"
#include "daemon/image.h"
#include "daemon/sitemap.h"
#include "sbx/macro.h"

int sbx_image_build_sitemap(int fd, void **ret_map, size_t *ret_len, char *msg, size_t msglen)
{
    if (geteuid() != 0)
        return -EPERM;
    _cleanup_close_ int helper = sbx_blob_memfd_sitemap();
    if (helper < 0) {
        snprintf(msg, msglen, "no sbx-sitemap in this build: %s", strerror(-helper));
        return helper;
    }
    struct sbx_image_cache cache;
    sbx_image_cache_init(&cache, 0);
    struct sbx_image *img = NULL;
    char why[512] = "";
    int r = sbx_image_acquire(&cache, fd, false, &img, why, sizeof(why));
    if (r < 0) {
        snprintf(msg, msglen, "cannot mount the image for its site map: %s", why);
        sbx_image_cache_clear(&cache);
        return r;
    }
    struct sbx_sitemap_job job;
    r = sbx_sitemap_start(helper, img->mount_fd, &job, why, sizeof(why));
    if (r == 0)
        r = sbx_sitemap_finish(&job, ret_map, ret_len, why, sizeof(why));
    if (r < 0)
        snprintf(msg, msglen, "no site map: %s", why[0] ? why : strerror(-r));
    sbx_image_release(&cache, img, 0);
    sbx_image_cache_clear(&cache);
    return r;
}
