/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cwd and chroot escapes: ".." from "/" ; the classic chroot breakout (chroot
 * into a subdirectory while keeping the working directory outside it, then
 * climb); each ends by opening MARKER, an absolute path to a file that only
 * the host has.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "escape.h"

static int climb_and_open(const char *marker)
{
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            return errno;
    if (chroot(".") < 0 && errno != EPERM)
        return errno;
    int fd = open(marker, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int dotdot(void *marker)
{
    if (chdir("/") < 0)
        return errno;
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            return errno;
    char path[4096];
    snprintf(path, sizeof(path), ".%s", (const char *)marker);
    return esc_rc(access(path, F_OK));
}

static const char *jail;

static int chroot_only(void *unused)
{
    (void)unused;
    return esc_rc(chroot(jail));
}

static int breakout(void *marker)
{
    if (chroot(jail) < 0)
        return errno;
    /* The working directory is still outside the new root. */
    return climb_and_open(marker);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        esc_usage(argv[0], "JAIL-DIR MARKER");
    jail = argv[1];
    mkdir(jail, 0755);
    esc_child("dotdot", dotdot, argv[2]);
    esc_child("chroot", chroot_only, NULL);
    esc_child("breakout", breakout, argv[2]);
    return 0;
}
