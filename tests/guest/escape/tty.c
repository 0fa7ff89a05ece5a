/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TIOCSTI and TIOCLINUX: pushing input into a terminal, which on the
 * caller's own terminal runs commands outside the sandbox.  Tried on a pty
 * of the program's own (so that the kernel would say yes to a caller that
 * may), and on stdin; the command with bits in its high half must be refused
 * as well, since the kernel reads only the low 32.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "escape.h"

int main(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    esc_report("openpt", master);
    int slave = -1;
    if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0)
        slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    char c = '#';
    esc_report("tiocsti", ioctl(slave, TIOCSTI, &c));
    esc_report("tiocsti-high", syscall(SYS_ioctl, slave, 0x100000000UL | TIOCSTI, &c));
    char sub = 0; /* TIOCL_SETSEL's neighbour 0: unknown, EINVAL from a console. */
    esc_report("tioclinux", ioctl(slave, TIOCLINUX, &sub));
    esc_report("tiocsti-stdin", ioctl(0, TIOCSTI, &c));
    return 0;
}
