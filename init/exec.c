/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sbx-init of a detached sandbox (SBX_SPEC_EXEC), once its guest runs: it
 * reaps, and starts the processes the daemon asks for (INIT_EXEC) through
 * the very code that started the guest, sbx_init_spawn_guest(), with the
 * spec's identity, rlimits, capabilities, policy filter and trampoline, so
 * an exec'd process is held exactly as the guest is.  It reports how each
 * ends (INIT_EXEC_END), passes on signals for them (INIT_EXEC_SIGNAL), and
 * returns when the guest itself has ended.  Its only input is the daemon's
 * control socket.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/init.h"
#include "sbx/macro.h"

#define INIT_MAX_EXECS 64 /* running at once in one sandbox */

struct exec_proc {
    uint32_t id;
    pid_t pid;
};

struct served {
    int ctl;
    const struct sbx_spec *spec;
    const struct sbx_init_fds *fds;
    struct exec_proc procs[INIT_MAX_EXECS];
    unsigned n;
};

static void send_end(int ctl, uint32_t id, uint32_t kind, uint32_t code, const char *message)
{
    struct sbx_msg_exec_end m = {
        .id = id, .kind = kind, .code = code, .message = (char *)message
    };
    struct sbx_buf b = { 0 };
    if (sbx_msg_exec_end_encode(&m, &b) >= 0)
        sbx_proto_send(ctl, &b, NULL, 0);
    sbx_buf_free(&b);
}

static int send_tty(int ctl, uint32_t id, int master)
{
    struct sbx_msg_exec_signal m = { .id = id };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_exec_signal_encode(SBX_MSG_INIT_EXEC_TTY, &m, &b);
    if (r >= 0)
        r = sbx_proto_send(ctl, &b, &master, 1);
    sbx_buf_free(&b);
    return r;
}

/* The sandbox's environment with the request's entries set over it. */
static char **merge_env(const struct sbx_spec *spec, const struct sbx_msg_exec *m, uint32_t *ret_n)
{
    char **env = calloc((size_t)spec->envc + m->envc + 1, sizeof(char *));
    if (!env)
        return NULL;
    uint32_t n = 0;
    for (uint32_t i = 0; i < spec->envc; i++)
        env[n++] = spec->env[i];
    for (uint32_t i = 0; i < m->envc; i++) {
        size_t klen = strcspn(m->env[i], "=");
        uint32_t j = 0;
        while (j < n && !(strncmp(env[j], m->env[i], klen) == 0 && env[j][klen] == '='))
            j++;
        env[j] = m->env[i];
        if (j == n)
            n++;
    }
    env[n] = NULL;
    *ret_n = n;
    return env;
}

