/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The caller's side of `sandboxctl run -t`: raw mode, the window size, and
 * the copy between the caller's stdio and the master of the guest's pty.
 * The master is non-blocking; the caller's stdio is left as it is (its file
 * descriptions are shared with the caller's shell), and is only read or
 * written when poll says so.
 */
#include "client/tty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sbx/macro.h"

void sbx_tty_init(struct sbx_tty *t, bool interactive)
{
    *t = (struct sbx_tty){
        .master = -EBADF,
        .in = interactive ? STDIN_FILENO : -EBADF,
        .out = STDOUT_FILENO,
        .term = isatty(STDIN_FILENO)    ? STDIN_FILENO
                : isatty(STDOUT_FILENO) ? STDOUT_FILENO
                                        : -EBADF,
    };
}

/*
 * Whether stdin is a terminal that job control gave to another process
 * group.  sandboxctl blocks SIGTTIN and SIGTTOU (it passes them on), so the
 * kernel neither stops it for touching such a terminal nor refuses it a
 * tcsetattr: without this check a background sandboxctl would put the
 * foreground shell's terminal in raw mode, and its reads would fail with EIO.
 */
static bool in_background(int fd)
{
    pid_t pgrp = tcgetpgrp(fd);
    return pgrp >= 0 && pgrp != getpgrp();
}

/*
 * With -i on a terminal, and only from the foreground: raw mode (only when
 * sandboxctl reads the terminal: otherwise its keys stay signals for us),
 * and stdin read.  In the background the terminal is left alone, and looked
 * at again on SIGCONT and every SBX_TTY_BACKGROUND_MS.  The mode from before
 * is saved only when the terminal is not raw by sandboxctl already (after a
 * SIGSTOP, which cannot be caught, it still is), so that the one restored at
 * the end is the user's.
 */
static void take_terminal(struct sbx_tty *t)
{
    if (t->master < 0 || t->in < 0 || !isatty(t->in))
        return;
    t->background = in_background(t->in);
    if (t->background || (!t->raw && tcgetattr(t->in, &t->saved) < 0))
        return;
    struct termios raw = t->saved;
    cfmakeraw(&raw);
    if (tcsetattr(t->in, TCSADRAIN, &raw) == 0)
        t->raw = true;
}

void sbx_tty_resize(struct sbx_tty *t)
{
    struct winsize ws;
    if (t->master >= 0 && t->term >= 0 && ioctl(t->term, TIOCGWINSZ, &ws) == 0)
        ioctl(t->master, TIOCSWINSZ, &ws);
}

int sbx_tty_attach(struct sbx_tty *t, int master)
{
    if (t->master >= 0 || fcntl(master, F_SETFL, O_NONBLOCK) < 0) {
        int r = t->master >= 0 ? -EEXIST : sbx_neg_errno();
        fprintf(stderr, "sandboxctl: cannot use the guest's terminal: %s\n", strerror(-r));
        close(master);
        return r;
    }
    t->master = master;
    sbx_tty_resize(t);
    take_terminal(t);
    return 0;
}

unsigned sbx_tty_poll_fds(struct sbx_tty *t, struct pollfd *p)
{
    unsigned n = 0;
    memset(t->p, 0, sizeof(t->p));
    if (t->master < 0)
        return 0;
    /* Each side is read only when what came before from it has been written. */
    short master_ev = (t->to_out.len ? 0 : POLLIN) | (t->to_master.len ? POLLOUT : 0);
    if (master_ev) {
        p[n] = (struct pollfd){ .fd = t->master, .events = master_ev };
        t->p[0] = &p[n++];
    }
    if (t->in >= 0 && !t->background && !t->to_master.len) {
        p[n] = (struct pollfd){ .fd = t->in, .events = POLLIN };
        t->p[1] = &p[n++];
    }
    if (t->out >= 0 && t->to_out.len) {
        p[n] = (struct pollfd){ .fd = t->out, .events = POLLOUT };
        t->p[2] = &p[n++];
    }
    return n;
}

int sbx_tty_poll_timeout(const struct sbx_tty *t)
{
    return t->background ? SBX_TTY_BACKGROUND_MS : -1;
}

/* Reads into an empty buffer: >0 bytes, 0 nothing now, -1 end of that side. */
static int fill(int fd, struct sbx_tty_buf *b)
{
    ssize_t n = read(fd, b->data, sizeof(b->data));
    if (n > 0) {
        b->off = 0;
        b->len = (size_t)n;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    /* 0 is end of file; EIO on the master means every slave fd is closed. */
    return -1;
}

static int flush(int fd, struct sbx_tty_buf *b)
{
    ssize_t n = write(fd, b->data + b->off, b->len);
    if (n > 0) {
        b->off += (size_t)n;
        b->len -= (size_t)n;
        return 0;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
}

void sbx_tty_handle(struct sbx_tty *t)
{
    struct pollfd *pm = t->p[0], *pi = t->p[1], *po = t->p[2];
    if (t->background)
        take_terminal(t);
    if (pm && (pm->revents & POLLOUT) && flush(t->master, &t->to_master) < 0)
        t->to_master.len = 0;
    if (pm && (pm->revents & (POLLIN | POLLHUP | POLLERR)) && !t->to_out.len) {
        if (fill(t->master, &t->to_out) < 0) {
            /* The guest's side is closed: nothing more to copy either way. */
            t->master = sbx_close(t->master);
            t->to_master.len = 0;
        }
        /* With stdout gone the output is dropped, so that the guest never blocks on it. */
        if (t->out < 0)
            t->to_out.len = 0;
    }
    if (pi && (pi->revents & (POLLIN | POLLHUP | POLLERR)) && fill(t->in, &t->to_master) < 0) {
        /* EIO: moved to the background since the poll; read again after fg. */
        if (in_background(t->in))
            t->background = true;
        else
            t->in = -EBADF; /* a pty has no end of input: the guest just gets no more */
    }
    if (po && (po->revents & (POLLOUT | POLLHUP | POLLERR)) && flush(t->out, &t->to_out) < 0) {
        t->out = -EBADF;
        t->to_out.len = 0;
    }
}

void sbx_tty_drain(struct sbx_tty *t)
{
    while (t->out >= 0) {
        if (!t->to_out.len && (t->master < 0 || fill(t->master, &t->to_out) <= 0))
            return;
        if (flush(t->out, &t->to_out) < 0)
            return;
    }
}

/*
 * From the background the terminal belongs to the foreground job, and the
 * shell has put back its own mode already (it does when a job stops): it is
 * not sandboxctl's to change.
 */
void sbx_tty_suspend(struct sbx_tty *t)
{
    if (t->raw && !in_background(t->in) && tcsetattr(t->in, TCSADRAIN, &t->saved) == 0)
        t->raw = false;
}

void sbx_tty_resume(struct sbx_tty *t)
{
    take_terminal(t);
    sbx_tty_resize(t);
}

void sbx_tty_done(struct sbx_tty *t)
{
    sbx_tty_suspend(t);
    t->raw = false;
    t->master = sbx_close(t->master);
}
