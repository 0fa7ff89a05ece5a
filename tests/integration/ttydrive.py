#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Drives `sandboxctl run -t -i IMAGE /bin/sh -s MARK` through a pty of its own, as
a user at a terminal would, and prints one `name=value` line per finding for
run-signals.sh to check.

    ttydrive.py session SANDBOXCTL SOCKET IMAGE MARK   job control, Ctrl-C, Ctrl-Z, sizes
    ttydrive.py kill SANDBOXCTL SOCKET IMAGE MARK      SIGKILL of the guest's shell
    ttydrive.py term SANDBOXCTL SOCKET IMAGE MARK      SIGTERM to sandboxctl, three times
    ttydrive.py pipe SANDBOXCTL SOCKET IMAGE MARK      stdout a pipe whose reader goes away
    ttydrive.py background SANDBOXCTL SOCKET IMAGE MARK   a job of bash: `&`, then fg
    ttydrive.py stop-bg SANDBOXCTL SOCKET IMAGE MARK   a job of bash: Ctrl-Z, bg, fg

Either way the driver's terminal settings (what `stty -g` shows) are compared
before sandboxctl starts and after it has exited.  The last two run an
interactive bash in that pty instead, which runs `sandboxctl run -t -i` as a
job (with a guest script of their own), and compare with bash's mode at its
prompt.
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
        self.job = 0  # a job of the shell that the driver started, to end with it

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


def sandboxctls(mark):
    """Host pids of sandboxctl whose command line ends in MARK."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if is_sandboxctl(int(pid)) and args[-2:] == [mark.encode(), b""]:
            pids.append(int(pid))
    return pids


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


def job_status(s, pid):
    """The shell's $? once the job pid has ended (a line typed before would go to the job)."""
    end = time.time() + 10
    while is_sandboxctl(pid) and time.time() < end:
        time.sleep(0.1)
    time.sleep(0.3)
    out = s.cmd(b"echo status=$?\r", rb"status=\d+\r\n", 5)
    m = re.search(rb"status=(\d+)\r\n", out or b"")
    return m.group(1).decode() if m else "?"


def shell_prompt(s):
    """bash's terminal mode at its prompt, or None if it did not start.

    bash without line editing leaves its terminal as it found it while it
    reads a command, so that is the mode a job has to leave alone.
    """
    if s.cmd(b"echo start-$((6*7))\r", rb"start-42\r\n") is None:
        report("shell", 0)
        return None
    report("shell", 1)
    time.sleep(0.3)
    return termios.tcgetattr(s.slave)


def background(s, run, mark):
    """A job started with `&` and brought back with fg."""
    before = shell_prompt(s)
    if before is None:
        return
    guest = b"'echo ready; read x; echo \"got=[$x]\"; exit 4' " + mark.encode()
    # The guest's line, not the echo of the command that holds it; either may come first.
    out = s.cmd(run + b" /bin/sh -c " + guest + b" & echo pid=$!\r",
                rb"(?=.*pid=\d+\r\n)(?=.*ready\r)")
    m = re.search(rb"pid=(\d+)\r\n", out or b"")
    if not m:
        report("started", 0)
        return
    report("started", 1)
    pid = s.job = int(m.group(1))
    time.sleep(0.5)
    report("bg_untouched", int(termios.tcgetattr(s.slave) == before))
    # The foreground shell reads its own lines while the job runs.
    report("shell_reads", int(s.cmd(b"echo fg-$((6*7))\r", rb"fg-42\r\n", 5) is not None))
    s.cmd(b"fg\r", rb"fg\r\n", 5)
    time.sleep(0.5)
    report("fg_raw", s.raw())
    report("fg_input", int(s.cmd(b"hello\r", rb"got=\[hello\]", 5) is not None))
    report("status", job_status(s, pid))
    report("restored", int(termios.tcgetattr(s.slave) == before))


def stop_bg(s, run, mark):
    """A job started in the foreground, stopped (SIGTSTP, as Ctrl-Z sends it
    without raw mode), continued with bg and brought back with fg."""
    before = shell_prompt(s)
    if before is None:
        return
    guest = b"'echo ready2; read x; echo \"got2=[$x]\"; exit 5' " + mark.encode()
    if s.cmd(run + b" /bin/sh -c " + guest + b"\r", rb"ready2\r") is None:
        report("started2", 0)
        return
    report("started2", 1)
    pids = sandboxctls(mark)
    if len(pids) != 1:
        report("one_job", 0)
        return
    pid = s.job = pids[0]
    time.sleep(0.3)
    report("raw2", s.raw())
    os.kill(pid, signal.SIGTSTP)
    s.read_until(rb"Stopped", 5)
    time.sleep(0.3)
    report("stopped_restored", int(termios.tcgetattr(s.slave) == before))
    s.cmd(b"bg\r", rb"bg\r\n", 5)
    time.sleep(0.5)
    report("bg_again_untouched", int(termios.tcgetattr(s.slave) == before))
    s.cmd(b"fg\r", rb"fg\r\n", 5)
    time.sleep(0.5)
    report("fg_again_raw", s.raw())
    report("fg_again_input", int(s.cmd(b"bye\r", rb"got2=\[bye\]", 5) is not None))
    report("status2", job_status(s, pid))
    report("restored", int(termios.tcgetattr(s.slave) == before))


def main():
    what, ctl, sock, image, mark = sys.argv[1:6]
    if what in ("background", "stop-bg"):
        # HISTFILE: the shell leaves no history behind.
        os.environ["HISTFILE"] = "/dev/null"
        s = Session(["bash", "--norc", "--noprofile", "--noediting", "-i"])
        run = " ".join([ctl, "run", "--socket", sock, "-t", "-i", image]).encode()
        (background if what == "background" else stop_bg)(s, run, mark)
        os.write(s.master, b"exit\r")
        s.wait(5)
        return finish(s)
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


def is_sandboxctl(pid):
    try:
        with open("/proc/%d/comm" % pid, "rb") as f:
            return f.read().strip() == b"sandboxctl"
    except OSError:
        return False


def finish(s):
    if s.job and is_sandboxctl(s.job):
        os.kill(s.job, signal.SIGKILL)
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
