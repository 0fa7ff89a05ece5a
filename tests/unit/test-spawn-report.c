/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a child that fails between fork and exec tells its parent. */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/spawn-report.h"
#include "sbx-test.h"
#include "sbx/macro.h"

/* Forks; the child runs child() with the pipe's write end.  Returns the wait status. */
static int run_child(void (*child)(int report), int fds[2])
{
    CU_ASSERT_FATAL(sbx_spawn_report_open(fds) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    int status;
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    return status;
}

static void fail_cgroup(int report)
{
    errno = EACCES;
    sbx_spawn_fail(report, SBX_SPAWN_CGROUP);
}

static void test_failure_is_named(void)
{
    int fds[2];
    int st = run_child(fail_cgroup, fds);
    CU_ASSERT(SBX_TEST_EXITED(st, SBX_SPAWN_EXIT_STATUS));
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    CU_ASSERT(sbx_spawn_report_read(fds[0], &e) == 1);
    CU_ASSERT_STRING_EQUAL(msg, "cannot join its v1 cgroups: Permission denied");
    CU_ASSERT_EQUAL(e.err, EACCES);
    close(fds[0]);
}

static void exec_true(int report)
{
    char *const argv[] = { "true", NULL };
    execv("/bin/true", argv);
    sbx_spawn_fail(report, SBX_SPAWN_EXEC);
}

static void exec_missing(int report)
{
    char *const argv[] = { "missing", NULL };
    execv("/nonexistent/program", argv);
    sbx_spawn_fail(report, SBX_SPAWN_EXEC);
}

/* exec closes the pipe: a child that became its program reports nothing. */
static void test_exec_reports_nothing(void)
{
    int fds[2];
    int st = run_child(exec_true, fds);
    CU_ASSERT(SBX_TEST_EXITED(st, 0));
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    CU_ASSERT(sbx_spawn_report_read(fds[0], &e) == 0);
    CU_ASSERT_STRING_EQUAL(msg, "");
    close(fds[0]);
}

static void test_exec_failure(void)
{
    int fds[2];
    int st = run_child(exec_missing, fds);
    CU_ASSERT(SBX_TEST_EXITED(st, SBX_SPAWN_EXIT_STATUS));
    struct sbx_error e = { 0 };
    const char *msg = e.msg;
    CU_ASSERT(sbx_spawn_report_read(fds[0], &e) == 1);
    CU_ASSERT_STRING_EQUAL(msg, "cannot exec its program: No such file or directory");
    close(fds[0]);
}

/* The parent never blocks: a pipe whose writer is still alive reads as no report. */
static void test_read_never_blocks(void)
{
    int fds[2];
    CU_ASSERT_FATAL(sbx_spawn_report_open(fds) == 0);
    struct sbx_error e = { 0 };
    CU_ASSERT(sbx_spawn_report_read(fds[0], &e) == 0);
    CU_ASSERT(sbx_spawn_report_read(-EBADF, &e) == 0);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    static const struct sbx_test tests[] = {
        SBX_TEST(test_failure_is_named),
        SBX_TEST(test_exec_reports_nothing),
        SBX_TEST(test_exec_failure),
        SBX_TEST(test_read_never_blocks),
    };
    return sbx_test_main("spawn-report", tests, ARRAY_SIZE(tests));
}
