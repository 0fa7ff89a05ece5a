/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Site maps made in the background.  The first rewrite-mode run of a
 * read-only image starts sbx-sitemap and goes on without waiting: it and
 * every run until the map is there patch lazily (docs/trampoline.md).  One
 * helper runs at a time; an image whose run finds one busy asks again at its
 * next run.  The build holds a reference to the image, so that it stays
 * mounted and cached, and ends when the helper exits (its pidfd becomes
 * readable in the loop, which never waits for it), or when the daemon stops.
 * After SITEMAP_TIMEOUT_MS the helper is killed and its exit ends the build.
 * A helper that fails leaves an empty map in the store, so that this version
 * of the image and helper is not walked again at every mount.
 */
#include "daemon/sitemap-build.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "daemon/daemon.h"
#include "daemon/image.h"
#include "daemon/log.h"
#include "daemon/sitemap.h"
#include "sbx/macro.h"
#include "sbx/sitemap.h"

#define SITEMAP_TIMEOUT_MS 10000
#define REAP_TIMEOUT_MS 1000 /* for a killed helper to exit */

struct sbx_sitemap_build {
    struct sbx_daemon *d;
    struct sbx_image *img;
    struct sbx_sitemap_job job;
    struct sbx_sitemap_key key;
    uint64_t started_ms;
    uv_poll_t exit_poll;
    uv_timer_t timer;
    int handles;
    bool timed_out;
    struct sbx_sitemap_build *next;
};

/* The trampoline for the image's sandboxes, with map appended. */
static void install(struct sbx_image *img, const void *map, size_t len)
{
    int r = sbx_sitemap_trampoline(map, len);
    if (r < 0) {
        sbx_warn("image loop%d: cannot add the site map to the trampoline: %s", img->loop_nr,
                 strerror(-r));
        return;
    }
    sbx_close(img->trampoline_fd);
    img->trampoline_fd = r;
}

static void on_closed(uv_handle_t *h)
{
    struct sbx_sitemap_build *b = h->data;
    if (--b->handles == 0)
        free(b);
}

/*
 * Kills the helper if it still runs and reaps it.  The loop waits for that
 * (a second at most): this happens only when the daemon stops or libuv
 * cannot watch the helper, and a killed helper is gone in a few milliseconds.
 */
static void cancel(struct sbx_sitemap_job *job, const struct sbx_image *img)
{
    if (sbx_sitemap_cancel(job, REAP_TIMEOUT_MS) < 0)
        sbx_warn("image loop%d: sbx-sitemap did not exit within %d ms of SIGKILL: it stays a "
                 "zombie until sandboxd exits",
                 img->loop_nr, REAP_TIMEOUT_MS);
}

