/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the protocol's framing (proto/): the frame header, the
 * field builder and the field reader.  Typed messages are in
 * test-proto-msg.c, socket I/O in test-proto-io.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/proto.h"
#include "sbx-test.h"
#include "sbx/abi.h"
#include "sbx/macro.h"
#include "test-proto.h"

/* ---- Header ------------------------------------------------------------- */

static void test_header_roundtrip(void)
{
    struct sbx_buf b;
    struct sbx_frame_header h;

    sbx_proto_begin(&b, SBX_MSG_HELLO);
    sbx_proto_put_u32(&b, 1, 7);
    CU_ASSERT_EQUAL(0, sbx_proto_finish(&b));
    /* The magic is "SBX1" on the wire. */
    CU_ASSERT_EQUAL(0, memcmp(b.data, "SBX1", 4));
    CU_ASSERT_EQUAL(0, sbx_proto_decode_header(b.data, &h));
    CU_ASSERT_EQUAL(SBX_PROTO_MAGIC, h.magic);
    CU_ASSERT_EQUAL(SBX_PROTO_VERSION, h.version);
    CU_ASSERT_EQUAL(SBX_MSG_HELLO, h.type);
    CU_ASSERT_EQUAL(0, h.flags);
    CU_ASSERT_EQUAL(12, h.length);
    CU_ASSERT_EQUAL(28, b.len);
    /* Little-endian regardless of the host: length 12 sits in byte 12. */
    CU_ASSERT_EQUAL(12, b.data[12]);
    CU_ASSERT_EQUAL(0, b.data[13]);
    sbx_buf_free(&b);
    CU_ASSERT_PTR_NULL(b.data);
}

static void test_header_rejects(void)
{
    uint8_t raw[16];
    struct sbx_frame_header h = { .type = 99 };

    raw_header(raw, SBX_PROTO_MAGIC ^ 1, SBX_PROTO_VERSION, 1, 0, 0);
    CU_ASSERT_EQUAL(-EPROTO, sbx_proto_decode_header(raw, &h));
    raw_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION + 1, 1, 0, 0);
    CU_ASSERT_EQUAL(-EPROTONOSUPPORT, sbx_proto_decode_header(raw, &h));
    raw_header(raw, SBX_PROTO_MAGIC, 0, 1, 0, 0);
    CU_ASSERT_EQUAL(-EPROTONOSUPPORT, sbx_proto_decode_header(raw, &h));
    raw_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION, 1, 0x80000000u, 0);
    CU_ASSERT_EQUAL(-EPROTO, sbx_proto_decode_header(raw, &h));
    raw_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION, 1, 0, SBX_PROTO_MAX_PAYLOAD + 1);
    CU_ASSERT_EQUAL(-EMSGSIZE, sbx_proto_decode_header(raw, &h));
    raw_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION, 1, 0, 0xffffffffu);
    CU_ASSERT_EQUAL(-EMSGSIZE, sbx_proto_decode_header(raw, &h));
    /* Failures leave the output alone. */
    CU_ASSERT_EQUAL(99, h.type);

    raw_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION, 0x1234, 0, SBX_PROTO_MAX_PAYLOAD);
    CU_ASSERT_EQUAL(0, sbx_proto_decode_header(raw, &h));
    CU_ASSERT_EQUAL(0x1234, h.type);
    CU_ASSERT_EQUAL(SBX_PROTO_MAX_PAYLOAD, h.length);
}

/* ---- Builder and reader ------------------------------------------------- */

