/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfork + exec of this program, and posix_spawn of it: the child's exit code comes back. */
#include <spawn.h>
#include <sys/wait.h>

#include "guest.h"

extern char **environ;

int main(int argc, char **argv)
{
    guest_name = "vfork";
    if (argc > 1 && !strcmp(argv[1], "child"))
        return argc > 2 ? atoi(argv[2]) : 3;

    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    GUEST_CHECK(n > 0, "readlink /proc/self/exe");
    self[n] = '\0';

    pid_t pid = vfork();
    if (pid == 0) {
        execl(self, "vfork", "child", "7", (char *)NULL);
        _exit(127);
    }
    GUEST_CHECK(pid > 0, "vfork");
    int st;
    GUEST_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7,
                "vfork child status %#x", st);

    char *args[] = { "spawned", "child", "9", NULL };
    GUEST_CHECK(posix_spawn(&pid, self, NULL, NULL, args, environ) == 0, "posix_spawn");
    GUEST_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 9,
                "posix_spawn child status %#x", st);

    /* A missing program fails in the parent with ENOENT, as natively. */
    char *none[] = { "none", NULL };
    int err = posix_spawn(&pid, "/nonexistent/program", NULL, NULL, none, environ);
    GUEST_CHECK(err == ENOENT, "posix_spawn of a missing file returned %d", err);
    errno = 0;
    execl("/nonexistent/program", "x", (char *)NULL);
    GUEST_CHECK(errno == ENOENT, "execl of a missing file");
    execl("/proc/self/status", "x", (char *)NULL);
    GUEST_CHECK(errno == EACCES, "execl of a non-executable file");
    return guest_pass();
}
