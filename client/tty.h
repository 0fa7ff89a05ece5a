/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl run -t: the caller's terminal and the master of the guest's pty.
 * The daemon hands the master over and relays no byte; sandboxctl copies
 * between the two, in raw mode when it also reads its stdin (-i).
 */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <termios.h>

#define SBX_TTY_BUF 4096
#define SBX_TTY_MAX_POLL 4

/* Bytes read from one side and not yet written to the other. */
struct sbx_tty_buf {
    char data[SBX_TTY_BUF];
    size_t off, len;
};

struct sbx_tty {
    int master; /* the guest's pty (non-blocking); -EBADF until it came */
    int in;     /* the caller's stdin, or -EBADF without -i or after its end */
    int out;    /* the caller's stdout, or -EBADF once it failed */
    int term;   /* the caller's terminal, for the window size; -EBADF if none */
    bool raw;   /* saved holds the terminal's mode from before raw mode */
    struct termios saved;
    struct sbx_tty_buf to_master, to_out;
    struct pollfd *p[SBX_TTY_MAX_POLL]; /* where each fd went in the last poll set */
};

/* Nothing attached yet; with interactive, stdin will be copied to the guest. */
void sbx_tty_init(struct sbx_tty *t, bool interactive);
/*
 * Takes the master: sets the guest's window size from the caller's
 * terminal and, with -i on a terminal, puts that in raw mode.  On failure
 * master is closed and the message is on stderr.
 */
int sbx_tty_attach(struct sbx_tty *t, int master);
/* Adds the fds that have work to do to p (room for SBX_TTY_MAX_POLL); returns how many. */
unsigned sbx_tty_poll_fds(struct sbx_tty *t, struct pollfd *p);
/* Moves what the last poll allows, without blocking on the master. */
void sbx_tty_handle(struct sbx_tty *t);
/* SIGWINCH: the caller's window size goes to the guest's pty. */
void sbx_tty_resize(struct sbx_tty *t);
/* The guest ended: its last output still in the pty goes to stdout. */
void sbx_tty_drain(struct sbx_tty *t);
/* The caller's terminal back to how it was (sandboxctl stops or exits); raw again on resume. */
void sbx_tty_suspend(struct sbx_tty *t);
void sbx_tty_resume(struct sbx_tty *t);
/* Restores the terminal and closes the master. */
void sbx_tty_done(struct sbx_tty *t);
