/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Framing of the sandboxd wire protocol: the frame header, the field builder
 * and reader, and frame I/O with fd passing (blocking and incremental).
 */
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sbx/macro.h"

/* Longest human-readable text sbx_proto_send_error() puts into a frame. */
#define ERROR_MESSAGE_MAX 1024

/*
 * Room for SBX_PROTO_MAX_FDS descriptors plus a credentials message, so that
 * a socket with SO_PASSCRED set does not make a legitimate frame look
 * truncated.  More descriptors than the limit may fit; they are counted and
 * rejected by hand.
 */
#define CONTROL_SIZE                                                                               \
    (CMSG_SPACE(sizeof(int) * SBX_PROTO_MAX_FDS) + CMSG_SPACE(sizeof(struct ucred)))

/* ---- Little-endian helpers ---------------------------------------------- */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* ---- Builder ------------------------------------------------------------ */

static void encode_header(const struct sbx_frame_header *h, uint8_t raw[SBX_PROTO_HEADER_SIZE])
{
    put_le32(raw, h->magic);
    put_le16(raw + 4, h->version);
    put_le16(raw + 6, h->type);
    put_le32(raw + 8, h->flags);
    put_le32(raw + 12, h->length);
}

void sbx_proto_begin(struct sbx_buf *b, uint16_t type)
{
    *b = (struct sbx_buf){ .cap = 256 };
    b->data = malloc(b->cap);
    if (!b->data) {
        b->cap = 0;
        b->error = -ENOMEM;
        return;
    }
    /* The length is patched by sbx_proto_finish(). */
    struct sbx_frame_header h = {
        .magic = SBX_PROTO_MAGIC,
        .version = SBX_PROTO_VERSION,
        .type = type,
    };
    encode_header(&h, b->data);
    b->len = SBX_PROTO_HEADER_SIZE;
}

