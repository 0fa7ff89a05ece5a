#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon's #include "daemon/..." edges follow the tree of
# docs/architecture.md ("Dependencies"), reported as TAP: a module includes
# its own headers, those of the modules below it, the shared leaves, and
# daemon.h; nothing above it or beside it.  A sandbox tells its owner through
# the callback in its params, never by a call up.
# Usage: check-deps.py SOURCE_ROOT
import glob
import os
import re
import sys

# The spine: each module and the module it hangs under (None: the root).
PARENT = {
    "daemon": None,
    "server": "daemon",
    "run": "server",
    "sandbox": "run",
    "sitemap-build": "run",
}

# Which module a file of daemon/ belongs to, by its name without .c or .h.
MODULE_OF = {
    "daemon": "daemon", "main": "daemon", "embed": "daemon",
    "server": "server", "server-accept": "server", "server-sandbox": "server",
    "lifecycle": "server", "lifecycle-clean": "server", "lifecycle-exec": "server",
    "lifecycle-status": "server", "lifecycle-policy": "server", "logs": "server",
    "record": "server",
    "run": "run", "run-spec": "run",
    "sandbox": "sandbox", "killnotif": "sandbox", "spare": "sandbox",
    "sitemap-build": "sitemap-build",
}

# Leaves: code that includes no module of the spine, usable from anywhere.
LEAVES = {
    "blob", "caller", "cgroup", "cgroup-usage", "fdcheck", "idmap", "idmap-self", "idrange",
    "image", "image-config",
    "image-super", "init-spawn",
    "kmsg", "log", "sitemap", "spawn-report",
}

# daemon.h is the state every module is handed (struct sbx_daemon): anyone may include it.
SHARED = {"daemon.h"}

# Edges against the tree that stay, each with the reason; an entry that no
# longer matches an include fails, so the list only shrinks.
KNOWN = {
    ("run.c", "lifecycle.h"):
        "run.c registers a run with the lifecycle (prepare, begin, abort) before and after "
        "the sandbox starts",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"daemon/([^"]+)"', re.M)


def ancestors(module):
    while module is not None:
        yield module
        module = PARENT[module]


def allowed(src_mod, dst_name):
    """Whether a file of module src_mod may include daemon/dst_name."""
    dst = os.path.splitext(dst_name)[0]
    if dst in LEAVES:
        return True
    if src_mod in LEAVES:
        return False  # a leaf reaches no module of the spine, nor the daemon's state
    if dst_name in SHARED:
        return True
    dst_mod = MODULE_OF.get(dst)
    # Down the tree (or in the module itself): src_mod is dst_mod or one of its ancestors.
    return dst_mod is not None and src_mod in ancestors(dst_mod)


def main():
    os.chdir(sys.argv[1])
    bad, unknown, used = [], [], set()
    for path in sorted(glob.glob("daemon/*.c") + glob.glob("daemon/*.h")):
        name = os.path.basename(path)
        stem = os.path.splitext(name)[0]
        if stem not in MODULE_OF and stem not in LEAVES:
            unknown.append(path)
            continue
        src_mod = MODULE_OF.get(stem, stem)
        if not path.endswith(".c"):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for dst_name in INCLUDE.findall(text):
            if allowed(src_mod, dst_name):
                continue
            if (name, dst_name) in KNOWN:
                used.add((name, dst_name))
                continue
            bad.append((path, dst_name, src_mod))
    stale = sorted(set(KNOWN) - used)
    ok = not bad and not unknown and not stale
    print(f"{'ok' if ok else 'not ok'} 1 - daemon/*.c include only down the tree "
          "of docs/architecture.md")
    for path, dst, mod in bad:
        dst_mod = MODULE_OF.get(os.path.splitext(dst)[0], "?")
        print(f"#   {path} (module {mod}) includes daemon/{dst} (module {dst_mod}): "
              "not below it")
    for path in unknown:
        print(f"#   {path}: in no module: place it in {sys.argv[0]} and docs/architecture.md")
    for src, dst in stale:
        print(f"#   {src} no longer includes {dst}: remove it from KNOWN in {sys.argv[0]}")
    for (src, dst), why in KNOWN.items():
        print(f"#   known: daemon/{src} includes daemon/{dst} ({why})")
    print("1..1")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
