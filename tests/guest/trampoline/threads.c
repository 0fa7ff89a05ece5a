/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Eight threads issue syscalls at the same time; every result must be right. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "guest.h"

#define NTHREADS 8
#define ROUNDS 2000

static pid_t parent, self;
static int failures;

static void *worker(void *arg)
{
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    for (int i = 0; i < ROUNDS; i++) {
        if (getppid() != parent || getpid() != self || write(devnull, &i, sizeof(i)) != sizeof(i) ||
            syscall(SYS_gettid) <= 0)
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
    }
    close(devnull);
    return arg;
}

int main(void)
{
    guest_name = "threads";
    parent = getppid();
    self = getpid();
    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        GUEST_CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "pthread_create %ld", i);
    for (long i = 0; i < NTHREADS; i++) {
        void *ret;
        GUEST_CHECK(pthread_join(t[i], &ret) == 0 && ret == (void *)i, "join %ld", i);
    }
    GUEST_CHECK(failures == 0, "%d wrong syscall results", failures);
    return guest_pass();
}
