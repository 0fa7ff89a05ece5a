#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Per-sandbox user namespaces (issue 16), reported as TAP, checked from the
# host: guests run as host ids of the sandbox's block (ps, /proc/PID/status),
# uid_map shows the block, image files keep their owners, a file guest root
# makes on a bind is the caller's, concurrent sandboxes get disjoint blocks,
# blocks are reused after exit and after a daemon restart, a caller other
# than root may run the guest as uid 0, `userns: host` is root's only, and
# what a user namespace makes reachable (nested namespaces, mounts) is still
# denied.  The daemon's subordinate ids are private files under $T, with
# SUBID_BLOCKS blocks, so that the spare and two runs take them all.
# Needs root.  Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths).
set -euo pipefail

SUBID_BLOCKS=3
# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init userns SANDBOXD SANDBOXCTL TEST_IMAGE
END=$((SUBID_BASE + SUBID_BLOCKS * 65536))

mkdir -p "$T/policies" "$T/bind"
chmod 0777 "$T/bind"
echo root-only >"$T/bind/roots"
chmod 0644 "$T/bind/roots"
IMG=$T/test.ext4
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
MEMBER=(setpriv --reuid=1000 --regid=65534 --clear-groups --)

# ctl [member] COMMAND ARGS...: sandboxctl on the suite's socket, output in $T/out, $T/err.
ctl() {
    local prefix=()
    if [ "$1" = member ]; then
        prefix=("${MEMBER[@]}")
        shift
    fi
    local cmd=$1
    shift
    rc=0
    timeout 60 "${prefix[@]}" "$SANDBOXCTL" "$cmd" --socket "$SOCK" "$@" >"$T/out" 2>"$T/err" ||
        rc=$?
}

out_is() { [ "$(cat "$T/out")" = "$1" ]; }
err_has() { grep -q -- "$1" "$T/err"; }

# in_range UID: the id is one of the suite's blocks.
in_range() { [ "$1" -ge "$SUBID_BASE" ] && [ "$1" -lt "$END" ]; }

# host_pid PATTERN: the pid of the one process of the suite's blocks whose command line matches.
host_pid() {
    ps -eo uid=,pid=,args= | awk -v lo="$SUBID_BASE" -v hi="$END" -v pat="$1" \
        '$1 >= lo && $1 < hi && index($0, pat) { print $2 }'
}