static void start_exec(struct served *sv, struct sbx_frame *f)
{
    struct sbx_msg_exec m;
    if (sbx_msg_exec_decode(f, &m) < 0 || f->type != SBX_MSG_INIT_EXEC)
        return;
    struct sbx_error e = { 0 };
    unsigned kind = SBX_EXIT_SETUP;
    _cleanup_close_ int master = -EBADF, slave = -EBADF;
    _cleanup_free_ char **env = NULL;
    char path[4096];
    struct sbx_spec x = *sv->spec;
    struct sbx_init_fds xf = *sv->fds;
    x.argv = m.argv;
    x.argc = m.argc;
    x.flags = (x.flags & ~SBX_SPEC_TTY) | (m.flags & SBX_EXEC_TTY ? SBX_SPEC_TTY : 0);
    if (m.flags & SBX_EXEC_USER) {
        /* The daemon checked the ids against the caller and the guest's filter. */
        x.uid = m.uid;
        x.gid = m.gid;
        x.groups = NULL;
        x.n_groups = 0;
    }
    if (f->n_fds != 3) {
        sbx_error_set_errno(&e, EBADMSG, "exec carries %u fds, expected 3", f->n_fds);
        goto fail;
    }
    if (sv->n >= INIT_MAX_EXECS) {
        sbx_error_set_errno(&e, EAGAIN, "%d processes of exec run in this sandbox already",
                            INIT_MAX_EXECS);
        goto fail;
    }
    if (!(env = merge_env(sv->spec, &m, &x.envc))) {
        sbx_error_set_errno(&e, ENOMEM, "the environment");
        goto fail;
    }
    x.env = env;
    if (sbx_init_resolve_program(&x, path, sizeof(path)) < 0) {
        kind = SBX_EXIT_NOTFOUND;
        sbx_error_set_errno(&e, ENOENT, "%s", x.argv[0]);
        goto fail;
    }
    for (int i = 0; i < 3; i++)
        xf.stdio[i] = f->fds[i];
    if ((x.flags & SBX_SPEC_TTY) && sbx_init_open_pty(&x, &master, &slave, &e) < 0)
        goto fail;
    if (slave >= 0)
        xf.stdio[0] = xf.stdio[1] = xf.stdio[2] = slave;
    /*
     * The process installs a filter of its own, so the listener of its kill
     * rules is its own too: it goes to the daemon as INIT_EXEC_NOTIFY with
     * the process's id, before the process can make a call under it.
     */
    pid_t pid = sbx_init_spawn_guest(&x, &xf, path, sv->ctl, m.id, &e, &kind);
    if (pid < 0)
        goto fail;
    if (master >= 0 && send_tty(sv->ctl, m.id, master) < 0)
        kill(pid, SIGKILL);
    sv->procs[sv->n++] = (struct exec_proc){ .id = m.id, .pid = pid };
    sbx_msg_exec_free(&m);
    return;
fail:
    send_end(sv->ctl, m.id, kind, (uint32_t)e.err, e.msg);
    sbx_msg_exec_free(&m);
}

static void signal_exec(struct served *sv, const struct sbx_frame *f)
{
    struct sbx_msg_exec_signal m;
    if (f->type != SBX_MSG_INIT_EXEC_SIGNAL || sbx_msg_exec_signal_decode(f, &m) < 0 || !m.signo)
        return;
    /* Init reaps its children itself: the pid stays theirs until then. */
    for (unsigned i = 0; i < sv->n; i++)
        if (sv->procs[i].id == m.id)
            kill(sv->procs[i].pid, (int)m.signo);
}

/* Reaps what has ended; true, with its status, once the guest has. */
static bool reap(struct served *sv, pid_t guest, int *ret_status)
{
    bool done = false;
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
        if (p == guest) {
            *ret_status = st;
            done = true;
            continue;
        }
        for (unsigned i = 0; i < sv->n; i++) {
            if (sv->procs[i].pid != p)
                continue;
            send_end(sv->ctl, sv->procs[i].id,
                     WIFSIGNALED(st) ? SBX_EXIT_SIGNALED : SBX_EXIT_EXITED,
                     (uint32_t)(WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st)), NULL);
            sv->procs[i] = sv->procs[--sv->n];
            break;
        }
    }
    return done;
}

int sbx_init_serve(int ctl, const struct sbx_spec *spec, const struct sbx_init_fds *fds,
                   pid_t guest)
{
    struct served sv = { .ctl = ctl, .spec = spec, .fds = fds };
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    _cleanup_close_ int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        return -1;
    struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = ctl, .events = POLLIN } };
    for (;;) {
        int status;
        if (reap(&sv, guest, &status))
            return status;
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return -1;
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof(si)) == sizeof(si))
            ;
        if (!(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        struct sbx_frame f = { 0 };
        if (sbx_proto_recv(ctl, &f) <= 0) {
            /* The daemon is gone (and init with it, by PDEATHSIG): reap until then. */
            p[1].fd = -1;
            continue;
        }
        if (f.type == SBX_MSG_INIT_EXEC)
            start_exec(&sv, &f);
        else
            signal_exec(&sv, &f);
        sbx_frame_clear(&f);
    }
}
