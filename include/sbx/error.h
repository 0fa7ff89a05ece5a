/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one way an error travels up in the hosted code and in sbx-init: a
 * positive errno and a message, filled by the code that knows what failed and
 * prefixed with context by each caller on the way up.  Header-only, with
 * nothing but vsnprintf, strerror and memmove, so that the static sbx-init
 * links it as the daemon does.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Big enough for a policy's diagnostics, which travel as one message. */
#define SBX_ERROR_MSG_MAX 4096

struct sbx_error {
    int err;                     /* positive errno; 0 while nothing failed */
    char msg[SBX_ERROR_MSG_MAX]; /* what failed, on what, and why */
};

static inline int sbx_error_errno(int err)
{
    if (err < 0)
        err = -err;
    return err ? err : EIO;
}

/*
 * Sets e to err (either sign; 0 counts as EIO) and the formatted message,
 * replacing what e held.  Returns -errno, for "return sbx_error_set(...)".
 */
static inline __attribute__((format(printf, 3, 0))) int sbx_error_setv(struct sbx_error *e, int err,
                                                                       const char *fmt, va_list ap)
{
    e->err = sbx_error_errno(err);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    return -e->err;
}

static inline __attribute__((format(printf, 3, 4))) int sbx_error_set(struct sbx_error *e, int err,
                                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = sbx_error_setv(e, err, fmt, ap);
    va_end(ap);
    return r;
}

/* As sbx_error_set, with ": " and strerror(err) after the message. */
static inline __attribute__((format(printf, 3, 4))) int
sbx_error_set_errno(struct sbx_error *e, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sbx_error_setv(e, err, fmt, ap);
    va_end(ap);
    size_t n = strlen(e->msg);
    snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(e->err));
    return -e->err;
}

/*
 * Puts the formatted context and ": " in front of e's message ("loop device: "
 * + what the callee said), keeping its errno; with an empty message, the
 * context alone.  What does not fit is cut from the end.  Returns -errno.
 */
static inline __attribute__((format(printf, 2, 3))) int sbx_error_wrap(struct sbx_error *e,
                                                                       const char *fmt, ...)
{
    char out[SBX_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sizeof(out), fmt, ap);
    va_end(ap);
    e->err = sbx_error_errno(e->err);
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used < sizeof(out) - 1 && e->msg[0]) {
        /* Copied by hand: snprintf of a message into a buffer its own size warns. */
        const char *from[] = { ": ", e->msg };
        for (size_t i = 0; i < 2; i++)
            for (const char *c = from[i]; *c && used < sizeof(out) - 1; c++)
                out[used++] = *c;
        out[used] = '\0';
    }
    memcpy(e->msg, out, sizeof(e->msg));
    return -e->err;
}

/* A message for a failure that e may not have described: its message, or strerror(r). */
static inline const char *sbx_error_msg(const struct sbx_error *e, int r)
{
    return e->msg[0] ? e->msg : strerror(sbx_error_errno(r));
}
