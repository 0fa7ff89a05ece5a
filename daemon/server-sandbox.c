/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The owner of a sandbox a client started: where its notes go.  The
 * lifecycle keeps the sandbox's record and exec'd processes, the client
 * gets what is for it; sandbox.c knows neither.
 */
#include <stdbool.h>

#include "daemon/lifecycle.h"
#include "daemon/sandbox.h"
#include "daemon/server.h"

int sbx_client_sandbox_notify(void *ctx, struct sbx_sandbox *s, const struct sbx_sandbox_note *n)
{
    struct sbx_client *c = ctx;
    switch (n->what) {
    case SBX_SANDBOX_TRACE:
        return c ? sbx_client_send_trace(c, n->fd) : 0;
    case SBX_SANDBOX_GUEST_STARTED:
        sbx_lifecycle_guest_started(s);
        return 0;
    case SBX_SANDBOX_TTY:
        return c ? sbx_client_send_tty(c, n->fd) : 0;
    case SBX_SANDBOX_INIT_FRAME:
        return sbx_lifecycle_init_frame(s, n->frame) ? 1 : 0;
    case SBX_SANDBOX_EXITED:
        sbx_lifecycle_exited(s, n->exit);
        if (c)
            sbx_client_sandbox_exited(c, s, n->exit);
        return 0;
    case SBX_SANDBOX_GONE:
        sbx_lifecycle_gone(s);
        return 0;
    }
    return 0;
}
