/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest program: tries socket(FAMILY, SOCK_STREAM, 0) and prints "ok" or "errno=NAME". */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sockprobe unix|inet|inet6\n");
        return 2;
    }
    int family = strcmp(argv[1], "unix") == 0    ? AF_UNIX
                 : strcmp(argv[1], "inet") == 0  ? AF_INET
                 : strcmp(argv[1], "inet6") == 0 ? AF_INET6
                                                 : -1;
    if (family < 0) {
        fprintf(stderr, "sockprobe: unknown family '%s'\n", argv[1]);
        return 2;
    }
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0) {
        const char *name = errno == EPERM          ? "EPERM"
                           : errno == EACCES       ? "EACCES"
                           : errno == EAFNOSUPPORT ? "EAFNOSUPPORT"
                                                   : strerror(errno);
        printf("errno=%s\n", name);
        return 1;
    }
    close(fd);
    printf("ok\n");
    return 0;
}
