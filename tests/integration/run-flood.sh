#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Floods and stalls against sandboxd, reported as TAP: what one client (a
# member of the daemon's group, or a careless root) can make the daemon spend,
# and whether everyone else is still served.  The daemon starts with the
# nofile limits systemd gives a service by default (soft 1024); the attacks
# come from tests/integration/flood.c, which speaks the protocol directly.
# Needs root.  Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, FLOOD (paths).
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
# 300 sandboxes at once: more blocks of host ids than other suites get, at a
# base of the flood suite's own.
SUBID_BLOCKS=512
SUBID_BASE=1879048192
suite_init flood SANDBOXD SANDBOXCTL TEST_IMAGE FLOOD
IMG=$T/test.ext4
LOG=$T/sandboxd.log
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
mkdir "$T/bindsrc"
# The flooding user: nobody, a member of the daemon's group (--group nogroup)
# through its primary gid.
AS_MEMBER=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
HZ=$(getconf CLK_TCK)
bg_pids=()

cleanup() {
    local pid
    for pid in "${bg_pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    stop_daemon
    rm -rf --one-file-system "$T"
}
trap cleanup EXIT

# start_daemon SOFT:HARD: sandboxd under these nofile limits, on our socket.
start_daemon() {
    rm -f "$T/ready"
    prlimit --nofile="$1" -- "$SANDBOXD" --socket "$SOCK" --state-dir "$T/state" \
        --group nogroup --ready-fd 3 3>"$T/ready" 2>>"$LOG" &
    daemon_pid=$!
    if ! wait_until 20 grep -q READY "$T/ready"; then
        echo "Bail out! sandboxd did not become ready"
        diag "$LOG"
        exit 1
    fi
}

stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=
}

# The daemon's CPU time in clock ticks, its resident memory in KiB, its log in bytes.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status"; }
log_bytes() { stat -c %s "$LOG"; }

# flood_bg [--as-member] ARGS...: flood in the background, output in $T/flood.out.
flood_bg() {
    local as=()
    if [ "$1" = --as-member ]; then
        as=("${AS_MEMBER[@]}")
        shift
    fi
    "${as[@]}" "$FLOOD" "$@" >"$T/flood.out" 2>&1 &
    flood_pid=$!
    bg_pids+=("$flood_pid")
}

flood_holding() { grep -q '^holding' "$T/flood.out"; }
flood_done() { ! kill -0 "$flood_pid" 2>/dev/null; }

stop_flood() {
    kill -TERM "$flood_pid" 2>/dev/null || true
    wait "$flood_pid" 2>/dev/null || true
}

# root_run CMD...: sandboxctl run as root; sets rc and took (seconds).
root_run() {
    local start=$SECONDS
    rc=0
    timeout -k 5 30 "$SANDBOXCTL" run --socket "$SOCK" "$IMG" "$@" >"$T/out" 2>"$T/err" || rc=$?
    took=$((SECONDS - start))
}

report() {
    say "flood said:"
    diag "$T/flood.out"
    say "sandboxctl: exit status ${rc:-?}, stderr:"
    diag "$T/err"
    say "end of sandboxd's log:"
    tail -c 2000 "$LOG" | diag
}

# ---- a: idle connections -----------------------------------------------------------

test_idle_flood() {
    local log0 c0 c1 ok=0
    log0=$(log_bytes)
    flood_bg --as-member idle "$SOCK" 1100 60
    if ! wait_until 30 flood_holding; then
        say "the flood did not get its connections out"
        report
        stop_flood
        return 1
    fi
    sleep 1
    c0=$(cpu_ticks)
    sleep 3
    c1=$(cpu_ticks)
    root_run /bin/true
    say "$(head -1 "$T/flood.out"); CPU over 3 s: $((c1 - c0)) ticks of $((3 * HZ));" \
        "root run: exit $rc after $took s; log grew by $(($(log_bytes) - log0)) bytes"
    if [ "$rc" -ne 0 ] || [ "$took" -gt 5 ]; then
        ok=1
    fi
    [ $((c1 - c0)) -le $((3 * HZ / 10)) ] || ok=1
    [ $(($(log_bytes) - log0)) -le 65536 ] || ok=1
    [ "$ok" -eq 0 ] || report
    stop_flood
    return "$ok"
}

# ---- a2: out of descriptors ------------------------------------------------------------

