/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dlopen of a shared library (dynamic guests only): PATH_OF_LIB as argv[1]. */
#include <dlfcn.h>

#include "guest.h"

int main(int argc, char **argv)
{
    guest_name = "dlopen";
    GUEST_CHECK(argc == 2, "usage: dlopen LIBRARY");
    void *h = dlopen(argv[1], RTLD_NOW);
    GUEST_CHECK(h != NULL, "dlopen %s: %s", argv[1], dlerror());
    int (*fn)(int) = (int (*)(int))dlsym(h, "sbx_guest_lib_triple");
    GUEST_CHECK(fn != NULL, "dlsym");
    GUEST_CHECK(fn(14) == 42, "library function returned %d", fn(14));
    GUEST_CHECK(dlclose(h) == 0, "dlclose");
    return guest_pass();
}
