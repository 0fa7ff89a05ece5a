/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe: a static guest program that reports what a sandboxed process sees
 * (open fds, syscall outcomes, capabilities, identity, session, network
 * interfaces, pids), one fact per line, for tests/integration to compare.
 *
 * The syscall probes pick arguments for which the kernel itself would answer
 * something other than the filter's errno (EFAULT, EINVAL, EBADF, ENOTTY, or
 * success), so that `errno=EPERM` (or the EAFNOSUPPORT of a refused socket
 * family) can only come from the seccomp filter and not from the
 * capabilities the sandbox dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* A socket that the kernel creates for anyone, in any network namespace. */
static int probe_socket(int family, int type, int protocol)
{
    int fd = socket(family, type | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int probe_vsock(void)
{
    /* Needs no capability; with a vsock transport loaded the kernel says yes. */
    return probe_socket(AF_VSOCK, SOCK_STREAM, 0);
}

static int probe_netlink_uevent(void)
{
    return probe_socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT);
}

static int probe_netlink_route(void)
{
    return probe_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
}

static int probe_seccomp_listener(void)
{
    /*
     * A filter that allows everything, with a listener of its own: the kernel
     * allows one listener in a chain, so this fails with EBUSY when the
     * sandbox's filter has one (a kill rule in the policy).
     */
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = { .len = 1, .filter = &allow };
    long fd =
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd < 0)
        return errno;
    close((int)fd);
    return 0;
}

static const struct {
    const char *name;
    probe_fn fn;
} syscall_probes[] = {
    { "seccomp-listener", probe_seccomp_listener },
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
    { "vsock", probe_vsock },
    { "netlink-uevent", probe_netlink_uevent },
    { "netlink-route", probe_netlink_route },
};

/* Prints "ok" for 0, else "errno=NAME", after an optional label. */
static void print_outcome(const char *label, int err)
{
    if (label)
        printf("%s ", label);
    if (err == 0) {
        puts("ok");
        return;
    }
    const char *ename = strerrorname_np(err);
    if (ename)
        printf("errno=%s\n", ename);
    else
        printf("errno=%d\n", err);
}

static int cmd_syscall(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(syscall_probes); i++) {
        if (strcmp(name, syscall_probes[i].name) != 0)
            continue;
        print_outcome(NULL, syscall_probes[i].fn());
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
    static const char *const keys[] = { "CapInh", "CapPrm",     "CapEff", "CapBnd",
                                        "CapAmb", "NoNewPrivs", "Seccomp" };
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

/*
 * Listens for the kernel's device events (the multicast group udev reads)
 * for up to SECONDS: "listening" once subscribed, then the first event's
 * header ("change@/devices/virtual/block/loop0") or "no event".
 */
static int cmd_uevent(const char *seconds)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    if (fd < 0) {
        print_outcome(NULL, errno);
        return 0;
    }
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        print_outcome("bind", errno);
        close(fd);
        return 0;
    }
    puts("listening");
    fflush(stdout);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int n = poll(&pfd, 1, atoi(seconds) * 1000);
    char buf[8192];
    ssize_t len = n > 0 ? recv(fd, buf, sizeof(buf) - 1, 0) : -1;
    if (len > 0) {
        buf[len] = '\0';
        printf("event %s\n", buf);
    } else {
        puts("no event");
    }
    close(fd);
    return 0;
}

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

enum chmod_call { BY_PATH, BY_FD, BY_DIRFD, BY_DIRFD2 };

/* Makes a fresh file of mode 0644, then gives it mode by one of the chmod calls. */
static int chmod_after_create(int dir, const char *dirpath, const char *name, mode_t mode,
                              enum chmod_call how)
{
    int fd = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dirpath, name);
    long r = how == BY_PATH    ? chmod(path, mode)
             : how == BY_FD    ? fchmod(fd, mode)
             : how == BY_DIRFD ? fchmodat(dir, name, mode, 0)
                               : syscall(SYS_fchmodat2, dir, name, mode, 0);
    int err = r < 0 ? errno : 0;
    close(fd);
    return err;
}

