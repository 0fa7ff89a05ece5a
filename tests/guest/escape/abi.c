/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The other system call ABIs of an x86-64 kernel: i386's `int $0x80` (other
 * numbers: 21 is mount there, 310 unshare) and x32's numbers with bit 30
 * set.  A filter that checked only the number would let these through.
 */
#include <sys/syscall.h>

#include "escape.h"

#define X32_BIT 0x40000000L

static long int80(long nr, long a1, long a2, long a3)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1), "c"(a2), "d"(a3) : "memory");
    return ret;
}

static int i386_getpid(void *unused)
{
    (void)unused;
    long r = int80(20, 0, 0, 0);
    return r < 0 ? (int)-r : 0;
}

static int i386_mount(void *unused)
{
    (void)unused;
    /* All NULL: EFAULT from a kernel that runs it. */
    long r = int80(21, 0, 0, 0);
    return r < 0 ? (int)-r : 0;
}

static int i386_unshare(void *unused)
{
    (void)unused;
    long r = int80(310, 0x10000000 /* CLONE_NEWUSER */, 0, 0);
    return r < 0 ? (int)-r : 0;
}

static int x32(void *nr)
{
    return esc_rc(syscall(X32_BIT | (long)nr, 0, 0, 0, 0, 0));
}

int main(void)
{
    esc_child("i386-getpid", i386_getpid, NULL);
    esc_child("i386-mount", i386_mount, NULL);
    esc_child("i386-unshare", i386_unshare, NULL);
    esc_child("x32-getpid", x32, (void *)(long)SYS_getpid);
    esc_child("x32-mount", x32, (void *)(long)SYS_mount);
    return 0;
}
