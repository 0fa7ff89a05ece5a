/*
 * Signals while a thread is in a stub or the fast entry: a second thread
 * sends SIGUSR1 to the main thread as fast as it can while the main thread
 * calls getppid through a site; every result must be right, in the handler
 * too, and (rewrite mode) some signals must have interrupted the
 * trampoline's code.  Then a blocking read through a site, interrupted by
 * SIGALRM: EINTR without SA_RESTART, restarted and completed with it.
 *
 *   rw-signals [MODE]    MODE: trap, rewrite or native (what to expect)
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

#include "guest.h"
#include "rw-asm.h"
#include "layout.h"

#define CALLS 200000
#define SIGNALS 3000

static pid_t self, parent, main_tid;
static volatile int stop, hits, bad, in_tramp, alarms;
static int pipefd[2];

static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    if (rip >= SBX_TRAMPOLINE_BASE && rip < SBX_TRAMPOLINE_RESERVED_HI)
        in_tramp++;
    if (rw_getpid() != self)
        bad++;
    hits++;
}

static volatile int storm_done;

/* SIGNALS signals, each sent once the previous one was handled (none merge). */
static void *storm(void *arg)
{
    for (int i = 0; i < SIGNALS && !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++) {
        int seen = hits;
        syscall(SYS_tgkill, self, main_tid, SIGUSR1);
        while (hits == seen && !__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
            sched_yield();
    }
    __atomic_store_n(&storm_done, 1, __ATOMIC_RELEASE);
    return arg;
}

static void on_alarm(int sig)
{
    alarms++;
    if (alarms == 2)
        (void)!write(pipefd[1], "x", 1);
}

static void storm_round(int flags)
{
    struct sigaction sa = { .sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO | flags };
    sigemptyset(&sa.sa_mask);
    GUEST_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    stop = 0;
    storm_done = 0;
    pthread_t t;
    GUEST_CHECK(pthread_create(&t, NULL, storm, NULL) == 0, "pthread_create");
    /* At least CALLS calls, and on while the storm lasts (it may start late). */
    int wrong = 0;
    time_t deadline = time(NULL) + 20;
    for (long i = 0; i < CALLS || (!storm_done && time(NULL) < deadline); i++)
        wrong += rw_getppid() != parent;
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    GUEST_CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    GUEST_CHECK(wrong == 0 && bad == 0, "%d wrong results, %d in the handler", wrong, bad);
}

int main(int argc, char **argv)
{
    guest_name = "rw-signals";
    int rewrite = argc > 1 && !strcmp(argv[1], "rewrite");
    self = getpid();
    parent = getppid();
    main_tid = gettid();
    GUEST_CHECK(pipe(pipefd) == 0, "pipe");

    storm_round(SA_RESTART);
    storm_round(0);
    fprintf(stderr, "rw-signals: %d signals, %d interrupted the trampoline\n", hits, in_tramp);
    GUEST_CHECK(hits == 2 * SIGNALS, "%d of %d signals arrived", hits, 2 * SIGNALS);
    if (rewrite)
        GUEST_CHECK(in_tramp > 0, "no signal interrupted the fast path");

    /* A blocking read through a site. */
    char c;
    struct sigaction sa = { .sa_handler = on_alarm };
    sigemptyset(&sa.sa_mask);
    GUEST_CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    struct itimerval once = { .it_value = { 0, 20000 } };
    GUEST_CHECK(setitimer(ITIMER_REAL, &once, NULL) == 0, "setitimer");
    long r = rw_read(pipefd[0], &c, 1);
    GUEST_CHECK(r == -EINTR && alarms == 1, "read without SA_RESTART: %ld", r);

    sa.sa_flags = SA_RESTART;
    GUEST_CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    struct itimerval every = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } };
    GUEST_CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0, "setitimer");
    r = rw_read(pipefd[0], &c, 1);
    struct itimerval off = { 0 };
    setitimer(ITIMER_REAL, &off, NULL);
    GUEST_CHECK(r == 1 && c == 'x' && alarms >= 2, "read with SA_RESTART: %ld", r);
    return guest_pass();
}
