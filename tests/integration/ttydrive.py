#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Drives `sandboxctl run -t -i IMAGE /bin/sh -s MARK` through a pty of its own, as
a user at a terminal would, and prints one `name=value` line per finding for
run-signals.sh to check.

    ttydrive.py session SANDBOXCTL SOCKET IMAGE MARK   job control, Ctrl-C, Ctrl-Z, sizes
    ttydrive.py kill SANDBOXCTL SOCKET IMAGE MARK      SIGKILL of the guest's shell
    ttydrive.py term SANDBOXCTL SOCKET IMAGE MARK      SIGTERM to sandboxctl, three times
    ttydrive.py pipe SANDBOXCTL SOCKET IMAGE MARK      stdout a pipe whose reader goes away

Either way the driver's terminal settings (what `stty -g` shows) are compared
before sandboxctl starts and after it has exited.
"""
import fcntl
import os
import re
import select
import signal
import struct
import sys
import termios
import time


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Session:
    def __init__(self, argv, stdout=None):
        self.master, self.slave = os.openpty()
        set_size(self.master, 33, 101)
        self.before = termios.tcgetattr(self.slave)
        self.pid = os.fork()
        if self.pid == 0:
            os.setsid()
            fcntl.ioctl(self.slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(self.slave, fd)
            if stdout is not None:
                os.dup2(stdout, 1)
            os.closerange(3, 1024)
            # Python ignores SIGPIPE; a program started from a user's shell has it at default.
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            os.execvp(argv[0], argv)
        self.seen = b""

    def read_until(self, pattern, timeout=15, fd=None):
        """Reads the terminal (or fd) until the regex matches what came since the last call."""
        fd = self.master if fd is None else fd
        end = time.time() + timeout
        buf = b""
        while time.time() < end:
            m = re.search(pattern, buf, re.DOTALL)
            if m:
                self.seen += buf
                return buf
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
        self.seen += buf
        sys.stderr.write("timed out waiting for %r; got %r\n" % (pattern, buf))
        return None

    def cmd(self, line, pattern, timeout=15):
        os.write(self.master, line)
        return self.read_until(pattern, timeout)

    def wait(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            # Keep reading, so that a full pty never blocks sandboxctl.
            r, _, _ = select.select([self.master], [], [], 0.1)
            if r:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    pass
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return "timeout"

    def restored(self):
        return int(termios.tcgetattr(self.slave) == self.before)

    def raw(self):
        lflag = termios.tcgetattr(self.slave)[3]
        return int(not lflag & (termios.ICANON | termios.ECHO | termios.ISIG))


def report(name, value):
    print("%s=%s" % (name, value), flush=True)


# busybox's line editor asks where the cursor is (ESC [ 6 n) after each prompt,
# and redraws the prompt (ending in ESC [ J) when the window size changes.
PROMPT = rb"[#$] (\x1b\[(6n|J))*$"


def session(s):
    if s.read_until(PROMPT) is None:
        report("prompt", 0)
        return
    report("prompt", 1)
    report("raw", s.raw())
    out = s.cmd(b'[ "$(stat -c %u $(tty))" = "$(id -u)" ] && echo mine\r', rb"\r\n.*" + PROMPT)
    report("tty_mine", int(bool(out and b"mine\r\n" in out)))
    out = s.cmd(b"tty; test -c $(tty) && echo exists; stty size\r", rb"\d+ \d+\r\n.*" + PROMPT)
    m = re.search(rb"(/dev/pts/\d+)\r\n(exists)?\r?\n?(\d+ \d+)", out or b"")
    report("tty", m.group(1).decode() if m else "?")
    report("tty_exists", int(bool(m and m.group(2))))
    report("size", m.group(3).decode().replace(" ", "x") if m else "?")
    set_size(s.master, 40, 120)
    os.kill(s.pid, signal.SIGWINCH)
    time.sleep(0.3)
    out = s.cmd(b"stty size\r", rb"\d+ \d+\r\n.*" + PROMPT)
    m = re.search(rb"(\d+) (\d+)\r\n", out or b"")
    report("resized", (m.group(1) + b"x" + m.group(2)).decode() if m else "?")
    s.cmd(b"sleep 100 &\r", PROMPT)
    out = s.cmd(b"jobs\r", PROMPT)
    report("bg_job", int(bool(out and re.search(rb"Running\s+sleep 100", out))))
    s.cmd(b"sleep 50\r", rb"sleep 50\r\n")
    time.sleep(0.5)
    os.write(s.master, b"\x03")
    s.read_until(PROMPT)
    out = s.cmd(b"echo status=$?\r", rb"status=\d+.*" + PROMPT)
    m = re.search(rb"status=(\d+)", out or b"")
    report("ctrl_c_status", m.group(1).decode() if m else "?")
    s.cmd(b"sleep 51\r", rb"sleep 51\r\n")
    time.sleep(0.5)
    os.write(s.master, b"\x1a")
    s.read_until(PROMPT)
    out = s.cmd(b"jobs\r", PROMPT)
    report("stopped_job", int(bool(out and re.search(rb"Stopped\s+sleep 51", out))))
    s.cmd(b"kill -9 %1 %2\r", PROMPT)
    s.cmd(b"echo still here\r", rb"still here\r\n.*" + PROMPT)
    report("alive_after_ctrl_c", int(os.waitpid(s.pid, os.WNOHANG)[0] == 0))
    os.write(s.master, b"exit 5\r")
    report("status", s.wait())
    report("restored", s.restored())


def guest_shells(mark):
    """Host pids of the guest's shell: its command line ends in `sh -s MARK`."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
            with open("/proc/%s/comm" % pid, "rb") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm != b"sandboxctl" and args[-3:] == [b"-s", mark.encode(), b""]:
            pids.append(int(pid))
    return pids


