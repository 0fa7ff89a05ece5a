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
    suite_subids
    # What suite_cleanup undoes: background processes the suite started, the
    # guests of suite_sleeps, mount points under $T.
    started_pids=()
    SLEEP_PREFIX=
    cleanup_mounts=()
    # A suite that leaves more behind sets a trap of its own that ends in
    # suite_cleanup.
    trap suite_cleanup EXIT
}

# suite_sleeps DIGIT: the suite's guests sleep for "DIGIT<our pid><n>"
# seconds (SLEEP_PREFIX, then the counter sleeps), a number nobody else
# uses, so that pgrep finds exactly them on the host and suite_cleanup kills
# them.
suite_sleeps() {
    SLEEP_PREFIX=$1$$
    # shellcheck disable=SC2034  # the suites count their sleeps in it
    sleeps=0
}

# The suite's guest sleeps running on the host (suite_sleeps), one pid a line.
suite_guests() {
    [ -z "$SLEEP_PREFIX" ] || pgrep -f "sleep ${SLEEP_PREFIX}[0-9]*\$" || true
}

# suite_subids: private subordinate id files ($T/subuid, $T/subgid; the
# host's /etc stays as it is) for every sandboxd the suite starts, which
# $SANDBOXD becomes a wrapper for: SUBID_BLOCKS blocks of 65536 ids (default
# 64) from SUBID_BASE, by default a base of the suite's own, so that suites
# running at once hand out different host ids, above the range the Debian
# package gives user sandboxd.
suite_subids() {
    SUBID_BLOCKS=${SUBID_BLOCKS:-64}
    SUBID_BASE=${SUBID_BASE:-$((1342177280 + ($$ % 128) * 65536 * 64))}
    echo "sandboxd:$SUBID_BASE:$((SUBID_BLOCKS * 65536))" >"$T/subuid"
    echo "sandboxd:$SUBID_BASE:$((SUBID_BLOCKS * 65536))" >"$T/subgid"
    [ -n "${SANDBOXD:-}" ] || return 0
    printf '#!/bin/sh\nexec %q --subuid-file %q --subgid-file %q "$@"\n' \
        "$SANDBOXD" "$T/subuid" "$T/subgid" >"$T/sandboxd"
    chmod 0755 "$T/sandboxd"
    SANDBOXD=$T/sandboxd
}

# Kills what the suite started (started_pids) and its guests
# (suite_guests), unmounts cleanup_mounts, stops the suite's daemon, if it
# runs, and removes $T (not across a mount that is still there).
suite_cleanup() {
    local pid m
    for pid in "${started_pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in $(suite_guests); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${started_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    for m in "${cleanup_mounts[@]}"; do
        if mountpoint -q "$m"; then
            umount "$m" || true
        fi
    done
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || true
    fi
    rm -rf --one-file-system "$T"
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

# suite_daemon: a sandboxd of the suite's own (with -v if SUITE_DAEMON_DEBUG is
# set), serving members of nogroup, on $SOCK with its state, policies and log under $T; sets
# daemon_pid, and bails out unless it reports ready within 20 s.
suite_daemon() {
    rm -f "$T/ready"
    mkfifo "$T/ready"
    "$SANDBOXD" --socket "$SOCK" --state-dir "$T/state" --policy-dir "$T/policies" \
        --group nogroup --ready-fd 3 ${SUITE_DAEMON_DEBUG:+-v} 3>"$T/ready" 2>"$T/sandboxd.log" &
    # shellcheck disable=SC2034  # the suites stop it by this pid
    daemon_pid=$!
    if ! read -r -t 20 _ <"$T/ready"; then
        echo "Bail out! sandboxd did not become ready"
        diag "$T/sandboxd.log"
        exit 1
    fi
}
