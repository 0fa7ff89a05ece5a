#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The socket sandboxd says it serves is the one it serves, reported as TAP:
# with --socket PATH, and with a socket handed over by socket activation
# (LISTEN_FDS, as systemd passes it), where it once logged its default path
# whatever it got.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths).
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init sockname SANDBOXD SANDBOXCTL TEST_IMAGE
mkdir -p "$T/policies"

stop_daemon() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || true
    fi
    daemon_pid=
}

cleanup() {
    stop_daemon
    rm -rf "$T"
}
trap cleanup EXIT

tap_on_fail() {
    local f
    for f in log err; do
        if [ -e "$T/$f" ]; then
            say "$f:"
            diag "$T/$f"
        fi
    done
}

# activate SOCKET ARGS...: binds SOCKET (a leading @ for the abstract
# namespace), then execs sandboxd with it at fd 3 and LISTEN_FDS/LISTEN_PID
# set for its own pid, as systemd does.  Run it in the background: it execs.
activate() {
    exec python3 - "$@" <<'EOF'
import os, socket, sys
path, argv = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
s.listen(64)
fd = s.detach()
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(argv[0], argv)
EOF
}

# start_daemon KIND SOCKET: sandboxd on SOCKET, with --socket or activated,
# logging to $T/log; waits until it says it is ready.
start_daemon() {
    rm -f "$T/ready" "$T/log"
    mkfifo "$T/ready"
    local args=("$SANDBOXD" --state-dir "$T/state" --policy-dir "$T/policies" --ready-fd 4)
    if [ "$1" = option ]; then
        "${args[@]}" --socket "$2" 4>"$T/ready" 2>"$T/log" &
        daemon_pid=$!
    else
        activate "$2" "${args[@]}" 4>"$T/ready" 2>"$T/log" &
        daemon_pid=$!
    fi
    local line
    if ! read -r -t 30 line <"$T/ready" || [ "$line" != READY ]; then
        echo "Bail out! sandboxd on $2 did not start"
        diag "$T/log"
        exit 1
    fi
}

logged() { grep -qxF "sandboxd: serving on $1" "$T/log"; }
not_default() { ! grep -q 'serving on /run/sandboxd' "$T/log"; }
runs() { timeout 60 "$SANDBOXCTL" run --socket "$1" "$TEST_IMAGE" /bin/true 2>"$T/err"; }

start_daemon option "$T/option.sock"
t "--socket PATH: the log names PATH" logged "$T/option.sock"
stop_daemon

start_daemon activation "$T/activated.sock"
t "activated: the log names the socket it was handed" \
    logged "$T/activated.sock (socket activation)"
t "activated: the log does not name the default socket" not_default
t "activated: a sandbox runs through the handed socket" runs "$T/activated.sock"
stop_daemon
t "activated: the handed socket is left in place at stop" test -S "$T/activated.sock"

name="sbx-sockname-$$"
start_daemon activation "@$name"
t "activated, abstract socket: the log names it with @" logged "@$name (socket activation)"
stop_daemon

if command -v systemd-socket-activate >/dev/null; then
    # systemd's own tool execs sandboxd at the first connection.
    rm -f "$T/log"
    systemd-socket-activate -l "$T/systemd.sock" \
        "$SANDBOXD" --state-dir "$T/state" --policy-dir "$T/policies" 2>"$T/log" &
    daemon_pid=$!
    for _ in $(seq 100); do
        [ -S "$T/systemd.sock" ] && break
        sleep 0.1
    done
    t "systemd-socket-activate: a sandbox runs through its socket" runs "$T/systemd.sock"
    t "systemd-socket-activate: the log names its socket" \
        logged "$T/systemd.sock (socket activation)"
    stop_daemon
else
    n=$((n + 1))
    echo "ok $n # SKIP systemd-socket-activate is not installed"
fi

tap_finish
