/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl run: sends the image fd and the caller's stdio to sandboxd,
 * waits for the guest, and exits with its status (podman's conventions for
 * 125/126/127, timeout(1)'s 124).
 */
#include "client/cmd-run.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/connect.h"
#include "client/run-options.h"
#include "client/sigproxy.h"
#include "client/trace.h"
#include "client/tty.h"
#include "policy/policy.h"
#include "proto/proto.h"
#include "sbx-config.h"
#include "sbx/macro.h"

#define EXIT_TIMEOUT 124
#define EXIT_SETUP 125
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127
_Static_assert(SBX_POLICY_MAX_BYTES <= SBX_PROTO_MAX_STRING, "a policy file fits in a RUN frame");

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: sandboxctl run [OPTIONS] [--] IMAGE [CMD [ARGS...]]\n"
        "Boots IMAGE (an ext4 file, or a directory as the root) in a sandbox and runs\n"
        "CMD in it with this terminal's stdio.  An image made by 'sandboxctl image build'\n"
        "runs its Entrypoint before CMD, and its Cmd when no CMD is given, in its\n"
        "WorkingDir, as its User, with its Env.  With no sandboxd answering, a private\n"
        "one serves this run: rootless for a caller other than root (sandboxctl(1)).\n\n"
        "  --socket PATH         sandboxd's socket (default %s)\n"
        "  --policy NAME|FILE    a policy by name (in sandboxd's policy directory) or a\n"
        "                        YAML file (any argument with a '/' or a .yaml ending)\n"
        "  --syscall-mode MODE   off, trap or rewrite (default: the policy's, then sandboxd's)\n"
        "  --stats               print per-syscall counts of the trampoline at exit\n"
        "  --trace[=[FILE][:LIST]]  print every syscall of the guest, strace-style, to\n"
        "                        FILE (default: stderr); LIST: names and %%file, %%desc,\n"
        "                        %%network, %%process, %%signal, %%memory, %%ipc, %%creds\n"
        "  --learn FILE.yaml     write the policy of what CMD did to FILE (merged into\n"
        "                        it when it is a policy --learn wrote)\n"
        "  -t, --tty             give CMD a terminal of its own (a pty in the sandbox)\n"
        "  -i, --interactive     with -t: copy this terminal's input to it (stdin is\n"
        "                        always passed without -t)\n"
        "  -d, --detach          run in the background: print the sandbox's id once CMD\n"
        "                        runs; stdin is /dev/null, stdout and stderr go to its log\n"
        "                        (sandboxctl logs); needs a running sandboxd\n"
        "  --name NAME           with -d: the sandbox's name (default: its id)\n",
        SBX_DEFAULT_SOCKET);
    sbx_run_options_usage(f);
    fputs("\nSignals sent to sandboxctl go to CMD; a third SIGINT or SIGTERM within 3 s\n"
          "ends the sandbox.\n"
          "Exit status: CMD's; 128+N if it died of signal N; 124 timeout; 125 sandbox\n"
          "error; 126 CMD cannot be executed; 127 CMD not found in the image.\n",
          f);
}

struct run_opts {
    const char *socket;
    const char *policy;
    uint32_t mode;
    bool stats;
    bool trace;
    const char *trace_arg, *learn;
    struct sbx_run_options extra; /* -e, --env-file and the policy fields */
    bool tty, interactive;
    bool detach;
    const char *name;
};

static void run_opts_done(struct run_opts *o)
{
    sbx_run_options_free(&o->extra);
}

static int parse_mode(const char *s, uint32_t *ret)
{
    static const char *const names[] = { "off", "trap", "rewrite" };
    for (uint32_t i = 0; i < ARRAY_SIZE(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *ret = i;
            return 0;
        }
    return -EINVAL;
}

static bool is_policy_file(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 5 && strcmp(s + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(s + n - 4, ".yml") == 0);
}

static int read_file(const char *path, char **ret)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sbx_neg_errno();
    char *buf = malloc(SBX_POLICY_MAX_BYTES + 1);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, buf + len, SBX_POLICY_MAX_BYTES + 1 - len)) > 0) {
        len += (size_t)n;
        if (len > SBX_POLICY_MAX_BYTES) {
            free(buf);
            return -EFBIG;
        }
    }
    if (n < 0) {
        free(buf);
        return sbx_neg_errno();
    }
    buf[len] = '\0';
    *ret = buf;
    return 0;
}

