/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared CUnit scaffolding: one suite per test binary, and a helper that runs
 * a test body in a forked child with a timeout, for tests that install
 * seccomp filters, change credentials or expect a signal.
 */
#pragma once

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

struct sbx_test {
    const char *name;
    void (*fn)(void);
};

/*
 * Runs fn in a child process.  The child exits with fn's return value; a
 * child that has not finished after timeout_s seconds is killed with
 * SIGKILL.  Returns the raw wait status, or -1 when fork failed.
 */
static inline int sbx_test_fork(int (*fn)(void *), void *arg, unsigned timeout_s)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        alarm(timeout_s);
        _exit(fn(arg));
    }
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

#define SBX_TEST(fn) { #fn, fn }
