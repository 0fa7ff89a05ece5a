#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# No C, shell or Python file git tracks is over 1000 lines, reported as TAP:
# a file that long has more than one concern and is split by them.
# Usage: check-size.py SOURCE_ROOT
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from sources import tracked_sources  # noqa: E402

LIMIT = 1000
SOURCE_EXT = (".c", ".h", ".S", ".sh", ".py")

# Files over the limit whose split is under way in another change; each
# leaves this list when it is split, and an entry under the limit fails.
PENDING = {
}


def line_count(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def main():
    os.chdir(sys.argv[1])
    files = tracked_sources(SOURCE_EXT)
    over, stale = [], []
    for f in files:
        n = line_count(f)
        if n > LIMIT and f not in PENDING:
            over.append((f, n))
        elif n <= LIMIT and f in PENDING:
            stale.append((f, n))
    for f in PENDING:
        if f not in files:
            stale.append((f, 0))
    ok = not over and not stale
    print(f"{'ok' if ok else 'not ok'} 1 - no source file is over {LIMIT} lines")
    for f, n in over:
        print(f"#   {f}: {n} lines")
    for f, n in stale:
        print(f"#   {f}: {n} lines, no longer over: remove it from PENDING in {sys.argv[0]}")
    for f, why in PENDING.items():
        print(f"#   pending: {f} ({why})")
    print("1..1")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
