/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the wire protocol: header and field format, every typed
 * message, strict rejection of malformed input, and frame I/O with fds.
 */
#include <dirent.h>
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

/* ---- Helpers ------------------------------------------------------------ */

/* Turns a finished buffer into a frame, as sbx_proto_recv() would. */
static void frame_from_buf(const struct sbx_buf *b, struct sbx_frame *f)
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
static void frame_raw(uint16_t type, const uint8_t *p, size_t n, struct sbx_frame *f)
{
    *f = (struct sbx_frame){ .type = type, .length = (uint32_t)n };
    f->payload = malloc(n ? n : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->payload);
    memcpy(f->payload, p, n);
}

/* Writes one field header (and value) at p; returns the bytes written. */
static size_t raw_field(uint8_t *p, uint16_t tag, uint8_t type, uint8_t reserved, uint32_t len,
                        const void *v, size_t vlen)
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

static void raw_header(uint8_t raw[16], uint32_t magic, uint16_t version, uint16_t type,
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

static bool same_file(int a, int b)
{
    struct stat sa, sb;
    if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
        return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static bool is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl >= 0 && (fl & FD_CLOEXEC);
}

static int count_open_fds(void)
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

static void make_pair(int sv[2])
{
    CU_ASSERT_EQUAL_FATAL(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
}

static void set_nonblock(int fd)
{
    CU_ASSERT_FATAL(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
}

/* A SIGNAL frame: the smallest typed message, used wherever any frame will do. */
static void signal_buf(uint32_t signo, struct sbx_buf *b)
{
    struct sbx_msg_signal m = { .signo = signo };
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_encode(&m, b));
}

static uint32_t frame_signo(const struct sbx_frame *f)
{
    struct sbx_msg_signal m;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_decode(f, &m));
    return m.signo;
}

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

/* ---- Typed messages: round trips ---------------------------------------- */

static void test_roundtrip_handshake(void)
{
    struct sbx_buf b;
    struct sbx_frame f;

    struct sbx_msg_hello hi = { .min_version = 1, .max_version = 3, .client = "sandboxctl 0.1" };
    struct sbx_msg_hello hi2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_encode(&hi, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_HELLO, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_decode(&f, &hi2));
    CU_ASSERT_EQUAL(1, hi2.min_version);
    CU_ASSERT_EQUAL(3, hi2.max_version);
    CU_ASSERT_STRING_EQUAL("sandboxctl 0.1", hi2.client);
    sbx_msg_hello_free(&hi2);
    CU_ASSERT_PTR_NULL(hi2.client);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* The client name is optional. */
    hi.client = NULL;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_encode(&hi, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_decode(&f, &hi2));
    CU_ASSERT_PTR_NULL(hi2.client);
    sbx_msg_hello_free(&hi2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    struct sbx_msg_welcome w = { .version = 1, .server = "sandboxd 0.1.0" }, w2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_welcome_encode(&w, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_WELCOME, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_welcome_decode(&f, &w2));
    CU_ASSERT_EQUAL(1, w2.version);
    CU_ASSERT_STRING_EQUAL("sandboxd 0.1.0", w2.server);
    sbx_msg_welcome_free(&w2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    struct sbx_msg_error e = { .err = EACCES, .message = "policy 'web': permission denied" };
    struct sbx_msg_error e2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_error_encode(&e, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_ERROR, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_error_decode(&f, &e2));
    CU_ASSERT_EQUAL(EACCES, e2.err);
    CU_ASSERT_STRING_EQUAL(e.message, e2.message);
    sbx_msg_error_free(&e2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* Required strings cannot be left out by the encoder either. */
    e.message = NULL;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_error_encode(&e, &b));
    w.server = NULL;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_welcome_encode(&w, &b));
}

static void test_roundtrip_run(void)
{
    char *argv[] = { "/bin/sh", "-c", "echo hi", NULL };
    char *env[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL };
    char *options[] = { "memory=256M", "volume=/srv/a b:/data:rw", "memory=1G", NULL };
    struct sbx_msg_run m = {
        .argv = argv,
        .argc = 3,
        .env = env,
        .envc = 2,
        .options = options,
        .n_options = 3,
        .policy_text = "name: x\n",
        .policy_file = "x.yaml",
        .mode = SBX_MODE_TRAP,
        .flags = SBX_RUN_STATS | SBX_RUN_TRACE,
    };
    struct sbx_msg_run m2;
    struct sbx_buf b;
    struct sbx_frame f;

    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_RUN, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_decode(&f, &m2));
    CU_ASSERT_EQUAL_FATAL(3, m2.argc);
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(argv[i], m2.argv[i]);
    CU_ASSERT_PTR_NULL(m2.argv[3]);
    CU_ASSERT_EQUAL_FATAL(2, m2.envc);
    CU_ASSERT_STRING_EQUAL(env[0], m2.env[0]);
    CU_ASSERT_STRING_EQUAL(env[1], m2.env[1]);
    CU_ASSERT_PTR_NULL(m2.env[2]);
    CU_ASSERT_PTR_NULL(m2.policy_name);
    CU_ASSERT_STRING_EQUAL("name: x\n", m2.policy_text);
    CU_ASSERT_STRING_EQUAL("x.yaml", m2.policy_file);
    CU_ASSERT_EQUAL(SBX_MODE_TRAP, m2.mode);
    CU_ASSERT_EQUAL(SBX_RUN_STATS | SBX_RUN_TRACE, m2.flags);
    /* Options keep their order: the last of two wins in the daemon. */
    CU_ASSERT_EQUAL_FATAL(3, m2.n_options);
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(options[i], m2.options[i]);
    CU_ASSERT_PTR_NULL(m2.options[3]);
    sbx_msg_run_free(&m2);
    CU_ASSERT_PTR_NULL(m2.argv);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* No environment and no options, a policy by name, the default mode. */
    m.env = NULL;
    m.envc = 0;
    m.options = NULL;
    m.n_options = 0;
    m.policy_text = NULL;
    m.policy_file = NULL;
    m.policy_name = "build-worker";
    m.mode = SBX_RUN_MODE_DEFAULT;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_decode(&f, &m2));
    CU_ASSERT_EQUAL(0, m2.envc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m2.env);
    CU_ASSERT_PTR_NULL(m2.env[0]);
    CU_ASSERT_STRING_EQUAL("build-worker", m2.policy_name);
    CU_ASSERT_PTR_NULL(m2.policy_text);
    CU_ASSERT_EQUAL(SBX_RUN_MODE_DEFAULT, m2.mode);
    CU_ASSERT_EQUAL(0, m2.n_options);
    sbx_msg_run_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

static void test_roundtrip_small(void)
{
    struct sbx_buf b;
    struct sbx_frame f;

    struct sbx_msg_started s = { .id = 0x1122334455667788ull }, s2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_started_encode(&s, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_STARTED, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_started_decode(&f, &s2));
    CU_ASSERT_EQUAL(s.id, s2.id);
    CU_ASSERT_PTR_NULL(s2.sandbox);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* The lifecycle requests: one body, the frame type says which. */
    struct sbx_msg_ctl k = { .target = "web", .flags = SBX_CTL_FOLLOW, .value = 7 }, k2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_ctl_encode(SBX_MSG_LOGS, &k, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_LOGS, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_ctl_decode(&f, &k2));
    CU_ASSERT_STRING_EQUAL(k2.target, "web");
    CU_ASSERT_EQUAL(k2.flags, SBX_CTL_FOLLOW);
    CU_ASSERT_EQUAL(k2.value, 7);
    sbx_msg_ctl_free(&k2);
    f.type = SBX_MSG_RUN;
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_ctl_decode(&f, &k2));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
    k.flags = 1u << 9;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_ctl_encode(SBX_MSG_PS, &k, &b));
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_ctl_encode(SBX_MSG_RUN, &k, &b));

    struct sbx_msg_signal g = { .signo = 15 }, g2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_encode(&g, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_SIGNAL, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_decode(&f, &g2));
    CU_ASSERT_EQUAL(15, g2.signo);
    CU_ASSERT_EQUAL(0, g2.flags);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* The end flag travels; an unknown flag bit is refused both ways. */
    g = (struct sbx_msg_signal){ .signo = 2, .flags = SBX_SIGNAL_END };
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_encode(&g, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_signal_decode(&f, &g2));
    CU_ASSERT_EQUAL(SBX_SIGNAL_END, g2.flags);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
    g.flags = 2;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_signal_encode(&g, &b));

    /* TTY: no field at all. */
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_tty_encode(&b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_TTY, f.type);
    CU_ASSERT_EQUAL(0, f.length);
    CU_ASSERT_EQUAL(0, sbx_msg_tty_decode(&f));
    /* GUEST and NOTIFY are the same shape, told apart by their type. */
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_guest_decode(&f));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_notify_decode(&f));
    f.type = SBX_MSG_NOTIFY;
    CU_ASSERT_EQUAL(0, sbx_msg_notify_decode(&f));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_trace_decode(&f));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* TRACE: no field either. */
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_trace_encode(&b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_TRACE, f.type);
    CU_ASSERT_EQUAL(0, f.length);
    CU_ASSERT_EQUAL(0, sbx_msg_trace_decode(&f));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_tty_decode(&f));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    struct sbx_msg_report r = { .kind = SBX_EXIT_SETUP,
                                .code = EINVAL,
                                .message = "pivot_root: Invalid argument" };
    struct sbx_msg_report r2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_report_encode(&r, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_REPORT, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_report_decode(&f, &r2));
    CU_ASSERT_EQUAL(SBX_EXIT_SETUP, r2.kind);
    CU_ASSERT_EQUAL(EINVAL, r2.code);
    CU_ASSERT_STRING_EQUAL(r.message, r2.message);
    sbx_msg_report_free(&r2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

static void test_roundtrip_exit(void)
{
    struct sbx_stat_entry st[] = {
        { .nr = 0, .trapped = 1, .patched = 0xffffffffffull },
        { .nr = 39, .trapped = 2, .patched = 3 },
        { .nr = 511, .trapped = UINT64_MAX, .patched = 0 },
    };
    struct sbx_msg_exit m = {
        .kind = SBX_EXIT_SIGNALED, .code = 9, .message = "killed", .stats = st, .n_stats = 3
    };
    struct sbx_msg_exit m2;
    struct sbx_buf b;
    struct sbx_frame f;

    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_EXIT, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_decode(&f, &m2));
    CU_ASSERT_EQUAL(SBX_EXIT_SIGNALED, m2.kind);
    CU_ASSERT_EQUAL(9, m2.code);
    CU_ASSERT_STRING_EQUAL("killed", m2.message);
    CU_ASSERT_EQUAL_FATAL(3, m2.n_stats);
    for (unsigned i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(st[i].nr, m2.stats[i].nr);
        CU_ASSERT_EQUAL(st[i].trapped, m2.stats[i].trapped);
        CU_ASSERT_EQUAL(st[i].patched, m2.stats[i].patched);
    }
    sbx_msg_exit_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    m.message = NULL;
    m.stats = NULL;
    m.n_stats = 0;
    m.kind = SBX_EXIT_EXITED;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_decode(&f, &m2));
    CU_ASSERT_PTR_NULL(m2.message);
    CU_ASSERT_PTR_NULL(m2.stats);
    CU_ASSERT_EQUAL(0, m2.n_stats);
    CU_ASSERT_PTR_NULL(m2.killed_syscall);
    sbx_msg_exit_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* The call a kill rule stopped, by name. */
    m.kind = SBX_EXIT_SIGNALED;
    m.code = 31;
    m.killed_syscall = "mkdir";
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_decode(&f, &m2));
    CU_ASSERT_STRING_EQUAL("mkdir", m2.killed_syscall);
    sbx_msg_exit_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

