/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's event loop: the listening socket (or, embedded in sandboxctl,
 * one connection), signals, and an orderly stop in which every sandbox is
 * killed and cleaned up before the loop ends.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/blob.h"
#include "daemon/log.h"
#include "daemon/run.h"
#include "daemon/sandbox.h"
#include "daemon/server.h"
#include "daemon/sitemap-build.h"
#include "policy/policy.h"
#include "sbx-config.h"
#include "sbx/macro.h"

#define IMAGE_IDLE_MS 30000 /* an unused image stays mounted this long */
#define IMAGE_MAX_IDLE 8

uint64_t sbx_daemon_now(struct sbx_daemon *d)
{
    return uv_now(d->loop);
}

static void close_handle(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void sbx_daemon_maybe_exit(struct sbx_daemon *d)
{
    if (!d->stopping && d->cfg.conn_fd >= 0 && !d->clients)
        d->stopping = true; /* embedded: the one connection is done */
    if (!d->stopping || d->sandboxes || d->cgroup_reaps)
        return;
    while (d->clients)
        sbx_client_close(d->clients);
    sbx_sitemap_cancel_all(d);
    /* Closing every remaining handle lets uv_run return. */
    uv_walk(d->loop, close_handle, NULL);
}

static void daemon_stop(struct sbx_daemon *d, const char *why)
{
    if (!d->stopping)
        sbx_info("stopping (%s): %s", why,
                 d->sandboxes ? "killing the running sandboxes" : "no sandbox running");
    d->stopping = true;
    sbx_sandbox_drop_spare(d);
    for (struct sbx_sandbox *s = d->sandboxes; s; s = s->next)
        sbx_sandbox_kill(s, "killed: sandboxd is stopping");
    sbx_daemon_maybe_exit(d);
}

static void on_signal(uv_signal_t *h, int signo)
{
    struct sbx_daemon *d = h->data;
    if (signo == SIGHUP) {
        /* Named policies are read from disk for every request: nothing is cached to reload. */
        sbx_info("SIGHUP: policies are read per request; nothing to reload");
        return;
    }
    daemon_stop(d, signo == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* SIGTERM and SIGINT stop the daemon, SIGHUP is logged; without them it could not be stopped
 * cleanly. */
static int start_signals(struct sbx_daemon *d, struct sbx_error *e)
{
    static const int signos[] = { SIGTERM, SIGINT, SIGHUP };
    uv_signal_t *handles[] = { &d->sig_term, &d->sig_int, &d->sig_hup };
    for (size_t i = 0; i < ARRAY_SIZE(signos); i++) {
        int r = uv_signal_init(d->loop, handles[i]);
        handles[i]->data = d;
        if (r == 0)
            r = uv_signal_start(handles[i], on_signal, signos[i]);
        if (r < 0)
            return sbx_error_set(e, r, "cannot handle %s: %s", strsignal(signos[i]),
                                 uv_strerror(r));
    }
    return 0;
}

static void on_idle_timer(uv_timer_t *t)
{
    struct sbx_daemon *d = t->data;
    uint64_t now = sbx_daemon_now(d);
    /*
     * A spare's prepared root holds its image: once the spare has held it,
     * with no run using it, for as long as an unused image stays mounted
     * (from the spare's start, or from the end of the last run that used
     * the image, whichever is later: a spare is made while a run goes on),
     * the spare goes, and a new one prepares nothing until a run asks for a
     * root again; the image is unmounted at a later tick, once idle for the
     * period itself.
     */
    struct sbx_sandbox *spare = d->spare;
    if (spare && spare->prepared.set && spare->image && spare->image->refs == 1) {
        uint64_t since = spare->prepared_ms;
        if (spare->image->released_ms > since)
            since = spare->image->released_ms;
        if (now - since >= IMAGE_IDLE_MS) {
            d->last_root = (struct sbx_root_key){ .set = false };
            sbx_sandbox_drop_spare(d);
            sbx_sandbox_refill_spare(d);
        }
    }
    sbx_image_cache_trim(&d->images, now, IMAGE_IDLE_MS);
}

/* Binds the socket, replacing a stale one but never a live daemon's. */
static int listen_on(const char *path, gid_t group, bool have_group)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    char dir[sizeof(sa.sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return sbx_neg_errno();
    }
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sbx_neg_errno();
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno != EADDRINUSE)
            return sbx_neg_errno();
        _cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return -EADDRINUSE;
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            return sbx_neg_errno();
    }
    if (chmod(path, have_group ? 0660 : 0600) < 0 ||
        (have_group && chown(path, 0, group) < 0 && geteuid() == 0))
        return sbx_neg_errno();
    if (listen(fd, 128) < 0)
        return sbx_neg_errno();
    return TAKE_FD(fd);
}

/* Tells systemd (Type=notify) that the daemon serves, without linking libsystemd. */
static void notify_ready(void)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    if (!sock || (sock[0] != '/' && sock[0] != '@'))
        return;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(sock);
    if (len >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, sock, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
}

static int mkdir_private(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return sbx_neg_errno();
    return 0;
}

/*
 * Every connection and sandbox costs the daemon descriptors, and the soft
 * limit a service starts with (1024 under systemd) is kept low only for
 * programs that use select(): the daemon takes the hard limit, and its
 * sandboxes get the limit it was started with.
 */
static void raise_nofile(struct sbx_daemon *d)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    d->child_nofile = rl;
    if (d->cfg.conn_fd >= 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        sbx_warn("cannot raise the nofile limit to %llu: %m", (unsigned long long)rl.rlim_max);
}

/* Whether this process sees every id as itself: the host's user namespace. */
static bool in_initial_userns(void)
{
    char buf[128];
    _cleanup_close_ int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return true; /* no /proc: nothing says otherwise, and the lock still guards */
    buf[n] = '\0';
    unsigned long inside, outside, count;
    const char *nl = strchr(buf, '\n');
    return sscanf(buf, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 &&
           outside == 0 && count == 4294967295UL && (!nl || !nl[1]);
}

/*
 * The host ids of sandboxes' user namespaces.  Without any configured,
 * sandboxes run in the host's user namespace, as a policy's `userns: host`
 * asks, and the daemon says how to configure them.  A block that a process
 * still runs as stays taken: a sandbox of a daemon that ended may not be gone.
 */
static int ids_setup(struct sbx_daemon *d, struct sbx_error *e)
{
    struct sbx_daemon_config *c = &d->cfg;
    if (!c->subid_user)
        c->subid_user = SBX_IDRANGE_DEFAULT_USER;
    if (!c->subuid_file)
        c->subuid_file = SBX_IDRANGE_DEFAULT_SUBUID;
    if (!c->subgid_file)
        c->subgid_file = SBX_IDRANGE_DEFAULT_SUBGID;
    int r = sbx_idrange_load(&d->ids, c->subid_user, c->subuid_file, c->subgid_file, e);
    if (r < 0)
        return r;
    if (!sbx_idrange_configured(&d->ids)) {
        if (c->conn_fd < 0)
            sbx_warn("no subordinate ids for user '%s' in %s and %s (at least %u of each): "
                     "sandboxes run in the host's user namespace; add lines such as "
                     "'%s:%u:%u' to both files (see sandboxd(8))",
                     c->subid_user, c->subuid_file, c->subgid_file, SBX_IDRANGE_SIZE, c->subid_user,
                     1u << 30, 1u << 24);
        return 0;
    }
    /*
     * The files name host ids: a daemon in a user namespace of its own (the
     * rootless one sandboxctl starts) cannot map them, and runs sandboxes in
     * its own namespace instead, as without a range.
     */
    if (!in_initial_userns()) {
        sbx_debug("in a user namespace of its own: the ranges of %s in %s are not used",
                  c->subid_user, c->subuid_file);
        sbx_idrange_pool_free(&d->ids);
        return 0;
    }
    if (!c->id_lock_file)
        c->id_lock_file = SBX_IDRANGE_DEFAULT_LOCK;
    if ((r = sbx_idrange_lock(&d->ids, c->id_lock_file, e)) < 0)
        return sbx_error_wrap(e, "the host ids of sandboxes (option --id-lock)");
    unsigned busy = sbx_idrange_mark_running(&d->ids);
    if (busy)
        sbx_warn("%u block(s) of host ids still run processes; they stay in use until those end "
                 "and sandboxd restarts",
                 busy);
    sbx_debug("%u blocks of %u host ids for sandboxes' user namespaces", d->ids.n_blocks,
              SBX_IDRANGE_SIZE);
    return 0;
}

static int daemon_setup(struct sbx_daemon *d, struct sbx_error *e)
{
    int r;
    if ((r = mkdir_private(d->cfg.state_dir)) < 0)
        return sbx_error_set_errno(e, r, "cannot create state directory %s", d->cfg.state_dir);
    if (asprintf(&d->staging_dir, "%s/staging", d->cfg.state_dir) < 0)
        return sbx_error_set_errno(e, ENOMEM, "cannot create %s/staging", d->cfg.state_dir);
    if ((r = mkdir_private(d->staging_dir)) < 0)
        return sbx_error_set_errno(e, r, "cannot create %s", d->staging_dir);
    if ((d->init_memfd = sbx_blob_memfd_init()) < 0)
        return sbx_error_set_errno(e, d->init_memfd, "cannot load sbx-init");
    if ((d->trampoline_memfd = sbx_blob_memfd_trampoline()) < 0)
        return sbx_error_set_errno(e, d->trampoline_memfd, "cannot load the trampoline");
    if ((d->sitemap_memfd = sbx_blob_memfd_sitemap()) < 0)
        return sbx_error_set_errno(e, d->sitemap_memfd, "cannot load sbx-sitemap");
    d->sitemap_id = sbx_blob_sitemap_id();
    /* Without it maps are made again for every mount of an image: worth a warning only. */
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&dir, "%s/sitemaps", d->cfg.state_dir) < 0)
        return sbx_error_set_errno(e, ENOMEM, "cannot create %s/sitemaps", d->cfg.state_dir);
    if ((r = mkdir_private(dir)) < 0 ||
        (d->sitemap_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        sbx_warn("cannot use %s: %s", dir, strerror(r < 0 ? -r : errno));
    sbx_cgroup_root_init(&d->cgroups, "sandboxd");
    /* The default policy has no writable bind: its one program serves every guest. */
    struct sbx_policy *def = NULL;
    if ((r = sbx_policy_new_default(&def)) < 0 ||
        (r = sbx_run_compile_policy(def, 0, &d->default_bpf_fd)) < 0) {
        sbx_policy_free(def);
        return sbx_error_set_errno(e, r, "cannot compile the default policy");
    }
    /* The spare sandbox is made with the default limits, off the path of a run. */
    struct sbx_host_features host = {
        .memory = sbx_cgroup_root_can(&d->cgroups, SBX_CG_MEMORY),
        .pids = sbx_cgroup_root_can(&d->cgroups, SBX_CG_PIDS),
        .cpu = sbx_cgroup_root_can(&d->cgroups, SBX_CG_CPU),
    };
    struct sbx_policy_limits lim;
    sbx_policy_limits(def, &host, &lim);
    d->default_limits = (struct sbx_cg_limits){ .memory = lim.memory,
                                                .pids = lim.pids,
                                                .cpu_millis = lim.cpu_millis };
    sbx_policy_free(def);
    struct group gr, *res = NULL;
    char buf[4096];
    if (getgrnam_r(d->cfg.group, &gr, buf, sizeof(buf), &res) == 0 && res) {
        d->sandbox_gid = gr.gr_gid;
        d->have_sandbox_gid = true;
    } else if (d->cfg.conn_fd < 0) {
        /* Said at start: otherwise every member-to-be is refused without a word here. */
        sbx_warn("group '%s' does not exist: only root may run sandboxes (the socket is "
                 "mode 0600); create the group or start sandboxd with --group NAME",
                 d->cfg.group);
    }
    if ((r = ids_setup(d, e)) < 0)
        return r;
    sbx_image_cache_init(&d->images, IMAGE_MAX_IDLE);
    /* A private daemon's one client is the user who would run a FUSE server under it. */
    d->images.fuse_ok = d->cfg.conn_fd >= 0;
    if ((r = sbx_server_init(d)) < 0)
        return sbx_error_set_errno(e, r, "cannot reserve a file descriptor");
    return 0;
}

static int daemon_serve(struct sbx_daemon *d, struct sbx_error *e)
{
    if (d->cfg.conn_fd >= 0)
        return sbx_client_add(d, d->cfg.conn_fd);
    d->listen_fd = d->cfg.listen_fd;
    if (d->listen_fd < 0) {
        d->listen_fd = listen_on(d->cfg.socket_path, d->sandbox_gid, d->have_sandbox_gid);
        if (d->listen_fd < 0)
            return sbx_error_set(e, d->listen_fd, "cannot listen on %s: %s", d->cfg.socket_path,
                                 d->listen_fd == -EADDRINUSE ? "another sandboxd is serving it"
                                                             : strerror(-d->listen_fd));
    } else {
        int fl = fcntl(d->listen_fd, F_GETFL);
        if (fl < 0 || fcntl(d->listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
            fcntl(d->listen_fd, F_SETFD, FD_CLOEXEC) < 0) {
            return sbx_error_set_errno(e, errno, "cannot use the socket systemd passed");
        }
    }
    return sbx_server_listen(d);
}

/*
 * A socket handed over by systemd is wherever the unit put it, not at
 * --socket's path: name the one the daemon actually serves.
 */
static void log_serving(const struct sbx_daemon *d)
{
    if (d->cfg.listen_fd < 0) {
        sbx_info("serving on %s", d->cfg.socket_path);
        return;
    }
    struct sockaddr_un sa = {};
    socklen_t sl = sizeof(sa);
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (getsockname(d->listen_fd, (struct sockaddr *)&sa, &sl) < 0 || sa.sun_family != AF_UNIX ||
        sl <= off)
        sbx_info("serving on fd %d (socket activation)", d->listen_fd);
    else if (sa.sun_path[0] == '\0')
        sbx_info("serving on @%.*s (socket activation)", (int)(sl - off - 1), sa.sun_path + 1);
    else
        sbx_info("serving on %.*s (socket activation)", (int)(sl - off), sa.sun_path);
}

int sbx_daemon_run(const struct sbx_daemon_config *cfg)
{
    struct sbx_daemon d = {
        .cfg = *cfg,
        .listen_fd = -EBADF,
        .init_memfd = -EBADF,
        .trampoline_memfd = -EBADF,
        .sitemap_memfd = -EBADF,
        .sitemap_dir_fd = -EBADF,
        .default_bpf_fd = -EBADF,
        .srv = { .reserve_fd = -EBADF },
        .lifecycle = { .dir_fd = -EBADF },
        .ids = { .lock_fd = -EBADF },
    };
    uv_loop_t loop;
    struct sbx_error e = { 0 };
    sbx_log_init(cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(&d);
    if (uv_loop_init(&loop) < 0)
        return 1;
    d.loop = &loop;
    int r = daemon_setup(&d, &e);
    if (r >= 0)
        r = start_signals(&d, &e);
    if (r >= 0) {
        uv_timer_init(&loop, &d.idle_timer);
        d.idle_timer.data = &d;
        uv_timer_start(&d.idle_timer, on_idle_timer, IMAGE_IDLE_MS, IMAGE_IDLE_MS);
        uv_timer_init(&loop, &d.refill_timer);
        d.refill_timer.data = &d;
        r = daemon_serve(&d, &e);
        /* Once the socket is the daemon's: a second daemon must not take the records over. */
        if (r >= 0)
            r = sbx_lifecycle_init(&d, &e);
    }
    if (r < 0) {
        sbx_err("%s", sbx_error_msg(&e, r));
        d.stopping = true;
        d.exit_code = 1;
        sbx_daemon_maybe_exit(&d);
    } else {
        if (cfg->conn_fd < 0)
            log_serving(&d);
        if (cfg->ready_fd >= 0) {
            ssize_t n _unused_ = write(cfg->ready_fd, "READY\n", 6);
            close(cfg->ready_fd);
        }
        notify_ready();
        sbx_sandbox_refill_spare(&d);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);

    sbx_lifecycle_done(&d);
    sbx_image_cache_clear(&d.images);
    sbx_cgroup_root_done(&d.cgroups);
    sbx_close(d.listen_fd);
    if (cfg->socket_path && cfg->listen_fd < 0 && d.listen_fd >= 0)
        unlink(cfg->socket_path);
    sbx_close(d.init_memfd);
    sbx_close(d.trampoline_memfd);
    sbx_close(d.sitemap_memfd);
    sbx_close(d.sitemap_dir_fd);
    sbx_close(d.default_bpf_fd);
    sbx_server_done(&d);
    sbx_idrange_pool_free(&d.ids);
    free(d.staging_dir);
    return d.exit_code;
}
