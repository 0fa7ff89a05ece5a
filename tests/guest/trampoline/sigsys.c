/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A guest installing its own SIGSYS handler: sigaction succeeds and reads
 * back, traps never call it, a SIGSYS sent with kill does.  SIGSYS cannot be
 * blocked for real but blocking it does not fail either.
 */
#include <signal.h>

#include "guest.h"

static volatile int calls;
static volatile int last_code;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    calls++;
    last_code = si->si_code;
}

int main(void)
{
    guest_name = "sigsys";
    struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    GUEST_CHECK(sigaction(SIGSYS, &sa, NULL) == 0, "sigaction(SIGSYS)");

    struct sigaction back;
    GUEST_CHECK(sigaction(SIGSYS, NULL, &back) == 0, "read back");
    GUEST_CHECK(back.sa_sigaction == on_sigsys && (back.sa_flags & SA_SIGINFO) &&
                    sigismember(&back.sa_mask, SIGUSR2),
                "read back differs");

    for (int i = 0; i < 100; i++)
        getppid();
    GUEST_CHECK(calls == 0, "the guest's SIGSYS handler ran on a trap");

    GUEST_CHECK(raise(SIGSYS) == 0, "raise");
    GUEST_CHECK(calls == 1 && last_code == SI_TKILL, "raise(SIGSYS): %d calls, code %d", calls,
                last_code);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    GUEST_CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "block SIGSYS");
    GUEST_CHECK(getppid() > 0, "syscall after blocking SIGSYS");

    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    GUEST_CHECK(sigaction(SIGSYS, &sa, NULL) == 0, "ignore SIGSYS");
    GUEST_CHECK(getppid() > 0, "syscall with SIGSYS ignored");
    GUEST_CHECK(raise(SIGSYS) == 0 && calls == 1, "ignored SIGSYS");
    return guest_pass();
}
