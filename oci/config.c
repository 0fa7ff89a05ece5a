/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.json (and an exec's process.json) to the SPEC of sbx-init and the
 * policy model.  Every key is either translated or refused by name: a
 * container that asked for something sandboxd does not do must not start
 * as if it had got it.  The few keys accepted without an effect of their own
 * say why next to them (docs/oci.md lists them).
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/config-json.h"
#include "oci/oci.h"
#include "sbx/macro.h"

/* ---- process ---- */

static int cap_bits(json_object *caps, const char *key, uint64_t *ret, bool *present,
                    struct sbx_error *e)
{
    json_object *v = sbx_oci_json_get(caps, key);
    *ret = 0;
    *present = v != NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_array))
        return sbx_error_set(e, EINVAL, "process.capabilities.%s: not an array", key);
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(v, i));
        cap_value_t c;
        /* One name: cap_from_name reads a list's first name and ignores the rest. */
        if (!name || strncasecmp(name, "CAP_", 4) != 0 ||
            strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                strlen(name) ||
            cap_from_name(name, &c) < 0 || c >= 64)
            return sbx_error_set(e, EINVAL, "process.capabilities.%s[%zu]: unknown capability %s",
                                 key, i, name ? name : "(not a string)");
        *ret |= 1ull << c;
    }
    return 0;
}

/*
 * sbx-init gives the guest one set of capabilities: bounding, permitted,
 * effective, inheritable and ambient alike.  A config whose sets differ
 * (beyond an empty inheritable or ambient set, which a root guest does not
 * need) asks for something else, and is refused.
 */
static int load_caps(json_object *proc, struct sbx_spec *spec, struct sbx_error *e)
{
    json_object *caps = sbx_oci_json_get(proc, "capabilities");
    if (!caps)
        return 0;
    static const char *const known[] = { "bounding",    "effective", "permitted",
                                         "inheritable", "ambient",   NULL };
    int r = sbx_oci_json_keys(caps, "process.capabilities", known, e);
    if (r < 0)
        return r;
    uint64_t set[5];
    bool present[5];
    for (int i = 0; i < 5; i++)
        if ((r = cap_bits(caps, known[i], &set[i], &present[i], e)) < 0)
            return r;
    uint64_t keep = set[0] | set[1] | set[2];
    for (int i = 0; i < 3; i++)
        if (present[i] && set[i] != keep)
            return sbx_error_set(e, EOPNOTSUPP,
                                 "process.capabilities.%s: differs from the other sets; "
                                 "sandboxd-oci gives the process one set of capabilities",
                                 known[i]);
    for (int i = 3; i < 5; i++)
        if (present[i] && set[i] && set[i] != keep)
            return sbx_error_set(e, EOPNOTSUPP,
                                 "process.capabilities.%s: differs from the other sets; "
                                 "sandboxd-oci gives the process one set of capabilities",
                                 known[i]);
    spec->caps_keep = keep;
    return 0;
}

