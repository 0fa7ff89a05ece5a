/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One client connection.  Each is a small state machine: HELLO (version),
 * RUN (one sandbox), OPEN/FDS when the policy names host paths, then SIGNAL
 * at any time and EXIT at the end.  Every wait on the client has a deadline,
 * and only RUN may be a big frame.  A bad frame gets an ERROR frame and the
 * connection is closed; nothing a client sends can stop the daemon.
 * Admission (who may connect, and how many) is in server-accept.c.
 */
#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/lifecycle.h"
#include "daemon/log.h"
#include "daemon/run.h"
#include "daemon/sandbox.h"
#include "sbx-config.h"
#include "sbx/macro.h"

/* How long a refused connection is kept so that its peer can read the ERROR. */
#define REFUSED_LINGER_MS 1000

/* One limit for the lines every client can cause, so that many together cannot flood the log. */
static struct sbx_log_ratelimit client_lines = SBX_LOG_RATELIMIT(5000, 20);

static void client_unlink(struct sbx_client *c)
{
    for (struct sbx_client **p = &c->d->clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            return;
        }
    }
}

static void on_client_closed(uv_handle_t *h)
{
    struct sbx_client *c = h->data;
    if (--c->handles_open > 0)
        return;
    struct sbx_daemon *d = c->d;
    sbx_close(c->fd);
    sbx_caller_done(&c->cred);
    free(c);
    sbx_daemon_maybe_exit(d);
}

void sbx_client_close(struct sbx_client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->state == SBX_CL_REFUSED)
        c->d->srv.refused_open--;
    c->state = SBX_CL_DONE;
    if (c->sandbox) {
        /* Nobody is left to tell: end the sandbox, it cleans up after itself. */
        c->sandbox->owner.ctx = NULL;
        sbx_sandbox_kill(c->sandbox, "killed: the client went away");
        c->sandbox = NULL;
    }
    sbx_lifecycle_client_gone(c);
    sbx_run_req_free(c->pending);
    c->pending = NULL;
    sbx_server_charge(c, &c->pending_charge, 0);
    sbx_server_charge(c, &c->frame_charge, 0);
    sbx_server_uncount(c);
    sbx_proto_rx_clear(&c->rx);
    client_unlink(c);
    uv_close((uv_handle_t *)&c->poll, on_client_closed);
    uv_close((uv_handle_t *)&c->deadline, on_client_closed);
}

/*
 * Replies are small and the socket was empty: a blocking send cannot stall
 * the loop, and a partial one cannot happen.  The fd goes back to
 * non-blocking for libuv, or the connection is not usable (-errno).
 */
static int send_blocking(int fd, struct sbx_buf *b, const int *fds, unsigned n_fds)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return sbx_neg_errno();
    int r = sbx_proto_send(fd, b, fds, n_fds);
    if (fcntl(fd, F_SETFL, fl) < 0 && r >= 0)
        r = sbx_neg_errno();
    return r;
}

static int send_buf(struct sbx_client *c, struct sbx_buf *b)
{
    int r = send_blocking(c->fd, b, NULL, 0);
    sbx_buf_free(b);
    return r;
}

void sbx_client_fail(struct sbx_client *c, int err, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sbx_log_limited(&client_lines, LOG_INFO, "client pid %d uid %u: %s", (int)c->cred.pid,
                    (unsigned)c->cred.uid, msg);
    struct sbx_msg_error e = { .err = (uint32_t)(err < 0 ? -err : err), .message = msg };
    struct sbx_buf b = { 0 };
    if (sbx_msg_error_encode(&e, &b) >= 0)
        send_buf(c, &b);
    else
        sbx_buf_free(&b);
    sbx_client_close(c);
}

