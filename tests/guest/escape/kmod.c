/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kexec and kernel modules.  The arguments are ones the kernel refuses once
 * the caller has the capability (EFAULT, EBADF, ENOENT, EINVAL), so that the
 * control run on the host changes nothing.
 */
#include <fcntl.h>
#include <sys/syscall.h>

#include "escape.h"

int main(void)
{
    esc_report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    esc_report("finit_module", syscall(SYS_finit_module, 999, "", 0));
    esc_report("delete_module", syscall(SYS_delete_module, "sbx_no_such_module", O_NONBLOCK));
    /* An unknown flag and too many segments: EINVAL twice over. */
    esc_report("kexec_load", syscall(SYS_kexec_load, 0, 17, NULL, 0x8000));
    esc_report("kexec_file_load", syscall(SYS_kexec_file_load, 999, 999, 0, "", 0));
    return 0;
}