static void test_roundtrip_spec(void)
{
    char *argv[] = { "/usr/bin/python3", "-c", "print(1)", NULL };
    char *env[] = { "HOME=/", NULL };
    char *masked[] = { "/proc/kcore", "/sys/firmware", NULL };
    char *readonly[] = { "/proc/asound", NULL };
    uint32_t groups[] = { 10, 100, 65534 };
    struct sbx_spec_bind binds[] = {
        { .target = "/data", .flags = SBX_BIND_READONLY },
        { .target = "/out", .flags = 0 },
    };
    struct sbx_spec_tmpfs tmpfs[] = { { .target = "/scratch", .size = 64 << 20, .mode = 01777 } };
    struct sbx_spec_rlimit rl[] = {
        { .resource = 7, .cur = 1024, .max = 4096 },
        { .resource = 4, .cur = 0, .max = UINT64_MAX },
    };
    struct sbx_spec m = {
        .staging = "/run/sandboxd/staging/42",
        .argv = argv,
        .argc = 3,
        .env = env,
        .envc = 1,
        .cwd = "/work",
        .hostname = "box",
        .mode = SBX_MODE_REWRITE,
        .flags = SBX_SPEC_NET_HOST | SBX_SPEC_READONLY_ROOT | SBX_SPEC_SYSFS | SBX_SPEC_CGROUPFS |
                 SBX_SPEC_MQUEUE | SBX_SPEC_WAIT_START,
        .uid = 65534,
        .gid = 65533,
        .groups = groups,
        .n_groups = 3,
        .umask = 022,
        .caps_keep = 1ull << 10 | 1ull << 40,
        .overlay_size = 1ull << 33,
        .tmp_size = 512ull << 20,
        .shm_size = 64ull << 20,
        .binds = binds,
        .n_binds = 2,
        .tmpfs = tmpfs,
        .n_tmpfs = 1,
        .masked = masked,
        .n_masked = 2,
        .readonly = readonly,
        .n_readonly = 1,
        .n_pass = 2,
        .rlimits = rl,
        .n_rlimits = 2,
    };
    struct sbx_spec m2;
    struct sbx_buf b;
    struct sbx_frame f;

    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_encode(&m, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(SBX_MSG_SPEC, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_decode(&f, &m2));
    CU_ASSERT_STRING_EQUAL(m.staging, m2.staging);
    CU_ASSERT_EQUAL_FATAL(3, m2.argc);
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(argv[i], m2.argv[i]);
    CU_ASSERT_PTR_NULL(m2.argv[3]);
    CU_ASSERT_EQUAL_FATAL(1, m2.envc);
    CU_ASSERT_STRING_EQUAL("HOME=/", m2.env[0]);
    CU_ASSERT_PTR_NULL(m2.env[1]);
    CU_ASSERT_STRING_EQUAL("/work", m2.cwd);
    CU_ASSERT_STRING_EQUAL("box", m2.hostname);
    CU_ASSERT_EQUAL(SBX_MODE_REWRITE, m2.mode);
    CU_ASSERT_EQUAL(SBX_SPEC_NET_HOST | SBX_SPEC_READONLY_ROOT | SBX_SPEC_SYSFS |
                        SBX_SPEC_CGROUPFS | SBX_SPEC_MQUEUE | SBX_SPEC_WAIT_START,
                    m2.flags);
    CU_ASSERT_EQUAL_FATAL(1, m2.n_readonly);
    CU_ASSERT_STRING_EQUAL("/proc/asound", m2.readonly[0]);
    CU_ASSERT_EQUAL(2, m2.n_pass);
    CU_ASSERT_EQUAL(65534, m2.uid);
    CU_ASSERT_EQUAL(65533, m2.gid);
    CU_ASSERT_EQUAL_FATAL(3, m2.n_groups);
    CU_ASSERT_EQUAL(0, memcmp(groups, m2.groups, sizeof(groups)));
    CU_ASSERT_EQUAL(022, m2.umask);
    CU_ASSERT_EQUAL(m.caps_keep, m2.caps_keep);
    CU_ASSERT_EQUAL(m.overlay_size, m2.overlay_size);
    CU_ASSERT_EQUAL(m.tmp_size, m2.tmp_size);
    CU_ASSERT_EQUAL(m.shm_size, m2.shm_size);
    CU_ASSERT_EQUAL_FATAL(2, m2.n_binds);
    CU_ASSERT_STRING_EQUAL("/data", m2.binds[0].target);
    CU_ASSERT_EQUAL(SBX_BIND_READONLY, m2.binds[0].flags);
    CU_ASSERT_STRING_EQUAL("/out", m2.binds[1].target);
    CU_ASSERT_EQUAL(0, m2.binds[1].flags);
    CU_ASSERT_EQUAL_FATAL(1, m2.n_tmpfs);
    CU_ASSERT_STRING_EQUAL("/scratch", m2.tmpfs[0].target);
    CU_ASSERT_EQUAL(64 << 20, m2.tmpfs[0].size);
    CU_ASSERT_EQUAL(01777, m2.tmpfs[0].mode);
    CU_ASSERT_EQUAL_FATAL(2, m2.n_masked);
    CU_ASSERT_STRING_EQUAL("/proc/kcore", m2.masked[0]);
    CU_ASSERT_STRING_EQUAL("/sys/firmware", m2.masked[1]);
    CU_ASSERT_EQUAL_FATAL(2, m2.n_rlimits);
    CU_ASSERT_EQUAL(7, m2.rlimits[0].resource);
    CU_ASSERT_EQUAL(1024, m2.rlimits[0].cur);
    CU_ASSERT_EQUAL(4096, m2.rlimits[0].max);
    CU_ASSERT_EQUAL(4, m2.rlimits[1].resource);
    CU_ASSERT_EQUAL(UINT64_MAX, m2.rlimits[1].max);
    sbx_spec_free(&m2);
    CU_ASSERT_PTR_NULL(m2.binds);
    CU_ASSERT_EQUAL(0, m2.n_binds);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);

    /* Minimal spec: cwd and hostname fall back to their defaults. */
    struct sbx_spec min = { .staging = "/s", .argv = argv, .argc = 1, .mode = SBX_MODE_OFF };
    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_encode(&min, &b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_spec_decode(&f, &m2));
    CU_ASSERT_STRING_EQUAL("/", m2.cwd);
    CU_ASSERT_STRING_EQUAL("sandbox", m2.hostname);
    CU_ASSERT_EQUAL(1, m2.argc);
    CU_ASSERT_PTR_NULL(m2.argv[1]);
    CU_ASSERT_PTR_NULL(m2.groups);
    CU_ASSERT_PTR_NULL(m2.binds);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m2.masked);
    CU_ASSERT_PTR_NULL(m2.masked[0]);
    sbx_spec_free(&m2);
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

