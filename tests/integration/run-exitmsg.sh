#!/usr/bin/env bash
# What `sandboxctl run` leaves behind when it returns, and what it says when a
# run fails, reported as TAP: a writable image is unmounted, detached and
# consistent on disk by then; a seccomp kill, a corrupt image, an argv over
# the limits, a missing group and the root-only policy fields each get a
# message that names the cause.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths).
# shellcheck disable=SC2016,SC2034  # guest scripts single-quoted; variables read in eval
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "1..0 # SKIP the exitmsg suite needs root"
    exit 0
fi
for var in SANDBOXD SANDBOXCTL TEST_IMAGE; do
    if [ ! -e "${!var:-}" ]; then
        echo "Bail out! $var does not name an existing file: '${!var:-}'"
        exit 1
    fi
done

exec </dev/null
T=$(mktemp -d /tmp/sbx-exitmsg.XXXXXX)
chmod 0755 "$T"
SOCK=$T/sandboxd.sock
IMG=$T/test.ext4
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
mkdir -p "$T/policies"
daemon_pid=
# shellcheck source=tests/integration/tap.sh
. "$(dirname "$0")/tap.sh"

cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

# After a failed test: the last run's output.
tap_on_fail() {
    say "exit status ${rc:-?}; stdout:"
    diag "$T/out"
    say "stderr:"
    diag "$T/err"
}

# policy NAME: writes stdin to $T/policies/NAME.yaml.
policy() {
    cat >"$T/policies/$1.yaml"
}

# run [--as UID] POLICY IMAGE CMD...: sandboxctl run ("-" for no policy).
run() {
    local as=()
    if [ "$1" = --as ]; then
        as=(setpriv --reuid="$2" --regid=65534 --clear-groups --)
        shift 2
    fi
    local p=$1 img=$2
    shift 2
    local pol=()
    [ "$p" = - ] || pol=(--policy "$p")
    rc=0
    timeout 60 "${as[@]}" "$SANDBOXCTL" run --socket "$SOCK" "${pol[@]}" "$img" "$@" \
        >"$T/out" 2>"$T/err" || rc=$?
}

err_has() { grep -q -- "$1" "$T/err"; }
err_lines() { [ "$(wc -l <"$T/err")" -eq "$1" ]; }
rc_is() { [ "$rc" = "$1" ]; }

# start_daemon LOG ARGS...: a daemon on $SOCK, ready when this returns.
start_daemon() {
    local log=$1
    shift
    rm -f "$T/ready"
    mkfifo "$T/ready"
    "$SANDBOXD" --socket "$SOCK" --state-dir "$T/state" --policy-dir "$T/policies" \
        --ready-fd 3 "$@" 3>"$T/ready" 2>"$log" &
    daemon_pid=$!
    if ! read -r -t 20 _ <"$T/ready"; then
        echo "Bail out! sandboxd did not become ready"
        diag "$log"
        exit 1
    fi
}

stop_daemon() {
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
    daemon_pid=
}

start_daemon "$T/sandboxd.log" --group nogroup

# ---- a writable image is released when sandboxctl returns ------------------------

policy writable <<'YAML'
filesystem:
  writable_image: true
YAML
W=$T/writable.ext4
cp "$IMG" "$W"

# One writable run appending line I, then what the host sees of the file.
writable_round() {
    local i=$1
    run writable "$W" /bin/sh -c "echo line$i >> /appended"
    [ "$rc" = 0 ] || {
        say "round $i: the run failed"
        return 1
    }
    if ! e2fsck -fn "$W" >"$T/fsck" 2>&1; then
        say "round $i: e2fsck -fn is not clean"
        diag "$T/fsck"
        return 1
    fi
    local last
    last=$(debugfs -R 'cat /appended' "$W" 2>/dev/null | tail -n 1)
    if [ "$last" != "line$i" ]; then
        say "round $i: the file's last line reads '$last'"
        return 1
    fi
    if [ -n "$(losetup -j "$W")" ]; then
        say "round $i: a loop device is still attached: $(losetup -j "$W")"
        return 1
    fi
}

rounds_ok=0
for i in $(seq 1 20); do
    writable_round "$i" || break
    rounds_ok=$i
done
t "writable image: 20 back-to-back runs, each clean on disk, its write visible, no loop left" \
    eval '[ "$rounds_ok" = 20 ] && [ "$(debugfs -R "cat /appended" "$W" 2>/dev/null | wc -l)" = 20 ]'

tap_finish
