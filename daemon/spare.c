/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spare sandbox: one sandbox spawned ahead of the next run (cgroup,
 * namespaces, sbx-init waiting), which has also built, on PREPARE, the root
 * of the last run on a read-only image file.  sandbox.c makes it and hands
 * it a request; here it is made, prepared, replaced and dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/spare.h"
#include "daemon/idmap.h"
#include "daemon/image.h"
#include "daemon/log.h"
#include "daemon/spawn-report.h"
#include "sbx/macro.h"

/*
 * The key of the root a run asks for, if a spare can build it ahead: an
 * overlay on a read-only image file.  A writable image and a directory
 * root (idmapped for its caller) are made at the request.
 */
bool sbx_root_key(const struct sbx_sandbox_params *p, struct sbx_root_key *k)
{
    const struct sbx_image *img = p->image;
    const struct sbx_spec *spec = p->spec;
    if (img->writable || img->loop_nr < 0 ||
        spec->flags & (SBX_SPEC_WRITABLE_IMAGE | SBX_SPEC_READONLY_ROOT))
        return false;
    *k = (struct sbx_root_key){ .set = true,
                                .dev = img->dev,
                                .ino = img->ino,
                                .size = img->size,
                                .mtime_ns = img->mtime_ns,
                                .flags = spec->flags & SBX_PREPARE_FLAGS,
                                .overlay_size = spec->overlay_size,
                                .tmp_size = spec->tmp_size,
                                .shm_size = spec->shm_size };
    return true;
}

bool sbx_root_key_eq(const struct sbx_root_key *a, const struct sbx_root_key *b)
{
    return a->set && b->set && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->flags == b->flags &&
           a->overlay_size == b->overlay_size && a->tmp_size == b->tmp_size &&
           a->shm_size == b->shm_size;
}

/* A copy of img's mount for the sandbox s, idmapped for its user namespace. */
static int image_copy(const struct sbx_image *img, const struct sbx_sandbox *s)
{
    _cleanup_close_ int fd = (int)syscall(SYS_open_tree, img->mount_fd, "",
                                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (fd < 0 || (s->userns_fd >= 0 && sbx_idmap_mount(fd, s->userns_fd) < 0))
        return -EBADF;
    return TAKE_FD(fd);
}

/*
 * Asks a new spare to build the last run's root ahead (PREPARE, init/main.c):
 * the overlay on the image, /proc, /dev, /tmp.  The spare holds a reference
 * to the image while it keeps that root, and a second copy of the image's
 * mount for the SPEC.  A run whose root is that one takes it whether or not
 * init has built it yet (its SPEC waits behind PREPARE); where the build
 * failed, init builds the root from the SPEC's copy, as without a spare.
 */
static void spare_prepare(struct sbx_daemon *d, struct sbx_sandbox *s)
{
    const struct sbx_root_key *k = &d->last_root;
    struct sbx_image *img = sbx_image_find(&d->images, k);
    if (!img || ((k->flags & SBX_SPEC_USERNS) != 0) != (s->userns_fd >= 0))
        return;
    /* Two copies of the image: one to build the root, one for the SPEC. */
    _cleanup_close_ int image = image_copy(img, s), for_spec = image_copy(img, s);
    if (image < 0 || for_spec < 0)
        return;
    struct sbx_msg_prepare m = { .staging = d->staging_dir,
                                 .flags = k->flags,
                                 .overlay_size = k->overlay_size,
                                 .tmp_size = k->tmp_size,
                                 .shm_size = k->shm_size };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_prepare_encode(&m, &b);
    if (r >= 0)
        r = sbx_proto_send(s->ctl_fd, &b, &image, 1);
    sbx_buf_free(&b);
    if (r < 0)
        return;
    sbx_image_hold(img);
    s->image = img;
    s->prepared_image = TAKE_FD(for_spec);
    s->prepared = *k;
    s->prepared_ms = sbx_daemon_now(d);
    sbx_debug("sandbox %llu: the spare, asked to build the last run's root",
              (unsigned long long)s->id);
}

/* A spare init died before it was used: reap it and forget it. */
static void on_spare_exit(uv_poll_t *h, int status, int events)
{
    struct sbx_sandbox *s = h->data;
    siginfo_t si = { 0 };
    int r = waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG);
    if ((r == 0 && si.si_pid == 0) || (r < 0 && errno == EINTR))
        return; /* not yet: a spurious wakeup */
    if (s->d->spare == s)
        s->d->spare = NULL;
    if (r == 0 && si.si_code == CLD_EXITED && si.si_status == SBX_SPAWN_EXIT_STATUS &&
        sbx_sandbox_spawn_failed(s))
        sbx_warn("the spare sandbox was dropped: %s", s->spawn_msg);
    uv_poll_stop(&s->pid_poll);
    s->exit_sent = true;
    sbx_sandbox_finish(s);
}

