/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sandboxes as their owners manage them (lifecycle.h): ids and names, the
 * audit lines of every start and end, the records of detached sandboxes,
 * and the requests PS, LOGS, WAIT, STOP, KILL, RM and INSPECT.  A caller
 * sees and acts on the sandboxes of its own uid (SO_PEERCRED), root on all;
 * one that names another's sandbox is told that there is no such sandbox.
 */
#include "daemon/lifecycle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/run.h"
#include "daemon/sandbox.h"
#include "daemon/server.h"
#include "sbx/macro.h"

#define AUDIT_CMD_MAX 512 /* bytes of the command in an audit line */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Sending to clients --------------------------------------------------- */

/*
 * Replies are small, except PS's for root.  A caller other than root that
 * does not read its answer is cut off rather than waited for: its socket
 * stays non-blocking.
 */
static int client_send(struct sbx_client *c, struct sbx_buf *b, const int *fds, unsigned n)
{
    int fl = fcntl(c->fd, F_GETFL);
    if (c->trusted)
        fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
    int r = sbx_proto_send(c->fd, b, fds, n);
    if (c->trusted)
        fcntl(c->fd, F_SETFL, fl);
    sbx_buf_free(b);
    return r;
}

/* One REPLY (more: others follow); takes o.  The document goes in pieces of the protocol's
 * longest string. */
static int send_json(struct sbx_client *c, json_object *o, bool more)
{
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(text), n = (len + SBX_PROTO_MAX_STRING - 1) / SBX_PROTO_MAX_STRING;
    char **pieces = calloc(n + 2, sizeof(char *));
    int r = pieces ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++)
        if (!(pieces[i] = strndup(text + i * SBX_PROTO_MAX_STRING, SBX_PROTO_MAX_STRING)))
            r = -ENOMEM;
    if (r == 0 && n == 0 && !(pieces[n++] = strdup("")))
        r = -ENOMEM;
    struct sbx_msg_reply m = { .json = pieces, .n_json = (uint32_t)n, .more = more };
    struct sbx_buf b = { 0 };
    if (r == 0 && (r = sbx_msg_reply_encode(&m, &b)) == 0)
        r = client_send(c, &b, NULL, 0);
    else
        sbx_buf_free(&b);
    for (size_t i = 0; pieces && i < n; i++)
        free(pieces[i]);
    free(pieces);
    json_object_put(o);
    return r;
}

/* The answer of INSPECT, KILL, RM; an answer too big for a frame is said so. */
static void answer(struct sbx_client *c, json_object *o)
{
    int r = send_json(c, o, false);
    if (r == -EMSGSIZE)
        sbx_client_fail(c, EMSGSIZE, "the answer is over the protocol's limit of a frame");
    else
        sbx_client_close(c);
}

static void send_exit(struct sbx_client *c, const struct sbx_life *l)
{
    struct sbx_msg_exit m = { .kind = l->exit_kind,
                              .code = l->exit_code,
                              .message = l->exit_message };
    struct sbx_buf b = { 0 };
    if (sbx_msg_exit_encode(&m, &b) < 0 || client_send(c, &b, NULL, 0) < 0)
        sbx_buf_free(&b);
}

static int send_log_fds(struct sbx_client *c, const int *fds, unsigned n)
{
    struct sbx_msg_log m = { .count = n };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_log_encode(&m, &b);
    if (r < 0)
        return r;
    return client_send(c, &b, fds, n);
}

/* ---- Lives ------------------------------------------------------------- */

void sbx_lifecycle_unwait(struct sbx_client *c)
{
    struct sbx_life *l = c->life;
    if (!l)
        return;
    for (struct sbx_client **p = &l->waiters; *p; p = &(*p)->life_next) {
        if (*p == c) {
            *p = c->life_next;
            break;
        }
    }
    c->life = NULL;
    c->life_next = NULL;
}

void sbx_lifecycle_wait_on(struct sbx_life *l, struct sbx_client *c, uint16_t req)
{
    c->life = l;
    c->life_req = req;
    c->life_next = l->waiters;
    l->waiters = c;
    c->state = SBX_CL_WAITING;
}

