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

static int handshake(int fd)
{
    struct sbx_msg_hello h = { .min_version = SBX_PROTO_VERSION,
                               .max_version = SBX_PROTO_VERSION,
                               .client = "sandboxctl " SBX_VERSION };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_hello_encode(&h, &b);
    if (r >= 0)
        r = sbx_proto_send(fd, &b, NULL, 0);
    sbx_buf_free(&b);
    if (r < 0) {
        fprintf(stderr, "sandboxctl: cannot talk to sandboxd: %s\n", strerror(-r));
        return r;
    }
    struct sbx_frame f = { 0 };
    r = sbx_proto_recv(fd, &f);
    if (r <= 0) {
        fprintf(stderr, "sandboxctl: sandboxd closed the connection during the handshake\n");
        return r < 0 ? r : -ECONNRESET;
    }
    if (f.type == SBX_MSG_ERROR) {
        struct sbx_msg_error e;
        if (sbx_msg_error_decode(&f, &e) >= 0) {
            fprintf(stderr, "sandboxctl: sandboxd: %s\n", e.message ? e.message : "error");
            r = -(int)e.err;
            sbx_msg_error_free(&e);
        } else {
            r = -EBADMSG;
        }
    } else {
        struct sbx_msg_welcome w;
        r = sbx_msg_welcome_decode(&f, &w);
        if (r >= 0)
            sbx_msg_welcome_free(&w);
        else
            fprintf(stderr, "sandboxctl: unexpected answer to HELLO\n");
    }
    sbx_frame_clear(&f);
    return r < 0 ? r : 0;
}

int sbx_conn_open(struct sbx_conn *c, const char *socket_path)
{
    *c = (struct sbx_conn){ .fd = -EBADF };
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
        else if ((r = sbx_rootless_enter(&c->rootless)) < 0)
            return r;
        else
            r = start_embedded(c, c->rootless.state_dir,
                               c->rootless.cgroup ? LOG_WARNING : LOG_ERR);
        if (r < 0) {
            fprintf(stderr, "sandboxctl: cannot start a private sandboxd: %s\n", strerror(-r));
            return r;
        }
    } else {
        const char *hint = "";
        if (fd == -EACCES || fd == -EPERM)
            hint = " (only root and members of sandboxd's group, '" SBX_GROUP "' unless it was "
                   "started with --group, may use it)";
        fprintf(stderr, "sandboxctl: cannot connect to sandboxd at %s: %s%s\n", socket_path,
                strerror(-fd), hint);
        return fd;
    }
    int r = handshake(c->fd);
    if (r < 0)
        sbx_conn_close(c);
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

int sbx_conn_open_running(struct sbx_conn *c, const char *socket_path, const char *cmd)
{
    *c = (struct sbx_conn){ .fd = -EBADF };
    int fd = connect_socket(socket_path);
    if (fd < 0) {
        bool none = fd == -ENOENT || fd == -ECONNREFUSED || fd == -ENOTDIR;
        fprintf(stderr, "sandboxctl %s: cannot connect to sandboxd at %s: %s%s\n", cmd, socket_path,
                strerror(-fd),
                none ? " (this needs a running sandboxd: a private one, as run starts without "
                       "one, ends with its command and keeps nothing)"
                : fd == -EACCES || fd == -EPERM
                    ? " (only root and members of sandboxd's group may use it)"
                    : "");
        return fd;
    }
    c->fd = fd;
    int r = handshake(c->fd);
    if (r < 0)
        sbx_conn_close(c);
    return r;
}
