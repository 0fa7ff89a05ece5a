/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared CUnit scaffolding: one suite per test binary, and a helper that runs
 * a test body in a forked child with a timeout, for tests that install
 * seccomp filters, change credentials or expect a signal.
 */
#pragma once

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct sbx_test {
    const char *name;
    void (*fn)(void);
};

/*
 * Runs fn in a child process.  The child exits with fn's return value; a
 * child that has not finished after timeout_s seconds is killed with
 * SIGKILL by the parent, which a body cannot block or catch (an alarm in the
 * child could be).  Returns the raw wait status, or -1 when fork failed.
 */
static inline int sbx_test_fork(int (*fn)(void *), void *arg, unsigned timeout_s)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        _exit(fn(arg));
    /* A pidfd becomes readable when the child exits: poll it against the deadline. */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    struct timespec end, now;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout_s;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
        if (left <= 0) {
            fprintf(stderr, "test body still running after %u s: killed\n", timeout_s);
            kill(pid, SIGKILL);
            break;
        }
        if (pidfd >= 0) {
            int r = poll(&p, 1, (int)left);
            if (r > 0 || (r < 0 && errno != EINTR))
                break;
        } else {
            /* Without a pidfd (an old kernel), look every 10 ms. */
            siginfo_t si = { 0 };
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT | WNOHANG) == 0 && si.si_pid == pid)
                break;
            usleep(10000);
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    return status;
}

#define SBX_TEST_EXITED(st, code) (WIFEXITED(st) && WEXITSTATUS(st) == (code))
#define SBX_TEST_SIGNALED(st, sig) (WIFSIGNALED(st) && WTERMSIG(st) == (sig))

static inline int sbx_test_main(const char *suite_name, const struct sbx_test *tests, size_t n)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
    if (!suite)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (!CU_add_test(suite, tests[i].name, tests[i].fn))
            goto out;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
out:;
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    int err = CU_get_error();
    CU_cleanup_registry();
    return err ? err : (failed ? 1 : 0);
}

#define SBX_TEST(fn)                                                                               \
    {                                                                                              \
#fn, fn                                                                                    \
    }
