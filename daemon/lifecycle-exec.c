/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exec: a new process in a running detached sandbox.  The daemon checks
 * the request and the client's stdio as for RUN and hands both to the
 * sandbox's init (INIT_EXEC), which starts the process through the code that
 * started the guest (init/exec.c): same namespaces, cgroup, identity,
 * rlimits, capabilities, policy filter and trampoline.  The client gets
 * STARTED at once, its signals go on as INIT_EXEC_SIGNAL, and EXIT comes
 * when init reports the process's end; a client that goes away takes its
 * process with it.  An exec'd process installs its policy filter itself, so
 * the listener of its kill rules is its own: init hands it over as
 * INIT_EXEC_NOTIFY and the daemon watches it as the guest's (killnotif.c),
 * until the process ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/fdcheck.h"
#include "daemon/image.h"
#include "daemon/killnotif.h"
#include "daemon/lifecycle.h"
#include "daemon/log.h"
#include "daemon/run.h"
#include "daemon/sandbox.h"
#include "daemon/server.h"
#include "sbx/macro.h"

static struct sbx_log_ratelimit exec_lines = SBX_LOG_RATELIMIT(5000, 20);

static int send_to_init(struct sbx_sandbox *s, struct sbx_buf *b, const int *fds, unsigned n)
{
    int fl = fcntl(s->ctl_fd, F_GETFL);
    fcntl(s->ctl_fd, F_SETFL, fl & ~O_NONBLOCK);
    int r = sbx_proto_send(s->ctl_fd, b, fds, n);
    fcntl(s->ctl_fd, F_SETFL, fl);
    sbx_buf_free(b);
    return r;
}

static void exec_signal(struct sbx_sandbox *s, uint32_t id, uint32_t signo)
{
    struct sbx_msg_exec_signal m = { .id = id, .signo = signo };
    struct sbx_buf b = { 0 };
    if (sbx_msg_exec_signal_encode(SBX_MSG_INIT_EXEC_SIGNAL, &m, &b) < 0 ||
        send_to_init(s, &b, NULL, 0) < 0)
        sbx_buf_free(&b);
}

/*
 * -u USER[:GROUP]: made a policy's user and group by run's --user option,
 * resolved by run's code in the image's /etc/passwd and /etc/group, and
 * allowed as run allows a caller's own --user.  Id 0 only where the guest
 * holds it too: its filter refuses set-id modes to a process of id 0 only
 * when it was compiled for a guest that has it.  m->uid and m->gid get the
 * ids, for INIT_EXEC.
 */
static int exec_identity(struct sbx_client *c, struct sbx_life *l, struct sbx_msg_exec *m,
                         struct sbx_error *e)
{
    if (!m->user)
        return sbx_error_set(e, EBADMSG, "EXEC asks for another user and names none");
    _cleanup_free_ char *opt = NULL;
    struct sbx_policy *p = NULL;
    int r = asprintf(&opt, "user=%s", m->user) < 0 ? -ENOMEM : sbx_policy_new_default(&p);
    if (r < 0)
        return sbx_error_set_errno(e, r, "-u %s", m->user);
    struct sbx_diags diags = { 0 };
    r = sbx_policy_apply_option(p, opt, &diags);
    if (r < 0) {
        /* The option's first diagnostic line: exec's refusal is one line. */
        _cleanup_free_ char *all = sbx_diags_format(&diags);
        sbx_error_set(e, r, "%s", all ? all : strerror(-r));
        e->msg[strcspn(e->msg, "\n")] = '\0';
    }
    sbx_diags_free(&diags);
    struct sbx_spec spec = { 0 };
    _cleanup_free_ uint32_t *groups = NULL;
    if (r >= 0)
        r = sbx_run_resolve_identity(&c->cred, p, false, l->sandbox->userns_fd >= 0,
                                     l->sandbox->image->mount_fd, &spec, &groups, e);
    sbx_policy_free(p);
    if (r >= 0 && (spec.uid == 0 || spec.gid == 0) && !l->guest_id_zero)
        r = sbx_error_set(e, EPERM,
                          "permission denied: %u:%u: id 0 only in a sandbox whose guest holds it",
                          spec.uid, spec.gid);
    if (r < 0)
        return sbx_error_wrap(e, "-u %s", m->user);
    m->uid = spec.uid;
    m->gid = spec.gid;
    free(m->user);
    m->user = NULL;
    return 0;
}