# With its nofile limit lowered under it, the daemon runs out of fds: accept
# must neither spin nor fill the log, and a client hears why it is turned away.
test_out_of_fds() {
    local log0 c0 c1 top limits ok=0
    limits=$(awk '/^Max open files/ { print $4 ":" $5 }' "/proc/$daemon_pid/limits")
    top=$(find "/proc/$daemon_pid/fd" -mindepth 1 -printf '%f\n' | sort -n | tail -1)
    log0=$(log_bytes)
    prlimit --pid "$daemon_pid" --nofile=$((top + 1)):4096
    flood_bg --as-member idle "$SOCK" 300 60
    if ! wait_until 30 flood_holding; then
        say "the flood did not get its connections out"
        ok=1
    fi
    sleep 1
    c0=$(cpu_ticks)
    sleep 3
    c1=$(cpu_ticks)
    root_run /bin/true
    say "CPU over 3 s: $((c1 - c0)) ticks; root run: exit $rc after $took s:" \
        "$(head -c 300 "$T/err"); log grew by $(($(log_bytes) - log0)) bytes"
    [ $((c1 - c0)) -le $((3 * HZ / 10)) ] || ok=1
    [ $(($(log_bytes) - log0)) -le 65536 ] || ok=1
    # Turned away at accept, or admitted and failing later: either way the message says why.
    # (Served, it is fine too: the flood's connections are dropped after 10 s, freeing fds.)
    if [ "$rc" -ne 0 ] && ! grep -q -e 'file descriptors' -e 'Too many open files' "$T/err"; then
        ok=1
    fi
    prlimit --pid "$daemon_pid" --nofile="$limits"
    stop_flood
    root_run /bin/true
    say "with the limit restored: exit $rc"
    [ "$rc" -eq 0 ] || ok=1
    [ "$ok" -eq 0 ] || report
    return "$ok"
}

# ---- a3: several members at once --------------------------------------------------------

# Four members with 130 idle connections each fill the share of members
# other than root: the daemon then drops the oldest idle connection of the
# heaviest for a newcomer, so a fifth member is still served, and root too.
test_members_share() {
    local uid ok=0 pids=()
    for uid in 60001 60002 60003 60004; do
        setpriv --reuid=$uid --regid=65534 --clear-groups -- "$FLOOD" idle "$SOCK" 130 60 \
            >"$T/flood.$uid" 2>&1 &
        pids+=($!)
        bg_pids+=($!)
    done
    for uid in 60001 60002 60003 60004; do
        wait_until 20 grep -q '^holding' "$T/flood.$uid" || ok=1
    done
    rc=0
    setpriv --reuid=60005 --regid=65534 --clear-groups -- "$FLOOD" hello "$SOCK" >"$T/flood.out" \
        2>&1 || rc=$?
    say "a fifth member: $(cat "$T/flood.out")"
    [ "$rc" -eq 0 ] || ok=1
    root_run /bin/true
    say "root: exit $rc after $took s"
    [ "$rc" -eq 0 ] || ok=1
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    [ "$ok" -eq 0 ] || report
    return "$ok"
}

# ---- b: partial frames ----------------------------------------------------------------

# partial_flood [hello]: 300 connections, each holding all but one byte of a
# 1 MiB frame: the daemon's memory stays bounded, and it drops every one of them.
partial_flood() {
    local rss0 rss ok=0
    rss0=$(rss_kib)
    flood_bg --as-member partial "$SOCK" 300 30 "$@"
    if ! wait_until 60 flood_holding; then
        say "the flood did not get its frames out"
        ok=1
    fi
    rss=$(rss_kib)
    if ! wait_until 40 flood_done; then
        say "the flood still runs after 40 s"
        ok=1
    fi
    local frc=0
    wait "$flood_pid" || frc=$?
    say "$(head -1 "$T/flood.out"); RSS ${rss0} KiB before, ${rss} KiB holding;" \
        "$(grep '^open=' "$T/flood.out" || echo 'no result')"
    [ "$rss" -le 51200 ] || ok=1
    # The flood exits 0 once the daemon has closed every connection.
    [ "$frc" -eq 0 ] || ok=1
    [ "$ok" -eq 0 ] || report
    return "$ok"
}

# ---- c, d, e: the protocol ----------------------------------------------------------------

test_half_close() {
    rc=0
    timeout -k 5 30 "$FLOOD" halfclose "$SOCK" "$IMG" >"$T/flood.out" 2>&1 || rc=$?
    say "$(grep -E '^(exit|run|no EXIT)' "$T/flood.out" || true)"
    if [ "$rc" -ne 0 ]; then
        report
        return 1
    fi
}

test_signal_flood() {
    local lines0 lines
    lines0=$(wc -l <"$LOG")
    rc=0
    timeout -k 5 60 "${AS_MEMBER[@]}" "$FLOOD" signals "$SOCK" "$IMG" 10000 >"$T/flood.out" \
        2>&1 || rc=$?
    lines=$(($(wc -l <"$LOG") - lines0))
    say "$(tr '\n' ' ' <"$T/flood.out"); $lines new log lines"
    if [ "$rc" -ne 0 ] || [ "$lines" -gt 10 ]; then
        report
        return 1
    fi
}

test_stall_after_open() {
    rc=0
    timeout -k 5 60 "$FLOOD" stall-open "$SOCK" "$IMG" "$T/bindsrc" 30 >"$T/flood.out" 2>&1 ||
        rc=$?
    say "$(tr '\n' ' ' <"$T/flood.out")"
    local waited
    waited=$(sed -n 's/.*waited=\([0-9]*\).*/\1/p' "$T/flood.out")
    if [ "$rc" -ne 0 ] || [ "${waited:-99}" -gt 15 ]; then
        report
        return 1
    fi
}

# ---- f: many sandboxes at once --------------------------------------------------------------