void sbx_life_free(struct sbx_life *l)
{
    if (!l)
        return;
    if (l->handles_open > 0) {
        /* The log's polls and the stop timer close first; their callbacks free it. */
        l->freeing = true;
        return;
    }
    sbx_lifecycle_exec_watches_free(l);
    for (uint32_t i = 0; i < l->argc; i++)
        free(l->argv[i]);
    free(l->argv);
    free(l->name);
    free(l->image);
    free(l->policy);
    free(l->exit_message);
    json_object_put(l->mounts);
    json_object_put(l->syscalls);
    sbx_close(l->dir_fd);
    free(l);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct sbx_life *l = h->data;
    if (--l->handles_open == 0 && l->freeing)
        sbx_life_free(l);
}

static void life_unlink(struct sbx_life *l)
{
    for (struct sbx_life **p = &l->d->lifecycle.lives; *p; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            return;
        }
    }
}

/* Out of the list and, once its handles are closed, out of memory. */
static void life_drop(struct sbx_life *l)
{
    life_unlink(l);
    /* rm -f of a sandbox still being torn down: it finishes without its record. */
    if (l->sandbox) {
        l->sandbox->life = NULL;
        l->sandbox = NULL;
    }
    while (l->waiters) {
        struct sbx_client *c = l->waiters;
        sbx_lifecycle_unwait(c);
        sbx_client_close(c);
    }
    sbx_log_close(l);
    if (l->stop_timer.data && !uv_is_closing((uv_handle_t *)&l->stop_timer))
        uv_close((uv_handle_t *)&l->stop_timer, on_timer_closed);
    l->freeing = true;
    if (l->handles_open == 0)
        sbx_life_free(l);
}

/* The record's directory and what is in it. */
static void remove_files(struct sbx_life *l)
{
    if (l->dir_fd < 0)
        return;
    static const char *const files[] = { "record.json", "record.json.tmp", "log", "log.1" };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        unlinkat(l->dir_fd, files[i], 0);
    if (unlinkat(l->d->lifecycle.dir_fd, l->id, AT_REMOVEDIR) < 0 && errno != ENOENT)
        sbx_warn("sandbox %s: cannot remove its record: %m", l->id);
}

/* Ended, and its log complete: what WAIT, STOP and LOGS -f wait for. */
static bool life_over(const struct sbx_life *l)
{
    return !l->running && l->reported && l->log.out.fd < 0 && l->log.err.fd < 0;
}

static bool visible(const struct sbx_client *c, const struct sbx_life *l)
{
    return c->cred.uid == 0 || l->uid == c->cred.uid;
}

/*
 * A name or an id, or else a unique prefix of an id, among the caller's
 * sandboxes.  Another user's sandbox is "no such sandbox", as if it did not
 * exist.
 */
static struct sbx_life *find(struct sbx_client *c, const char *target, struct sbx_error *e)
{
    struct sbx_lifecycle *lc = &c->d->lifecycle;
    struct sbx_life *prefix = NULL;
    unsigned n_prefix = 0;
    size_t tl = strlen(target);
    for (struct sbx_life *l = lc->lives; l; l = l->next) {
        if (!visible(c, l))
            continue;
        if (strcmp(l->id, target) == 0 || (l->name && strcmp(l->name, target) == 0))
            return l;
        if (tl > 0 && strncmp(l->id, target, tl) == 0) {
            prefix = l;
            n_prefix++;
        }
    }
    if (n_prefix == 1)
        return prefix;
    if (n_prefix > 1)
        sbx_error_set(e, ENOENT, "'%s' is the start of %u sandboxes' ids: give more of it", target,
                      n_prefix);
    else
        sbx_error_set(e, ENOENT, "no sandbox '%s'%s", target, c->cred.uid == 0 ? "" : " of yours");
    return NULL;
}

/* ---- Audit lines -------------------------------------------------------- */

/* The command as one printable string: control bytes as \xNN, long ones cut with "...". */
static void audit_command(const struct sbx_life *l, char *buf, size_t len)
{
    size_t o = 0;
    for (uint32_t i = 0; i < l->argc && o + 8 < len; i++) {
        if (i > 0)
            buf[o++] = ' ';
        for (const unsigned char *p = (const unsigned char *)l->argv[i]; *p && o + 8 < len; p++) {
            if (*p < 0x20 || *p == 0x7f || *p == '\\')
                o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
            else
                buf[o++] = (char)*p;
        }
    }
    if (o + 8 >= len)
        o += (size_t)snprintf(buf + o, len - o, "...");
    buf[o] = '\0';
}

