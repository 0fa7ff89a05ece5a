/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state, kill, delete, ps, pause, resume and features: read the state, act on processes and cgroup.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "sbx/macro.h"

/* Reads the state of the container named by the command's one argument. */
static int load(const struct sbx_oci_global *g, const char *id, char *dir, size_t len,
                struct sbx_oci_state *s, struct sbx_error *e)
{
    int r = sbx_oci_state_dir(g->root, id, dir, len, e);
    return r < 0 ? r : sbx_oci_state_read(dir, s, e);
}

static void print_json(json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

int sbx_oci_cmd_state(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    if (argc != 2)
        return sbx_error_set(e, EINVAL, "state: expects exactly one container id");
    char dir[PATH_MAX];
    struct sbx_oci_state s;
    int r = load(g, argv[1], dir, sizeof(dir), &s, e);
    if (r < 0)
        return r;
    const char *st = sbx_oci_status(&s);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
    json_object_object_add(o, "id", json_object_new_string(s.id));
    json_object_object_add(o, "pid", json_object_new_int(strcmp(st, "stopped") ? s.monitor : 0));
    json_object_object_add(o, "status", json_object_new_string(st));
    json_object_object_add(o, "bundle", json_object_new_string(s.bundle ? s.bundle : ""));
    json_object_object_add(o, "rootfs", json_object_new_string(s.rootfs ? s.rootfs : ""));
    json_object_object_add(o, "created", json_object_new_string(s.created ? s.created : ""));
    json_object *ann = s.annotations_json ? json_tokener_parse(s.annotations_json) : NULL;
    json_object_object_add(o, "annotations", ann ? ann : json_object_new_object());
    json_object_object_add(o, "owner", json_object_new_string(""));
    print_json(o);
    sbx_oci_state_free(&s);
    return 0;
}

/* The pids of the container's cgroup (v2, else the first v1 group it has). */
static int cgroup_pids(const struct sbx_oci_state *s, pid_t **ret, size_t *ret_n)
{
    const char *dir = s->cg.v2_path ? s->cg.v2_path : s->freezer_v1;
    for (int c = 0; !dir && c < SBX_CG_N; c++)
        dir = s->cg.v1_path[c];
    *ret = NULL;
    *ret_n = 0;
    if (!dir)
        return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : sbx_neg_errno();
    size_t cap = 0;
    int pid;
    while (fscanf(f, "%d", &pid) == 1) {
        if (*ret_n == cap) {
            cap = cap ? 2 * cap : 16;
            pid_t *np = reallocarray(*ret, cap, sizeof(*np));
            if (!np) {
                fclose(f);
                return -ENOMEM;
            }
            *ret = np;
        }
        (*ret)[(*ret_n)++] = pid;
    }
    fclose(f);
    return 0;
}

int sbx_oci_cmd_kill(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    static const struct option opts[] = { { "all", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 } };
    bool all = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "+a", opts, NULL)) != -1) {
        if (ch != 'a')
            return sbx_error_set(e, EINVAL, "kill: bad option");
        all = true;
    }
    if (optind >= argc || argc - optind > 2)
        return sbx_error_set(e, EINVAL, "kill: expects a container id and a signal");
    int sig = optind + 1 < argc ? sbx_oci_parse_signal(argv[optind + 1]) : SIGTERM;
    if (sig < 0)
        return sbx_error_set(e, EINVAL, "kill: unknown signal %s", argv[optind + 1]);
    char dir[PATH_MAX];
    struct sbx_oci_state s;
    int r = load(g, argv[optind], dir, sizeof(dir), &s, e);
    if (r < 0)
        return r;
    if (!strcmp(sbx_oci_status(&s), "stopped")) {
        r = sbx_error_set(e, ESRCH, "container not running");
        goto out;
    }
    if (all) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        if ((r = cgroup_pids(&s, &pids, &n)) < 0) {
            sbx_error_set(e, r, "kill --all: the container's cgroup: %s", strerror(-r));
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            kill(pids[i], sig);
    }
    /*
     * The monitor passes signals on; SIGSTOP and SIGCONT it cannot (it would
     * stop itself), and the guest's main process gets those directly.
     */
    pid_t to = s.monitor;
    if ((sig == SIGSTOP || sig == SIGCONT) && sbx_oci_alive(s.guest, s.guest_start))
        to = s.guest;
    if (kill(to, sig) < 0 && !all)
        r = sbx_error_set(e, errno, "kill: %s", strerror(errno));
out:
    sbx_oci_state_free(&s);
    return r;
}

