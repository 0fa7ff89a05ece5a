/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * badframes: sends malformed frames to a running sandboxd, one connection
 * each, and checks that the daemon answers with an ERROR frame, closes that
 * connection, and keeps serving well-formed clients.
 * Usage: badframes SOCKET    (exit 0 when every case passed)
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/proto.h"
#include "sbx/macro.h"

#define CASE_TIMEOUT_S 20

static const char *socket_path;
static const char *current_case = "setup";
static int failures;

static void on_alarm(int sig)
{
    static const char msg[] = "FAIL: no answer from sandboxd within the time limit in case: ";
    ssize_t n _unused_ = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
    n = write(STDOUT_FILENO, current_case, strlen(current_case));
    n = write(STDOUT_FILENO, "\n", 1);
    _exit(1);
}

static int connect_daemon(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        printf("FAIL %s: connect %s: %s\n", current_case, socket_path, strerror(errno));
        sbx_close(fd);
        return -1;
    }
    return fd;
}

static bool send_raw(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            printf("FAIL %s: send: %s\n", current_case, strerror(errno));
            return false;
        }
        b += k;
        n -= (size_t)k;
    }
    return true;
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void make_header(uint8_t raw[SBX_PROTO_HEADER_SIZE], uint32_t magic, uint16_t version,
                        uint16_t type, uint32_t flags, uint32_t length)
{
    put_le32(raw, magic);
    put_le16(raw + 4, version);
    put_le16(raw + 6, type);
    put_le32(raw + 8, flags);
    put_le32(raw + 12, length);
}

static bool send_hello(int fd)
{
    struct sbx_msg_hello h = { .min_version = SBX_PROTO_VERSION,
                               .max_version = SBX_PROTO_VERSION,
                               .client = "badframes" };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_hello_encode(&h, &b);
    if (r >= 0)
        r = sbx_proto_send(fd, &b, NULL, 0);
    sbx_buf_free(&b);
    if (r < 0)
        printf("FAIL %s: sending HELLO: %s\n", current_case, strerror(-r));
    return r >= 0;
}

/* Reads one frame and expects WELCOME. */
static bool expect_welcome(int fd)
{
    struct sbx_frame f = { 0 };
    int r = sbx_proto_recv(fd, &f);
    if (r <= 0) {
        printf("FAIL %s: expected WELCOME, got %s\n", current_case,
               r == 0 ? "end of file" : strerror(-r));
        return false;
    }
    struct sbx_msg_welcome w;
    bool ok = f.type == SBX_MSG_WELCOME && sbx_msg_welcome_decode(&f, &w) >= 0;
    if (ok) {
        ok = w.version == SBX_PROTO_VERSION;
        if (!ok)
            printf("FAIL %s: WELCOME speaks version %u\n", current_case, w.version);
        sbx_msg_welcome_free(&w);
    } else {
        printf("FAIL %s: expected a valid WELCOME, got frame type %u\n", current_case, f.type);
    }
    sbx_frame_clear(&f);
    return ok;
}

/*
 * Reads an ERROR frame carrying want_err (0: any errno), then end of file.
 * With error_optional, plain end of file is accepted too.
 */