def kill_guest(s, mark):
    if s.read_until(PROMPT) is None:
        report("prompt", 0)
        return
    report("prompt", 1)
    report("raw", s.raw())
    pids = guest_shells(mark)
    report("guests", len(pids))
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    report("status", s.wait())
    report("restored", s.restored())


def term(s):
    """An interactive shell ignores SIGTERM: it goes on until the third one ends the sandbox."""
    if s.read_until(PROMPT) is None:
        report("prompt", 0)
        return
    report("prompt", 1)
    os.kill(s.pid, signal.SIGTERM)
    out = s.cmd(b"echo still here\r", rb"still here\r\n.*" + PROMPT)
    report("after_one", int(out is not None))
    os.kill(s.pid, signal.SIGTERM)
    time.sleep(0.2)
    os.kill(s.pid, signal.SIGTERM)
    report("status", s.wait())
    report("ended_said", int(b"ending the sandbox" in s.seen))
    report("restored", s.restored())


def pipe(argv):
    """stdin the terminal, stdout a pipe read for a line and then closed, as `| head -1` does."""
    r, w = os.pipe()
    s = Session(argv, stdout=w)
    os.close(w)
    if s.read_until(PROMPT, fd=r) is None:
        report("prompt", 0)
        return s
    report("prompt", 1)
    os.write(s.master, b"i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done; exit 3\r")
    report("first_line", int(s.read_until(rb"line0\r?\n", fd=r) is not None))
    os.close(r)
    report("status", s.wait())
    report("restored", s.restored())
    return s


def main():
    what, ctl, sock, image, mark = sys.argv[1:6]
    # TTYDRIVE_AS: words put in front, such as a setpriv command line.
    argv = os.environ.get("TTYDRIVE_AS", "").split() + [ctl, "run", "--socket", sock, "-t", "-i", image, "/bin/sh", "-s", mark]
    if what == "pipe":
        return finish(pipe(argv))
    s = Session(argv)
    if what == "session":
        session(s)
    elif what == "term":
        term(s)
    else:
        kill_guest(s, mark)
    finish(s)


def finish(s):
    if s.pid:
        try:
            os.kill(s.pid, signal.SIGKILL)
            os.waitpid(s.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    with open(os.environ.get("TTYDRIVE_LOG", "/dev/null"), "wb") as f:
        f.write(s.seen)


if __name__ == "__main__":
    main()
