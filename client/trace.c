/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Draining the trace ring (include/sbx/trace.h) in sandboxctl.  The ring is
 * written by the guest's trampoline, so nothing in it is trusted: head is
 * clamped to one ring ahead of our own tail, a record counts only when its
 * seq says it is complete, and every field is checked by the formatter.
 * An incomplete record (its writer was killed mid-write, or a guest
 * scribbled on it) is skipped when the ring is full or at the end, so the
 * guest can never hold the drainer back.
 */
#include "client/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sbx/macro.h"

int sbx_trace_sink_open(struct sbx_trace_sink *s, const char *arg)
{
    *s = (struct sbx_trace_sink){ .out = stderr };
    s->filter.all = true;
    if (!arg || !*arg)
        return 0;
    const char *colon = strchr(arg, ':');
    size_t flen = colon ? (size_t)(colon - arg) : strlen(arg);
    if (colon) {
        struct sbx_error e = { 0 };
        if (sbx_trace_filter_parse(&s->filter, colon + 1, &e) < 0) {
            fprintf(stderr, "sandboxctl: --trace: %s\n", e.msg);
            return -EINVAL;
        }
    }
    if (flen == 0 || (flen == 1 && arg[0] == '-'))
        return 0;
    char *path = strndup(arg, flen);
    if (!path)
        return -ENOMEM;
    /* Opened as the caller, never handed to the guest. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0 || !(s->out = fdopen(fd, "w"))) {
        int e = errno;
        fprintf(stderr, "sandboxctl: --trace: cannot open %s: %s\n", path, strerror(e));
        if (fd >= 0)
            close(fd);
        free(path);
        return -e;
    }
    free(path);
    s->close_out = true;
    return 0;
}

int sbx_trace_sink_attach(struct sbx_trace_sink *s, int memfd)
{
    _cleanup_close_ int fd = memfd;
    struct stat st;
    if (s->ring || fstat(fd, &st) < 0 || st.st_size <= (off_t)SBX_TRACE_OFFSET)
        return -EINVAL;
    uint64_t bytes = (uint64_t)st.st_size - SBX_TRACE_OFFSET;
    uint64_t nrec = sbx_trace_nrec(bytes);
    if (nrec == 0)
        return -EINVAL;
    size_t len = (size_t)SBX_TRACE_RING_SIZE(nrec);
    /*
     * Allocate the ring's pages now, in one call, rather than one page fault
     * each in the guest on its first lap (a 4 KiB page is 16 records: its
     * fault cost the traced call a quarter of its time).  Within the sealed
     * size; where it fails, the guest's faults allocate them as before.
     */
    (void)fallocate(fd, 0, SBX_TRACE_OFFSET, (off_t)len);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, SBX_TRACE_OFFSET);
    if (m == MAP_FAILED)
        return -errno;
    s->ring = m;
    s->map_len = len;
    s->nrec = nrec;
    s->tail = __atomic_load_n(&s->ring->tail, __ATOMIC_ACQUIRE);
    return 0;
}

static void emit(struct sbx_trace_sink *s, const struct sbx_trace_rec *r)
{
    bool sig = r->kind == SBX_TRACE_SIGNAL;
    if (s->learn && !sig)
        sbx_learn_add(s->learn, r->nr, r->args);
    char line[1024];
    int pid, signo;
    bool core;
    /* A death by a signal, known from the parent's wait4: shown whatever the list, as strace. */
    if (s->out && sbx_trace_reaped_killed(r, &pid, &signo, &core)) {
        sbx_trace_format_killed(signo, core, line, sizeof(line));
        fprintf(s->out, "[pid %d] %s\n", pid, line);
    }
    /* Signals are shown whatever the list, as strace does. */
    if (!s->out || (!sig && !sbx_trace_filter_match(&s->filter, r->nr)))
        return;
    sbx_trace_format(r, line, sizeof(line));
    fprintf(s->out, "[pid %d] %s\n", r->tid, line);
    if (!sig && r->nr == SYS_exit_group && (r->flags & SBX_TRACE_NORET))
        fprintf(s->out, "[pid %d] +++ exited with %d +++\n", r->tid, (int)(r->args[0] & 0xff));
}