static bool expect_error_then_eof(int fd, uint32_t want_err, bool error_optional)
{
    struct sbx_frame f = { 0 };
    int r = sbx_proto_recv(fd, &f);
    if (r == 0 && error_optional)
        return true;
    if (r <= 0) {
        printf("FAIL %s: expected an ERROR frame, got %s\n", current_case,
               r == 0 ? "end of file" : strerror(-r));
        return false;
    }
    struct sbx_msg_error e;
    if (f.type != SBX_MSG_ERROR || sbx_msg_error_decode(&f, &e) < 0) {
        printf("FAIL %s: expected a valid ERROR frame, got frame type %u\n", current_case, f.type);
        sbx_frame_clear(&f);
        return false;
    }
    sbx_frame_clear(&f);
    bool ok = true;
    if (e.err == 0 || (want_err && e.err != want_err)) {
        printf("FAIL %s: ERROR carries errno %u (%s), expected %s\n", current_case, e.err,
               strerrorname_np((int)e.err) ?: "?",
               want_err ? strerrorname_np((int)want_err) : "a non-zero errno");
        ok = false;
    }
    if (!e.message || !e.message[0]) {
        printf("FAIL %s: ERROR frame without a message\n", current_case);
        ok = false;
    }
    printf("# %s: ERROR %s: %s\n", current_case, strerrorname_np((int)e.err) ?: "?",
           e.message ? e.message : "");
    sbx_msg_error_free(&e);

    r = sbx_proto_recv(fd, &f);
    if (r != 0) {
        printf("FAIL %s: expected end of file after ERROR, got %s\n", current_case,
               r > 0 ? "another frame" : strerror(-r));
        sbx_frame_clear(&f);
        ok = false;
    }
    return ok;
}

/* ---- The cases: each sends its bytes on a fresh connection ---------------- */

static bool case_truncated_header(int fd)
{
    uint8_t raw[SBX_PROTO_HEADER_SIZE];
    make_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION, SBX_MSG_HELLO, 0, 24);
    if (!send_raw(fd, raw, 7))
        return false;
    shutdown(fd, SHUT_WR);
    /* The client has gone: an ERROR is polite but not required, the close is. */
    return expect_error_then_eof(fd, 0, true);
}

static bool case_truncated_payload(int fd)
{
    struct sbx_msg_hello h = { .min_version = 1, .max_version = 1, .client = "badframes" };
    struct sbx_buf b = { 0 };
    if (sbx_msg_hello_encode(&h, &b) < 0)
        return false;
    bool ok = send_raw(fd, b.data, b.len - 3);
    sbx_buf_free(&b);
    shutdown(fd, SHUT_WR);
    return ok && expect_error_then_eof(fd, 0, true);
}

static bool case_oversized_length(int fd)
{
    uint8_t raw[SBX_PROTO_HEADER_SIZE];
    make_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION, SBX_MSG_HELLO, 0,
                SBX_PROTO_MAX_PAYLOAD + 1);
    return send_raw(fd, raw, sizeof(raw)) && expect_error_then_eof(fd, EMSGSIZE, false);
}

static bool case_huge_length(int fd)
{
    uint8_t raw[SBX_PROTO_HEADER_SIZE];
    make_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION, SBX_MSG_HELLO, 0, 0xffffffffu);
    return send_raw(fd, raw, sizeof(raw)) && expect_error_then_eof(fd, EMSGSIZE, false);
}

static bool case_bad_magic(int fd)
{
    uint8_t raw[SBX_PROTO_HEADER_SIZE];
    make_header(raw, 0x474e4950u /* "PING" */, SBX_PROTO_VERSION, SBX_MSG_HELLO, 0, 0);
    return send_raw(fd, raw, sizeof(raw)) && expect_error_then_eof(fd, EPROTO, false);
}

static bool case_wrong_version(int fd)
{
    uint8_t raw[SBX_PROTO_HEADER_SIZE];
    make_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION + 1, SBX_MSG_HELLO, 0, 0);
    return send_raw(fd, raw, sizeof(raw)) && expect_error_then_eof(fd, EPROTONOSUPPORT, false);
}

static bool case_nonzero_flags(int fd)
{
    uint8_t raw[SBX_PROTO_HEADER_SIZE];
    make_header(raw, SBX_PROTO_MAGIC, SBX_PROTO_VERSION, SBX_MSG_HELLO, 1, 0);
    return send_raw(fd, raw, sizeof(raw)) && expect_error_then_eof(fd, EPROTO, false);
}