static void on_refill_timer(uv_timer_t *t)
{
    sbx_sandbox_refill_spare(t->data);
}

/*
 * A run's EXIT reaches its client while the sandbox is still being torn
 * down: the clone3 of the next spare (six new namespaces, in this loop) at
 * that moment takes the CPU the client needs to read it and exit, on a
 * small machine.  It waits a millisecond, which the client needs far less
 * than; a run that comes before it makes its own sandbox, as without a spare.
 */
void sbx_sandbox_refill_spare_soon(struct sbx_daemon *d)
{
    if (d->spare || d->stopping || d->cfg.conn_fd >= 0)
        return;
    /* A refill set for later (sbx_sandbox_refill_spare_while_running) comes forward. */
    if (uv_is_active((uv_handle_t *)&d->refill_timer) &&
        uv_timer_get_due_in(&d->refill_timer) <= SBX_SPARE_REFILL_DELAY_MS)
        return;
    if (uv_timer_start(&d->refill_timer, on_refill_timer, SBX_SPARE_REFILL_DELAY_MS, 0) < 0)
        sbx_sandbox_refill_spare(d);
}

/*
 * On a host with cgroup v1 controllers a new spare cannot be cloned into
 * its groups: it moves itself, and each move waits for an RCU grace period
 * (init-spawn.c), up to 8 ms here.  A spare first spawned after EXIT was
 * still moving when the next run of a script came, and that run waited for
 * it: a sandbox's run right after another sandbox's took about 77 ms where
 * one after a pause took 62-68 ms (bench/run's sqlite command).  So the
 * refill starts while a run goes on, once its guest is started and a few
 * milliseconds have passed: the run's own start, which a spawn in this loop
 * would slow, is over by then, and a run that ends sooner refills after
 * its EXIT as before.
 */
void sbx_sandbox_refill_spare_while_running(struct sbx_daemon *d)
{
    if (d->spare || d->stopping || d->cfg.conn_fd >= 0 ||
        uv_is_active((uv_handle_t *)&d->refill_timer))
        return;
    /*
     * Nor with the last block of host ids free: a run that cannot take the
     * spare (`network: host`) needs one of its own, and a spare made after
     * an EXIT has the block that run freed.
     */
    if (sbx_idrange_configured(&d->ids) && d->ids.n_blocks - d->ids.n_used < 2)
        return;
    if (uv_timer_start(&d->refill_timer, on_refill_timer, SBX_SPARE_REFILL_RUNNING_MS, 0) < 0)
        sbx_sandbox_refill_spare(d);
}

void sbx_sandbox_refill_spare(struct sbx_daemon *d)
{
    /* The embedded daemon serves one run: a spare would only cost it time. */
    if (d->spare || d->stopping || d->cfg.conn_fd >= 0)
        return;
    struct sbx_error e = { 0 };
    struct sbx_sandbox *s;
    int r = sbx_sandbox_spawn(d, false, sbx_idrange_configured(&d->ids), &s, &e);
    if (r < 0) {
        sbx_warn("cannot prepare a spare sandbox: %s", sbx_error_msg(&e, r));
        return;
    }
    if ((r = uv_poll_start(&s->pid_poll, UV_READABLE, on_spare_exit)) < 0) {
        s->next = d->sandboxes;
        d->sandboxes = s;
        sbx_sandbox_kill_then_reap(s);
        return;
    }
    sbx_sandbox_premake_stats(s);
    spare_prepare(d, s);
    d->spare = s;
}

void sbx_sandbox_drop_spare(struct sbx_daemon *d)
{
    struct sbx_sandbox *s = d->spare;
    if (!s)
        return;
    d->spare = NULL;
    s->next = d->sandboxes;
    d->sandboxes = s;
    sbx_sandbox_kill_then_reap(s);
}

/*
 * A writable run of a file is exclusive: the spare must not hold its image
 * mounted read-only, or the run is refused as busy.  That spare goes now,
 * reaped in this call, so that its mount of the image is gone before the
 * run looks for other users of the file.
 */
void sbx_spare_let_go(struct sbx_daemon *d, int image_fd)
{
    struct sbx_sandbox *s = d->spare;
    struct stat st;
    if (!s || !s->image || fstat(image_fd, &st) < 0 || st.st_dev != s->image->dev ||
        st.st_ino != s->image->ino)
        return;
    d->spare = NULL;
    s->next = d->sandboxes;
    d->sandboxes = s;
    s->exit_sent = true;
    uv_poll_stop(&s->pid_poll);
    sbx_sandbox_kill_and_reap_now(s);
    sbx_sandbox_finish(s);
}