static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    { "RLIMIT_AS", RLIMIT_AS },
    { "RLIMIT_CORE", RLIMIT_CORE },
    { "RLIMIT_CPU", RLIMIT_CPU },
    { "RLIMIT_DATA", RLIMIT_DATA },
    { "RLIMIT_FSIZE", RLIMIT_FSIZE },
    { "RLIMIT_LOCKS", RLIMIT_LOCKS },
    { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
    { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
    { "RLIMIT_NICE", RLIMIT_NICE },
    { "RLIMIT_NOFILE", RLIMIT_NOFILE },
    { "RLIMIT_NPROC", RLIMIT_NPROC },
    { "RLIMIT_RSS", RLIMIT_RSS },
    { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
    { "RLIMIT_RTTIME", RLIMIT_RTTIME },
    { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
    { "RLIMIT_STACK", RLIMIT_STACK },
};

static int load_rlimits(json_object *proc, struct sbx_spec *spec, struct sbx_error *e)
{
    json_object *v = sbx_oci_json_get(proc, "rlimits");
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_array))
        return sbx_error_set(e, EINVAL, "process.rlimits: not an array");
    size_t n = json_object_array_length(v);
    if (n > RLIM_NLIMITS)
        return sbx_error_set(e, E2BIG, "process.rlimits: more entries than there are limits");
    spec->rlimits = calloc(n ? n : 1, sizeof(*spec->rlimits));
    if (!spec->rlimits)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *rl = json_object_array_get_idx(v, i);
        char where[64];
        snprintf(where, sizeof(where), "process.rlimits[%zu]", i);
        static const char *const known[] = { "type", "hard", "soft", NULL };
        _cleanup_free_ char *type = NULL;
        uint64_t hard = 0, soft = 0;
        int r = sbx_oci_json_keys(rl, where, known, e);
        if (r < 0 || (r = sbx_oci_json_str(rl, "type", where, &type, e)) < 0 ||
            (r = sbx_oci_json_u64(rl, "hard", where, &hard, e)) < 0 ||
            (r = sbx_oci_json_u64(rl, "soft", where, &soft, e)) < 0)
            return r;
        int res = -1;
        for (size_t k = 0; type && k < ARRAY_SIZE(rlimit_names); k++)
            if (strcmp(rlimit_names[k].name, type) == 0)
                res = rlimit_names[k].resource;
        if (res < 0)
            return sbx_error_set(e, EINVAL, "%s.type: unknown limit %s", where,
                                 type ? type : "(missing)");
        if (soft > hard)
            return sbx_error_set(e, EINVAL, "%s: soft above hard", where);
        spec->rlimits[spec->n_rlimits++] =
            (struct sbx_spec_rlimit){ .resource = (uint32_t)res, .cur = soft, .max = hard };
    }
    return 0;
}

static int load_user(json_object *proc, struct sbx_spec *spec, struct sbx_error *e)
{
    json_object *user = sbx_oci_json_get(proc, "user");
    if (!user)
        return sbx_error_set(e, EINVAL, "process.user: missing");
    static const char *const known[] = { "uid", "gid", "umask", "additionalGids", NULL };
    uint64_t uid = 0, gid = 0, umask_v = 022;
    int r = sbx_oci_json_keys(user, "process.user", known, e);
    if (r < 0 || (r = sbx_oci_json_u64(user, "uid", "process.user", &uid, e)) < 0 ||
        (r = sbx_oci_json_u64(user, "gid", "process.user", &gid, e)) < 0 ||
        (r = sbx_oci_json_u64(user, "umask", "process.user", &umask_v, e)) < 0)
        return r;
    if (uid >= UINT32_MAX || gid >= UINT32_MAX || umask_v > 0777)
        return sbx_error_set(e, EINVAL, "process.user: uid, gid or umask out of range");
    spec->uid = (uint32_t)uid;
    spec->gid = (uint32_t)gid;
    spec->umask = (uint32_t)umask_v;
    json_object *g = sbx_oci_json_get(user, "additionalGids");
    if (!g)
        return 0;
    if (!json_object_is_type(g, json_type_array) || json_object_array_length(g) > NGROUPS_MAX)
        return sbx_error_set(e, EINVAL, "process.user.additionalGids: not an array of gids");
    size_t n = json_object_array_length(g);
    spec->groups = calloc(n ? n : 1, sizeof(*spec->groups));
    if (!spec->groups)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *x = json_object_array_get_idx(g, i);
        if (!json_object_is_type(x, json_type_int) || json_object_get_int64(x) < 0 ||
            json_object_get_int64(x) >= UINT32_MAX)
            return sbx_error_set(e, EINVAL, "process.user.additionalGids[%zu]: not a gid", i);
        spec->groups[spec->n_groups++] = (uint32_t)json_object_get_int64(x);
    }
    return 0;
}

/*
 * noNewPrivileges: sbx-init always sets it, so false asks for less than
 * the guest gets and is accepted.  apparmorProfile and selinuxLabel name
 * LSM confinement sandboxd does not apply: refused when set.
 */