/* A well-formed HELLO followed by an extra field with an unknown tag. */
static bool case_hello_unknown_field(int fd)
{
    struct sbx_buf b;
    sbx_proto_begin(&b, SBX_MSG_HELLO);
    sbx_proto_put_u32(&b, 1, SBX_PROTO_VERSION);
    sbx_proto_put_u32(&b, 2, SBX_PROTO_VERSION);
    sbx_proto_put_u32(&b, 0x7777, 42);
    bool ok = sbx_proto_finish(&b) >= 0 && send_raw(fd, b.data, b.len);
    sbx_buf_free(&b);
    return ok && expect_error_then_eof(fd, 0, false);
}

/* A well-formed HELLO with three garbage bytes after its last field, inside the length. */
static bool case_hello_trailing_bytes(int fd)
{
    struct sbx_msg_hello h = { .min_version = 1, .max_version = 1, .client = "badframes" };
    struct sbx_buf b = { 0 };
    if (sbx_msg_hello_encode(&h, &b) < 0)
        return false;
    uint8_t *p = realloc(b.data, b.len + 3);
    if (!p) {
        sbx_buf_free(&b);
        return false;
    }
    b.data = p;
    memcpy(b.data + b.len, "\x01\x02\x03", 3);
    b.len += 3;
    put_le32(b.data + 12, (uint32_t)(b.len - SBX_PROTO_HEADER_SIZE));
    bool ok = send_raw(fd, b.data, b.len);
    sbx_buf_free(&b);
    return ok && expect_error_then_eof(fd, 0, false);
}

static bool case_hello_missing_field(int fd)
{
    struct sbx_buf b;
    sbx_proto_begin(&b, SBX_MSG_HELLO);
    sbx_proto_put_u32(&b, 1, SBX_PROTO_VERSION);
    bool ok = sbx_proto_finish(&b) >= 0 && send_raw(fd, b.data, b.len);
    sbx_buf_free(&b);
    return ok && expect_error_then_eof(fd, 0, false);
}

static bool case_hello_unsupported_range(int fd)
{
    struct sbx_msg_hello h = { .min_version = SBX_PROTO_VERSION + 1,
                               .max_version = SBX_PROTO_VERSION + 5 };
    struct sbx_buf b = { 0 };
    bool ok = sbx_msg_hello_encode(&h, &b) >= 0 && send_raw(fd, b.data, b.len);
    sbx_buf_free(&b);
    return ok && expect_error_then_eof(fd, EPROTONOSUPPORT, false);
}

static bool case_unknown_type_first(int fd)
{
    struct sbx_buf b;
    sbx_proto_begin(&b, 999);
    sbx_proto_put_u32(&b, 1, 1);
    bool ok = sbx_proto_finish(&b) >= 0 && send_raw(fd, b.data, b.len);
    sbx_buf_free(&b);
    return ok && expect_error_then_eof(fd, EPROTO, false);
}

static bool case_unknown_type_after_hello(int fd)
{
    if (!send_hello(fd) || !expect_welcome(fd))
        return false;
    struct sbx_buf b;
    sbx_proto_begin(&b, 999);
    bool ok = sbx_proto_finish(&b) >= 0 && send_raw(fd, b.data, b.len);
    sbx_buf_free(&b);
    return ok && expect_error_then_eof(fd, EPROTO, false);
}

static bool case_second_hello(int fd)
{
    return send_hello(fd) && expect_welcome(fd) && send_hello(fd) &&
           expect_error_then_eof(fd, EPROTO, false);
}

static bool send_run(int fd)
{
    char *argv[] = { "/bin/true", NULL };
    char *env[] = { NULL };
    struct sbx_msg_run m = {
        .argv = argv, .argc = 1, .env = env, .envc = 0, .mode = SBX_RUN_MODE_DEFAULT
    };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_run_encode(&m, &b);
    bool ok = r >= 0 && send_raw(fd, b.data, b.len);
    if (r < 0)
        printf("FAIL %s: encoding RUN: %s\n", current_case, strerror(-r));
    sbx_buf_free(&b);
    return ok;
}

static bool case_run_before_hello(int fd)
{
    return send_run(fd) && expect_error_then_eof(fd, EPROTO, false);
}

