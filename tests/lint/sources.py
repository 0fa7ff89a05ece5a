# SPDX-License-Identifier: LGPL-2.1-or-later
# The source files git tracks, for the lint checks: by their ending, or by a
# shell or Python #! line.
import os
import subprocess


def is_source(path, ext, names=()):
    if path.endswith(ext) or os.path.basename(path) in names:
        return True
    try:
        with open(path, "rb") as f:
            first = f.readline(128)
    except OSError:
        return False
    return first.startswith(b"#!") and (b"sh" in first or b"python" in first)


def tracked_sources(ext, names=()):
    """The tracked regular files (no links) that are sources, sorted."""
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True,
                           check=True).stdout.split()
    return sorted(f for f in files if os.path.isfile(f) and not os.path.islink(f)
                  and is_source(f, ext, names))