static int load_process(json_object *proc, uint32_t mode, struct sbx_oci_process *ret,
                        struct sbx_error *e)
{
    static const char *const known[] = { "terminal",
                                         "consoleSize",
                                         "user",
                                         "args",
                                         "env",
                                         "cwd",
                                         "capabilities",
                                         "rlimits",
                                         "noNewPrivileges",
                                         "oomScoreAdj",
                                         "apparmorProfile",
                                         "selinuxLabel",
                                         NULL };
    int r = sbx_oci_json_keys(proc, "process", known, e);
    if (r < 0)
        return r;
    struct sbx_spec *spec = &ret->spec;
    spec->mode = mode;
    bool tty = false, nnp = true;
    if ((r = sbx_oci_json_bool(proc, "terminal", "process", &tty, e)) < 0 ||
        (r = sbx_oci_json_bool(proc, "noNewPrivileges", "process", &nnp, e)) < 0 ||
        (r = sbx_oci_json_refuse(proc, "apparmorProfile", "process", e)) < 0 ||
        (r = sbx_oci_json_refuse(proc, "selinuxLabel", "process", e)) < 0)
        return r;
    if (tty)
        spec->flags |= SBX_SPEC_TTY;
    json_object *cs = sbx_oci_json_get(proc, "consoleSize");
    if (cs) {
        static const char *const cs_known[] = { "height", "width", NULL };
        uint64_t h = 0, w = 0;
        if ((r = sbx_oci_json_keys(cs, "process.consoleSize", cs_known, e)) < 0 ||
            (r = sbx_oci_json_u64(cs, "height", "process.consoleSize", &h, e)) < 0 ||
            (r = sbx_oci_json_u64(cs, "width", "process.consoleSize", &w, e)) < 0)
            return r;
        ret->console_rows = (uint16_t)(h > UINT16_MAX ? UINT16_MAX : h);
        ret->console_cols = (uint16_t)(w > UINT16_MAX ? UINT16_MAX : w);
    }
    if ((r = sbx_oci_json_strv(proc, "args", "process", &spec->argv, &spec->argc, e)) < 0 ||
        (r = sbx_oci_json_strv(proc, "env", "process", &spec->env, &spec->envc, e)) < 0 ||
        (r = sbx_oci_json_str(proc, "cwd", "process", &spec->cwd, e)) < 0)
        return r;
    if (!spec->argv || spec->argc == 0 || !*spec->argv[0])
        return sbx_error_set(e, EINVAL, "process.args: missing or empty");
    if (!spec->env && !(spec->env = calloc(1, sizeof(char *))))
        return -ENOMEM;
    if (!spec->cwd || spec->cwd[0] != '/')
        return sbx_error_set(e, EINVAL, "process.cwd: missing or not absolute");
    int64_t oom = 0;
    if ((r = sbx_oci_json_i64(proc, "oomScoreAdj", "process", &oom, e)) < 0)
        return r;
    if (r > 0) {
        if (oom < -1000 || oom > 1000)
            return sbx_error_set(e, EINVAL, "process.oomScoreAdj: not in -1000..1000");
        ret->oom_score_adj = (int)oom;
        ret->has_oom_score_adj = true;
    }
    if ((r = load_user(proc, spec, e)) < 0 || (r = load_caps(proc, spec, e)) < 0 ||
        (r = load_rlimits(proc, spec, e)) < 0)
        return r;
    return 0;
}

void sbx_oci_process_free(struct sbx_oci_process *p)
{
    sbx_spec_free(&p->spec);
    *p = (struct sbx_oci_process){ 0 };
}

/* ---- linux ---- */

int sbx_oci_ns_kind(const char *type)
{
    static const char *const names[SBX_OCI_NS_N] = { "network", "ipc", "uts" };
    for (int k = 0; k < SBX_OCI_NS_N; k++)
        if (!strcmp(type, names[k]))
            return k;
    return -1;
}

/*
 * sbx-init always makes new mount, pid and cgroup namespaces.  The network,
 * ipc and uts namespaces are new or, given a path, joined: an engine's
 * network namespace (/run/netns/...), or the namespaces of another
 * container, which Kubernetes names by the pid of its pod's pause container
 * (nsjoin.c resolves those).  No network namespace in the config means the
 * host's.  A pid namespace is never shared: sbx-init is pid 1 of its own.
 */