static void on_deadline(uv_timer_t *t)
{
    struct sbx_client *c = t->data;
    unsigned s = SBX_SERVER_WAIT_MS / 1000;
    switch (c->state) {
    case SBX_CL_HELLO:
        sbx_client_fail(c, ETIMEDOUT, "no HELLO within %u s of connecting", s);
        break;
    case SBX_CL_READY:
        sbx_client_fail(c, ETIMEDOUT, "no RUN within %u s of WELCOME", s);
        break;
    case SBX_CL_OPENING:
        sbx_client_fail(c, ETIMEDOUT, "no FDS within %u s of OPEN", s);
        break;
    case SBX_CL_RUNNING:
        sbx_client_fail(c, ETIMEDOUT, "a frame was left unfinished for %u s", s);
        break;
    case SBX_CL_WAITING:
    case SBX_CL_REFUSED:
    case SBX_CL_DONE:
        sbx_client_close(c);
        break;
    }
}

/* The deadline of the wait the connection is in now, or none while its sandbox runs. */
static void arm_deadline(struct sbx_client *c)
{
    if (c->state == SBX_CL_RUNNING || c->state == SBX_CL_WAITING)
        uv_timer_stop(&c->deadline);
    else
        uv_timer_start(&c->deadline, on_deadline,
                       c->state == SBX_CL_REFUSED ? REFUSED_LINGER_MS : SBX_SERVER_WAIT_MS, 0);
}

static void handle_hello(struct sbx_client *c, const struct sbx_frame *f)
{
    struct sbx_msg_hello h;
    if (f->type != SBX_MSG_HELLO) {
        sbx_client_fail(c, EPROTO, "the first frame must be HELLO");
        return;
    }
    if (sbx_msg_hello_decode(f, &h) < 0) {
        sbx_client_fail(c, EBADMSG, "malformed HELLO frame");
        return;
    }
    bool ok = h.min_version <= SBX_PROTO_VERSION && SBX_PROTO_VERSION <= h.max_version;
    uint32_t lo = h.min_version, hi = h.max_version;
    sbx_msg_hello_free(&h);
    if (!ok) {
        sbx_client_fail(c, EPROTONOSUPPORT,
                        "protocol version %u-%u not supported (sandboxd speaks %u)", lo, hi,
                        SBX_PROTO_VERSION);
        return;
    }
    struct sbx_msg_welcome w = { .version = SBX_PROTO_VERSION, .server = "sandboxd " SBX_VERSION };
    struct sbx_buf b = { 0 };
    if (sbx_msg_welcome_encode(&w, &b) < 0 || send_buf(c, &b) < 0) {
        sbx_buf_free(&b);
        sbx_client_close(c);
        return;
    }
    c->state = SBX_CL_READY;
}

/* Starts the sandbox of the pending request; extra is the FDS frame, if any. */
static void start_pending(struct sbx_client *c, struct sbx_frame *extra)
{
    struct sbx_error e = { 0 };
    struct sbx_sandbox *s = NULL;
    struct sbx_sandbox_owner owner = { sbx_client_sandbox_notify, c };
    int r = sbx_run_start(c->d, &c->cred, &owner, c->pending, extra, &s, &e);
    sbx_run_req_free(c->pending);
    c->pending = NULL;
    sbx_server_charge(c, &c->pending_charge, 0);
    if (r < 0) {
        sbx_client_fail(c, r, "%s", sbx_error_msg(&e, r));
        return;
    }
    c->sandbox = s;
    c->state = SBX_CL_RUNNING;
    /* A detached sandbox's STARTED waits for its guest to run (sbx_lifecycle_guest_started). */
    if (s->life && s->life->detached)
        return;
    struct sbx_msg_started st = { .id = s->id };
    struct sbx_buf b = { 0 };
    if (sbx_msg_started_encode(&st, &b) < 0 || send_buf(c, &b) < 0) {
        sbx_buf_free(&b);
        sbx_client_close(c);
    }
}

