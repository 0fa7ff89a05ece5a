/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fdattack: a client of sandboxd that sends crafted fds, which sandboxctl
 * would never send, to show what the daemon accepts: O_PATH fds (they prove
 * no right to read), fds opened for the wrong access, directories as stdio.
 * Usage: fdattack SOCKET CASE IMAGE PATH [CMD ARGS...]
 * CASE is one of the names in the table below; PATH is the bind source or the
 * stdio file the case uses ("-" when it uses none), or for the cases that
 * answer OPEN with another file than the policy names, SOURCE=SENT (the
 * policy's source, or the name of a policy in sandboxd's directory, and the
 * file whose fd goes back), or for writable-other the file sent as the
 * writable image instead of IMAGE; CMD (default
 * /bin/cat /etc/sbx-image) runs in the guest with fdattack's own stdio.
 * Prints one line saying what the daemon answered, and exits 0 when that is
 * what the case expects: ERROR for an attack, a clean exit for a control.
 */
#include <errno.h>
#include <fcntl.h>
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

#define TIMEOUT_S 60

enum what { IMAGE, BIND, WRITABLE_IMAGE, STDIN, STDOUT };

/* Which file answers OPEN: the one the policy names, or another. */
enum swap { SAME, OTHER, NAMED_OTHER };

struct attack {
    const char *name;
    enum what what; /* the fd the case crafts */
    int flags;      /* how it opens that fd */
    bool attack;    /* expects ERROR (else a guest that exits 0) */
    enum swap swap; /* a bind's OTHER and NAMED_OTHER take PATH as SOURCE=SENT */
};

static const struct attack cases[] = {
    { "run-ok", IMAGE, O_RDONLY, false },
    { "bind-ok", BIND, O_RDONLY, false },
    { "writable-ok", WRITABLE_IMAGE, O_RDWR, false },
    { "image-opath", IMAGE, O_PATH, true },
    { "image-wronly", IMAGE, O_WRONLY, true },
    { "bind-opath", BIND, O_PATH, true },
    { "bind-wronly", BIND, O_WRONLY, true },
    { "writable-rdonly", WRITABLE_IMAGE, O_RDONLY, true },
    { "writable-opath", WRITABLE_IMAGE, O_PATH, true },
    { "stdin-opath", STDIN, O_PATH, true },
    { "stdout-opath", STDOUT, O_PATH, true },
    { "stdin-dir", STDIN, O_RDONLY | O_DIRECTORY, true },
    { "bind-other", BIND, O_RDONLY, true, OTHER },
    { "named-other", BIND, O_RDONLY, true, NAMED_OTHER },
    { "writable-other", WRITABLE_IMAGE, O_RDWR, true, OTHER },
};

static void on_alarm(int sig)
{
    static const char msg[] = "TIMEOUT: no answer from sandboxd\n";
    ssize_t n _unused_ = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(3);
}

static int connect_daemon(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "fdattack: connect %s: %s\n", path, strerror(errno));
        exit(2);
    }
    return fd;
}