static int load_namespaces(json_object *linux_, struct sbx_oci_config *c, struct sbx_error *e)
{
    json_object *ns = sbx_oci_json_get(linux_, "namespaces");
    if (!ns || !json_object_is_type(ns, json_type_array))
        return sbx_error_set(e, EINVAL, "linux.namespaces: missing or not an array");
    bool have_net = false, have_pid = false, have_mnt = false;
    for (size_t i = 0; i < json_object_array_length(ns); i++) {
        json_object *n = json_object_array_get_idx(ns, i);
        char where[48];
        snprintf(where, sizeof(where), "linux.namespaces[%zu]", i);
        static const char *const known[] = { "type", "path", NULL };
        _cleanup_free_ char *type = NULL, *path = NULL;
        int r = sbx_oci_json_keys(n, where, known, e);
        if (r < 0 || (r = sbx_oci_json_str(n, "type", where, &type, e)) < 0 ||
            (r = sbx_oci_json_str(n, "path", where, &path, e)) < 0)
            return r;
        if (!type)
            return sbx_error_set(e, EINVAL, "%s.type: missing", where);
        int kind = sbx_oci_ns_kind(type);
        have_net |= kind == SBX_OCI_NS_NET;
        if (kind >= 0 && path && *path) {
            if (path[0] != '/')
                return sbx_error_set(e, EINVAL, "%s.path: not absolute", where);
            if (c->join_path[kind])
                return sbx_error_set(e, EINVAL, "%s: a second %s namespace", where, type);
            c->join_path[kind] = TAKE_PTR(path);
            continue;
        }
        if (kind >= 0)
            continue;
        if (path && *path)
            return sbx_error_set(e, EOPNOTSUPP,
                                 "%s.path: joining a %s namespace is not supported (only network, "
                                 "ipc and uts; a sandbox's pid 1 is always its own sbx-init)",
                                 where, type);
        if (!strcmp(type, "pid"))
            have_pid = true;
        else if (!strcmp(type, "mount"))
            have_mnt = true;
        else if (strcmp(type, "cgroup") != 0)
            return sbx_error_set(e, EOPNOTSUPP, "%s.type: a %s namespace is not supported", where,
                                 type);
    }
    if (!have_pid || !have_mnt)
        return sbx_error_set(e, EOPNOTSUPP,
                             "linux.namespaces: sandboxd-oci always makes new pid and mount "
                             "namespaces; the config must list them");
    c->net_host = !have_net;
    if (c->net_host)
        c->proc.spec.flags |= SBX_SPEC_NET_HOST;
    return 0;
}

/*
 * linux.resources: memory, pids and cpu limits, as the daemon sets them.
 */
