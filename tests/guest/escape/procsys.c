/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes to /proc and /sys that reach the host: core_pattern (a program the
 * kernel runs as root on the host when anything dumps core), sysrq-trigger,
 * the page cache, the device event helper.  Each PATH is opened for writing;
 * with `write`, "|/tmp/sbx-escaped" is written to those that open.  The
 * host's control only opens.
 */
#include <fcntl.h>
#include <stdbool.h>

#include "escape.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        esc_usage(argv[0], "open|write PATH...");
    bool do_write = strcmp(argv[1], "write") == 0;
    for (int i = 2; i < argc; i++) {
        int fd = open(argv[i], O_WRONLY | O_CLOEXEC);
        if (fd >= 0 && do_write) {
            static const char v[] = "|/tmp/sbx-escaped";
            esc_report(argv[i], write(fd, v, sizeof(v) - 1));
        } else {
            esc_report(argv[i], fd);
        }
        if (fd >= 0)
            close(fd);
    }
    return 0;
}