static void audit(const struct sbx_life *l, const char *event, const char *detail)
{
    char cmd[AUDIT_CMD_MAX];
    audit_command(l, cmd, sizeof(cmd));
    char no[32] = "";
    if (l->sandbox_no)
        snprintf(no, sizeof(no), "sandbox %llu%s", (unsigned long long)l->sandbox_no,
                 detail ? "; " : "");
    sbx_info("sandbox %s %s: name %s, uid %u, image %s, command %s (%s%s)", l->id, event,
             l->name ? l->name : "-", l->uid, l->image ? l->image : "?", cmd, no,
             detail ? detail : "");
}

/* ---- From run.c and sandbox.c --------------------------------------------- */

static bool valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > SBX_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '_' && ch != '.' && ch != '-')))
            return false;
    }
    return true;
}

static int new_id(struct sbx_lifecycle *lc, char id[SBX_LIFE_ID_LEN + 1])
{
    for (int tries = 0; tries < 16; tries++) {
        uint8_t raw[SBX_LIFE_ID_LEN / 2];
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
            return -EIO;
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf(id + 2 * i, 3, "%02x", raw[i]);
        bool taken = false;
        for (struct sbx_life *l = lc->lives; l && !taken; l = l->next)
            taken = strcmp(l->id, id) == 0;
        if (!taken)
            return 0;
    }
    return -EEXIST;
}

/* The limits on what one uid keeps, and the uniqueness of names. */
static int check_detached(struct sbx_daemon *d, const struct sbx_caller *who, const char *name,
                          struct sbx_error *e)
{
    unsigned live = 0, records = 0, all = 0;
    for (struct sbx_life *l = d->lifecycle.lives; l; l = l->next) {
        all += l->detached && l->running;
        if (name && l->name && strcmp(l->name, name) == 0)
            return sbx_error_set(e, EEXIST, "the name '%s' is taken by sandbox %s (uid %u, %s)",
                                 name, l->id, l->uid,
                                 l->running ? "running" : "exited: sandboxctl rm frees the name");
        if (!l->detached || l->uid != who->uid)
            continue;
        live += l->running;
        records++;
    }
    if (all >= d->lifecycle.max_detached_all)
        return sbx_error_set(
            e, EAGAIN,
            "sandboxd runs %u detached sandboxes, the most its file descriptors allow "
            "(RLIMIT_NOFILE, beside its connections)",
            all);
    if (live >= d->cfg.max_detached)
        return sbx_error_set(
            e, EUSERS,
            "uid %u has %u detached sandboxes running, the most this sandboxd allows "
            "(--max-detached): stop one first",
            (unsigned)who->uid, live);
    if (records >= d->cfg.max_records)
        return sbx_error_set(e, EDQUOT,
                             "uid %u keeps %u sandbox records, the most this sandboxd allows "
                             "(--max-records): remove ended ones with sandboxctl rm",
                             (unsigned)who->uid, records);
    return 0;
}

static char *fd_path(int fd)
{
    char link[64], buf[4096];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, sizeof(buf) - 1);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return strdup(buf);
}

static json_object *mounts_json(const struct sbx_policy *p)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < p->n_mounts; i++) {
        const struct sbx_mount *m = &p->mounts[i];
        json_object *o = json_object_new_object();
        bool bind = m->type == SBX_MOUNT_BIND;
        json_object_object_add(o, "type", json_object_new_string(bind ? "bind" : "tmpfs"));
        if (bind)
            json_object_object_add(o, "source", json_object_new_string(m->source));
        json_object_object_add(o, "target", json_object_new_string(m->target));
        json_object_object_add(o, "readonly", json_object_new_boolean(m->readonly));
        if (!bind)
            json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)m->size));
        json_object_array_add(a, o);
    }
    return a;
}

