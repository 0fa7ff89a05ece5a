#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Drives `podman ... run -it IMAGE /bin/sh` (or any command line given) through
a pty of its own, as a user at a terminal would: waits for the shell, asks it
for its terminal and window size and for a computed number, then exits it with
a status.  Prints one `name=value` line per finding for run-oci.sh to check.

    ocitty.py PODMAN_ARG...
"""
import os
import pty
import re
import select
import struct
import sys
import termios
import fcntl
import time


def read_until(fd, pattern, timeout=30):
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
        m = re.search(pattern, buf)
        if m:
            return m, buf
    return None, buf


def main():
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[1], sys.argv[1:])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    os.write(fd, b"echo READY$((40+2))\n")
    m, buf = read_until(fd, rb"READY42")
    print("ready=%s" % ("yes" if m else "no"))
    os.write(fd, b"tty; stty size; echo DONE$((1+1))\n")
    m, buf = read_until(fd, rb"DONE2")
    out = buf.decode(errors="replace")
    tty = re.search(r"(/dev/pts/\d+)", out)
    size = re.search(r"(\d+) (\d+)\r?\n", out)
    print("tty=%s" % (tty.group(1) if tty else "none"))
    print("size=%s" % ("%s %s" % size.groups() if size else "none"))
    os.write(fd, b"exit 5\n")
    read_until(fd, rb"$^", timeout=10)
    _, status = os.waitpid(pid, 0)
    print("status=%d" % (os.waitstatus_to_exitcode(status)))


main()