/* ---- Typed messages: rejections ----------------------------------------- */

/* Decodes a hand-made RUN payload and checks that the result is -EBADMSG. */
static void expect_run_rejected(const uint8_t *p, size_t n)
{
    struct sbx_frame f;
    struct sbx_msg_run m;
    memset(&m, 0xa5, sizeof(m));
    frame_raw(SBX_MSG_RUN, p, n, &f);
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_run_decode(&f, &m));
    /* Failed decoders leave *ret alone. */
    CU_ASSERT_EQUAL(0xa5a5a5a5u, m.argc);
    sbx_frame_clear(&f);
}

static size_t run_prefix(uint8_t *p)
{
    const uint8_t zero[4] = { 0 };
    size_t n = 0;
    n += raw_field(p + n, 1, SBX_FIELD_STR, 0, 7, "/bin/sh", 7);
    n += raw_field(p + n, 6, SBX_FIELD_U32, 0, 4, zero, 4);
    n += raw_field(p + n, 7, SBX_FIELD_U32, 0, 4, zero, 4);
    return n;
}

static void test_reject_fields(void)
{
    uint8_t p[256];
    const uint8_t zero[8] = { 0 };
    size_t n;
    struct sbx_frame f;
    struct sbx_msg_run m;

    /* The well-formed base decodes. */
    n = run_prefix(p);
    frame_raw(SBX_MSG_RUN, p, n, &f);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_decode(&f, &m));
    CU_ASSERT_EQUAL(1, m.argc);
    sbx_msg_run_free(&m);
    sbx_frame_clear(&f);

    /* Unknown tag. */
    n = run_prefix(p);
    n += raw_field(p + n, 99, SBX_FIELD_U32, 0, 4, zero, 4);
    expect_run_rejected(p, n);
    /* Known tag, wrong type (mode as U64, policy_name as BYTES). */
    n = run_prefix(p);
    n += raw_field(p + n, 3, SBX_FIELD_BYTES, 0, 1, "x", 1);
    expect_run_rejected(p, n);
    n = raw_field(p, 1, SBX_FIELD_STR, 0, 1, "x", 1);
    n += raw_field(p + n, 6, SBX_FIELD_U64, 0, 8, zero, 8);
    n += raw_field(p + n, 7, SBX_FIELD_U32, 0, 4, zero, 4);
    expect_run_rejected(p, n);
    /* Duplicate singleton: policy_file twice. */
    n = run_prefix(p);
    n += raw_field(p + n, 5, SBX_FIELD_STR, 0, 1, "a", 1);
    n += raw_field(p + n, 5, SBX_FIELD_STR, 0, 1, "b", 1);
    expect_run_rejected(p, n);
    /* Missing required field: no flags. */
    n = raw_field(p, 1, SBX_FIELD_STR, 0, 1, "x", 1);
    n += raw_field(p + n, 6, SBX_FIELD_U32, 0, 4, zero, 4);
    expect_run_rejected(p, n);
    /* No argv at all: a built image's own command, an empty but terminated argv. */
    n = raw_field(p, 6, SBX_FIELD_U32, 0, 4, zero, 4);
    n += raw_field(p + n, 7, SBX_FIELD_U32, 0, 4, zero, 4);
    {
        struct sbx_frame ef;
        struct sbx_msg_run em;
        frame_raw(SBX_MSG_RUN, p, n, &ef);
        CU_ASSERT_EQUAL(0, sbx_msg_run_decode(&ef, &em));
        CU_ASSERT_EQUAL(0, em.argc);
        CU_ASSERT_PTR_NOT_NULL(em.argv);
        CU_ASSERT_PTR_NULL(em.argv ? em.argv[0] : NULL);
        sbx_msg_run_free(&em);
        sbx_frame_clear(&ef);
    }
    /* NUL inside an env string. */
    n = run_prefix(p);
    n += raw_field(p + n, 2, SBX_FIELD_STR, 0, 5, "A=\0=B", 5);
    expect_run_rejected(p, n);
    /* NUL inside an option; an option as U32. */
    n = run_prefix(p);
    n += raw_field(p + n, 8, SBX_FIELD_STR, 0, 6, "pids\0=", 6);
    expect_run_rejected(p, n);
    n = run_prefix(p);
    n += raw_field(p + n, 8, SBX_FIELD_U32, 0, 4, zero, 4);
    expect_run_rejected(p, n);
    /* Both policy name and text. */
    n = run_prefix(p);
    n += raw_field(p + n, 3, SBX_FIELD_STR, 0, 1, "a", 1);
    n += raw_field(p + n, 4, SBX_FIELD_STR, 0, 1, "b", 1);
    expect_run_rejected(p, n);
    /* Trailing bytes after the last field. */
    n = run_prefix(p);
    p[n++] = 0;
    expect_run_rejected(p, n);
    /* Truncated last field. */
    n = run_prefix(p);
    expect_run_rejected(p, n - 1);
    /* Unknown RUN flag, unknown mode. */
    n = raw_field(p, 1, SBX_FIELD_STR, 0, 1, "x", 1);
    n += raw_field(p + n, 6, SBX_FIELD_U32, 0, 4, zero, 4);
    n += raw_field(p + n, 7, SBX_FIELD_U32, 0, 4, "\20\0\0\0", 4);
    expect_run_rejected(p, n);
    /* A name without the detach flag. */
    n = run_prefix(p);
    n += raw_field(p + n, 9, SBX_FIELD_STR, 0, 3, "web", 3);
    expect_run_rejected(p, n);
    n = raw_field(p, 1, SBX_FIELD_STR, 0, 1, "x", 1);
    n += raw_field(p + n, 6, SBX_FIELD_U32, 0, 4, "\3\0\0\0", 4);
    n += raw_field(p + n, 7, SBX_FIELD_U32, 0, 4, zero, 4);
    expect_run_rejected(p, n);

    /* A valid RUN payload inside a frame of another type. */
    n = run_prefix(p);
    frame_raw(SBX_MSG_SPEC, p, n, &f);
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_run_decode(&f, &m));
    sbx_frame_clear(&f);

    /* Encoders refuse what decoders would reject. */
    struct sbx_buf b = { 0 };
    char *argv[] = { "/bin/true", NULL };
    struct sbx_msg_run bad = { .argv = argv, .argc = 1 };
    bad.policy_name = "a";
    bad.policy_text = "b";
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_run_encode(&bad, &b));
    bad.policy_text = NULL;
    bad.argc = 2; /* argv[1] is NULL */
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_run_encode(&bad, &b));
    CU_ASSERT_PTR_NULL(b.data);
}

