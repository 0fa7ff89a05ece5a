/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers for the trampoline's guest programs: each program checks one
 * behaviour, prints "PASS name" or "FAIL name: why" and exits 0 only on
 * success.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *guest_name = "guest";

#define GUEST_CHECK(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s: %s:%d: ", guest_name, __FILE__, __LINE__);                            \
            printf(__VA_ARGS__);                                                                   \
            printf(" (errno %d %s)\n", errno, strerror(errno));                                    \
            fflush(stdout);                                                                        \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static inline int guest_pass(void)
{
    printf("PASS %s\n", guest_name);
    fflush(stdout);
    return 0;
}
