#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside a booted Debian root with systemd as pid 1 (run-package.sh
# starts it with systemd-nspawn --boot), as a oneshot unit once the system
# is up. Installs the package under the running systemd, checks the socket,
# a run through it, the service's stop and the purge, then powers off.
# Results go to /sbx-out/results, one "ok NAME" or "not ok NAME" a line,
# "done" last; what each check saw goes to /sbx-out/log.
set -uo pipefail
exec >>/sbx-out/log 2>&1
results=/sbx-out/results
img=/sbx-in/test.ext4

check() {
    local name=$1
    shift
    echo "== $name"
    if "$@"; then
        echo "ok $name" >>"$results"
    else
        echo "not ok $name" >>"$results"
    fi
}

# Sandbox init's pids in this container; procps is not in the tree.
sbx_inits() {
    local f
    for f in /proc/[0-9]*/comm; do
        case $(cat "$f" 2>/dev/null) in
        sbx-init | memfd:sbx-init) basename "$(dirname "$f")" ;;
        esac
    done
    return 0
}
some_inits() { [ -n "$(sbx_inits)" ]; }
image_attached() { losetup -j "$img" | grep -q .; }
image_detached() { ! image_attached; }
guest_gone() { ! kill -0 "$guest_pid" 2>/dev/null; }
# Cgroups the daemon made below its unit's, in every hierarchy.
sbx_cgroups() {
    find /sys/fs/cgroup -path '*sandboxd.service*' -type d -name 'sbx-*' 2>/dev/null
}
wait_for() {
    local _
    for _ in $(seq 100); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

installed() { dpkg -i /sbx-in/sandboxd.deb; }
socket_enabled() { [ "$(systemctl is-enabled sandboxd.socket)" = enabled ]; }
socket_listening() {
    systemctl status --no-pager sandboxd.socket
    [ "$(systemctl show -P ActiveState sandboxd.socket)" = active ] &&
        [ "$(systemctl show -P SubState sandboxd.socket)" = listening ] &&
        [ -S /run/sandboxd/sandboxd.sock ]
}
service_idle() { [ "$(systemctl show -P ActiveState sandboxd.service)" = inactive ]; }
run_through_socket() {
    local out
    out=$(timeout 60 sandboxctl run --policy default "$img" /bin/echo booted) || return 1
    echo "sandboxctl printed: $out"
    [ "$out" = booted ]
}
service_notified() {
    systemctl status --no-pager sandboxd.service
    [ "$(systemctl show -P Type sandboxd.service)" = notify ] &&
        [ "$(systemctl show -P ActiveState sandboxd.service)" = active ] &&
        [ "$(systemctl show -P SubState sandboxd.service)" = running ]
}
logs_handed_socket() {
    local journal
    journal=$(journalctl --no-pager -u sandboxd.service)
    echo "$journal"
    grep -q 'serving on /run/sandboxd/sandboxd.sock (socket activation)' <<<"$journal"
}
guest_pid=
long_guest_runs() {
    timeout 120 sandboxctl run --policy default "$img" /bin/sleep 600 &
    guest_pid=$!
    wait_for some_inits && [ -n "$(sbx_cgroups)" ] && image_attached
}
stop_leaves_nothing() {
    systemctl stop sandboxd.service || return 1
    local ok=0
    wait_for guest_gone || { echo "sandboxctl still runs"; ok=1; }
    [ -z "$(sbx_inits)" ] || { echo "sbx-init still runs: $(sbx_inits)"; ok=1; }
    [ -z "$(sbx_cgroups)" ] || { echo "cgroups left: $(sbx_cgroups)"; ok=1; }
    wait_for image_detached || { echo "loop device left: $(losetup -j "$img")"; ok=1; }
    [ "$(systemctl show -P ActiveState sandboxd.service)" = inactive ] ||
        { echo "sandboxd.service is $(systemctl show -P ActiveState sandboxd.service)"; ok=1; }
    systemctl status --no-pager sandboxd.service
    return $ok
}
socket_starts_it_again() { run_through_socket; }
# An upgrade (here a reinstall of the same version, which runs the same
# maintainer scripts) stops neither unit: running sandboxes survive it.
main_pid=
upgrade_keeps_sandboxes() {
    guest_pid=
    long_guest_runs || return 1
    main_pid=$(systemctl show -P MainPID sandboxd.service)
    dpkg -i /sbx-in/sandboxd.deb || return 1
    local ok=0
    kill -0 "$guest_pid" 2>/dev/null || { echo "the guest's sandboxctl ended"; ok=1; }
    [ -n "$(sbx_inits)" ] || { echo "no sbx-init runs"; ok=1; }
    [ "$(systemctl show -P MainPID sandboxd.service)" = "$main_pid" ] ||
        { echo "the daemon was restarted"; ok=1; }
    return $ok
}
purge_stops_and_removes() {
    dpkg --purge sandboxd || return 1
    local ok=0 state
    wait_for guest_gone || { echo "the running sandbox's sandboxctl still runs"; ok=1; }
    wait_for image_detached || { echo "loop device left: $(losetup -j "$img")"; ok=1; }
    state=$(systemctl show -P ActiveState sandboxd.socket sandboxd.service | grep . | sort -u)
    [ "$state" = inactive ] || { echo "units after purge: $state"; ok=1; }
    [ -z "$(sbx_inits)" ] || { echo "sbx-init still runs"; ok=1; }
    ! getent group sandbox || { echo "group sandbox still exists"; ok=1; }
    local p
    for p in /var/lib/sandboxd /run/sandboxd /etc/sandboxd /usr/sbin/sandboxd \
        /etc/systemd/system/sockets.target.wants/sandboxd.socket; do
        [ ! -e "$p" ] || { echo "left behind: $p"; ok=1; }
    done
    return $ok
}

check "dpkg -i under systemd" installed
check "sandboxd.socket is enabled on installation" socket_enabled
check "sandboxd.socket listens on /run/sandboxd/sandboxd.sock" socket_listening
check "sandboxd.service does not run before the first connection" service_idle
check "sandboxctl run --policy default through the socket" run_through_socket
check "the socket started sandboxd.service, Type=notify, now running" service_notified
check "the daemon logs the socket systemd handed it" logs_handed_socket
check "a long sandbox runs (sbx-init, its cgroup, its loop device)" long_guest_runs
check "systemctl stop sandboxd leaves no sandbox, cgroup or loop device" stop_leaves_nothing
check "the socket starts the daemon again afterwards" socket_starts_it_again
check "reinstalling (the upgrade path) keeps the daemon and its sandbox running" \
    upgrade_keeps_sandboxes
check "dpkg --purge with a sandbox running stops both units, the sandbox, removes state, group, files" \
    purge_stops_and_removes
echo "done" >>"$results"
systemctl poweroff --no-block
