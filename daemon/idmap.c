/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * User namespace id maps.  The daemon writes a sandbox's maps from outside,
 * as root of the host's user namespace, so that a map may name any host
 * ids; idmapped mounts take a user namespace as the map, and one made only
 * for that lives on in its fd after the process that made it is gone.
 */
#include "daemon/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/idrange.h"
#include "sbx/fileio.h"
#include "sbx/macro.h"

static int write_file(pid_t pid, const char *name, const char *text)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    /* A map is taken in one write or not at all. */
    return sbx_write_small(path, text);
}

int sbx_idmap_write(pid_t pid, const char *uid_map, const char *gid_map)
{
    int r = write_file(pid, "uid_map", uid_map);
    return r < 0 ? r : write_file(pid, "gid_map", gid_map);
}

int sbx_idmap_userns(const char *uid_map, const char *gid_map)
{
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) < 0)
        return sbx_neg_errno();
    struct clone_args args = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0) {
        int r = sbx_neg_errno();
        sbx_close(hold[0]);
        sbx_close(hold[1]);
        return r;
    }
    if (pid == 0) {
        /* A copy of a multi-threaded process: it only waits for the parent to let go. */
        char c;
        sbx_close(hold[1]);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    sbx_close(hold[0]);
    int r = sbx_idmap_write((pid_t)pid, uid_map, gid_map);
    int fd = -EBADF;
    if (r >= 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            r = sbx_neg_errno();
    }
    sbx_close(hold[1]);
    while (waitpid((pid_t)pid, NULL, __WALL) < 0 && errno == EINTR)
        ;
    return r < 0 ? r : fd;
}

int sbx_idmap_mount(int mnt, int userns_fd)
{
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd };
    if (mount_setattr(mnt, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return sbx_neg_errno();
    return 0;
}

int sbx_idmap_bind_map(uint32_t caller, uint32_t to, uint32_t block, char *buf, size_t len)
{
    /* Ids 0..2^32-2 exist; the two excluded intervals, in order. */
    const uint64_t end = UINT32_MAX;
    uint64_t ex[2][2] = { { caller, (uint64_t)caller + 1 },
                          { block, (uint64_t)block + SBX_IDRANGE_SIZE } };
    if (ex[1][0] < ex[0][0]) {
        uint64_t t0 = ex[0][0], t1 = ex[0][1];
        ex[0][0] = ex[1][0], ex[0][1] = ex[1][1];
        ex[1][0] = t0, ex[1][1] = t1;
    }
    size_t n = 0;
    uint64_t cur = 0;
    for (int i = 0; i <= 2; i++) {
        uint64_t a = i < 2 ? ex[i][0] : end, b = i < 2 ? ex[i][1] : end;
        if (a > end)
            a = end;
        if (a > cur) {
            int k = snprintf(buf + n, len - n, "%llu %llu %llu\n", (unsigned long long)cur,
                             (unsigned long long)cur, (unsigned long long)(a - cur));
            if (k < 0 || (size_t)k >= len - n)
                return -ENAMETOOLONG;
            n += (size_t)k;
        }
        if (b > cur)
            cur = b;
    }
    int k = snprintf(buf + n, len - n, "%u %u 1\n", caller, to);
    return k < 0 || (size_t)k >= len - n ? -ENAMETOOLONG : 0;
}
