/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rootless runs.  With no daemon answering and no root, sandboxctl makes a
 * user namespace in which the caller is uid 0 and a mount namespace of it,
 * and runs the private daemon there, as bubblewrap and rootless podman do:
 * every sandbox is then a set of namespaces inside the caller's, and what
 * the daemon is allowed is what the caller was.  Loop devices need the
 * host's root, so an ext4 image is served by fuse2fs inside these
 * namespaces and its mount becomes a directory root.
 */
#include "client/rootless.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sbx/fileio.h"
#include "sbx/macro.h"

/* Guest ids 1..65535 come from the subordinate range: guest 0 is the caller. */
#define SUBID_COUNT 65535ul
/* How long fuse2fs may take to mount an image (a bounded wait for the event). */
#define FUSE_MOUNT_WAIT_MS 20000

static void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* The first line of a small file, without its newline. */
static int read_text(const char *path, char *buf, size_t len)
{
    int r = sbx_read_small(path, buf, len);
    if (r < 0)
        return r;
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* Whether sysctl file path reads as exactly value. */
static bool sysctl_is(const char *path, const char *value)
{
    char buf[32];
    return read_text(path, buf, sizeof(buf)) == 0 && strcmp(buf, value) == 0;
}

/* Why unshare(CLONE_NEWUSER) failed, with the fix; returns -err. */
static int userns_failed(int err, struct sbx_error *e)
{
    const char *why = NULL, *fix = NULL;
    if (sysctl_is("/proc/sys/kernel/unprivileged_userns_clone", "0")) {
        why = "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)";
        fix = "sysctl -w kernel.unprivileged_userns_clone=1";
    } else if (sysctl_is("/proc/sys/user/max_user_namespaces", "0") || err == ENOSPC) {
        why = "no user namespace may be made (user.max_user_namespaces is 0 here or reached)";
        fix = "sysctl -w user.max_user_namespaces=15000";
    } else if (sysctl_is("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1")) {
        why = "AppArmor restricts unprivileged user namespaces "
              "(kernel.apparmor_restrict_unprivileged_userns = 1)";
        fix = "an AppArmor profile for sandboxctl that allows userns";
    }
    if (why)
        return sbx_error_set(e, err,
                             "sandboxctl: cannot run rootless: %s; enable them (as root: %s, and "
                             "in /etc/sysctl.d to keep it) or start sandboxd as root and join "
                             "its group",
                             why, fix);
    return sbx_error_set_errno(e, err,
                               "sandboxctl: cannot run rootless: cannot create a user namespace");
}

/* The start of the first range of at least SUBID_COUNT ids of user (name or uid) in file. */
static bool subid_start(const char *file, const char *name, uid_t id, unsigned long *ret)
{
    _cleanup_fclose_ FILE *f = fopen(file, "re");
    if (!f)
        return false;
    char num[16], *line = NULL;
    size_t cap = 0;
    bool found = false;
    snprintf(num, sizeof(num), "%u", (unsigned)id);
    while (!found && getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = '\0';
        if ((!name || strcmp(line, name) != 0) && strcmp(line, num) != 0)
            continue;
        char *end;
        errno = 0;
        unsigned long start = strtoul(c1 + 1, &end, 10);
        if (errno || end != c2)
            continue;
        unsigned long count = strtoul(c2 + 1, &end, 10);
        if (errno || *end || count < SUBID_COUNT || start > UINT32_MAX - SUBID_COUNT)
            continue;
        *ret = start;
        found = true;
    }
    free(line);
    return found;
}

/* The full name of program name in $PATH (or the usual directories), or false. */
static bool find_program(const char *name, char *buf, size_t len)
{
    const char *path = getenv("PATH");
    _cleanup_free_ char *dirs = strdup(path && *path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
    if (!dirs)
        return false;
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (snprintf(buf, len, "%s/%s", d, name) < (int)len && access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

/* Runs argv[0] with argv and waits: its exit status, or -1. */
static int run_wait(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execv(argv[0], argv);
        fprintf(stderr, "sandboxctl: cannot run %s: %m\n", argv[0]);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct idmap {
    uid_t uid;
    gid_t gid;
    unsigned long subuid, subgid; /* starts of the subordinate ranges */
    char newuidmap[PATH_MAX], newgidmap[PATH_MAX];
};

/*
 * The helper that writes the maps with newuidmap and newgidmap, which must
 * run outside the new namespace: it waits for a byte on sync (the parent has
 * unshared), then maps the parent.  Never returns.
 */
static _Noreturn void map_helper(const struct idmap *m, int sync)
{
    char c, pid[16], id[16], sub[16], count[16];
    if (read(sync, &c, 1) != 1)
        _exit(1);
    snprintf(pid, sizeof(pid), "%d", (int)getppid());
    snprintf(count, sizeof(count), "%lu", SUBID_COUNT);
    snprintf(id, sizeof(id), "%u", (unsigned)m->uid);
    snprintf(sub, sizeof(sub), "%lu", m->subuid);
    char *uidv[] = { (char *)m->newuidmap, pid, "0", id, "1", "1", sub, count, NULL };
    if (run_wait(uidv) != 0)
        _exit(1);
    snprintf(id, sizeof(id), "%u", (unsigned)m->gid);
    snprintf(sub, sizeof(sub), "%lu", m->subgid);
    char *gidv[] = { (char *)m->newgidmap, pid, "0", id, "1", "1", sub, count, NULL };
    _exit(run_wait(gidv) == 0 ? 0 : 1);
}

/* unshare with the full map written by the setuid helpers. */
static int enter_mapped(const struct idmap *m, struct sbx_error *e)
{
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0)
        return sbx_error_set_errno(e, errno, "sandboxctl: cannot run rootless: pipe");
    fflush(NULL);
    pid_t helper = fork();
    if (helper < 0) {
        int r = sbx_error_set_errno(e, errno, "sandboxctl: cannot run rootless: fork");
        close(sync[0]);
        close(sync[1]);
        return r;
    }
    if (helper == 0) {
        close(sync[1]);
        map_helper(m, sync[0]);
    }
    close(sync[0]);
    int r = unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 ? sbx_neg_errno() : 0;
    if (r < 0)
        userns_failed(-r, e);
    else if (write(sync[1], "x", 1) != 1)
        r = sbx_error_set_errno(e, errno, "sandboxctl: cannot run rootless: the id map helper");
    close(sync[1]);
    int st;
    while (waitpid(helper, &st, 0) < 0 && errno == EINTR)
        ;
    if (r >= 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        r = sbx_error_set(e, EPERM,
                          "sandboxctl: cannot run rootless: %s or %s could not map the ids "
                          "of /etc/subuid and /etc/subgid (see above)",
                          m->newuidmap, m->newgidmap);
    return r;
}

/*
 * unshare with the caller's own ids alone, no helper.  setgroups is denied
 * there, so the caller's supplementary groups stay with every process.
 */
static int enter_single(const struct idmap *m, struct sbx_error *e)
{
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
        return userns_failed(errno, e);
    char map[64];
    int r = sbx_write_small("/proc/self/setgroups", "deny");
    if (r >= 0) {
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)m->uid);
        r = sbx_write_small("/proc/self/uid_map", map);
    }
    if (r >= 0) {
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)m->gid);
        r = sbx_write_small("/proc/self/gid_map", map);
    }
    if (r < 0)
        return sbx_error_set_errno(e, r, "sandboxctl: cannot run rootless: cannot map your ids");
    return r;
}

/*
 * $XDG_RUNTIME_DIR/sandboxd, or /tmp/sandboxd-UID: made mode 0700 by the
 * caller, and refused if it is anything but a directory of the caller's
 * own that nobody else may enter (another user could make it first).
 */
static int make_state_dir(struct sbx_rootless *rl, uid_t uid, struct sbx_error *e)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n = xdg && xdg[0] == '/'
                ? snprintf(rl->state_dir, sizeof(rl->state_dir), "%s/sandboxd", xdg)
                : snprintf(rl->state_dir, sizeof(rl->state_dir), "/tmp/sandboxd-%u", (unsigned)uid);
    if (n >= (int)sizeof(rl->state_dir))
        return sbx_error_set(e, ENAMETOOLONG, "sandboxctl: XDG_RUNTIME_DIR is too long: %s",
                             xdg ? xdg : "");
    if (mkdir(rl->state_dir, 0700) < 0 && errno != EEXIST)
        return sbx_error_set_errno(e, errno, "sandboxctl: cannot create %s", rl->state_dir);
    struct stat st;
    if (lstat(rl->state_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid ||
        (st.st_mode & 0077))
        return sbx_error_set(e, EPERM,
                             "sandboxctl: cannot use %s as the private state directory: it must "
                             "be a directory of yours, mode 0700%s",
                             rl->state_dir,
                             xdg && xdg[0] == '/'
                                 ? ""
                                 : " (another user may have made it first: set XDG_RUNTIME_DIR "
                                   "to a directory of your own)");
    return 0;
}

/*
 * Whether the caller's own cgroup is delegated to it: cgroup v2 at
 * /sys/fs/cgroup with the memory and pids controllers, and the caller may
 * make a child there and move processes (systemd's user manager delegates
 * user@UID.service; a `systemd-run --user -p Delegate=yes` scope too).
 */
static bool cgroup_delegated(void)
{
    char line[PATH_MAX], path[PATH_MAX + 64], ctrls[512];
    _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strncmp(line, "0::/", 4) == 0;
    if (!found)
        return false;
    line[strcspn(line, "\n")] = '\0';
    const char *own = line + 3;
    snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.controllers", own);
    if (read_text(path, ctrls, sizeof(ctrls)) < 0 || !strstr(ctrls, "memory") ||
        !strstr(ctrls, "pids"))
        return false;
    snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.procs", own);
    if (access(path, W_OK) < 0)
        return false;
    snprintf(path, sizeof(path), "/sys/fs/cgroup%s", own);
    return access(path, W_OK) == 0;
}

int sbx_rootless_enter(struct sbx_rootless *rl, struct sbx_error *e)
{
    *rl = (struct sbx_rootless){ 0 };
    struct idmap m = { .uid = getuid(), .gid = getgid() };
    int r = make_state_dir(rl, m.uid, e);
    if (r < 0)
        return r;
    struct passwd *pw = getpwuid(m.uid);
    const char *name = pw ? pw->pw_name : NULL;
    bool full = subid_start("/etc/subuid", name, m.uid, &m.subuid) &&
                subid_start("/etc/subgid", name, m.uid, &m.subgid);
    bool tools = find_program("newuidmap", m.newuidmap, sizeof(m.newuidmap)) &&
                 find_program("newgidmap", m.newgidmap, sizeof(m.newgidmap));
    r = full && tools ? enter_mapped(&m, e) : enter_single(&m, e);
    if (r >= 0 && !(full && tools))
        fprintf(stderr,
                "sandboxctl: rootless: %s, so the sandbox has only your own ids (guest uid and "
                "gid 0), which keeps your supplementary groups; for guest ids 0-65535, %s\n",
                !full ? "no range of 65536 subordinate ids for you in /etc/subuid and "
                        "/etc/subgid"
                      : "no newuidmap and newgidmap",
                !full ? "ask root for one (usermod --add-subuids 100000-165535 "
                        "--add-subgids 100000-165535 USER)"
                      : "install them (Debian: apt-get install uidmap)");
    if (r < 0)
        return r;
    rl->active = true;
    rl->cgroup = cgroup_delegated();
    if (!rl->cgroup)
        fprintf(stderr, "sandboxctl: rootless: no delegated cgroup (yours is not a cgroup v2 one "
                        "with the memory and pids controllers that you may write): memory, pids "
                        "and CPU limits are not enforced (run inside a delegated one, e.g. "
                        "systemd-run --user --scope -p Delegate=yes)\n");
    return 0;
}

int sbx_rootless_check_limits(const struct sbx_rootless *rl, char *const *options, uint32_t n,
                              struct sbx_error *e)
{
    static const char *const limits[] = { "memory=", "pids-limit=", "cpus=" };
    for (uint32_t i = 0; !rl->cgroup && i < n; i++) {
        for (size_t k = 0; k < ARRAY_SIZE(limits); k++) {
            if (strncmp(options[i], limits[k], strlen(limits[k])) != 0)
                continue;
            return sbx_error_set(e, EPERM,
                                 "sandboxctl: --%.*s: rootless with no delegated cgroup, no "
                                 "limit can be enforced: run sandboxctl in a cgroup of your own "
                                 "(systemd-run --user --scope -p Delegate=yes sandboxctl run "
                                 "...), or through a sandboxd",
                                 (int)(strchr(options[i], '=') - options[i]), options[i]);
        }
    }
    return 0;
}

/* Whether dir is a mount point: on another filesystem than its parent, or another mount of it. */
static bool is_mount_point(const char *dir)
{
    struct stat a, b;
    char parent[PATH_MAX + 4];
    snprintf(parent, sizeof(parent), "%s/..", dir);
    return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* The start of what fuse2fs wrote to log, as ": TEXT" on one line, or "". */
static const char *log_text(int log)
{
    static char buf[512];
    ssize_t n = pread(log, buf + 2, sizeof(buf) - 3, 0);
    if (n <= 0)
        return "";
    buf[0] = ':';
    buf[1] = ' ';
    buf[n + 2] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = *(p + 1) ? ' ' : '\0';
    return buf;
}

/*
 * fuse2fs serves the image read-only on a mount point of the state
 * directory; it reads the image through the fd sandboxctl opened (its
 * /proc/self/fd name), and dies with sandboxctl.  The kernel checks the
 * modes (default_permissions) for every sandbox's ids (allow_other).
 */
static int fuse_mount(struct sbx_rootless *rl, const char *path, int fd, struct sbx_error *e)
{
    char fuse2fs[PATH_MAX];
    if (!find_program("fuse2fs", fuse2fs, sizeof(fuse2fs))) {
        return sbx_error_set(e, ENOENT,
                             "sandboxctl: image %s: rootless, an ext4 image needs fuse2fs "
                             "(Debian: apt-get install fuse2fs), or give a directory root instead",
                             path);
    }
    _cleanup_close_ int dev = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (dev < 0) {
        int err = errno;
        return sbx_error_set(e, err,
                             "sandboxctl: image %s: rootless, an ext4 image is read by fuse2fs, "
                             "which needs /dev/fuse: %s (it must exist and be mode 0666; or "
                             "give a directory root)",
                             path, strerror(err));
    }
    /*
     * The mount point is on a tmpfs of sandboxctl's own mount namespace over
     * STATE_DIR/fuse, so it is gone with the namespace even when sandboxctl
     * is killed, and every run has its own under the same name.
     */
    char fuse_dir[sizeof(rl->state_dir) + 8];
    snprintf(fuse_dir, sizeof(fuse_dir), "%s/fuse", rl->state_dir);
    snprintf(rl->mnt, sizeof(rl->mnt), "%s/image", fuse_dir);
    if ((mkdir(fuse_dir, 0700) < 0 && errno != EEXIST) ||
        mount("sbx-fuse", fuse_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=16k,mode=0700") < 0 ||
        mkdir(rl->mnt, 0700) < 0) {
        rl->mnt[0] = '\0';
        return sbx_error_set_errno(
            e, errno, "sandboxctl: cannot make a mount point for fuse2fs in %s", fuse_dir);
    }
    /* What fuse2fs prints ("Mounting read-only.") matters only when it fails. */
    _cleanup_close_ int log = open(rl->state_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (log < 0) {
        return sbx_error_set_errno(e, errno, "sandboxctl: cannot create a file in %s",
                                   rl->state_dir);
    }
    char source[32];
    snprintf(source, sizeof(source), "/proc/self/fd/%d", fd);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return sbx_error_set_errno(e, errno, "sandboxctl: image %s: cannot start fuse2fs", path);
    if (pid == 0) {
        /*
         * SIGTERM makes fuse2fs unmount and end; it must not outlive
         * sandboxctl, not even when sandboxctl died before the death
         * signal was asked for (then the parent is another process).
         * The terminal's Ctrl-C is for the guest, which sandboxctl
         * passes it to, not for the server of its root.
         */
        setpgid(0, 0);
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
            _exit(126);
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0 ||
            dup2(log, STDOUT_FILENO) < 0 || dup2(log, STDERR_FILENO) < 0)
            _exit(126);
        execl(fuse2fs, fuse2fs, source, rl->mnt, "-f", "-o",
              "ro,default_permissions,allow_other,fsname=sbx-image", (char *)NULL);
        _exit(127);
    }
    rl->fuse = pid;
    for (int waited = 0; !is_mount_point(rl->mnt); waited += 10) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rl->fuse = 0;
            return sbx_error_set(e, EIO,
                                 "sandboxctl: image %s: fuse2fs could not serve it (%s %d)%s", path,
                                 WIFEXITED(st) ? "exit status" : "signal",
                                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), log_text(log));
        }
        if (waited >= FUSE_MOUNT_WAIT_MS) {
            return sbx_error_set(e, ETIMEDOUT,
                                 "sandboxctl: image %s: fuse2fs did not mount it in %d s", path,
                                 FUSE_MOUNT_WAIT_MS / 1000);
        }
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
    }
    int root = open(rl->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        return sbx_error_set_errno(e, errno, "sandboxctl: image %s: cannot open fuse2fs's mount",
                                   path);
    }
    return root;
}