void sbx_trace_sink_drain(struct sbx_trace_sink *s, bool final)
{
    if (!s->ring)
        return;
    struct sbx_trace_ring *rg = s->ring;
    uint64_t head = __atomic_load_n(&rg->head, __ATOMIC_ACQUIRE);
    /* A head behind us or more than a ring ahead is the guest's scribbling. */
    if (head - s->tail > s->nrec)
        head = s->tail + s->nrec;
    s->busy = head - s->tail >= s->nrec / 4;
    while (s->tail != head) {
        struct sbx_trace_rec *slot = &rg->rec[s->tail & (s->nrec - 1)];
        if (__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) == s->tail + 1) {
            struct sbx_trace_rec r;
            memcpy(&r, slot, sizeof(r));
            emit(s, &r);
        } else if (final || head - s->tail == s->nrec) {
            s->skipped++;
        } else {
            break;
        }
        s->tail++;
    }
    /*
     * Released once per drain: a store per record would pull the header's
     * cache line away from the producers, which read tail on every call.
     */
    __atomic_store_n(&rg->tail, s->tail, __ATOMIC_RELEASE);
    if (s->out)
        fflush(s->out);
}

void sbx_trace_sink_killed(struct sbx_trace_sink *s, int sig)
{
    if (!s->ring || !s->out)
        return;
    char line[128];
    sbx_trace_sink_drain(s, true);
    sbx_trace_format_killed(sig, false, line, sizeof(line));
    fprintf(s->out, "[pid 2] %s\n", line);
}

void sbx_trace_sink_done(struct sbx_trace_sink *s)
{
    if (s->ring) {
        sbx_trace_sink_drain(s, true);
        uint64_t dropped = __atomic_load_n(&s->ring->dropped, __ATOMIC_RELAXED);
        s->dropped = dropped;
        if (dropped || s->skipped)
            fprintf(s->out ? s->out : stderr,
                    "sandboxctl: --trace: %llu calls not recorded (the trace ring of %llu "
                    "records was full), %llu records left incomplete\n",
                    (unsigned long long)dropped, (unsigned long long)s->nrec,
                    (unsigned long long)s->skipped);
        munmap(s->ring, s->map_len);
        s->ring = NULL;
    }
    if (s->out)
        fflush(s->out);
    if (s->close_out && s->out)
        fclose(s->out);
    s->out = NULL;
}

#define LEARN_MAX_FILE (1024 * 1024)

int sbx_trace_learn_begin(struct sbx_trace_sink *s, const char *path)
{
    s->learn = calloc(1, sizeof(*s->learn));
    if (!s->learn)
        return -ENOMEM;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "sandboxctl: --learn: cannot open %s: %s\n", path, strerror(errno));
        return -errno;
    }
    char *text = malloc(LEARN_MAX_FILE + 1);
    if (!text)
        return -ENOMEM;
    ssize_t n = read(fd, text, LEARN_MAX_FILE + 1);
    if (n < 0 || n > LEARN_MAX_FILE) {
        fprintf(stderr, "sandboxctl: --learn: cannot read %s: %s\n", path,
                n < 0 ? strerror(errno) : "larger than 1 MiB");
        free(text);
        return n < 0 ? -errno : -EFBIG;
    }
    text[n] = '\0';
    struct sbx_error e = { 0 };
    int r = sbx_learn_merge(s->learn, text, &e);
    free(text);
    if (r < 0)
        fprintf(stderr, "sandboxctl: --learn: %s: %s\n", path, e.msg);
    return r;
}

int sbx_trace_learn_finish(struct sbx_trace_sink *s, const char *path)
{
    if (!s->learn)
        return 0;
    if (s->dropped || s->skipped) {
        fprintf(stderr,
                "sandboxctl: --learn: %s not written: %llu calls were not recorded, the policy "
                "would miss them\n",
                path, (unsigned long long)(s->dropped + s->skipped));
        return -ENOBUFS;
    }
    s->learn->runs++;
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, len + 16, "%s.tmpXXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int r = f ? -EIO : -errno;
    if (f) {
        r = sbx_learn_write(s->learn, "learned", f);
        fchmod(fd, 0644);
        if (fclose(f) != 0 && r == 0)
            r = -EIO;
        if (r == 0 && rename(tmp, path) < 0)
            r = -errno;
    } else if (fd >= 0) {
        close(fd);
    }
    if (r < 0) {
        fprintf(stderr, "sandboxctl: --learn: cannot write %s: %s\n", path, strerror(-r));
        if (fd >= 0)
            unlink(tmp);
    }
    free(tmp);
    free(s->learn);
    s->learn = NULL;
    return r;
}
