/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the protocol decoder: arbitrary bytes go through the
 * header decoder, the field reader and every typed decoder.  Whatever a
 * decoder accepts must encode again and decode to the same verdict.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks that an accepted message survives encode + decode; aborts otherwise. */
#define ROUND_TRIP(mtype, encode, decode, free_fn, msg)                                            \
    do {                                                                                           \
        struct sbx_buf b_;                                                                         \
        int r_ = encode(&(msg), &b_);                                                              \
        /* Decoded defaults (SPEC cwd/hostname) can push a frame at the limit over it. */          \
        if (r_ == -EMSGSIZE)                                                                       \
            break;                                                                                 \
        if (r_ < 0)                                                                                \
            abort();                                                                               \
        struct sbx_frame_header h_;                                                                \
        if (sbx_proto_decode_header(b_.data, &h_) < 0 || h_.type != (mtype))                       \
            abort();                                                                               \
        struct sbx_frame f_ = { .type = h_.type,                                                   \
                                .length = h_.length,                                               \
                                .payload = b_.data + SBX_PROTO_HEADER_SIZE };                      \
        __typeof__(msg) again_;                                                                    \
        if (decode(&f_, &again_) < 0)                                                              \
            abort();                                                                               \
        free_fn(&again_);                                                                          \
        sbx_buf_free(&b_);                                                                         \
    } while (0)

/* Decoders without a destructor own nothing. */
static void no_free(void *m)
{
    (void)m;
}

/* The lifecycle requests share one body: the type being tried is the one encoded. */
static uint16_t ctl_type;

static int ctl_encode(const struct sbx_msg_ctl *m, struct sbx_buf *ret)
{
    return sbx_msg_ctl_encode(ctl_type, m, ret);
}

static int exec_encode(const struct sbx_msg_exec *m, struct sbx_buf *ret)
{
    return sbx_msg_exec_encode(SBX_MSG_EXEC, m, ret);
}

static int init_exec_encode(const struct sbx_msg_exec *m, struct sbx_buf *ret)
{
    return sbx_msg_exec_encode(SBX_MSG_INIT_EXEC, m, ret);
}

static void decode_all(const struct sbx_frame *in)
{
    struct sbx_frame f = *in;

#define TRY(mtype, decode, encode, free_fn, T)                                                     \
    do {                                                                                           \
        T m_;                                                                                      \
        f.type = (mtype);                                                                          \
        if (decode(&f, &m_) == 0) {                                                                \
            ROUND_TRIP(mtype, encode, decode, free_fn, m_);                                        \
            free_fn(&m_);                                                                          \
        }                                                                                          \
    } while (0)

    TRY(SBX_MSG_HELLO, sbx_msg_hello_decode, sbx_msg_hello_encode, sbx_msg_hello_free,
        struct sbx_msg_hello);
    TRY(SBX_MSG_WELCOME, sbx_msg_welcome_decode, sbx_msg_welcome_encode, sbx_msg_welcome_free,
        struct sbx_msg_welcome);
    TRY(SBX_MSG_ERROR, sbx_msg_error_decode, sbx_msg_error_encode, sbx_msg_error_free,
        struct sbx_msg_error);
    TRY(SBX_MSG_RUN, sbx_msg_run_decode, sbx_msg_run_encode, sbx_msg_run_free, struct sbx_msg_run);
    TRY(SBX_MSG_STARTED, sbx_msg_started_decode, sbx_msg_started_encode, sbx_msg_started_free,
        struct sbx_msg_started);
    for (ctl_type = SBX_MSG_PS; ctl_type <= SBX_MSG_STATUS; ctl_type++)
        if (ctl_type != SBX_MSG_EXEC)
            TRY(ctl_type, sbx_msg_ctl_decode, ctl_encode, sbx_msg_ctl_free, struct sbx_msg_ctl);
    TRY(SBX_MSG_EXEC, sbx_msg_exec_decode, exec_encode, sbx_msg_exec_free, struct sbx_msg_exec);
    TRY(SBX_MSG_INIT_EXEC, sbx_msg_exec_decode, init_exec_encode, sbx_msg_exec_free,
        struct sbx_msg_exec);
    TRY(SBX_MSG_INIT_EXEC_END, sbx_msg_exec_end_decode, sbx_msg_exec_end_encode,
        sbx_msg_exec_end_free, struct sbx_msg_exec_end);
    TRY(SBX_MSG_REPLY, sbx_msg_reply_decode, sbx_msg_reply_encode, sbx_msg_reply_free,
        struct sbx_msg_reply);
    TRY(SBX_MSG_LOG, sbx_msg_log_decode, sbx_msg_log_encode, no_free, struct sbx_msg_log);
    TRY(SBX_MSG_SIGNAL, sbx_msg_signal_decode, sbx_msg_signal_encode, no_free,
        struct sbx_msg_signal);
    TRY(SBX_MSG_EXIT, sbx_msg_exit_decode, sbx_msg_exit_encode, sbx_msg_exit_free,
        struct sbx_msg_exit);
    TRY(SBX_MSG_SPEC, sbx_spec_decode, sbx_spec_encode, sbx_spec_free, struct sbx_spec);
    TRY(SBX_MSG_REPORT, sbx_msg_report_decode, sbx_msg_report_encode, sbx_msg_report_free,
        struct sbx_msg_report);
#undef TRY
}

/* Walks the generic reader and every accessor, as a hand-written decoder would. */
static void read_fields(const struct sbx_frame *f)
{
    struct sbx_reader r;
    struct sbx_field fl;
    sbx_reader_init(&r, f);
    while (sbx_reader_next(&r, &fl) > 0) {
        uint32_t v32;
        uint64_t v64;
        char *s;
        (void)sbx_field_u32(&fl, &v32);
        (void)sbx_field_u64(&fl, &v64);
        if (sbx_field_strdup(&fl, &s) == 0)
            free(s);
    }
}

/*
 * Input: a 16-byte frame header followed by the payload.  The header is
 * decoded as received; the payload is fed to every decoder whatever the
 * header said, so that a rejected header does not hide payload bugs.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < SBX_PROTO_HEADER_SIZE)
        return 0;
    struct sbx_frame_header h;
    (void)sbx_proto_decode_header(data, &h);

    size_t n = size - SBX_PROTO_HEADER_SIZE;
    if (n > SBX_PROTO_MAX_PAYLOAD)
        return 0;
    /* An exact-size copy, so that AddressSanitizer sees any read past the payload. */
    uint8_t *payload = n ? malloc(n) : NULL;
    if (n && !payload)
        return 0;
    if (n)
        memcpy(payload, data + SBX_PROTO_HEADER_SIZE, n);
    struct sbx_frame f = { .payload = payload, .length = (uint32_t)n };

    read_fields(&f);
    decode_all(&f);
    free(payload);
    return 0;
}
