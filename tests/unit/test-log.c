/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Daemon logging: the rate limit for lines that clients can cause. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/log.h"
#include "sbx-test.h"
#include "sbx/macro.h"

/*
 * Runs fn with stderr going to a memfd and returns what it wrote, in buf.
 * The tests run in one process: stderr is put back afterwards.
 */
static void capture(void (*fn)(void), char *buf, size_t len)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int mem = memfd_create("log", MFD_CLOEXEC);
    CU_ASSERT_FATAL(saved >= 0 && mem >= 0);
    dup2(mem, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(mem, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(mem);
}

static unsigned count_lines(const char *s)
{
    unsigned n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static struct sbx_log_ratelimit rl;

static void burst_of_100(void)
{
    for (int i = 0; i < 100; i++)
        sbx_log_limited(&rl, LOG_INFO, "line %d", i);
}

static void after_the_interval(void)
{
    usleep(250 * 1000);
    sbx_log_limited(&rl, LOG_INFO, "line %d", 100);
}

static void debug_lines(void)
{
    for (int i = 0; i < 10; i++)
        sbx_log_limited(&rl, LOG_DEBUG, "debug %d", i);
    sbx_log_limited(&rl, LOG_INFO, "info");
}

static void test_ratelimit_burst_then_report(void)
{
    char buf[8192];
    sbx_log_init(LOG_INFO);
    rl = (struct sbx_log_ratelimit)SBX_LOG_RATELIMIT(200, 3);
    capture(burst_of_100, buf, sizeof(buf));
    CU_ASSERT_EQUAL(3, count_lines(buf));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "sandboxd: line 0\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "sandboxd: line 2\n"));
    CU_ASSERT_PTR_NULL(strstr(buf, "line 3"));

    /* The next interval starts with how many were dropped, then the line itself. */
    capture(after_the_interval, buf, sizeof(buf));
    CU_ASSERT_STRING_EQUAL("sandboxd: (97 more lines of this kind were dropped)\n"
                           "sandboxd: line 100\n",
                           buf);
}

static void test_ratelimit_ignores_lines_below_the_level(void)
{
    char buf[8192];
    sbx_log_init(LOG_INFO);
    rl = (struct sbx_log_ratelimit)SBX_LOG_RATELIMIT(60000, 1);
    capture(debug_lines, buf, sizeof(buf));
    /* Debug lines are not written and use none of the burst. */
    CU_ASSERT_STRING_EQUAL("sandboxd: info\n", buf);
}

int main(void)
{
    /* Plain "sandboxd: " lines, also when the tests run under systemd. */
    unsetenv("JOURNAL_STREAM");
    static const struct sbx_test tests[] = {
        SBX_TEST(test_ratelimit_burst_then_report),
        SBX_TEST(test_ratelimit_ignores_lines_below_the_level),
    };
    return sbx_test_main("log", tests, ARRAY_SIZE(tests));
}
