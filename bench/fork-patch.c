/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What one patched byte of program text costs every later fork, with no
 * sandbox and no trampoline: a child per round forks and waits in a loop,
 * either with its text as mapped or after it wrote one byte of it through
 * /proc/self/mem, as rewrite mode patches a syscall site.  The write turns
 * that page into private anonymous memory, so the text mapping gets an
 * anon_vma; from then on fork copies the page-table entries of the whole
 * mapping (every present page, anonymous or not), where a mapping without
 * one is skipped and its entries fault in later in the child, if it ever
 * needs them.  Before each loop the child reads every page of its text, so
 * that its entries are present, as they are in a program that has run for a
 * while.  The rounds take turns; it prints the minimum and the median
 * microseconds per fork of each.
 *
 *   fork-patch [ROUNDS [FORKS]]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern const char __executable_start[], etext[];

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* A byte of text to rewrite with itself: the first of this function. */
__attribute__((noinline)) static int patched_site(int x)
{
    return x + 1;
}

/* In the child of a round: microseconds per fork+exit+wait, or < 0. */
static double loop(int patch, int forks)
{
    volatile char sum = 0;
    for (const char *p = __executable_start; p < etext; p += 4096)
        sum = (char)(sum + *p);
    if (patch) {
        int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
        const unsigned char *at = (const unsigned char *)(unsigned long)patched_site;
        unsigned char same = *at;
        ssize_t n = fd < 0 ? -1 : pwrite(fd, &same, 1, (off_t)(unsigned long)at);
        if (fd >= 0)
            close(fd);
        if (n != 1)
            return -1;
    }
    double t0 = 0;
    for (int i = -forks / 10; i < forks; i++) {
        if (i == 0)
            t0 = now_us();
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0)
            _exit(patched_site(-1));
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return -1;
    }
    return (now_us() - t0) / forks;
}

static double round_us(int patch, int forks)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        double us = loop(patch, forks);
        _exit(write(pfd[1], &us, sizeof(us)) == sizeof(us) ? 0 : 1);
    }
    close(pfd[1]);
    double us = -1;
    if (pid < 0 || read(pfd[0], &us, sizeof(us)) != sizeof(us))
        us = -1;
    close(pfd[0]);
    int st;
    if (pid > 0)
        waitpid(pid, &st, 0);
    return us;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 15;
    int forks = argc > 2 ? atoi(argv[2]) : 2000;
    if (argc > 3 || rounds < 1 || forks < 10) {
        fprintf(stderr, "usage: fork-patch [ROUNDS [FORKS]]\n");
        return 2;
    }
    static const char *const names[2] = { "text as mapped", "one byte patched" };
    double *us = calloc((size_t)rounds * 2, sizeof(double));
    if (!us)
        return 1;
    for (int k = 0; k < rounds; k++)
        for (int v = 0; v < 2; v++)
            if ((us[v * rounds + k] = round_us(v, forks)) < 0) {
                fprintf(stderr, "fork-patch: a round of \"%s\" failed\n", names[v]);
                return 1;
            }
    printf("%-20s %10s %10s  (%d rounds of %d forks, %zu KiB of text)\n", "variant", "min us",
           "median us", rounds, forks, (size_t)(etext - __executable_start) / 1024);
    for (int v = 0; v < 2; v++) {
        double *s = us + v * rounds;
        qsort(s, (size_t)rounds, sizeof(double), cmp_double);
        printf("%-20s %10.1f %10.1f\n", names[v], s[0], s[rounds / 2]);
    }
    free(us);
    return 0;
}
