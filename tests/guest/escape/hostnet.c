/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's network from inside: connecting to a port that listens on the
 * host's loopback and on another of its addresses.  `hostnet serve PORT
 * SECONDS` is the host's side: it prints one line per connection it accepts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "escape.h"

static int serve(int port, int seconds)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        perror("hostnet: bind");
        return 1;
    }
    puts("listening");
    fflush(stdout);
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 200) <= 0)
            continue;
        struct sockaddr_in peer;
        socklen_t len = sizeof(peer);
        int c = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        printf("accepted %s\n", inet_ntoa(peer.sin_addr));
        fflush(stdout);
        close(c);
    }
    return 0;
}

static void try(const char *label, const char *addr, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, addr, &sa.sin_addr);
    esc_report(label, connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "serve") == 0)
        return serve(atoi(argv[2]), atoi(argv[3]));
    if (argc != 3)
        esc_usage(argv[0], "PORT HOST-ADDRESS | serve PORT SECONDS");
    try("connect-lo", "127.0.0.1", atoi(argv[1]));
    try("connect-host", argv[2], atoi(argv[1]));
    return 0;
}
