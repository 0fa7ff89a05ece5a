/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Standalone launcher for the trampoline, for tests on the host until the
 * daemon runs it: sets up the descriptors sandbox init would (trampoline
 * memfd, a libseccomp policy allowing everything but mount, a stats memfd,
 * the status pipe), sets no_new_privs and execveat's the trampoline.
 *
 *   launch [--check] [--expect CODE:STAGE] [--no-stats] [--no-policy] [--mode NAME]
 *          [--sitemap HELPER] TRAMPOLINE PROGRAM [ARGS...]
 *
 * --sitemap runs HELPER (sbx-sitemap) over PROGRAM's directory, as the
 * daemon does over an image, and appends its map to the trampoline memfd.
 *
 * ARGS start with the guest's argv[0].  Afterwards it prints the status
 * record (if any), the exit status and the per-syscall counts of trapped
 * calls and of calls through rewritten sites.  With
 * --check it relays the guest's stdout, and succeeds only when the guest
 * exited 0 and printed a line starting with "PASS".  With --expect it
 * succeeds only when the trampoline failed to start the guest with that exit
 * code and a status record of that stage.
 */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sbx/abi.h"
#include "sbx/sitemap.h"

extern char **environ;

static int die(const char *what)
{
    fprintf(stderr, "launch: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void copy_fd(int in, int out)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            die("write memfd");
    if (n < 0)
        die("read");
}

/* The map sbx-sitemap (helper) makes of dir, in a memfd at offset 0, and its length. */
static int run_sitemap(const char *helper, const char *dir, size_t *ret_len)
{
    int out = memfd_create("sitemap", MFD_CLOEXEC);
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (out < 0 || root < 0)
        die(dir);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        /* Out of the way of 3 and 4 first: root and out may be 3 or 4 themselves. */
        int r = fcntl(root, F_DUPFD, 10), o = fcntl(out, F_DUPFD, 10);
        if (r < 0 || o < 0 || dup2(r, 3) < 0 || dup2(o, 4) < 0)
            die("dup2");
        execl(helper, "sbx-sitemap", (char *)NULL);
        die(helper);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "launch: %s failed (status %#x)\n", helper, st);
        exit(2);
    }
    close(root);
    struct stat s;
    if (fstat(out, &s) < 0 || lseek(out, 0, SEEK_SET) < 0)
        die("sitemap output");
    *ret_len = (size_t)s.st_size;
    return out;
}

static int memfd_of_file(const char *path, const char *sitemap_helper, const char *prog)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        die(path);
    int fd = memfd_create("sbx-trampoline", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        die("memfd_create");
    copy_fd(in, fd);
    close(in);
    if (sitemap_helper) {
        /* The map from the next page on, then its footer (include/sbx/sitemap.h). */
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", prog);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        size_t len;
        int map = run_sitemap(sitemap_helper, slash ? dir : ".", &len);
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0 || lseek(fd, (end + 4095) & ~(off_t)4095, SEEK_SET) < 0)
            die("lseek");
        copy_fd(map, fd);
        close(map);
        struct sbx_sitemap_footer ft = { .magic = SBX_SITEMAP_FOOTER_MAGIC, .bytes = len };
        if (write(fd, &ft, sizeof(ft)) != (ssize_t)sizeof(ft))
            die("write the footer");
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        die("seal");
    return fd;
}

static int policy_memfd(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mount), 0) < 0)
        die("libseccomp");
    int fd = memfd_create("sbx-policy", MFD_CLOEXEC);
    if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0)
        die("export policy");
    seccomp_release(ctx);
    return fd;
}

static struct sbx_stats *stats_memfd(int *ret_fd)
{
    int fd = memfd_create("sbx-stats", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, sizeof(struct sbx_stats)) < 0)
        die("stats memfd");
    struct sbx_stats *st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (st == MAP_FAILED)
        die("mmap stats");
    st->magic = SBX_STATS_MAGIC;
    /* As `sandboxctl run --stats`: the counts must survive the guests' execs. */
    st->flags = SBX_STATS_KEEP_FD;
    *ret_fd = fd;
    return st;
}

/* Moves fd to target without close-on-exec. */
static void place(int fd, int target)
{
    if (dup2(fd, target) < 0)
        die("dup2");
}

static void print_counts(const char *what, const uint64_t *counts)
{
    uint64_t total = 0;
    fprintf(stderr, "launch: %s:", what);
    for (int nr = 0; nr < SBX_STATS_NSYSCALLS; nr++) {
        if (!counts[nr])
            continue;
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
        fprintf(stderr, " %s=%llu", name ? name : "?", (unsigned long long)counts[nr]);
        free(name);
        total += counts[nr];
    }
    fprintf(stderr, " (total %llu)\n", (unsigned long long)total);
}

