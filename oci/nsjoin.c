/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The namespaces a container joins by path.  Kubernetes puts a pod's
 * containers into its pause container's network, ipc and uts namespaces
 * and names them by the pid the runtime wrote to --pid-file, which for a
 * sandboxd-oci container is its monitor's, on the host.  A path
 * /proc/PID/ns/TYPE whose PID is the monitor of a container under --root
 * therefore means that container's sandbox: its sbx-init's namespace.  Any
 * other path is opened as it is, and none may be the host's own (the
 * runtime's, or that of the host's pid 1).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "sbx/macro.h"

static const char *const proc_names[SBX_OCI_NS_N] = { "net", "ipc", "uts" };
static const char *const oci_names[SBX_OCI_NS_N] = { "network", "ipc", "uts" };
static const int clone_flags[SBX_OCI_NS_N] = { CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS };

int sbx_oci_ns_clone_flag(int kind)
{
    return clone_flags[kind];
}

/*
 * The container under root whose monitor is pid (and still that process):
 * 1 with its sbx-init's pid and start time, 0 if there is none.
 */
static int monitor_owner(const char *root, pid_t pid, pid_t *ret_init, uint64_t *ret_start)
{
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : sbx_neg_errno();
    int found = 0;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        char dir[PATH_MAX];
        struct sbx_error ignored;
        struct sbx_oci_state s;
        if (de->d_name[0] == '.' ||
            sbx_oci_state_dir(root, de->d_name, dir, sizeof(dir), &ignored) < 0 ||
            sbx_oci_state_read(dir, &s, &ignored) < 0)
            continue;
        if (s.monitor == pid && sbx_oci_alive(s.monitor, s.monitor_start)) {
            *ret_init = s.init;
            *ret_start = s.init_start;
            found = 1;
        }
        sbx_oci_state_free(&s);
    }
    closedir(d);
    return found;
}

/* The namespace at path, mapped to a sandbox's when it is a monitor's; an O_RDONLY fd. */
static int open_one(const char *root, int kind, const char *path, struct sbx_error *e)
{
    const char *what = oci_names[kind];
    int pid = 0, end = 0;
    char name[8] = "";
    _cleanup_close_ int fd = -EBADF;
    if (sscanf(path, "/proc/%d/ns/%7[a-z]%n", &pid, name, &end) == 2 && !path[end] && pid > 0) {
        pid_t init = 0;
        uint64_t start = 0;
        int r = monitor_owner(root, pid, &init, &start);
        if (r < 0)
            return sbx_error_set(e, r, "linux.namespaces: read the containers in %s: %s", root,
                                 strerror(-r));
        if (r > 0) {
            if (strcmp(name, proc_names[kind]) != 0)
                return sbx_error_set(e, EINVAL, "linux.namespaces: %s is not a %s namespace", path,
                                     what);
            char own[64];
            snprintf(own, sizeof(own), "/proc/%d/ns/%s", (int)init, proc_names[kind]);
            fd = open(own, O_RDONLY | O_CLOEXEC);
            /* Checked after the open: the fd is then that sandbox's, not a reused pid's. */
            if (fd < 0 || !sbx_oci_alive(init, start))
                return sbx_error_set(e, ESRCH,
                                     "linux.namespaces: %s: the container of monitor %d has "
                                     "stopped",
                                     path, pid);
        }
    }
    if (fd < 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return sbx_error_set(e, errno, "linux.namespaces: %s namespace %s: %s", what, path,
                             strerror(errno));
    int type = ioctl(fd, NS_GET_NSTYPE);
    if (type != clone_flags[kind])
        return sbx_error_set(e, EINVAL, "linux.namespaces: %s is not a %s namespace", path, what);
    /*
     * The runtime's own namespace, and the host init's: a runtime started
     * in a namespace of its own (a shim in a pod's network, say) must not
     * take the host's for a pod's.
     */
    struct stat want;
    if (fstat(fd, &want) < 0)
        return sbx_error_set_errno(e, errno, "linux.namespaces: %s namespace %s", what, path);
    for (int i = 0; i < 2; i++) {
        char host_path[32];
        struct stat host;
        snprintf(host_path, sizeof(host_path), "/proc/%s/ns/%s", i ? "1" : "self",
                 proc_names[kind]);
        if (stat(host_path, &host) == 0 && want.st_dev == host.st_dev && want.st_ino == host.st_ino)
            return sbx_error_set(e, EOPNOTSUPP,
                                 "linux.namespaces: %s is the host's %s namespace, which a "
                                 "sandbox does not join",
                                 path, what);
    }
    return TAKE_FD(fd);
}

int sbx_oci_ns_open(const char *root, const struct sbx_oci_config *c, int ret[SBX_OCI_NS_N],
                    struct sbx_error *e)
{
    for (int k = 0; k < SBX_OCI_NS_N; k++)
        ret[k] = -EBADF;
    for (int k = 0; k < SBX_OCI_NS_N; k++) {
        if (!c->join_path[k])
            continue;
        int fd = open_one(root, k, c->join_path[k], e);
        if (fd < 0) {
            sbx_oci_ns_close(ret);
            return fd;
        }
        ret[k] = fd;
    }
    return 0;
}

void sbx_oci_ns_close(int fds[SBX_OCI_NS_N])
{
    for (int k = 0; k < SBX_OCI_NS_N; k++) {
        sbx_close(fds[k]);
        fds[k] = -EBADF;
    }
}
