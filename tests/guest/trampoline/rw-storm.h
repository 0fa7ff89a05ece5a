/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signals against rewritten sites, shared by rw-signals and rw-syscalls.
 *
 * storm_run(): a second thread sends SIGUSR1 to the main thread, each signal
 * once the previous one was handled (none merge), while the main thread
 * makes a call through a site (one the trampoline sees in rewrite mode: a
 * gated call, or any through a register site); with SA_RESTART and without.
 * Every result must be right, in the handler (getpid through a site) too; the handler
 * counts the signals that interrupted the trampoline or a given stub.
 *
 * storm_blocking_read(): a blocking read through a site, interrupted by
 * SIGALRM: EINTR without SA_RESTART, restarted and completed with it.
 *
 * Include once per program, after guest.h.
 */
#pragma once

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

#include "layout.h"

#define STORM_CALLS 200000
#define STORM_SIGNALS 3000

struct storm {
    long (*call)(void);         /* through the site under test */
    long want;                  /* what call returns */
    long (*getpid)(void);       /* through a site, from the handler */
    uintptr_t stub_lo, stub_hi; /* interruptions counted apart (0, 0: none) */
};

static const struct storm *storm_cfg;
static pid_t storm_self, storm_tid;
static volatile int storm_stop, storm_hits, storm_bad, storm_in_tramp, storm_in_stub, storm_alarms,
    storm_done;
static int storm_pipe[2];

static void storm_on_usr1(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ctx;
    uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    if (rip >= SBX_TRAMPOLINE_BASE && rip < SBX_TRAMPOLINE_RESERVED_HI)
        storm_in_tramp++;
    else if (rip >= storm_cfg->stub_lo && rip < storm_cfg->stub_hi)
        storm_in_stub++;
    if (storm_cfg->getpid() != storm_self)
        storm_bad++;
    storm_hits++;
}

static void *storm_thread(void *arg)
{
    for (int i = 0; i < STORM_SIGNALS && !__atomic_load_n(&storm_stop, __ATOMIC_ACQUIRE); i++) {
        int seen = storm_hits;
        syscall(SYS_tgkill, storm_self, storm_tid, SIGUSR1);
        while (storm_hits == seen && !__atomic_load_n(&storm_stop, __ATOMIC_ACQUIRE))
            sched_yield();
    }
    __atomic_store_n(&storm_done, 1, __ATOMIC_RELEASE);
    return arg;
}

static void storm_round(int flags)
{
    struct sigaction sa = { .sa_sigaction = storm_on_usr1, .sa_flags = SA_SIGINFO | flags };
    sigemptyset(&sa.sa_mask);
    GUEST_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    storm_stop = 0;
    storm_done = 0;
    pthread_t t;
    GUEST_CHECK(pthread_create(&t, NULL, storm_thread, NULL) == 0, "pthread_create");
    /*
     * At least STORM_CALLS calls, and on until the storm is over, however
     * long a loaded machine makes it (meson's timeout is the bound): every
     * signal needs this thread to run.
     */
    int wrong = 0;
    for (long i = 0; i < STORM_CALLS || !__atomic_load_n(&storm_done, __ATOMIC_ACQUIRE); i++)
        wrong += storm_cfg->call() != storm_cfg->want;
    __atomic_store_n(&storm_stop, 1, __ATOMIC_RELEASE);
    GUEST_CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    GUEST_CHECK(wrong == 0 && storm_bad == 0, "%d wrong results, %d in the handler", wrong,
                storm_bad);
}

/* Both rounds; every signal must arrive.  The caller checks the interruption counts. */
static void storm_run(const struct storm *cfg)
{
    storm_cfg = cfg;
    storm_self = getpid();
    storm_tid = gettid();
    storm_round(SA_RESTART);
    storm_round(0);
    fprintf(stderr, "%s: %d signals, %d interrupted the trampoline, %d the stub\n", guest_name,
            storm_hits, storm_in_tramp, storm_in_stub);
    GUEST_CHECK(storm_hits == 2 * STORM_SIGNALS, "%d of %d signals arrived", storm_hits,
                2 * STORM_SIGNALS);
}

static void storm_on_alarm(int sig)
{
    (void)sig;
    storm_alarms++;
    if (storm_alarms == 2)
        (void)!write(storm_pipe[1], "x", 1);
}

static void storm_blocking_read(long (*rd)(long fd, void *buf, long n))
{
    GUEST_CHECK(pipe(storm_pipe) == 0, "pipe");
    char c;
    struct sigaction sa = { .sa_handler = storm_on_alarm };
    sigemptyset(&sa.sa_mask);
    GUEST_CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    struct itimerval once = { .it_value = { 0, 20000 } };
    GUEST_CHECK(setitimer(ITIMER_REAL, &once, NULL) == 0, "setitimer");
    long r = rd(storm_pipe[0], &c, 1);
    GUEST_CHECK(r == -EINTR && storm_alarms == 1, "read without SA_RESTART: %ld", r);

    sa.sa_flags = SA_RESTART;
    GUEST_CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    struct itimerval every = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } };
    GUEST_CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0, "setitimer");
    r = rd(storm_pipe[0], &c, 1);
    struct itimerval off = { 0 };
    setitimer(ITIMER_REAL, &off, NULL);
    GUEST_CHECK(r == 1 && c == 'x' && storm_alarms >= 2, "read with SA_RESTART: %ld", r);
}
