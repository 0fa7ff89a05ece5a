/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Freestanding helpers: the memory functions the compiler may call, string
 * helpers, exit and a full pread.
 *
 * Signal-safety contract: pure functions over their arguments, plus
 * syscalls through the gate; no globals.  Callable from the SIGSYS handler.
 */
#include "tramp.h"

/* rep movsb/stosb: fast on every CPU with ERMS, and short; DF is clear in C. */
void *memcpy(void *dst, const void *src, size_t n)
{
    void *d = dst;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d <= s || d >= s + n) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    void *d = dst;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t sbx_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int sbx_streq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

size_t sbx_utoa(uint64_t v, char *buf)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

void sbx_exit(int code)
{
    for (;;)
        sbx_sys1(__NR_exit_group, code);
}

long sbx_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        long r = sbx_sys4(__NR_pread64, fd, (long)((char *)buf + done), (long)(n - done),
                          (long)(off + done));
        if (r == -EINTR)
            continue;
        if (r < 0)
            return r;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (long)done;
}