static void test_reject_frame_type(void)
{
    struct sbx_buf b;
    struct sbx_frame f;
    struct sbx_msg_hello hi = { .min_version = 1, .max_version = 1 };
    struct sbx_msg_welcome w;
    struct sbx_msg_error e;
    struct sbx_msg_report r;
    struct sbx_msg_signal s;

    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_hello_encode(&hi, &b));
    frame_from_buf(&b, &f);
    /* Same tags and types as WELCOME/ERROR/REPORT, but the frame type decides. */
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_welcome_decode(&f, &w));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_error_decode(&f, &e));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_report_decode(&f, &r));
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_signal_decode(&f, &s));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

static void test_reject_too_many_args(void)
{
    struct sbx_buf b;
    struct sbx_frame f;
    struct sbx_msg_run m;

    for (unsigned count = SBX_PROTO_MAX_ARGS; count <= SBX_PROTO_MAX_ARGS + 1; count++) {
        sbx_proto_begin(&b, SBX_MSG_RUN);
        for (unsigned i = 0; i < count; i++)
            sbx_proto_put_str(&b, 1, "a");
        sbx_proto_put_u32(&b, 6, SBX_RUN_MODE_DEFAULT);
        sbx_proto_put_u32(&b, 7, 0);
        CU_ASSERT_EQUAL_FATAL(0, sbx_proto_finish(&b));
        frame_from_buf(&b, &f);
        if (count == SBX_PROTO_MAX_ARGS) {
            CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_decode(&f, &m));
            CU_ASSERT_EQUAL(count, m.argc);
            CU_ASSERT_PTR_NULL(m.argv[count]);
            sbx_msg_run_free(&m);
        } else {
            CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_run_decode(&f, &m));
        }
        sbx_frame_clear(&f);
        sbx_buf_free(&b);
    }

    /* The limit holds for env too, and the encoder knows it. */
    char **env = calloc(SBX_PROTO_MAX_ARGS + 2, sizeof(char *));
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    for (unsigned i = 0; i <= SBX_PROTO_MAX_ARGS; i++)
        env[i] = "A=1";
    char *argv[] = { "/x", NULL };
    struct sbx_msg_run run = {
        .argv = argv, .argc = 1, .env = env, .envc = SBX_PROTO_MAX_ARGS + 1
    };
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_run_encode(&run, &b));
    free(env);
}