static bool case_run_without_fds(int fd)
{
    return send_hello(fd) && expect_welcome(fd) && send_run(fd) &&
           expect_error_then_eof(fd, 0, false);
}

static bool case_signal_before_run(int fd)
{
    struct sbx_msg_signal s = { .signo = SIGTERM };
    struct sbx_buf b = { 0 };
    bool ok = send_hello(fd) && expect_welcome(fd) && sbx_msg_signal_encode(&s, &b) >= 0 &&
              send_raw(fd, b.data, b.len);
    sbx_buf_free(&b);
    return ok && expect_error_then_eof(fd, EPROTO, false);
}

/* A HELLO that brings 16 fds: refused, and the daemon never holds them. */
static bool case_hello_with_fds(int fd)
{
    struct sbx_msg_hello h = { .min_version = SBX_PROTO_VERSION,
                               .max_version = SBX_PROTO_VERSION,
                               .client = "badframes" };
    int fds[SBX_PROTO_MAX_FDS];
    for (unsigned i = 0; i < SBX_PROTO_MAX_FDS; i++)
        fds[i] = STDERR_FILENO;
    struct sbx_buf b = { 0 };
    int r = sbx_msg_hello_encode(&h, &b);
    if (r >= 0)
        r = sbx_proto_send(fd, &b, fds, SBX_PROTO_MAX_FDS);
    sbx_buf_free(&b);
    if (r < 0) {
        printf("FAIL %s: sending HELLO: %s\n", current_case, strerror(-r));
        return false;
    }
    return expect_error_then_eof(fd, EBADMSG, false);
}

static const struct {
    const char *name;
    bool (*fn)(int fd);
} cases[] = {
    { "truncated header then close", case_truncated_header },
    { "truncated payload then close", case_truncated_payload },
    { "length over the payload limit", case_oversized_length },
    { "length 0xffffffff", case_huge_length },
    { "bad magic", case_bad_magic },
    { "wrong version in header", case_wrong_version },
    { "non-zero header flags", case_nonzero_flags },
    { "HELLO with an unknown field", case_hello_unknown_field },
    { "HELLO with trailing bytes", case_hello_trailing_bytes },
    { "HELLO without max_version", case_hello_missing_field },
    { "HELLO with an unsupported version range", case_hello_unsupported_range },
    { "unknown frame type as first frame", case_unknown_type_first },
    { "unknown frame type after HELLO", case_unknown_type_after_hello },
    { "second HELLO", case_second_hello },
    { "RUN before HELLO", case_run_before_hello },
    { "RUN without fds", case_run_without_fds },
    { "SIGNAL before RUN", case_signal_before_run },
    { "HELLO carrying fds", case_hello_with_fds },
};

/* A fresh, well-formed connection still gets its WELCOME. */
static bool daemon_serves(void)
{
    int fd = connect_daemon();
    if (fd < 0)
        return false;
    bool ok = send_hello(fd) && expect_welcome(fd);
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "Usage: badframes SOCKET\n");
        return 2;
    }
    socket_path = argv[1];
    signal(SIGALRM, on_alarm);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* A client that stops in the middle of a header must not hold up anybody else. */
    current_case = "stalled client";
    alarm(CASE_TIMEOUT_S);
    int stalled = connect_daemon();
    if (stalled < 0 || !send_raw(stalled, "SBX", 3))
        return 1;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        current_case = cases[i].name;
        alarm(CASE_TIMEOUT_S);
        int fd = connect_daemon();
        bool ok = fd >= 0 && cases[i].fn(fd);
        sbx_close(fd);
        if (ok && !daemon_serves()) {
            printf("FAIL %s: sandboxd stopped serving after this case\n", current_case);
            ok = false;
        }
        alarm(0);
        printf("%s %s\n", ok ? "PASS" : "FAIL", current_case);
        failures += !ok;
    }
    close(stalled);
    printf("%d of %zu cases failed\n", failures, ARRAY_SIZE(cases));
    return failures ? 1 : 0;
}