static void handle_run(struct sbx_client *c, struct sbx_frame *f)
{
    if (c->d->stopping) {
        sbx_client_fail(c, ESHUTDOWN, "sandboxd is shutting down");
        return;
    }
    struct sbx_error e = { 0 };
    struct sbx_msg_open open = { 0 };
    int r = sbx_run_prepare(c->d, &c->cred, f, &c->pending, &open, &e);
    if (r < 0) {
        sbx_client_fail(c, r, "%s", sbx_error_msg(&e, r));
        return;
    }
    /* The request keeps the frame's bytes until its sandbox starts: so does the charge. */
    c->pending_charge = c->frame_charge;
    c->frame_charge = 0;
    if (r == 0) {
        start_pending(c, NULL);
        return;
    }
    /* The policy names host paths: the client opens them, as itself. */
    struct sbx_buf b = { 0 };
    r = sbx_msg_open_encode(&open, &b);
    free(open.paths); /* the strings belong to the pending policy */
    if (r < 0 || send_buf(c, &b) < 0) {
        sbx_buf_free(&b);
        sbx_client_close(c);
        return;
    }
    c->state = SBX_CL_OPENING;
}

/*
 * A signal for the guest's main process, sent by its pidfd; or, with
 * SBX_SIGNAL_END, the end of the sandbox.  Each frame costs one syscall at
 * most, and a client that floods signals only its own guest.
 */
static void handle_signal(struct sbx_client *c, const struct sbx_frame *f)
{
    struct sbx_msg_signal sig;
    if (sbx_msg_signal_decode(f, &sig) < 0) {
        sbx_client_fail(c, EBADMSG, "malformed SIGNAL frame");
        return;
    }
    bool end = sig.flags & SBX_SIGNAL_END;
    if (sig.signo < 1 || sig.signo > SBX_SIGNAL_MAX ||
        (!end && (sig.signo == SIGKILL || sig.signo == SIGSTOP))) {
        sbx_client_fail(c, EINVAL,
                        "SIGNAL: %u is not a signal for the guest (1-%d, not SIGKILL or SIGSTOP: "
                        "those end the sandbox, with the end flag)",
                        sig.signo, SBX_SIGNAL_MAX);
        return;
    }
    if (end) {
        sbx_log_limited(&client_lines, LOG_INFO,
                        "sandbox %llu: the client asked to end it (signal %u)",
                        (unsigned long long)c->sandbox->id, sig.signo);
        sbx_sandbox_kill(c->sandbox, "killed: sandboxctl asked to end the sandbox");
        return;
    }
    int r = sbx_sandbox_signal(c->sandbox, sig.signo);
    if (r < 0 && r != -ESRCH)
        sbx_log_limited(&client_lines, LOG_DEBUG, "sandbox %llu: signal %u not passed on: %s",
                        (unsigned long long)c->sandbox->id, sig.signo, strerror(-r));
}

int sbx_client_send_tty(struct sbx_client *c, int master)
{
    struct sbx_buf b = { 0 };
    int r = sbx_msg_tty_encode(&b);
    if (r >= 0) {
        /* As in send_buf: a small frame into a socket the client drains. */
        r = send_blocking(c->fd, &b, &master, 1);
    }
    sbx_buf_free(&b);
    return r;
}

int sbx_client_send_trace(struct sbx_client *c, int memfd)
{
    struct sbx_buf b = { 0 };
    int r = sbx_msg_trace_encode(&b);
    if (r >= 0) {
        /* As in sbx_client_send_tty. */
        int fl = fcntl(c->fd, F_GETFL);
        fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
        r = sbx_proto_send(c->fd, &b, &memfd, 1);
        fcntl(c->fd, F_SETFL, fl);
    }
    sbx_buf_free(&b);
    return r;
}

static void handle_frame(struct sbx_client *c, struct sbx_frame *f)
{
    switch (c->state) {
    case SBX_CL_HELLO:
        handle_hello(c, f);
        break;
    case SBX_CL_READY:
        if (f->type == SBX_MSG_RUN)
            handle_run(c, f);
        else if (f->type >= SBX_MSG_PS && f->type <= SBX_MSG_STATUS)
            sbx_lifecycle_request(c, f);
        else
            sbx_client_fail(c, EPROTO, "unexpected frame type %u (expected RUN)", f->type);
        break;
    case SBX_CL_OPENING:
        if (f->type == SBX_MSG_FDS)
            start_pending(c, f);
        else
            sbx_client_fail(c, EPROTO, "unexpected frame type %u (expected FDS)", f->type);
        break;
    case SBX_CL_RUNNING:
        if (f->type == SBX_MSG_SIGNAL)
            handle_signal(c, f);
        else
            sbx_client_fail(c, EPROTO, "unexpected frame type %u while a sandbox runs", f->type);
        break;
    case SBX_CL_WAITING:
        if (f->type == SBX_MSG_SIGNAL && c->life_req == SBX_MSG_EXEC)
            sbx_lifecycle_exec_signal(c, f);
        else
            sbx_client_fail(c, EPROTO, "unexpected frame type %u while the request waits", f->type);
        break;
    case SBX_CL_REFUSED:
    case SBX_CL_DONE:
        break;
    }
}

