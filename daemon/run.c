/*
 * A RUN request: its policy (named, sent as text, or the default) is parsed
 * and checked against what the caller may ask for, the image is resolved for
 * user and group names, and the result becomes the SPEC that sandbox init
 * follows.
 */
#include "daemon/run.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/sandbox.h"
#include "daemon/server.h"
#include "policy/policy.h"
#include "sbx/macro.h"

#define RUN_FIXED_FDS 4 /* image, stdin, stdout, stderr */
#define MAX_POLICY_FILE (256 * 1024)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int sbx_run_compile_policy(const struct sbx_policy *p, int *ret_fd)
{
    _cleanup_close_ int fd = memfd_create("sbx-policy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return sbx_neg_errno();
    int r = sbx_policy_export_bpf(p, fd);
    if (r < 0)
        return r;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        return sbx_neg_errno();
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static void policy_freep(struct sbx_policy **p)
{
    sbx_policy_free(*p);
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

static int load_policy(struct sbx_daemon *d, const struct sbx_msg_run *run,
                       struct sbx_policy **ret, char *msg, size_t len)
{
    _cleanup_free_ char *text = NULL;
    char file[512];
    if (run->policy_name) {
        if (!valid_policy_name(run->policy_name)) {
            snprintf(msg, len, "invalid policy name '%s'", run->policy_name);
            return -EINVAL;
        }
        snprintf(file, sizeof(file), "%s/%s.yaml", d->cfg.policy_dir, run->policy_name);
        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            int r = sbx_neg_errno();
            snprintf(msg, len, "policy '%s': cannot open %s: %s", run->policy_name, file,
                     strerror(-r));
            return r;
        }
        int r = read_fd_text(fd, MAX_POLICY_FILE, &text);
        if (r < 0) {
            snprintf(msg, len, "policy %s: %s", file, strerror(-r));
            return r;
        }
    } else if (run->policy_text) {
        snprintf(file, sizeof(file), "%s", run->policy_file ? run->policy_file : "<policy>");
    } else {
        return sbx_policy_new_default(ret);
    }
    const char *src = text ? text : run->policy_text;
    struct sbx_diags diags = { 0 };
    int r = sbx_policy_parse(src, strlen(src), file, ret, &diags);
    if (r < 0) {
        _cleanup_free_ char *all = sbx_diags_format(&diags);
        snprintf(msg, len, "invalid policy:\n%s", all ? all : "(out of memory)");
        size_t l = strlen(msg);
        if (l && msg[l - 1] == '\n')
            msg[l - 1] = '\0';
    }
    sbx_diags_free(&diags);
    return r;
}

/*
 * Reads a file of the image (e.g. etc/passwd), resolving symlinks as if the
 * image were the root, so a crafted link cannot reach the daemon's files.
 */
static char *image_file(int mount_fd, const char *path)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC,
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

/* The guest's environment: defaults, then the policy's, then the client's -e. */
struct env_builder {
    char *items[SBX_PROTO_MAX_ARGS + 1];
    uint32_t n;
    char *owned[4];
    unsigned n_owned;
};

static void env_set(struct env_builder *e, char *kv)
{
    size_t klen = strcspn(kv, "=");
    for (uint32_t i = 0; i < e->n; i++) {
        if (strncmp(e->items[i], kv, klen) == 0 && e->items[i][klen] == '=') {
            e->items[i] = kv;
            return;
        }
    }
    if (e->n < SBX_PROTO_MAX_ARGS)
        e->items[e->n++] = kv;
}

static void env_build(struct env_builder *e, const struct sbx_policy *p,
                      const struct sbx_msg_run *run, uint32_t uid)
{
    if (!p->env_replace) {
        env_set(e, "PATH=" DEFAULT_PATH);
        env_set(e, uid == 0 ? "HOME=/root" : "HOME=/");
    }
    for (size_t i = 0; i < p->n_env; i++)
        env_set(e, p->env[i]);
    for (uint32_t i = 0; i < run->envc; i++)
        env_set(e, run->env[i]);
    e->items[e->n] = NULL;
}

static int resolve_identity(struct sbx_client *c, const struct sbx_policy *p, int mount_fd,
                            struct sbx_spec *spec, uint32_t **ret_groups, char *msg, size_t len)
{
    if (!p->user && !p->group && !p->n_groups) {
        /* Like bubblewrap: by default the guest runs as whoever asked for it. */
        spec->uid = c->cred.uid;
        spec->gid = c->cred.gid;
        return 0;
    }
    _cleanup_free_ char *passwd = image_file(mount_fd, "etc/passwd");
    _cleanup_free_ char *group = image_file(mount_fd, "etc/group");
    char *err = NULL;
    size_t n = 0;
    uint32_t uid = c->cred.uid, gid = c->cred.gid;
    int r = sbx_policy_resolve_identity(p, passwd, group, &uid, &gid, ret_groups, &n, &err);
    if (r < 0) {
        snprintf(msg, len, "policy identity: %s", err ? err : strerror(-r));
        free(err);
        return r;
    }
    spec->uid = uid;
    spec->gid = gid;
    spec->groups = *ret_groups;
    spec->n_groups = (uint32_t)n;
    return 0;
}

static int check_mode(struct sbx_daemon *d, uint32_t mode, char *msg, size_t len)
{
    if (mode > SBX_MODE_REWRITE) {
        snprintf(msg, len, "unknown syscall mode %u", mode);
        return -EINVAL;
    }
    if (mode != SBX_MODE_OFF && d->trampoline_memfd < 0) {
        snprintf(msg, len, "syscall mode '%s' is not available: this sandboxd has no trampoline",
                 mode == SBX_MODE_TRAP ? "trap" : "rewrite");
        return -EOPNOTSUPP;
    }
    return 0;
}

int sbx_run_start(struct sbx_daemon *d, struct sbx_client *c, struct sbx_frame *f,
                  struct sbx_sandbox **ret, char *msg, size_t msglen)
{
    struct sbx_msg_run run;
    if (sbx_msg_run_decode(f, &run) < 0) {
        snprintf(msg, msglen, "malformed RUN frame");
        return -EBADMSG;
    }
    _cleanup_(policy_freep) struct sbx_policy *p = NULL;
    _cleanup_free_ uint32_t *groups = NULL;
    _cleanup_close_ int bpf = -EBADF;
    int r = load_policy(d, &run, &p, msg, msglen);
    if (r < 0)
        goto out;
    const char *what;
    if (c->cred.uid != 0 && sbx_policy_needs_root(p, &what)) {
        snprintf(msg, msglen, "permission denied: only root may use '%s' in a policy", what);
        r = -EPERM;
        goto out;
    }
    if (p->n_mounts || p->writable_image) {
        /* Bind sources and a writable image must be opened by the client, as itself. */
        unsigned want = 0;
        for (size_t i = 0; i < p->n_mounts; i++)
            want += p->mounts[i].type == SBX_MOUNT_BIND;
        if (want || p->writable_image) {
            snprintf(msg, msglen, "this sandboxd cannot pass bind mounts or a writable image "
                                  "yet (policy filesystem section)");
            r = -EOPNOTSUPP;
            goto out;
        }
    }
    if (f->n_fds != RUN_FIXED_FDS) {
        snprintf(msg, msglen, "RUN carries %u fds, expected %u", f->n_fds, RUN_FIXED_FDS);
        r = -EBADMSG;
        goto out;
    }
    uint32_t mode = run.mode != SBX_RUN_MODE_DEFAULT ? run.mode
                    : p->mode_set                    ? (uint32_t)p->mode
                                                     : (uint32_t)d->cfg.default_mode;
    if ((r = check_mode(d, mode, msg, msglen)) < 0)
        goto out;

    struct sbx_cg_limits limits = { .memory = p->memory, .pids = p->pids, .cpu_millis = p->cpu_millis };
    if (run.policy_name || run.policy_text) {
        if ((r = sbx_run_compile_policy(p, &bpf)) < 0) {
            snprintf(msg, msglen, "cannot compile the policy: %s", strerror(-r));
            goto out;
        }
    } else if ((bpf = fcntl(d->default_bpf_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
        r = sbx_neg_errno();
        goto out;
    }

    struct sbx_image *img = NULL;
    r = sbx_image_acquire(&d->images, f->fds[0], p->writable_image, &img, msg, msglen);
    if (r < 0)
        goto out;

    struct sbx_spec spec = {
        .staging = d->staging_dir,
        .argv = run.argv,
        .argc = run.argc,
        .cwd = p->cwd ? p->cwd : "/",
        .hostname = p->hostname ? p->hostname : "sandbox",
        .mode = mode,
        .flags = (p->network == SBX_NET_HOST ? SBX_SPEC_NET_HOST : 0) |
                 (p->writable_image ? SBX_SPEC_WRITABLE_IMAGE : 0),
        .umask = p->umask >= 0 ? (uint32_t)p->umask : 022,
        .caps_keep = p->caps_keep,
    };
    if ((r = resolve_identity(c, p, img->mount_fd, &spec, &groups, msg, msglen)) < 0)
        goto out_image;
    if (spec.uid == 0 && c->cred.uid != 0) {
        snprintf(msg, msglen, "permission denied: only root may run a guest as uid 0");
        r = -EPERM;
        goto out_image;
    }
    struct env_builder env = { 0 };
    env_build(&env, p, &run, spec.uid);
    spec.env = env.items;
    spec.envc = env.n;

    struct sbx_spec_tmpfs tmpfs[64];
    struct sbx_spec_rlimit rlimits[16];
    for (size_t i = 0; i < p->n_mounts && spec.n_tmpfs < ARRAY_SIZE(tmpfs); i++) {
        const struct sbx_mount *m = &p->mounts[i];
        tmpfs[spec.n_tmpfs++] = (struct sbx_spec_tmpfs){ .target = m->target, .size = m->size,
                                                         .mode = m->mode };
    }
    for (size_t i = 0; i < p->n_rlimits && spec.n_rlimits < ARRAY_SIZE(rlimits); i++)
        rlimits[spec.n_rlimits++] = (struct sbx_spec_rlimit){
            .resource = (uint32_t)p->rlimits[i].resource, .cur = p->rlimits[i].cur,
            .max = p->rlimits[i].max
        };
    spec.tmpfs = tmpfs;
    spec.rlimits = rlimits;
    spec.masked = p->masked;
    spec.n_masked = (uint32_t)p->n_masked;

    struct sbx_sandbox_params params = {
        .spec = &spec,
        .image = img,
        .stdio = { f->fds[1], f->fds[2], f->fds[3] },
        .policy_bpf_fd = bpf,
        .limits = limits,
        .timeout_ms = p->timeout_ms,
        .stats = run.flags & SBX_RUN_STATS,
        .net_host = p->network == SBX_NET_HOST,
    };
    r = sbx_sandbox_start(d, c, &params, ret, msg, msglen);
    goto out;

out_image:
    sbx_image_release(&d->images, img, sbx_daemon_now(d));
out:
    sbx_msg_run_free(&run);
    return r;
}
