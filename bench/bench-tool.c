/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Timing and load helpers of the benchmark harness (bench/run), in C so that
 * what is measured is the command, not a shell or interpreter around it.
 *
 *   bench-tool time N [--stdin FILE] [--fresh SRC DST] [--] CMD [ARGS...]
 *       Runs CMD N times one after the other and prints the wall time of each
 *       run in nanoseconds on one line. With --fresh, SRC is copied to DST
 *       (a new inode) before each run and DST removed after it, outside the
 *       timed interval. Any exit status other than 0 is an error: the
 *       command's stderr is printed and bench-tool exits 1.
 *
 *   bench-tool scale N DAEMON_PID [--] CMD [ARGS...]
 *       Starts N copies of `CMD ARGS... /bin/sh -c 'sleep 2; exit K'` at once,
 *       each with its own K, and checks that each exits with its K.  The sleep
 *       keeps them alive together, so the daemon's RSS is measured with all N
 *       sandboxes live. While they run
 *       it samples the daemon's VmRSS and its number of child processes (the
 *       live sandboxes). Prints key=value pairs on one line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "bench-tool: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

static void print_file(const char *path, FILE *to)
{
    char buf[4096];
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, to);
    fclose(f);
}

static void copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        die("open %s failed", src);
    struct stat st;
    if (fstat(in, &st) < 0)
        die("stat %s failed", src);
    unlink(dst);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0)
        die("create %s failed", dst);
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = sendfile(out, in, NULL, (size_t)left);
        if (n <= 0)
            die("copy to %s failed", dst);
        left -= n;
    }
    close(in);
    close(out);
}

/* Spawns argv with stdin from stdin_path (or /dev/null), stdout to /dev/null
 * and stderr to err_path. Returns the pid. */
static pid_t spawn(char **argv, const char *stdin_path, const char *err_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_path ? stdin_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0) {
        errno = err;
        die("cannot start %s", argv[0]);
    }
    return pid;
}

static int cmd_time(int argc, char **argv)
{
    const char *stdin_path = NULL, *fresh_src = NULL, *fresh_dst = NULL;
    char *end;
    long n = strtol(argv[0], &end, 10);
    if (*end != '\0' || n <= 0)
        die("time: bad run count '%s'", argv[0]);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--stdin") == 0 && i + 1 < argc) {
            stdin_path = argv[++i];
        } else if (strcmp(argv[i], "--fresh") == 0 && i + 2 < argc) {
            fresh_src = argv[++i];
            fresh_dst = argv[++i];
        } else {
            die("time: unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc)
        die("time: no command%s", "");
    char err_path[] = "/tmp/bench-tool-err.XXXXXX";
    int efd = mkstemp(err_path);
    if (efd < 0)
        die("mkstemp %s failed", err_path);
    close(efd);
    for (long r = 0; r < n; r++) {
        if (fresh_src)
            copy_file(fresh_src, fresh_dst);
        long long t0 = now_ns();
        pid_t pid = spawn(argv + i, stdin_path, err_path);
        int status;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR)
                die("waitpid failed%s", "");
        long long t1 = now_ns();
        if (fresh_dst)
            unlink(fresh_dst);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "bench-tool: '%s' failed (%s %d); its stderr:\n", argv[i],
                    WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            print_file(err_path, stderr);
            unlink(err_path);
            return 1;
        }
        printf("%s%lld", r ? " " : "", t1 - t0);
    }
    printf("\n");
    unlink(err_path);
    return 0;
}

static long status_kb(int pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The daemon's children, over all its threads: the live sandboxes. */
static int count_children(int pid)
{
    char path[320], buf[65536];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/children", pid, de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        for (ssize_t k = 0; k < n; k++)
            if (buf[k] == ' ')
                count++;
    }
    closedir(d);
    return count;
}

/* The K of the i-th sandbox: 1..255 without 124-127, which sandboxctl uses
 * for its own failures. */
static int expected_status(int i)
{
    int k = 1 + i % 251;
    return k >= 124 ? k + 4 : k;
}

