/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One lifecycle request to a running sandboxd and its answer (client/ctl.h). */
#include "client/ctl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbx/macro.h"

int sbx_ctl_request(struct sbx_conn *conn, const char *socket, const char *cmd, uint16_t type,
                    const char *target, uint32_t flags, uint32_t value)
{
    if (target && strlen(target) > SBX_NAME_MAX) {
        fprintf(stderr, "sandboxctl %s: '%s' is no sandbox's name or id (at most %d bytes)\n", cmd,
                target, SBX_NAME_MAX);
        return -EINVAL;
    }
    struct sbx_error e = { 0 };
    int r = sbx_conn_open_running(conn, socket, cmd, &e);
    if (r < 0) {
        sbx_conn_report(&e);
        return r;
    }
    struct sbx_msg_ctl m = { .target = (char *)target, .flags = flags, .value = value };
    struct sbx_buf b = { 0 };
    r = sbx_msg_ctl_encode(type, &m, &b);
    if (r >= 0)
        r = sbx_proto_send(conn->fd, &b, NULL, 0);
    sbx_buf_free(&b);
    if (r < 0) {
        fprintf(stderr, "sandboxctl %s: cannot send the request: %s\n", cmd, strerror(-r));
        sbx_conn_close(conn);
    }
    return r;
}

int sbx_ctl_recv(int fd, const char *cmd, struct sbx_frame *f)
{
    *f = (struct sbx_frame){ 0 };
    int r = sbx_proto_recv(fd, f);
    if (r <= 0) {
        fprintf(stderr, "sandboxctl %s: sandboxd closed the connection%s%s\n", cmd,
                r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        return r < 0 ? r : -ECONNRESET;
    }
    if (f->type != SBX_MSG_ERROR)
        return 1;
    struct sbx_msg_error e;
    r = -EBADMSG;
    if (sbx_msg_error_decode(f, &e) >= 0) {
        fprintf(stderr, "sandboxctl %s: %s\n", cmd, e.message ? e.message : strerror((int)e.err));
        r = -(int)(e.err ? e.err : EIO);
        sbx_msg_error_free(&e);
    }
    sbx_frame_clear(f);
    return r;
}

int sbx_ctl_reply(int fd, const char *cmd, json_object **ret, bool *ret_more)
{
    struct sbx_frame f;
    int r = sbx_ctl_recv(fd, cmd, &f);
    if (r < 0)
        return r;
    struct sbx_msg_reply m;
    if (f.type != SBX_MSG_REPLY || sbx_msg_reply_decode(&f, &m) < 0) {
        fprintf(stderr, "sandboxctl %s: unexpected answer (frame type %u) from sandboxd\n", cmd,
                f.type);
        sbx_frame_clear(&f);
        return -EBADMSG;
    }
    sbx_frame_clear(&f);
    if (m.more && !ret_more) {
        fprintf(stderr, "sandboxctl %s: sandboxd's answer has more parts than expected\n", cmd);
        sbx_msg_reply_free(&m);
        return -EBADMSG;
    }
    if (ret_more)
        *ret_more = m.more;
    size_t len = 0;
    for (uint32_t i = 0; i < m.n_json; i++)
        len += strlen(m.json[i]);
    char *text = malloc(len + 1);
    if (!text) {
        sbx_msg_reply_free(&m);
        return -ENOMEM;
    }
    len = 0;
    for (uint32_t i = 0; i < m.n_json; i++) {
        size_t n = strlen(m.json[i]);
        memcpy(text + len, m.json[i], n);
        len += n;
    }
    text[len] = '\0';
    sbx_msg_reply_free(&m);
    *ret = json_tokener_parse(text);
    free(text);
    if (!*ret) {
        fprintf(stderr, "sandboxctl %s: sandboxd's answer is not JSON\n", cmd);
        return -EBADMSG;
    }
    return 0;
}

int sbx_ctl_exit_status(const struct sbx_msg_exit *m, const char *cmd)
{
    const char *why = m->message && m->message[0] ? m->message : NULL;
    switch (m->kind) {
    case SBX_EXIT_EXITED:
        return (int)(m->code & 0xff);
    case SBX_EXIT_SIGNALED:
        if (why)
            fprintf(stderr, "sandboxctl %s: %s\n", cmd, why);
        return 128 + (int)(m->code & 0x7f);
    case SBX_EXIT_NOTFOUND:
        fprintf(stderr, "sandboxctl %s: %s\n", cmd, why ? why : "the command was not found");
        return 127;
    case SBX_EXIT_NOEXEC:
        fprintf(stderr, "sandboxctl %s: cannot execute: %s\n", cmd, why ? why : "");
        return 126;
    case SBX_EXIT_TIMEOUT:
        fprintf(stderr, "sandboxctl %s: %s\n", cmd, why ? why : "timed out");
        return 124;
    case SBX_EXIT_OOM:
        fprintf(stderr, "sandboxctl %s: %s\n", cmd, why ? why : "killed: out of memory");
        return 128 + SIGKILL;
    default:
        fprintf(stderr, "sandboxctl %s: sandbox setup failed: %s\n", cmd,
                why ? why : strerror((int)m->code));
        return 125;
    }
}

int sbx_ctl_parse_uint(const char *s, uint32_t max, uint32_t *ret)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -EINVAL;
    *ret = (uint32_t)v;
    return 0;
}