int sbx_lifecycle_prepare(struct sbx_daemon *d, const struct sbx_caller *who,
                          const struct sbx_run_req *req, const struct sbx_spec *spec, int image_fd,
                          struct sbx_life **ret, int out[2], struct sbx_error *e)
{
    const struct sbx_msg_run *run = &req->run;
    bool detached = run->flags & SBX_RUN_DETACH;
    int r;
    if (detached && d->cfg.conn_fd >= 0)
        return sbx_error_set(e, EOPNOTSUPP,
                             "run -d needs a running sandboxd: a private one ends with its run");
    if (detached && (run->flags & SBX_RUN_TTY))
        return sbx_error_set(e, EINVAL, "a detached sandbox cannot have a terminal (-t)");
    if (run->name && !valid_name(run->name))
        return sbx_error_set(
            e, EINVAL,
            "invalid sandbox name '%s': at most %d letters, digits, '_', '.' or '-', "
            "beginning with a letter or digit",
            run->name, SBX_NAME_MAX);
    if (detached && (r = check_detached(d, who, run->name, e)) < 0)
        return r;
    struct sbx_life *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    *l = (struct sbx_life){
        .d = d,
        .uid = who->uid,
        .gid = who->gid,
        .mode = run->mode,
        .detached = detached,
        .dir_fd = -EBADF,
        .guest_id_zero = spec->uid == 0 || spec->gid == 0,
    };
    for (uint32_t i = 0; i < spec->n_groups; i++)
        l->guest_id_zero |= spec->groups[i] == 0;
    l->log = (struct sbx_log){ .file_fd = -EBADF, .write_out = -EBADF, .write_err = -EBADF };
    l->log.out.fd = l->log.err.fd = -EBADF;
    l->image = fd_path(image_fd);
    l->policy = strdup(run->policy_name   ? run->policy_name
                       : run->policy_file ? run->policy_file
                       : run->policy_text ? "<policy>"
                                          : "default");
    l->mounts = mounts_json(req->policy);
    l->syscalls = sbx_life_syscalls_json(req->policy);
    l->argv = calloc(run->argc + 1, sizeof(char *));
    if (!l->argv || !l->policy || (r = new_id(&d->lifecycle, l->id)) < 0) {
        sbx_life_free(l);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < run->argc; i++)
        if ((l->argv[l->argc] = strdup(run->argv[i])))
            l->argc++;
    if (!detached) {
        *ret = l;
        return 0;
    }
    l->name = strdup(run->name ? run->name : l->id);
    if (mkdirat(d->lifecycle.dir_fd, l->id, 0700) < 0 ||
        (l->dir_fd = openat(d->lifecycle.dir_fd, l->id,
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        r = sbx_error_set_errno(e, errno, "cannot make the sandbox's record in %s/sandboxes",
                                d->cfg.state_dir);
        sbx_life_free(l);
        return r;
    }
    if ((r = sbx_log_open(l, d->cfg.log_size, e)) < 0) {
        remove_files(l);
        sbx_life_free(l);
        return r;
    }
    out[0] = l->log.write_out;
    out[1] = l->log.write_err;
    *ret = l;
    return 0;
}

void sbx_lifecycle_abort(struct sbx_life *l)
{
    if (!l)
        return;
    sbx_log_close(l);
    remove_files(l);
    sbx_life_free(l);
}

void sbx_lifecycle_begin(struct sbx_life *l, struct sbx_sandbox *s,
                         const struct sbx_cg_limits *limits, uint64_t timeout_ms)
{
    struct sbx_daemon *d = l->d;
    l->sandbox = s;
    l->sandbox_no = s->id;
    l->running = true;
    l->started_ms = wall_ms();
    l->limits = *limits;
    l->timeout_ms = timeout_ms;
    s->life = l;
    l->next = d->lifecycle.lives;
    d->lifecycle.lives = l;
    audit(l, "started", l->detached ? "detached" : NULL);
    if (!l->detached)
        return;
    int r = sbx_log_start(l);
    if (r < 0)
        sbx_warn("sandbox %s: cannot follow its output: %s", l->id, uv_strerror(r));
    if ((r = sbx_record_save(l)) < 0)
        sbx_warn("sandbox %s: cannot write its record: %s", l->id, strerror(-r));
}

void sbx_lifecycle_guest_started(struct sbx_sandbox *s)
{
    struct sbx_life *l = s->life;
    struct sbx_client *c = s->owner.ctx;
    if (!l || !l->detached || !c)
        return;
    /* The guest runs: the client has its answer and goes; the sandbox stays. */
    s->owner.ctx = NULL;
    c->sandbox = NULL;
    struct sbx_msg_started st = { .id = s->id, .sandbox = l->id };
    struct sbx_buf b = { 0 };
    if (sbx_msg_started_encode(&st, &b) < 0 || client_send(c, &b, NULL, 0) < 0)
        sbx_buf_free(&b);
    sbx_client_close(c);
}

/* The end is known and the log complete: the waiters get their answers. */
static void life_ended(struct sbx_life *l)
{
    /* rm -f is answered once the record is gone. */
    if (l->removing) {
        sbx_info("sandbox %s: its record is removed", l->id);
        remove_files(l);
    }
    while (l->waiters) {
        struct sbx_client *c = l->waiters;
        sbx_lifecycle_unwait(c);
        if (c->life_req == SBX_MSG_EXEC) {
            /* Its process died with the sandbox's pid namespace. */
            struct sbx_msg_exit e = { .kind = SBX_EXIT_SIGNALED,
                                      .code = SIGKILL,
                                      .message = "killed: the sandbox ended" };
            sbx_client_sandbox_exited(c, NULL, &e);
            continue;
        }
        if (c->life_req == SBX_MSG_RM) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "id", json_object_new_string(l->id));
            answer(c, o);
            continue;
        }
        send_exit(c, l);
        sbx_client_close(c);
    }
    if (l->removing)
        life_drop(l);
    else if (!l->detached && !l->sandbox) {
        life_drop(l);
    }
}