# many_at_once N: N root runs of "sleep 2" at the same time; counts successes
# and collects the distinct failure messages in $T/fail.
many_at_once() {
    local i pids=()
    rm -f "$T"/many.*
    for i in $(seq "$1"); do
        (
            r=0
            timeout -k 5 120 "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/sleep 2 \
                >/dev/null 2>"$T/many.$i.err" || r=$?
            echo "$r" >"$T/many.$i.rc"
        ) &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    succeeded=$(cat "$T"/many.*.rc | grep -cx 0 || true)
    cat "$T"/many.*.err | sed 's/sandbox [0-9][0-9]*/sandbox N/g' | sort | uniq -c | sort -rn \
        >"$T/fail" || true
}

test_300_sandboxes() {
    local start=$SECONDS
    many_at_once 300
    say "$succeeded of 300 succeeded in $((SECONDS - start)) s"
    if [ "$succeeded" -ne 300 ]; then
        say "failures:"
        diag "$T/fail"
        return 1
    fi
}

# Where the hard limit leaves no room, the runs that cannot be served are told why.
test_300_sandboxes_hard_1024() {
    many_at_once 300
    say "$succeeded of 300 succeeded; the others said:"
    diag "$T/fail"
    [ "$succeeded" -gt 0 ] || return 1
    # Every failure names a limit of the daemon, none is a bare errno.
    ! grep -v -e 'connection' -e 'file descriptors' "$T/fail" | grep -q .
}

# guests_running DURATION N: at least N guests run /bin/sleep DURATION (not
# counting the sandboxctl processes, whose command lines end the same way).
guests_running() {
    local pid n=0
    for pid in $(pgrep -f "/bin/sleep $1\$"); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sandboxctl ] || n=$((n + 1))
    done
    [ "$n" -ge "$2" ]
}

# One member's running sandboxes fill its share, another member's idle
# connections fill the rest: a third member takes an idle one's place.
test_runners_shield_no_idle() {
    local i dur=61$$ ok=0 runners=() conns reserve share line
    # The daemon's own limits (its start line), not numbers that follow from
    # what one connection costs it today.
    line=$(grep 'limits: ' "$LOG" | tail -n 1)
    conns=$(sed -n 's/.*limits: \([0-9]*\) connections.*/\1/p' <<<"$line")
    reserve=$(sed -n 's/.* (\([0-9]*\) of them for root only).*/\1/p' <<<"$line")
    share=$(sed -n 's/.*, \([0-9]*\) per user;.*/\1/p' <<<"$line")
    if [ -z "$conns" ] || [ -z "$reserve" ] || [ -z "$share" ]; then
        say "no limits line in sandboxd's log: '$line'"
        return 1
    fi
    say "limits: $conns connections, $reserve for root, $share per user"
    for i in $(seq "$share"); do
        setpriv --reuid=60011 --regid=65534 --clear-groups -- \
            "$SANDBOXCTL" run --socket "$SOCK" "$IMG" /bin/sleep "$dur" >/dev/null 2>&1 &
        runners+=($!)
        bg_pids+=($!)
    done
    wait_until 60 guests_running "$dur" "$share" ||
        { say "the $share sandboxes of uid 60011 did not all start"; ok=1; }
    setpriv --reuid=60012 --regid=65534 --clear-groups -- \
        "$FLOOD" idle "$SOCK" $((conns - reserve - share)) 60 \
        >"$T/flood.out" 2>&1 &
    flood_pid=$!
    bg_pids+=("$flood_pid")
    wait_until 20 flood_holding || ok=1
    rc=0
    setpriv --reuid=60013 --regid=65534 --clear-groups -- "$FLOOD" hello "$SOCK" \
        >"$T/third.out" 2>&1 || rc=$?
    say "a third member: $(cat "$T/third.out")"
    [ "$rc" -eq 0 ] || ok=1
    stop_flood
    kill -TERM "${runners[@]}" 2>/dev/null || true
    wait "${runners[@]}" 2>/dev/null || true
    [ "$ok" -eq 0 ] || report
    return "$ok"
}

start_daemon 1024:4096
t "1100 idle connections of a group member: root is served at once, sandboxd stays idle and quiet" \
    test_idle_flood
t "out of fds: sandboxd neither spins nor floods its log, and says why it turns a client away" \
    test_out_of_fds
t "four members fill their share: a fifth member and root are still served" test_members_share
t "300 connections with 1 MiB first frames: bounded memory, every one closed" partial_flood
t "300 connections with 1 MiB RUN frames after HELLO: bounded memory, all closed by the deadline" \
    partial_flood hello
t "a client that half-closes after RUN still gets EXIT with the guest's status (3)" \
    test_half_close
t "10000 SIGNAL frames make a handful of log lines" test_signal_flood
t "a client that never answers OPEN is dropped after the deadline" test_stall_after_open
t "300 concurrent sandboxes at the default soft nofile limit all succeed" test_300_sandboxes
stop_daemon
start_daemon 1024:1024
t "300 concurrent sandboxes under a hard nofile limit of 1024: the refused are told why" \
    test_300_sandboxes_hard_1024
t "one member's sandboxes and another's idle connections fill the daemon: a third gets in" \
    test_runners_shield_no_idle
stop_daemon

tap_finish
