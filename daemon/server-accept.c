/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Admission: accepting connections, checking the caller's credentials before
 * a byte is read, and holding every caller but root to its share of
 * connections and of buffered bytes, so that one member of the group cannot
 * keep the daemon from serving root or anybody else.  Out of descriptors, the
 * daemon turns connections away through a reserve descriptor and pauses
 * accepting, instead of spinning on a listening socket that stays readable.
 */
#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "sbx/macro.h"

/* Out of descriptors, accepting stops this long: the backlog waits, the loop does not spin. */
#define LISTEN_PAUSE_MS 100
/* Accepts per wakeup, so that a burst of connections does not starve the running clients. */
#define ACCEPTS_PER_WAKEUP 16
/* Refused connections kept open at once for their peers to read why; others are closed at once. */
#define MAX_REFUSED_OPEN 64

static struct sbx_log_ratelimit accept_lines = SBX_LOG_RATELIMIT(5000, 5);
static struct sbx_log_ratelimit refuse_lines = SBX_LOG_RATELIMIT(5000, 10);

static int open_reserve(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * The limits follow from the descriptors the daemon may have.  A connection
 * costs the daemon at worst SBX_SERVER_FDS_PER_CONN of them: its socket, and
 * for its sandbox init's pidfd and control socket, the guest's pidfd, the
 * seccomp listener of the policy's kill rules, the statistics memfd, the
 * cgroup directory and an image of its own (mount and trampoline); while it
 * waits for FDS, the four of RUN.  What a launch needs for a moment, the
 * spare sandbox, the cached images and the loop itself come out of
 * SBX_SERVER_FDS_RESERVED.
 */
int sbx_server_init(struct sbx_daemon *d)
{
    struct sbx_server *s = &d->srv;
    struct rlimit rl = { .rlim_cur = 1024 };
    getrlimit(RLIMIT_NOFILE, &rl);
    unsigned long long n = rl.rlim_cur;
    unsigned long long conns = 8;
    if (n > SBX_SERVER_FDS_RESERVED + 8 * SBX_SERVER_FDS_PER_CONN)
        conns = (n - SBX_SERVER_FDS_RESERVED) / SBX_SERVER_FDS_PER_CONN;
    if (conns > SBX_SERVER_MAX_CONNS)
        conns = SBX_SERVER_MAX_CONNS;
    s->max_conns = (unsigned)conns;
    s->trusted_reserve = s->max_conns / 8 > 2 ? s->max_conns / 8 : 2;
    unsigned per_uid = (s->max_conns - s->trusted_reserve) / 2;
    s->max_conns_per_uid = per_uid < 1                              ? 1
                           : per_uid > SBX_SERVER_MAX_CONNS_PER_UID ? SBX_SERVER_MAX_CONNS_PER_UID
                                                                    : per_uid;
    s->reserve_fd = open_reserve();
    if (s->reserve_fd < 0)
        return sbx_neg_errno();
    uv_timer_init(d->loop, &s->listen_pause);
    s->listen_pause.data = d;
    if (d->cfg.conn_fd < 0)
        sbx_info("limits: %u connections (%u of them for root only), %u per user; nofile %llu",
                 s->max_conns, s->trusted_reserve, s->max_conns_per_uid, n);
    return 0;
}

void sbx_server_done(struct sbx_daemon *d)
{
    d->srv.reserve_fd = sbx_close(d->srv.reserve_fd);
    free(d->srv.uids);
    d->srv.uids = NULL;
    d->srv.n_uids = d->srv.cap_uids = 0;
}

/* ---- Accounting ------------------------------------------------------------ */

static struct sbx_server_uid *uid_find(struct sbx_server *s, uid_t uid)
{
    for (size_t i = 0; i < s->n_uids; i++)
        if (s->uids[i].uid == uid)
            return &s->uids[i];
    return NULL;
}

static struct sbx_server_uid *uid_add(struct sbx_server *s, uid_t uid)
{
    struct sbx_server_uid *u = uid_find(s, uid);
    if (u)
        return u;
    if (s->n_uids == s->cap_uids) {
        size_t cap = s->cap_uids ? 2 * s->cap_uids : 16;
        struct sbx_server_uid *p = realloc(s->uids, cap * sizeof(*p));
        if (!p)
            return NULL;
        s->uids = p;
        s->cap_uids = cap;
    }
    u = &s->uids[s->n_uids++];
    *u = (struct sbx_server_uid){ .uid = uid };
    return u;
}

static void uid_forget_if_unused(struct sbx_server *s, struct sbx_server_uid *u)
{
    if (u->conns == 0 && u->buffered == 0)
        *u = s->uids[--s->n_uids];
}

int sbx_server_count(struct sbx_client *c)
{
    struct sbx_server *s = &c->d->srv;
    if (!c->trusted) {
        struct sbx_server_uid *u = uid_add(s, c->cred.uid);
        if (!u)
            return -ENOMEM;
        u->conns++;
        s->untrusted_conns++;
    }
    s->conns++;
    c->counted = true;
    return 0;
}

void sbx_server_uncount(struct sbx_client *c)
{
    struct sbx_server *s = &c->d->srv;
    if (!c->counted)
        return;
    c->counted = false;
    s->conns--;
    if (c->trusted)
        return;
    s->untrusted_conns--;
    struct sbx_server_uid *u = uid_find(s, c->cred.uid);
    if (u) {
        u->conns--;
        uid_forget_if_unused(s, u);
    }
}

void sbx_server_charge(struct sbx_client *c, size_t *charge, size_t bytes)
{
    struct sbx_server *s = &c->d->srv;
    struct sbx_server_uid *u = c->trusted || !c->counted ? NULL : uid_find(s, c->cred.uid);
    if (!u) {
        *charge = 0;
        return;
    }
    u->buffered = u->buffered - *charge + bytes;
    s->buffered = s->buffered - *charge + bytes;
    *charge = bytes;
}

uint32_t sbx_server_room(const struct sbx_client *c)
{
    struct sbx_server *s = &c->d->srv;
    struct sbx_server_uid *u = c->trusted ? NULL : uid_find(s, c->cred.uid);
    if (!u)
        return SBX_PROTO_MAX_PAYLOAD;
    /* The frame in progress is not counted against itself. */
    size_t mine = u->buffered - c->frame_charge, all = s->buffered - c->frame_charge;
    size_t room = SBX_SERVER_BUFFER_PER_UID > mine ? SBX_SERVER_BUFFER_PER_UID - mine : 0;
    size_t room_all = SBX_SERVER_BUFFER_ALL > all ? SBX_SERVER_BUFFER_ALL - all : 0;
    if (room_all < room)
        room = room_all;
    return room < SBX_PROTO_MAX_PAYLOAD ? (uint32_t)room : SBX_PROTO_MAX_PAYLOAD;
}

/* ---- Admission ------------------------------------------------------------- */

/* Best effort, never blocking: the socket is new, its buffer empty. */
static void send_error_now(int fd, int err, const char *msg)
{
    struct sbx_msg_error e = { .err = (uint32_t)err, .message = (char *)msg };
    struct sbx_buf b = { 0 };
    if (sbx_msg_error_encode(&e, &b) >= 0) {
        ssize_t n _unused_ = send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    sbx_buf_free(&b);
}

/*
 * ERROR, then the connection stays a moment, so that the peer's HELLO lands
 * in an open socket and the peer reads why instead of a broken pipe.
 */
static void refuse(struct sbx_daemon *d, int fd, struct sbx_caller *cred, int err, const char *fmt,
                   ...) _printf_(5, 6);
static void refuse(struct sbx_daemon *d, int fd, struct sbx_caller *cred, int err, const char *fmt,
                   ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sbx_log_limited(&refuse_lines, LOG_INFO, "refused a connection of pid %d uid %u: %s",
                    (int)cred->pid, (unsigned)cred->uid, msg);
    send_error_now(fd, err, msg);
    if (d->srv.refused_open < MAX_REFUSED_OPEN &&
        sbx_client_new(d, fd, cred, false, SBX_CL_REFUSED))
        return;
    close(fd);
}

/*
 * At a limit, a connection of a uid that holds fewer than another uid takes
 * the place of the oldest connection, not yet asking for a sandbox, of the
 * uid that holds the most such places: a flood of idle connections then
 * costs its sender, not the next caller.  The heaviest uid with a connection
 * that can go is chosen, so that a uid whose places all run sandboxes cannot
 * shield another's idle flood.  Sandboxes that run are never touched.
 */
static bool shed_for(struct sbx_daemon *d, const struct sbx_caller *cred, bool trusted)
{
    struct sbx_server *s = &d->srv;
    struct sbx_server_uid *mine = trusted ? NULL : uid_find(s, cred->uid);
    unsigned floor = (mine ? mine->conns : 0) + 1;
    struct sbx_client *victim = NULL;
    unsigned victim_conns = 0;
    /* The list is newest first: among equals, the last match is the oldest. */
    for (struct sbx_client *c = d->clients; c; c = c->next) {
        if (!c->counted || c->trusted || c->cred.uid == cred->uid ||
            !(c->state == SBX_CL_HELLO || c->state == SBX_CL_READY))
            continue;
        struct sbx_server_uid *u = uid_find(s, c->cred.uid);
        if (u && u->conns > floor && u->conns >= victim_conns) {
            victim = c;
            victim_conns = u->conns;
        }
    }
    if (!victim)
        return false;
    uid_t heavy = victim->cred.uid;
    sbx_client_fail(victim, EAGAIN,
                    "dropped: sandboxd is at its connection limit, and uid %u holds more "
                    "connections than the newcomer's",
                    (unsigned)heavy);
    return true;
}

static void admit(struct sbx_daemon *d, int fd)
{
    struct sbx_server *s = &d->srv;
    _cleanup_(sbx_caller_done) struct sbx_caller cred = { 0 };
    int r = sbx_caller_from_socket(fd, &cred);
    if (r < 0) {
        sbx_log_limited(&accept_lines, LOG_WARNING, "SO_PEERCRED of a new connection: %s",
                        strerror(-r));
        close(fd);
        return;
    }
    bool trusted = cred.uid == 0 || cred.uid == geteuid();
    if (!trusted && !(d->have_sandbox_gid && sbx_caller_in_group(&cred, d->sandbox_gid))) {
        refuse(d, fd, &cred, EACCES, "permission denied: uid %u is not root and not in group '%s'",
               (unsigned)cred.uid, d->cfg.group);
        return;
    }
    if (!trusted) {
        struct sbx_server_uid *u = uid_find(s, cred.uid);
        if (u && u->conns >= s->max_conns_per_uid) {
            refuse(d, fd, &cred, EAGAIN,
                   "uid %u has %u connections to sandboxd, the most one user may have: "
                   "try again later",
                   (unsigned)cred.uid, u->conns);
            return;
        }
        if (s->untrusted_conns >= s->max_conns - s->trusted_reserve && !shed_for(d, &cred, false)) {
            refuse(d, fd, &cred, EAGAIN,
                   "sandboxd serves %u connections of users other than root, its limit: "
                   "try again later",
                   s->untrusted_conns);
            return;
        }
    }
    if (s->conns >= s->max_conns && !shed_for(d, &cred, trusted)) {
        refuse(d, fd, &cred, EAGAIN, "sandboxd serves %u connections, its limit: try again later",
               s->conns);
        return;
    }
    if (!sbx_client_new(d, fd, &cred, trusted, SBX_CL_HELLO)) {
        sbx_log_limited(&accept_lines, LOG_WARNING, "cannot serve a new connection: %s",
                        strerror(ENOMEM));
        close(fd);
    }
}

/* ---- Listening ------------------------------------------------------------- */

static void on_listen(uv_poll_t *h, int status, int events);

static void on_pause_end(uv_timer_t *t)
{
    struct sbx_daemon *d = t->data;
    if (!d->srv.listening && uv_poll_start(&d->srv.listen_poll, UV_READABLE, on_listen) == 0)
        d->srv.listening = true;
}

static void pause_listening(struct sbx_daemon *d)
{
    if (d->srv.listening) {
        uv_poll_stop(&d->srv.listen_poll);
        d->srv.listening = false;
    }
    uv_timer_start(&d->srv.listen_pause, on_pause_end, LISTEN_PAUSE_MS, 0);
}

/*
 * accept fails with EMFILE while connections wait, and the listening socket
 * stays readable.  With the reserve descriptor closed, each waiting
 * connection is accepted, told why, and closed; then the reserve is taken
 * again for the next time.
 */
static void refuse_waiting(struct sbx_daemon *d, int err)
{
    struct sbx_server *s = &d->srv;
    sbx_log_limited(&accept_lines, LOG_WARNING,
                    "accept: %s: turning new connections away (%u served)", strerror(err),
                    s->conns);
    if (s->reserve_fd < 0 && (s->reserve_fd = open_reserve()) < 0)
        return;
    s->reserve_fd = sbx_close(s->reserve_fd);
    for (int i = 0; i < 4 * ACCEPTS_PER_WAKEUP; i++) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            break;
        send_error_now(fd, err,
                       err == ENFILE ? "the system is out of file descriptors: try again later"
                                     : "sandboxd is out of file descriptors: try again later");
        close(fd);
    }
    s->reserve_fd = open_reserve();
}

static void on_listen(uv_poll_t *h, int status, int events)
{
    struct sbx_daemon *d = h->data;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            admit(d, fd);
            continue;
        }
        if (errno == EAGAIN || errno == EINTR)
            return;
        if (errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE)
            refuse_waiting(d, errno);
        else
            sbx_log_limited(&accept_lines, LOG_WARNING, "accept: %m");
        pause_listening(d);
        return;
    }
}

int sbx_server_listen(struct sbx_daemon *d)
{
    int r = uv_poll_init(d->loop, &d->srv.listen_poll, d->listen_fd);
    if (r < 0)
        return r;
    d->srv.listen_poll.data = d;
    if ((r = uv_poll_start(&d->srv.listen_poll, UV_READABLE, on_listen)) < 0)
        return r;
    d->srv.listening = true;
    return 0;
}
