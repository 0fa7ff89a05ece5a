/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Leaving the sandbox's cgroup: writing its pid into the root cgroup's
 * cgroup.procs (where the limits no longer hold), and mounting a cgroup
 * hierarchy of its own in DIR (a v1 one has release_agent, a program the
 * host's kernel runs as root).  Then, with SECONDS, it stays so that the
 * host can see which cgroup it is in.
 */
#include <fcntl.h>
#include <sys/mount.h>

#include "escape.h"

static void join_root(const char *label, const char *procs)
{
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        esc_say(label, errno);
        return;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    esc_report(label, write(fd, pid, (size_t)len));
    close(fd);
}

static void try_mount(const char *label, const char *dir, const char *type, const char *opts)
{
    long r = mount("none", dir, type, 0, opts);
    esc_report(label, r);
    if (r == 0)
        umount2(dir, MNT_DETACH);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        esc_usage(argv[0], "DIR [SECONDS]");
    join_root("procs-root", "/sys/fs/cgroup/cgroup.procs");
    try_mount("mount-cgroup2", argv[1], "cgroup2", NULL);
    try_mount("mount-cgroup1", argv[1], "cgroup", "pids");
    if (argc > 2) {
        puts("waiting");
        fflush(stdout);
        sleep((unsigned)atoi(argv[2]));
    }
    return 0;
}
