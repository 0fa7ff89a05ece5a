#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""treediff.py A B: compares two directory trees entry by entry.

Type, mode, owner, size, content sha256, symlink target, device number,
xattrs, mtime (but of directories) and hard link groups; a root-level
lost+found that B lacks (A's, as mkfs makes one) is left out.  Prints one line per
difference and exits 1 if there are any.
"""
import hashlib
import os
import stat
import sys


def walk(root, skip_lf):
    out, inodes = {}, {}
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if skip_lf and rel == "lost+found":
                if name in dirs:
                    dirs.remove(name)
                continue
            st = os.lstat(p)
            d = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)),
                 "owner": (st.st_uid, st.st_gid)}
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    d["sha256"] = hashlib.sha256(f.read()).hexdigest()
                d["size"] = st.st_size
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            if stat.S_ISLNK(st.st_mode):
                d["target"] = os.readlink(p)
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                d["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            if not stat.S_ISDIR(st.st_mode):
                d["mtime"] = int(st.st_mtime)
            if not stat.S_ISLNK(st.st_mode):
                d["xattrs"] = {x: os.getxattr(p, x, follow_symlinks=False)
                               for x in sorted(os.listxattr(p, follow_symlinks=False))}
            out[rel] = d
    groups = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    return out, groups


def main():
    skip_lf = not os.path.lexists(os.path.join(sys.argv[2], "lost+found"))
    a, ga = walk(sys.argv[1], skip_lf)
    b, gb = walk(sys.argv[2], False)
    diffs = []
    for k in sorted(set(a) | set(b)):
        if k not in a or k not in b:
            diffs.append("%s: only in %s" % (k, sys.argv[1] if k in a else sys.argv[2]))
            continue
        for f in sorted(set(a[k]) | set(b[k])):
            if a[k].get(f) != b[k].get(f):
                diffs.append("%s: %s %r != %r" % (k, f, a[k].get(f), b[k].get(f)))
    if ga != gb:
        diffs.append("hard link groups: %r != %r" % (ga, gb))
    for d in diffs:
        print(d)
    print("%d entries, %d differences" % (len(a), len(diffs)))
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
