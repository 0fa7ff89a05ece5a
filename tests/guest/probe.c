/*
 * probe: a static guest program that reports what a sandboxed process sees
 * (open fds, syscall outcomes, capabilities, identity, session, network
 * interfaces, pids), one fact per line, for tests/integration to compare.
 *
 * The syscall probes pick arguments for which the kernel itself would answer
 * something other than EPERM/ENOSYS (EFAULT, EINVAL, EBADF, ENOTTY, or
 * success), so that `errno=EPERM` can only come from the seccomp filter and
 * not from the capabilities the sandbox dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sbx/macro.h"

/* Outcome of one syscall probe: 0 when it worked, else a positive errno value. */
typedef int (*probe_fn)(void);

static int result(long r)
{
    return r < 0 ? errno : 0;
}

static int probe_mount(void)
{
    /* The kernel copies the type string first: an invalid pointer is EFAULT. */
    return result(syscall(SYS_mount, "none", "/tmp", (const char *)1, 0UL, NULL));
}

static int probe_unshare_mnt(void)
{
    /* With a new user namespace an unprivileged process may have a mount namespace too. */
    return result(unshare(CLONE_NEWUSER | CLONE_NEWNS));
}

static int probe_unshare_user(void)
{
    /* Needs no capability at all: only the filter stands in the way. */
    return result(unshare(CLONE_NEWUSER));
}

static int probe_unshare_files(void)
{
    return result(unshare(CLONE_FILES));
}

static int probe_bpf(void)
{
    /* An unknown command: EINVAL from the kernel. */
    return result(syscall(SYS_bpf, 0x7fff, NULL, 0));
}

static int probe_io_uring(void)
{
    /* A NULL params pointer: EFAULT from the kernel. */
    return result(syscall(SYS_io_uring_setup, 1, NULL));
}

static int probe_keyctl(void)
{
    /* An unknown operation: EOPNOTSUPP from the kernel. */
    return result(syscall(SYS_keyctl, 0x7fff, 0UL, 0UL, 0UL, 0UL));
}

static int probe_perf_event_open(void)
{
    /* A NULL attr pointer: EFAULT from the kernel. */
    return result(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0UL));
}

static int probe_userfaultfd(void)
{
    /*
     * UFFD_USER_MODE_ONLY (1) passes the vm.unprivileged_userfaultfd check;
     * the unknown flag bits next to it are EINVAL from the kernel.
     */
    return result(syscall(SYS_userfaultfd, 0x7fff0001));
}

static int probe_clone3(void)
{
    /* A real fork through clone3; the child exits at once. */
    struct clone_args args = { .exit_signal = SIGCHLD };
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0)
        return errno;
    if (pid == 0)
        _exit(0);
    int status;
    if (waitpid((pid_t)pid, &status, 0) < 0)
        return errno;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : ECHILD;
}

static int probe_tiocsti(void)
{
    /* On fd 0; when stdin is not a terminal the kernel says ENOTTY. */
    char c = '#';
    return result(ioctl(0, TIOCSTI, &c));
}

static const struct {
    const char *name;
    probe_fn fn;
} syscall_probes[] = {
    { "mount", probe_mount },
    { "unshare-mnt", probe_unshare_mnt },
    { "unshare-user", probe_unshare_user },
    { "unshare-files", probe_unshare_files },
    { "bpf", probe_bpf },
    { "io_uring", probe_io_uring },
    { "keyctl", probe_keyctl },
    { "perf_event_open", probe_perf_event_open },
    { "userfaultfd", probe_userfaultfd },
    { "clone3", probe_clone3 },
    { "tiocsti", probe_tiocsti },
};

