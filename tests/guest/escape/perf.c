/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* perf_event_open: a software counter of this process, then a CPU-wide one. */
#include <linux/perf_event.h>
#include <sys/syscall.h>

#include "escape.h"

static void try(const char *label, int pid, int cpu)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.disabled = 1;
    long fd = syscall(SYS_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    esc_report(label, fd);
    if (fd >= 0)
        close((int)fd);
}

int main(void)
{
    try("self", 0, -1);
    try("cpu0", -1, 0);
    return 0;
}