static void print_stats(const struct sbx_stats *st)
{
    print_counts("trapped", st->trapped);
    print_counts("patched", st->patched);
}

/* Copies the guest's output to ours and looks for a line starting with PASS. */
static bool relay(int fd)
{
    char buf[4096];
    bool pass = false, bol = true;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        fwrite(buf, 1, (size_t)n, stdout);
        for (ssize_t i = 0; i < n; i++) {
            if (bol && n - i >= 4 && memcmp(buf + i, "PASS", 4) == 0)
                pass = true;
            bol = buf[i] == '\n';
        }
    }
    fflush(stdout);
    return pass;
}

int main(int argc, char **argv)
{
    bool check = false, want_stats = true, want_policy = true;
    int expect_code = -1, expect_stage = -1;
    const char *mode = SBX_MODE_NAME_TRAP, *sitemap_helper = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--check"))
            check = true;
        else if (!strcmp(argv[i], "--no-stats"))
            want_stats = false;
        else if (!strcmp(argv[i], "--no-policy"))
            want_policy = false;
        else if (!strcmp(argv[i], "--expect") && i + 1 < argc &&
                 sscanf(argv[i + 1], "%d:%d", &expect_code, &expect_stage) == 2)
            i++;
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
            mode = argv[++i];
        else if (!strcmp(argv[i], "--sitemap") && i + 1 < argc)
            sitemap_helper = argv[++i];
        else
            break;
    }
    if (argc - i < 2) {
        fprintf(stderr, "usage: launch [--check] [--expect CODE:STAGE] [--no-stats] [--no-policy] "
                        "[--mode NAME] [--sitemap HELPER] TRAMPOLINE PROGRAM [ARGV0 ARGS...]\n");
        return 2;
    }
    const char *tramp = argv[i], *prog = argv[i + 1];
    char **gargv = argv + i + 2;
    int nargs = argc - i - 2;

    int tfd = memfd_of_file(tramp, sitemap_helper, prog);
    int pfd = want_policy ? policy_memfd() : -1;
    int sfd = -1;
    struct sbx_stats *stats = want_stats ? stats_memfd(&sfd) : NULL;
    int status_pipe[2], out_pipe[2] = { -1, -1 };
    if (pipe2(status_pipe, O_CLOEXEC) < 0 || (check && pipe2(out_pipe, O_CLOEXEC) < 0))
        die("pipe");

    /* The guest's argv goes to the trampoline as it is; mode and path in the request. */
    const char **targv = calloc((size_t)nargs + 2, sizeof(*targv));
    for (int k = 0; k < nargs; k++)
        targv[k] = gargv[k];
    if (nargs == 0)
        targv[0] = prog;
    /* envp, then the exec request: the tagged mode and the path (abi.h). */
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **tenv = calloc(nenv + 3, sizeof(*tenv));
    char *tag = malloc(strlen(SBX_EXEC_TAG) + strlen(mode) + 1);
    if (!tenv || !tag)
        die("calloc");
    memcpy(tenv, environ, nenv * sizeof(*tenv));
    strcat(strcpy(tag, SBX_EXEC_TAG), mode);
    tenv[nenv] = tag;
    tenv[nenv + 1] = (char *)prog;

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (check)
            place(out_pipe[1], 1);
        place(status_pipe[1], SBX_FD_STATUS);
        if (sfd >= 0)
            place(sfd, SBX_FD_STATS);
        if (pfd >= 0)
            place(pfd, SBX_FD_POLICY);
        place(tfd, SBX_FD_TRAMPOLINE);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            die("no_new_privs");
        syscall(SYS_execveat, SBX_FD_TRAMPOLINE, "", targv, tenv, AT_EMPTY_PATH);
        die("execveat trampoline");
    }
    close(status_pipe[1]);
    bool pass = check ? (close(out_pipe[1]), relay(out_pipe[0])) : true;

    struct sbx_status_record rec;
    ssize_t n = read(status_pipe[0], &rec, sizeof(rec));
    bool have_rec = n == (ssize_t)sizeof(rec);
    if (have_rec)
        fprintf(stderr, "launch: status record: stage %d, %s\n", rec.stage, strerror(rec.err));
    int ws;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    if (WIFEXITED(ws))
        fprintf(stderr, "launch: exit status %d\n", code);
    else
        fprintf(stderr, "launch: killed by signal %d\n", WTERMSIG(ws));
    if (stats)
        print_stats(stats);
    if (expect_code >= 0)
        return code == expect_code && have_rec && rec.stage == expect_stage ? 0 : 1;
    if (check) {
        if (!pass)
            fprintf(stderr, "launch: no PASS line from the guest\n");
        return code == 0 && pass ? 0 : 1;
    }
    return code;
}