static int created(long fd)
{
    if (fd < 0)
        return errno;
    close((int)fd);
    return 0;
}

/*
 * Tries every way a process has to make a set-user-ID or set-group-ID file
 * in DIR, one line per way: "NAME ok" or "NAME errno=E".  Whether a set-id
 * file was left behind is for the caller to look at.
 */
static int cmd_setid(const char *dirpath)
{
    int dir = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        perror("probe: setid directory");
        return 1;
    }
    umask(022);
    print_outcome("open", created(openat(dir, "open", O_CREAT | O_WRONLY | O_CLOEXEC, 04755)));
    print_outcome("open-setgid",
                  created(openat(dir, "open-setgid", O_CREAT | O_WRONLY | O_CLOEXEC, 02755)));
    char path[4096];
    snprintf(path, sizeof(path), "%s/creat", dirpath);
    print_outcome("creat", created(syscall(SYS_creat, path, 04755)));
    snprintf(path, sizeof(path), "%s/open-legacy", dirpath);
    print_outcome("open-legacy", created(syscall(SYS_open, path, O_CREAT | O_WRONLY, 04755)));
    print_outcome("mknodat", mknodat(dir, "mknodat", S_IFREG | 04755, 0) < 0 ? errno : 0);
    snprintf(path, sizeof(path), "%s/mknod", dirpath);
    print_outcome("mknod", syscall(SYS_mknod, path, S_IFREG | 04755, 0) < 0 ? errno : 0);

    /* An unnamed file with the bits, given a name afterwards. */
    int tmp = openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 04755);
    int err = tmp < 0 ? errno : 0;
    if (tmp >= 0) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tmp);
        if (linkat(AT_FDCWD, proc, dir, "tmpfile", AT_SYMLINK_FOLLOW) < 0)
            err = errno;
        close(tmp);
    }
    print_outcome("tmpfile", err);

    struct open_how how = { .flags = O_CREAT | O_WRONLY | O_CLOEXEC, .mode = 04755 };
    print_outcome("openat2", created(syscall(SYS_openat2, dir, "openat2", &how, sizeof(how))));

    static const struct {
        const char *name;
        mode_t mode;
        enum chmod_call how;
    } chmods[] = {
        { "chmod", 04755, BY_PATH },       { "fchmod", 04755, BY_FD },
        { "fchmodat", 04755, BY_DIRFD },   { "fchmodat2", 04755, BY_DIRFD2 },
        { "fchmod-setgid", 02755, BY_FD }, { "fchmod-plain", 0755, BY_FD },
    };
    for (size_t i = 0; i < ARRAY_SIZE(chmods); i++)
        print_outcome(chmods[i].name, chmod_after_create(dir, dirpath, chmods[i].name,
                                                         chmods[i].mode, chmods[i].how));
    close(dir);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "Usage: probe fds | caps | ids | sid | ifaces | pid\n"
                    "       probe syscall NAME     (prints ok or errno=NAME)\n"
                    "       probe uevent SECONDS   (waits for a device event)\n"
                    "       probe setid DIR        (tries to make set-id files in DIR)\n"
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
        { "fds", cmd_fds }, { "caps", cmd_caps },     { "ids", cmd_ids },
        { "sid", cmd_sid }, { "ifaces", cmd_ifaces }, { "pid", cmd_pid },
    };
    int r = 2;
    if (argc == 2) {
        for (size_t i = 0; i < ARRAY_SIZE(simple); i++)
            if (strcmp(argv[1], simple[i].name) == 0)
                r = simple[i].fn();
    } else if (argc == 3 && strcmp(argv[1], "syscall") == 0) {
        r = cmd_syscall(argv[2]);
    } else if (argc == 3 && strcmp(argv[1], "uevent") == 0) {
        r = cmd_uevent(argv[2]);
    } else if (argc == 3 && strcmp(argv[1], "setid") == 0) {
        r = cmd_setid(argv[2]);
    }
    if (r == 2)
        usage();
    if (fflush(stdout) != 0) {
        perror("probe: stdout");
        return 1;
    }
    return r;
}
