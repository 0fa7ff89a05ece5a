/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signals around trapped syscalls: a blocking read interrupted by a handler
 * without SA_RESTART fails with EINTR, with SA_RESTART it is restarted and
 * completes; blocking every signal keeps syscalls working; setitimer and
 * alarm fire.
 */
#include <poll.h>
#include <signal.h>
#include <sys/time.h>

#include "guest.h"

static volatile int hits;
static int pipefd[2];

static void on_alarm(int sig)
{
    hits++;
    /* Second delivery: unblock the restarted read. */
    if (hits == 2)
        (void)!write(pipefd[1], "x", 1);
}

static void arm(int ms)
{
    struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = ms * 1000 } };
    GUEST_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
}

static void set_handler(int flags)
{
    struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = flags };
    sigemptyset(&sa.sa_mask);
    GUEST_CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
}

int main(void)
{
    guest_name = "signals";
    char c;
    GUEST_CHECK(pipe(pipefd) == 0, "pipe");

    set_handler(0);
    arm(20);
    errno = 0;
    GUEST_CHECK(read(pipefd[0], &c, 1) == -1 && errno == EINTR, "read without SA_RESTART");
    GUEST_CHECK(hits == 1, "handler ran %d times", hits);

    /* With SA_RESTART the first alarm restarts the read, the second feeds it. */
    set_handler(SA_RESTART);
    struct itimerval it = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } };
    GUEST_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
    GUEST_CHECK(read(pipefd[0], &c, 1) == 1 && c == 'x', "read with SA_RESTART");
    struct itimerval off = { 0 };
    setitimer(ITIMER_REAL, &off, NULL);
    GUEST_CHECK(hits >= 2, "handler ran %d times", hits);

    /* alarm(1) then pause(): the handler interrupts pause. */
    int before = hits;
    set_handler(0);
    alarm(1);
    pause();
    GUEST_CHECK(hits == before + 1, "alarm handler");

    /* Block everything: syscalls keep working, the mask reads back. */
    sigset_t all, cur;
    sigfillset(&all);
    GUEST_CHECK(sigprocmask(SIG_BLOCK, &all, NULL) == 0, "block all");
    GUEST_CHECK(getppid() > 0 && write(pipefd[1], "y", 1) == 1 && read(pipefd[0], &c, 1) == 1,
                "syscalls with all signals blocked");
    GUEST_CHECK(sigprocmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, SIGALRM) &&
                    sigismember(&cur, SIGUSR1),
                "mask read back");
    struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
    struct timespec ts = { 0, 10000000 };
    GUEST_CHECK(ppoll(&pfd, 1, &ts, &all) == 0, "ppoll with a full mask");
    /* A blocked signal stays pending and arrives once unblocked. */
    before = hits;
    raise(SIGALRM);
    GUEST_CHECK(hits == before, "blocked signal delivered");
    GUEST_CHECK(sigprocmask(SIG_UNBLOCK, &all, NULL) == 0, "unblock");
    GUEST_CHECK(hits == before + 1, "pending signal after unblock");
    return guest_pass();
}
