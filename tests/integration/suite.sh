# SPDX-License-Identifier: LGPL-2.1-or-later
# What every shell suite of a real sandboxd does first; source it, then call
# suite_init NAME VAR...  It also brings in tap.sh.
# shellcheck shell=bash

# shellcheck source=tests/integration/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

# suite_init NAME VAR...: skips the suite unless run as root, bails out unless
# each VAR names an existing file, closes stdin and makes the suite's
# temporary directory $T (/tmp/sbx-NAME.XXXXXX, mode 0755 so that the
# callers a suite runs as other users can reach it).
suite_init() {
    local name=$1 var
    shift
    if [ "$(id -u)" -ne 0 ]; then
        echo "1..0 # SKIP the $name suite needs root"
        exit 0
    fi
    for var in "$@"; do
        if [ ! -e "${!var:-}" ]; then
            echo "Bail out! $var does not name an existing file: '${!var:-}'"
            exit 1
        fi
    done
    exec </dev/null
    T=$(mktemp -d "/tmp/sbx-$name.XXXXXX")
    chmod 0755 "$T"
    SOCK=$T/sandboxd.sock
    daemon_pid=
    # A suite that leaves more behind sets a trap of its own.
    trap suite_cleanup EXIT
}

# Stops the suite's daemon, if it runs, and removes $T.
suite_cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || true
    fi
    rm -rf "$T"
}

# policy NAME: writes stdin to $T/policies/NAME.yaml.
policy() {
    cat >"$T/policies/$1.yaml"
}

# After a failed test: the last run's status and output ($rc, $T/out, $T/err).
tap_on_fail() {
    say "exit status ${rc:-?}; stdout:"
    diag "$T/out"
    say "stderr:"
    diag "$T/err"
}

rc_is() { [ "$rc" = "$1" ]; }

# wait_until SECONDS CMD...: polls CMD until it succeeds.
wait_until() {
    local end=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}

# suite_daemon: a sandboxd of the suite's own, serving members of
# nogroup, on $SOCK with its state, policies and log under $T; sets
# daemon_pid, and bails out unless it reports ready within 20 s.
suite_daemon() {
    rm -f "$T/ready"
    mkfifo "$T/ready"
    "$SANDBOXD" --socket "$SOCK" --state-dir "$T/state" --policy-dir "$T/policies" \
        --group nogroup --ready-fd 3 3>"$T/ready" 2>"$T/sandboxd.log" &
    # shellcheck disable=SC2034  # the suites stop it by this pid
    daemon_pid=$!
    if ! read -r -t 20 _ <"$T/ready"; then
        echo "Bail out! sandboxd did not become ready"
        diag "$T/sandboxd.log"
        exit 1
    fi
}
