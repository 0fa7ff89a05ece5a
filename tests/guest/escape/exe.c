/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Overwriting the programs that run the sandbox (the runc CVE-2019-5736
 * lesson): /proc/self/exe and sandbox init's /proc/1/exe opened for
 * writing, directly and by reopening a read-only descriptor through
 * /proc/self/fd, and the trampoline's own descriptor, reopened, written
 * and mapped shared for writing (its memfd must be sealed against writes).
 * Whatever opens is written to; the host checks that its files are
 * unchanged.
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "escape.h"
#include "sbx/abi.h"

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
    esc_report("trampoline-fd-pwrite", pwrite(SBX_FD_TRAMPOLINE, "\xcc", 1, 0x1000));
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, SBX_FD_TRAMPOLINE, 0);
    esc_report("trampoline-fd-mmap", p == MAP_FAILED ? -1 : 0);
    return 0;
}
