/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sbx-init: pid 1 of every sandbox, started by the daemon with execveat of a
 * sealed memfd.  It reads its SPEC from the control socket, builds the root
 * filesystem, starts the guest, hands the daemon a pidfd of it (and, with
 * a tty, its pty's master), reaps every orphan, and reports how the guest
 * ended.  When it exits, the kernel kills whatever is left in the
 * sandbox's pid namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/init.h"
#include "sbx/abi.h"
#include "sbx/macro.h"

static int report(int ctl, unsigned kind, unsigned code, const char *message)
{
    struct sbx_msg_report rep = { .kind = kind, .code = code, .message = (char *)message };
    struct sbx_buf b = { 0 };
    int r = sbx_msg_report_encode(&rep, &b);
    if (r >= 0)
        r = sbx_proto_send(ctl, &b, NULL, 0);
    sbx_buf_free(&b);
    return r;
}

static int split_fds(const struct sbx_spec *spec, const struct sbx_frame *f,
                     struct sbx_init_fds *ret, struct sbx_error *e)
{
    unsigned fixed = spec->mode == SBX_MODE_OFF ? 5 : 7;
    if (spec->n_pass > SBX_PROTO_MAX_FDS || f->n_fds != fixed + spec->n_binds + spec->n_pass)
        return sbx_error_set_errno(e, EBADMSG, "spec carries %u fds, expected %u", f->n_fds,
                                   fixed + spec->n_binds + spec->n_pass);
    const int *at = f->fds + 1;
    *ret = (struct sbx_init_fds){
        .image = f->fds[0],
        .stdio = { at[0], at[1], at[2] },
        .policy = at[3],
        .trampoline = spec->mode == SBX_MODE_OFF ? -EBADF : at[4],
        .stats = spec->mode == SBX_MODE_OFF ? -EBADF : at[5],
        .binds = f->fds + fixed,
        .n_binds = spec->n_binds,
        .pass = f->fds + fixed + spec->n_binds,
        .n_pass = spec->n_pass,
    };
    return 0;
}

/* The environment's PATH, or the usual default. */
static const char *guest_path_var(const struct sbx_spec *spec)
{
    for (uint32_t i = 0; i < spec->envc; i++)
        if (strncmp(spec->env[i], "PATH=", 5) == 0)
            return spec->env[i] + 5;
    return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

/*
 * Finds the program like execvp does, inside the new root: a name with a
 * slash is taken as is, any other is looked up in PATH.  0 or -ENOENT.
 */
int sbx_init_resolve_program(const struct sbx_spec *spec, char *out, size_t len)
{
    const char *name = spec->argv[0];
    struct stat st;
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        /* An absolute path is known missing now; a relative one only from the guest's cwd. */
        return name[0] != '/' || stat(out, &st) == 0 || errno != ENOENT ? 0 : -ENOENT;
    }
    const char *p = guest_path_var(spec);
    while (*p) {
        size_t n = strcspn(p, ":");
        if (snprintf(out, len, "%.*s/%s", (int)n, n ? p : ".", name) < (int)len) {
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
                return 0;
        }
        p += n + (p[n] == ':');
    }
    return -ENOENT;
}

/*
 * Once the guest runs, init only reaps and writes one frame to the control
 * socket, and neither needs a capability; it is also the sandbox's only
 * process that had any.  All of them go, the bounding set first (dropping
 * from it takes CAP_SETPCAP), so that not even an execve could bring one back.
 */
static int drop_own_capabilities(struct sbx_error *e)
{
    int ncaps = (int)cap_max_bits();
    for (int c = 0; c < ncaps; c++)
        if (cap_drop_bound((cap_value_t)c) < 0)
            return sbx_error_set_errno(e, errno, "drop capability %d from init's bounding set", c);
    cap_t none = cap_init(); /* all sets empty; the ambient set empties with permitted */
    if (!none)
        return sbx_error_set_errno(e, errno, "drop init's capabilities");
    int r = cap_set_proc(none);
    cap_free(none);
    if (r < 0)
        return sbx_error_set_errno(e, errno, "drop init's capabilities");
    return 0;
}

/* Reaps children until the guest ends; returns its wait status. */
static int reap_until(pid_t guest)
{
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p == guest)
            return st;
        if (p < 0 && errno != EINTR)
            return -1; /* cannot happen while the guest lives */
    }
}

