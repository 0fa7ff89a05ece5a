/*
 * Client connections.  Each one is a small state machine: HELLO (version,
 * SO_PEERCRED authorization), RUN (one sandbox), then SIGNAL at any time and
 * EXIT at the end.  A bad frame gets an ERROR frame and the connection is
 * closed; nothing a client sends can stop the daemon.
 */
#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/run.h"
#include "daemon/sandbox.h"
#include "sbx-config.h"
#include "sbx/macro.h"

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
    struct sbx_daemon *d = c->d;
    sbx_close(c->fd);
    free(c);
    sbx_daemon_maybe_exit(d);
}

void sbx_client_close(struct sbx_client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->state = SBX_CL_DONE;
    if (c->sandbox) {
        /* Nobody is left to tell: end the sandbox, it cleans up after itself. */
        c->sandbox->client = NULL;
        sbx_sandbox_kill(c->sandbox, "killed: the client went away");
        c->sandbox = NULL;
    }
    sbx_run_req_free(c->pending);
    c->pending = NULL;
    sbx_proto_rx_clear(&c->rx);
    client_unlink(c);
    uv_close((uv_handle_t *)&c->poll, on_client_closed);
}

static int send_buf(struct sbx_client *c, struct sbx_buf *b)
{
    /* Replies are small and the socket was empty: a blocking send cannot stall the loop. */
    int fl = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
    int r = sbx_proto_send(c->fd, b, NULL, 0);
    fcntl(c->fd, F_SETFL, fl);
    sbx_buf_free(b);
    return r;
}

/* Sends an ERROR frame and closes the connection. */
static void client_fail(struct sbx_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void client_fail(struct sbx_client *c, int err, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sbx_info("client pid %d uid %u: %s", (int)c->cred.pid, (unsigned)c->cred.uid, msg);
    struct sbx_msg_error e = { .err = (uint32_t)(err < 0 ? -err : err), .message = msg };
    struct sbx_buf b = { 0 };
    if (sbx_msg_error_encode(&e, &b) >= 0)
        send_buf(c, &b);
    else
        sbx_buf_free(&b);
    sbx_client_close(c);
}

bool sbx_client_in_group(struct sbx_client *c, gid_t gid)
{
    if (c->cred.gid == gid)
        return true;
    /* The peer's supplementary groups as of connect(). */
    gid_t groups[NGROUPS_MAX];
    socklen_t len = sizeof(groups);
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
        return false;
    for (size_t i = 0; i < len / sizeof(gid_t); i++)
        if (groups[i] == gid)
            return true;
    return false;
}

/* Root, the daemon's own uid, and members of the sandbox group may run sandboxes. */
static bool authorized(struct sbx_client *c)
{
    if (c->cred.uid == 0 || c->cred.uid == geteuid())
        return true;
    return c->d->have_sandbox_gid && sbx_client_in_group(c, c->d->sandbox_gid);
}

static void handle_hello(struct sbx_client *c, const struct sbx_frame *f)
{
    struct sbx_msg_hello h;
    if (f->type != SBX_MSG_HELLO) {
        client_fail(c, EPROTO, "the first frame must be HELLO");
        return;
    }
    if (sbx_msg_hello_decode(f, &h) < 0) {
        client_fail(c, EBADMSG, "malformed HELLO frame");
        return;
    }
    bool ok = h.min_version <= SBX_PROTO_VERSION && SBX_PROTO_VERSION <= h.max_version;
    uint32_t lo = h.min_version, hi = h.max_version;
    sbx_msg_hello_free(&h);
    if (!ok) {
        client_fail(c, EPROTONOSUPPORT, "protocol version %u-%u not supported (sandboxd speaks %u)",
                    lo, hi, SBX_PROTO_VERSION);
        return;
    }
    if (!authorized(c)) {
        client_fail(c, EACCES, "permission denied: uid %u is not root and not in group '%s'",
                    (unsigned)c->cred.uid, c->d->cfg.group);
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
    char msg[4096] = "";
    struct sbx_sandbox *s = NULL;
    int r = sbx_run_start(c->d, c, c->pending, extra, &s, msg, sizeof(msg));
    sbx_run_req_free(c->pending);
    c->pending = NULL;
    if (r < 0) {
        client_fail(c, r, "%s", msg[0] ? msg : strerror(-r));
        return;
    }
    c->sandbox = s;
    c->state = SBX_CL_RUNNING;
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
        client_fail(c, ESHUTDOWN, "sandboxd is shutting down");
        return;
    }
    char msg[4096] = "";
    struct sbx_msg_open open = { 0 };
    int r = sbx_run_prepare(c->d, c, f, &c->pending, &open, msg, sizeof(msg));
    if (r < 0) {
        client_fail(c, r, "%s", msg[0] ? msg : strerror(-r));
        return;
    }
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

static void handle_signal(struct sbx_client *c, const struct sbx_frame *f)
{
    struct sbx_msg_signal sig;
    if (sbx_msg_signal_decode(f, &sig) < 0) {
        client_fail(c, EBADMSG, "malformed SIGNAL frame");
        return;
    }
    sbx_info("sandbox %llu: client asked to stop it (signal %u)",
             (unsigned long long)c->sandbox->id, sig.signo);
    sbx_sandbox_kill(c->sandbox, "killed: the client asked to stop it");
}

static void on_client(uv_poll_t *h, int status, int events)
{
    struct sbx_client *c = h->data;
    struct sbx_frame f;
    int r = sbx_proto_rx_read(&c->rx, c->fd, &f);
    if (r == 0)
        return;
    if (r == -EPIPE) {
        sbx_client_close(c);
        return;
    }
    if (r < 0) {
        client_fail(c, r, "bad frame: %s", strerror(-r));
        return;
    }
    switch (c->state) {
    case SBX_CL_HELLO:
        handle_hello(c, &f);
        break;
    case SBX_CL_READY:
        if (f.type == SBX_MSG_RUN)
            handle_run(c, &f);
        else
            client_fail(c, EPROTO, "unexpected frame type %u (expected RUN)", f.type);
        break;
    case SBX_CL_OPENING:
        if (f.type == SBX_MSG_FDS)
            start_pending(c, &f);
        else
            client_fail(c, EPROTO, "unexpected frame type %u (expected FDS)", f.type);
        break;
    case SBX_CL_RUNNING:
        if (f.type == SBX_MSG_SIGNAL)
            handle_signal(c, &f);
        else
            client_fail(c, EPROTO, "unexpected frame type %u while a sandbox runs", f.type);
        break;
    case SBX_CL_DONE:
        break;
    }
    sbx_frame_clear(&f);
}

int sbx_client_add(struct sbx_daemon *d, int fd)
{
    struct sbx_client *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->d = d;
    c->fd = fd;
    sbx_proto_rx_init(&c->rx);
    socklen_t len = sizeof(c->cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
        int r = sbx_neg_errno();
        close(fd);
        free(c);
        return r;
    }
    int r = uv_poll_init(d->loop, &c->poll, fd);
    if (r < 0) {
        close(fd);
        free(c);
        return r;
    }
    c->poll.data = c;
    c->next = d->clients;
    d->clients = c;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    r = uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_client);
    if (r < 0)
        sbx_client_close(c);
    return r;
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