static void test_builder_limits(void)
{
    struct sbx_buf b;

    _cleanup_free_ char *big = malloc(SBX_PROTO_MAX_STRING + 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'x', SBX_PROTO_MAX_STRING + 1);
    big[SBX_PROTO_MAX_STRING + 1] = '\0';

    sbx_proto_begin(&b, SBX_MSG_HELLO);
    sbx_proto_put_str(&b, 1, big);
    sbx_proto_put_u32(&b, 2, 1); /* a no-op after the error */
    CU_ASSERT_EQUAL(-EMSGSIZE, sbx_proto_finish(&b));
    CU_ASSERT_EQUAL(SBX_PROTO_HEADER_SIZE, b.len);
    sbx_buf_free(&b);

    big[SBX_PROTO_MAX_STRING] = '\0';
    sbx_proto_begin(&b, SBX_MSG_HELLO);
    sbx_proto_put_str(&b, 1, big);
    CU_ASSERT_EQUAL(0, sbx_proto_finish(&b));
    sbx_buf_free(&b);

    sbx_proto_begin(&b, SBX_MSG_HELLO);
    sbx_proto_put_str(&b, 1, NULL);
    CU_ASSERT_EQUAL(-EINVAL, sbx_proto_finish(&b));
    sbx_buf_free(&b);

    /* A payload of exactly the maximum is fine, one byte more is not. */
    _cleanup_free_ uint8_t *blob = calloc(1, SBX_PROTO_MAX_PAYLOAD);
    CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
    sbx_proto_begin(&b, SBX_MSG_HELLO);
    sbx_proto_put_bytes(&b, 1, blob, SBX_PROTO_MAX_PAYLOAD - SBX_PROTO_FIELD_HEADER_SIZE);
    CU_ASSERT_EQUAL(0, sbx_proto_finish(&b));
    CU_ASSERT_EQUAL(SBX_PROTO_HEADER_SIZE + SBX_PROTO_MAX_PAYLOAD, b.len);
    sbx_buf_free(&b);
    sbx_proto_begin(&b, SBX_MSG_HELLO);
    sbx_proto_put_bytes(&b, 1, blob, SBX_PROTO_MAX_PAYLOAD - SBX_PROTO_FIELD_HEADER_SIZE + 1);
    CU_ASSERT_EQUAL(-EMSGSIZE, sbx_proto_finish(&b));
    sbx_buf_free(&b);

    /* Field count: the limit is allowed, one more is not. */
    sbx_proto_begin(&b, SBX_MSG_HELLO);
    for (unsigned i = 0; i < SBX_PROTO_MAX_FIELDS; i++)
        sbx_proto_put_u32(&b, 1, i);
    CU_ASSERT_EQUAL(0, sbx_proto_finish(&b));
    sbx_proto_put_u32(&b, 1, 0);
    CU_ASSERT_EQUAL(-EMSGSIZE, sbx_proto_finish(&b));
    sbx_buf_free(&b);
}