/* Sends a frame of no field with one fd: GUEST (the guest's pidfd) or TTY (its pty master). */
static int send_fd(int ctl, uint16_t type, int fd)
{
    struct sbx_buf b = { 0 };
    sbx_proto_begin(&b, type);
    int r = sbx_proto_finish(&b);
    if (r >= 0)
        r = sbx_proto_send(ctl, &b, &fd, 1);
    sbx_buf_free(&b);
    return r;
}

/*
 * The daemon signals the guest through its pidfd (SIGNAL frames of the
 * client), so init needs no capability for that; the pty's master goes on to
 * the client.  Without either the run cannot be what the client asked for:
 * the guest does not run on.
 */
static int hand_over(int ctl, pid_t guest, int master, struct sbx_error *e)
{
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, guest, 0);
    if (pidfd < 0 || send_fd(ctl, SBX_MSG_GUEST, pidfd) < 0)
        return sbx_error_set_errno(e, errno ? errno : EPIPE, "hand the guest's pidfd to sandboxd");
    if (master >= 0 && send_fd(ctl, SBX_MSG_TTY, master) < 0)
        return sbx_error_set_errno(e, EPIPE, "hand the guest's terminal to sandboxd");
    return 0;
}

/*
 * SBX_SPEC_WAIT_START: the runtime's `create` ends here, with the root built
 * and the program found; the guest starts at `start`.  The pty's master goes
 * first, as an engine wants the console before `create` returns.  0 on START;
 * -1 when the runtime went away or sent anything else (nothing to report to).
 */
static int wait_start(int ctl, int *master, struct sbx_error *e)
{
    struct sbx_buf b = { 0 };
    if (*master >= 0 && send_fd(ctl, SBX_MSG_TTY, *master) < 0)
        return sbx_error_set_errno(e, EPIPE, "hand the guest's terminal to the runtime");
    *master = sbx_close(*master);
    int r = sbx_msg_empty_encode(SBX_MSG_READY, &b);
    if (r >= 0)
        r = sbx_proto_send(ctl, &b, NULL, 0);
    sbx_buf_free(&b);
    if (r < 0)
        return sbx_error_set_errno(e, r, "tell the runtime the sandbox is ready");
    struct sbx_frame f = { 0 };
    bool start = sbx_proto_recv(ctl, &f) > 0 && sbx_msg_empty_decode(&f, SBX_MSG_START) == 0;
    sbx_frame_clear(&f);
    return start ? 0 : -1;
}

static void sbx_init_root_freep(struct sbx_init_root **p)
{
    sbx_init_root_free(*p);
}

/*
 * PREPARE, to a spare: the root is built now, off the path of the run.
 * Nothing is answered: the daemon's SPEC may name this root as soon as it
 * has sent PREPARE, and waits here, behind it, until it is built.  That
 * SPEC carries the image too: if the root could not be built, its own
 * attempt builds it, or reports what fails, as without a spare.
 */
static struct sbx_init_root *prepare(struct sbx_frame *f, const struct sbx_init_premade *pre)
{
    struct sbx_msg_prepare m;
    if (f->n_fds != 1 || sbx_msg_prepare_decode(f, &m) < 0)
        return NULL;
    struct sbx_init_root *p = sbx_init_prepare(&m, f->fds[0], pre);
    sbx_msg_prepare_free(&m);
    return p;
}

