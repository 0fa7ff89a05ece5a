/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the protocol's socket I/O (proto/): descriptors passed
 * with frames and their limits, the incremental reader, big frames and
 * error reports.
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
        SBX_TEST(test_fd_passing),        SBX_TEST(test_fds_per_frame),
        SBX_TEST(test_recv_too_many_fds), SBX_TEST(test_recv_out_of_fds),
        SBX_TEST(test_rx_max_payload),    SBX_TEST(test_recv_errors),
        SBX_TEST(test_rx_bytewise),       SBX_TEST(test_rx_one_frame_per_call),
        SBX_TEST(test_big_frame),         SBX_TEST(test_send_error),
    };
    return sbx_test_main("proto-io", tests, ARRAY_SIZE(tests));
}
