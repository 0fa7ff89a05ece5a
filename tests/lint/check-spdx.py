#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every source file git tracks carries an SPDX-License-Identifier line near
# its top, reported as TAP.  Usage: check-spdx.py SOURCE_ROOT
import os
import subprocess
import sys

TAG = "SPDX-License-Identifier: LGPL-2.1-or-later"
SOURCE_EXT = (".c", ".h", ".S", ".py", ".sh")


def is_source(path):
    base = os.path.basename(path)
    if path.endswith(SOURCE_EXT) or base in ("meson.build", "meson_options.txt"):
        return True
    try:
        with open(path, "rb") as f:
            first = f.readline(128)
    except OSError:
        return False
    return first.startswith(b"#!") and (b"sh" in first or b"python" in first)


def main():
    os.chdir(sys.argv[1])
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True,
                           check=True).stdout.split()
    missing = []
    for f in files:
        if os.path.isfile(f) and not os.path.islink(f) and is_source(f):
            with open(f, encoding="utf-8", errors="replace") as fh:
                if TAG not in fh.read(400):
                    missing.append(f)
    if missing:
        print("not ok 1 - every source file has an SPDX line")
        for f in missing:
            print(f"#   no '{TAG}' in {f}")
    else:
        print("ok 1 - every source file has an SPDX line")
    print("1..1")
    return 1 if missing else 0


sys.exit(main())
