/* Client connections: handshake, authorization, RUN requests, exit reports. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#include "proto/proto.h"

struct sbx_daemon;
struct sbx_sandbox;

enum sbx_client_state { SBX_CL_HELLO, SBX_CL_READY, SBX_CL_OPENING, SBX_CL_RUNNING, SBX_CL_DONE };

struct sbx_client {
    struct sbx_daemon *d;
    int fd;
    uv_poll_t poll;
    struct sbx_proto_rx rx;
    struct ucred cred;
    bool authorized;
    enum sbx_client_state state;
    struct sbx_run_req *pending; /* owned: a RUN waiting for the FDS its OPEN asked for */
    struct sbx_sandbox *sandbox; /* not owned: the sandbox outlives a vanished client */
    bool closing;
    struct sbx_client *next;
};

/* Starts serving a connected socket (accepted, or the embedded socketpair). */
int sbx_client_add(struct sbx_daemon *d, int fd);
/* Whether the peer has gid as its primary or a supplementary group. */
bool sbx_client_in_group(struct sbx_client *c, gid_t gid);
/* Closes the connection; a sandbox it started is killed. */
void sbx_client_close(struct sbx_client *c);
/* The sandbox of this client ended: send EXIT, and close. */
void sbx_client_sandbox_exited(struct sbx_client *c, struct sbx_sandbox *s,
                               const struct sbx_msg_exit *m);