static int load_resources(json_object *linux_, struct sbx_oci_config *c, struct sbx_error *e)
{
    json_object *res = sbx_oci_json_get(linux_, "resources");
    if (!res)
        return 0;
    static const char *const known[] = { "devices",        "memory",  "pids", "cpu",     "blockIO",
                                         "hugepageLimits", "network", "rdma", "unified", NULL };
    int r = sbx_oci_json_keys(res, "linux.resources", known, e);
    static const char *const refused[] = { "blockIO", "hugepageLimits", "network", "rdma",
                                           "unified" };
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(refused); i++)
        r = sbx_oci_json_refuse(res, refused[i], "linux.resources", e);
    if (r < 0)
        return r;
    /*
     * The device cgroup is not used: a sandbox's /dev holds only the few
     * harmless nodes sbx-init binds, and every other filesystem of it is
     * nodev, so no rule can reach a device beyond those.  The rules are
     * checked for their shape only.
     */
    json_object *dev = sbx_oci_json_get(res, "devices");
    if (dev && !json_object_is_type(dev, json_type_array))
        return sbx_error_set(e, EINVAL, "linux.resources.devices: not an array");
    for (size_t i = 0; dev && i < json_object_array_length(dev); i++) {
        char where[48];
        snprintf(where, sizeof(where), "linux.resources.devices[%zu]", i);
        static const char *const dk[] = { "allow", "type", "major", "minor", "access", NULL };
        if ((r = sbx_oci_json_keys(json_object_array_get_idx(dev, i), where, dk, e)) < 0)
            return r;
    }
    json_object *mem = sbx_oci_json_get(res, "memory");
    if (mem) {
        static const char *const mk[] = { "limit",
                                          "swap",
                                          "reservation",
                                          "kernel",
                                          "kernelTCP",
                                          "swappiness",
                                          "disableOOMKiller",
                                          "useHierarchy",
                                          "checkBeforeUpdate",
                                          NULL };
        int64_t limit = 0, swap = 0;
        if ((r = sbx_oci_json_keys(mem, "linux.resources.memory", mk, e)) < 0 ||
            (r = sbx_oci_json_i64(mem, "limit", "linux.resources.memory", &limit, e)) < 0 ||
            (r = sbx_oci_json_i64(mem, "swap", "linux.resources.memory", &swap, e)) < 0)
            return r;
        /*
         * swap is memory plus swap in OCI; sandboxes get no swap, so any value
         * at or above the limit (or none) is what they get at most.
         */
        if (limit > 0) {
            c->limits.memory = (uint64_t)limit;
            if (swap > 0 && swap < limit)
                return sbx_error_set(e, EINVAL, "linux.resources.memory.swap: below the limit");
        }
        static const char *const mrefused[] = { "reservation", "kernel", "kernelTCP", "swappiness",
                                                "disableOOMKiller" };
        for (size_t i = 0; i < ARRAY_SIZE(mrefused); i++)
            if (sbx_oci_json_get(mem, mrefused[i]))
                return sbx_error_set(e, EOPNOTSUPP,
                                     "linux.resources.memory.%s: not supported by sandboxd-oci",
                                     mrefused[i]);
    }
    json_object *pids = sbx_oci_json_get(res, "pids");
    if (pids) {
        static const char *const pk[] = { "limit", NULL };
        int64_t limit = 0;
        if ((r = sbx_oci_json_keys(pids, "linux.resources.pids", pk, e)) < 0 ||
            (r = sbx_oci_json_i64(pids, "limit", "linux.resources.pids", &limit, e)) < 0)
            return r;
        if (limit > 0)
            c->limits.pids = (uint64_t)limit;
    }
    json_object *cpu = sbx_oci_json_get(res, "cpu");
    if (cpu) {
        static const char *const ck[] = { "quota",          "period", "shares",
                                          "cpus",           "mems",   "realtimeRuntime",
                                          "realtimePeriod", "idle",   NULL };
        int64_t quota = 0;
        uint64_t period = 100000;
        if ((r = sbx_oci_json_keys(cpu, "linux.resources.cpu", ck, e)) < 0 ||
            (r = sbx_oci_json_i64(cpu, "quota", "linux.resources.cpu", &quota, e)) < 0 ||
            (r = sbx_oci_json_u64(cpu, "period", "linux.resources.cpu", &period, e)) < 0)
            return r;
        uint64_t shares = 0;
        if ((r = sbx_oci_json_u64(cpu, "shares", "linux.resources.cpu", &shares, e)) < 0)
            return r;
        if (sbx_oci_json_get(cpu, "shares") && (shares < 2 || shares > 262144))
            return sbx_error_set(e, EINVAL, "linux.resources.cpu.shares: %llu is outside 2..262144",
                                 (unsigned long long)shares);
        /* A weight of 1024 is every cgroup's default: asking for it asks for nothing. */
        c->cpu.shares = shares == 1024 ? 0 : shares;
        static const char *const crefused[] = { "cpus", "mems", "realtimeRuntime", "realtimePeriod",
                                                "idle" };
        for (size_t i = 0; i < ARRAY_SIZE(crefused); i++)
            if ((r = sbx_oci_json_refuse(cpu, crefused[i], "linux.resources.cpu", e)) < 0)
                return r;
        if (quota > 0) {
            if (period < 1000 || period > 1000000)
                return sbx_error_set(e, EINVAL,
                                     "linux.resources.cpu.period: %llu is outside 1000..1000000",
                                     (unsigned long long)period);
            c->limits.cpu_millis = (uint64_t)quota * 1000 / period;
            if (!c->limits.cpu_millis)
                c->limits.cpu_millis = 1;
            c->cpu.quota = (uint64_t)quota;
            c->cpu.period = period;
        }
    }
    return 0;
}

/* Sysctls of the namespaces the sandbox has of its own (net, ipc); others are host-wide. */
static bool sysctl_namespaced(const char *key, bool own_net)
{
    static const char *const ipc[] = { "kernel.msgmax", "kernel.msgmnb",         "kernel.msgmni",
                                       "kernel.sem",    "kernel.shmall",         "kernel.shmmax",
                                       "kernel.shmmni", "kernel.shm_rmid_forced" };
    for (size_t i = 0; i < ARRAY_SIZE(ipc); i++)
        if (!strcmp(key, ipc[i]))
            return true;
    if (!strncmp(key, "fs.mqueue.", 10))
        return true;
    return own_net && !strncmp(key, "net.", 4);
}