static int open_or_die(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fprintf(stderr, "fdattack: open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    return fd;
}

static void send_or_die(int sock, struct sbx_buf *b, int r, const int *fds, unsigned n)
{
    if (r >= 0)
        r = sbx_proto_send(sock, b, fds, n);
    sbx_buf_free(b);
    if (r < 0) {
        fprintf(stderr, "fdattack: send: %s\n", strerror(-r));
        exit(2);
    }
}

static void handshake(int sock)
{
    struct sbx_msg_hello h = { .min_version = SBX_PROTO_VERSION,
                               .max_version = SBX_PROTO_VERSION,
                               .client = "fdattack" };
    struct sbx_buf b = { 0 };
    send_or_die(sock, &b, sbx_msg_hello_encode(&h, &b), NULL, 0);
    struct sbx_frame f = { 0 };
    if (sbx_proto_recv(sock, &f) <= 0 || f.type != SBX_MSG_WELCOME) {
        fprintf(stderr, "fdattack: no WELCOME from sandboxd\n");
        exit(2);
    }
    sbx_frame_clear(&f);
}

/* The policy the case needs, as text: a bind of PATH, or a writable image. */
static char *policy_text(const struct attack *a, const char *path)
{
    char *text = NULL;
    int r = 0;
    if (a->what == BIND)
        r = asprintf(&text,
                     "filesystem:\n  mounts:\n    - { type: bind, source: %s, "
                     "target: /fdattack }\n",
                     path);
    else if (a->what == WRITABLE_IMAGE)
        r = asprintf(&text, "filesystem:\n  writable_image: true\n");
    if (r < 0) {
        fprintf(stderr, "fdattack: out of memory\n");
        exit(2);
    }
    return text;
}

/* Answers OPEN with the crafted fd: the read-write image or the bind source. */
static void answer_open(int sock, const struct attack *a, const char *image, const char *path)
{
    int fd = open_or_die(a->what == BIND || a->swap != SAME ? path : image, a->flags);
    struct sbx_msg_fds m = { .count = 1 };
    struct sbx_buf b = { 0 };
    send_or_die(sock, &b, sbx_msg_fds_encode(&m, &b), &fd, 1);
    close(fd);
}

/* SOURCE=SENT: splits PATH in place, or dies. */
static const char *split_swap(char *path)
{
    char *eq = strchr(path, '=');
    if (!eq) {
        fprintf(stderr, "fdattack: expected SOURCE=SENT, not '%s'\n", path);
        exit(2);
    }
    *eq = '\0';
    return eq + 1;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "Usage: fdattack SOCKET CASE IMAGE PATH [CMD ARGS...]\n");
        return 2;
    }
    const struct attack *a = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (strcmp(argv[2], cases[i].name) == 0)
            a = &cases[i];
    if (!a) {
        fprintf(stderr, "fdattack: unknown case '%s'\n", argv[2]);
        return 2;
    }
    const char *image = argv[3], *path = argv[4], *sent = path;
    if (a->swap != SAME && a->what == BIND)
        sent = split_swap(argv[4]);
    char *default_cmd[] = { "/bin/cat", "/etc/sbx-image", NULL };
    char **cmd = argc > 5 ? argv + 5 : default_cmd;
    uint32_t cmdc = argc > 5 ? (uint32_t)(argc - 5) : 2;
    signal(SIGALRM, on_alarm);
    alarm(TIMEOUT_S);
    setvbuf(stdout, NULL, _IOLBF, 0);

    int sock = connect_daemon(argv[1]);
    handshake(sock);
    int fds[4] = { open_or_die(image, a->what == IMAGE ? a->flags : O_RDONLY), STDIN_FILENO,
                   STDOUT_FILENO, STDERR_FILENO };
    if (a->what == STDIN || a->what == STDOUT)
        fds[a->what == STDIN ? 1 : 2] = open_or_die(path, a->flags);
    char *env[] = { NULL };
    char *text = a->swap == NAMED_OTHER ? NULL : policy_text(a, path);
    struct sbx_msg_run run = { .argv = cmd,
                               .argc = cmdc,
                               .env = env,
                               .policy_name = a->swap == NAMED_OTHER ? (char *)path : NULL,
                               .policy_text = text,
                               .policy_file = text ? "fdattack.yaml" : NULL,
                               .mode = SBX_RUN_MODE_DEFAULT };
    struct sbx_buf b = { 0 };
    send_or_die(sock, &b, sbx_msg_run_encode(&run, &b), fds, ARRAY_SIZE(fds));
    free(text);

    bool started = false;
    for (;;) {
        struct sbx_frame f = { 0 };
        int r = sbx_proto_recv(sock, &f);
        if (r <= 0) {
            printf("EOF: sandboxd closed the connection (%s)\n", r < 0 ? strerror(-r) : "EOF");
            return 1;
        }
        if (f.type == SBX_MSG_OPEN) {
            answer_open(sock, a, image, sent);
        } else if (f.type == SBX_MSG_STARTED) {
            started = true;
            printf("STARTED\n");
        } else if (f.type == SBX_MSG_ERROR) {
            struct sbx_msg_error e;
            if (sbx_msg_error_decode(&f, &e) < 0) {
                printf("malformed ERROR\n");
                return 1;
            }
            printf("ERROR %s: %s\n", strerrorname_np((int)e.err) ?: "?", e.message);
            sbx_msg_error_free(&e);
            return a->attack && !started ? 0 : 1;
        } else if (f.type == SBX_MSG_EXIT) {
            struct sbx_msg_exit m;
            if (sbx_msg_exit_decode(&f, &m) < 0) {
                printf("malformed EXIT\n");
                return 1;
            }
            printf("EXIT kind %u code %u%s%s\n", m.kind, m.code, m.message ? ": " : "",
                   m.message ? m.message : "");
            bool clean = m.kind == SBX_EXIT_EXITED && m.code == 0;
            sbx_msg_exit_free(&m);
            return !a->attack && clean ? 0 : 1;
        } else {
            printf("unexpected frame type %u\n", f.type);
            return 1;
        }
        sbx_frame_clear(&f);
    }
}