/* v1: FROZEN or THAWED in freezer.state, which reads so once it is done. */
static int write_freeze_v1(const char *dir, const char *v, struct sbx_error *e)
{
    const char *want = *v == '1' ? "FROZEN" : "THAWED";
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/freezer.state", dir);
    for (int i = 0; i < 5000; i++) {
        /* Written again each round: a freeze that races a fork may not finish. */
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        char buf[64];
        ssize_t n;
        if (fd < 0 || write(fd, want, strlen(want)) < 0 ||
            (n = pread(fd, buf, sizeof(buf) - 1, 0)) < 0)
            return sbx_error_set(e, errno, "%s: %s", path, strerror(errno));
        buf[n] = '\0';
        if (!strncmp(buf, want, strlen(want)))
            return 0;
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    }
    return sbx_error_set(e, ETIMEDOUT, "%s: the cgroup did not reach %s", path, want);
}

static int write_freeze(const struct sbx_oci_state *s, const char *v, struct sbx_error *e)
{
    if (!s->cg.v2_path && s->freezer_v1)
        return write_freeze_v1(s->freezer_v1, v, e);
    if (!s->cg.v2_path)
        return sbx_error_set(e, EOPNOTSUPP, "pause: this host has no cgroup freezer");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/cgroup.freeze", s->cg.v2_path);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, v, 1) != 1)
        return sbx_error_set(e, errno, "%s: %s", path, strerror(errno));
    /* The write only starts freezing: wait until cgroup.events says it is done. */
    snprintf(path, sizeof(path), "%s/cgroup.events", s->cg.v2_path);
    char want[16];
    snprintf(want, sizeof(want), "frozen %s", v);
    for (int i = 0; i < 5000; i++) {
        char buf[512];
        _cleanup_close_ int ev = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = ev < 0 ? -1 : read(ev, buf, sizeof(buf) - 1);
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, want))
                return 0;
        }
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    }
    return sbx_error_set(e, ETIMEDOUT, "%s: the cgroup did not reach \"%s\"", path, want);
}

static int freeze(const struct sbx_oci_global *g, int argc, char **argv, const char *v,
                  const char *need, struct sbx_error *e)
{
    if (argc != 2)
        return sbx_error_set(e, EINVAL, "%s: expects exactly one container id", argv[0]);
    char dir[PATH_MAX];
    struct sbx_oci_state s;
    int r = load(g, argv[1], dir, sizeof(dir), &s, e);
    if (r < 0)
        return r;
    const char *st = sbx_oci_status(&s);
    if (strcmp(st, need) != 0)
        r = sbx_error_set(e, EINVAL, "container not %s (it is %s)", need, st);
    else
        r = write_freeze(&s, v, e);
    sbx_oci_state_free(&s);
    return r;
}

int sbx_oci_cmd_pause(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    return freeze(g, argc, argv, "1", "running", e);
}

int sbx_oci_cmd_resume(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    return freeze(g, argc, argv, "0", "paused", e);
}

/* Until the process is gone (or a zombie its parent has still to reap): bounded. */
static void wait_gone(pid_t pid, uint64_t start)
{
    for (int i = 0; i < 5000 && sbx_oci_alive(pid, start); i++)
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

int sbx_oci_cmd_delete(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
                                          { NULL, 0, NULL, 0 } };
    bool force = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "+f", opts, NULL)) != -1) {
        if (ch != 'f')
            return sbx_error_set(e, EINVAL, "delete: bad option");
        force = true;
    }
    if (optind != argc - 1)
        return sbx_error_set(e, EINVAL, "delete: expects exactly one container id");
    char dir[PATH_MAX];
    struct sbx_oci_state s;
    int r = sbx_oci_state_dir(g->root, argv[optind], dir, sizeof(dir), e);
    if (r < 0)
        return r;
    r = sbx_oci_state_read(dir, &s, e);
    if (r == -ENOENT && force)
        return 0;
    if (r < 0) {
        /* A state directory without a readable state is a create that died half-way. */
        if (r != -ENOENT && force)
            return sbx_oci_state_remove(dir) < 0 ? r : 0;
        return r;
    }
    const char *st = sbx_oci_status(&s);
    if (!force && (!strcmp(st, "running") || !strcmp(st, "paused"))) {
        r = sbx_error_set(e, EBUSY, "cannot delete container %s that is not stopped: %s", s.id, st);
        goto out;
    }
    if (!strcmp(st, "paused"))
        write_freeze(&s, "0", e);
    if (sbx_oci_alive(s.monitor, s.monitor_start))
        kill(s.monitor, SIGKILL);
    /* cgroup.kill (or each pid, on v1) and the directories; nothing runs on after this. */
    sbx_oci_cgroup_destroy(&s.cg, s.freezer_v1);
    wait_gone(s.init, s.init_start);
    wait_gone(s.monitor, s.monitor_start);
    if ((r = sbx_oci_state_remove(dir)) < 0)
        sbx_error_set(e, r, "remove %s: %s", dir, strerror(-r));
out:
    sbx_oci_state_free(&s);
    return r;
}

