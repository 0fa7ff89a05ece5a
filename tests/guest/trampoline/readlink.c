/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /proc/self/exe and /proc/PID/exe read back as the guest, not the trampoline,
 * and /proc/self/cmdline is exactly the guest's argv.  An exec of either
 * runs the guest again (then it checks all of it once more).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>

#include "guest.h"

int main(int argc, char **argv)
{
    guest_name = "readlink";
    GUEST_CHECK(argc == 2 || argc == 3, "usage: readlink EXPECTED_PATH [--again N]");
    char want[PATH_MAX];
    GUEST_CHECK(realpath(argv[1], want) != NULL, "realpath %s", argv[1]);

    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
    GUEST_CHECK(n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n),
                "/proc/self/exe: %.*s, want %s", (int)(n > 0 ? n : 0), buf, want);

    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/exe", getpid());
    n = readlink(path, buf, sizeof(buf));
    GUEST_CHECK(n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n), "%s", path);

    /* A short buffer gets the truncated name, like the kernel does. */
    n = readlink("/proc/self/exe", buf, 3);
    GUEST_CHECK(n == 3 && !memcmp(buf, want, 3), "truncated readlink");

    /* The kernel's copy of argv holds the guest's arguments and nothing else. */
    char cmd[2 * PATH_MAX], expect[2 * PATH_MAX];
    int fd = open("/proc/self/cmdline", O_RDONLY);
    GUEST_CHECK(fd >= 0, "open /proc/self/cmdline");
    n = read(fd, cmd, sizeof(cmd));
    close(fd);
    size_t len = 0;
    for (int i = 0; i < argc; i++) {
        size_t l = strlen(argv[i]) + 1;
        memcpy(expect + len, argv[i], l);
        len += l;
    }
    GUEST_CHECK(n == (ssize_t)len && !memcmp(cmd, expect, len),
                "/proc/self/cmdline is not argv (%zd bytes, want %zu; starts '%s')", n, len,
                n > 0 ? cmd : "");

    /* Other links are untouched. */
    n = readlink("/proc/self/cwd", buf, sizeof(buf));
    GUEST_CHECK(n > 0 && buf[0] == '/', "/proc/self/cwd");

    /* argv[2] counts the execs: /proc/self/exe, then /proc/PID/exe, then done. */
    int again = argc == 3 ? atoi(argv[2]) : 0;
    if (again == 2)
        return guest_pass();
    char next[16];
    snprintf(next, sizeof(next), "%d", again + 1);
    fflush(stdout);
    execl(again == 0 ? "/proc/self/exe" : path, "readlink", argv[1], next, (char *)NULL);
    GUEST_CHECK(0, "exec %s", again == 0 ? "/proc/self/exe" : path);
    return 1;
}
