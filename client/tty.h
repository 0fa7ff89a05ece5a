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
/* How often a background job looks whether it has been brought to the foreground. */
#define SBX_TTY_BACKGROUND_MS 100

/* Bytes read from one side and not yet written to the other. */
struct sbx_tty_buf {
    char data[SBX_TTY_BUF];
    size_t off, len;
};

struct sbx_tty {
    int master;      /* the guest's pty (non-blocking); -EBADF until it came */
    int in;          /* the caller's stdin, or -EBADF without -i or after its end */
    int out;         /* the caller's stdout, or -EBADF once it failed */
    int term;        /* the caller's terminal, for the window size; -EBADF if none */
    bool raw;        /* the terminal is raw by sandboxctl; saved holds its mode from before */
    bool background; /* stdin is a terminal another job has: neither read nor made raw */
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
/*
 * How long that poll may wait, in ms: -1, or a short while when stdin is the
 * terminal of another job, because nothing tells a background job that it
 * was brought to the foreground (bash's fg of a running job sends no SIGCONT).
 */
int sbx_tty_poll_timeout(const struct sbx_tty *t);
/*
 * Moves what the last poll allows, without blocking on the master; from the
 * background, first checks whether sandboxctl has the terminal now.
 */
void sbx_tty_handle(struct sbx_tty *t);
/* SIGWINCH: the caller's window size goes to the guest's pty. */
void sbx_tty_resize(struct sbx_tty *t);
/* The guest ended: its last output still in the pty goes to stdout. */
void sbx_tty_drain(struct sbx_tty *t);
/*
 * The caller's terminal back to how it was (sandboxctl stops or exits), and
 * raw again on resume (SIGCONT); both only from the foreground.
 */
void sbx_tty_suspend(struct sbx_tty *t);
void sbx_tty_resume(struct sbx_tty *t);
/* Restores the terminal and closes the master. */
void sbx_tty_done(struct sbx_tty *t);
