/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark: N getppid calls (default 1e6) through libc's wrapper, a
 * `mov $110,%eax; syscall` that the trampoline does not gate: in every mode
 * it goes to the kernel from its own site, where the seccomp action cache
 * allows it; prints ns per call.
 */
#include <stdint.h>
#include <time.h>

#include "guest.h"

int main(int argc, char **argv)
{
    guest_name = "getppid-loop";
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        getppid();
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    printf("getppid: %ld calls, %.1f ns/call\n", n, ns / (double)n);
    return guest_pass();
}