static int cmd_syscall(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(syscall_probes); i++) {
        if (strcmp(name, syscall_probes[i].name) != 0)
            continue;
        int err = syscall_probes[i].fn();
        if (err == 0) {
            puts("ok");
        } else {
            const char *ename = strerrorname_np(err);
            if (ename)
                printf("errno=%s\n", ename);
            else
                printf("errno=%d\n", err);
        }
        return 0;
    }
    fprintf(stderr, "probe: unknown syscall probe '%s'\n", name);
    return 2;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Open fds in ascending order, without the one that reads the directory. */
static int cmd_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        perror("probe: /proc/self/fd");
        return 1;
    }
    int fds[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < ARRAY_SIZE(fds)) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd != dirfd(d))
            fds[n++] = fd;
    }
    closedir(d);
    qsort(fds, n, sizeof(fds[0]), cmp_int);
    for (size_t i = 0; i < n; i++)
        printf("%d\n", fds[i]);
    return 0;
}

/* The capability, no_new_privs and seccomp lines of /proc/self/status, as KEY=VALUE. */
static int cmd_caps(void)
{
    static const char *const keys[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                        "NoNewPrivs", "Seccomp" };
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) {
        perror("probe: /proc/self/status");
        return 1;
    }
    char line[512];
    unsigned found = 0;
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
            if (strcmp(line, keys[i]) != 0)
                continue;
            char *v = colon + 1;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = '\0';
            printf("%s=%s\n", keys[i], v);
            found++;
        }
    }
    fclose(f);
    if (found != ARRAY_SIZE(keys)) {
        fprintf(stderr, "probe: /proc/self/status lacks some of the expected lines\n");
        return 1;
    }
    return 0;
}

static int cmd_ids(void)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0) {
        perror("probe: getresuid");
        return 1;
    }
    gid_t groups[1024];
    int n = getgroups((int)ARRAY_SIZE(groups), groups);
    if (n < 0) {
        perror("probe: getgroups");
        return 1;
    }
    printf("uid=%u euid=%u suid=%u\n", ruid, euid, suid);
    printf("gid=%u egid=%u sgid=%u\n", rgid, egid, sgid);
    printf("groups=");
    for (int i = 0; i < n; i++)
        printf("%s%u", i ? "," : "", groups[i]);
    printf("\n");
    return 0;
}

static int cmd_sid(void)
{
    pid_t sid = getsid(0), pid = getpid();
    printf("sid=%d pid=%d leader=%s\n", (int)sid, (int)pid, sid == pid ? "yes" : "no");
    return 0;
}

static int cmd_ifaces(void)
{
    struct if_nameindex *ifs = if_nameindex();
    if (!ifs) {
        perror("probe: if_nameindex");
        return 1;
    }
    for (struct if_nameindex *i = ifs; i->if_index; i++)
        printf("%s\n", i->if_name);
    if_freenameindex(ifs);
    return 0;
}

static int cmd_pid(void)
{
    printf("pid=%d ppid=%d\n", (int)getpid(), (int)getppid());
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "Usage: probe fds | caps | ids | sid | ifaces | pid\n"
                    "       probe syscall NAME     (prints ok or errno=NAME)\n"
                    "syscall probes:");
    for (size_t i = 0; i < ARRAY_SIZE(syscall_probes); i++)
        fprintf(stderr, " %s", syscall_probes[i].name);
    fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(void);
    } simple[] = {
        { "fds", cmd_fds }, { "caps", cmd_caps }, { "ids", cmd_ids },
        { "sid", cmd_sid }, { "ifaces", cmd_ifaces }, { "pid", cmd_pid },
    };
    int r = 2;
    if (argc == 2) {
        for (size_t i = 0; i < ARRAY_SIZE(simple); i++)
            if (strcmp(argv[1], simple[i].name) == 0)
                r = simple[i].fn();
    } else if (argc == 3 && strcmp(argv[1], "syscall") == 0) {
        r = cmd_syscall(argv[2]);
    }
    if (r == 2)
        usage();
    if (fflush(stdout) != 0) {
        perror("probe: stdout");
        return 1;
    }
    return r;
}
