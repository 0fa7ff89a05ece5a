/* Helper programs embedded in the daemon, handed to sandboxes as sealed memfds. */
#pragma once

#include <stddef.h>

/* A sealed, read-only memfd holding the embedded program; -errno on failure. */
int sbx_blob_memfd_init(void);
int sbx_blob_memfd_trampoline(void);
/* Whether this build embeds the trampoline (trap and rewrite modes). */
int sbx_blob_have_trampoline(void);
