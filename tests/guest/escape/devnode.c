/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device nodes: making one (here of /dev/null, 1:3, so the control harms
 * nothing) in DIR, and opening the nodes that a hostile image brings (NODE
 * arguments: /dev/null's numbers and the host's root disk).
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "escape.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        esc_usage(argv[0], "DIR [LABEL=NODE...]");
    char path[4096];
    snprintf(path, sizeof(path), "%s/sbx-node", argv[1]);
    long r = mknod(path, S_IFCHR | 0666, makedev(1, 3));
    esc_report("mknod-char", r);
    if (r == 0) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        esc_report("open-made", fd);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/sbx-blk", argv[1]);
    r = mknod(path, S_IFBLK | 0600, makedev(7, 0));
    esc_report("mknod-block", r);
    if (r == 0)
        unlink(path);
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            esc_usage(argv[0], "DIR [LABEL=NODE...]");
        *eq = '\0';
        int fd = open(eq + 1, O_RDONLY | O_CLOEXEC);
        esc_report(argv[i], fd);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}
