#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Errors travel in struct sbx_error (include/sbx/error.h), reported as TAP:
# no function of the hosted code (everything but the freestanding trampoline
# and the tests) takes a message buffer and its length (char *msg, size_t
# len, or char *err, size_t errlen) for an error.  Buffers for data under
# other names (buf, out, name) are not errors and are not matched.
# Usage: check-errors.py SOURCE_ROOT
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from sources import tracked_sources  # noqa: E402

DIRS = ("bench/", "client/", "daemon/", "image/", "include/", "init/", "oci/", "policy/", "proto/")
# A parameter pair "char *msg, size_t ..." (or msgbuf, err, errbuf),
# possibly split across lines.
PATTERN = re.compile(r"char\s*\*\s*(msg|msgbuf|err|errbuf)\s*,\s*size_t\s+\w+")


def main():
    os.chdir(sys.argv[1])
    bad = []
    for f in tracked_sources((".c", ".h")):
        if not f.startswith(DIRS):
            continue
        with open(f, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for m in PATTERN.finditer(text):
            bad.append((f, text.count("\n", 0, m.start()) + 1))
    ok = not bad
    print(f"{'ok' if ok else 'not ok'} 1 - no message buffer and length in the hosted code")
    for f, line in bad:
        print(f"#   {f}:{line}: take a struct sbx_error *e instead (CONTRIBUTING.md, Errors)")
    print("1..1")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