void sbx_lifecycle_exited(struct sbx_sandbox *s, const struct sbx_msg_exit *m)
{
    struct sbx_life *l = s->life;
    if (!l) {
        sbx_info("sandbox %llu ended (%s, code %u)", (unsigned long long)s->id,
                 sbx_exit_kind_name(m->kind), m->code);
        return;
    }
    /*
     * A guest that ran and ended before its GUEST frame was read (init's
     * last frames are read together): the client still hears that it ran.
     */
    if (m->kind != SBX_EXIT_SETUP && m->kind != SBX_EXIT_NOTFOUND && m->kind != SBX_EXIT_NOEXEC)
        sbx_lifecycle_guest_started(s);
    l->running = false;
    l->reported = true;
    l->ended_ms = wall_ms();
    l->exit_kind = m->kind;
    l->exit_code = m->code;
    free(l->exit_message);
    l->exit_message = m->message ? strdup(m->message) : NULL;
    char detail[1024];
    snprintf(detail, sizeof(detail), "%s, code %u%s%s", sbx_exit_kind_name(m->kind), m->code,
             m->message ? ": " : "", m->message ? m->message : "");
    audit(l, "ended", detail);
    if (l->stop_timer.data)
        uv_timer_stop(&l->stop_timer);
    if (!l->detached) {
        life_ended(l);
        return;
    }
    int r = sbx_record_save(l);
    if (r < 0)
        sbx_warn("sandbox %s: cannot write its record: %s", l->id, strerror(-r));
    if (sbx_log_drained(l))
        life_ended(l);
}

void sbx_lifecycle_log_ended(struct sbx_life *l)
{
    if (l->reported)
        life_ended(l);
}

void sbx_lifecycle_log_rotated(struct sbx_life *l)
{
    for (struct sbx_client *c = l->waiters; c; c = c->life_next) {
        if (c->life_req != SBX_MSG_LOGS)
            continue;
        _cleanup_close_ int fd =
            openat(l->dir_fd, "log", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd >= 0)
            send_log_fds(c, &fd, 1);
    }
}

void sbx_lifecycle_gone(struct sbx_sandbox *s)
{
    struct sbx_life *l = s->life;
    if (!l)
        return;
    sbx_lifecycle_exec_watches_free(l);
    s->life = NULL;
    l->sandbox = NULL;
    if (!l->reported) {
        struct sbx_msg_exit m = { .kind = SBX_EXIT_SETUP,
                                  .code = EIO,
                                  .message = "the sandbox ended without a report" };
        l->sandbox = s;
        s->life = l;
        sbx_lifecycle_exited(s, &m);
        s->life = NULL;
        l->sandbox = NULL;
    }
    if (!l->detached && !l->waiters)
        life_drop(l);
}

/* ---- Requests ----------------------------------------------------------- */

