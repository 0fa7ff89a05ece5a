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
 * Connects and sends HELLO, leaving the answer in the socket: the caller
 * sends its request at once and then reads the answer with
 * sbx_conn_welcome, one round trip to the daemon fewer.  The daemon reads
 * frames one at a time, so the request waits until HELLO is answered, and a
 * daemon that refuses the HELLO drops it unread.  On failure returns -errno
 * with e naming what failed, as sandboxctl says it (sbx_conn_report prints
 * it); e is empty where the rootless setup has said why itself.  With no
 * daemon answering, root gets a private daemon, and anyone else a rootless
 * one.
 */
int sbx_conn_open(struct sbx_conn *c, const char *socket_path, struct sbx_error *e);
/*
 * Reads the answer to sbx_conn_open's HELLO (0 when there is none to read):
 * on a refusal returns -errno with e saying why, as sandboxctl says it; the
 * caller closes the connection.
 */
int sbx_conn_welcome(struct sbx_conn *c, struct sbx_error *e);
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
