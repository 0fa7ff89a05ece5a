/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The caller as read from its socket at accept: ids and supplementary groups. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/caller.h"
#include "sbx-test.h"
#include "sbx/macro.h"

/*
 * In a child with gid 4141 and groups 4242 and 4343 (the kernel takes both
 * at socketpair()), what sbx_caller_from_socket sees.  Exit status 0 when it
 * is right, else the number of the first check that failed.
 */
static int child_checks(void)
{
    static const gid_t groups[] = { 4242, 4343 };
    if (setgroups(ARRAY_SIZE(groups), groups) < 0 || setresgid(4141, 4141, 4141) < 0)
        return 1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 2;
    struct sbx_caller c;
    if (sbx_caller_from_socket(sv[0], &c) < 0)
        return 3;
    if (c.uid != getuid() || c.gid != 4141 || c.pid != getpid())
        return 4;
    if (c.n_groups != 2)
        return 5;
    if (!sbx_caller_in_group(&c, 4141) || !sbx_caller_in_group(&c, 4242) ||
        !sbx_caller_in_group(&c, 4343))
        return 6;
    if (sbx_caller_in_group(&c, 0) || sbx_caller_in_group(&c, 4444))
        return 7;
    sbx_caller_done(&c);
    if (c.groups || c.n_groups)
        return 8;
    return 0;
}

static void test_groups_from_socket(void)
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0)
        _exit(child_checks());
    int status;
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    if (!SBX_TEST_EXITED(status, 0))
        fprintf(stderr, "\n  child status %#x\n", (unsigned)status);
    CU_ASSERT(SBX_TEST_EXITED(status, 0));
}

/* No descriptor: an error, never a caller with made-up ids. */
static void test_not_a_socket(void)
{
    struct sbx_caller c;
    CU_ASSERT(sbx_caller_from_socket(-1, &c) == -EBADF);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test-caller: needs root to set its groups; skipped\n");
        return 77;
    }
    static const struct sbx_test tests[] = {
        SBX_TEST(test_groups_from_socket),
        SBX_TEST(test_not_a_socket),
    };
    return sbx_test_main("caller", tests, ARRAY_SIZE(tests));
}