int sbx_rootless_root(struct sbx_rootless *rl, const char *path, int fd, struct sbx_error *e)
{
    struct stat before, now;
    if (fstat(fd, &before) < 0)
        return sbx_error_set_errno(e, errno, "sandboxctl: image %s", path);
    if (S_ISREG(before.st_mode))
        return fuse_mount(rl, path, fd, e);
    _cleanup_close_ int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 || fstat(dir, &now) < 0)
        return sbx_error_set_errno(e, errno, "sandboxctl: cannot open image %s", path);
    if (now.st_dev != before.st_dev || now.st_ino != before.st_ino)
        return sbx_error_set(e, ESTALE, "sandboxctl: image %s: replaced while sandboxctl opened it",
                             path);
    return TAKE_FD(dir);
}

void sbx_rootless_done(struct sbx_rootless *rl)
{
    /* fuse2fs unmounts on SIGTERM; a mount still there after it ended goes too. */
    if (rl->fuse > 0) {
        kill(rl->fuse, SIGTERM);
        while (waitpid(rl->fuse, NULL, 0) < 0 && errno == EINTR)
            ;
        rl->fuse = 0;
    }
    if (rl->mnt[0] && is_mount_point(rl->mnt) && umount2(rl->mnt, MNT_DETACH) < 0)
        fprintf(stderr, "sandboxctl: cannot unmount %s: %m\n", rl->mnt);
    rl->mnt[0] = '\0';
}
