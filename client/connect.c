/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reaching a daemon.  When nothing answers at the socket, sandboxctl forks a
 * private daemon that serves exactly this command over a socketpair and exits
 * when it is done: the embedded default, so `sandboxctl run` works on a bare
 * machine.  A caller other than root gets it rootless (client/rootless.c).
 */
#include "client/connect.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/embed.h"
#include "proto/proto.h"
#include "sbx-config.h"
#include "sbx/macro.h"

static int connect_socket(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sbx_neg_errno();
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return sbx_neg_errno();
    return TAKE_FD(fd);
}

static int start_embedded(struct sbx_conn *c, const char *state_dir, int log_level)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return sbx_neg_errno();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int r = sbx_neg_errno();
        close(sv[0]);
        close(sv[1]);
        return r;
    }
    if (pid == 0) {
        close(sv[0]);
        /*
         * Out of sandboxctl's process group, so that the keys of the caller's
         * terminal (Ctrl-C, Ctrl-\, Ctrl-Z) signal sandboxctl, which passes
         * them on to the guest, and never the private daemon.  Its log lines
         * from the background must not stop it either (stty tostop).
         */
        setpgid(0, 0);
        signal(SIGTTOU, SIG_IGN);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        struct sbx_daemon_config cfg = {
            .state_dir = state_dir,
            .policy_dir = SBX_DEFAULT_POLICY_DIR,
            .group = SBX_GROUP,
            .listen_fd = -1,
            .conn_fd = sv[1],
            .ready_fd = -1,
            .log_level = log_level,
            .default_mode = SBX_DEFAULT_MODE,
        };
        _exit(sbx_daemon_run(&cfg));
    }
    close(sv[1]);
    c->fd = sv[0];
    c->embedded = pid;
    return 0;
}

static int send_hello(int fd, struct sbx_error *e)
{
    struct sbx_msg_hello h = { .min_version = SBX_PROTO_VERSION,
                               .max_version = SBX_PROTO_VERSION,
                               .client = "sandboxctl " SBX_VERSION };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_hello_encode(&h, &b);
    if (r >= 0)
        r = sbx_proto_send(fd, &b, NULL, 0);
    sbx_buf_free(&b);
    if (r < 0)
        return sbx_error_set_errno(e, r, "cannot talk to sandboxd");
    return 0;
}

/* The answer to HELLO in f; on failure e says what went wrong, for "sandboxctl: " to go before. */
static int welcome_frame(const struct sbx_frame *f, struct sbx_error *e)
{
    int r;
    if (f->type == SBX_MSG_ERROR) {
        struct sbx_msg_error m;
        if (sbx_msg_error_decode(f, &m) >= 0) {
            r = sbx_error_set(e, -(int)m.err, "sandboxd: %s", m.message ? m.message : "error");
            sbx_msg_error_free(&m);
        } else {
            r = sbx_error_set(e, -EBADMSG, "malformed ERROR frame in answer to HELLO");
        }
    } else {
        struct sbx_msg_welcome w;
        r = sbx_msg_welcome_decode(f, &w);
        if (r >= 0)
            sbx_msg_welcome_free(&w);
        else
            sbx_error_set(e, r, "unexpected answer to HELLO");
    }
    return r < 0 ? r : 0;
}

static int read_welcome(int fd, struct sbx_error *e)
{
    struct sbx_frame f = { 0 };
    int r = sbx_proto_recv(fd, &f);
    if (r <= 0)
        return sbx_error_set(e, r < 0 ? r : -ECONNRESET,
                             "sandboxd closed the connection during the handshake");
    r = welcome_frame(&f, e);
    sbx_frame_clear(&f);
    return r;
}

/* What the handshake said gets the program's name. */
static void name_handshake_error(struct sbx_error *e)
{
    if (e->msg[0])
        sbx_error_wrap(e, "sandboxctl");
}

