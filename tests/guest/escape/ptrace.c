/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ptrace: attaching to another process (the way into a process outside the
 * sandbox, or into sandbox init), and reading another process's memory.
 * Debugging one's own children with PTRACE_TRACEME stays allowed.
 */
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "escape.h"

static pid_t child;

static int attach(void *req)
{
    long r = ptrace((enum __ptrace_request)(long)req, child, NULL, NULL);
    return esc_rc(r);
}

static int traceme(void *unused)
{
    (void)unused;
    return esc_rc(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

static int attach_init(void *unused)
{
    (void)unused;
    return esc_rc(ptrace(PTRACE_ATTACH, 1, NULL, NULL));
}

static int read_init(void *unused)
{
    (void)unused;
    char buf[8];
    struct iovec local = { buf, sizeof(buf) }, remote = { (void *)0x400000, sizeof(buf) };
    return esc_rc(process_vm_readv(1, &local, 1, &remote, 1, 0));
}

int main(int argc, char **argv)
{
    (void)argv;
    child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    esc_child("attach-child", attach, (void *)(long)PTRACE_ATTACH);
    esc_child("seize-child", attach, (void *)(long)PTRACE_SEIZE);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    esc_child("traceme", traceme, NULL);
    /* pid 1 is sandbox init inside; on the host only when asked to. */
    if (argc > 1) {
        esc_child("attach-init", attach_init, NULL);
        esc_child("vm-read-init", read_init, NULL);
    }
    return 0;
}
