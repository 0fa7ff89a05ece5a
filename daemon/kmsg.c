/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's reason for a failed mount.  ext4 logs it to the kernel's log
 * during mount(2), before the call returns, as "EXT4-fs (loopN): ..." (or
 * "EXT4-fs error (device loopN): ..."), and
 * tells the caller only an errno.  The daemon opens /dev/kmsg at its end
 * before the mount and, when the mount fails, reads what was logged since
 * and keeps the records naming its own loop device.  The text is the
 * kernel's, about an image a caller made, so it is cut to a bounded length
 * and anything but printable ASCII is replaced.  Without /dev/kmsg (a
 * container, or no CAP_SYSLOG) the caller says where to look instead.
 */
#include "daemon/kmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sbx/macro.h"

int sbx_kmsg_open_end(void)
{
    _cleanup_close_ int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return sbx_neg_errno();
    if (lseek(fd, 0, SEEK_END) < 0)
        return sbx_neg_errno();
    return TAKE_FD(fd);
}

/* The length of the ext4 prefix naming dev that text starts with, or 0. */
static size_t ext4_prefix(const char *text, size_t tlen, const char *dev)
{
    static const char *const forms[][2] = {
        { "EXT4-fs (", "): " },
        { "EXT4-fs error (device ", "): " },
        { "EXT4-fs warning (device ", "): " },
    };
    for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
        char prefix[96];
        int plen = snprintf(prefix, sizeof(prefix), "%s%s%s", forms[i][0], dev, forms[i][1]);
        if (plen > 0 && (size_t)plen < sizeof(prefix) && tlen >= (size_t)plen &&
            memcmp(text, prefix, (size_t)plen) == 0)
            return (size_t)plen;
    }
    return 0;
}

bool sbx_kmsg_take(const char *rec, size_t n, const char *dev, char *out, size_t outlen)
{
    const char *text = memchr(rec, ';', n);
    if (!text || outlen < 4)
        return false;
    text++;
    const char *end = memchr(text, '\n', n - (size_t)(text - rec));
    size_t tlen = end ? (size_t)(end - text) : n - (size_t)(text - rec);
    size_t plen = ext4_prefix(text, tlen, dev);
    if (plen == 0)
        return false;
    text += plen;
    tlen -= plen;
    size_t o = strnlen(out, outlen - 1);
    if (o > 0 && o + 2 < outlen) {
        memcpy(out + o, "; ", 2);
        o += 2;
    }
    bool cut = false;
    for (size_t i = 0; i < tlen; i++) {
        if (o + 1 >= outlen) {
            cut = true;
            break;
        }
        unsigned char c = (unsigned char)text[i];
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[o] = '\0';
    if (cut)
        memcpy(out + outlen - 4, "...", 4);
    return true;
}

int sbx_kmsg_collect(int fd, const char *dev, char *out, size_t outlen)
{
    /* One read is one record; the kernel's records are at most 8 KiB with their dictionary. */
    char rec[8192];
    int taken = 0;
    for (int i = 0; i < SBX_KMSG_MAX_RECORDS; i++) {
        ssize_t n = read(fd, rec, sizeof(rec));
        if (n < 0 && (errno == EINTR || errno == EPIPE))
            continue; /* EPIPE: records were overwritten before they were read */
        if (n <= 0)
            break; /* EAGAIN: the end of the log */
        taken += sbx_kmsg_take(rec, (size_t)n, dev, out, outlen);
    }
    return taken;
}