/* HELLO, and unless the caller reads it later (c->welcome_due), WELCOME. */
static int handshake(struct sbx_conn *c, bool wait_welcome, struct sbx_error *e)
{
    int r = send_hello(c->fd, e);
    if (r >= 0 && wait_welcome)
        r = read_welcome(c->fd, e);
    else if (r >= 0)
        c->welcome_due = true;
    if (r < 0) {
        /* A refused handshake closes the connection. */
        name_handshake_error(e);
        sbx_conn_close(c);
    }
    return r;
}

int sbx_conn_open(struct sbx_conn *c, const char *socket_path, struct sbx_error *e)
{
    *c = (struct sbx_conn){ .fd = -EBADF };
    e->msg[0] = '\0';
    int fd = connect_socket(socket_path);
    if (fd >= 0) {
        c->fd = fd;
    } else if (fd == -ENOENT || fd == -ECONNREFUSED || fd == -ENOTDIR) {
        /*
         * Rootless with no delegated cgroup, sandboxctl has said once that
         * no limit holds: the daemon's own warnings of it would say it again.
         */
        int r;
        if (geteuid() == 0)
            r = start_embedded(c, SBX_DEFAULT_STATE_DIR, LOG_WARNING);
        else if ((r = sbx_rootless_enter(&c->rootless, e)) < 0)
            return r;
        else
            r = start_embedded(c, c->rootless.state_dir,
                               c->rootless.cgroup ? LOG_WARNING : LOG_ERR);
        if (r < 0)
            return sbx_error_set_errno(e, r, "sandboxctl: cannot start a private sandboxd");
    } else {
        const char *hint = "";
        if (fd == -EACCES || fd == -EPERM)
            hint = " (only root and members of sandboxd's group, '" SBX_GROUP "' unless it was "
                   "started with --group, may use it)";
        return sbx_error_set(e, fd, "sandboxctl: cannot connect to sandboxd at %s: %s%s",
                             socket_path, strerror(-fd), hint);
    }
    /*
     * A private daemon's answer says whether it came up at all: waited for,
     * before a rootless caller spends its time on the image.
     */
    return handshake(c, c->embedded > 0, e);
}

int sbx_conn_welcome(struct sbx_conn *c, const struct sbx_frame *f, struct sbx_error *e)
{
    e->msg[0] = '\0';
    c->welcome_due = false;
    int r = welcome_frame(f, e);
    if (r < 0)
        name_handshake_error(e);
    return r;
}

void sbx_conn_close(struct sbx_conn *c)
{
    c->fd = sbx_close(c->fd);
    if (c->embedded > 0) {
        /* Waiting means the private daemon has unmounted and detached everything. */
        while (waitpid(c->embedded, NULL, 0) < 0 && errno == EINTR)
            ;
        c->embedded = 0;
    }
    sbx_rootless_done(&c->rootless);
}

int sbx_conn_open_running(struct sbx_conn *c, const char *socket_path, const char *cmd,
                          struct sbx_error *e)
{
    *c = (struct sbx_conn){ .fd = -EBADF };
    e->msg[0] = '\0';
    int fd = connect_socket(socket_path);
    if (fd < 0) {
        bool none = fd == -ENOENT || fd == -ECONNREFUSED || fd == -ENOTDIR;
        return sbx_error_set(
            e, fd, "sandboxctl %s: cannot connect to sandboxd at %s: %s%s", cmd, socket_path,
            strerror(-fd),
            none ? " (this needs a running sandboxd: a private one, as run starts without "
                   "one, ends with its command and keeps nothing)"
            : fd == -EACCES || fd == -EPERM
                ? " (only root and members of sandboxd's group may use it)"
                : "");
    }
    c->fd = fd;
    return handshake(c, true, e);
}

void sbx_conn_report(const struct sbx_error *e)
{
    if (e->msg[0])
        fprintf(stderr, "%s\n", e->msg);
}