static void on_client(uv_poll_t *h, int status, int events);

/* Whether the peer has closed its socket altogether (not just shut down its sending side). */
static bool peer_gone(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    return poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR));
}

/*
 * End of file while the sandbox runs: a client that shut down its sending
 * side may still wait for EXIT, so the sandbox goes on until the peer is gone
 * altogether.  The poll then watches for the hangup only: a Unix socket never
 * reports priority data, and epoll reports POLLHUP whatever was asked for.
 */
static void on_peer_shut(struct sbx_client *c)
{
    if (peer_gone(c->fd)) {
        sbx_client_close(c);
        return;
    }
    c->peer_shut = true;
    uv_timer_stop(&c->deadline);
    if (uv_poll_start(&c->poll, UV_PRIORITIZED, on_client) < 0)
        sbx_client_close(c);
}

/* A refused connection: what the peer sends is thrown away (fds too), then it is closed. */
static void drain_refused(struct sbx_client *c)
{
    char buf[SBX_SERVER_SMALL_FRAME_MAX];
    ssize_t n _unused_ = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    sbx_client_close(c);
}

/* Why a frame was refused, for the ERROR frame. */
static void fail_frame(struct sbx_client *c, int r)
{
    const struct sbx_proto_rx *rx = &c->rx;
    bool ours = r == -EMSGSIZE && rx->have >= SBX_PROTO_HEADER_SIZE &&
                rx->hdr.length > rx->max_payload && rx->hdr.length <= SBX_PROTO_MAX_PAYLOAD;
    if (ours && c->state == SBX_CL_READY)
        sbx_client_fail(c, ENOBUFS,
                        "uid %u has too many bytes of requests waiting (at most %u MiB, and %u MiB "
                        "for all callers): a RUN of %u bytes does not fit now",
                        (unsigned)c->cred.uid, SBX_SERVER_BUFFER_PER_UID >> 20,
                        SBX_SERVER_BUFFER_ALL >> 20, rx->hdr.length);
    else if (ours)
        sbx_client_fail(c, EMSGSIZE, "a frame of type %u may carry at most %u bytes, not %u",
                        rx->hdr.type, rx->max_payload, rx->hdr.length);
    else if (r == -ETOOMANYREFS)
        sbx_client_fail(c, EBADMSG,
                        "the frame carries more fds than it may here (at most %u: HELLO, SIGNAL "
                        "and frames after RUN none, RUN %u, FDS one per path OPEN named)",
                        rx->max_fds, SBX_RUN_FIXED_FDS);
    else if (r == -EMFILE || r == -ENFILE)
        sbx_client_fail(c, r,
                        "sandboxd is out of file descriptors (%s): the fds of the frame were lost",
                        strerror(-r));
    else
        sbx_client_fail(c, r, "bad frame: %s", strerror(-r));
}