/* Kills the helper if it still runs, lets go of the image, frees b once libuv has. */
static void build_end(struct sbx_sitemap_build *b)
{
    for (struct sbx_sitemap_build **p = &b->d->sitemap_builds; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    cancel(&b->job, b->img);
    sbx_image_release(&b->d->images, b->img, sbx_daemon_now(b->d));
    uv_close((uv_handle_t *)&b->exit_poll, on_closed);
    uv_close((uv_handle_t *)&b->timer, on_closed);
}

/* Remembers that this image and helper give no map: an empty one. */
static void store_empty(struct sbx_sitemap_build *b)
{
    const struct sbx_sitemap_header h = {
        .magic = SBX_SITEMAP_MAGIC,
        .version = SBX_SITEMAP_VERSION,
        .bytes = sizeof(h),
    };
    int r;
    if (b->d->sitemap_dir_fd >= 0 &&
        (r = sbx_sitemap_store(b->d->sitemap_dir_fd, &b->key, &h, sizeof(h))) < 0)
        sbx_warn("image loop%d: cannot store that it has no site map: %s", b->img->loop_nr,
                 strerror(-r));
}

static void on_helper_exit(uv_poll_t *h, int status, int events)
{
    struct sbx_sitemap_build *b = h->data;
    struct sbx_image *img = b->img;
    _cleanup_free_ void *map = NULL;
    size_t len = 0;
    struct sbx_error e = { 0 };
    /* libuv must not watch the pidfd that finish closes. */
    uv_poll_stop(&b->exit_poll);
    int r = status < 0 ? status : sbx_sitemap_finish(&b->job, &map, &len, &e);
    if (b->timed_out) {
        sbx_warn("image loop%d: no site map, sbx-sitemap took longer than %d ms", img->loop_nr,
                 SITEMAP_TIMEOUT_MS);
        store_empty(b);
    } else if (r < 0) {
        sbx_warn("image loop%d: no site map, rewrite mode patches lazily: %s", img->loop_nr,
                 status < 0 ? uv_strerror(status) : sbx_error_msg(&e, r));
        if (status >= 0)
            store_empty(b);
    } else {
        const struct sbx_sitemap_header *hd = map;
        sbx_info("image loop%d: site map of %u ELF files, %u sites, made in %llu ms", img->loop_nr,
                 hd->nfiles, hd->nsites,
                 (unsigned long long)(sbx_daemon_now(b->d) - b->started_ms));
        if (b->d->sitemap_dir_fd >= 0 &&
            (r = sbx_sitemap_store(b->d->sitemap_dir_fd, &b->key, map, len)) < 0)
            sbx_warn("image loop%d: cannot store its site map: %s", img->loop_nr, strerror(-r));
        install(img, map, len);
    }
    build_end(b);
}

/* Kills the helper; the build ends when it is gone (on_helper_exit). */
static void on_timeout(uv_timer_t *t)
{
    struct sbx_sitemap_build *b = t->data;
    b->timed_out = true;
    sbx_sitemap_kill(&b->job);
}

void sbx_sitemap_request(struct sbx_daemon *d, struct sbx_image *img)
{
    if (img->sitemap_tried || img->writable || d->sitemap_memfd < 0)
        return;
    struct sbx_sitemap_key key = {
        .dev = img->dev,
        .ino = img->ino,
        .size = (uint64_t)img->size,
        .mtime_ns = img->mtime_ns,
        .helper = d->sitemap_id,
    };
    _cleanup_free_ void *map = NULL;
    size_t len = 0;
    if (d->sitemap_dir_fd >= 0 && sbx_sitemap_load(d->sitemap_dir_fd, &key, &map, &len) == 0) {
        img->sitemap_tried = true;
        install(img, map, len);
        return;
    }
    /* One at a time: a helper takes a core for up to a few seconds. */
    if (d->sitemap_builds)
        return;
    img->sitemap_tried = true;
    struct sbx_sitemap_build *b = calloc(1, sizeof(*b));
    struct sbx_error e = { 0 };
    if (!b)
        return;
    *b = (struct sbx_sitemap_build){ .d = d, .img = img, .key = key };
    int r = sbx_sitemap_start(d->sitemap_memfd, img->mount_fd, &b->job, &e);
    if (r == 0 && (r = uv_poll_init(d->loop, &b->exit_poll, b->job.pidfd)) < 0)
        cancel(&b->job, img);
    if (r < 0) {
        sbx_warn("image loop%d: no site map, rewrite mode patches lazily: %s", img->loop_nr,
                 sbx_error_msg(&e, r));
        free(b);
        return;
    }
    uv_timer_init(d->loop, &b->timer);
    b->exit_poll.data = b->timer.data = b;
    b->handles = 2;
    b->started_ms = sbx_daemon_now(d);
    sbx_image_hold(img);
    b->next = d->sitemap_builds;
    d->sitemap_builds = b;
    if ((r = uv_poll_start(&b->exit_poll, UV_READABLE, on_helper_exit)) < 0 ||
        (r = uv_timer_start(&b->timer, on_timeout, SITEMAP_TIMEOUT_MS, 0)) < 0) {
        sbx_warn("image loop%d: no site map: %s", img->loop_nr, uv_strerror(r));
        build_end(b);
    }
}

void sbx_sitemap_offer(struct sbx_image *img, const void *map, size_t len)
{
    if (img->sitemap_tried || img->writable)
        return;
    struct sbx_error e = { 0 };
    if (sbx_sitemap_check(map, len, &e) < 0) {
        sbx_warn("image loop%d: ignoring the site map in the image file: %s", img->loop_nr, e.msg);
        return;
    }
    const struct sbx_sitemap_header *h = map;
    img->sitemap_tried = true;
    install(img, map, len);
    sbx_info("image loop%d: site map of %u files, %u sites, from the image file", img->loop_nr,
             h->nfiles, h->nsites);
}

void sbx_sitemap_cancel_all(struct sbx_daemon *d)
{
    while (d->sitemap_builds)
        build_end(d->sitemap_builds);
}
