/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The log of a detached sandbox.  The daemon makes one pipe for the guest's
 * stdout and one for its stderr, reads both in its loop and writes every
 * line to STATE/sandboxes/ID/log with the time it was read and its stream:
 *
 *     2026-12-02T00:53:08.123456789Z stdout F a whole line
 *     2026-12-02T00:53:08.123460000Z stderr P the start of a line ...
 *
 * F ends a line of the guest, P is a piece of one that the next record of
 * that stream continues (a line longer than LINE_MAX_BYTES, or what the pipe
 * held when it was read), so that partial lines are kept and the streams
 * never mix within a line.  The guest cannot forge a record: each of its
 * newlines starts a new one.  The log is bounded: when "log" would grow past
 * half of the limit it becomes "log.1" (the old "log.1" goes) and a new
 * "log" is begun, so the oldest bytes are dropped and at most the limit is
 * kept.  Writes are plain write(2)s from the loop: a slow disk slows the
 * guest, which then waits on a full pipe, but a failing one never stops it:
 * what cannot be written is counted and dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/lifecycle.h"
#include "daemon/log.h"
#include "sbx/macro.h"

#define READ_BYTES 16384
#define LINE_MAX_BYTES 8192 /* longer lines are split into P records */
#define PREFIX_MAX 64       /* "TIMESTAMP stdout F " */
#define OUT_BYTES (64 * 1024)

static struct sbx_log_ratelimit log_lines = SBX_LOG_RATELIMIT(5000, 5);

struct outbuf {
    char data[OUT_BYTES];
    size_t len;
};

static void log_write(struct sbx_life *l, struct outbuf *o)
{
    struct sbx_log *g = &l->log;
    size_t done = 0;
    while (g->file_fd >= 0 && done < o->len) {
        ssize_t n = write(g->file_fd, o->data + done, o->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            sbx_log_limited(&log_lines, LOG_WARNING, "sandbox %s: its log cannot be written: %m",
                            l->id);
            break;
        }
        done += (size_t)n;
    }
    g->size += done;
    g->dropped += o->len - done;
    o->len = 0;
}

static void log_rotate(struct sbx_life *l)
{
    struct sbx_log *g = &l->log;
    if (renameat(l->dir_fd, "log", l->dir_fd, "log.1") < 0)
        sbx_log_limited(&log_lines, LOG_WARNING, "sandbox %s: cannot rotate its log: %m", l->id);
    sbx_close(g->file_fd);
    g->file_fd =
        openat(l->dir_fd, "log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (g->file_fd < 0)
        sbx_log_limited(&log_lines, LOG_WARNING, "sandbox %s: cannot begin a new log: %m", l->id);
    g->size = 0;
    sbx_lifecycle_log_rotated(l);
}

/* One record: the prefix, up to LINE_MAX_BYTES of the line, a newline. */
static void emit(struct sbx_life *l, struct outbuf *o, const char *prefix, size_t plen, char kind,
                 const char *text, size_t n)
{
    struct sbx_log *g = &l->log;
    size_t rec = plen + 2 + n + 1;
    if (g->size + o->len + rec > g->half) {
        log_write(l, o);
        log_rotate(l);
    }
    if (o->len + rec > sizeof(o->data))
        log_write(l, o);
    memcpy(o->data + o->len, prefix, plen);
    o->len += plen;
    o->data[o->len++] = kind;
    o->data[o->len++] = ' ';
    memcpy(o->data + o->len, text, n);
    o->len += n;
    o->data[o->len++] = '\n';
}

static size_t timestamp(char *buf, size_t len, const char *tag)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(buf + n, len - n, ".%09ldZ %s ", ts.tv_nsec, tag);
    return n + (size_t)(m > 0 ? m : 0);
}

/* What one read brought, as records: each newline of the guest ends one. */
static void log_chunk(struct sbx_life *l, struct sbx_log_stream *st, const char *p, size_t n)
{
    struct outbuf *o = malloc(sizeof(*o));
    if (!o) {
        l->log.dropped += n;
        return;
    }
    o->len = 0;
    char prefix[PREFIX_MAX];
    size_t plen = timestamp(prefix, sizeof(prefix), st->tag);
    while (n > 0) {
        const char *nl = memchr(p, '\n', n < LINE_MAX_BYTES ? n : LINE_MAX_BYTES);
        size_t len = nl ? (size_t)(nl - p) : (n < LINE_MAX_BYTES ? n : LINE_MAX_BYTES);
        emit(l, o, prefix, plen, nl ? 'F' : 'P', p, len);
        st->partial = !nl;
        len += nl ? 1 : 0;
        p += len;
        n -= len;
    }
    log_write(l, o);
    free(o);
}

