/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fork + wait, and exit statuses and signals seen through wait. */
#include <signal.h>
#include <sys/wait.h>

#include "guest.h"

static int child_status(int how)
{
    pid_t pid = fork();
    GUEST_CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (how < 0) {
            raise(-how);
            _exit(99);
        }
        _exit(how);
    }
    int st;
    GUEST_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    return st;
}

int main(void)
{
    guest_name = "fork";
    static const int codes[] = { 0, 1, 42, 255 };
    for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        int st = child_status(codes[i]);
        GUEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == codes[i], "exit %d: status %#x", codes[i],
                    st);
    }
    int st = child_status(-SIGTERM);
    GUEST_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "SIGTERM: status %#x", st);
    /* A forked child keeps working syscalls, including another fork. */
    pid_t pid = fork();
    GUEST_CHECK(pid >= 0, "fork");
    if (pid == 0)
        _exit(WEXITSTATUS(child_status(7)) == 7 ? 0 : 1);
    GUEST_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "nested fork: %#x", st);
    return guest_pass();
}