static int cmd_scale(int argc, char **argv)
{
    char *end;
    long n = strtol(argv[0], &end, 10);
    if (*end != '\0' || n <= 0 || n > 100000)
        die("scale: bad count '%s'", argv[0]);
    int dpid = (int)strtol(argv[1], &end, 10);
    if (*end != '\0' || dpid <= 0)
        die("scale: bad daemon pid '%s'", argv[1]);
    int i = 2;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    int nargs = argc - i;
    if (nargs <= 0)
        die("scale: no command%s", "");

    char dir[] = "/tmp/bench-scale.XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp %s failed", dir);
    pid_t *pids = calloc((size_t)n, sizeof(*pids));
    char **cargv = calloc((size_t)nargs + 4, sizeof(*cargv));
    if (!pids || !cargv)
        die("out of memory%s", "");
    memcpy(cargv, argv + i, (size_t)nargs * sizeof(*cargv));
    cargv[nargs] = "/bin/sh";
    cargv[nargs + 1] = "-c";
    cargv[nargs + 3] = NULL;

    long idle_rss = status_kb(dpid, "VmRSS");
    long peak_rss = idle_rss, hwm_before = status_kb(dpid, "VmHWM");
    int live_at_peak = 0, max_live = 0, samples = 0;
    long long t0 = now_ns();
    for (long k = 0; k < n; k++) {
        char script[32], err_path[128];
        snprintf(script, sizeof(script), "sleep 2; exit %d", expected_status((int)k));
        snprintf(err_path, sizeof(err_path), "%s/%ld.err", dir, k);
        cargv[nargs + 2] = script;
        pids[k] = spawn(cargv, NULL, err_path);
    }
    long left = n, bad = 0;
    while (left > 0) {
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
            for (long k = 0; k < n; k++) {
                if (pids[k] != p)
                    continue;
                left--;
                int want = expected_status((int)k);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != want) {
                    char err_path[128];
                    snprintf(err_path, sizeof(err_path), "%s/%ld.err", dir, k);
                    fprintf(stderr,
                            "bench-tool: sandbox %ld: expected exit status %d, got %s %d; "
                            "its stderr:\n",
                            k, want, WIFEXITED(status) ? "exit status" : "signal",
                            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                    print_file(err_path, stderr);
                    bad++;
                }
                break;
            }
        }
        if (left == 0)
            break;
        long rss = status_kb(dpid, "VmRSS");
        int live = count_children(dpid);
        if (rss < 0 || live < 0) {
            fprintf(stderr, "bench-tool: daemon pid %d is gone\n", dpid);
            bad++;
            break;
        }
        samples++;
        if (live > max_live)
            max_live = live;
        if (rss > peak_rss || (rss == peak_rss && live > live_at_peak)) {
            peak_rss = rss;
            live_at_peak = live;
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    long long t1 = now_ns();
    long hwm = status_kb(dpid, "VmHWM");
    for (long k = 0; k < n; k++) {
        char err_path[128];
        snprintf(err_path, sizeof(err_path), "%s/%ld.err", dir, k);
        unlink(err_path);
    }
    rmdir(dir);
    free(pids);
    free(cargv);
    printf("n=%ld failed=%ld wall_ns=%lld idle_rss_kb=%ld peak_rss_kb=%ld live_at_peak=%d "
           "max_live=%d hwm_before_kb=%ld hwm_kb=%ld samples=%d\n",
           n, bad, t1 - t0, idle_rss, peak_rss, live_at_peak, max_live, hwm_before, hwm, samples);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3 && strcmp(argv[1], "time") == 0)
        return cmd_time(argc - 2, argv + 2);
    if (argc >= 4 && strcmp(argv[1], "scale") == 0)
        return cmd_scale(argc - 2, argv + 2);
    fprintf(stderr, "usage: bench-tool time N [--stdin FILE] [--fresh SRC DST] [--] CMD [ARGS...]\n"
                    "       bench-tool scale N DAEMON_PID [--] CMD [ARGS...]\n");
    return 2;
}
