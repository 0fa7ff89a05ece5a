/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The clock and the names: the wall clock set to 1 January 2001, the
 * hostname and the NIS domain name set to sbx-escaped.  The host checks its
 * own clock and hostname afterwards; there is no control run.
 */
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>

#include "escape.h"

int main(void)
{
    struct timeval tv = { .tv_sec = 978307200 };
    esc_report("settimeofday", settimeofday(&tv, NULL));
    struct timespec ts = { .tv_sec = 978307200 };
    esc_report("clock_settime", clock_settime(CLOCK_REALTIME, &ts));
    struct timex tx = { .modes = ADJ_OFFSET, .offset = 1000000 };
    esc_report("adjtimex", adjtimex(&tx));
    esc_report("sethostname", sethostname("sbx-escaped", 11));
    esc_report("setdomainname", setdomainname("sbx-escaped", 11));
    return 0;
}
