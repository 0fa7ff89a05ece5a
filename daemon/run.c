/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A RUN request: its policy (named, sent as text, or the default) is parsed
 * and checked against what the caller may ask for, the image is resolved for
 * user and group names, and the result becomes the SPEC that sandbox init
 * follows.
 */
#include "daemon/run.h"

#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/fdcheck.h"
#include "daemon/idmap-self.h"
#include "daemon/image.h"
#include "daemon/lifecycle.h"
#include "daemon/log.h"
#include "daemon/run-spec.h"
#include "daemon/sandbox.h"
#include "daemon/sitemap-build.h"
#include "daemon/spare.h"
#include "image/meta.h"
#include "policy/policy.h"
#include "sbx/macro.h"

#define RUN_MAX_TMPFS 64 /* tmpfs mounts of one policy */

int sbx_run_compile_policy(const struct sbx_policy *p, unsigned flags, int *ret_fd)
{
    _cleanup_close_ int fd = memfd_create("sbx-policy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return sbx_neg_errno();
    int r = sbx_policy_export_bpf(p, flags, fd);
    if (r < 0)
        return r;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        return sbx_neg_errno();
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static bool valid_policy_name(const char *n)
{
    if (!*n || strlen(n) > 128)
        return false;
    for (const char *p = n; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return n[0] != '.';
}

static int read_fd_text(int fd, size_t max, char **ret)
{
    char *buf = malloc(max + 1);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return sbx_neg_errno();
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            free(buf);
            return -EFBIG;
        }
    }
    buf[len] = '\0';
    *ret = buf;
    return (int)len;
}

/*
 * Where a policy's diagnostics become an error: every FILE:LINE:COL line of
 * diags, after prefix, as e's one message (no final newline), with err.
 * Policy code keeps its list, so that a parser reports every problem; the
 * daemon's callers see one error like any other.
 */
static void diags_message(const struct sbx_diags *diags, const char *prefix, int err,
                          struct sbx_error *e)
{
    _cleanup_free_ char *all = sbx_diags_format(diags);
    sbx_error_set(e, err, "%s%s", prefix, all ? all : "(out of memory)");
    size_t l = strlen(e->msg);
    if (l && e->msg[l - 1] == '\n')
        e->msg[l - 1] = '\0';
}

/*
 * Whether a policy file is the operator's: owned by root and writable by
 * nobody else, so that no caller can have written what it says.
 */
static bool operator_file(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
           !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* *ret_operator: the policy came by name from an operator's file (operator_file). */
static int load_policy(struct sbx_daemon *d, const struct sbx_msg_run *run, struct sbx_policy **ret,
                       bool *ret_operator, struct sbx_error *e)
{
    _cleanup_free_ char *text = NULL;
    char file[512];
    if (run->policy_name) {
        if (!valid_policy_name(run->policy_name))
            return sbx_error_set(e, EINVAL, "invalid policy name '%s'", run->policy_name);
        snprintf(file, sizeof(file), "%s/%s.yaml", d->cfg.policy_dir, run->policy_name);
        /* Without blocking: a FIFO in the directory must not stop the daemon's loop. */
        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
            int r = sbx_neg_errno();
            return sbx_error_set(e, r, "policy '%s': cannot open %s: %s", run->policy_name, file,
                                 strerror(-r));
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
            return sbx_error_set(e, EINVAL, "policy '%s': %s is not a regular file",
                                 run->policy_name, file);
        int r = read_fd_text(fd, SBX_POLICY_MAX_BYTES, &text);
        if (r < 0)
            return sbx_error_set(e, r, "policy %s: %s", file, strerror(-r));
        *ret_operator = operator_file(fd);
    } else if (run->policy_text) {
        snprintf(file, sizeof(file), "%s", run->policy_file ? run->policy_file : "<policy>");
    } else {
        return sbx_policy_new_default(ret);
    }
    const char *src = text ? text : run->policy_text;
    struct sbx_diags diags = { 0 };
    int r = sbx_policy_parse(src, strlen(src), file, ret, &diags);
    if (r < 0)
        diags_message(&diags, "invalid policy:\n", r, e);
    sbx_diags_free(&diags);
    return r;
}

static bool option_is(const char *option, const char *name)
{
    size_t n = strlen(name);
    return strncmp(option, name, n) == 0 && option[n] == '=';
}

/* "NAME=VALUE" as the caller typed it: "--NAME VALUE". */
static void option_label(const char *option, char *buf, size_t len)
{
    const char *eq = strchr(option, '=');
    snprintf(buf, len, "--%.*s %s", (int)(eq ? eq - option : 0), option, eq ? eq + 1 : option);
}

/*
 * The daemon's own hard rlimits: a caller other than root may not give its
 * guest more (sandbox init sets rlimits while it can still raise them).
 */
static const uint64_t *daemon_hard_limits(void)
{
    static uint64_t hard[RLIM_NLIMITS];
    for (int i = 0; i < RLIM_NLIMITS; i++) {
        struct rlimit rl;
        hard[i] = getrlimit(i, &rl) == 0 ? (uint64_t)rl.rlim_max : 0;
    }
    return hard;
}

/*
 * The request's command-line options over its policy, in order, through the
 * policy's own validation; every bad one is reported.  The permission checks
 * that follow see the merged policy.  A bind mount or an identity the caller
 * chose makes the identity the caller's business: the operator's licence to
 * name other ids (operator_policy) does not extend to them.
 */
/* What only root may ask for, given whether the daemon has host ids for user namespaces. */
static int policy_needs_root(const struct sbx_daemon *d, const struct sbx_policy *p,
                             const char **ret_what)
{
    return sbx_idrange_configured(&d->ids) ? sbx_policy_needs_root_userns(p, ret_what)
                                           : sbx_policy_needs_root(p, ret_what);
}

static int apply_options(struct sbx_daemon *d, struct sbx_run_req *req, struct sbx_error *e)
{
    const struct sbx_msg_run *run = &req->run;
    if (run->n_options > SBX_POLICY_MAX_OPTIONS)
        return sbx_error_set(e, E2BIG, "too many policy options (%u, at most %d)", run->n_options,
                             SBX_POLICY_MAX_OPTIONS);
    bool needed_root = policy_needs_root(d, req->policy, NULL);
    sbx_policy_bounds_of(req->policy, daemon_hard_limits(), &req->policy_bounds);
    struct sbx_diags diags = { 0 };
    int ret = 0;
    for (uint32_t i = 0; i < run->n_options && ret != -ENOMEM; i++) {
        const char *o = run->options[i];
        int r = sbx_policy_apply_option(req->policy, o, &diags);
        if (r < 0) {
            ret = r;
            continue;
        }
        if (!needed_root && !req->root_option && policy_needs_root(d, req->policy, NULL))
            req->root_option = o;
        if (option_is(o, "user"))
            req->user_option = o;
        if (option_is(o, "user") || option_is(o, "volume"))
            req->operator_policy = false;
        if (option_is(o, "memory") || option_is(o, "pids-limit") || option_is(o, "cpus") ||
            option_is(o, "timeout") || option_is(o, "tmpfs") || option_is(o, "ulimit"))
            req->limit_option = o;
    }
    if (ret == -ENOMEM)
        sbx_error_set(e, ret, "policy options: out of memory");
    else if (ret < 0)
        diags_message(&diags, "", ret, e);
    sbx_diags_free(&diags);
    return ret;
}

/*
 * A built image's config: the guest's argv (Entrypoint, then the caller's
 * command or Cmd), and its User and WorkingDir where the policy sets none
 * (no user, a cwd of "/"), applied as the options would be, before them:
 * the caller's -u and -w still win.  The image chose that identity, not the operator, so it gets
 * the checks of a caller's own --user.
 */
static int run_image_config(struct sbx_run_req *req, struct sbx_error *e)
{
    struct sbx_image_config *cfg = &req->image_config;
    int fd = req->frame.n_fds > 0 ? req->frame.fds[0] : -EBADF;
    /*
     * A file that cannot be read here (an O_PATH fd) has no config; the
     * image's own checks refuse it next, with the reason.
     */
    int r = sbx_image_config_read(fd, cfg, e);
    if (r == -ENOMEM)
        return sbx_error_set(e, r, "image: out of memory");
    if (r == -EBADMSG)
        return sbx_error_wrap(e, "image");
    if (r < 0)
        *cfg = (struct sbx_image_config){ 0 };
    r = sbx_image_config_argv(cfg, req->run.argv, req->run.argc, &req->argv, e);
    if (r < 0)
        return r;
    req->argc = (uint32_t)r;
    struct sbx_policy *p = req->policy;
    const struct {
        const char *name, *value;
        bool unset;
    } fields[] = {
        { "user", cfg->user, !p->user && !p->group && !p->n_groups },
        /* Every policy has a cwd, "/" unless it says otherwise. */
        { "workdir", cfg->workdir, !p->cwd || strcmp(p->cwd, "/") == 0 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        if (!fields[i].value || !fields[i].unset)
            continue;
        _cleanup_free_ char *opt = NULL;
        if (asprintf(&opt, "%s=%s", fields[i].name, fields[i].value) < 0)
            return -ENOMEM;
        struct sbx_diags diags = { 0 };
        r = sbx_policy_apply_option(p, opt, &diags);
        if (r < 0)
            diags_message(&diags, i == 0 ? "image config User: " : "image config WorkingDir: ", r,
                          e);
        sbx_diags_free(&diags);
        if (r < 0)
            return r;
        if (i == 0) {
            req->image_user = true;
            req->operator_policy = false;
        }
    }
    return 0;
}

/*
 * Reads a file of the image (e.g. etc/passwd), resolving symlinks as if the
 * image were the root, so a crafted link cannot reach the daemon's files.
 * O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever,
 * with the daemon's whole loop; the type check below refuses it.
 */
static char *image_file(int mount_fd, const char *path)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    _cleanup_close_ int fd = (int)syscall(SYS_openat2, mount_fd, path, &how, sizeof(how));
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    char *text = NULL;
    if (read_fd_text(fd, 4 * 1024 * 1024, &text) < 0)
        return NULL;
    return text;
}

/*
 * In a user namespace of the sandbox's own every guest id maps to a host id
 * of the sandbox's block, which no one else has: any id of the namespace is
 * the caller's to choose, guest root too; one outside it does not exist there.
 */
static int check_userns_ids(const struct sbx_spec *spec, const uint32_t *groups, size_t n,
                            struct sbx_error *e)
{
    static const char *const what[] = { "uid", "gid", "group" };
    for (size_t i = 0; i < n + 2; i++) {
        uint32_t id = i == 0 ? spec->uid : i == 1 ? spec->gid : groups[i - 2];
        if (id < SBX_IDRANGE_SIZE)
            continue;
        return sbx_error_set(
            e, EINVAL,
            "%s %u is not an id of the sandbox's user namespace (0 to %u); give one of "
            "those, or run with `userns: host` (root only)",
            what[i < 2 ? i : 2], id, SBX_IDRANGE_SIZE - 1);
    }
    return 0;
}

/*
 * The guest's uid, gid and groups.  In the sandbox's own user namespace any
 * id of it (check_userns_ids).  Without one they are host
 * ids, so a caller other than root gets its own only: any other id (nobody's
 * too) would reach through a bind mount the files of whoever has it.  An
 * operator's policy may name others; a policy the caller sent may not.
 * For a caller other than root the image, which is the caller's, says
 * nothing: an operator's policy must give numeric ids, with the gid, and
 * group 0 is refused in every policy.  exec -u asks the same
 * (lifecycle-exec.c), as a caller's own --user.
 */
int sbx_run_resolve_identity(const struct sbx_caller *who, const struct sbx_policy *p,
                             bool operator_policy, bool userns, int mount_fd, struct sbx_spec *spec,
                             uint32_t **ret_groups, struct sbx_error *e)
{
    bool numeric = who->uid != 0 && operator_policy;
    int r;
    spec->uid = who->uid;
    spec->gid = who->gid;
    if (!p->user && !p->group && !p->n_groups)
        /* like bubblewrap: by default the guest runs as whoever asked */
        return userns ? check_userns_ids(spec, NULL, 0, e) : 0;
    if (userns)
        numeric = false; /* the image's names are the sandbox's own ids */
    e->msg[0] = '\0';
    if (numeric && (r = sbx_policy_identity_numeric(p, e)) < 0)
        return sbx_error_wrap(e, "permission denied: policy identity");
    _cleanup_free_ char *passwd = numeric ? NULL : image_file(mount_fd, "etc/passwd");
    _cleanup_free_ char *group = numeric ? NULL : image_file(mount_fd, "etc/group");
    size_t n = 0;
    uint32_t uid = who->uid, gid = who->gid;
    r = sbx_policy_resolve_identity(p, passwd, group, &uid, &gid, ret_groups, &n, e);
    if (r < 0) {
        /* A malformed number (-EINVAL) has no message of its own. */
        if (!e->msg[0])
            sbx_error_set(e, r, "%s", strerror(-r));
        return sbx_error_wrap(e, "policy identity");
    }
    /* What the policy leaves unset stays the caller's. */
    if (uid == UINT32_MAX)
        uid = who->uid;
    if (gid == UINT32_MAX)
        gid = who->gid;
    spec->uid = uid;
    spec->gid = gid;
    if (userns && (r = check_userns_ids(spec, *ret_groups, n, e)) < 0)
        return r;
    if (!userns && (r = sbx_run_check_ids(who, operator_policy, uid, gid, *ret_groups, n, e)) < 0)
        return r;
    spec->uid = uid;
    spec->gid = gid;
    spec->groups = *ret_groups;
    spec->n_groups = (uint32_t)n;
    return 0;
}

/* "--user 0: " before e's message: the option the refusal is about. */
static void prefix_option(const char *option, struct sbx_error *e)
{
    char label[256];
    option_label(option, label, sizeof(label));
    sbx_error_wrap(e, "%s", label);
}

/* "the image's User X (--user overrides it): " before e's message. */
static void image_user_message(const char *user, struct sbx_error *e)
{
    sbx_error_wrap(e, "the image's config User '%s' (--user overrides it)", user);
}

static bool holds_id_zero(const struct sbx_spec *spec)
{
    if (spec->uid == 0 || spec->gid == 0)
        return true;
    for (uint32_t i = 0; i < spec->n_groups; i++)
        if (spec->groups[i] == 0)
            return true;
    return false;
}

static int check_mode(struct sbx_daemon *d, uint32_t mode, struct sbx_error *e)
{
    if (mode > SBX_MODE_REWRITE)
        return sbx_error_set(e, EINVAL, "unknown syscall mode %u", mode);
    if (mode != SBX_MODE_OFF && d->trampoline_memfd < 0)
        return sbx_error_set(e, EOPNOTSUPP,
                             "syscall mode '%s' is not available: this sandboxd has no trampoline",
                             mode == SBX_MODE_TRAP ? "trap" : "rewrite");
    return 0;
}

static void policy_features(struct sbx_daemon *d, struct sbx_host_features *h)
{
    h->memory = sbx_cgroup_root_can(&d->cgroups, SBX_CG_MEMORY);
    h->pids = sbx_cgroup_root_can(&d->cgroups, SBX_CG_PIDS);
    h->cpu = sbx_cgroup_root_can(&d->cgroups, SBX_CG_CPU);
}

void sbx_run_req_free(struct sbx_run_req *req)
{
    if (!req)
        return;
    sbx_msg_run_free(&req->run);
    sbx_image_config_free(&req->image_config);
    for (uint32_t i = 0; i < req->argc; i++)
        free(req->argv[i]);
    free(req->argv);
    sbx_policy_free(req->policy);
    sbx_frame_clear(&req->frame);
    free(req);
}

static void run_req_freep(struct sbx_run_req **req)
{
    sbx_run_req_free(*req);
}

/*
 * A root caller's guest root is host root on the binds (the bind map gives
 * it the caller's ids), and on a writable image (its owners as built).  A
 * file capability it sets there with a kept setfcap is written with host
 * root as its root id: a plain capability that takes effect on the host.
 * The baseline refuses set-id modes to a guest holding id 0; it cannot see
 * into setxattr's name, so this pair is refused here instead.
 */
static int check_root_fcaps(const struct sbx_policy *p, bool userns, const struct sbx_caller *who,
                            const struct sbx_spec *spec, struct sbx_error *e)
{
    if (!userns || who->uid != 0 || spec->uid != 0 || !(p->caps_keep & (1ull << CAP_SETFCAP)))
        return 0;
    bool writable = p->writable_image;
    for (size_t i = 0; !writable && i < p->n_mounts; i++)
        writable = p->mounts[i].type == SBX_MOUNT_BIND && !p->mounts[i].readonly;
    if (!writable)
        return 0;
    return sbx_error_set(
        e, EPERM,
        "permission denied: setfcap kept by a guest root of root's, with a writable %s: a file "
        "capability set there would take effect on the host; make the mounts read-only, run "
        "the guest as another user, or use userns: host",
        p->writable_image ? "image" : "bind");
}

/* Everything that can be checked before the client opens anything. */
static int check_request(struct sbx_daemon *d, const struct sbx_caller *who,
                         struct sbx_run_req *req, struct sbx_error *e)
{
    const struct sbx_policy *p = req->policy;
    const char *what;
    if (who->uid != 0 && req->root_option) {
        char label[256];
        option_label(req->root_option, label, sizeof(label));
        return sbx_error_set(e, EPERM, "permission denied: only root may use %s", label);
    }
    if (who->uid != 0 && policy_needs_root(d, p, &what))
        return sbx_error_set(e, EPERM, "permission denied: only root may use '%s' in a policy",
                             what);
    /*
     * A caller other than root gets no more of the host than the default
     * limits give, or than an operator's policy gives it.
     */
    int r = 0;
    if (who->uid != 0)
        r = sbx_run_check_limits(p, req->operator_policy, req->limit_option, &req->policy_bounds,
                                 daemon_hard_limits(), e);
    if (r < 0)
        return r;
    struct sbx_host_features h;
    policy_features(d, &h);
    struct sbx_diags diags = { 0 };
    r = sbx_policy_check_host(p, &h, &diags);
    if (r < 0)
        diags_message(&diags, "", r, e);
    sbx_diags_free(&diags);
    if (r < 0)
        return r;
    if (req->frame.n_fds != SBX_RUN_FIXED_FDS)
        return sbx_error_set(e, EBADMSG, "RUN carries %u fds, expected %u", req->frame.n_fds,
                             SBX_RUN_FIXED_FDS);
    if ((r = sbx_fdcheck_stdio(req->frame.fds + 1, "RUN", 2, e)) < 0)
        return r;
    size_t n_tmpfs = 0;
    for (size_t i = 0; i < p->n_mounts; i++) {
        req->n_binds += p->mounts[i].type == SBX_MOUNT_BIND;
        n_tmpfs += p->mounts[i].type == SBX_MOUNT_TMPFS;
    }
    if (n_tmpfs > RUN_MAX_TMPFS)
        return sbx_error_set(e, E2BIG, "too many tmpfs mounts (%zu, at most %d)", n_tmpfs,
                             RUN_MAX_TMPFS);
    req->writable_image = p->writable_image;
    if (req->n_binds + SBX_RUN_FIXED_FDS + 3 > SBX_PROTO_MAX_FDS)
        return sbx_error_set(e, E2BIG, "too many bind mounts (at most %d)",
                             SBX_PROTO_MAX_FDS - SBX_RUN_FIXED_FDS - 3);
    uint32_t mode = req->run.mode != SBX_RUN_MODE_DEFAULT ? req->run.mode
                    : p->mode_set                         ? (uint32_t)p->mode
                                                          : (uint32_t)d->cfg.default_mode;
    req->run.mode = mode;
    if (mode == SBX_MODE_OFF && (req->run.flags & SBX_RUN_TRACE))
        return sbx_error_set(e, EINVAL,
                             "--trace and --learn need the trap or rewrite syscall mode, not off");
    return check_mode(d, mode, e);
}

int sbx_run_prepare(struct sbx_daemon *d, const struct sbx_caller *who, struct sbx_frame *f,
                    struct sbx_run_req **ret, struct sbx_msg_open *ret_open, struct sbx_error *e)
{
    _cleanup_(run_req_freep) struct sbx_run_req *req = calloc(1, sizeof(*req));
    if (!req)
        return -ENOMEM;
    if (sbx_msg_run_decode(f, &req->run) < 0)
        return sbx_error_set(e, EBADMSG, "malformed RUN frame");
    req->frame = *f; /* takes the fds */
    *f = (struct sbx_frame){ 0 };
    int r = load_policy(d, &req->run, &req->policy, &req->operator_policy, e);
    if (r < 0)
        return r;
    if ((r = run_image_config(req, e)) < 0)
        return r;
    if ((r = apply_options(d, req, e)) < 0)
        return r;
    if ((r = check_request(d, who, req, e)) < 0)
        return r;
    if (!req->n_binds && !req->writable_image) {
        *ret = TAKE_PTR(req);
        return 0;
    }
    /* The paths point into the policy, which the request keeps alive. */
    char **paths = calloc(req->n_binds + 1, sizeof(char *));
    if (!paths)
        return -ENOMEM;
    uint32_t n = 0;
    for (size_t i = 0; i < req->policy->n_mounts; i++)
        if (req->policy->mounts[i].type == SBX_MOUNT_BIND)
            paths[n++] = req->policy->mounts[i].source;
    *ret_open = (struct sbx_msg_open){ .paths = paths,
                                       .n_paths = n,
                                       .flags = req->writable_image ? SBX_OPEN_IMAGE_RW : 0 };
    *ret = TAKE_PTR(req);
    return 1;
}

/* The host path of the policy's bind mount number i (0-based), for messages. */
static const char *bind_source(const struct sbx_policy *p, unsigned i)
{
    for (size_t m = 0; m < p->n_mounts; m++)
        if (p->mounts[m].type == SBX_MOUNT_BIND && i-- == 0)
            return p->mounts[m].source;
    return "?";
}

/*
 * Whether the fd the client sent for bind source n is the file the policy
 * names.  Without this a caller could answer OPEN with any directory it can
 * open, and an operator's policy would lend its ids to that directory rather
 * than to the one the operator chose.  The daemon resolves the policy's
 * absolute path itself, following symlinks as the client's open does, in
 * its own mount namespace: the policy speaks of the host's files, and a
 * client in another namespace whose path leads elsewhere is refused.  A
 * path swapped between the client's open and this stat fails the run.
 */
static int check_bind_source(const struct sbx_policy *p, unsigned n, const struct stat *sent,
                             struct sbx_error *e)
{
    const char *path = bind_source(p, n);
    struct stat st;
    if (stat(path, &st) < 0) {
        int r = sbx_neg_errno();
        return sbx_error_set(e, r, "bind source %u (%s): sandboxd cannot find it: %s", n + 1, path,
                             strerror(-r));
    }
    if (st.st_dev != sent->st_dev || st.st_ino != sent->st_ino)
        return sbx_error_set(
            e, EBADF,
            "bind source %u (%s): the fd the client sent is not the file the policy names", n + 1,
            path);
    return 0;
}

unsigned sbx_run_req_fds_wanted(const struct sbx_run_req *req)
{
    return req ? req->n_binds + (req->writable_image ? 1 : 0) : 0;
}

/*
 * The FDS frame: one fd per requested path, each of a kind that can be
 * mounted, each the file the policy names (check_bind_source), each open
 * for reading, so that it proves the caller could open it.  A read-write
 * bind asks for no more: a directory cannot be opened for writing, and
 * nothing is written through the fd.  The guest writes through the mount,
 * with its own ids, which for a caller other than root are the caller's or
 * those of an operator's policy (resolve_identity), and the kernel checks
 * every write against them; the copy keeps the read-only flag of the host's
 * mount (init only adds flags).  The read-write image is another matter:
 * the loop device writes it as the kernel, with no check at all, so its fd
 * must be open for writing, and be RUN's image.
 */
static int check_extra(struct sbx_run_req *req, struct sbx_frame *extra, const int **ret_binds,
                       int *ret_image, struct sbx_error *e)
{
    unsigned want = sbx_run_req_fds_wanted(req);
    struct sbx_msg_fds m;
    if (!extra || sbx_msg_fds_decode(extra, &m) < 0 || m.count != extra->n_fds || m.count != want)
        return sbx_error_set(e, EBADMSG, "FDS must carry %u fds", want);
    unsigned first = 0;
    const char *why;
    int r;
    *ret_image = req->frame.fds[0];
    if (req->writable_image) {
        struct stat a, b;
        r = sbx_fdcheck_access(extra->fds[0], SBX_FDCHECK_READ | SBX_FDCHECK_WRITE, &why);
        if (r < 0)
            return sbx_error_set(e, r, "writable image (FDS fd 1): %s", why);
        if (fstat(extra->fds[0], &a) < 0 || fstat(req->frame.fds[0], &b) < 0 ||
            a.st_dev != b.st_dev || a.st_ino != b.st_ino)
            return sbx_error_set(e, EBADF,
                                 "writable image (FDS fd 1): not the same file as RUN's image");
        *ret_image = extra->fds[0];
        first = 1;
    }
    for (unsigned i = first; i < extra->n_fds; i++) {
        unsigned n = i - first;
        struct stat st;
        if ((r = sbx_fdcheck_access(extra->fds[i], SBX_FDCHECK_READ, &why)) < 0)
            return sbx_error_set(e, r, "bind source %u (%s, FDS fd %u): %s", n + 1,
                                 bind_source(req->policy, n), i + 1, why);
        if (fstat(extra->fds[i], &st) < 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
            return sbx_error_set(e, EINVAL,
                                 "bind source %u (%s) is neither a directory nor a regular file",
                                 n + 1, bind_source(req->policy, n));
        if ((r = check_bind_source(req->policy, n, &st, e)) < 0)
            return r;
    }
    *ret_binds = extra->fds + first;
    return 0;
}

/*
 * Detached copies of the bind sources.  open_tree clones only mounts of the
 * caller's namespace, and sandbox init lives in a new one: the daemon, still
 * in the host's, makes the copies, and init attaches them.
 */
struct detached {
    int fds[SBX_PROTO_MAX_FDS];
    unsigned n;
};

static void detached_clear(struct detached *d)
{
    for (unsigned i = 0; i < d->n; i++)
        sbx_close(d->fds[i]);
    d->n = 0;
}

static int detach_binds(const int *src, unsigned n, struct detached *ret, struct sbx_error *e)
{
    for (unsigned i = 0; i < n; i++) {
        int m = (int)syscall(SYS_open_tree, src[i], "",
                             OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (m < 0) {
            int r = sbx_error_set_errno(e, errno, "bind source %u: cannot clone it", i + 1);
            detached_clear(ret);
            return r;
        }
        ret->fds[ret->n++] = m;
    }
    return 0;
}

/*
 * The site map a built image stores, read once, when the image first needs
 * one, and only while the filesystem is the one it was made for (its
 * superblock unchanged); sbx_sitemap_offer checks it as it checks the
 * helper's.  Without it the helper makes one, as for any image.
 */
static void offer_image_map(const struct sbx_run_req *req, struct sbx_image *img, int image_fd)
{
    const struct sbx_image_config *cfg = &req->image_config;
    char sb[72];
    struct sbx_error ignored;
    _cleanup_free_ void *map = NULL;
    size_t len = 0;
    if (img->sitemap_tried || img->writable || !cfg->superblock ||
        sbx_image_meta_superblock(image_fd, sb) < 0 || strcmp(sb, cfg->superblock) != 0 ||
        sbx_image_meta_read_map(image_fd, &map, &len, &ignored) < 0 || !map)
        return;
    sbx_sitemap_offer(img, map, len);
}

/* The numbers of the policy's `trace` rules, which the trampoline records; false if none. */
static bool policy_traces(const struct sbx_policy *p, uint64_t select[8])
{
    bool any = false;
    memset(select, 0, 8 * sizeof(uint64_t));
    for (size_t i = 0; i < p->n_rules; i++) {
        if (p->rules[i].action.kind != SBX_ACT_TRACE)
            continue;
        for (size_t k = 0; k < p->rules[i].n_syscalls; k++) {
            int nr = p->rules[i].syscalls[k];
            if (nr >= 0 && nr < 512) {
                select[nr / 64] |= 1ull << (nr % 64);
                any = true;
            }
        }
    }
    return any;
}

int sbx_run_start(struct sbx_daemon *d, const struct sbx_caller *who,
                  const struct sbx_sandbox_owner *owner, struct sbx_run_req *req,
                  struct sbx_frame *extra, struct sbx_sandbox **ret, struct sbx_error *e)
{
    uint64_t trace_select[8];
    _cleanup_(detached_clear) struct detached binds_detached = { .n = 0 };
    const struct sbx_policy *p = req->policy;
    _cleanup_free_ uint32_t *groups = NULL;
    _cleanup_close_ int bpf = -EBADF;
    const int *bind_fds = NULL;
    int image_fd = req->frame.fds[0];
    int r;
    if ((req->n_binds || req->writable_image) &&
        (r = check_extra(req, extra, &bind_fds, &image_fd, e)) < 0)
        return r;
    if (req->n_binds && (r = detach_binds(bind_fds, req->n_binds, &binds_detached, e)) < 0)
        return r;

    struct sbx_image *img = NULL;
    if (p->writable_image)
        sbx_spare_let_go(d, image_fd);
    r = sbx_image_acquire(&d->images, image_fd, p->writable_image, &img, e);
    if (r < 0)
        return r;
    if (req->run.mode == SBX_MODE_REWRITE) {
        offer_image_map(req, img, image_fd);
        sbx_sitemap_request(d, img);
    }

    /* A user namespace of its own unless the policy asks for the host's, or there are no ids. */
    bool userns = p->userns == SBX_USERNS_PRIVATE && sbx_idrange_configured(&d->ids);
    struct sbx_spec spec = {
        .staging = d->staging_dir,
        .argv = req->argv,
        .argc = req->argc,
        .cwd = p->cwd ? p->cwd : "/",
        .hostname = p->hostname ? p->hostname : "sandbox",
        .mode = req->run.mode,
        .flags = (p->network == SBX_NET_HOST ? SBX_SPEC_NET_HOST : 0) |
                 (p->writable_image ? SBX_SPEC_WRITABLE_IMAGE : 0) |
                 (req->run.flags & SBX_RUN_TTY ? SBX_SPEC_TTY : 0) |
                 (req->run.flags & SBX_RUN_DETACH ? SBX_SPEC_EXEC : 0) |
                 (userns ? SBX_SPEC_USERNS : 0),
        .umask = p->umask >= 0 ? (uint32_t)p->umask : 022,
        .caps_keep = p->caps_keep,
        .overlay_size = p->overlay_size,
        .tmp_size = p->tmp_size,
        .shm_size = p->shm_size,
    };
    r = sbx_run_resolve_identity(who, req->policy, req->operator_policy, userns, img->mount_fd,
                                 &spec, &groups, e);
    if (r >= 0 && !userns && spec.uid == 0 && who->uid != 0)
        r = sbx_error_set(e, EPERM, "permission denied: only root may run a guest as uid 0");
    if (r < 0) {
        if (req->user_option)
            prefix_option(req->user_option, e);
        else if (req->image_user)
            image_user_message(req->image_config.user, e);
        goto fail_image;
    }
    if ((r = sbx_idmap_self_check(&spec, e)) < 0)
        goto fail_image;
    if ((r = check_root_fcaps(p, userns, who, &spec, e)) < 0)
        goto fail_image;
    /*
     * After the identity: the filter refuses set-id modes to a guest holding
     * id 0.  The default policy's filter is compiled once, for the default
     * policy only; options may change what the filter depends on.
     */
    if (req->run.policy_name || req->run.policy_text || req->run.n_options) {
        unsigned flags = holds_id_zero(&spec) ? SBX_POLICY_GUEST_ROOT : 0;
        if ((r = sbx_run_compile_policy(p, flags, &bpf)) < 0) {
            sbx_error_set_errno(e, r, "cannot compile the policy");
            goto fail_image;
        }
    } else if ((bpf = fcntl(d->default_bpf_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
        r = sbx_neg_errno();
        goto fail_image;
    }
    struct sbx_run_env env;
    if ((r = sbx_run_env_build(&env, p, &req->image_config, &req->run, spec.uid)) < 0) {
        sbx_error_set(e, r,
                      "the guest's environment would have more than %u variables (the image's Env, "
                      "the policy's env and the client's together)",
                      SBX_PROTO_MAX_ARGS);
        goto fail_image;
    }
    spec.env = env.items;
    spec.envc = env.n;

    struct sbx_spec_bind binds[SBX_PROTO_MAX_FDS];
    struct sbx_spec_tmpfs tmpfs[RUN_MAX_TMPFS];
    struct sbx_spec_rlimit rlimits[16];
    for (size_t i = 0; i < p->n_mounts; i++) {
        const struct sbx_mount *m = &p->mounts[i];
        if (m->type == SBX_MOUNT_BIND)
            binds[spec.n_binds++] =
                (struct sbx_spec_bind){ .target = m->target,
                                        .flags = m->readonly ? SBX_BIND_READONLY : 0 };
        else
            /* Unsized, a tmpfs would be half the host's memory: the default /tmp's size. */
            tmpfs[spec.n_tmpfs++] = (struct sbx_spec_tmpfs){
                .target = m->target,
                .size = m->size || who->uid == 0 ? m->size : SBX_POLICY_DEFAULT_TMP_SIZE,
                .mode = m->mode
            };
    }
    for (size_t i = 0; i < p->n_rlimits && spec.n_rlimits < ARRAY_SIZE(rlimits); i++)
        rlimits[spec.n_rlimits++] =
            (struct sbx_spec_rlimit){ .resource = (uint32_t)p->rlimits[i].resource,
                                      .cur = p->rlimits[i].cur,
                                      .max = p->rlimits[i].max };
    spec.binds = binds;
    spec.tmpfs = tmpfs;
    spec.rlimits = rlimits;
    spec.masked = p->masked;
    spec.n_masked = (uint32_t)p->n_masked;
    struct sbx_host_features host;
    struct sbx_policy_limits lim;
    policy_features(d, &host);
    sbx_policy_limits(p, &host, &lim);

    /* Its id and owner; detached, its record, and the log's pipes as stdout and stderr. */
    struct sbx_life *life = NULL;
    int logs[2] = { req->frame.fds[2], req->frame.fds[3] };
    if ((r = sbx_lifecycle_prepare(d, who, req, &spec, image_fd, &life, logs, e)) < 0)
        goto fail_image;

    struct sbx_sandbox_params params = {
        .spec = &spec,
        .image = img,
        .stdio = { req->frame.fds[1], logs[0], logs[1] },
        .policy_bpf_fd = bpf,
        .bind_fds = binds_detached.fds,
        .limits = { .memory = lim.memory, .pids = lim.pids, .cpu_millis = lim.cpu_millis },
        .timeout_ms = p->timeout_ms,
        .stats = req->run.flags & SBX_RUN_STATS,
        .trace = (req->run.flags & SBX_RUN_TRACE) || policy_traces(p, trace_select),
        .trace_select = req->run.flags & SBX_RUN_TRACE ? NULL : trace_select,
        .net_host = p->network == SBX_NET_HOST,
        .userns = userns,
        .caller_uid = who->uid,
        .caller_gid = who->gid,
        .owner = *owner,
    };
    if ((r = sbx_sandbox_start(d, &params, ret, e)) < 0) {
        sbx_lifecycle_abort(life);
        return r;
    }
    sbx_lifecycle_begin(life, *ret, &params.limits, params.timeout_ms);
    return 0;

fail_image:
    sbx_image_release(&d->images, img, sbx_daemon_now(d));
    return r;
}
