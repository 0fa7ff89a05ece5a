/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signals while a thread is in a stub or the fast entry: a second thread
 * sends SIGUSR1 to the main thread as fast as it can while the main thread
 * calls readlink(NULL, 1, 1) through a site (a gated call: an ungated one's
 * site is never patched); every result must be right, in the handler
 * too, and (rewrite mode) some signals must have interrupted the
 * trampoline's code.  Then a blocking read through a site, interrupted by
 * SIGALRM: EINTR without SA_RESTART, restarted and completed with it.
 *
 *   rw-signals [MODE]    MODE: trap, rewrite or native (what to expect)
 */
#include <fcntl.h>
#include <sys/mman.h>

#include "guest.h"
#include "rw-asm.h"
#include "rw-storm.h"

int main(int argc, char **argv)
{
    guest_name = "rw-signals";
    int rewrite = argc > 1 && !strcmp(argv[1], "rewrite");
    const struct storm cfg = { .call = rw_getfd, .want = RW_GETFD_ANSWER, .getpid = rw_getpid };
    storm_run(&cfg);
    if (rewrite)
        GUEST_CHECK(storm_in_tramp > 0, "no signal interrupted the fast path");
    storm_blocking_read(rw_read);
    return guest_pass();
}