/* SPEC items (binds, tmpfs, rlimits) have fixed layouts; the decoder checks them exactly. */
static void test_reject_spec_items(void)
{
    char *argv[] = { "/x", NULL };
    struct sbx_buf b;
    struct sbx_frame f;
    struct sbx_spec s;
    /* A bind item: flags, target length 2, "/d". */
    const uint8_t bind_ok[] = { 1, 0, 0, 0, 2, 0, 0, 0, '/', 'd' };
    const uint8_t bind_long[] = { 1, 0, 0, 0, 2, 0, 0, 0, '/', 'd', 0 };
    const uint8_t bind_short[] = { 1, 0, 0, 0, 3, 0, 0, 0, '/', 'd' };
    const uint8_t bind_nul[] = { 1, 0, 0, 0, 2, 0, 0, 0, '/', 0 };
    const uint8_t bind_flag[] = { 3, 0, 0, 0, 2, 0, 0, 0, '/', 'd' };
    const uint8_t rlimit_short[19] = { 0 };
    struct {
        uint16_t tag;
        const uint8_t *p;
        size_t n;
        int expect;
    } cases[] = {
        { 14, bind_ok, sizeof(bind_ok), 0 },
        { 14, bind_long, sizeof(bind_long), -EBADMSG },
        { 14, bind_short, sizeof(bind_short), -EBADMSG },
        { 14, bind_nul, sizeof(bind_nul), -EBADMSG },
        { 14, bind_flag, sizeof(bind_flag), -EBADMSG },
        { 14, bind_ok, 3, -EBADMSG },
        { 15, bind_ok, sizeof(bind_ok), -EBADMSG }, /* 10 bytes cannot be a tmpfs item */
        { 17, rlimit_short, sizeof(rlimit_short), -EBADMSG },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbx_spec base = { .staging = "/s", .argv = argv, .argc = 1 };
        /* Encode a valid spec, then append the hand-made item. */
        CU_ASSERT_EQUAL_FATAL(0, sbx_spec_encode(&base, &b));
        sbx_proto_put_bytes(&b, cases[i].tag, cases[i].p, cases[i].n);
        CU_ASSERT_EQUAL_FATAL(0, sbx_proto_finish(&b));
        frame_from_buf(&b, &f);
        int r = sbx_spec_decode(&f, &s);
        CU_ASSERT_EQUAL(cases[i].expect, r);
        if (r == 0) {
            CU_ASSERT_EQUAL(1, s.n_binds);
            CU_ASSERT_STRING_EQUAL("/d", s.binds[0].target);
            CU_ASSERT_EQUAL(SBX_BIND_READONLY, s.binds[0].flags);
            sbx_spec_free(&s);
        }
        sbx_frame_clear(&f);
        sbx_buf_free(&b);
    }

    /* EXIT stats entries are exactly 20 bytes; the kind must be known. */
    struct sbx_msg_exit e = { .kind = SBX_EXIT_EXITED }, e2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_exit_encode(&e, &b));
    sbx_proto_put_bytes(&b, 4, rlimit_short, sizeof(rlimit_short));
    CU_ASSERT_EQUAL_FATAL(0, sbx_proto_finish(&b));
    frame_from_buf(&b, &f);
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_exit_decode(&f, &e2));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
    e.kind = 0;
    CU_ASSERT_EQUAL(-EINVAL, sbx_msg_exit_encode(&e, &b));
    sbx_proto_begin(&b, SBX_MSG_REPORT);
    sbx_proto_put_u32(&b, 1, 99);
    sbx_proto_put_u32(&b, 2, 0);
    CU_ASSERT_EQUAL_FATAL(0, sbx_proto_finish(&b));
    frame_from_buf(&b, &f);
    struct sbx_msg_report rep;
    CU_ASSERT_EQUAL(-EBADMSG, sbx_msg_report_decode(&f, &rep));
    sbx_frame_clear(&f);
    sbx_buf_free(&b);
}

/* ---- Socket I/O --------------------------------------------------------- */

static void test_fd_passing(void)
{
    int sv[2];
    make_pair(sv);
    int pipefd[2];
    CU_ASSERT_EQUAL_FATAL(0, pipe2(pipefd, O_CLOEXEC));
    int fds[3] = { open("/dev/null", O_RDONLY | O_CLOEXEC), pipefd[0],
                   open("/proc/self/exe", O_RDONLY | O_CLOEXEC) };
    CU_ASSERT_FATAL(fds[0] >= 0 && fds[2] >= 0);

    struct sbx_buf b;
    signal_buf(15, &b);
    CU_ASSERT_EQUAL(0, sbx_proto_send(sv[0], &b, fds, 3));
    sbx_buf_free(&b);

    struct sbx_frame f;
    CU_ASSERT_EQUAL_FATAL(1, sbx_proto_recv(sv[1], &f));
    CU_ASSERT_EQUAL(SBX_MSG_SIGNAL, f.type);
    CU_ASSERT_EQUAL(15, frame_signo(&f));
    CU_ASSERT_EQUAL_FATAL(3, f.n_fds);
    for (unsigned i = 0; i < 3; i++) {
        CU_ASSERT_NOT_EQUAL(fds[i], f.fds[i]);
        CU_ASSERT_TRUE(same_file(fds[i], f.fds[i]));
        CU_ASSERT_TRUE(is_cloexec(f.fds[i]));
    }
    /* The received pipe end really is the pipe. */
    CU_ASSERT_EQUAL(1, write(pipefd[1], "z", 1));
    char c = 0;
    CU_ASSERT_EQUAL(1, read(f.fds[1], &c, 1));
    CU_ASSERT_EQUAL('z', c);

    sbx_frame_clear(&f);
    CU_ASSERT_EQUAL(0, f.n_fds);
    close(fds[0]);
    close(fds[2]);
    close(pipefd[0]);
    close(pipefd[1]);
    close(sv[0]);
    close(sv[1]);
}

