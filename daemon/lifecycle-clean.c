/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a daemon that died (SIGKILL, a crash) may have left under its state
 * directory: mounts on its own directories there (staging, sandboxes), and
 * loop devices backed by files in it.  The state directory itself may well
 * be a mount of the operator's, and so may any other directory in it: those
 * stay.
 * Its sandboxes died with it (sbx-init has PR_SET_PDEATHSIG), its cgroups are
 * swept by cgroup.c; this is the rest, done once at start, before the daemon
 * mounts anything of its own.  Only the state directory is looked at: mounts
 * and loop devices elsewhere are other programs' business.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/lifecycle.h"
#include "daemon/log.h"
#include "sbx/macro.h"

#define MAX_LEFTOVERS 1024

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            *o++ = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Strictly below dir: a file in it, not dir itself. */
static bool inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1];
}

/* Mounts on the daemon's own directories of the state directory, the last mounted first. */
static void clean_mounts(const char *state)
{
    char staging[4096], sandboxes[4096];
    snprintf(staging, sizeof(staging), "%s/staging", state);
    snprintf(sandboxes, sizeof(sandboxes), "%s/sandboxes", state);
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    char *points[MAX_LEFTOVERS];
    unsigned n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (n < MAX_LEFTOVERS && getline(&line, &cap, f) > 0) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 0; tok && i < 4; i++)
            tok = strtok_r(NULL, " ", &save);
        if (!tok)
            continue;
        unescape(tok);
        if ((under(tok, staging) || under(tok, sandboxes)) && (points[n] = strdup(tok)))
            n++;
    }
    free(line);
    fclose(f);
    while (n > 0) {
        char *p = points[--n];
        if (umount2(p, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
            sbx_info("unmounted %s, left by a sandboxd that died", p);
        else if (errno != EINVAL && errno != ENOENT)
            sbx_warn("cannot unmount %s, left by a sandboxd that died: %m", p);
        free(p);
    }
}

/* Loop devices whose backing file is in the state directory. */
static void clean_loops(const char *dir)
{
    DIR *d = opendir("/sys/block");
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "loop", 4) != 0)
            continue;
        char path[512], backing[4096];
        snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, backing, sizeof(backing) - 1);
        if (len <= 0)
            continue;
        backing[len] = '\0';
        backing[strcspn(backing, "\n")] = '\0';
        if (!inside(backing, dir))
            continue;
        snprintf(path, sizeof(path), "/dev/%s", de->d_name);
        _cleanup_close_ int dev = open(path, O_RDONLY | O_CLOEXEC);
        if (dev >= 0 && ioctl(dev, LOOP_CLR_FD) == 0)
            sbx_info("detached %s from %s, left by a sandboxd that died", path, backing);
        else
            sbx_warn("cannot detach %s from %s, left by a sandboxd that died: %m", path, backing);
    }
    closedir(d);
}

void sbx_lifecycle_clean(struct sbx_daemon *d)
{
    _cleanup_free_ char *dir = realpath(d->cfg.state_dir, NULL);
    if (!dir)
        return;
    clean_mounts(dir);
    clean_loops(dir);
}
