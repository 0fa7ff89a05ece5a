/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * flood: a hostile or careless client of sandboxd, for the flood suite
 * (run-flood.sh).  It speaks the protocol directly, so it can do what
 * sandboxctl never does: hold connections without a word, stop in the middle
 * of a frame, half-close after RUN, send thousands of SIGNAL frames, or never
 * answer OPEN.  Each mode prints what it saw on stdout, one "key=value" line
 * per finding, and exits 0 when the daemon behaved as the mode expects.
 *
 *   flood idle SOCKET N SECONDS        N idle connections, held SECONDS (or until killed)
 *   flood partial SOCKET N SECONDS [hello]
 *                                      N connections, each sends all but the
 *                                      last byte of a 1 MiB frame (the first
 *                                      frame, or a RUN after HELLO), then waits
 *                                      up to SECONDS for the daemon to close
 *                                      every one of them
 *   flood halfclose SOCKET IMAGE       RUN "sleep 1; exit 3", then shutdown(SHUT_WR);
 *                                      expects EXIT with status 3
 *   flood signals SOCKET IMAGE N       RUN "sleep 30", then N SIGNAL frames
 *   flood hello SOCKET                 one handshake; exit 0 on WELCOME
 *   flood stall-open SOCKET IMAGE DIR SECONDS
 *                                      RUN with a policy binding DIR, then no
 *                                      answer to OPEN; expects ERROR and close
 *                                      within SECONDS
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"
#include "sbx/macro.h"

#define BIG_FRAME (1u << 20)

static const char *socket_path;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A connected socket, or -errno.  Non-blocking connect: a daemon that stops
 * accepting fills its backlog, and a blocking connect would then hang.
 */
static int connect_daemon(double deadline)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            return fd;
        }
        int err = errno;
        close(fd);
        if (err != EAGAIN || now_s() >= deadline)
            return -err;
        usleep(10000);
    }
}

/* Waits up to ms for fd to become readable (or hung up); false on timeout. */
static bool wait_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r;
    do
        r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    return r > 0;
}

static int send_buf(int fd, struct sbx_buf *b, const int *fds, unsigned n_fds)
{
    int r = sbx_proto_send(fd, b, fds, n_fds);
    sbx_buf_free(b);
    return r;
}

static int send_hello(int fd)
{
    struct sbx_msg_hello h = { .min_version = SBX_PROTO_VERSION,
                               .max_version = SBX_PROTO_VERSION,
                               .client = "flood" };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_hello_encode(&h, &b);
    return r < 0 ? r : send_buf(fd, &b, NULL, 0);
}

/* Reads one frame within ms: its type, or 0 on EOF, or -errno (-ETIMEDOUT). */
static int recv_type(int fd, int ms, struct sbx_frame *ret)
{
    if (!wait_readable(fd, ms))
        return -ETIMEDOUT;
    int r = sbx_proto_recv(fd, ret);
    return r <= 0 ? r : ret->type;
}

/* Prints an ERROR frame as "error=NAME message=TEXT". */
static void print_error(const char *what, const struct sbx_frame *f)
{
    struct sbx_msg_error e;
    if (sbx_msg_error_decode(f, &e) < 0) {
        printf("%s: malformed ERROR\n", what);
        return;
    }
    printf("%s: error=%s message=%s\n", what, strerrorname_np((int)e.err) ?: "?",
           e.message ? e.message : "");
    sbx_msg_error_free(&e);
}