static const char *file_kind(mode_t mode)
{
    return S_ISDIR(mode)    ? "a directory"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISSOCK(mode) ? "a socket"
                            : "of an unknown kind";
}

/*
 * Opens what the caller named as an image (regular files only) or a bind
 * source (also directories), and says why on stderr if it cannot.  open()
 * of a FIFO waits for a writer, so the open is O_NONBLOCK, which means
 * nothing for a regular file or a directory and is cleared once the type
 * is known.  Returns the fd or -errno.
 */
static int open_host_file(const char *what, const char *path, int flags, bool dir_ok)
{
    _cleanup_close_ int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int r = sbx_neg_errno();
        fprintf(stderr, "sandboxctl: cannot open %s %s: %s\n", what, path, strerror(-r));
        return r;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        int r = sbx_neg_errno();
        fprintf(stderr, "sandboxctl: cannot open %s %s: %s\n", what, path, strerror(-r));
        return r;
    }
    if (!S_ISREG(st.st_mode) && !(dir_ok && S_ISDIR(st.st_mode))) {
        fprintf(stderr, "sandboxctl: cannot use %s %s: it is %s, %s\n", what, path,
                file_kind(st.st_mode),
                dir_ok ? "neither a directory nor a regular file" : "not a regular file");
        return -EINVAL;
    }
    return TAKE_FD(fd);
}

/*
 * The protocol's limits on a RUN frame, checked before it is sent so that the
 * refusal names the limit and the string that broke it rather than saying
 * "Message too long".  0, or -EMSGSIZE after a line on stderr.
 */
static int check_request_size(const struct sbx_msg_run *m)
{
    const struct {
        const char *what;
        char **items;
        uint32_t n;
    } lists[] = { { "argv entry", m->argv, m->argc }, { "--env entry", m->env, m->envc } };
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        for (uint32_t i = 0; i < lists[l].n; i++) {
            size_t n = strlen(lists[l].items[i]);
            if (n > SBX_PROTO_MAX_STRING) {
                fprintf(stderr,
                        "sandboxctl: %s %u is %zu bytes, at most %u (the protocol's "
                        "limit for one string)\n",
                        lists[l].what, i, n, SBX_PROTO_MAX_STRING);
                return -EMSGSIZE;
            }
        }
    }
    return 0;
}

/* What a frame over the size limit held, for the message that refuses it. */
static size_t request_bytes(const struct sbx_msg_run *m)
{
    size_t total = m->policy_text ? strlen(m->policy_text) : 0;
    for (uint32_t i = 0; i < m->argc; i++)
        total += strlen(m->argv[i]);
    for (uint32_t i = 0; i < m->envc; i++)
        total += strlen(m->env[i]);
    return total;
}

/*
 * Sends the RUN request and its fds.  A connection the daemon closed is left
 * for the caller to explain: what the daemon said before it closed is still
 * to be read.
 */
static int send_run(int sock, const struct run_opts *o, int image_fd, char **argv, int argc)
{
    struct sbx_msg_run m = {
        .argv = argv,
        .argc = (uint32_t)argc,
        .env = o->extra.env,
        .envc = o->extra.envc,
        .options = o->extra.options,
        .n_options = o->extra.n_options,
        .mode = o->mode,
        .flags = (o->stats ? SBX_RUN_STATS : 0) | (o->tty ? SBX_RUN_TTY : 0) |
                 (o->detach ? SBX_RUN_DETACH : 0) | (o->trace || o->learn ? SBX_RUN_TRACE : 0),
        .name = (char *)o->name,
    };
    _cleanup_free_ char *text = NULL;
    if (o->policy && is_policy_file(o->policy)) {
        int r = read_file(o->policy, &text);
        if (r == -EFBIG) {
            fprintf(stderr, "sandboxctl: policy %s is larger than %u bytes\n", o->policy,
                    SBX_POLICY_MAX_BYTES);
            return r;
        }
        if (r < 0) {
            fprintf(stderr, "sandboxctl: cannot read policy %s: %s\n", o->policy, strerror(-r));
            return r;
        }
        m.policy_text = text;
        m.policy_file = (char *)o->policy;
    } else if (o->policy) {
        m.policy_name = (char *)o->policy;
    }
    if (check_request_size(&m) < 0)
        return -EMSGSIZE;
    struct sbx_buf b = { 0 };
    int r = sbx_msg_run_encode(&m, &b);
    if (r >= 0 && o->detach) {
        /* The daemon puts its log's pipes in place of stdout and stderr. */
        _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        int fds[] = { image_fd, null, null, null };
        r = null < 0 ? sbx_neg_errno() : sbx_proto_send(sock, &b, fds, ARRAY_SIZE(fds));
    } else if (r >= 0) {
        int fds[] = { image_fd, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };
        r = sbx_proto_send(sock, &b, fds, ARRAY_SIZE(fds));
    }
    sbx_buf_free(&b);
    if (r == -EMSGSIZE)
        fprintf(stderr,
                "sandboxctl: the request is over the protocol's limit of %u bytes per "
                "frame (its arguments, environment and policy hold %zu bytes)\n",
                SBX_PROTO_MAX_PAYLOAD, request_bytes(&m));
    else if (r < 0 && r != -EPIPE && r != -ECONNRESET)
        fprintf(stderr, "sandboxctl: cannot send the request: %s\n", strerror(-r));
    return r;
}