static void test_fds_per_frame(void)
{
    int sv[2];
    make_pair(sv);
    int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int b1 = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    int b2 = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(a >= 0 && b1 >= 0 && b2 >= 0);

    struct sbx_buf b;
    signal_buf(1, &b);
    CU_ASSERT_EQUAL(0, sbx_proto_send(sv[0], &b, &a, 1));
    sbx_buf_free(&b);
    signal_buf(2, &b);
    int two[2] = { b1, b2 };
    CU_ASSERT_EQUAL(0, sbx_proto_send(sv[0], &b, two, 2));
    sbx_buf_free(&b);
    signal_buf(3, &b);
    CU_ASSERT_EQUAL(0, sbx_proto_send(sv[0], &b, NULL, 0));
    sbx_buf_free(&b);
    close(sv[0]);

    /* Both frames are already queued; each recv must take only its own fds. */
    struct sbx_frame f;
    CU_ASSERT_EQUAL_FATAL(1, sbx_proto_recv(sv[1], &f));
    CU_ASSERT_EQUAL(1, frame_signo(&f));
    CU_ASSERT_EQUAL_FATAL(1, f.n_fds);
    CU_ASSERT_TRUE(same_file(a, f.fds[0]));
    sbx_frame_clear(&f);

    CU_ASSERT_EQUAL_FATAL(1, sbx_proto_recv(sv[1], &f));
    CU_ASSERT_EQUAL(2, frame_signo(&f));
    CU_ASSERT_EQUAL_FATAL(2, f.n_fds);
    CU_ASSERT_TRUE(same_file(b1, f.fds[0]));
    CU_ASSERT_TRUE(same_file(b2, f.fds[1]));
    sbx_frame_clear(&f);

    CU_ASSERT_EQUAL_FATAL(1, sbx_proto_recv(sv[1], &f));
    CU_ASSERT_EQUAL(3, frame_signo(&f));
    CU_ASSERT_EQUAL(0, f.n_fds);
    sbx_frame_clear(&f);

    /* Then a clean EOF. */
    CU_ASSERT_EQUAL(0, sbx_proto_recv(sv[1], &f));
    close(sv[1]);
    close(a);
    close(b1);
    close(b2);
}

static void test_recv_too_many_fds(void)
{
    int sv[2];
    make_pair(sv);
    struct sbx_buf b;
    signal_buf(9, &b);

    int fds[SBX_PROTO_MAX_FDS + 1];
    for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CU_ASSERT_EQUAL(-EINVAL, sbx_proto_send(sv[0], &b, fds, SBX_PROTO_MAX_FDS + 1));

    /* Send them by hand, as a hostile peer would. */
    union {
        char buf[CMSG_SPACE(sizeof(fds))];
        struct cmsghdr align;
    } control = { 0 };
    struct iovec iov = { .iov_base = b.data, .iov_len = b.len };
    struct msghdr mh = { .msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    CU_ASSERT_EQUAL((ssize_t)b.len, sendmsg(sv[0], &mh, 0));
    sbx_buf_free(&b);
    for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
        close(fds[i]);

    int before = count_open_fds();
    struct sbx_frame f = { .type = 77 };
    CU_ASSERT_EQUAL(-EMSGSIZE, sbx_proto_recv(sv[1], &f));
    CU_ASSERT_EQUAL(77, f.type);
    /* Every fd that arrived was closed again. */
    CU_ASSERT_EQUAL(before, count_open_fds());
    close(sv[0]);
    close(sv[1]);
}

/*
 * In a child: the fds of a frame arrive while the table is full.  The kernel
 * drops them and sets MSG_CTRUNC; the receiver must say it ran out of
 * descriptors, not that the message was too long.  Exit status 0 on success.
 */
static int recv_out_of_fds(void *arg)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 1;
    struct sbx_buf b;
    signal_buf(9, &b);
    int fds[2] = { open("/dev/null", O_RDONLY | O_CLOEXEC),
                   open("/dev/null", O_RDONLY | O_CLOEXEC) };
    if (sbx_proto_send(sv[0], &b, fds, 2) < 0)
        return 2;
    sbx_buf_free(&b);
    struct rlimit rl = { .rlim_cur = 64, .rlim_max = 64 };
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 3;
    while (fcntl(0, F_DUPFD_CLOEXEC, 0) >= 0)
        ;
    struct sbx_frame f = { 0 };
    int r = sbx_proto_recv(sv[1], &f);
    return r == -EMFILE ? 0 : 10;
}

static void test_recv_out_of_fds(void)
{
    int status = sbx_test_fork(recv_out_of_fds, NULL, 10);
    CU_ASSERT_TRUE(SBX_TEST_EXITED(status, 0));
}

/* The incremental receiver refuses a frame over the caller's limit before allocating it. */
static void test_rx_max_payload(void)
{
    int sv[2];
    make_pair(sv);
    set_nonblock(sv[1]);
    struct sbx_proto_rx rx;
    sbx_proto_rx_init(&rx);
    CU_ASSERT_EQUAL(SBX_PROTO_MAX_PAYLOAD, rx.max_payload);
    struct sbx_buf b;
    signal_buf(2, &b);
    uint32_t len = (uint32_t)(b.len - SBX_PROTO_HEADER_SIZE);
    CU_ASSERT_EQUAL((ssize_t)b.len, write(sv[0], b.data, b.len));
    CU_ASSERT_EQUAL((ssize_t)b.len, write(sv[0], b.data, b.len));
    sbx_buf_free(&b);
    struct sbx_frame f;
    rx.max_payload = len;
    CU_ASSERT_EQUAL(1, sbx_proto_rx_read(&rx, sv[1], &f));
    sbx_frame_clear(&f);
    rx.max_payload = len - 1;
    CU_ASSERT_EQUAL(-EMSGSIZE, sbx_proto_rx_read(&rx, sv[1], &f));
    CU_ASSERT_EQUAL(len, rx.hdr.length);
    CU_ASSERT_PTR_NULL(rx.frame.payload);
    sbx_proto_rx_clear(&rx);
    close(sv[0]);
    close(sv[1]);
}