/* Appends a field header and reserves room for n value bytes; NULL after an error. */
static uint8_t *put_field(struct sbx_buf *b, uint16_t tag, uint8_t type, size_t n)
{
    if (b->error)
        return NULL;
    /* Checked before growing, so that an oversized put costs no memory. */
    if (n > SBX_PROTO_MAX_PAYLOAD ||
        b->len - SBX_PROTO_HEADER_SIZE + SBX_PROTO_FIELD_HEADER_SIZE + n > SBX_PROTO_MAX_PAYLOAD) {
        b->error = -EMSGSIZE;
        return NULL;
    }
    size_t need = b->len + SBX_PROTO_FIELD_HEADER_SIZE + n;
    if (need > b->cap) {
        size_t cap = b->cap;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->error = -ENOMEM;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    uint8_t *h = b->data + b->len;
    put_le16(h, tag);
    h[2] = type;
    h[3] = 0;
    put_le32(h + 4, (uint32_t)n);
    b->len = need;
    return h + SBX_PROTO_FIELD_HEADER_SIZE;
}

void sbx_proto_put_u32(struct sbx_buf *b, uint16_t tag, uint32_t v)
{
    uint8_t *p = put_field(b, tag, SBX_FIELD_U32, 4);
    if (p)
        put_le32(p, v);
}

void sbx_proto_put_u64(struct sbx_buf *b, uint16_t tag, uint64_t v)
{
    uint8_t *p = put_field(b, tag, SBX_FIELD_U64, 8);
    if (p)
        put_le64(p, v);
}

void sbx_proto_put_str(struct sbx_buf *b, uint16_t tag, const char *s)
{
    if (b->error)
        return;
    if (!s) {
        b->error = -EINVAL;
        return;
    }
    size_t n = strnlen(s, SBX_PROTO_MAX_STRING + 1);
    if (n > SBX_PROTO_MAX_STRING) {
        b->error = -EMSGSIZE;
        return;
    }
    uint8_t *p = put_field(b, tag, SBX_FIELD_STR, n);
    if (p)
        memcpy(p, s, n);
}

void sbx_proto_put_bytes(struct sbx_buf *b, uint16_t tag, const void *p, size_t n)
{
    if (b->error)
        return;
    if (!p && n > 0) {
        b->error = -EINVAL;
        return;
    }
    uint8_t *d = put_field(b, tag, SBX_FIELD_BYTES, n);
    if (d && n > 0)
        memcpy(d, p, n);
}

int sbx_proto_finish(struct sbx_buf *b)
{
    if (b->error)
        return b->error;
    if (!b->data || b->len < SBX_PROTO_HEADER_SIZE)
        return -EINVAL;

    /* The buffer does not count its fields; walking the headers is cheap. */
    unsigned n_fields = 0;
    for (size_t off = SBX_PROTO_HEADER_SIZE; off < b->len; n_fields++)
        off += SBX_PROTO_FIELD_HEADER_SIZE + get_le32(b->data + off + 4);
    if (n_fields > SBX_PROTO_MAX_FIELDS) {
        b->error = -EMSGSIZE;
        return b->error;
    }
    put_le32(b->data + 12, (uint32_t)(b->len - SBX_PROTO_HEADER_SIZE));
    return 0;
}

void sbx_buf_free(struct sbx_buf *b)
{
    if (!b)
        return;
    free(b->data);
    *b = (struct sbx_buf){ 0 };
}

/* ---- Header and field decoding ------------------------------------------ */

int sbx_proto_decode_header(const uint8_t raw[SBX_PROTO_HEADER_SIZE], struct sbx_frame_header *ret)
{
    struct sbx_frame_header h = {
        .magic = get_le32(raw),
        .version = get_le16(raw + 4),
        .type = get_le16(raw + 6),
        .flags = get_le32(raw + 8),
        .length = get_le32(raw + 12),
    };
    if (h.magic != SBX_PROTO_MAGIC)
        return -EPROTO;
    /* Version before flags: a later version may give the flags a meaning. */
    if (h.version != SBX_PROTO_VERSION)
        return -EPROTONOSUPPORT;
    if (h.flags != 0)
        return -EPROTO;
    if (h.length > SBX_PROTO_MAX_PAYLOAD)
        return -EMSGSIZE;
    *ret = h;
    return 0;
}

void sbx_reader_init(struct sbx_reader *r, const struct sbx_frame *f)
{
    *r = (struct sbx_reader){ .p = f->payload, .left = f->payload ? f->length : 0 };
}

int sbx_reader_next(struct sbx_reader *r, struct sbx_field *ret)
{
    if (r->left == 0)
        return 0;
    if (r->left < SBX_PROTO_FIELD_HEADER_SIZE)
        return -EBADMSG;
    if (r->n_fields >= SBX_PROTO_MAX_FIELDS)
        return -EMSGSIZE;

    struct sbx_field f = {
        .tag = get_le16(r->p),
        .type = r->p[2],
        .length = get_le32(r->p + 4),
        .data = r->p + SBX_PROTO_FIELD_HEADER_SIZE,
    };
    if (r->p[3] != 0)
        return -EBADMSG;
    if (f.length > r->left - SBX_PROTO_FIELD_HEADER_SIZE)
        return -EBADMSG;

    switch (f.type) {
    case SBX_FIELD_U32:
        if (f.length != 4)
            return -EBADMSG;
        break;
    case SBX_FIELD_U64:
        if (f.length != 8)
            return -EBADMSG;
        break;
    case SBX_FIELD_STR:
        if (f.length > SBX_PROTO_MAX_STRING || memchr(f.data, 0, f.length))
            return -EBADMSG;
        break;
    case SBX_FIELD_BYTES:
        /* Bounded by the payload, which the header check bounded. */
        break;
    default:
        return -EBADMSG;
    }

    r->p += SBX_PROTO_FIELD_HEADER_SIZE + f.length;
    r->left -= SBX_PROTO_FIELD_HEADER_SIZE + f.length;
    r->n_fields++;
    *ret = f;
    return 1;
}

int sbx_field_u32(const struct sbx_field *f, uint32_t *ret)
{
    if (f->type != SBX_FIELD_U32 || f->length != 4)
        return -EBADMSG;
    *ret = get_le32(f->data);
    return 0;
}

int sbx_field_u64(const struct sbx_field *f, uint64_t *ret)
{
    if (f->type != SBX_FIELD_U64 || f->length != 8)
        return -EBADMSG;
    *ret = get_le64(f->data);
    return 0;
}

int sbx_field_strdup(const struct sbx_field *f, char **ret)
{
    /* Checked again here: a field need not come from sbx_reader_next(). */
    if (f->type != SBX_FIELD_STR || f->length > SBX_PROTO_MAX_STRING ||
        (f->length > 0 && memchr(f->data, 0, f->length)))
        return -EBADMSG;
    char *s = malloc((size_t)f->length + 1);
    if (!s)
        return -ENOMEM;
    if (f->length > 0)
        memcpy(s, f->data, f->length);
    s[f->length] = '\0';
    *ret = s;
    return 0;
}

void sbx_frame_clear(struct sbx_frame *f)
{
    if (!f)
        return;
    free(f->payload);
    for (unsigned i = 0; i < f->n_fds && i < SBX_PROTO_MAX_FDS; i++)
        sbx_close(f->fds[i]);
    *f = (struct sbx_frame){ 0 };
}

/* ---- Socket I/O --------------------------------------------------------- */

/* Waits until sock is ready; lets the blocking calls also work on O_NONBLOCK sockets. */
static int wait_for(int sock, short events)
{
    struct pollfd p = { .fd = sock, .events = events };
    for (;;) {
        int r = poll(&p, 1, -1);
        if (r >= 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

int sbx_proto_send(int sock, const struct sbx_buf *b, const int *fds, unsigned n_fds)
{
    if (b->error)
        return b->error;
    if (!b->data || b->len < SBX_PROTO_HEADER_SIZE || n_fds > SBX_PROTO_MAX_FDS ||
        (n_fds > 0 && !fds))
        return -EINVAL;

    union {
        char buf[CMSG_SPACE(sizeof(int) * SBX_PROTO_MAX_FDS)];
        struct cmsghdr align;
    } control;
    const uint8_t *p = b->data;
    size_t left = b->len;
    bool fds_sent = n_fds == 0;

    while (left > 0) {
        struct iovec iov = { .iov_base = (void *)p, .iov_len = left };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (!fds_sent) {
            memset(&control, 0, sizeof(control));
            mh.msg_control = control.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int r = wait_for(sock, POLLOUT);
                if (r < 0)
                    return r;
                continue;
            }
            return -errno;
        }
        /* The fds travel with the first byte that was accepted; the rest goes without. */
        fds_sent = true;
        p += n;
        left -= (size_t)n;
    }
    return 0;
}

/*
 * MSG_CTRUNC: the kernel dropped descriptors of the message.  Either more
 * came than the control buffer holds (the peer sent over the limit:
 * -EMSGSIZE), or this process had no free descriptor to put them in (-EMFILE,
 * or -ENFILE for the system).  A probing dup tells which: the descriptors
 * that did arrive are still open, so the table is as full as it was.
 */
static int truncated_cause(int sock, int too_many)
{
    int probe = fcntl(sock, F_DUPFD_CLOEXEC, 0);
    if (probe >= 0) {
        close(probe);
        return too_many;
    }
    return errno == EMFILE || errno == ENFILE ? -errno : too_many;
}

/*
 * Adds the descriptors of every SCM_RIGHTS message to f.  More than the
 * protocol's limit is -EMSGSIZE; more than a smaller max the receiver set
 * for this frame is -ETOOMANYREFS.
 */
static int collect_fds(int sock, struct msghdr *mh, struct sbx_frame *f, unsigned max)
{
    int too_many = max < SBX_PROTO_MAX_FDS ? -ETOOMANYREFS : -EMSGSIZE;
    int r = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const uint8_t *data = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            /* Every received fd is either kept or closed, even past the limit. */
            if (f->n_fds < max && f->n_fds < SBX_PROTO_MAX_FDS)
                f->fds[f->n_fds++] = fd;
            else {
                sbx_close(fd);
                r = too_many;
            }
        }
    }
    if (mh->msg_flags & MSG_CTRUNC)
        r = truncated_cause(sock, too_many);
    return r;
}

/*
 * One recvmsg() of at most n bytes into p, fds added to f, at most max_fds
 * of them in all: the control buffer has room for no more, so the kernel
 * installs no more (it drops the rest and says MSG_CTRUNC).  Returns the
 * byte count (0 on EOF), -EAGAIN, or another negative errno.
 */
static ssize_t recv_some(int sock, void *p, size_t n, struct sbx_frame *f, unsigned max_fds)
{
    union {
        char buf[CONTROL_SIZE];
        struct cmsghdr align;
    } control;
    unsigned room = max_fds > SBX_PROTO_MAX_FDS ? SBX_PROTO_MAX_FDS : max_fds;
    room = f->n_fds < room ? room - f->n_fds : 0;
    struct iovec iov = { .iov_base = p, .iov_len = n };
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen =
            (room ? CMSG_SPACE(sizeof(int) * room) : 0) + CMSG_SPACE(sizeof(struct ucred)),
    };
    ssize_t got;
    do
        got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    int r = collect_fds(sock, &mh, f, max_fds);
    if (r < 0)
        return r;
    return got;
}