static void print_stats(const struct sbx_msg_exit *m)
{
    fprintf(stderr, "%-24s %12s %12s\n", "syscall", "trapped", "patched");
    uint64_t tt = 0, tp = 0;
    for (uint32_t i = 0; i < m->n_stats; i++) {
        const struct sbx_stat_entry *e = &m->stats[i];
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, (int)e->nr);
        char num[32];
        snprintf(num, sizeof(num), "#%u", e->nr);
        fprintf(stderr, "%-24s %12llu %12llu\n", name ? name : num, (unsigned long long)e->trapped,
                (unsigned long long)e->patched);
        free(name);
        tt += e->trapped;
        tp += e->patched;
    }
    fprintf(stderr, "%-24s %12llu %12llu\n", "total", (unsigned long long)tt,
            (unsigned long long)tp);
}

/* Maps how the sandbox ended to sandboxctl's exit status, with a line on stderr if needed. */
static int exit_status(const struct sbx_msg_exit *m, const char *cmd)
{
    const char *why = m->message && m->message[0] ? m->message : NULL;
    switch (m->kind) {
    case SBX_EXIT_EXITED:
        /* The guest ended on its own, but the sandbox has something to say (a kill rule). */
        if (why)
            fprintf(stderr, "sandboxctl: %s\n", why);
        return (int)(m->code & 0xff);
    case SBX_EXIT_SIGNALED:
        if (why)
            fprintf(stderr, "sandboxctl: %s\n", why);
        return 128 + (int)(m->code & 0x7f);
    case SBX_EXIT_NOTFOUND:
        fprintf(stderr, "sandboxctl: %s: not found in the image\n", cmd);
        return EXIT_NOTFOUND;
    case SBX_EXIT_NOEXEC:
        fprintf(stderr, "sandboxctl: %s: cannot execute: %s\n", cmd, strerror((int)m->code));
        return EXIT_NOEXEC;
    case SBX_EXIT_TIMEOUT:
        fprintf(stderr, "sandboxctl: %s\n", why ? why : "timed out");
        return EXIT_TIMEOUT;
    case SBX_EXIT_OOM:
        fprintf(stderr, "sandboxctl: %s\n", why ? why : "killed: out of memory");
        return 128 + SIGKILL;
    default:
        fprintf(stderr, "sandboxctl: sandbox setup failed: %s\n",
                why ? why : strerror((int)m->code));
        return EXIT_SETUP;
    }
}

static int send_signal(int sock, int signo, uint32_t flags)
{
    struct sbx_msg_signal s = { .signo = (uint32_t)signo, .flags = flags };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_signal_encode(&s, &b);
    if (r >= 0)
        r = sbx_proto_send(sock, &b, NULL, 0);
    sbx_buf_free(&b);
    return r;
}

/*
 * OPEN: the policy's host paths, opened here as the caller so that the kernel
 * decides what the user may reach.  Returns 0 when FDS was sent, or an exit status.
 */
