/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest images: loop device + read-only ext4 mount, shared by every sandbox of an image; or a
 * directory root, a clone of the caller's directory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sbx/error.h"

struct sbx_image {
    dev_t dev; /* key: the image file's identity and version */
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    bool writable;
    int mount_fd;           /* detached mount of the filesystem (fsmount), owned */
    int trampoline_fd;      /* the trampoline with this image's site map, owned; or -EBADF */
    bool sitemap_tried;     /* sbx-sitemap ran (or failed) for it */
    unsigned refs;          /* sandboxes using it */
    uint64_t idle_since_ms; /* when refs dropped to 0 */
    uint64_t released_ms;   /* when a sandbox last let it go (sbx_image_release) */
    int loop_nr;            /* -1 for a directory root */
    bool lingering;         /* writable, released, but its loop device still holds the file */
    struct sbx_image *next;
};

struct sbx_image_cache {
    struct sbx_image *head;
    size_t n;
    size_t max_idle; /* unused images kept mounted, at most */
    bool fuse_ok;    /* images and directory roots on FUSE are taken (a private daemon) */
};

void sbx_image_cache_init(struct sbx_image_cache *c, size_t max_idle);

/*
 * What a spare's prepared root was built for (PREPARE): the image, by file
 * and version, and the spec fields the root depends on.  set false: none.
 */
struct sbx_root_key {
    bool set;
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    uint32_t flags; /* SBX_PREPARE_FLAGS */
    uint64_t overlay_size, tmp_size, shm_size;
};

/* The key's image, if the cache holds it mounted, read-only and of an image file; or NULL. */
struct sbx_image *sbx_image_find(struct sbx_image_cache *c, const struct sbx_root_key *k);

/*
 * Returns a referenced image for the file behind image_fd, attaching and
 * mounting it the first time.  writable: the sandbox wants the image itself
 * read-write (exclusive: fails with -EBUSY while anyone else uses it; the
 * fd must be open for writing).  On error, e holds an explanation for
 * people that starts with "image: " (the client, which knows the file's
 * name, puts it there).
 */
int sbx_image_acquire(struct sbx_image_cache *c, int image_fd, bool writable,
                      struct sbx_image **ret, struct sbx_error *e);
/*
 * Drops a reference.  The last one of a writable image unmounts it at once;
 * 0 when the loop device has let go of the file too, so that every write of
 * the sandbox is in the file; -EBUSY when something outside the daemon still
 * holds the filesystem (the image stays exclusive until sbx_image_file_busy
 * sees it free).
 */
int sbx_image_release(struct sbx_image_cache *c, struct sbx_image *img, uint64_t now_ms);
/*
 * Takes a writable image's mount out of it, for the caller to close off the
 * event loop: that close runs the filesystem's final unmount.  The caller
 * keeps its reference, and releases it once the close has returned.
 */
int sbx_image_take_mount(struct sbx_image *img);
/* Whether a released writable image of the file dev:ino is still attached to its loop device. */
bool sbx_image_file_busy(struct sbx_image_cache *c, dev_t dev, ino_t ino);
/* One more reference to an acquired image (released with sbx_image_release). */
void sbx_image_hold(struct sbx_image *img);

/* Drops unused images idle for longer than max_idle_ms (all of them with 0). */
void sbx_image_cache_trim(struct sbx_image_cache *c, uint64_t now_ms, uint64_t max_idle_ms);
void sbx_image_cache_clear(struct sbx_image_cache *c);
