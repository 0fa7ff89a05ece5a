/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The shared library that the dlopen guest loads. */
#include <unistd.h>

int sbx_guest_lib_triple(int x);

int sbx_guest_lib_triple(int x)
{
    /* A syscall from library code, which is mapped after startup. */
    return getppid() > 0 ? 3 * x : -1;
}