static int answer_open(int sock, const struct sbx_frame *f, const char *image)
{
    struct sbx_msg_open m;
    if (sbx_msg_open_decode(f, &m) < 0) {
        fprintf(stderr, "sandboxctl: malformed OPEN from sandboxd\n");
        return EXIT_SETUP;
    }
    int fds[SBX_PROTO_MAX_FDS];
    unsigned n = 0;
    int status = 0;
    if (m.flags & SBX_OPEN_IMAGE_RW) {
        fds[n] = open_host_file("the image (the policy wants it writable)", image, O_RDWR, false);
        if (fds[n] < 0)
            status = EXIT_SETUP;
        else
            n++;
    }
    for (uint32_t i = 0; !status && i < m.n_paths && n < SBX_PROTO_MAX_FDS; i++) {
        fds[n] = open_host_file("bind source", m.paths[i], O_RDONLY, true);
        if (fds[n] < 0)
            status = EXIT_SETUP;
        else
            n++;
    }
    if (!status) {
        struct sbx_msg_fds reply = { .count = n };
        struct sbx_buf b = { 0 };
        int r = sbx_msg_fds_encode(&reply, &b);
        if (r >= 0)
            r = sbx_proto_send(sock, &b, fds, n);
        sbx_buf_free(&b);
        if (r < 0) {
            fprintf(stderr, "sandboxctl: cannot send the bind sources: %s\n", strerror(-r));
            status = EXIT_SETUP;
        }
    }
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
    sbx_msg_open_free(&m);
    return status;
}

/*
 * The daemon's refusal.  It does not know the image's file name, only that a
 * message is about the image ("image: ..."): the name goes there.
 */
static void print_error(const struct sbx_msg_error *e, const char *image)
{
    const char *msg = e->message ? e->message : strerror((int)e->err);
    if (strncmp(msg, "image: ", 7) == 0)
        fprintf(stderr, "sandboxctl: image %s: %s\n", image, msg + 7);
    else
        fprintf(stderr, "sandboxctl: %s\n", msg);
}

/* A run in progress, between RUN and EXIT. */
struct run_state {
    struct sbx_conn *conn;
    int sock;
    int sigfd;
    bool stats, tty, detach;
    const char *cmd, *image;
    bool started;
    int held[32]; /* signals that came before STARTED, in order */
    unsigned n_held;
    bool stopped; /* sandboxctl was just stopped and continued: the last poll is stale */
    struct sbx_sigproxy proxy;
    struct sbx_tty term;
    struct sbx_trace_sink *trace; /* --trace, --learn, or the policy's trace rules */
    struct sbx_trace_sink policy_trace;
};

/*
 * One signal sandboxctl got: passed on to the guest (held until STARTED,
 * since the daemon takes SIGNAL only while the sandbox runs).  A stop signal
 * also stops sandboxctl, with its terminal restored, so that the caller's
 * shell gets its terminal back; SIGCONT resumes both.  Returns an exit
 * status when sandboxctl is to end now, else -1.
 */
static int on_signal(struct run_state *st, int signo)
{
    if (signo == SIGWINCH) {
        /* The guest's pty signals its foreground job, as a terminal does. */
        sbx_tty_resize(&st->term);
        return -1;
    }
    if (sbx_sigproxy_is_end(&st->proxy, signo)) {
        fprintf(stderr, "sandboxctl: a third SIGINT or SIGTERM within %d s: ending the sandbox\n",
                SBX_SIGPROXY_END_MS / 1000);
        if (!st->started)
            return 128 + signo; /* nothing runs yet: closing the connection is enough */
        send_signal(st->sock, signo, SBX_SIGNAL_END);
        return -1;
    }
    if (st->started)
        send_signal(st->sock, signo, 0);
    else if (st->n_held < ARRAY_SIZE(st->held))
        st->held[st->n_held++] = signo;
    if (signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU) {
        sbx_tty_suspend(&st->term);
        raise(SIGSTOP);
        st->stopped = true;
    } else if (signo == SIGCONT) {
        sbx_tty_resume(&st->term);
    }
    return -1;
}

static void on_started(struct run_state *st)
{
    st->started = true;
    for (unsigned i = 0; i < st->n_held; i++)
        send_signal(st->sock, st->held[i], 0);
    st->n_held = 0;
}

