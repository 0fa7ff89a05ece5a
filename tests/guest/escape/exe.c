/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Overwriting the programs that run the sandbox (the runc CVE-2019-5736
 * lesson): /proc/self/exe and sandbox init's /proc/1/exe opened for
 * writing, directly and by reopening a read-only descriptor through
 * /proc/self/fd, and the trampoline's own descriptor.  Whatever opens is
 * written to; the host checks that its files are unchanged.
 */
#include <fcntl.h>

#include "escape.h"

static void try_write(const char *label, const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        esc_say(label, errno);
        return;
    }
    esc_report(label, write(fd,
                            "\x7f"
                            "ESC",
                            4));
    close(fd);
}

static void try_reopen(const char *label, const char *path)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        esc_say(label, errno);
        return;
    }
    char again[64];
    snprintf(again, sizeof(again), "/proc/self/fd/%d", fd);
    try_write(label, again);
    close(fd);
}

int main(void)
{
    try_write("self-exe", "/proc/self/exe");
    try_reopen("self-exe-reopen", "/proc/self/exe");
    try_write("init-exe", "/proc/1/exe");
    try_reopen("init-exe-reopen", "/proc/1/exe");
    try_write("trampoline-fd", "/proc/self/fd/1023");
    return 0;
}