void sbx_lifecycle_exec(struct sbx_client *c, struct sbx_life *l, struct sbx_frame *f)
{
    struct sbx_msg_exec m;
    struct sbx_error e = { 0 };
    if (sbx_msg_exec_decode(f, &m) < 0) {
        sbx_client_fail(c, EBADMSG, "malformed EXEC frame");
        return;
    }
    int r = 0;
    if (!l->detached || !l->running || !l->sandbox) {
        r = sbx_error_set(&e, EINVAL, "sandbox %s is %s", l->id,
                          l->running ? "not detached: exec needs one started with run -d"
                                     : "not running");
    } else if (f->n_fds != 3) {
        r = sbx_error_set(&e, EBADMSG, "EXEC carries %u fds, expected 3", f->n_fds);
    } else {
        for (uint32_t i = 0; i < m.envc && r == 0; i++)
            if (!strchr(m.env[i], '='))
                r = sbx_error_set(&e, EINVAL, "environment entry '%s' has no '='", m.env[i]);
        if (r == 0)
            r = sbx_fdcheck_stdio(f->fds, "EXEC", 1, &e);
    }
    if (r == 0 && (m.flags & SBX_EXEC_USER))
        r = exec_identity(c, l, &m, &e);
    else if (r == 0 && m.user)
        r = sbx_error_set(&e, EBADMSG, "EXEC names a user without SBX_EXEC_USER");
    if (r < 0) {
        sbx_client_fail(c, r, "%s", e.msg);
        sbx_msg_exec_free(&m);
        return;
    }
    struct sbx_sandbox *s = l->sandbox;
    m.id = ++l->d->lifecycle.next_exec;
    free(m.target);
    m.target = NULL;
    struct sbx_buf b = { 0 };
    if ((r = sbx_msg_exec_encode(SBX_MSG_INIT_EXEC, &m, &b)) < 0 ||
        (r = send_to_init(s, &b, f->fds, 3)) < 0) {
        sbx_buf_free(&b);
        sbx_client_fail(c, r, "sandbox %s: cannot hand the request to its init: %s", l->id,
                        strerror(-r));
        sbx_msg_exec_free(&m);
        return;
    }
    char ids[48] = "";
    if (m.flags & SBX_EXEC_USER)
        snprintf(ids, sizeof(ids), ", as %u:%u", m.uid, m.gid);
    sbx_log_limited(&exec_lines, LOG_INFO, "sandbox %s: uid %u execs %s (exec %u%s)", l->id,
                    (unsigned)c->cred.uid, m.argv[0], m.id, ids);
    c->exec_id = m.id;
    sbx_lifecycle_wait_on(l, c, SBX_MSG_EXEC);
    sbx_msg_exec_free(&m);
    struct sbx_msg_started st = { .id = s->id };
    b = (struct sbx_buf){ 0 };
    int fl = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
    if (sbx_msg_started_encode(&st, &b) < 0 || sbx_proto_send(c->fd, &b, NULL, 0) < 0)
        sbx_client_close(c);
    else
        fcntl(c->fd, F_SETFL, fl);
    sbx_buf_free(&b);
}

static struct sbx_client *exec_client(struct sbx_life *l, uint32_t id)
{
    for (struct sbx_client *c = l->waiters; c; c = c->life_next)
        if (c->life_req == SBX_MSG_EXEC && c->exec_id == id)
            return c;
    return NULL;
}

static struct sbx_exec_watch *exec_watch(struct sbx_life *l, uint32_t id)
{
    for (unsigned i = 0; i < l->n_exec_watches; i++)
        if (l->exec_watches[i].id == id)
            return &l->exec_watches[i];
    return NULL;
}

static void exec_watch_drop(struct sbx_life *l, struct sbx_exec_watch *w)
{
    sbx_killnotif_free(w->k);
    *w = l->exec_watches[--l->n_exec_watches];
}

void sbx_lifecycle_exec_watches_free(struct sbx_life *l)
{
    while (l->n_exec_watches > 0)
        exec_watch_drop(l, &l->exec_watches[l->n_exec_watches - 1]);
    free(l->exec_watches);
    l->exec_watches = NULL;
}

/*
 * INIT_EXEC_NOTIFY: the listener of exec'd process id.  Its calls of a kill
 * rule wait for a reader until the daemon watches it; if it cannot, the
 * process is killed (the kill rules fail closed), and the rest of the
 * sandbox runs on.
 */