/* One frame from the daemon; returns an exit status when the run is over, else -1. */
static int on_frame(struct run_state *st, struct sbx_frame *f)
{
    int status = -1;
    if (st->conn->welcome_due) {
        struct sbx_error e = { 0 };
        if (sbx_conn_welcome(st->conn, f, &e) < 0) {
            sbx_conn_report(&e);
            return EXIT_SETUP;
        }
        return -1;
    }
    if (f->type == SBX_MSG_STARTED && st->detach) {
        /* Detached: the guest runs, and the daemon keeps it. */
        struct sbx_msg_started m;
        if (sbx_msg_started_decode(f, &m) < 0 || !m.sandbox) {
            fprintf(stderr, "sandboxctl: malformed STARTED from sandboxd\n");
            status = EXIT_SETUP;
        } else {
            printf("%s\n", m.sandbox);
            status = fflush(stdout) == 0 ? 0 : EXIT_SETUP;
            sbx_msg_started_free(&m);
        }
    } else if (f->type == SBX_MSG_STARTED) {
        on_started(st);
    } else if (f->type == SBX_MSG_TTY && st->tty && f->n_fds == 1 && sbx_msg_tty_decode(f) == 0) {
        int master = TAKE_FD(f->fds[0]);
        if (sbx_tty_attach(&st->term, master) < 0)
            status = EXIT_SETUP;
    } else if (f->type == SBX_MSG_TRACE && f->n_fds == 1 && sbx_msg_trace_decode(f) == 0) {
        /* Unasked for: the policy's trace rules, whose calls go to stderr. */
        if (!st->trace && sbx_trace_sink_open(&st->policy_trace, NULL) == 0)
            st->trace = &st->policy_trace;
        if (!st->trace || sbx_trace_sink_attach(st->trace, TAKE_FD(f->fds[0])) < 0) {
            fprintf(stderr, "sandboxctl: cannot map the trace ring from sandboxd\n");
            status = EXIT_SETUP;
        }
    } else if (f->type == SBX_MSG_OPEN) {
        int failed = answer_open(st->sock, f, st->image);
        if (failed)
            status = failed;
    } else if (f->type == SBX_MSG_EXIT) {
        struct sbx_msg_exit m;
        /* The guest's last words may still be in its pty. */
        sbx_tty_drain(&st->term);
        int bad = sbx_msg_exit_decode(f, &m) < 0;
        /* Every process of the sandbox is gone: the ring holds all there is. */
        if (st->trace && !bad && m.kind == SBX_EXIT_SIGNALED)
            sbx_trace_sink_killed(st->trace, (int)m.code);
        if (st->trace)
            sbx_trace_sink_done(st->trace);
        if (bad) {
            fprintf(stderr, "sandboxctl: malformed EXIT from sandboxd\n");
            status = EXIT_SETUP;
        } else {
            if (st->stats)
                print_stats(&m);
            status = exit_status(&m, st->cmd);
            sbx_msg_exit_free(&m);
        }
    } else if (f->type == SBX_MSG_ERROR) {
        struct sbx_msg_error e;
        if (sbx_msg_error_decode(f, &e) >= 0) {
            print_error(&e, st->image);
            sbx_msg_error_free(&e);
        }
        status = EXIT_SETUP;
    } else {
        fprintf(stderr, "sandboxctl: unexpected frame %u from sandboxd\n", f->type);
        status = EXIT_SETUP;
    }
    return status;
}

/* Reads the daemon's answers until EXIT, passes our signals on, and copies the tty. */
static int wait_for_exit(struct run_state *st)
{
    for (;;) {
        struct pollfd p[2 + SBX_TTY_MAX_POLL] = { { .fd = st->sock, .events = POLLIN },
                                                  { .fd = st->sigfd, .events = POLLIN } };
        unsigned n = 2 + sbx_tty_poll_fds(&st->term, p + 2);
        int timeout = sbx_tty_poll_timeout(&st->term);
        /* The ring is drained every 10 ms while the guest runs, at once while it fills fast. */
        if (st->trace && st->trace->ring && (timeout < 0 || timeout > 10))
            timeout = st->trace->busy ? 0 : 10;
        if (poll(p, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            return EXIT_SETUP;
        }
        if (st->trace)
            sbx_trace_sink_drain(st->trace, false);
        st->stopped = false;
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(st->sigfd, &si, sizeof(si)) == sizeof(si)) {
                int status = on_signal(st, (int)si.ssi_signo);
                if (status >= 0)
                    return status;
            }
        }
        if (st->stopped)
            continue;
        sbx_tty_handle(&st->term);
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        struct sbx_frame f = { 0 };
        int r = sbx_proto_recv(st->sock, &f);
        if (r <= 0) {
            fprintf(stderr, "sandboxctl: sandboxd closed the connection: %s\n",
                    r < 0 ? strerror(-r) : "no exit status");
            return EXIT_SETUP;
        }
        int status = on_frame(st, &f);
        sbx_frame_clear(&f);
        if (status >= 0)
            return status;
    }
}

