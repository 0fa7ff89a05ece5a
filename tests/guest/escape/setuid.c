/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * setuid: what a set-user-ID-root copy of this program gains (euid), and
 * changing to root by the calls that would take it.
 */
#include <grp.h>
#include <sys/prctl.h>

#include "escape.h"

int main(void)
{
    printf("euid %u\n", (unsigned)geteuid());
    printf("egid %u\n", (unsigned)getegid());
    fflush(stdout);
    esc_report("setuid0", setuid(0));
    esc_report("setresuid0", setresuid(0, 0, 0));
    esc_report("setgid0", setgid(0));
    gid_t zero = 0;
    esc_report("setgroups0", setgroups(1, &zero));
    return 0;
}