static void exec_notify(struct sbx_sandbox *s, struct sbx_life *l, uint32_t id, int *fd)
{
    int r = -EPROTO;
    if (exec_watch(l, id))
        goto fail; /* one listener per process: a second is init's error */
    r = -EMFILE;
    if (l->n_exec_watches >= SBX_LIFE_MAX_EXEC_WATCHES)
        goto fail;
    if (!l->exec_watches) {
        l->exec_watches = calloc(SBX_LIFE_MAX_EXEC_WATCHES, sizeof(*l->exec_watches));
        r = -ENOMEM;
        if (!l->exec_watches)
            goto fail;
    }
    struct sbx_killnotif *k;
    r = sbx_killnotif_start(s, *fd, &k);
    if (r < 0)
        goto fail;
    *fd = -EBADF;
    l->exec_watches[l->n_exec_watches++] = (struct sbx_exec_watch){ .id = id, .k = k };
    return;
fail:
    sbx_warn("sandbox %s: exec %u: cannot watch its seccomp listener: %s; killing it", l->id, id,
             strerror(-r));
    exec_signal(s, id, SIGKILL);
}

static bool is_pty_master(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 5 &&
           minor(st.st_rdev) == 2;
}

bool sbx_lifecycle_init_frame(struct sbx_sandbox *s, struct sbx_frame *f)
{
    struct sbx_life *l = s->life;
    if (!l)
        return false;
    if (f->type == SBX_MSG_INIT_EXEC_TTY) {
        struct sbx_msg_exec_signal m;
        if (sbx_msg_exec_signal_decode(f, &m) < 0 || f->n_fds != 1 || !is_pty_master(f->fds[0]))
            return false;
        struct sbx_client *c = exec_client(l, m.id);
        if (c && sbx_client_send_tty(c, f->fds[0]) < 0)
            sbx_client_close(c);
        return true;
    }
    if (f->type == SBX_MSG_INIT_EXEC_NOTIFY) {
        struct sbx_msg_exec_signal m;
        if (sbx_msg_exec_signal_decode(f, &m) < 0 || f->n_fds != 1)
            return false;
        exec_notify(s, l, m.id, &f->fds[0]);
        return true;
    }
    if (f->type != SBX_MSG_INIT_EXEC_END)
        return false;
    struct sbx_msg_exec_end m;
    if (sbx_msg_exec_end_decode(f, &m) < 0)
        return false;
    /*
     * A kill rule's call in this process was the daemon's to end, so it
     * names the call, as for the guest (sandbox.c, describe_exit).
     */
    struct sbx_exec_watch *w = exec_watch(l, m.id);
    const char *killed = w ? sbx_killnotif_syscall(w->k) : NULL;
    const char *message = m.message;
    if (!message && w)
        message = sbx_killnotif_describe(w->k, m.kind == SBX_EXIT_SIGNALED ? (int)m.code : 0);
    sbx_log_limited(&exec_lines, LOG_INFO, "sandbox %s: exec %u ended (%s, code %u%s%s)", l->id,
                    m.id, sbx_exit_kind_name(m.kind), m.code, message ? ": " : "",
                    message ? message : "");
    struct sbx_client *c = exec_client(l, m.id);
    if (c) {
        struct sbx_msg_exit e = { .kind = m.kind,
                                  .code = m.code,
                                  .message = (char *)message,
                                  .killed_syscall = (char *)killed };
        sbx_lifecycle_unwait(c);
        sbx_client_sandbox_exited(c, NULL, &e);
    }
    if (w)
        exec_watch_drop(l, w);
    sbx_msg_exec_end_free(&m);
    return true;
}

void sbx_lifecycle_exec_signal(struct sbx_client *c, const struct sbx_frame *f)
{
    struct sbx_msg_signal sig;
    if (sbx_msg_signal_decode(f, &sig) < 0 || sig.signo < 1 || sig.signo > SBX_SIGNAL_MAX) {
        sbx_client_fail(c, EBADMSG, "malformed SIGNAL frame");
        return;
    }
    if (c->life && c->life->sandbox)
        exec_signal(c->life->sandbox, c->exec_id,
                    sig.flags & SBX_SIGNAL_END ? (uint32_t)SIGKILL : sig.signo);
}

void sbx_lifecycle_exec_gone(struct sbx_client *c)
{
    if (c->life && c->life_req == SBX_MSG_EXEC && c->life->sandbox)
        exec_signal(c->life->sandbox, c->exec_id, SIGKILL);
}