int main(int argc, char **argv)
{
    int ctl = SBX_INIT_CTL_FD;
    struct sbx_error e = { 0 };
    /* The guest's pty, with SBX_SPEC_TTY; before the first goto, so cleanup sees them set. */
    _cleanup_close_ int master = -EBADF, slave = -EBADF;
    /*
     * The SPEC's image, kept until init returns: where the prepared root was
     * taken, it is a detached mount never attached, whose last close ends
     * its mount namespace and waits for an RCU grace period (about 0.1 ms
     * here), which belongs after the report, not on the run's path.
     */
    _cleanup_close_ int image = -EBADF;
    /* The writable image's root, for the write-back after the guest. */
    _cleanup_close_ int root = -EBADF;
    /* A root built on PREPARE, until the SPEC takes or leaves it. */
    _cleanup_(sbx_init_root_freep) struct sbx_init_root *prepared = NULL;
    /* No one in the sandbox may ptrace or read /proc/1/ of the sandbox's only privileged process.
     */
    prctl(PR_SET_DUMPABLE, 0);
    /* If the daemon goes, the sandbox goes with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);

    /*
     * A spare sandbox waits here for its request: what of the root does not
     * depend on it is made now, off the path of the run.
     */
    struct sbx_init_premade pre;
    sbx_init_premount(&pre);
    sbx_init_note_signals();
    /* A failure here is not reported: the request's own attempt reports it. */
    struct sbx_error ignored;
    if (argc > 1 && strcmp(argv[1], SBX_INIT_ARG_OWN_NETNS) == 0)
        pre.lo_up = sbx_init_lo_up(&ignored) == 0;

    struct sbx_frame f = { 0 };
    int r = sbx_proto_recv(ctl, &f);
    if (r > 0 && f.type == SBX_MSG_PREPARE) {
        prepared = prepare(&f, &pre);
        sbx_frame_clear(&f);
        r = sbx_proto_recv(ctl, &f);
    }
    if (r <= 0)
        return 125; /* the daemon is gone; nobody to report to */
    struct sbx_spec spec;
    if (sbx_spec_decode(&f, &spec) < 0) {
        report(ctl, SBX_EXIT_SETUP, EBADMSG, "sandbox init: malformed spec");
        return 125;
    }
    struct sbx_init_fds fds;
    unsigned kind = SBX_EXIT_SETUP;
    char path[4096];
    if (split_fds(&spec, &f, &fds, &e) < 0 ||
        sbx_init_rootfs(&spec, &fds, &pre, prepared, &e) < 0 ||
        sbx_init_uts_net(&spec, &pre, &e) < 0)
        goto fail;
    sbx_init_root_free(TAKE_PTR(prepared));
    image = TAKE_FD(f.fds[0]);
    /* Opened before the guest runs, which could otherwise change what "/" names. */
    if ((spec.flags & SBX_SPEC_WRITABLE_IMAGE) &&
        (root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        sbx_error_set_errno(&e, errno, "open the writable image's root");
        goto fail;
    }
    if (sbx_init_resolve_program(&spec, path, sizeof(path)) < 0) {
        kind = SBX_EXIT_NOTFOUND;
        sbx_error_set_errno(&e, ENOENT, "%s", spec.argv[0]);
        goto fail;
    }
    if ((spec.flags & SBX_SPEC_TTY) && sbx_init_open_pty(&spec, &master, &slave, &e) < 0)
        goto fail;
    if (slave >= 0)
        fds.stdio[0] = fds.stdio[1] = fds.stdio[2] = slave;
    if ((spec.flags & SBX_SPEC_WAIT_START) && wait_start(ctl, &master, &e) < 0) {
        if (e.err)
            goto fail;
        return 125;
    }
    pid_t guest = sbx_init_spawn_guest(&spec, &fds, path, ctl, 0, &e, &kind);
    if (guest < 0)
        goto fail;
    /*
     * init keeps nothing the guest could want: its copies of the guest's fds
     * go now.  With SBX_SPEC_EXEC it keeps what starting another guest
     * process takes (policy, trampoline, statistics), not the image or stdio.
     */
    if (spec.flags & SBX_SPEC_EXEC) {
        image = sbx_close(image);
        for (unsigned i = 1; i < 4; i++)
            f.fds[i] = sbx_close(f.fds[i]);
    } else {
        sbx_frame_clear(&f);
    }
    slave = sbx_close(slave);
    if (hand_over(ctl, guest, master, &e) < 0) {
        kill(guest, SIGKILL);
        goto fail;
    }
    master = sbx_close(master);
    int st;
    if (spec.flags & SBX_SPEC_EXEC) {
        /* exec.c: the capabilities stay, to start exec'd processes as the guest was. */
        st = sbx_init_serve(ctl, &spec, &fds, guest);
    } else {
        /* If this fails, init exits below; the kernel kills the guest with its pid namespace. */
        if (drop_own_capabilities(&e) < 0)
            goto fail;
        st = reap_until(guest);
    }
    if (st < 0)
        return 125;
    /*
     * A writable image's dirty data is written back here, before the
     * report, so that it is this sandbox's time: left to the final unmount,
     * it would be the daemon's, which closes its mount of the image for
     * every sandbox in turn.  syncfs needs no capability.  Its error is not
     * the guest's end: the unmount writes what is left, and e2fsck on the
     * host shows what the device lost.
     */
    if (root >= 0)
        syncfs(root);
    if (WIFSIGNALED(st))
        report(ctl, SBX_EXIT_SIGNALED, (unsigned)WTERMSIG(st), NULL);
    else
        report(ctl, SBX_EXIT_EXITED, (unsigned)WEXITSTATUS(st), NULL);
    return 0;

fail:
    report(ctl, kind, (unsigned)e.err, e.msg);
    return 125;
}