static void test_reader_fields(void)
{
    struct sbx_buf b;
    struct sbx_frame f;
    struct sbx_reader r;
    struct sbx_field fl;
    uint32_t v32;
    uint64_t v64;
    char *s;

    sbx_proto_begin(&b, 200);
    sbx_proto_put_u32(&b, 10, 0xdeadbeef);
    sbx_proto_put_u64(&b, 11, 0x0102030405060708ull);
    sbx_proto_put_str(&b, 12, "hello");
    sbx_proto_put_bytes(&b, 13, "\0\1\2", 3);
    sbx_proto_put_str(&b, 14, "");
    CU_ASSERT_EQUAL_FATAL(0, sbx_proto_finish(&b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(200, f.type);

    sbx_reader_init(&r, &f);
    CU_ASSERT_EQUAL_FATAL(1, sbx_reader_next(&r, &fl));
    CU_ASSERT_EQUAL(10, fl.tag);
    CU_ASSERT_EQUAL(0, sbx_field_u32(&fl, &v32));
    CU_ASSERT_EQUAL(0xdeadbeef, v32);
    CU_ASSERT_EQUAL(-EBADMSG, sbx_field_u64(&fl, &v64));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_field_strdup(&fl, &s));

    CU_ASSERT_EQUAL_FATAL(1, sbx_reader_next(&r, &fl));
    CU_ASSERT_EQUAL(11, fl.tag);
    CU_ASSERT_EQUAL(0, sbx_field_u64(&fl, &v64));
    CU_ASSERT_EQUAL(0x0102030405060708ull, v64);
    CU_ASSERT_EQUAL(8, fl.data[-8 + 4]); /* the length on the wire */
    CU_ASSERT_EQUAL(0x08, fl.data[0]);   /* least significant byte first */
    CU_ASSERT_EQUAL(-EBADMSG, sbx_field_u32(&fl, &v32));

    CU_ASSERT_EQUAL_FATAL(1, sbx_reader_next(&r, &fl));
    CU_ASSERT_EQUAL(0, sbx_field_strdup(&fl, &s));
    CU_ASSERT_STRING_EQUAL("hello", s);
    free(s);

    CU_ASSERT_EQUAL_FATAL(1, sbx_reader_next(&r, &fl));
    CU_ASSERT_EQUAL(SBX_FIELD_BYTES, fl.type);
    CU_ASSERT_EQUAL(3, fl.length);
    CU_ASSERT_EQUAL(0, memcmp(fl.data, "\0\1\2", 3));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_field_strdup(&fl, &s));

    CU_ASSERT_EQUAL_FATAL(1, sbx_reader_next(&r, &fl));
    CU_ASSERT_EQUAL(0, sbx_field_strdup(&fl, &s));
    CU_ASSERT_STRING_EQUAL("", s);
    free(s);

    CU_ASSERT_EQUAL(0, sbx_reader_next(&r, &fl));
    CU_ASSERT_EQUAL(5, r.n_fields);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

/* Runs the reader to the end and returns its first non-positive result. */
static int read_all(const uint8_t *p, size_t n)
{
    struct sbx_frame f;
    struct sbx_reader r;
    struct sbx_field fl;
    int ret;
    frame_raw(200, p, n, &f);
    sbx_reader_init(&r, &f);
    while ((ret = sbx_reader_next(&r, &fl)) > 0)
        ;
    sbx_frame_clear(&f);
    return ret;
}

static void test_reader_rejects(void)
{
    uint8_t p[64];
    size_t n;
    const uint8_t four[4] = { 1, 2, 3, 4 };

    /* Truncated field header. */
    n = raw_field(p, 1, SBX_FIELD_U32, 0, 4, four, 4);
    CU_ASSERT_EQUAL(0, read_all(p, n));
    CU_ASSERT_EQUAL(-EBADMSG, read_all(p, 5));
    /* Value shorter than its length says. */
    n = raw_field(p, 1, SBX_FIELD_BYTES, 0, 10, four, 4);
    CU_ASSERT_EQUAL(-EBADMSG, read_all(p, n));
    /* Trailing bytes after the last field. */
    n = raw_field(p, 1, SBX_FIELD_U32, 0, 4, four, 4);
    memset(p + n, 0, 3);
    CU_ASSERT_EQUAL(-EBADMSG, read_all(p, n + 3));
    /* Reserved byte set. */
    n = raw_field(p, 1, SBX_FIELD_U32, 1, 4, four, 4);
    CU_ASSERT_EQUAL(-EBADMSG, read_all(p, n));
    /* Integer fields of the wrong size. */
    n = raw_field(p, 1, SBX_FIELD_U32, 0, 3, four, 3);
    CU_ASSERT_EQUAL(-EBADMSG, read_all(p, n));
    n = raw_field(p, 1, SBX_FIELD_U64, 0, 4, four, 4);
    CU_ASSERT_EQUAL(-EBADMSG, read_all(p, n));
    /* Unknown field types. */
    n = raw_field(p, 1, 0, 0, 0, NULL, 0);
    CU_ASSERT_EQUAL(-EBADMSG, read_all(p, n));
    n = raw_field(p, 1, 5, 0, 0, NULL, 0);
    CU_ASSERT_EQUAL(-EBADMSG, read_all(p, n));
    /* NUL inside a string. */
    n = raw_field(p, 1, SBX_FIELD_STR, 0, 3, "a\0b", 3);
    CU_ASSERT_EQUAL(-EBADMSG, read_all(p, n));
    n = raw_field(p, 1, SBX_FIELD_BYTES, 0, 3, "a\0b", 3);
    CU_ASSERT_EQUAL(0, read_all(p, n));

    /* Over-long string. */
    size_t big_n = 8 + SBX_PROTO_MAX_STRING + 1;
    _cleanup_free_ uint8_t *big = calloc(1, big_n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big + 8, 'x', SBX_PROTO_MAX_STRING + 1);
    raw_field(big, 1, SBX_FIELD_STR, 0, SBX_PROTO_MAX_STRING + 1, NULL, 0);
    CU_ASSERT_EQUAL(-EBADMSG, read_all(big, big_n));

    /* Too many fields: empty strings are the cheapest. */
    size_t many_n = 8 * (SBX_PROTO_MAX_FIELDS + 1);
    _cleanup_free_ uint8_t *many = calloc(1, many_n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(many);
    for (size_t i = 0; i <= SBX_PROTO_MAX_FIELDS; i++)
        raw_field(many + 8 * i, 1, SBX_FIELD_STR, 0, 0, NULL, 0);
    CU_ASSERT_EQUAL(0, read_all(many, many_n - 8));
    CU_ASSERT_EQUAL(-EMSGSIZE, read_all(many, many_n));
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_header_roundtrip), SBX_TEST(test_header_rejects),
        SBX_TEST(test_builder_limits),   SBX_TEST(test_reader_fields),
        SBX_TEST(test_reader_rejects),
    };
    return sbx_test_main("proto", tests, ARRAY_SIZE(tests));
}
