/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs a command as the child of a child subreaper and reports what the
 * command leaves behind when it exits: its unreaped children (zombies) and
 * live descendants are reparented here, reaped, and each is named on stderr.
 * Usage: subreaper COMMAND [ARG...].  The command's pid goes to stdout.  Exit
 * status: the command's (128 + N for signal N), or 3 when it left a process.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINGER_MS 3000 /* how long orphans get to exit by themselves */

static void comm_of(pid_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f || !fgets(buf, (int)len, f))
        snprintf(buf, len, "?\n");
    if (f)
        fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

/* SIGKILL to every process that is still our child (reparented orphans). */
static void kill_children(void)
{
    DIR *tasks = opendir("/proc/self/task");
    struct dirent *t;
    while (tasks && (t = readdir(tasks))) {
        if (t->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/proc/self/task/%s/children", t->d_name);
        FILE *f = fopen(path, "re");
        int pid;
        while (f && fscanf(f, "%d", &pid) == 1)
            kill(pid, SIGKILL);
        if (f)
            fclose(f);
    }
    if (tasks)
        closedir(tasks);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: subreaper COMMAND [ARG...]\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        perror("subreaper: PR_SET_CHILD_SUBREAPER");
        return 2;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("subreaper: fork");
        return 2;
    }
    if (child == 0) {
        execvp(argv[1], argv + 1);
        perror("subreaper: exec");
        _exit(127);
    }
    printf("%d\n", (int)child);
    fflush(stdout);

    int status = 0, left = 0;
    bool child_done = false;
    struct timespec deadline = { 0 };
    for (;;) {
        siginfo_t si = { 0 };
        int options = WEXITED | WNOWAIT | (child_done ? WNOHANG : 0);
        if (waitid(P_ALL, 0, &si, options) < 0) {
            if (errno == EINTR)
                continue;
            break; /* ECHILD: nothing left */
        }
        if (si.si_pid == 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > deadline.tv_sec ||
                (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
                kill_children();
            nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
            continue;
        }
        char comm[64];
        comm_of(si.si_pid, comm, sizeof(comm));
        int st;
        waitpid(si.si_pid, &st, 0);
        if (si.si_pid == child) {
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            child_done = true;
            clock_gettime(CLOCK_MONOTONIC, &deadline);
            deadline.tv_sec += LINGER_MS / 1000;
        } else {
            fprintf(stderr, "subreaper: left behind: pid %d (%s)\n", (int)si.si_pid, comm);
            left++;
        }
    }
    return left ? 3 : status;
}