int sbx_oci_cmd_ps(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    static const struct option opts[] = { { "format", required_argument, NULL, 'f' },
                                          { NULL, 0, NULL, 0 } };
    const char *format = "table";
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "+f:", opts, NULL)) != -1) {
        if (ch != 'f')
            return sbx_error_set(e, EINVAL, "ps: bad option");
        format = optarg;
    }
    if (strcmp(format, "json") && strcmp(format, "table"))
        return sbx_error_set(e, EINVAL, "ps: --format %s: json or table", format);
    if (optind != argc - 1)
        return sbx_error_set(e, EINVAL,
                             "ps: expects exactly one container id (ps options are "
                             "not supported)");
    char dir[PATH_MAX];
    struct sbx_oci_state s;
    int r = load(g, argv[optind], dir, sizeof(dir), &s, e);
    if (r < 0)
        return r;
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    if ((r = cgroup_pids(&s, &pids, &n)) < 0) {
        sbx_error_set(e, r, "ps: the container's cgroup: %s", strerror(-r));
    } else if (!strcmp(format, "json")) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(a, json_object_new_int(pids[i]));
        printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
        json_object_put(a);
    } else {
        printf("PID\n");
        for (size_t i = 0; i < n; i++)
            printf("%d\n", (int)pids[i]);
    }
    sbx_oci_state_free(&s);
    return r;
}

static json_object *strings(const char *const *v)
{
    json_object *a = json_object_new_array();
    for (; *v; v++)
        json_object_array_add(a, json_object_new_string(*v));
    return a;
}

/* What this runtime does, in the form of the runtime-spec's features document. */
int sbx_oci_cmd_features(const struct sbx_oci_global *g, int argc, char **argv, struct sbx_error *e)
{
    if (argc != 1)
        return sbx_error_set(e, EINVAL, "features: takes no argument");
    static const char *const mount_opts[] = { "bind",       "rbind",       "ro",      "rw",
                                              "nosuid",     "nodev",       "noexec",  "private",
                                              "rprivate",   "slave",       "rslave",  "relatime",
                                              "norelatime", "strictatime", "noatime", "nodiratime",
                                              NULL };
    static const char *const ns[] = { "cgroup", "ipc", "mount", "network", "pid", "uts", NULL };
    static const char *const actions[] = { "SCMP_ACT_ALLOW",
                                           "SCMP_ACT_ERRNO",
                                           "SCMP_ACT_KILL",
                                           "SCMP_ACT_KILL_PROCESS",
                                           "SCMP_ACT_KILL_THREAD",
                                           "SCMP_ACT_LOG",
                                           NULL };
    static const char *const ops[] = { "SCMP_CMP_EQ",        "SCMP_CMP_NE", "SCMP_CMP_LT",
                                       "SCMP_CMP_LE",        "SCMP_CMP_GT", "SCMP_CMP_GE",
                                       "SCMP_CMP_MASKED_EQ", NULL };
    static const char *const archs[] = { "SCMP_ARCH_X86_64", NULL };
    static const char *const none[] = { NULL };
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ociVersionMin", json_object_new_string("1.0.0"));
    json_object_object_add(o, "ociVersionMax", json_object_new_string("1.0.2"));
    json_object_object_add(o, "hooks", strings(none));
    json_object_object_add(o, "mountOptions", strings(mount_opts));
    json_object *lx = json_object_new_object();
    json_object_object_add(lx, "namespaces", strings(ns));
    json_object *caps = json_object_new_array();
    for (int c = 0; c <= CAP_LAST_CAP; c++) {
        char *name = cap_to_name((cap_value_t)c);
        if (name) {
            for (char *p = name; *p; p++)
                *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            json_object_array_add(caps, json_object_new_string(name));
            cap_free(name);
        }
    }
    json_object_object_add(lx, "capabilities", caps);
    json_object *cg = json_object_new_object();
    json_object_object_add(cg, "v1", json_object_new_boolean(1));
    json_object_object_add(cg, "v2", json_object_new_boolean(1));
    json_object_object_add(cg, "systemd", json_object_new_boolean(0));
    json_object_object_add(cg, "systemdUser", json_object_new_boolean(0));
    json_object_object_add(lx, "cgroup", cg);
    json_object *sc = json_object_new_object();
    json_object_object_add(sc, "enabled", json_object_new_boolean(1));
    json_object_object_add(sc, "actions", strings(actions));
    json_object_object_add(sc, "operators", strings(ops));
    json_object_object_add(sc, "archs", strings(archs));
    json_object_object_add(lx, "seccomp", sc);
    json_object *aa = json_object_new_object();
    json_object_object_add(aa, "enabled", json_object_new_boolean(0));
    json_object_object_add(lx, "apparmor", aa);
    json_object *se = json_object_new_object();
    json_object_object_add(se, "enabled", json_object_new_boolean(0));
    json_object_object_add(lx, "selinux", se);
    json_object_object_add(o, "linux", lx);
    json_object *ann = json_object_new_object();
    json_object_object_add(
        ann, "org.sandboxd.syscall-mode",
        json_object_new_string(SBX_DEFAULT_MODE == SBX_MODE_REWRITE ? "rewrite" : "off"));
    json_object_object_add(o, "annotations", ann);
    print_json(o);
    return 0;
}
