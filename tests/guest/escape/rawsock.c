/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Raw and packet sockets: forged packets, sniffing. */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "escape.h"

static void try(const char *label, int family, int type, int proto)
{
    int fd = socket(family, type | SOCK_CLOEXEC, proto);
    esc_report(label, fd);
    if (fd >= 0)
        close(fd);
}

int main(void)
{
    try("packet-raw", AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    try("packet-dgram", AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
    try("inet-raw", AF_INET, SOCK_RAW, IPPROTO_ICMP);
    try("inet6-raw", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    try("inet-raw-tcp", AF_INET, SOCK_RAW, IPPROTO_TCP);
    return 0;
}
