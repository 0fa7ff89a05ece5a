/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * traceguest: syscall patterns for the --trace suite (run-trace.sh), each a
 * count the suite can check in the trace.
 *     traceguest threads T N   T threads, each N getppid calls, then "done"
 *     traceguest flood N       N getppid calls, then "done" on stdout, exit 0
 *     traceguest flood N go    the same once a byte (or end of file) is read
 *                              from stdin: the caller decides when it starts
 *     traceguest fork N        a child makes N getpid calls and exits 7; the
 *                              parent waits and prints "child 7"
 *     traceguest structs           writev, readv, poll, sendmsg and recvmsg
 *                              with SCM_RIGHTS, getdents64 of a directory
 *                              of three files; prints "structs"
 *     traceguest segv          a child dies of SIGSEGV (no core); the parent
 *                              prints "child killed by 11"
 *     traceguest sigdfl        prints the dispositions it reads back (SIG_DFL
 *                              as set, with flags and mask), runs a
 *                              SA_RESETHAND handler of SIGUSR1 once, then
 *                              dies of the second SIGUSR1 (exit 138)
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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

/* The structures --trace decodes, each call's result checked. */
static int structs(void)
{
    int p[2], sv[2];
    char a[8], b[64];
    if (pipe(p) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 1;
    struct iovec w[2] = { { "hello ", 6 }, { "world\n", 6 } };
    if (writev(p[1], w, 2) != 12)
        return 1;
    struct pollfd pf[2] = { { p[0], POLLIN, 0 }, { p[1], POLLOUT, 0 } };
    if (poll(pf, 2, 1000) != 2)
        return 1;
    struct iovec r[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
    if (readv(p[0], r, 2) != 12)
        return 1;
    pf[1].fd = -1;
    if (poll(pf, 2, 0) != 0)
        return 1;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct iovec m = { "fd", 2 };
    struct msghdr mh = {
        .msg_iov = &m, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[1], sizeof(int));
    if (sendmsg(sv[0], &mh, MSG_NOSIGNAL) != 2)
        return 1;
    struct iovec in = { b, sizeof(b) };
    struct msghdr rh = {
        .msg_iov = &in, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)
    };
    if (recvmsg(sv[1], &rh, MSG_CMSG_CLOEXEC) != 2 || rh.msg_controllen == 0)
        return 1;
    if (mkdir("/tmp/structs", 0755) < 0)
        return 1;
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "/tmp/structs/f%d", i);
        int fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return 1;
        close(fd);
    }
    DIR *d = opendir("/tmp/structs");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (n != 5)
        return 1;
    puts("structs");
    return 0;
}

static int segv(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        struct rlimit no = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no);
        volatile uintptr_t bad = 0; /* not a constant: a real fault at run time */
        *(volatile int *)bad = 1;
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFSIGNALED(st))
        return 1;
    printf("child killed by %d\n", WTERMSIG(st));
    return 0;
}

static void on_usr1(int sig)
{
    (void)sig;
    static const char m[] = "usr1\n";
    if (write(1, m, sizeof(m) - 1) < 0)
        _exit(1);
}

static void show(const char *what, int sig)
{
    struct sigaction o;
    if (sigaction(sig, NULL, &o) < 0)
        exit(1);
    printf("%s %s %#x %d\n", what,
           o.sa_handler == SIG_DFL   ? "dfl"
           : o.sa_handler == SIG_IGN ? "ign"
                                     : "handler",
           (unsigned)o.sa_flags, sigismember(&o.sa_mask, SIGINT));
}

static int sigdfl(void)
{
    show("term", SIGTERM);
    show("segv", SIGSEGV);
    show("chld", SIGCHLD);
    show("rt2", SIGRTMIN + 2);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_RESTART;
    sigaddset(&sa.sa_mask, SIGINT);
    if (sigaction(SIGTERM, &sa, NULL) < 0)
        return 1;
    show("term", SIGTERM);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESETHAND;
    if (sigaction(SIGUSR1, &sa, NULL) < 0)
        return 1;
    show("usr1", SIGUSR1);
    fflush(stdout);
    raise(SIGUSR1);
    show("usr1", SIGUSR1);
    fflush(stdout);
    raise(SIGUSR1);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "segv") == 0)
        return segv();
    if (argc == 2 && strcmp(argv[1], "sigdfl") == 0)
        return sigdfl();
    if (argc == 2 && strcmp(argv[1], "structs") == 0)
        return structs();
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
    if ((argc == 3 || (argc == 4 && strcmp(argv[3], "go") == 0)) && strcmp(argv[1], "flood") == 0) {
        long n = atol(argv[2]);
        char c;
        if (argc == 4 && read(0, &c, 1) < 0)
            return 1;
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
    fputs("usage: traceguest threads T N | flood N | fork N | structs | segv | sigdfl\n", stderr);
    return 2;
}
