/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* userfaultfd: the tool that turns kernel races into reliable exploits. */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/syscall.h>

#include "escape.h"

static void try(const char *label, int flags)
{
    long fd = syscall(SYS_userfaultfd, flags);
    esc_report(label, fd);
    if (fd >= 0)
        close((int)fd);
}

int main(void)
{
    try("user-mode", O_CLOEXEC | UFFD_USER_MODE_ONLY);
    try("all", O_CLOEXEC);
    /* The device node that hands out the same. */
    int fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    esc_report("dev", fd);
    if (fd >= 0)
        close(fd);
    return 0;
}
