/* Daemon logging: one line per event on stderr, with a syslog priority prefix under systemd. */
#include "daemon/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int log_max_level = LOG_INFO;
static bool log_journal;

void sbx_log_init(int max_level)
{
    log_max_level = max_level;
    /* systemd sets JOURNAL_STREAM when stderr goes to the journal; "<N>" then sets the priority. */
    log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void sbx_log(int level, const char *fmt, ...)
{
    if (level > log_max_level)
        return;
    int saved = errno;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (log_journal)
        fprintf(stderr, "<%d>%s\n", level, line);
    else
        fprintf(stderr, "sandboxd: %s\n", line);
    errno = saved;
}
