/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Daemon logging: one line per event on stderr, with a syslog priority prefix under systemd. */
#include "daemon/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int log_max_level = LOG_INFO;
static bool log_journal;

void sbx_log_init(int max_level)
{
    log_max_level = max_level;
    /* systemd sets JOURNAL_STREAM when stderr goes to the journal; "<N>" then sets the priority. */
    log_journal = getenv("JOURNAL_STREAM") != NULL;
}

__attribute__((format(printf, 2, 0))) static void log_v(int level, const char *fmt, va_list ap)
{
    int saved = errno;
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    if (log_journal)
        fprintf(stderr, "<%d>%s\n", level, line);
    else
        fprintf(stderr, "sandboxd: %s\n", line);
    errno = saved;
}

void sbx_log(int level, const char *fmt, ...)
{
    if (level > log_max_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_v(level, fmt, ap);
    va_end(ap);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sbx_log_limited(struct sbx_log_ratelimit *rl, int level, const char *fmt, ...)
{
    if (level > log_max_level)
        return;
    uint64_t now = now_ms();
    if (rl->begin_ms == 0 || now - rl->begin_ms >= rl->interval_ms) {
        if (rl->dropped)
            sbx_log(level, "(%u more lines of this kind were dropped)", rl->dropped);
        rl->begin_ms = now ? now : 1;
        rl->used = 0;
        rl->dropped = 0;
    }
    if (rl->used >= rl->burst) {
        rl->dropped++;
        return;
    }
    rl->used++;
    va_list ap;
    va_start(ap, fmt);
    log_v(level, fmt, ap);
    va_end(ap);
}
