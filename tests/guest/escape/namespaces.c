/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * New namespaces, every kind, by unshare, clone and clone3, and joining one
 * with setns.  Each attempt in a child of its own.
 */
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/syscall.h>

#include "escape.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static int do_unshare(void *flags)
{
    return esc_rc(unshare((int)(long)flags));
}

static int do_clone(void *flags)
{
    long pid = syscall(SYS_clone, (long)flags | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return errno;
    waitpid((pid_t)pid, NULL, 0);
    return 0;
}

static int do_clone3(void *flags)
{
    struct clone_args args = { .flags = (unsigned long)flags, .exit_signal = SIGCHLD };
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return errno;
    waitpid((pid_t)pid, NULL, 0);
    return 0;
}

static int do_setns(void *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    return esc_rc(setns(fd, 0));
}

static const struct {
    const char *name;
    long flag;
} kinds[] = {
    { "user", CLONE_NEWUSER },     { "mnt", CLONE_NEWNS },    { "pid", CLONE_NEWPID },
    { "net", CLONE_NEWNET },       { "uts", CLONE_NEWUTS },   { "ipc", CLONE_NEWIPC },
    { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

int main(void)
{
    char label[64];
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        snprintf(label, sizeof(label), "unshare-%s", kinds[i].name);
        esc_child(label, do_unshare, (void *)kinds[i].flag);
        /* clone's CLONE_NEWTIME bit is the exit signal's field there. */
        if (kinds[i].flag != CLONE_NEWTIME) {
            snprintf(label, sizeof(label), "clone-%s", kinds[i].name);
            esc_child(label, do_clone, (void *)kinds[i].flag);
        }
    }
    esc_child("clone3", do_clone3, (void *)0L);
    esc_child("clone3-user", do_clone3, (void *)(long)CLONE_NEWUSER);
    esc_child("setns-net", do_setns, "/proc/self/ns/net");
    esc_child("setns-init-mnt", do_setns, "/proc/1/ns/mnt");
    return 0;
}