static void test_recv_errors(void)
{
    int sv[2];
    struct sbx_frame f;
    uint8_t raw[16];
    struct sbx_buf b;

    /* Bad header from the socket. */
    make_pair(sv);
    raw_header(raw, 0x12345678, SBX_PROTO_VERSION, 1, 0, 0);
    CU_ASSERT_EQUAL(16, write(sv[0], raw, 16));
    CU_ASSERT_EQUAL(-EPROTO, sbx_proto_recv(sv[1], &f));
    close(sv[0]);
    close(sv[1]);

    /* EOF inside the header. */
    make_pair(sv);
    signal_buf(1, &b);
    CU_ASSERT_EQUAL(10, write(sv[0], b.data, 10));
    close(sv[0]);
    CU_ASSERT_EQUAL(-ECONNRESET, sbx_proto_recv(sv[1], &f));
    close(sv[1]);

    /* EOF inside the payload. */
    make_pair(sv);
    CU_ASSERT_EQUAL((ssize_t)b.len - 1, write(sv[0], b.data, b.len - 1));
    shutdown(sv[0], SHUT_WR);
    CU_ASSERT_EQUAL(-ECONNRESET, sbx_proto_recv(sv[1], &f));
    close(sv[0]);
    close(sv[1]);

    /* EOF before anything. */
    make_pair(sv);
    close(sv[0]);
    CU_ASSERT_EQUAL(0, sbx_proto_recv(sv[1], &f));
    close(sv[1]);
    sbx_buf_free(&b);
}

/* Feeds a frame to the incremental receiver one byte per call. */
static void rx_feed_bytewise(int tx, int rxsock, struct sbx_proto_rx *rx, const struct sbx_buf *b,
                             int fd, struct sbx_frame *ret)
{
    for (size_t i = 0; i < b->len; i++) {
        if (i == 0 && fd >= 0) {
            union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
            } control = { 0 };
            struct iovec iov = { .iov_base = b->data, .iov_len = 1 };
            struct msghdr mh = { .msg_iov = &iov,
                                 .msg_iovlen = 1,
                                 .msg_control = control.buf,
                                 .msg_controllen = sizeof(control.buf) };
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &fd, sizeof(int));
            CU_ASSERT_EQUAL_FATAL(1, sendmsg(tx, &mh, 0));
        } else {
            CU_ASSERT_EQUAL_FATAL(1, write(tx, b->data + i, 1));
        }
        int r = sbx_proto_rx_read(rx, rxsock, ret);
        CU_ASSERT_EQUAL_FATAL(i + 1 == b->len ? 1 : 0, r);
    }
}

static void test_rx_bytewise(void)
{
    int sv[2];
    make_pair(sv);
    set_nonblock(sv[1]);
    int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(a >= 0 && z >= 0);

    struct sbx_proto_rx rx;
    sbx_proto_rx_init(&rx);
    struct sbx_frame f;
    CU_ASSERT_EQUAL(0, sbx_proto_rx_read(&rx, sv[1], &f));

    char *argv[] = { "/bin/echo", "one byte at a time", NULL };
    struct sbx_msg_run run = { .argv = argv, .argc = 2, .mode = SBX_RUN_MODE_DEFAULT };
    struct sbx_buf b;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_encode(&run, &b));
    rx_feed_bytewise(sv[0], sv[1], &rx, &b, a, &f);
    sbx_buf_free(&b);
    CU_ASSERT_EQUAL(SBX_MSG_RUN, f.type);
    CU_ASSERT_EQUAL_FATAL(1, f.n_fds);
    CU_ASSERT_TRUE(same_file(a, f.fds[0]));
    CU_ASSERT_TRUE(is_cloexec(f.fds[0]));
    struct sbx_msg_run run2;
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_run_decode(&f, &run2));
    CU_ASSERT_STRING_EQUAL("one byte at a time", run2.argv[1]);
    sbx_msg_run_free(&run2);
    sbx_frame_clear(&f);

    /* A second frame with its own fd, and a payload-less one would be the same path. */
    signal_buf(2, &b);
    rx_feed_bytewise(sv[0], sv[1], &rx, &b, z, &f);
    sbx_buf_free(&b);
    CU_ASSERT_EQUAL(2, frame_signo(&f));
    CU_ASSERT_EQUAL_FATAL(1, f.n_fds);
    CU_ASSERT_TRUE(same_file(z, f.fds[0]));
    sbx_frame_clear(&f);

    sbx_proto_rx_clear(&rx);
    close(a);
    close(z);
    close(sv[0]);
    close(sv[1]);
}

static void test_rx_one_frame_per_call(void)
{
    int sv[2];
    make_pair(sv);
    set_nonblock(sv[1]);
    int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int z = open("/dev/zero", O_RDONLY | O_CLOEXEC);

    struct sbx_buf b;
    signal_buf(1, &b);
    CU_ASSERT_EQUAL(0, sbx_proto_send(sv[0], &b, &a, 1));
    sbx_buf_free(&b);
    signal_buf(2, &b);
    CU_ASSERT_EQUAL(0, sbx_proto_send(sv[0], &b, &z, 1));
    sbx_buf_free(&b);

    struct sbx_proto_rx rx;
    struct sbx_frame f;
    sbx_proto_rx_init(&rx);
    CU_ASSERT_EQUAL_FATAL(1, sbx_proto_rx_read(&rx, sv[1], &f));
    CU_ASSERT_EQUAL(1, frame_signo(&f));
    CU_ASSERT_EQUAL_FATAL(1, f.n_fds);
    CU_ASSERT_TRUE(same_file(a, f.fds[0]));
    sbx_frame_clear(&f);
    /* The second frame stayed in the socket until asked for. */
    struct pollfd p = { .fd = sv[1], .events = POLLIN };
    CU_ASSERT_EQUAL(1, poll(&p, 1, 0));
    CU_ASSERT_EQUAL_FATAL(1, sbx_proto_rx_read(&rx, sv[1], &f));
    CU_ASSERT_EQUAL(2, frame_signo(&f));
    CU_ASSERT_EQUAL_FATAL(1, f.n_fds);
    CU_ASSERT_TRUE(same_file(z, f.fds[0]));
    sbx_frame_clear(&f);
    CU_ASSERT_EQUAL(0, sbx_proto_rx_read(&rx, sv[1], &f));

    /* EOF in the middle of a frame. */
    signal_buf(3, &b);
    CU_ASSERT_EQUAL((ssize_t)b.len - 2, write(sv[0], b.data, b.len - 2));
    sbx_buf_free(&b);
    CU_ASSERT_EQUAL(0, sbx_proto_rx_read(&rx, sv[1], &f));
    close(sv[0]);
    CU_ASSERT_EQUAL(-EPIPE, sbx_proto_rx_read(&rx, sv[1], &f));
    sbx_proto_rx_clear(&rx);
    close(sv[1]);

    /* A bad header is reported as soon as its 16 bytes are in. */
    make_pair(sv);
    set_nonblock(sv[1]);
    uint8_t raw[16];
    raw_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION, 1, 0, SBX_PROTO_MAX_PAYLOAD + 1);
    CU_ASSERT_EQUAL(16, write(sv[0], raw, 16));
    sbx_proto_rx_init(&rx);
    CU_ASSERT_EQUAL(-EMSGSIZE, sbx_proto_rx_read(&rx, sv[1], &f));
    sbx_proto_rx_clear(&rx);
    /* Clean EOF is -EPIPE too. */
    close(sv[0]);
    sbx_proto_rx_init(&rx);
    CU_ASSERT_EQUAL(-EPIPE, sbx_proto_rx_read(&rx, sv[1], &f));
    sbx_proto_rx_clear(&rx);
    close(sv[1]);
    close(a);
    close(z);
}

