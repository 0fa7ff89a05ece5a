/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Daemon logging: one line per event on stderr, with a syslog priority prefix under systemd. */
#pragma once

#include <stdint.h>
#include <syslog.h>

#include "sbx/macro.h"

void sbx_log_init(int max_level);
void sbx_log(int level, const char *fmt, ...) _printf_(2, 3);

/*
 * A rate limit for lines that a client can cause over and over: at most
 * burst lines per interval; the rest of the interval is dropped, and the
 * first line of a later interval says how many were.  One limit is shared by
 * every line of a kind, so that many clients together cannot flood the log.
 */
struct sbx_log_ratelimit {
    uint64_t interval_ms;
    unsigned burst;
    uint64_t begin_ms; /* start of the current interval; 0 before the first line */
    unsigned used;     /* lines written in it */
    unsigned dropped;  /* lines dropped in it */
};
#define SBX_LOG_RATELIMIT(interval, n)                                                             \
    {                                                                                              \
        .interval_ms = (interval), .burst = (n)                                                    \
    }

/* sbx_log() within the limit rl; a line above the log level costs nothing. */
void sbx_log_limited(struct sbx_log_ratelimit *rl, int level, const char *fmt, ...) _printf_(3, 4);

#define sbx_err(...) sbx_log(LOG_ERR, __VA_ARGS__)
#define sbx_warn(...) sbx_log(LOG_WARNING, __VA_ARGS__)
#define sbx_info(...) sbx_log(LOG_INFO, __VA_ARGS__)
#define sbx_debug(...) sbx_log(LOG_DEBUG, __VA_ARGS__)