static void on_client(uv_poll_t *h, int status, int events)
{
    struct sbx_client *c = h->data;
    if (c->state == SBX_CL_REFUSED) {
        drain_refused(c);
        return;
    }
    if (c->peer_shut) {
        if (peer_gone(c->fd))
            sbx_client_close(c);
        return;
    }
    /* Only RUN may be big, and only as big as the caller's share of the buffers allows. */
    c->rx.max_payload = c->state == SBX_CL_READY ? sbx_server_room(c) : SBX_SERVER_SMALL_FRAME_MAX;
    /*
     * And only the frame that carries fds may bring them, as many as it
     * carries: a connection holds no more descriptors than its share.
     */
    c->rx.max_fds = c->state == SBX_CL_READY     ? SBX_RUN_FIXED_FDS
                    : c->state == SBX_CL_OPENING ? sbx_run_req_fds_wanted(c->pending)
                                                 : 0;
    struct sbx_frame f;
    int r = sbx_proto_rx_read(&c->rx, c->fd, &f);
    if (r == 0) {
        if (c->state == SBX_CL_READY && c->rx.have >= SBX_PROTO_HEADER_SIZE)
            sbx_server_charge(c, &c->frame_charge, c->rx.hdr.length);
        /* While the sandbox runs, only a frame once begun has to be finished in time. */
        if (c->state == SBX_CL_RUNNING && c->rx.have > 0 &&
            !uv_is_active((uv_handle_t *)&c->deadline))
            uv_timer_start(&c->deadline, on_deadline, SBX_SERVER_WAIT_MS, 0);
        return;
    }
    if (r == -EPIPE) {
        if (c->state == SBX_CL_RUNNING && c->rx.have == 0)
            on_peer_shut(c);
        else
            sbx_client_close(c);
        return;
    }
    if (r < 0) {
        fail_frame(c, r);
        return;
    }
    if (c->state == SBX_CL_READY)
        sbx_server_charge(c, &c->frame_charge, f.length);
    enum sbx_client_state before = c->state;
    handle_frame(c, &f);
    sbx_frame_clear(&f);
    if (c->closing)
        return;
    sbx_server_charge(c, &c->frame_charge, 0);
    if (c->state != before || c->state == SBX_CL_RUNNING || c->state == SBX_CL_WAITING)
        arm_deadline(c);
}

struct sbx_client *sbx_client_new(struct sbx_daemon *d, int fd, struct sbx_caller *cred,
                                  bool trusted, enum sbx_client_state state)
{
    struct sbx_client *c = calloc(1, sizeof(*c));
    if (!c) {
        sbx_caller_done(cred);
        return NULL;
    }
    *c = (struct sbx_client){ .d = d, .fd = fd, .cred = *cred, .trusted = trusted, .state = state };
    *cred = (struct sbx_caller){ 0 };
    sbx_proto_rx_init(&c->rx);
    if ((state != SBX_CL_REFUSED && sbx_server_count(c) < 0) ||
        uv_poll_init(d->loop, &c->poll, fd) < 0) {
        sbx_server_uncount(c);
        sbx_caller_done(&c->cred);
        free(c);
        return NULL;
    }
    uv_timer_init(d->loop, &c->deadline);
    c->poll.data = c->deadline.data = c;
    c->handles_open = 2;
    c->next = d->clients;
    d->clients = c;
    if (state == SBX_CL_REFUSED)
        d->srv.refused_open++;
    arm_deadline(c);
    if (uv_poll_start(&c->poll, UV_READABLE, on_client) < 0) {
        /* The caller still owns fd. */
        c->fd = -EBADF;
        sbx_client_close(c);
        return NULL;
    }
    return c;
}

int sbx_client_add(struct sbx_daemon *d, int fd)
{
    struct sbx_caller cred;
    int r = sbx_caller_from_socket(fd, &cred);
    if (r < 0) {
        close(fd);
        return r;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        r = sbx_neg_errno();
        sbx_caller_done(&cred);
        close(fd);
        return r;
    }
    bool trusted = cred.uid == 0 || cred.uid == geteuid();
    if (!sbx_client_new(d, fd, &cred, trusted, SBX_CL_HELLO)) {
        close(fd);
        return -ENOMEM;
    }
    return 0;
}

void sbx_client_sandbox_exited(struct sbx_client *c, struct sbx_sandbox *s,
                               const struct sbx_msg_exit *m)
{
    c->sandbox = NULL;
    struct sbx_buf b = { 0 };
    if (sbx_msg_exit_encode(m, &b) >= 0)
        send_buf(c, &b);
    else
        sbx_buf_free(&b);
    sbx_client_close(c);
}
