/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * killdodge: a guest that tries to outlive a kill rule of its policy (one on
 * mkdir).  The main process starts a worker and waits for it, and then long
 * enough for anything the worker left behind to act; the test looks on the
 * host for what came through.
 *     killdodge fork DIR    the worker catches SIGSYS, calls mkdir(DIR/dir)
 *                           and, in its handler, forks; the child waits past
 *                           the daemon's grace period and makes DIR/survived
 *     killdodge zombie DIR  the worker, SIGSYS blocked, leaves only two threads
 *                           behind its ended main thread (a zombie leader):
 *                           one calls mkdir(DIR/dir), the other makes
 *                           DIR/survived after the grace period and exits
 *     killdodge execveat PROG ARG...
 *                           runs PROG by execveat (AT_FDCWD, no flags), as
 *                           no shell would; prints the errno if it fails
 *     killdodge intr DIR    50 workers in turn each call mkdir(DIR/dir) with
 *                           a 20 us timer set to interrupt the call before
 *                           sandboxd reads its notification; prints how many
 *                           died, saw EINTR, or saw anything else
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *dir;

static void pause_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The grandchild: well past the 500 ms grace of its parent's SIGSYS, it leaves a mark. */
static void on_sigsys(int sig)
{
    (void)sig;
    if (fork() != 0)
        return;
    pause_ms(1500);
    char path[4096];
    snprintf(path, sizeof(path), "%s/survived", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    _exit(fd < 0 ? 1 : 0);
}

static int worker(void)
{
    struct sigaction sa = { .sa_handler = on_sigsys };
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return 1;
    char path[4096];
    snprintf(path, sizeof(path), "%s/dir", dir);
    mkdir(path, 0755);
    /* Here only after the handler ran; the daemon's SIGKILL ends this process. */
    for (;;)
        pause();
}

static void *zombie_mkdir(void *arg)
{
    (void)arg;
    char path[4096];
    snprintf(path, sizeof(path), "%s/dir", dir);
    mkdir(path, 0755);
    return NULL;
}

static void *zombie_mark(void *arg)
{
    (void)arg;
    pause_ms(1500);
    char path[4096];
    snprintf(path, sizeof(path), "%s/survived", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    _exit(fd < 0 ? 1 : 0);
}

/* The main thread ends first: the process's leader is a zombie while its threads run. */
static int zombie_worker(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    pthread_t t;
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
        pthread_create(&t, NULL, zombie_mark, NULL) != 0 ||
        pthread_create(&t, NULL, zombie_mkdir, NULL) != 0)
        return 1;
    pthread_exit(NULL);
}

static void on_alarm(int sig)
{
    (void)sig;
}

/* A killed call that a signal of the caller's own takes out of its wait. */
static int interrupted(void)
{
    struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: the call fails */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) < 0)
        return 2;
    char path[4096];
    snprintf(path, sizeof(path), "%s/dir", dir);
    struct itimerval it = { .it_value = { .tv_usec = 20 } };
    if (setitimer(ITIMER_REAL, &it, NULL) < 0)
        return 2;
    int r = mkdir(path, 0755);
    return r < 0 && errno == EINTR ? 0 : 1;
}

static int intr(void)
{
    unsigned died = 0, eintr = 0, other = 0;
    for (int i = 0; i < 50; i++) {
        pid_t w = fork();
        if (w < 0)
            return 1;
        if (w == 0)
            _exit(interrupted());
        int st;
        while (waitpid(w, &st, 0) < 0 && errno == EINTR)
            ;
        if (WIFSIGNALED(st))
            died++;
        else if (WEXITSTATUS(st) == 0)
            eintr++;
        else
            other++;
    }
    printf("died %u eintr %u other %u\n", died, eintr, other);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "execveat") == 0) {
        extern char **environ;
        syscall(SYS_execveat, AT_FDCWD, argv[2], argv + 2, environ, 0);
        printf("execveat: %s\n", strerrorname_np(errno));
        return 1;
    }
    if (argc != 3 || (strcmp(argv[1], "fork") != 0 && strcmp(argv[1], "zombie") != 0 &&
                      strcmp(argv[1], "intr") != 0)) {
        fprintf(stderr, "Usage: killdodge fork|zombie|intr DIR | execveat PROG ARG...\n");
        return 2;
    }
    dir = argv[2];
    if (strcmp(argv[1], "intr") == 0)
        return intr();
    int (*work)(void) = strcmp(argv[1], "zombie") == 0 ? zombie_worker : worker;
    pid_t w = fork();
    if (w < 0)
        return 1;
    if (w == 0)
        _exit(work());
    int st;
    while (waitpid(w, &st, 0) < 0 && errno == EINTR)
        ;
    pause_ms(3000);
    printf("worker %s %d\n", WIFSIGNALED(st) ? "signal" : "exit",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return 0;
}
