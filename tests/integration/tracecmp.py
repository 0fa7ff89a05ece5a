#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compares the (syscall name, result) sequences of `strace -f -o FILE` and of
`sandboxctl run --trace=FILE`, per process, as a multiset of sequences (pids
and the order between processes differ by nature).  Results that differ by
nature are normalized: addresses (hex results) become ADDR, the pids clone,
fork, wait4, getpid and the like return become PID.  The documented
differences are left out: rt_sigreturn (the trampoline lets it through
without seeing it), a call strace shows as `= ? ERESTART...` (the kernel
restarts it after a signal, and the trampoline sees only the restarted
call's return: strace prints the one call twice), and, with --from-exec,
everything a pid did before its first successful execve of the program
(chroot's own calls).

--ignore NAME leaves NAME out as well (rt_sigprocmask in rewrite mode: a
signal it unblocks runs its handler before the call is recorded).

--exact NAME compares the calls of NAME by their whole line, decoded
arguments and all (addresses still normalized), for the decoders of
structures (iovecs, msghdr, pollfds, directory entries).

Usage: tracecmp.py [--from-exec PATH] [--ignore NAME]... [--exact NAME]... STRACE_FILE TRACE_FILE
Exit status 0 when the sequences are the same, 1 with a diff otherwise.
"""
import difflib
import re
import sys

PID_RESULTS = {"clone", "clone3", "fork", "vfork", "wait4", "waitid", "getpid", "getppid",
               "gettid", "set_tid_address", "getpgrp", "getsid", "getpgid"}
LEFT_OUT = {"rt_sigreturn"}
EXACT = set()
HEX = re.compile(r"0x[0-9a-f]+")

STRACE = re.compile(r"^(\d+) +(.*)$")
OURS = re.compile(r"^\[pid (\d+)\] (.*)$")
CALL = re.compile(r"^([a-z0-9_]+)\(")
RESUMED = re.compile(r"^<\.\.\. ([a-z0-9_]+) resumed>")
RESULT = re.compile(r"\) += (\?|-1 ([A-Z0-9]+)|-?\d+|0x[0-9a-f]+)(?: .*)?$")


def norm(name, ret, err):
    if ret == "?":
        return "?"
    if err:
        return "-1 " + err
    if ret.startswith("0x"):
        return "ADDR"
    if name in PID_RESULTS and int(ret) > 0:
        return "PID"
    return ret


def parse(path, pattern, from_exec):
    procs = {}
    started = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = pattern.match(line.rstrip("\n"))
            if not m:
                continue
            pid, rest = m.group(1), m.group(2)
            if rest.startswith(("+++", "---")) or rest.endswith("<unfinished ...>"):
                continue
            c = RESUMED.match(rest) or CALL.match(rest)
            r = RESULT.search(rest)
            if not c or not r:
                continue
            name = c.group(1)
            if name in LEFT_OUT:
                continue
            if r.group(1) == "?" and " ERESTART" in rest:
                continue
            if from_exec and not started.get(pid):
                # A child inherits its parent's state: it has started when the parent had.
                if rest.startswith('execve("%s",' % from_exec) and r.group(1) == "0":
                    started[pid] = True
                elif pid not in procs and any(started.values()):
                    started[pid] = True
                else:
                    continue
            if name in EXACT:
                procs.setdefault(pid, []).append(HEX.sub("ADDR", rest))
                continue
            procs.setdefault(pid, []).append("%s = %s" % (name, norm(name, r.group(1),
                                                                   r.group(2))))
    return sorted("\n".join(seq) for seq in procs.values())


def main():
    args = sys.argv[1:]
    from_exec = None
    while len(args) > 2 and args[0] in ("--from-exec", "--ignore", "--exact"):
        if args[0] == "--from-exec":
            from_exec = args[1]
        elif args[0] == "--exact":
            EXACT.add(args[1])
        else:
            LEFT_OUT.add(args[1])
        args = args[2:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    native = parse(args[0], STRACE, from_exec)
    ours = parse(args[1], OURS, None)
    if native == ours:
        print("# %d processes, %d calls: the same" % (len(ours),
                                                      sum(s.count("\n") + 1 for s in ours)))
        return 0
    a = "\n=== process ===\n".join(native).splitlines()
    b = "\n=== process ===\n".join(ours).splitlines()
    for line in difflib.unified_diff(a, b, "strace -f", "--trace", lineterm="", n=2):
        print("# " + line)
    return 1


if __name__ == "__main__":
    sys.exit(main())