static void on_stop_timer(uv_timer_t *t)
{
    struct sbx_life *l = t->data;
    if (l->sandbox)
        sbx_sandbox_kill(l->sandbox, "killed: it did not stop within the grace time after SIGTERM");
}

static int stop_timer_start(struct sbx_life *l, uint64_t ms)
{
    if (!l->stop_timer.data) {
        int r = uv_timer_init(l->d->loop, &l->stop_timer);
        if (r < 0)
            return r;
        l->stop_timer.data = l;
        l->handles_open++;
    }
    if (uv_is_active((uv_handle_t *)&l->stop_timer))
        return 0; /* the first stop's grace time holds */
    return uv_timer_start(&l->stop_timer, on_stop_timer, ms, 0);
}

static uint64_t dir_bytes(int dir_fd)
{
    uint64_t total = 0;
    static const char *const files[] = { "record.json", "log", "log.1" };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        struct stat st;
        if (fstatat(dir_fd, files[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
            total += (uint64_t)st.st_size;
    }
    return total;
}

static json_object *inspect_json(struct sbx_life *l)
{
    json_object *o = sbx_life_to_json(l);
    json_object_object_add(o, "usage", sbx_life_usage_json(l));
    if (l->detached) {
        json_object *g = json_object_new_object();
        json_object_object_add(g, "limit_bytes",
                               json_object_new_int64((int64_t)l->d->cfg.log_size));
        json_object_object_add(g, "stored_bytes",
                               json_object_new_int64((int64_t)dir_bytes(l->dir_fd)));
        json_object_object_add(g, "dropped_bytes", json_object_new_int64((int64_t)l->log.dropped));
        json_object_object_add(o, "log", g);
    }
    return o;
}

/* One REPLY per sandbox, then one with their number: a list of any length fits. */
static void do_ps(struct sbx_client *c, const struct sbx_msg_ctl *m)
{
    int64_t n = 0;
    for (struct sbx_life *l = c->d->lifecycle.lives; l; l = l->next) {
        if (!visible(c, l) || !(l->running || (m->flags & SBX_CTL_ALL)))
            continue;
        if (send_json(c, sbx_life_to_json(l), true) < 0) {
            sbx_client_close(c);
            return;
        }
        n++;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "count", json_object_new_int64(n));
    send_json(c, o, false);
    sbx_client_close(c);
}

static void do_logs(struct sbx_client *c, struct sbx_life *l, const struct sbx_msg_ctl *m)
{
    if (!l->detached) {
        sbx_client_fail(c, EINVAL, "sandbox %s is not detached: its output goes to its client",
                        l->id);
        return;
    }
    int fds[2];
    int n = sbx_log_files(l, fds);
    if (n < 0) {
        sbx_client_fail(c, n, "sandbox %s: cannot open its log: %s", l->id, strerror(-n));
        return;
    }
    int r = send_log_fds(c, fds, (unsigned)n);
    for (int i = 0; i < n; i++)
        sbx_close(fds[i]);
    if (r < 0) {
        sbx_client_close(c);
        return;
    }
    if ((m->flags & SBX_CTL_FOLLOW) && !life_over(l)) {
        sbx_lifecycle_wait_on(l, c, SBX_MSG_LOGS);
        return;
    }
    if (m->flags & SBX_CTL_FOLLOW)
        send_exit(c, l);
    sbx_client_close(c);
}

static void do_wait(struct sbx_client *c, struct sbx_life *l, uint16_t type)
{
    if (!life_over(l)) {
        sbx_lifecycle_wait_on(l, c, type);
        return;
    }
    send_exit(c, l);
    sbx_client_close(c);
}

static void do_stop(struct sbx_client *c, struct sbx_life *l, const struct sbx_msg_ctl *m)
{
    if (l->running && l->sandbox) {
        sbx_info("sandbox %s: uid %u stops it (SIGTERM, SIGKILL after %u s)", l->id,
                 (unsigned)c->cred.uid, m->value);
        int r = m->value ? sbx_sandbox_signal(l->sandbox, SIGTERM) : -ESRCH;
        if (r < 0 || stop_timer_start(l, (uint64_t)m->value * 1000) < 0)
            sbx_sandbox_kill(l->sandbox, "killed: sandboxctl stop");
    }
    do_wait(c, l, SBX_MSG_STOP);
}

static void do_kill(struct sbx_client *c, struct sbx_life *l, const struct sbx_msg_ctl *m)
{
    if (m->value < 1 || m->value > SBX_SIGNAL_MAX) {
        sbx_client_fail(c, EINVAL, "%u is not a signal (1-%d)", m->value, SBX_SIGNAL_MAX);
        return;
    }
    if (!l->running || !l->sandbox) {
        sbx_client_fail(c, ESRCH, "sandbox %s is not running", l->id);
        return;
    }
    sbx_info("sandbox %s: uid %u sends it signal %u", l->id, (unsigned)c->cred.uid, m->value);
    if (m->value == SIGKILL)
        sbx_sandbox_kill(l->sandbox, "killed: sandboxctl kill");
    else
        sbx_sandbox_signal(l->sandbox, m->value);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(l->id));
    json_object_object_add(o, "signal", json_object_new_int((int)m->value));
    answer(c, o);
}

static void do_rm(struct sbx_client *c, struct sbx_life *l, const struct sbx_msg_ctl *m)
{
    if (l->running && !(m->flags & SBX_CTL_FORCE)) {
        sbx_client_fail(c, EBUSY, "sandbox %s is running: stop it first, or remove it with rm -f",
                        l->id);
        return;
    }
    if (!life_over(l)) {
        l->removing = true;
        if (l->sandbox)
            sbx_sandbox_kill(l->sandbox, "killed: sandboxctl rm -f");
        sbx_lifecycle_wait_on(l, c, SBX_MSG_RM);
        return;
    }
    sbx_info("sandbox %s: uid %u removes its record", l->id, (unsigned)c->cred.uid);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(l->id));
    remove_files(l);
    life_drop(l);
    answer(c, o);
}

