/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signals to processes outside: PID is a host process (the host's pid
 * namespace numbers it); with `all`, kill(-1, SIGKILL) too, which signals
 * every process the caller may.  Whether PID still lives is the host's to
 * check.
 */
#include <sys/syscall.h>

#include "escape.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        esc_usage(argv[0], "PID [all]");
    pid_t pid = (pid_t)atoi(argv[1]);
    /* pidfd_open first: after a signal that worked there is nothing to open. */
    esc_report("pidfd_open", syscall(SYS_pidfd_open, pid, 0));
    esc_report("kill", kill(pid, SIGKILL));
    esc_report("tgkill", syscall(SYS_tgkill, pid, pid, SIGKILL));
    if (argc > 2 && strcmp(argv[2], "all") == 0)
        esc_report("kill-all", kill(-1, SIGKILL));
    return 0;
}
