/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Client connections: admission at accept (credentials and connection
 * limits), the handshake, RUN requests, exit reports, and a deadline for
 * every wait on a client.  docs/protocol.md ("Limits of the daemon") gives
 * the numbers and how they follow from RLIMIT_NOFILE.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "daemon/caller.h"
#include "proto/proto.h"
#include "sbx/macro.h"

struct sbx_daemon;
struct sbx_sandbox;
struct sbx_life;

/* How long the daemon waits on a client: for HELLO, RUN, FDS, or the rest of a frame. */
#define SBX_SERVER_WAIT_MS 10000
/*
 * HELLO, FDS and SIGNAL are a few dozen bytes: in every state but the one
 * that waits for RUN, no bigger frame is read (so nothing big before the
 * handshake, and nothing big while a sandbox runs).
 */
#define SBX_SERVER_SMALL_FRAME_MAX 4096
/* Descriptors the daemon may hold for one connection at worst (see sbx_server_init). */
#define SBX_SERVER_FDS_PER_CONN 9
/* Descriptors kept for the daemon itself: loop, images, spare sandbox, launches, sitemaps. */
#define SBX_SERVER_FDS_RESERVED 256
#define SBX_SERVER_MAX_CONNS 4096
#define SBX_SERVER_MAX_CONNS_PER_UID 128
/* Bytes of RUN frames not yet acted on (partial, or waiting for FDS), for callers not root. */
#define SBX_SERVER_BUFFER_PER_UID (8u << 20)
#define SBX_SERVER_BUFFER_ALL (32u << 20)

enum sbx_client_state {
    SBX_CL_HELLO,   /* waiting for HELLO */
    SBX_CL_READY,   /* WELCOME sent, waiting for RUN */
    SBX_CL_OPENING, /* OPEN sent, waiting for FDS */
    SBX_CL_RUNNING, /* the sandbox runs; SIGNAL frames may come */
    SBX_CL_WAITING, /* a lifecycle request waits for a sandbox's end (WAIT, STOP, LOGS -f) */
    SBX_CL_REFUSED, /* ERROR sent at accept; waiting a moment for the peer to read it */
    SBX_CL_DONE,
};

struct sbx_client {
    struct sbx_daemon *d;
    int fd;
    uv_poll_t poll;
    uv_timer_t deadline; /* armed while the daemon waits on the client */
    unsigned handles_open;
    struct sbx_proto_rx rx;
    struct sbx_caller cred; /* resolved at accept */
    bool trusted;           /* root or the daemon's own uid: no per-uid limits */
    bool counted;           /* in the connection counts (not a refused connection) */
    bool peer_shut;         /* the peer shut down its sending side while its sandbox runs */
    size_t frame_charge;    /* bytes of the RUN frame in progress counted against the budgets */
    size_t pending_charge;  /* bytes of the pending RUN counted against them */
    enum sbx_client_state state;
    struct sbx_run_req *pending; /* owned: a RUN waiting for the FDS its OPEN asked for */
    struct sbx_sandbox *sandbox; /* not owned: the sandbox outlives a vanished client */
    bool closing;
    struct sbx_life *life;        /* not owned: the sandbox a WAITING request waits for */
    uint16_t life_req;            /* that request's frame type */
    uint32_t exec_id;             /* EXEC: the process's id in its sandbox */
    struct sbx_client *life_next; /* the other requests waiting for it */
    struct sbx_client *next;
};

/* Connections and buffered bytes of one uid. */
struct sbx_server_uid {
    uid_t uid;
    unsigned conns;
    size_t buffered;
};

struct sbx_server {
    unsigned max_conns;         /* every connection */
    unsigned trusted_reserve;   /* of max_conns, only for root and the daemon's uid */
    unsigned max_conns_per_uid; /* for any other uid */
    unsigned conns;             /* counted connections */
    unsigned untrusted_conns;
    size_t buffered;             /* bytes charged by callers other than root and the daemon's uid */
    struct sbx_server_uid *uids; /* untrusted uids with a connection; owned */
    size_t n_uids, cap_uids;
    unsigned refused_open; /* connections in SBX_CL_REFUSED */
    int reserve_fd;        /* kept open to accept-and-refuse when out of descriptors */
    uv_poll_t listen_poll;
    uv_timer_t listen_pause; /* restarts accepting after running out of descriptors */
    bool listening;
};

/* Computes the limits from RLIMIT_NOFILE and takes the reserve descriptor. */
int sbx_server_init(struct sbx_daemon *d);
void sbx_server_done(struct sbx_daemon *d);
/* Starts accepting on d->listen_fd. */
int sbx_server_listen(struct sbx_daemon *d);

/* Serves the embedded daemon's one connection, a socketpair to sandboxctl: no admission. */
int sbx_client_add(struct sbx_daemon *d, int fd);
/* Closes the connection; a sandbox it started is killed. */
void sbx_client_close(struct sbx_client *c);
/* The guest's pty master, from sandbox init, goes to the client (TTY). */
int sbx_client_send_tty(struct sbx_client *c, int master);
/* Sends TRACE with the sandbox's trace memfd. */
int sbx_client_send_trace(struct sbx_client *c, int memfd);
/*
 * What a sandbox started for a client tells it (struct sbx_sandbox_owner's
 * notify, ctx the client or NULL): the lifecycle hears every note, the
 * client its terminal, trace ring and EXIT (server-sandbox.c).
 */
struct sbx_sandbox_note;
int sbx_client_sandbox_notify(void *ctx, struct sbx_sandbox *s, const struct sbx_sandbox_note *n);
/* The sandbox of this client ended: send EXIT, and close. */
void sbx_client_sandbox_exited(struct sbx_client *c, struct sbx_sandbox *s,
                               const struct sbx_msg_exit *m);

/*
 * Between server.c (one connection) and server-accept.c (admission and
 * accounting).  sbx_client_new() serves fd in state HELLO (counted), or in
 * REFUSED after an ERROR was sent (not counted); NULL when it could not.
 * It takes *cred's groups either way.
 */
struct sbx_client *sbx_client_new(struct sbx_daemon *d, int fd, struct sbx_caller *cred,
                                  bool trusted, enum sbx_client_state state);
/* Sends an ERROR frame (err: an errno, either sign) and closes the connection. */
void sbx_client_fail(struct sbx_client *c, int err, const char *fmt, ...) _printf_(3, 4);
/* Counts c in the per-uid and global connection counts (-ENOMEM), or takes it out. */
int sbx_server_count(struct sbx_client *c);
void sbx_server_uncount(struct sbx_client *c);
/* Moves c's charge for RUN bytes to bytes (up or down); callers not root only. */
void sbx_server_charge(struct sbx_client *c, size_t *charge, size_t bytes);
/* How many bytes of RUN frames c may still buffer (at most SBX_PROTO_MAX_PAYLOAD). */
uint32_t sbx_server_room(const struct sbx_client *c);