static int load_sysctl(json_object *linux_, struct sbx_oci_config *c, struct sbx_error *e)
{
    json_object *s = sbx_oci_json_get(linux_, "sysctl");
    if (!s)
        return 0;
    if (!json_object_is_type(s, json_type_object))
        return sbx_error_set(e, EINVAL, "linux.sysctl: not an object");
    size_t n = (size_t)json_object_object_length(s);
    c->sysctl = calloc(n ? n : 1, sizeof(*c->sysctl));
    if (!c->sysctl)
        return -ENOMEM;
    json_object_object_foreach(s, key, val)
    {
        if (!json_object_is_type(val, json_type_string))
            return sbx_error_set(e, EINVAL, "linux.sysctl.%s: not a string", key);
        if (!sysctl_namespaced(key, !c->net_host) || strstr(key, "..") || strchr(key, '/'))
            return sbx_error_set(e, EOPNOTSUPP,
                                 "linux.sysctl.%s: not a sysctl of the container's own namespaces",
                                 key);
        struct sbx_oci_sysctl *it = &c->sysctl[c->n_sysctl++];
        it->key = strdup(key);
        it->value = strdup(json_object_get_string(val));
        if (!it->key || !it->value)
            return -ENOMEM;
    }
    return 0;
}

static int load_linux(json_object *linux_, struct sbx_oci_config *c, bool systemd_cgroup,
                      const char *id, struct sbx_error *e)
{
    if (!linux_)
        return sbx_error_set(e, EINVAL, "linux: missing");
    static const char *const known[] = { "namespaces",  "resources",         "cgroupsPath",
                                         "seccomp",     "maskedPaths",       "readonlyPaths",
                                         "sysctl",      "devices",           "uidMappings",
                                         "gidMappings", "rootfsPropagation", "mountLabel",
                                         "intelRdt",    "personality",       "timeOffsets",
                                         NULL };
    int r = sbx_oci_json_keys(linux_, "linux", known, e);
    static const char *const refused[] = { "devices",  "uidMappings", "gidMappings", "mountLabel",
                                           "intelRdt", "personality", "timeOffsets" };
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(refused); i++)
        r = sbx_oci_json_refuse(linux_, refused[i], "linux", e);
    if (r < 0)
        return r;
    _cleanup_free_ char *prop = NULL;
    if ((r = sbx_oci_json_str(linux_, "rootfsPropagation", "linux", &prop, e)) < 0)
        return r;
    /* Every mount of a sandbox is private; a config asking for that gets it. */
    if (prop && *prop && strcmp(prop, "private") && strcmp(prop, "rprivate"))
        return sbx_error_set(e, EOPNOTSUPP, "linux.rootfsPropagation: %s is not supported", prop);
    if ((r = load_namespaces(linux_, c, e)) < 0 || (r = load_resources(linux_, c, e)) < 0 ||
        (r = sbx_oci_config_seccomp(linux_, c->policy, e)) < 0 ||
        (r = load_sysctl(linux_, c, e)) < 0)
        return r;
    struct sbx_spec *spec = &c->proc.spec;
    if ((r = sbx_oci_json_strv(linux_, "maskedPaths", "linux", &spec->masked, &spec->n_masked, e)) <
            0 ||
        (r = sbx_oci_json_strv(linux_, "readonlyPaths", "linux", &spec->readonly, &spec->n_readonly,
                               e)) < 0)
        return r;
    _cleanup_free_ char *cg = NULL;
    if ((r = sbx_oci_json_str(linux_, "cgroupsPath", "linux", &cg, e)) < 0)
        return r;
    if (systemd_cgroup && cg && *cg) {
        /*
         * "slice:prefix:name" names a systemd scope.  No systemd manages the
         * cgroups here: the scope becomes a cgroupfs directory of the same
         * place, SLICE/PREFIX-NAME.scope, as systemd would have made it.
         */
        char *c1 = strchr(cg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || strchr(c2 + 1, ':') || strchr(cg, '/'))
            return sbx_error_set(
                e, EINVAL, "linux.cgroupsPath: %s is not slice:prefix:name (--systemd-cgroup)", cg);
        *c1 = *c2 = '\0';
        if (asprintf(&c->cgroups_path, "/%s/%s-%s.scope", *cg ? cg : "system.slice", c1 + 1,
                     c2 + 1) < 0)
            return -ENOMEM;
    } else if (cg && *cg) {
        if (strstr(cg, ".."))
            return sbx_error_set(e, EINVAL, "linux.cgroupsPath: %s has a .. component", cg);
        if (cg[0] == '/')
            c->cgroups_path = TAKE_PTR(cg);
        else if (asprintf(&c->cgroups_path, "/%s", cg) < 0)
            return -ENOMEM;
    } else if (asprintf(&c->cgroups_path, "/sandboxd-oci/%s", id) < 0) {
        return -ENOMEM;
    }
    return 0;
}

