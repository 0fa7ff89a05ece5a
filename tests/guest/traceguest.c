/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * traceguest: syscall patterns for the --trace suite (run-trace.sh), each a
 * count the suite can check in the trace.
 *     traceguest threads T N   T threads, each N getppid calls, then "done"
 *     traceguest flood N       N getppid calls, then "done" on stdout, exit 0
 *     traceguest fork N        a child makes N getpid calls and exits 7; the
 *                              parent waits and prints "child 7"
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long per_thread;

static void *worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < per_thread; i++)
        syscall(SYS_getppid);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "threads") == 0) {
        int t = atoi(argv[2]);
        per_thread = atol(argv[3]);
        pthread_t th[64];
        if (t < 1 || t > 64)
            return 2;
        for (int i = 0; i < t; i++)
            if (pthread_create(&th[i], NULL, worker, NULL) != 0)
                return 1;
        for (int i = 0; i < t; i++)
            pthread_join(th[i], NULL);
        puts("done");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "flood") == 0) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++)
            syscall(SYS_getppid);
        puts("done");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "fork") == 0) {
        long n = atol(argv[2]);
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            for (long i = 0; i < n; i++)
                syscall(SYS_getpid);
            _exit(7);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
            return 1;
        printf("child %d\n", WEXITSTATUS(st));
        return 0;
    }
    fputs("usage: traceguest threads T N | flood N | fork N\n", stderr);
    return 2;
}
