#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every source file git tracks carries an SPDX-License-Identifier line near
# its top, reported as TAP.  Usage: check-spdx.py SOURCE_ROOT
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from sources import tracked_sources  # noqa: E402

TAG = "SPDX-License-Identifier: LGPL-2.1-or-later"
SOURCE_EXT = (".c", ".h", ".S", ".py", ".sh")


def main():
    os.chdir(sys.argv[1])
    missing = []
    for f in tracked_sources(SOURCE_EXT, ("meson.build", "meson_options.txt")):
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
