/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reaching a daemon: the socket, or a private embedded daemon for this command only. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "client/rootless.h"
#include "sbx/error.h"

struct sbx_conn {
    int fd;
    pid_t embedded;               /* the private daemon's pid, or 0 */
    struct sbx_rootless rootless; /* the private daemon runs rootless (.active) */
    bool welcome_due;             /* HELLO sent, its answer not read yet */
};

/*
 * Connects and sends HELLO.  The answer is left in the socket
 * (c->welcome_due): the caller sends its request at once and takes the
 * answer as the first frame it reads (sbx_conn_welcome), one round trip to
 * the daemon fewer.  The daemon reads frames one at a time, so the request
 * waits until HELLO is answered, and a daemon that refuses the connection
 * closes it without taking the request's descriptors.  A private daemon's
 * answer is read here, as it says whether that daemon came up.  On failure
 * returns -errno with e naming what failed, as sandboxctl says it
 * (sbx_conn_report prints it); e is empty where the rootless setup has said
 * why itself.  With no daemon answering, root gets a private daemon, and
 * anyone else a rootless one.
 */
int sbx_conn_open(struct sbx_conn *c, const char *socket_path, struct sbx_error *e);
/*
 * The first frame read after sbx_conn_open left the answer due: WELCOME, or
 * ERROR saying why the daemon refused (-errno, with e saying it as
 * sandboxctl does).  Clears c->welcome_due.
 */
struct sbx_frame;
int sbx_conn_welcome(struct sbx_conn *c, const struct sbx_frame *f, struct sbx_error *e);
/*
 * The same without the embedded default, and with the handshake done
 * before it returns: what outlives the command (run -d, ps, logs ...) needs
 * a running daemon, and what names the command (cmd) says so when none
 * answers.
 */
int sbx_conn_open_running(struct sbx_conn *c, const char *socket_path, const char *cmd,
                          struct sbx_error *e);
/* Prints a failed open's error on stderr, if it has a message. */
void sbx_conn_report(const struct sbx_error *e);
/* Closes the connection and waits for a private daemon to finish cleaning up. */
void sbx_conn_close(struct sbx_conn *c);
