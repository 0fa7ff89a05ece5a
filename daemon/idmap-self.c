/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ids of sandboxd's own user namespace.  The daemon that root runs sees
 * every id; the private daemon of a rootless sandboxctl sees the caller's
 * own, as 0, and at most a subordinate range of 65535 more.  A guest id
 * outside them would fail deep in sbx-init as "Invalid argument": it is
 * refused here, with the reason.
 */
#include "daemon/idmap-self.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "sbx/fileio.h"
#include "sbx/macro.h"

/* Whether id is inside one of the ranges ("inside outside count" lines) of map. */
static bool mapped(const char *map, uint32_t id)
{
    for (const char *p = map; *p;) {
        unsigned long inside, outside, count;
        int n = 0;
        if (sscanf(p, " %lu %lu %lu%n", &inside, &outside, &count, &n) != 3)
            return false;
        if (id >= inside && id - inside < count)
            return true;
        p += n;
    }
    return false;
}

/*
 * The daemon's own maps, read on the first request that finds them written:
 * the kernel takes each map once, and setgroups no longer changes once the
 * gid map is written, so what was read stays true.  Requests come from the
 * loop thread only.
 */
static struct {
    bool known;
    char uids[4096], gids[4096], setgroups[16]; /* at most 340 lines (the kernel's limit) */
} self;

static bool read_self(void)
{
    if (self.known)
        return true;
    if (sbx_read_small("/proc/self/uid_map", self.uids, sizeof(self.uids)) < 0 ||
        sbx_read_small("/proc/self/gid_map", self.gids, sizeof(self.gids)) < 0)
        return false;
    if (sbx_read_small("/proc/self/setgroups", self.setgroups, sizeof(self.setgroups)) < 0)
        self.setgroups[0] = '\0';
    /* An unwritten map reads empty (and maps nothing): read again next time. */
    self.known = self.uids[0] && self.gids[0];
    return true;
}

int sbx_idmap_self_check(struct sbx_spec *spec, struct sbx_error *e)
{
    if (!read_self())
        return 0;
    const char *uids = self.uids, *gids = self.gids;
    const char *fix = "only uid and gid 0 (the rootless caller's own) and the caller's "
                      "subordinate ids exist here; /etc/subuid and /etc/subgid give them";
    uint32_t bad = 0;
    const char *what = NULL;
    if (!mapped(uids, spec->uid)) {
        what = "uid";
        bad = spec->uid;
    } else if (!mapped(gids, spec->gid)) {
        what = "gid";
        bad = spec->gid;
    }
    for (uint32_t i = 0; !what && i < spec->n_groups; i++) {
        if (!mapped(gids, spec->groups[i])) {
            what = "supplementary group";
            bad = spec->groups[i];
        }
    }
    if (what)
        return sbx_error_set(e, EINVAL,
                             "the guest's %s %u has no id in sandboxd's user namespace: %s", what,
                             bad, fix);
    if (strncmp(self.setgroups, "deny", 4) != 0)
        return 0;
    if (spec->n_groups)
        return sbx_error_set(
            e, EINVAL,
            "the guest has %u supplementary groups, and sandboxd's user namespace may not "
            "set groups (rootless with only the caller's own ids: /etc/subuid and "
            "/etc/subgid give more, and newgidmap lets groups be set)",
            spec->n_groups);
    spec->flags |= SBX_SPEC_KEEP_GROUPS;
    return 0;
}
