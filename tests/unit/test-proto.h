/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers of the protocol suites (test-proto.c: framing, test-proto-msg.c:
 * typed messages, test-proto-io.c: socket I/O): frames made by hand, for
 * input no encoder produces, and the socket plumbing the I/O tests share.
 */
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "proto/proto.h"
#include "sbx-test.h"

/* Turns a finished buffer into a frame, as sbx_proto_recv() would. */
static inline void frame_from_buf(const struct sbx_buf *b, struct sbx_frame *f)
{
    struct sbx_frame_header h;
    CU_ASSERT_FATAL(b->len >= SBX_PROTO_HEADER_SIZE);
    CU_ASSERT_EQUAL_FATAL(0, sbx_proto_decode_header(b->data, &h));
    CU_ASSERT_EQUAL_FATAL(b->len - SBX_PROTO_HEADER_SIZE, h.length);
    *f = (struct sbx_frame){ .type = h.type, .length = h.length };
    if (h.length > 0) {
        f->payload = malloc(h.length);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f->payload);
        memcpy(f->payload, b->data + SBX_PROTO_HEADER_SIZE, h.length);
    }
}

/* A frame around hand-written payload bytes, for input no encoder produces. */
static inline void frame_raw(uint16_t type, const uint8_t *p, size_t n, struct sbx_frame *f)
{
    *f = (struct sbx_frame){ .type = type, .length = (uint32_t)n };
    f->payload = malloc(n ? n : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->payload);
    memcpy(f->payload, p, n);
}

/* Writes one field header (and value) at p; returns the bytes written. */
static inline size_t raw_field(uint8_t *p, uint16_t tag, uint8_t type, uint8_t reserved,
                               uint32_t len, const void *v, size_t vlen)
{
    p[0] = (uint8_t)tag;
    p[1] = (uint8_t)(tag >> 8);
    p[2] = type;
    p[3] = reserved;
    for (unsigned i = 0; i < 4; i++)
        p[4 + i] = (uint8_t)(len >> (8 * i));
    if (vlen)
        memcpy(p + 8, v, vlen);
    return 8 + vlen;
}

static inline void raw_header(uint8_t raw[16], uint32_t magic, uint16_t version, uint16_t type,
                              uint32_t flags, uint32_t length)
{
    for (unsigned i = 0; i < 4; i++) {
        raw[i] = (uint8_t)(magic >> (8 * i));
        raw[8 + i] = (uint8_t)(flags >> (8 * i));
        raw[12 + i] = (uint8_t)(length >> (8 * i));
    }
    raw[4] = (uint8_t)version;
    raw[5] = (uint8_t)(version >> 8);
    raw[6] = (uint8_t)type;
    raw[7] = (uint8_t)(type >> 8);
}

static inline bool same_file(int a, int b)
{
    struct stat sa, sb;
    if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
        return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static inline bool is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl >= 0 && (fl & FD_CLOEXEC);
}

static inline int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static inline void make_pair(int sv[2])
{
    CU_ASSERT_EQUAL_FATAL(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
}

static inline void set_nonblock(int fd)
{
    CU_ASSERT_FATAL(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
}

/* A SIGNAL frame: the smallest typed message, used wherever any frame will do. */
static inline void signal_buf(uint32_t signo, struct sbx_buf *b)
{
    struct sbx_msg_signal m = { .signo = signo };
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_encode(&m, b));
}

static inline uint32_t frame_signo(const struct sbx_frame *f)
{
    struct sbx_msg_signal m;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_decode(f, &m));
    return m.signo;
}