/* EXEC: a target like the others', and a body of its own. */
static void request_exec(struct sbx_client *c, struct sbx_frame *f)
{
    struct sbx_msg_exec m;
    if (sbx_msg_exec_decode(f, &m) < 0 || !m.target) {
        sbx_client_fail(c, EBADMSG, "malformed EXEC frame");
        if (f->type == SBX_MSG_EXEC)
            sbx_msg_exec_free(&m);
        return;
    }
    struct sbx_error e = { 0 };
    struct sbx_life *l = find(c, m.target, &e);
    sbx_msg_exec_free(&m);
    if (!l)
        sbx_client_fail(c, ENOENT, "%s", e.msg);
    else
        sbx_lifecycle_exec(c, l, f);
}

void sbx_lifecycle_request(struct sbx_client *c, struct sbx_frame *f)
{
    if (f->type == SBX_MSG_EXEC) {
        request_exec(c, f);
        return;
    }
    struct sbx_msg_ctl m;
    if (sbx_msg_ctl_decode(f, &m) < 0) {
        sbx_client_fail(c, EBADMSG, "malformed request (frame type %u)", f->type);
        return;
    }
    if (f->type == SBX_MSG_STATUS) {
        answer(c, sbx_lifecycle_status_json(c->d, c->cred.uid));
        sbx_msg_ctl_free(&m);
        return;
    }
    if (f->type == SBX_MSG_PS) {
        do_ps(c, &m);
        sbx_msg_ctl_free(&m);
        return;
    }
    struct sbx_error e = { 0 };
    struct sbx_life *l = m.target ? find(c, m.target, &e) : NULL;
    if (!m.target)
        sbx_error_set(&e, ENOENT, "the request names no sandbox");
    if (!l) {
        sbx_client_fail(c, ENOENT, "%s", e.msg);
        sbx_msg_ctl_free(&m);
        return;
    }
    switch (f->type) {
    case SBX_MSG_LOGS:
        do_logs(c, l, &m);
        break;
    case SBX_MSG_WAIT:
        do_wait(c, l, SBX_MSG_WAIT);
        break;
    case SBX_MSG_STOP:
        do_stop(c, l, &m);
        break;
    case SBX_MSG_KILL:
        do_kill(c, l, &m);
        break;
    case SBX_MSG_RM:
        do_rm(c, l, &m);
        break;
    case SBX_MSG_INSPECT:
        answer(c, inspect_json(l));
        break;
    }
    sbx_msg_ctl_free(&m);
}

void sbx_lifecycle_client_gone(struct sbx_client *c)
{
    sbx_lifecycle_exec_gone(c);
    sbx_lifecycle_unwait(c);
}