/* HELLO, then WELCOME within 5 s; 0, or 1 when the daemon refused with ERROR, or -errno. */
static int handshake(int fd, bool verbose)
{
    int r = send_hello(fd);
    if (r < 0)
        return r;
    struct sbx_frame f = { 0 };
    r = recv_type(fd, 5000, &f);
    if (r == SBX_MSG_ERROR && verbose)
        print_error("handshake", &f);
    sbx_frame_clear(&f);
    if (r == SBX_MSG_WELCOME)
        return 0;
    if (r == SBX_MSG_ERROR)
        return 1;
    return r < 0 ? r : -EPROTO;
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

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int mode_idle(int n, int seconds)
{
    raise_nofile();
    int *fds = calloc((size_t)n, sizeof(int));
    if (!fds)
        return 1;
    int connected = 0, failed = 0;
    double deadline = now_s() + 10;
    for (int i = 0; i < n; i++) {
        fds[i] = connect_daemon(deadline);
        if (fds[i] >= 0)
            connected++;
        else
            failed++;
    }
    printf("connected=%d failed=%d\n", connected, failed);
    printf("holding\n");
    fflush(stdout);
    sleep((unsigned)seconds);
    for (int i = 0; i < n; i++)
        sbx_close(fds[i]);
    free(fds);
    return 0;
}

static int mode_hello(void)
{
    int fd = connect_daemon(now_s() + 10);
    if (fd < 0) {
        printf("connect: %s\n", strerror(-fd));
        return 1;
    }
    int r = handshake(fd, true);
    printf("hello: %s\n", r == 0 ? "WELCOME" : r > 0 ? "refused" : strerror(-r));
    close(fd);
    return r == 0 ? 0 : 1;
}

/* Sends n bytes or gives up after ms without progress; bytes sent, or -errno. */
static ssize_t send_some(int fd, const uint8_t *p, size_t n, int ms)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(fd, p + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return done ? (ssize_t)done : -errno;
        struct pollfd pf = { .fd = fd, .events = POLLOUT };
        if (poll(&pf, 1, ms) <= 0)
            break;
    }
    return (ssize_t)done;
}

static int mode_partial(int n, int seconds, bool hello)
{
    raise_nofile();
    int *fds = calloc((size_t)n, sizeof(int));
    uint8_t *frame = calloc(1, SBX_PROTO_HEADER_SIZE + BIG_FRAME);
    if (!fds || !frame)
        return 1;
    /* A header claiming 1 MiB, then a payload of one BYTES field that fills it. */
    put_le32(frame, SBX_PROTO_MAGIC);
    put_le16(frame + 4, SBX_PROTO_VERSION);
    put_le16(frame + 6, hello ? SBX_MSG_RUN : SBX_MSG_HELLO);
    put_le32(frame + 12, BIG_FRAME);
    uint8_t *field = frame + SBX_PROTO_HEADER_SIZE;
    put_le16(field, 1);
    field[2] = SBX_FIELD_BYTES;
    put_le32(field + 4, BIG_FRAME - SBX_PROTO_FIELD_HEADER_SIZE);

    int refused = 0, full = 0, cut = 0, failed = 0;
    double deadline = now_s() + 10;
    for (int i = 0; i < n; i++) {
        fds[i] = connect_daemon(deadline);
        if (fds[i] < 0) {
            failed++;
            continue;
        }
        if (hello) {
            int r = handshake(fds[i], refused == 0);
            if (r != 0) {
                refused += r == 1;
                failed += r < 0;
                fds[i] = sbx_close(fds[i]);
                continue;
            }
        }
        /* All but the last byte: the daemon holds the frame and waits for more. */
        size_t want = SBX_PROTO_HEADER_SIZE + BIG_FRAME - 1;
        ssize_t k = send_some(fds[i], frame, want, 2000);
        if (k == (ssize_t)want)
            full++;
        else
            cut++;
    }
    printf("refused=%d sent=%d cut=%d failed=%d\n", refused, full, cut, failed);
    printf("holding\n");
    fflush(stdout);

    /* Now count how long the daemon keeps them: it must close each one. */
    double start = now_s(), end = start + seconds;
    int open = 0, first_error = 1;
    for (int i = 0; i < n; i++)
        open += fds[i] >= 0;
    while (open > 0 && now_s() < end) {
        struct pollfd *p = calloc((size_t)n, sizeof(*p));
        if (!p)
            return 1;
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
        int r = poll(p, (nfds_t)n, 200);
        for (int i = 0; r > 0 && i < n; i++) {
            if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct sbx_frame f = { 0 };
            int t = sbx_proto_recv(fds[i], &f);
            if (t > 0 && f.type == SBX_MSG_ERROR && first_error) {
                print_error("closed", &f);
                first_error = 0;
            }
            sbx_frame_clear(&f);
            if (t <= 0 || f.type == SBX_MSG_ERROR) {
                fds[i] = sbx_close(fds[i]);
                open--;
            }
        }
        free(p);
    }
    printf("open=%d elapsed=%.1f\n", open, now_s() - start);
    for (int i = 0; i < n; i++)
        sbx_close(fds[i]);
    free(fds);
    free(frame);
    return open == 0 ? 0 : 1;
}