/* org.sandboxd.syscall-mode: off, trap or rewrite (the default). */
static int load_annotations(json_object *root, struct sbx_oci_config *c, uint32_t *mode,
                            struct sbx_error *e)
{
    json_object *a = sbx_oci_json_get(root, "annotations");
    c->annotations_json =
        strdup(a ? json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN) : "{}");
    if (!c->annotations_json)
        return -ENOMEM;
    if (!a)
        return 0;
    if (!json_object_is_type(a, json_type_object))
        return sbx_error_set(e, EINVAL, "annotations: not an object");
    json_object_object_foreach(a, key, val)
    {
        if (strncmp(key, "org.sandboxd.", 13) != 0)
            continue;
        const char *v = json_object_get_string(val);
        if (strcmp(key, "org.sandboxd.syscall-mode") != 0)
            return sbx_error_set(e, EOPNOTSUPP, "annotations.%s: unknown sandboxd option", key);
        if (!strcmp(v, "off"))
            *mode = SBX_MODE_OFF;
        else if (!strcmp(v, "trap"))
            *mode = SBX_MODE_TRAP;
        else if (!strcmp(v, "rewrite"))
            *mode = SBX_MODE_REWRITE;
        else
            return sbx_error_set(e, EINVAL, "annotations.%s: %s is not off, trap or rewrite", key,
                                 v);
    }
    return 0;
}

static int parse_file(const char *path, json_object **ret, struct sbx_error *e)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return sbx_error_set(e, errno, "open %s: %s", path, strerror(errno));
    /* A config is a few kilobytes; a seccomp profile keeps it well below this. */
    enum { MAX = 4 << 20 };
    _cleanup_free_ char *buf = malloc(MAX + 1);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sbx_error_set(e, errno, "read %s: %s", path, strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > MAX)
            return sbx_error_set(e, EFBIG, "%s: larger than %d bytes", path, MAX);
    }
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return -ENOMEM;
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t off = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!o || jerr != json_tokener_success || off != len) {
        sbx_oci_json_putp(&o);
        return sbx_error_set(e, EINVAL, "%s: not valid JSON (%s, at byte %zu)", path,
                             json_tokener_error_desc(jerr), off);
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return sbx_error_set(e, EINVAL, "%s: not a JSON object", path);
    }
    *ret = o;
    return 0;
}

