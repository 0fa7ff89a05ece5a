/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl logs [-f] [--tail N] [--timestamps] NAME: sandboxd answers with
 * the log's files as read-only fds (LOG), oldest first, and, following, with
 * the new file each time it begins one and with EXIT at the sandbox's end.
 * Each record of the files is "TIMESTAMP STREAM F|P TEXT" (daemon/logs.c):
 * the text goes to stdout or stderr as the guest wrote it, P records without
 * the newline they end in.
 */
#include "client/cmd-logs.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ctl.h"
#include "sbx-config.h"
#include "sbx/macro.h"

#define FOLLOW_POLL_MS 200

struct logs {
    bool timestamps;
    bool at_line_start[2]; /* per stream: the next text begins a line */
    char *pending;         /* bytes of a record not yet complete */
    size_t n_pending;
};

/* One record; a line that is not a record (a damaged log) is skipped. */
static void print_record(struct logs *lg, const char *p, size_t n)
{
    const char *ts_end = memchr(p, ' ', n);
    if (!ts_end)
        return;
    size_t rest = n - (size_t)(ts_end + 1 - p);
    const char *stream = ts_end + 1;
    int which;
    if (rest >= 9 && strncmp(stream, "stdout ", 7) == 0)
        which = 0;
    else if (rest >= 9 && strncmp(stream, "stderr ", 7) == 0)
        which = 1;
    else
        return;
    char kind = stream[7];
    if ((kind != 'F' && kind != 'P') || stream[8] != ' ')
        return;
    const char *text = stream + 9;
    size_t tlen = rest - 9;
    FILE *out = which ? stderr : stdout;
    if (lg->timestamps && lg->at_line_start[which])
        fprintf(out, "%.*s ", (int)(ts_end - p), p);
    fwrite(text, 1, tlen, out);
    if (kind == 'F')
        fputc('\n', out);
    lg->at_line_start[which] = kind == 'F';
}

/* Every complete record in buf; returns how many bytes were used. */
static size_t print_records(struct logs *lg, const char *buf, size_t n)
{
    size_t used = 0;
    const char *nl;
    while ((nl = memchr(buf + used, '\n', n - used))) {
        print_record(lg, buf + used, (size_t)(nl - (buf + used)));
        used = (size_t)(nl - buf) + 1;
    }
    return used;
}

/* Reads fd to its current end, printing complete records; keeps a partial one. */
static int drain(struct logs *lg, int fd)
{
    for (;;) {
        char *p = realloc(lg->pending, lg->n_pending + 65536);
        if (!p)
            return -ENOMEM;
        lg->pending = p;
        ssize_t n = read(fd, p + lg->n_pending, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        lg->n_pending += (size_t)n;
        size_t used = print_records(lg, lg->pending, lg->n_pending);
        memmove(lg->pending, lg->pending + used, lg->n_pending - used);
        lg->n_pending -= used;
    }
    fflush(stdout);
    fflush(stderr);
    return 0;
}

/* The whole of fd, appended to *buf. */
static int slurp(int fd, char **buf, size_t *len)
{
    for (;;) {
        char *p = realloc(*buf, *len + 65536);
        if (!p)
            return -ENOMEM;
        *buf = p;
        ssize_t n = read(fd, p + *len, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        *len += (size_t)n;
    }
}

/*
 * --tail N: the records after the one that ends the (N+1)-th line from the
 * end, so that the last N lines are printed whole.
 */
static size_t tail_start(const char *buf, size_t len, unsigned lines)
{
    unsigned seen = 0;
    size_t end = len;
    while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && buf[start - 1] != '\n')
            start--;
        /* A record "TS STREAM F ..." ends a line. */
        const char *sp = memchr(buf + start, ' ', end - start);
        if (sp && (size_t)(buf + end - sp) > 8 && sp[8] == 'F' && ++seen > lines)
            return end;
        end = start;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: sandboxctl logs [OPTIONS] NAME|ID\n"
            "Prints what a detached sandbox wrote to stdout and stderr, each to its own.\n\n"
            "  -f, --follow       go on printing what comes until the sandbox ends\n"
            "  --tail N           only the last N lines\n"
            "  --timestamps       each line after the time sandboxd read it (UTC)\n"
            "  --socket PATH      sandboxd's socket (default %s)\n",
            SBX_DEFAULT_SOCKET);
}

/* The fds of a LOG frame, which are taken out of f. */
static int log_fds(struct sbx_frame *f, int fds[2], unsigned *n)
{
    struct sbx_msg_log m;
    if (f->type != SBX_MSG_LOG || sbx_msg_log_decode(f, &m) < 0 || m.count != f->n_fds ||
        m.count > 2)
        return -EBADMSG;
    for (unsigned i = 0; i < m.count; i++)
        fds[i] = TAKE_FD(f->fds[i]);
    *n = m.count;
    return 0;
}

