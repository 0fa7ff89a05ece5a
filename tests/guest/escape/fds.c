/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Leaked descriptors: every directory this process or sandbox init (pid 1)
 * holds, and the roots and working directories behind /proc/1, walked up
 * with ".." and asked for MARKER (a path relative to the host's root, to a
 * file only the host has).  Prints "leak none" or each way that found it.
 * With `init`, also sandbox init's descriptors themselves (not on the host,
 * whose pid 1 is not to be disturbed).  With `create=NAME`, it makes a file
 * NAME in the directory of fd 3, the one its caller passes, if it has one:
 * the host looks for it.
 */
#include <dirent.h>
#include <fcntl.h>

#include "escape.h"

static int found;

static void try_dir(const char *how, int dir, const char *marker)
{
    int up = openat(dir, "../../../../../../../../../../../../../../../..",
                    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (up < 0)
        return;
    int fd = openat(up, marker, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        printf("leak %s\n", how);
        found++;
        close(fd);
    }
    close(up);
}

static void try_fds_of(const char *fddir, const char *marker)
{
    DIR *d = opendir(fddir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512], how[512];
        snprintf(path, sizeof(path), "%s/%s", fddir, e->d_name);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue;
        snprintf(how, sizeof(how), "%s", path);
        try_dir(how, fd, marker);
        close(fd);
    }
    closedir(d);
}

/*
 * Sandbox init's own descriptors (its control socket to the daemon among
 * them), opened through /proc/1/fd: with one, a guest could speak for init.
 */
static void try_init_fds(void)
{
    DIR *d = opendir("/proc/1/fd");
    int opened = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof(path), "/proc/1/fd/%s", e->d_name);
        static const int modes[] = { O_RDONLY, O_WRONLY, O_RDWR };
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
            int fd = open(path, modes[i] | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
            if (fd >= 0) {
                printf("init-fd %s opened\n", e->d_name);
                opened++;
                close(fd);
            }
        }
    }
    if (d)
        closedir(d);
    if (!opened)
        puts("init-fd none");
}

static void create_in_fd3(const char *name)
{
    int fd = openat(3, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    esc_report("create-in-fd3", fd);
    if (fd >= 0)
        close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        esc_usage(argv[0], "MARKER [init] [create=NAME]");
    try_fds_of("/proc/self/fd", argv[1]);
    try_fds_of("/proc/1/fd", argv[1]);
    static const char *const links[] = { "/proc/1/root", "/proc/1/cwd", "/proc/self/root" };
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        int fd = open(links[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            try_dir(links[i], fd, argv[1]);
            close(fd);
        }
    }
    if (!found)
        puts("leak none");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "init") == 0)
            try_init_fds();
        else if (strncmp(argv[i], "create=", 7) == 0)
            create_in_fd3(argv[i] + 7);
        else
            esc_usage(argv[0], "MARKER [init] [create=NAME]");
    }
    return 0;
}