int sbx_oci_config_load(const char *bundle, const char *id, bool systemd_cgroup,
                        struct sbx_oci_config *ret, struct sbx_error *e)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/config.json", bundle) >= (int)sizeof(path))
        return sbx_error_set(e, ENAMETOOLONG, "bundle path too long");
    _cleanup_(sbx_oci_json_putp) json_object *root = NULL;
    int r = parse_file(path, &root, e);
    if (r < 0)
        return r;
    static const char *const known[] = { "ociVersion", "process", "root",  "hostname",
                                         "domainname", "mounts",  "hooks", "annotations",
                                         "linux",      NULL };
    struct sbx_oci_config c = { 0 };
    _cleanup_free_ char *rpath = NULL;
    bool ro = false;
    if ((r = sbx_oci_json_keys(root, "", known, e)) < 0 ||
        (r = sbx_oci_json_refuse(root, "hooks", "config", e)) < 0 ||
        (r = sbx_oci_json_refuse(root, "domainname", "config", e)) < 0)
        return r;
    if ((r = sbx_policy_new_default(&c.policy)) < 0)
        return r;
    uint32_t mode = SBX_DEFAULT_MODE;
    json_object *proc = sbx_oci_json_get(root, "process");
    json_object *rt = sbx_oci_json_get(root, "root");
    if (!proc)
        r = sbx_error_set(e, EINVAL, "process: missing (sandboxd-oci runs one process)");
    else if (!rt)
        r = sbx_error_set(e, EINVAL, "root: missing");
    if (r < 0 || (r = load_annotations(root, &c, &mode, e)) < 0 ||
        (r = load_process(proc, mode, &c.proc, e)) < 0)
        goto fail;
    static const char *const root_known[] = { "path", "readonly", NULL };
    if ((r = sbx_oci_json_keys(rt, "root", root_known, e)) < 0 ||
        (r = sbx_oci_json_str(rt, "path", "root", &rpath, e)) < 0 ||
        (r = sbx_oci_json_bool(rt, "readonly", "root", &ro, e)) < 0)
        goto fail;
    if (!rpath || !*rpath) {
        r = sbx_error_set(e, EINVAL, "root.path: missing");
        goto fail;
    }
    char full[PATH_MAX];
    if (rpath[0] != '/')
        snprintf(full, sizeof(full), "%s/%s", bundle, rpath);
    else
        snprintf(full, sizeof(full), "%s", rpath);
    if (!(c.root_path = realpath(full, NULL))) {
        r = sbx_error_set(e, errno, "root.path %s: %s", full, strerror(errno));
        goto fail;
    }
    struct sbx_spec *spec = &c.proc.spec;
    spec->flags |= ro ? SBX_SPEC_READONLY_ROOT : SBX_SPEC_WRITABLE_IMAGE;
    c.policy->writable_image = !ro;
    if ((r = sbx_oci_json_str(root, "hostname", "config", &spec->hostname, e)) < 0 ||
        (r = sbx_oci_config_mounts(root, &c, e)) < 0 ||
        (r = load_linux(sbx_oci_json_get(root, "linux"), &c, systemd_cgroup, id, e)) < 0)
        goto fail;
    /* The policy decides the baseline's options: network, persistent writes, kept capabilities. */
    c.policy->mode = mode;
    c.policy->mode_set = true;
    c.policy->caps_keep = spec->caps_keep;
    c.policy->network = c.net_host ? SBX_NET_HOST : SBX_NET_NONE;
    for (uint32_t i = 0; i < spec->n_binds; i++)
        if (!(spec->binds[i].flags & SBX_BIND_READONLY))
            c.policy->writable_image = true;
    /* The container's writes go to the engine's tree itself: there is no overlay to size. */
    spec->overlay_size = 0;
    spec->tmp_size = SBX_POLICY_DEFAULT_TMP_SIZE;
    spec->shm_size = SBX_POLICY_DEFAULT_SHM_SIZE;
    *ret = c;
    return 0;
fail:
    sbx_oci_config_free(&c);
    return r;
}

void sbx_oci_config_free(struct sbx_oci_config *c)
{
    for (uint32_t i = 0; c->binds && i < c->proc.spec.n_binds; i++)
        free(c->binds[i].source);
    free(c->binds);
    sbx_oci_process_free(&c->proc);
    sbx_policy_free(c->policy);
    free(c->root_path);
    for (int k = 0; k < SBX_OCI_NS_N; k++)
        free(c->join_path[k]);
    free(c->cgroups_path);
    for (size_t i = 0; i < c->n_sysctl; i++) {
        free(c->sysctl[i].key);
        free(c->sysctl[i].value);
    }
    free(c->sysctl);
    free(c->annotations_json);
    *c = (struct sbx_oci_config){ 0 };
}

int sbx_oci_process_load(const char *path, uint32_t mode, struct sbx_oci_process *ret,
                         struct sbx_error *e)
{
    _cleanup_(sbx_oci_json_putp) json_object *root = NULL;
    int r = parse_file(path, &root, e);
    if (r < 0)
        return r;
    struct sbx_oci_process p = { 0 };
    if ((r = load_process(root, mode, &p, e)) < 0) {
        sbx_oci_process_free(&p);
        return r;
    }
    *ret = p;
    return 0;
}