/* Follows the current file until sandboxd says the sandbox has ended. */
static int follow(struct logs *lg, int sock, int fd)
{
    for (;;) {
        if (drain(lg, fd) < 0)
            return SBX_CTL_EXIT_ERROR;
        struct pollfd p = { .fd = sock, .events = POLLIN };
        int r = poll(&p, 1, FOLLOW_POLL_MS);
        if (r < 0 && errno != EINTR)
            return SBX_CTL_EXIT_ERROR;
        if (r <= 0)
            continue;
        struct sbx_frame f;
        if (sbx_ctl_recv(sock, "logs", &f) < 0)
            return SBX_CTL_EXIT_ERROR;
        int fds[2];
        unsigned n = 0;
        if (f.type == SBX_MSG_EXIT) {
            sbx_frame_clear(&f);
            drain(lg, fd);
            return 0;
        }
        if (log_fds(&f, fds, &n) < 0 || n != 1) {
            fprintf(stderr, "sandboxctl logs: unexpected answer from sandboxd\n");
            for (unsigned i = 0; i < n; i++)
                close(fds[i]);
            sbx_frame_clear(&f);
            return SBX_CTL_EXIT_ERROR;
        }
        sbx_frame_clear(&f);
        /* The old file is complete: the rest of it, then the new one. */
        drain(lg, fd);
        close(fd);
        fd = fds[0];
    }
}

int sbx_cmd_logs(int argc, char **argv)
{
    enum { OPT_SOCKET = 256, OPT_TAIL, OPT_TIMESTAMPS };
    static const struct option opts[] = {
        { "follow", no_argument, NULL, 'f' },
        { "tail", required_argument, NULL, OPT_TAIL },
        { "timestamps", no_argument, NULL, OPT_TIMESTAMPS },
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    const char *socket = SBX_DEFAULT_SOCKET;
    bool follow_it = false, tail = false;
    uint32_t lines = 0;
    struct logs lg = { .at_line_start = { true, true } };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            follow_it = true;
            break;
        case OPT_TAIL:
            if (sbx_ctl_parse_uint(optarg, UINT32_MAX - 1, &lines) < 0) {
                fprintf(stderr, "sandboxctl logs: --tail: expected a number of lines, not '%s'\n",
                        optarg);
                return 2;
            }
            tail = true;
            break;
        case OPT_TIMESTAMPS:
            lg.timestamps = true;
            break;
        case OPT_SOCKET:
            socket = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "sandboxctl logs: expected one NAME or ID\n");
        return 2;
    }
    struct sbx_conn conn;
    if (sbx_ctl_request(&conn, socket, "logs", SBX_MSG_LOGS, argv[optind],
                        follow_it ? SBX_CTL_FOLLOW : 0, 0) < 0)
        return SBX_CTL_EXIT_ERROR;
    int status = SBX_CTL_EXIT_ERROR;
    struct sbx_frame f;
    int fds[2];
    unsigned n = 0;
    _cleanup_free_ char *all = NULL;
    size_t len = 0;
    if (sbx_ctl_recv(conn.fd, "logs", &f) < 0)
        goto out;
    if (log_fds(&f, fds, &n) < 0) {
        fprintf(stderr, "sandboxctl logs: unexpected answer from sandboxd\n");
        sbx_frame_clear(&f);
        goto out;
    }
    sbx_frame_clear(&f);
    /* What the files hold now, the last N lines of it with --tail. */
    for (unsigned i = 0; i < n; i++)
        if (slurp(fds[i], &all, &len) < 0)
            goto out_fds;
    size_t complete = len;
    while (complete > 0 && all[complete - 1] != '\n')
        complete--;
    size_t from = tail ? tail_start(all, complete, lines) : 0;
    print_records(&lg, all + from, complete - from);
    fflush(stdout);
    fflush(stderr);
    lg.pending = malloc(len - complete + 1);
    if (!lg.pending)
        goto out_fds;
    memcpy(lg.pending, all + complete, len - complete);
    lg.n_pending = len - complete;
    status = 0;
    if (follow_it && n > 0) {
        status = follow(&lg, conn.fd, fds[n - 1]);
        fds[n - 1] = -EBADF;
    }
out_fds:
    for (unsigned i = 0; i < n; i++)
        sbx_close(fds[i]);
out:
    free(lg.pending);
    sbx_conn_close(&conn);
    return status;
}