# status_uids PID: the Uid: line of /proc/PID/status (real, effective, saved, fs).
status_uids() { awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$1/status"; }

# no_block_process: no process of the host runs as an id of the suite's blocks.
no_block_process() {
    ! ps -eo uid= | awk -v lo="$SUBID_BASE" -v hi="$END" '$1 >= lo && $1 < hi { f = 1 } END { exit !f }'
}

# The first host uid of uid_map's one line, checked to be a block of the suite's range.
map_base() {
    local inside outside count
    read -r inside outside count <"$T/out"
    [ "$inside" = 0 ] && [ "$count" = 65536 ] && in_range "$outside" &&
        [ $(((outside - SUBID_BASE) % 65536)) = 0 ] && echo "$outside"
}

stop_all() {
    local name
    for name in "$@"; do
        ctl kill -s KILL "$name" || true
        ctl wait "$name" || true
        ctl rm "$name" || true
    done
}

suite_daemon

# ---- ids as the host sees them ------------------------------------------------

t_uid_map() {
    ctl run "$IMG" cat /proc/self/uid_map && rc_is 0 && [ -n "$(map_base)" ] &&
        ctl run "$IMG" cat /proc/self/gid_map && rc_is 0 && [ -n "$(map_base)" ]
}
t "uid_map and gid_map inside show guest 0..65535 on a block of the daemon's range" t_uid_map

t_host_uid() {
    ctl run -d --name hostuid "$IMG" sleep 301 && rc_is 0 || return 1
    wait_until 10 test -n "$(host_pid 'sleep 301')" || return 1
    local pid uids
    pid=$(host_pid 'sleep 301')
    uids=$(status_uids "$pid")
    say "guest root's sleep is host pid $pid, Uid: $uids"
    read -r a b c d <<<"$uids"
    in_range "$a" && [ "$a" = "$b" ] && [ "$a" = "$c" ] && [ "$a" = "$d" ] &&
        [ $(((a - SUBID_BASE) % 65536)) = 0 ]
}
t "from the host, guest root's processes run as the block's first uid, not 0" t_host_uid
stop_all hostuid

t_image_owners() {
    ctl run "$IMG" stat -c '%u:%g %n' /home/sbxuser /etc/passwd /bin/busybox && rc_is 0 &&
        out_is $'1000:1000 /home/sbxuser\n0:0 /etc/passwd\n0:0 /bin/busybox'
}
t "the image's files keep the owners it was built with (idmapped mount)" t_image_owners

t_overlay_owned() {
    ctl member run -u 0 --cap-add chown "$IMG" /bin/sh -c \
        'touch /new && chown 1000:100 /new && stat -c "%u:%g" /new / /tmp /dev' && rc_is 0 &&
        out_is $'1000:100\n0:0\n0:0\n0:0'
}
t "the overlay, /tmp and /dev are guest root's; with CAP_CHOWN kept, chown works in them" \
    t_overlay_owned

t_caps_namespaced() {
    # The capability is the namespace's: over a bound file of the host's root it gives nothing.
    ctl member run -u 0 --cap-add chown --cap-add dac_override --cap-add fowner \
        -v "$T/bind:/out:rw" "$IMG" /bin/sh -c 'grep CapEff /proc/self/status; echo x >>/out/roots'
    grep -q "CapEff:.*000000000000000b$" "$T/out" || { say "not the three capabilities"; return 1; }
    ! rc_is 0 && [ "$(cat "$T/bind/roots")" = root-only ]
}
t "a caller other than root may keep capabilities; they are the namespace's only" \
    t_caps_namespaced

# Kept capabilities that open more kernel code than a user's own files and
# processes (nf_tables with net_admin, ...) stay root's, and a list is not
# a capability name.
t_caps_limited() {
    ctl member run -u 0 --cap-add net_admin "$IMG" /bin/true && rc_is 125 &&
        err_has "only root may use --cap-add net_admin" || return 1
    ctl member run -u 0 --cap-add sys_admin "$IMG" /bin/true && rc_is 125 || return 1
    ctl member run -u 0 --cap-add chown,dac_override "$IMG" /bin/true && rc_is 125 &&
        err_has "unknown capability 'chown,dac_override'"
}
t "net_admin and sys_admin stay root's in a sandbox's own userns; a list is no name" \
    t_caps_limited

# A root caller's guest root is host root on its binds: with setfcap kept it
# could set a file capability there that works on the host.
t_root_setfcap_bind() {
    ctl run -u 0 --cap-add setfcap -v "$T/bind:/out:rw" "$IMG" /bin/true && rc_is 125 &&
        err_has "setfcap kept by a guest root of root's, with a writable bind" || return 1
    ctl run -u 0 --cap-add setfcap -v "$T/bind:/out" "$IMG" /bin/true && rc_is 0 || return 1
    ctl member run -u 0 --cap-add setfcap -v "$T/bind:/out:rw" "$IMG" /bin/true && rc_is 0
}
t "root's guest root may not keep setfcap over a writable bind; read-only, or a member's, may" \
    t_root_setfcap_bind

t_remove_image_dir() {
    ctl member run -u 0 "$IMG" /bin/sh -c \
        'rm -r /home/sbxuser && mv /etc /etc2 && test ! -e /home/sbxuser && cat /etc2/sbx-image' &&
        rc_is 0 && out_is "sandboxd test image"
}
t "a directory of the image can be removed and renamed in the overlay" t_remove_image_dir

# ---- binds ----------------------------------------------------------------------

t_bind_owner() {
    ctl member run -u 0 -v "$T/bind:/out:rw" "$IMG" /bin/sh -c \
        'id -u; touch /out/by-root; stat -c %u:%g /out/by-root; echo x >>/out/roots' &&
        ! rc_is 0 || return 1
    err_has "/out/roots" && [ "$(head -n 2 "$T/out")" = $'0\n0:0' ] &&
        [ "$(stat -c %u:%g "$T/bind/by-root")" = 1000:65534 ] &&
        [ "$(cat "$T/bind/roots")" = root-only ]
}
t "a file guest root makes on a bind is the caller's on the host; root's file stays unwritable" \
    t_bind_owner

t_bind_chown() {
    ctl member run -u 0 -v "$T/bind:/out:rw" "$IMG" chown 5 /out/by-root && ! rc_is 0 &&
        [ "$(stat -c %u "$T/bind/by-root")" = 1000 ]
}
t "guest root cannot give a bound file to a uid the caller is not" t_bind_chown

# ---- identities ---------------------------------------------------------------

t_member_root() {
    ctl member run -u 0 "$IMG" /bin/sh -c 'id -u; id -g' && rc_is 0 && out_is $'0\n0'
}
t "a caller other than root runs its guest as uid 0" t_member_root

t_member_other_uid() {
    ctl member run -u 4242:4343 "$IMG" /bin/sh -c 'id -u; id -g' && rc_is 0 && out_is $'4242\n4343'
}
t "a caller other than root runs its guest as any id of the namespace" t_member_other_uid

t_outside_refused() {
    ctl member run -u 70000 "$IMG" /bin/true && rc_is 125 &&
        err_has "uid 70000 is not an id of the sandbox's user namespace"
}
t "an id outside the namespace is refused, naming the range" t_outside_refused

# A directory root is the host's own files: whatever id of its namespace the
# guest runs as, it has the caller's access to them and no more (the host's
# root-owned files are nobody's inside, the caller's are the guest user's).
t_dir_root_caller_rights() {
    local root=$T/droot
    mkdir -p "$root"
    debugfs -R "rdump / $root" "$IMG" >/dev/null 2>&1
    [ -e "$root/etc/sbx-image" ] || { say "debugfs did not copy the test image"; return 1; }
    mkdir -p "$root/priv"
    echo secret >"$root/priv/key"
    chmod 0600 "$root/priv/key"
    chmod 0700 "$root/priv"
    echo mine >"$root/mine"
    chown 1000 "$root/mine"
    chmod 0600 "$root/mine"
    if "${MEMBER[@]}" cat "$root/priv/key" >/dev/null 2>&1; then
        say "control: the member can read the key on the host"
        return 1
    fi
    ctl member run -u 0 "$root" /bin/sh -c \
        'cat /priv/key; cat /mine; stat -c %u /etc/sbx-image /mine'
    rc_is 0 && ! grep -q secret "$T/out" && out_is $'mine\n65534\n0' && err_has "Permission denied"
}
t "a member's directory root gives guest root the member's access to host files, no more" \
    t_dir_root_caller_rights

policy hostns <<'EOF'
userns: host
EOF
t_host_member() {
    ctl member run --policy hostns "$IMG" /bin/true && rc_is 125 &&
        err_has "only root may use 'userns: host'"
}
t "userns: host is refused to a caller other than root" t_host_member

t_host_root() {
    ctl run --policy hostns "$IMG" cat /proc/self/uid_map && rc_is 0 &&
        [ "$(awk '{ print $1, $2, $3 }' "$T/out")" = "0 0 4294967295" ]
}
t "userns: host keeps the host's user namespace for root" t_host_root

# The option sets the same key, checked as the key: root only for host.
t_option_host() {
    ctl run --userns host "$IMG" cat /proc/self/uid_map && rc_is 0 &&
        [ "$(awk '{ print $1, $2, $3 }' "$T/out")" = "0 0 4294967295" ] || return 1
    ctl member run --userns host "$IMG" /bin/true && rc_is 125 &&
        err_has "only root may use --userns host" || return 1
    ctl run --policy hostns --userns private "$IMG" cat /proc/self/uid_map && rc_is 0 &&
        [ -n "$(map_base)" ] || return 1
    ctl run --userns shared "$IMG" /bin/true && rc_is 125 &&
        err_has "--userns shared: invalid value 'shared' for 'userns'"
}
t "--userns host is root's; --userns private wins over a policy's host; others are refused" \
    t_option_host

# ---- blocks: disjoint, exhausted, reused ---------------------------------------

t_disjoint() {
    ctl run -d --name one "$IMG" sleep 302 && rc_is 0 || return 1
    ctl run -d --name two "$IMG" sleep 303 && rc_is 0 || return 1
    wait_until 10 test -n "$(host_pid 'sleep 302')" || return 1
    wait_until 10 test -n "$(host_pid 'sleep 303')" || return 1
    local a b
    a=$(status_uids "$(host_pid 'sleep 302')" | cut -d' ' -f1)
    b=$(status_uids "$(host_pid 'sleep 303')" | cut -d' ' -f1)
    say "host uids $a and $b"
    in_range "$a" && in_range "$b" && [ $(((a - b) % 65536)) = 0 ] && [ "$a" != "$b" ]
}
t "two concurrent sandboxes run as host ids of different blocks" t_disjoint

t_exhausted() {
    # The spare holds the third block; this run takes it, and nothing is left.
    ctl run -d --name three "$IMG" sleep 304 && rc_is 0 || return 1
    ctl run "$IMG" /bin/true && rc_is 125 && err_has "every block of host ids is in use"
}
t "with every block in use the next run is refused, naming the fix" t_exhausted
stop_all one two three

t_reused() {
    local _ base
    for _ in 1 2 3 4 5 6; do
        ctl run "$IMG" cat /proc/self/uid_map && rc_is 0 || return 1
        base=$(map_base) && [ -n "$base" ] || return 1
    done
}
t "blocks are reused once their sandboxes are gone (six runs on three blocks)" t_reused

# A second daemon given the same range: the host-wide lock file keeps the two
# from handing out one block twice.  Both start idle (each spare takes a block,
# the second's the next one: the first's spare runs as its block's ids); then
# each run on the first daemon takes a block the second holds, without the lock.
t_two_daemons() {
    local sock2=$T/second.sock pid2 ok=0 a b c
    mkdir -p "$T/state2"
    rm -f "$T/ready2"
    mkfifo "$T/ready2"
    "$SANDBOXD" --socket "$sock2" --state-dir "$T/state2" --policy-dir "$T/policies" \
        --group nogroup --ready-fd 3 3>"$T/ready2" 2>"$T/sandboxd2.log" &
    pid2=$!
    read -r -t 20 _ <"$T/ready2" || ok=1
    ctl run -d --name first1 "$IMG" sleep 308 && rc_is 0 || ok=1
    timeout 60 "$SANDBOXCTL" run --socket "$sock2" -d --name second1 "$IMG" sleep 309 \
        >"$T/out" 2>"$T/err" || ok=1
    ctl run -d --name first2 "$IMG" sleep 310 && rc_is 0 || ok=1
    for p in 'sleep 308' 'sleep 309' 'sleep 310'; do
        wait_until 10 test -n "$(host_pid "$p")" || ok=1
    done
    a=$(status_uids "$(host_pid 'sleep 308')" | cut -d' ' -f1)
    b=$(status_uids "$(host_pid 'sleep 309')" | cut -d' ' -f1)
    c=$(status_uids "$(host_pid 'sleep 310')" | cut -d' ' -f1)
    say "host uids $a (first daemon), $b (second), $c (first)"
    [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] && [ "$a" != "$b" ] && [ "$b" != "$c" ] &&
        [ "$a" != "$c" ] || ok=1
    # Every block is held now, by one daemon or the other: the second has none left.
    timeout 60 "$SANDBOXCTL" run --socket "$sock2" "$IMG" /bin/true >"$T/out" 2>"$T/err" && ok=1
    err_has "every block of host ids is in use" || ok=1
    stop_all first1 first2
    timeout 60 "$SANDBOXCTL" kill --socket "$sock2" -s KILL second1 >/dev/null 2>&1 || true
    timeout 60 "$SANDBOXCTL" wait --socket "$sock2" second1 >/dev/null 2>&1 || true
    kill -TERM "$pid2"
    wait "$pid2" || true
    return "$ok"
}
t "two daemons given one range never hand out one block twice (a shared lock file)" \
    t_two_daemons

# ---- the daemon's restart ------------------------------------------------------

t_restart() {
    ctl run -d --name held "$IMG" sleep 305 && rc_is 0 || return 1
    kill -KILL "$daemon_pid"
    wait "$daemon_pid" || true
    wait_until 20 no_block_process || return 1
    suite_daemon
    ctl run -d --name after1 "$IMG" sleep 306 && rc_is 0 &&
        ctl run -d --name after2 "$IMG" sleep 307 && rc_is 0
}
t "a restarted daemon has every block back once the killed sandboxes are gone" t_restart
stop_all after1 after2 held

t_recovery() {
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
    wait_until 20 no_block_process || return 1
    # A process of the first block outlives its daemon: the next one keeps that block taken.
    setpriv --reuid="$SUBID_BASE" --regid="$SUBID_BASE" --clear-groups -- sleep 60 &
    local straggler=$!
    suite_daemon
    local ok=0
    grep -q "1 block(s) of host ids still run processes" "$T/sandboxd.log" || ok=1
    local _
    for _ in 1 2; do
        ctl run "$IMG" cat /proc/self/uid_map && rc_is 0 || ok=1
        [ "$(map_base)" != "$SUBID_BASE" ] || ok=1
    done
    kill "$straggler"
    wait "$straggler" || true
    return "$ok"
}
t "a block that a process still runs as at start stays taken" t_recovery

# ---- what a user namespace makes reachable stays denied -------------------------

t_host_control() {
    # Unsandboxed, the same caller can make namespaces: the probes below try something real.
    "${MEMBER[@]}" unshare --user --map-root-user --mount true
}
t "control: on the host the caller can unshare a user and a mount namespace" t_host_control

t_probe() {
    ctl member run -u 0 "$IMG" /bin/sh -c "$1; echo rc=\$?" && rc_is 0 && ! grep -qx 'rc=0' "$T/out"
}
t "nested unshare of a user namespace is denied to guest root" t_probe 'unshare -U true'
t "nested unshare of a mount namespace is denied to guest root" t_probe 'unshare -m true'
t "unshare -Urm is denied to guest root" t_probe 'unshare -Urm true'
t "mount of a tmpfs inside the user namespace is denied" t_probe 'mount -t tmpfs none /mnt'
t "a bind mount inside the user namespace is denied" t_probe 'mount --bind /tmp /mnt'
t "nsenter of init's namespaces is denied" t_probe 'nsenter -t 1 -U -m true'

tap_finish