static int parse_args(int argc, char **argv, struct run_opts *o)
{
    enum { OPT_SOCKET = 256, OPT_POLICY, OPT_MODE, OPT_STATS, OPT_NAME, OPT_TRACE, OPT_LEARN };
    static const struct option opts[] = {
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "policy", required_argument, NULL, OPT_POLICY },
        { "syscall-mode", required_argument, NULL, OPT_MODE },
        { "stats", no_argument, NULL, OPT_STATS },
        { "trace", optional_argument, NULL, OPT_TRACE },
        { "learn", required_argument, NULL, OPT_LEARN },
        { "tty", no_argument, NULL, 't' },
        { "interactive", no_argument, NULL, 'i' },
        { "detach", no_argument, NULL, 'd' },
        { "name", required_argument, NULL, OPT_NAME },
        { "help", no_argument, NULL, 'h' },
        SBX_RUN_OPTIONS_LONG,
        {},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+htid" SBX_RUN_OPTIONS_SHORT, opts, NULL)) != -1) {
        switch (c) {
        case OPT_SOCKET:
            o->socket = optarg;
            break;
        case OPT_POLICY:
            o->policy = optarg;
            break;
        case OPT_MODE:
            if (parse_mode(optarg, &o->mode) < 0) {
                fprintf(stderr,
                        "sandboxctl: --syscall-mode: expected off, trap or rewrite, "
                        "not '%s'\n",
                        optarg);
                return -EINVAL;
            }
            break;
        case OPT_STATS:
            o->stats = true;
            break;
        case OPT_TRACE:
            o->trace = true;
            o->trace_arg = optarg;
            break;
        case OPT_LEARN:
            o->learn = optarg;
            break;
        case 't':
            o->tty = true;
            break;
        case 'i':
            o->interactive = true;
            break;
        case 'd':
            o->detach = true;
            break;
        case OPT_NAME:
            o->name = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default: {
            int r = sbx_run_options_parse(&o->extra, c, optarg);
            if (r > 0)
                break;
            if (r == 0)
                usage(stderr);
            return r < 0 ? r : -EINVAL;
        }
        }
    }
    if (o->detach && (o->tty || o->interactive || o->stats)) {
        fprintf(stderr, "sandboxctl run: -d cannot go with %s: nobody is there to see it\n",
                o->stats ? "--stats"
                : o->tty ? "-t"
                         : "-i");
        return -EINVAL;
    }
    if (o->name && !o->detach) {
        fprintf(stderr, "sandboxctl run: --name needs -d (only detached sandboxes have names)\n");
        return -EINVAL;
    }
    if (o->name && strlen(o->name) > SBX_NAME_MAX) {
        fprintf(stderr, "sandboxctl run: --name: at most %d bytes\n", SBX_NAME_MAX);
        return -EINVAL;
    }
    if (argc - optind < 1) {
        fprintf(stderr, "sandboxctl run: expected IMAGE [CMD]\n");
        usage(stderr);
        return -EINVAL;
    }
    return optind;
}

