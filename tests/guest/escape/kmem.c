/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Kernel memory and logs: /proc/kcore, /dev/kmsg, syslog(2), and whether
 * /proc/kallsyms shows real addresses (which defeat KASLR).
 */
#include <fcntl.h>
#include <sys/klog.h>

#include "escape.h"

static void try_open(const char *label, const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    esc_report(label, fd);
    if (fd >= 0)
        close(fd);
}

int main(void)
{
    try_open("kcore", "/proc/kcore", O_RDONLY);
    try_open("kmsg-read", "/dev/kmsg", O_RDONLY);
    try_open("kmsg-write", "/dev/kmsg", O_WRONLY);
    /* SYSLOG_ACTION_SIZE_BUFFER: reads nothing, needs the same right as reading. */
    esc_report("syslog", klogctl(10, NULL, 0));
    FILE *f = fopen("/proc/kallsyms", "re");
    char line[256] = "";
    if (!f || !fgets(line, sizeof(line), f)) {
        esc_say("kallsyms", errno ? errno : EIO);
    } else {
        unsigned long long addr = strtoull(line, NULL, 16);
        printf("kallsyms %s\n", addr ? "addresses" : "zeros");
    }
    if (f)
        fclose(f);
    return 0;
}
