/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A five-deep execve chain through `sh -c`: execchain PATH N execs
 * /bin/busybox sh -c 'exec PATH N-1' until N is 0.
 */
#include "guest.h"

int main(int argc, char **argv)
{
    guest_name = "execchain";
    GUEST_CHECK(argc == 3, "usage: execchain SELF DEPTH");
    int depth = atoi(argv[2]);
    if (depth == 0) {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        GUEST_CHECK(n > 0, "readlink");
        exe[n] = '\0';
        GUEST_CHECK(strstr(exe, "execchain") != NULL, "/proc/self/exe is %s", exe);
        return guest_pass();
    }
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "exec %s %s %d", argv[1], argv[1], depth - 1);
    execl("/bin/busybox", "sh", "-c", cmd, (char *)NULL);
    GUEST_CHECK(0, "execl busybox");
}