int sbx_cmd_run(int argc, char **argv)
{
    _cleanup_(run_opts_done) struct run_opts o = { .socket = SBX_DEFAULT_SOCKET,
                                                   .mode = SBX_RUN_MODE_DEFAULT };
    int first = parse_args(argc, argv, &o);
    if (first < 0)
        return EXIT_SETUP;
    const char *image = argv[first];
    char **cmd = argv + first + 1;
    int cmdc = argc - first - 1;
    if (cmdc > SBX_PROTO_MAX_ARGS) {
        fprintf(stderr, "sandboxctl: %d arguments, at most %d (the protocol's limit for argv)\n",
                cmdc, SBX_PROTO_MAX_ARGS);
        return EXIT_SETUP;
    }

    /* Opened here, as the caller: a user boots only what the user can read. */
    _cleanup_close_ int image_fd = open_host_file("image", image, O_RDONLY, true);
    if (image_fd < 0)
        return EXIT_SETUP;
    struct sbx_trace_sink trace;
    if (o.trace || o.learn) {
        if (sbx_trace_sink_open(&trace, o.trace ? o.trace_arg : NULL) < 0)
            return EXIT_SETUP;
        if (!o.trace)
            trace.out = NULL;
        if (o.learn && sbx_trace_learn_begin(&trace, o.learn) < 0) {
            sbx_trace_sink_done(&trace);
            free(trace.learn);
            return EXIT_SETUP;
        }
    }
    /* Blocked before the daemon exists, so no signal is lost; read through a signalfd. */
    sigset_t mask;
    sbx_sigproxy_set(&mask, o.tty);
    struct sbx_conn conn;
    struct sbx_error e = { 0 };
    if ((o.detach ? sbx_conn_open_running(&conn, o.socket, "run -d", &e)
                  : sbx_conn_open(&conn, o.socket, &e)) < 0) {
        sbx_conn_report(&e);
        return EXIT_SETUP;
    }
    /* Rootless, the root is what sandboxctl opens inside its namespaces (client/rootless.c). */
    if (conn.rootless.active) {
        int root =
            sbx_rootless_check_limits(&conn.rootless, o.extra.options, o.extra.n_options, &e);
        if (root >= 0)
            root = sbx_rootless_root(&conn.rootless, image, image_fd, &e);
        if (root < 0) {
            fprintf(stderr, "%s\n", sbx_error_msg(&e, root));
            sbx_conn_close(&conn);
            return EXIT_SETUP;
        }
        sbx_close(image_fd);
        image_fd = root;
    }
    /*
     * A closed stdout or stderr must not kill sandboxctl before it restores
     * the terminal and reports the guest's status: the copy of -t output sees
     * EPIPE and drops the rest.  Set after the private daemon was forked
     * (which ignores SIGPIPE itself); the guest starts with every signal at
     * its default, so a guest writing to that pipe still dies of SIGPIPE.
     */
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    _cleanup_close_ int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
    int status = EXIT_SETUP;
    struct run_state st = {
        .conn = &conn,
        .sock = conn.fd,
        .sigfd = sigfd,
        .stats = o.stats,
        .tty = o.tty,
        .detach = o.detach,
        .cmd = cmdc ? cmd[0] : "the image's command",
        .image = image,
        .trace = o.trace || o.learn ? &trace : NULL,
    };
    sbx_tty_init(&st.term, o.interactive);
    if (sigfd < 0) {
        fprintf(stderr, "sandboxctl: signalfd: %s\n", strerror(errno));
    } else {
        /*
         * Where the daemon closed the connection during the request, the
         * frames it sent first say why: the answer to HELLO refusing it, or
         * the request's own refusal.  Signals are read meanwhile, as while
         * the guest runs: a daemon that never answers is left with Ctrl-C.
         */
        int r = send_run(conn.fd, &o, image_fd, cmd, cmdc);
        if (r >= 0 || r == -EPIPE || r == -ECONNRESET)
            status = wait_for_exit(&st);
    }
    /* Every way out of the run comes here: the caller's terminal is restored first. */
    sbx_tty_done(&st.term);
    sbx_conn_close(&conn);
    if (st.trace) {
        sbx_trace_sink_done(st.trace);
        /* A learned policy only of a run that ended as the guest chose, with every call seen. */
        if (o.learn && status != EXIT_SETUP && sbx_trace_learn_finish(st.trace, o.learn) < 0)
            status = EXIT_SETUP;
        free(st.trace->learn);
    }
    return status;
}

/* ---- exec ------------------------------------------------------------------ */

static void usage_exec(FILE *f)
{
    fprintf(f,
            "Usage: sandboxctl exec [OPTIONS] [--] NAME CMD [ARGS...]\n"
            "Runs CMD in the running detached sandbox NAME with this terminal's stdio, as\n"
            "its guest runs: its namespaces, cgroup, identity, policy filter, trampoline.\n\n"
            "  -e, --env KEY=VALUE   set a variable over the sandbox's environment\n"
            "  -t, --tty             give CMD a terminal of its own (a pty in the sandbox)\n"
            "  -i, --interactive     with -t: copy this terminal's input to it\n"
            "  -u, --user USER[:GROUP]  run CMD as USER (a name in the image's /etc/passwd\n"
            "                        or a uid) and GROUP, no supplementary groups; allowed\n"
            "                        as run's --user\n"
            "  --socket PATH         sandboxd's socket (default %s)\n\n"
            "Signals sent to sandboxctl go to CMD. Exit status: CMD's, as for run.\n",
            SBX_DEFAULT_SOCKET);
}