/* Reads exactly n bytes; *got counts what arrived, so the caller can tell EOF positions apart. */
static int recv_exact(int sock, uint8_t *p, size_t n, size_t *got, struct sbx_frame *f)
{
    while (*got < n) {
        ssize_t k = recv_some(sock, p + *got, n - *got, f, SBX_PROTO_MAX_FDS);
        if (k == -EAGAIN) {
            int r = wait_for(sock, POLLIN);
            if (r < 0)
                return r;
            continue;
        }
        if (k < 0)
            return (int)k;
        if (k == 0)
            return -ECONNRESET;
        *got += (size_t)k;
    }
    return 0;
}

/*
 * The header and the payload are read with separate calls sized to what
 * is missing, so a read never crosses into the next frame and picks up its
 * fds.  *ret is written only when a frame is returned.
 */
int sbx_proto_recv(int sock, struct sbx_frame *ret)
{
    struct sbx_frame f = { 0 };
    uint8_t raw[SBX_PROTO_HEADER_SIZE];
    struct sbx_frame_header h;
    size_t got = 0;
    int r;

    r = recv_exact(sock, raw, sizeof(raw), &got, &f);
    if (r == -ECONNRESET && got == 0 && f.n_fds == 0)
        return 0;
    if (r < 0)
        goto fail;
    r = sbx_proto_decode_header(raw, &h);
    if (r < 0)
        goto fail;

    f.type = h.type;
    f.flags = h.flags;
    f.length = h.length;
    if (h.length > 0) {
        f.payload = malloc(h.length);
        if (!f.payload) {
            r = -ENOMEM;
            goto fail;
        }
        got = 0;
        r = recv_exact(sock, f.payload, h.length, &got, &f);
        if (r < 0)
            goto fail;
    }
    *ret = f;
    return 1;

fail:
    sbx_frame_clear(&f);
    return r;
}