/* ---- Start and stop of the daemon --------------------------------------- */

/* A record of a sandbox that ran when the daemon died: it died with the daemon. */
static void mark_killed(struct sbx_life *l)
{
    l->running = false;
    l->reported = true;
    l->ended_ms = wall_ms();
    l->exit_kind = SBX_EXIT_SIGNALED;
    l->exit_code = SIGKILL;
    l->exit_message = strdup("killed: sandboxd stopped while it ran");
    audit(l, "ended", "signaled, code 9: killed: sandboxd stopped while it ran");
    int r = sbx_record_save(l);
    if (r < 0)
        sbx_warn("sandbox %s: cannot write its record: %s", l->id, strerror(-r));
}

int sbx_lifecycle_init(struct sbx_daemon *d, struct sbx_error *e)
{
    struct sbx_lifecycle *lc = &d->lifecycle;
    lc->dir_fd = -EBADF;
    lc->started_ms = wall_ms();
    lc->loop_started = sbx_daemon_now(d);
    /*
     * What the connections leave of the descriptors (server-accept.c sizes
     * those for the worst case), or a quarter of the connection limit if that
     * is more: connections rarely hold all the descriptors they may.
     */
    struct rlimit rl;
    uint64_t conn_fds =
        (uint64_t)d->srv.max_conns * SBX_SERVER_FDS_PER_CONN + SBX_SERVER_FDS_RESERVED;
    uint64_t left = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > conn_fds
                        ? (rl.rlim_cur - conn_fds) / SBX_LIFE_FDS_PER_DETACHED
                        : 0;
    if (left < d->srv.max_conns / 4)
        left = d->srv.max_conns / 4;
    lc->max_detached_all =
        left > SBX_LIFE_MIN_DETACHED_ALL ? (unsigned)left : SBX_LIFE_MIN_DETACHED_ALL;
    /* A private daemon serves one run: it keeps no records and must not touch the real ones. */
    if (d->cfg.conn_fd >= 0)
        return 0;
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&dir, "%s/sandboxes", d->cfg.state_dir) < 0)
        return sbx_error_set_errno(e, ENOMEM, "cannot open %s/sandboxes", d->cfg.state_dir);
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
        (lc->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return sbx_error_set_errno(e, errno, "cannot open %s", dir);
    if (flock(lc->dir_fd, LOCK_EX | LOCK_NB) < 0) {
        int r = sbx_neg_errno();
        return sbx_error_set(e, r, "cannot lock %s: %s", dir,
                             r == -EWOULDBLOCK ? "another sandboxd uses this state directory"
                                               : strerror(-r));
    }
    sbx_lifecycle_clean(d);
    int dup = fcntl(lc->dir_fd, F_DUPFD_CLOEXEC, 3);
    DIR *dh = dup >= 0 ? fdopendir(dup) : NULL;
    if (!dh) {
        sbx_close(dup);
        return sbx_error_set_errno(e, errno, "cannot read %s", dir);
    }
    unsigned loaded = 0, bad = 0;
    struct dirent *de;
    while ((de = readdir(dh))) {
        if (de->d_name[0] == '.')
            continue;
        struct sbx_error why = { 0 };
        struct sbx_life *l = NULL;
        if (sbx_record_load(d, lc->dir_fd, de->d_name, &l, &why) < 0) {
            sbx_warn("record %s/%s skipped: %s", dir, de->d_name,
                     why.msg[0] ? why.msg : "unreadable");
            bad++;
            continue;
        }
        l->next = lc->lives;
        lc->lives = l;
        loaded++;
        if (l->running)
            mark_killed(l);
    }
    closedir(dh);
    if (loaded || bad)
        sbx_info("%u sandbox records loaded from %s%s", loaded, dir, bad ? ", some skipped" : "");
    return 0;
}

void sbx_lifecycle_done(struct sbx_daemon *d)
{
    struct sbx_lifecycle *lc = &d->lifecycle;
    while (lc->lives) {
        struct sbx_life *l = lc->lives;
        lc->lives = l->next;
        /* The loop is closed: its handles are gone with it. */
        l->handles_open = 0;
        sbx_log_close(l);
        sbx_life_free(l);
    }
    lc->dir_fd = sbx_close(lc->dir_fd);
}