static void stream_end(struct sbx_life *l, struct sbx_log_stream *st)
{
    if (st->fd < 0)
        return;
    uv_poll_stop(&st->poll);
    st->fd = sbx_close(st->fd);
    if (l->log.out.fd < 0 && l->log.err.fd < 0)
        sbx_lifecycle_log_ended(l);
}

/* Reads once; false at end of file (or an error, which ends the stream as well). */
static bool stream_read(struct sbx_life *l, struct sbx_log_stream *st)
{
    char buf[READ_BYTES];
    ssize_t n = read(st->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0) {
        stream_end(l, st);
        return false;
    }
    log_chunk(l, st, buf, (size_t)n);
    return (size_t)n == sizeof(buf);
}

static void on_stream(uv_poll_t *h, int status, int events)
{
    struct sbx_life *l = h->data;
    struct sbx_log_stream *st = h == &l->log.out.poll ? &l->log.out : &l->log.err;
    if (status < 0) {
        stream_end(l, st);
        return;
    }
    stream_read(l, st);
}

int sbx_log_open(struct sbx_life *l, uint64_t log_size, struct sbx_error *e)
{
    struct sbx_log *g = &l->log;
    int out[2] = { -EBADF, -EBADF }, err[2] = { -EBADF, -EBADF };
    g->half = log_size / 2;
    g->out = (struct sbx_log_stream){ .fd = -EBADF, .tag = "stdout" };
    g->err = (struct sbx_log_stream){ .fd = -EBADF, .tag = "stderr" };
    g->file_fd =
        openat(l->dir_fd, "log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (g->file_fd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        int r = sbx_error_set_errno(e, errno, "cannot make the sandbox's log");
        sbx_close(out[0]);
        sbx_close(out[1]);
        g->file_fd = sbx_close(g->file_fd);
        return r;
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    g->out.fd = out[0];
    g->err.fd = err[0];
    g->write_out = out[1];
    g->write_err = err[1];
    return 0;
}

/* After the SPEC went: init and the guest hold the write ends, the daemon only reads. */
int sbx_log_start(struct sbx_life *l)
{
    struct sbx_log *g = &l->log;
    g->write_out = sbx_close(g->write_out);
    g->write_err = sbx_close(g->write_err);
    struct sbx_log_stream *sts[] = { &g->out, &g->err };
    for (size_t i = 0; i < ARRAY_SIZE(sts); i++) {
        int r = uv_poll_init(l->d->loop, &sts[i]->poll, sts[i]->fd);
        if (r < 0)
            return r;
        sts[i]->poll.data = l;
        l->handles_open++;
        if ((r = uv_poll_start(&sts[i]->poll, UV_READABLE, on_stream)) < 0)
            return r;
    }
    return 0;
}

bool sbx_log_drained(struct sbx_life *l)
{
    struct sbx_log *g = &l->log;
    for (int i = 0; i < 64 && g->out.fd >= 0 && stream_read(l, &g->out); i++)
        ;
    for (int i = 0; i < 64 && g->err.fd >= 0 && stream_read(l, &g->err); i++)
        ;
    return g->out.fd < 0 && g->err.fd < 0;
}

static void on_poll_closed(uv_handle_t *h)
{
    struct sbx_life *l = h->data;
    if (--l->handles_open == 0 && l->freeing)
        sbx_life_free(l);
}

void sbx_log_close(struct sbx_life *l)
{
    struct sbx_log *g = &l->log;
    struct sbx_log_stream *sts[] = { &g->out, &g->err };
    for (size_t i = 0; i < ARRAY_SIZE(sts); i++) {
        if (sts[i]->poll.data && !uv_is_closing((uv_handle_t *)&sts[i]->poll))
            uv_close((uv_handle_t *)&sts[i]->poll, on_poll_closed);
        sts[i]->fd = sbx_close(sts[i]->fd);
    }
    g->write_out = sbx_close(g->write_out);
    g->write_err = sbx_close(g->write_err);
    g->file_fd = sbx_close(g->file_fd);
}

int sbx_log_files(struct sbx_life *l, int fds[2])
{
    int n = 0;
    const char *names[] = { "log.1", "log" };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        int fd = openat(l->dir_fd, names[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd < 0) {
            int r = sbx_neg_errno();
            while (n > 0)
                sbx_close(fds[--n]);
            return r;
        }
        fds[n++] = fd;
    }
    return n;
}