/* ---- Incremental receiver ----------------------------------------------- */

void sbx_proto_rx_init(struct sbx_proto_rx *rx)
{
    *rx =
        (struct sbx_proto_rx){ .max_payload = SBX_PROTO_MAX_PAYLOAD, .max_fds = SBX_PROTO_MAX_FDS };
}

void sbx_proto_rx_clear(struct sbx_proto_rx *rx)
{
    if (!rx)
        return;
    sbx_frame_clear(&rx->frame);
    sbx_proto_rx_init(rx);
}

/*
 * Returns after at most one frame: bytes of the next frame stay in the
 * socket (keeping the readiness level-triggered poll reports), and the
 * caller calls again until it gets 0.  After an error the state is
 * undefined except for sbx_proto_rx_clear(); the connection is to be closed.
 */
int sbx_proto_rx_read(struct sbx_proto_rx *rx, int sock, struct sbx_frame *ret)
{
    for (;;) {
        uint8_t *p;
        size_t want;
        if (rx->have < SBX_PROTO_HEADER_SIZE) {
            p = rx->header + rx->have;
            want = SBX_PROTO_HEADER_SIZE - rx->have;
        } else {
            size_t off = rx->have - SBX_PROTO_HEADER_SIZE;
            p = rx->frame.payload + off;
            want = rx->hdr.length - off;
        }

        ssize_t k = recv_some(sock, p, want, &rx->frame, rx->max_fds);
        if (k == -EAGAIN)
            return 0;
        if (k < 0)
            return (int)k;
        if (k == 0)
            return -EPIPE;
        rx->have += (size_t)k;

        if (rx->have == SBX_PROTO_HEADER_SIZE) {
            int r = sbx_proto_decode_header(rx->header, &rx->hdr);
            if (r < 0)
                return r;
            /* Checked before the payload is allocated: the limit bounds memory. */
            if (rx->hdr.length > rx->max_payload)
                return -EMSGSIZE;
            rx->frame.type = rx->hdr.type;
            rx->frame.flags = rx->hdr.flags;
            rx->frame.length = rx->hdr.length;
            if (rx->hdr.length > 0) {
                rx->frame.payload = malloc(rx->hdr.length);
                if (!rx->frame.payload)
                    return -ENOMEM;
            }
        }
        if (rx->have == SBX_PROTO_HEADER_SIZE + (size_t)rx->hdr.length) {
            *ret = rx->frame;
            rx->frame = (struct sbx_frame){ 0 };
            rx->hdr = (struct sbx_frame_header){ 0 };
            rx->have = 0;
            return 1;
        }
    }
}

/* ---- Errors ------------------------------------------------------------- */

int sbx_proto_send_error(int sock, int err, const char *fmt, ...)
{
    char message[ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (n < 0)
        message[0] = '\0';

    struct sbx_msg_error m = {
        .err = (uint32_t)(err < 0 ? -err : err),
        .message = message,
    };
    _cleanup_(sbx_buf_free) struct sbx_buf b = { 0 };
    int r = sbx_msg_error_encode(&m, &b);
    if (r < 0)
        return r;
    return sbx_proto_send(sock, &b, NULL, 0);
}