/* HELLO and RUN of argv in image, stdio: /dev/null, ours, ours; optional policy text. */
static int start_run(const char *image, char **argv, unsigned argc, const char *policy)
{
    int fd = connect_daemon(now_s() + 10);
    if (fd < 0) {
        printf("connect: %s\n", strerror(-fd));
        return -1;
    }
    int r = handshake(fd, true);
    if (r != 0) {
        printf("handshake failed: %s\n", r < 0 ? strerror(-r) : "refused");
        close(fd);
        return -1;
    }
    int fds[4] = { open(image, O_RDONLY | O_CLOEXEC), open("/dev/null", O_RDONLY | O_CLOEXEC),
                   STDOUT_FILENO, STDERR_FILENO };
    if (fds[0] < 0 || fds[1] < 0) {
        printf("open %s: %s\n", image, strerror(errno));
        close(fd);
        return -1;
    }
    char *env[] = { NULL };
    struct sbx_msg_run m = { .argv = argv,
                             .argc = argc,
                             .env = env,
                             .policy_text = (char *)policy,
                             .mode = SBX_RUN_MODE_DEFAULT };
    struct sbx_buf b = { 0 };
    r = sbx_msg_run_encode(&m, &b);
    if (r >= 0)
        r = send_buf(fd, &b, fds, 4);
    else
        sbx_buf_free(&b);
    close(fds[0]);
    close(fds[1]);
    if (r < 0) {
        printf("sending RUN: %s\n", strerror(-r));
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads frames until EXIT (printed as "exit kind=K code=C"), ERROR or EOF; EXIT's kind or -1. */
static int read_until_exit(int fd, int ms, uint32_t *ret_code)
{
    for (;;) {
        struct sbx_frame f = { 0 };
        int t = recv_type(fd, ms, &f);
        if (t == SBX_MSG_STARTED) {
            printf("started\n");
            sbx_frame_clear(&f);
            continue;
        }
        int kind = -1;
        if (t == SBX_MSG_EXIT) {
            struct sbx_msg_exit e;
            if (sbx_msg_exit_decode(&f, &e) >= 0) {
                printf("exit kind=%u code=%u message=%s\n", e.kind, e.code,
                       e.message ? e.message : "");
                kind = (int)e.kind;
                *ret_code = e.code;
                sbx_msg_exit_free(&e);
            }
        } else if (t == SBX_MSG_ERROR) {
            print_error("run", &f);
        } else {
            printf("no EXIT: %s\n", t == 0 ? "end of file" : t < 0 ? strerror(-t) : "frame");
        }
        sbx_frame_clear(&f);
        return kind;
    }
}

static int mode_halfclose(const char *image)
{
    char *argv[] = { "/bin/sh", "-c", "sleep 1; exit 3", NULL };
    int fd = start_run(image, argv, 3, NULL);
    if (fd < 0)
        return 1;
    /* The client has nothing more to say, but still listens. */
    shutdown(fd, SHUT_WR);
    uint32_t code = 0;
    int kind = read_until_exit(fd, 20000, &code);
    close(fd);
    return kind == SBX_EXIT_EXITED && code == 3 ? 0 : 1;
}

static int mode_signals(const char *image, int n)
{
    /* A guest that lives through the flood: it traps USR1 and ends with 7. */
    char *argv[] = {
        "/bin/sh", "-c",
        "trap : USR1; i=0; while [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; exit 7", NULL
    };
    int fd = start_run(image, argv, 3, NULL);
    if (fd < 0)
        return 1;
    struct sbx_frame f = { 0 };
    int t = recv_type(fd, 20000, &f);
    sbx_frame_clear(&f);
    if (t != SBX_MSG_STARTED) {
        printf("expected STARTED, got %d\n", t);
        close(fd);
        return 1;
    }
    /* The guest's shell sets its trap first; a USR1 before that would end it. */
    usleep(500 * 1000);
    struct sbx_msg_signal s = { .signo = SIGUSR1 };
    struct sbx_buf b = { 0 };
    if (sbx_msg_signal_encode(&s, &b) < 0)
        return 1;
    int sent = 0;
    for (; sent < n; sent++)
        if (sbx_proto_send(fd, &b, NULL, 0) < 0)
            break;
    sbx_buf_free(&b);
    printf("signals=%d\n", sent);
    uint32_t code = 0;
    int kind = read_until_exit(fd, 20000, &code);
    close(fd);
    printf("exit kind %d code %u\n", kind, code);
    return kind == SBX_EXIT_EXITED && code == 7 ? 0 : 1;
}

static int mode_stall_open(const char *image, const char *dir, int seconds)
{
    char policy[4096];
    snprintf(policy, sizeof(policy),
             "filesystem:\n  mounts: [{ type: bind, source: \"%s\", target: /mnt }]\n", dir);
    char *argv[] = { "/bin/true", NULL };
    int fd = start_run(image, argv, 1, policy);
    if (fd < 0)
        return 1;
    struct sbx_frame f = { 0 };
    int t = recv_type(fd, 10000, &f);
    sbx_frame_clear(&f);
    if (t != SBX_MSG_OPEN) {
        printf("expected OPEN, got %d\n", t);
        close(fd);
        return 1;
    }
    /* Never answer: the daemon must give up on us. */
    double start = now_s();
    t = recv_type(fd, seconds * 1000, &f);
    double waited = now_s() - start;
    if (t == SBX_MSG_ERROR)
        print_error("dropped", &f);
    sbx_frame_clear(&f);
    bool eof = t == SBX_MSG_ERROR && recv_type(fd, 2000, &f) == 0;
    printf("answer=%s eof=%d waited=%.1f\n",
           t == SBX_MSG_ERROR ? "ERROR"
           : t == -ETIMEDOUT  ? "none"
                              : "other",
           eof, waited);
    close(fd);
    return eof ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3) {
        fprintf(stderr, "Usage: flood MODE SOCKET ARGS... (see the source)\n");
        return 2;
    }
    socket_path = argv[2];
    const char *mode = argv[1];
    if (strcmp(mode, "idle") == 0 && argc == 5)
        return mode_idle(atoi(argv[3]), atoi(argv[4]));
    if (strcmp(mode, "partial") == 0 && (argc == 5 || argc == 6))
        return mode_partial(atoi(argv[3]), atoi(argv[4]),
                            argc == 6 && strcmp(argv[5], "hello") == 0);
    if (strcmp(mode, "hello") == 0 && argc == 3)
        return mode_hello();
    if (strcmp(mode, "halfclose") == 0 && argc == 4)
        return mode_halfclose(argv[3]);
    if (strcmp(mode, "signals") == 0 && argc == 5)
        return mode_signals(argv[3], atoi(argv[4]));
    if (strcmp(mode, "stall-open") == 0 && argc == 6)
        return mode_stall_open(argv[3], argv[4], atoi(argv[5]));
    fprintf(stderr, "flood: unknown mode or wrong arguments\n");
    return 2;
}
