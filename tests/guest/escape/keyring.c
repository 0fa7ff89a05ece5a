/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keyrings: not namespaced, so a key added here is the host user's. */
#include <linux/keyctl.h>
#include <sys/syscall.h>

#include "escape.h"

int main(void)
{
    esc_report("add_key",
               syscall(SYS_add_key, "user", "sbx-escape", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    esc_report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
    /* No such key: ENOKEY from the kernel. */
    esc_report("request_key", syscall(SYS_request_key, "user", "sbx-escape-none", NULL, 0));
    return 0;
}
