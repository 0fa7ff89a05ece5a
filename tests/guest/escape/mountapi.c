/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mount API, old and new: a mount over DIR (which must not be a mount
 * point), unmounting, pivot_root, and the fd-based calls.  Each mount that
 * works (on the host, as the control) is undone at once.
 */
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/syscall.h>

#include "escape.h"

static long sys_fsopen(const char *fs)
{
    return syscall(SYS_fsopen, fs, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        esc_usage(argv[0], "DIR");
    const char *dir = argv[1];
    long r = mount("none", dir, "tmpfs", 0, NULL);
    esc_report("mount", r);
    if (r == 0)
        umount2(dir, MNT_DETACH);
    /* DIR is no mount point: EINVAL from the kernel. */
    esc_report("umount", umount2(dir, 0));
    esc_report("pivot_root", syscall(SYS_pivot_root, dir, dir));
    long fd = sys_fsopen("tmpfs");
    esc_report("fsopen", fd);
    if (fd >= 0)
        close((int)fd);
    fd = syscall(SYS_fspick, AT_FDCWD, "/", FSPICK_CLOEXEC);
    esc_report("fspick", fd);
    if (fd >= 0)
        close((int)fd);
    fd = syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    esc_report("open_tree", fd);
    if (fd >= 0)
        close((int)fd);
    /* No such descriptor: EBADF from the kernel. */
    esc_report("move_mount",
               syscall(SYS_move_mount, 999, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH));
    esc_report("fsmount", syscall(SYS_fsmount, 999, 0, 0));
    struct mount_attr attr = { .attr_clr = MOUNT_ATTR_RDONLY };
    esc_report("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, dir, 0, &attr, sizeof(attr)));
    return 0;
}