/*
 * A frame larger than the socket buffer, sent from a child through a
 * non-blocking socket so that sendmsg() writes it in parts (fds only on the
 * first one).  Received once with the blocking reader, once with rx.
 */
static const size_t big_size = 900 * 1024;

static int send_big(int sock)
{
    uint8_t *blob = malloc(big_size);
    if (!blob)
        return 2;
    for (size_t i = 0; i < big_size; i++)
        blob[i] = (uint8_t)(i * 7);
    struct sbx_buf b;
    sbx_proto_begin(&b, 200);
    sbx_proto_put_bytes(&b, 1, blob, big_size);
    free(blob);
    if (sbx_proto_finish(&b) < 0)
        return 3;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fcntl(sock, F_SETFL, O_NONBLOCK) < 0)
        return 4;
    int r = sbx_proto_send(sock, &b, &fd, 1);
    sbx_buf_free(&b);
    return r < 0 ? 5 : 0;
}

static void check_big(const struct sbx_frame *f)
{
    struct sbx_reader r;
    struct sbx_field fl;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CU_ASSERT_EQUAL(200, f->type);
    CU_ASSERT_EQUAL_FATAL(1, f->n_fds);
    CU_ASSERT_TRUE(same_file(null, f->fds[0]));
    close(null);
    sbx_reader_init(&r, f);
    CU_ASSERT_EQUAL_FATAL(1, sbx_reader_next(&r, &fl));
    CU_ASSERT_EQUAL_FATAL(big_size, fl.length);
    bool ok = true;
    for (size_t i = 0; i < big_size; i++)
        ok = ok && fl.data[i] == (uint8_t)(i * 7);
    CU_ASSERT_TRUE(ok);
    CU_ASSERT_EQUAL(0, sbx_reader_next(&r, &fl));
}

static void test_big_frame(void)
{
    for (int use_rx = 0; use_rx <= 1; use_rx++) {
        int sv[2];
        make_pair(sv);
        fflush(NULL);
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            alarm(30);
            close(sv[1]);
            _exit(send_big(sv[0]));
        }
        close(sv[0]);

        struct sbx_frame f;
        if (!use_rx) {
            CU_ASSERT_EQUAL_FATAL(1, sbx_proto_recv(sv[1], &f));
        } else {
            struct sbx_proto_rx rx;
            int r;
            set_nonblock(sv[1]);
            sbx_proto_rx_init(&rx);
            while ((r = sbx_proto_rx_read(&rx, sv[1], &f)) == 0) {
                struct pollfd p = { .fd = sv[1], .events = POLLIN };
                poll(&p, 1, 10000);
            }
            CU_ASSERT_EQUAL_FATAL(1, r);
            sbx_proto_rx_clear(&rx);
        }
        check_big(&f);
        sbx_frame_clear(&f);

        int status;
        CU_ASSERT_EQUAL(pid, waitpid(pid, &status, 0));
        CU_ASSERT_TRUE(SBX_TEST_EXITED(status, 0));
        close(sv[1]);
    }
}

static void test_send_error(void)
{
    int sv[2];
    make_pair(sv);
    struct sbx_frame f;
    struct sbx_msg_error e;

    CU_ASSERT_EQUAL(0,
                    sbx_proto_send_error(sv[0], -EACCES, "uid %u may not run '%s'", 1000u, "web"));
    CU_ASSERT_EQUAL_FATAL(1, sbx_proto_recv(sv[1], &f));
    CU_ASSERT_EQUAL(SBX_MSG_ERROR, f.type);
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_error_decode(&f, &e));
    CU_ASSERT_EQUAL(EACCES, e.err);
    CU_ASSERT_STRING_EQUAL("uid 1000 may not run 'web'", e.message);
    sbx_msg_error_free(&e);
    sbx_frame_clear(&f);

    /* A huge message is cut to a sane size, not refused. */
    _cleanup_free_ char *big = malloc(200000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'q', 199999);
    big[199999] = '\0';
    CU_ASSERT_EQUAL(0, sbx_proto_send_error(sv[0], EIO, "%s", big));
    CU_ASSERT_EQUAL_FATAL(1, sbx_proto_recv(sv[1], &f));
    CU_ASSERT_EQUAL_FATAL(0, sbx_msg_error_decode(&f, &e));
    CU_ASSERT_EQUAL(EIO, e.err);
    CU_ASSERT_TRUE(strlen(e.message) > 0 && strlen(e.message) < 4096);
    sbx_msg_error_free(&e);
    sbx_frame_clear(&f);

    /* A closed peer gives an error, not SIGPIPE. */
    close(sv[1]);
    CU_ASSERT_EQUAL(-EPIPE, sbx_proto_send_error(sv[0], EIO, "gone"));
    close(sv[0]);
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_header_roundtrip),
        SBX_TEST(test_header_rejects),
        SBX_TEST(test_builder_limits),
        SBX_TEST(test_reader_fields),
        SBX_TEST(test_reader_rejects),
        SBX_TEST(test_roundtrip_handshake),
        SBX_TEST(test_roundtrip_run),
        SBX_TEST(test_roundtrip_small),
        SBX_TEST(test_roundtrip_exit),
        SBX_TEST(test_roundtrip_spec),
        SBX_TEST(test_reject_fields),
        SBX_TEST(test_reject_frame_type),
        SBX_TEST(test_reject_too_many_args),
        SBX_TEST(test_reject_spec_items),
        SBX_TEST(test_fd_passing),
        SBX_TEST(test_fds_per_frame),
        SBX_TEST(test_recv_too_many_fds),
        SBX_TEST(test_recv_out_of_fds),
        SBX_TEST(test_rx_max_payload),
        SBX_TEST(test_recv_errors),
        SBX_TEST(test_rx_bytewise),
        SBX_TEST(test_rx_one_frame_per_call),
        SBX_TEST(test_big_frame),
        SBX_TEST(test_send_error),
    };
    return sbx_test_main("proto", tests, ARRAY_SIZE(tests));
}