static int send_exec(int sock, const char *target, char **argv, int argc, char **env, uint32_t envc,
                     bool tty, const char *user)
{
    struct sbx_msg_exec m = {
        .target = (char *)target,
        .argv = argv,
        .argc = (uint32_t)argc,
        .env = env,
        .envc = envc,
        .flags = (tty ? SBX_EXEC_TTY : 0) | (user ? SBX_EXEC_USER : 0),
        .user = (char *)user,
    };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_exec_encode(SBX_MSG_EXEC, &m, &b);
    if (r >= 0) {
        int fds[] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO };
        r = sbx_proto_send(sock, &b, fds, ARRAY_SIZE(fds));
    }
    sbx_buf_free(&b);
    if (r < 0)
        fprintf(stderr, "sandboxctl exec: cannot send the request: %s\n", strerror(-r));
    return r;
}

int sbx_cmd_exec(int argc, char **argv)
{
    enum { OPT_SOCKET = 256 };
    static const struct option opts[] = {
        { "env", required_argument, NULL, 'e' },
        { "tty", no_argument, NULL, 't' },
        { "interactive", no_argument, NULL, 'i' },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "user", required_argument, NULL, 'u' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *socket = SBX_DEFAULT_SOCKET;
    bool tty = false, interactive = false;
    const char *user = NULL;
    _cleanup_free_ char **env = calloc(SBX_PROTO_MAX_ARGS + 1, sizeof(char *));
    uint32_t envc = 0;
    int c;
    if (!env)
        return EXIT_SETUP;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+he:tiu:", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            /* The daemon resolves it in the sandbox's image, as run's --user. */
            user = optarg;
            break;
        case 'e':
            if (!strchr(optarg, '=') || optarg[0] == '=') {
                fprintf(stderr, "sandboxctl exec: -e: expected KEY=VALUE, not '%s'\n", optarg);
                return EXIT_SETUP;
            }
            if (envc >= SBX_PROTO_MAX_ARGS) {
                fprintf(stderr, "sandboxctl exec: at most %d -e\n", SBX_PROTO_MAX_ARGS);
                return EXIT_SETUP;
            }
            env[envc++] = optarg;
            break;
        case 't':
            tty = true;
            break;
        case 'i':
            interactive = true;
            break;
        case OPT_SOCKET:
            socket = optarg;
            break;
        case 'h':
            usage_exec(stdout);
            return 0;
        default:
            usage_exec(stderr);
            return EXIT_SETUP;
        }
    }
    if (argc - optind < 2) {
        fprintf(stderr, "sandboxctl exec: expected NAME and CMD\n");
        usage_exec(stderr);
        return EXIT_SETUP;
    }
    const char *target = argv[optind];
    char **cmd = argv + optind + 1;
    int cmdc = argc - optind - 1;
    if (cmdc > SBX_PROTO_MAX_ARGS || strlen(target) > SBX_NAME_MAX) {
        fprintf(stderr, "sandboxctl exec: too many arguments, or no sandbox's name\n");
        return EXIT_SETUP;
    }
    sigset_t mask;
    sbx_sigproxy_set(&mask, tty);
    struct sbx_conn conn;
    struct sbx_error e = { 0 };
    if (sbx_conn_open_running(&conn, socket, "exec", &e) < 0) {
        sbx_conn_report(&e);
        return EXIT_SETUP;
    }
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    _cleanup_close_ int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
    int status = EXIT_SETUP;
    struct run_state st = {
        .conn = &conn,
        .sock = conn.fd,
        .sigfd = sigfd,
        .tty = tty,
        .cmd = cmd[0],
        .image = target,
    };
    sbx_tty_init(&st.term, interactive);
    if (sigfd < 0)
        fprintf(stderr, "sandboxctl: signalfd: %s\n", strerror(errno));
    else if (send_exec(conn.fd, target, cmd, cmdc, env, envc, tty, user) >= 0)
        status = wait_for_exit(&st);
    sbx_tty_done(&st.term);
    sbx_conn_close(&conn);
    return status;
}
