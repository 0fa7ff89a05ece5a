#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Directory roots and rootless runs, reported as TAP.  First `run DIR` through
# a daemon of the suite's own, as root and as a member of its group; then, with
# no daemon at all, an unprivileged user (setpriv, HOME and XDG_RUNTIME_DIR
# under $T) runs the e2e isolation checks and the escape probes of the escape
# suite in a directory root and in the ext4 test image through fuse2fs, first
# with only its own ids, then with a subordinate range; and the errors: user
# namespaces disabled, a guest id with no subordinate ids, /dev/fuse closed,
# limits with no delegated cgroup.  The host shows the proof where it can: the
# guest's host uid, namespaces, fuse2fs and its mount gone after every run.
# Needs root.  It changes two host files for a while and restores them on exit
# (trap): /etc/subuid and /etc/subgid get one line for the test user (newuidmap
# reads nothing else), and /dev/fuse is made usable by users (mode 0666) if it
# is not.  The test user is a named one (newuidmap wants a name, and the
# user's own primary group), uucp unless RL_USER says otherwise.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE.
# Guest shell scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init rootless SANDBOXD SANDBOXCTL TEST_IMAGE
RL_USER=${RL_USER:-uucp}
if ! RL_UID=$(id -u "$RL_USER" 2>/dev/null) || ! RL_GID=$(id -g "$RL_USER"); then
    echo "Bail out! no user $RL_USER to run as (set RL_USER to a named user other than root)"
    exit 1
fi
# A member of the daemon's group (nogroup), for the daemon part.
MEMBER_ID=4242
SUBID_START=3000000
fuse_mode=$(stat -c %a /dev/fuse 2>/dev/null || true)
subids_changed=

cleanup() {
    if [ -n "$subids_changed" ]; then
        cp -p "$T/subuid.orig" /etc/subuid
        cp -p "$T/subgid.orig" /etc/subgid
    fi
    [ -z "$fuse_mode" ] || chmod "$fuse_mode" /dev/fuse
    local pid
    for pid in $(pids_of_ours); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    suite_cleanup
}
trap cleanup EXIT
cp -p /etc/subuid "$T/subuid.orig"
cp -p /etc/subgid "$T/subgid.orig"

# ---- the roots and the user's directories ------------------------------------

ROOT=$T/root
IMG=$T/test.ext4
mkdir "$ROOT" "$T/policies" "$T/home" "$T/xdg"
debugfs -R "rdump / $ROOT" "$TEST_IMAGE" >/dev/null 2>&1
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
chown "$RL_UID:$RL_GID" "$T/home" "$T/xdg"
chmod 0700 "$T/xdg"
[ -e "$ROOT/etc/sbx-image" ] || { echo "Bail out! debugfs did not copy the test image"; exit 1; }
STATE=$T/xdg/sandboxd

# ---- running -----------------------------------------------------------------

# finish: rc, out and err of the last run.
finish() {
    out=$(head -c 65536 "$T/out" | tr -d '\0')
    err=$(head -c 65536 "$T/err" | tr -d '\0')
}

# as_root ARGS... / as_member ARGS...: sandboxctl run through the suite's daemon.
as_root() {
    rc=0
    timeout -k 5 60 "$SANDBOXCTL" run --socket "$SOCK" "$@" >"$T/out" 2>"$T/err" || rc=$?
    finish
}
as_member() {
    rc=0
    timeout -k 5 60 setpriv --reuid="$MEMBER_ID" --regid=65534 --clear-groups \
        "$SANDBOXCTL" run --socket "$SOCK" "$@" >"$T/out" 2>"$T/err" || rc=$?
    finish
}

# user_cmd CMD...: the words that run CMD as the unprivileged user, in its environment.
user_cmd() {
    cmd=(setpriv --reuid="$RL_UID" --regid="$RL_GID" --clear-groups
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$T/home" XDG_RUNTIME_DIR="$T/xdg" "$@")
}

# rl ARGS...: sandboxctl run as the user, with no daemon at the socket.
rl() {
    user_cmd "$SANDBOXCTL" run --socket "$T/none.sock" "$@"
    rc=0
    timeout -k 5 60 "${cmd[@]}" >"$T/out" 2>"$T/err" || rc=$?
    finish
}

expect() {
    [ "$rc" = "$1" ] && [ "$out" = "$2" ] && return 0
    say "expected exit status $1 and stdout:"
    printf '%s\n' "$2" | diag
    tap_on_fail
    return 1
}

# err_has TEXT: stderr says TEXT.
err_has() {
    [[ $err == *"$1"* ]] && return 0
    say "stderr does not say '$1'"
    tap_on_fail
    return 1
}

# Processes of this suite: sandboxctl and fuse2fs name $T, a sandbox's init
# has its staging directory there, guest sleeps run for "7<our pid><n>" s.
pids_of_ours() {
    local pid
    for pid in $(pgrep -f -- "$T" || true) $(pgrep -f "sleep 7$$" || true); do
        [ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] && echo "$pid"
    done
    for pid in $(pgrep -f sbx-init || true); do
        grep -qF "$T" "/proc/$pid/mountinfo" 2>/dev/null && echo "$pid"
    done
    true
}

# nothing_left: no process of ours, no mount naming $T on the host, no fuse2fs mount point.
nothing_left() {
    local left
    left=$(pids_of_ours | sort -u)
    if [ -n "$left" ]; then
        say "still running: $(echo "$left" | tr '\n' ' ')"
        return 1
    fi
    if grep -qF "$T" /proc/self/mountinfo; then
        say "the host mount table names $T"
        return 1
    fi
    if [ -e "$STATE/fuse/image" ]; then
        say "fuse2fs's mount point is still there: $STATE/fuse/image"
        return 1
    fi
}

sleeps=0
# start_rl ARGS...: a rootless sandbox running /bin/sleep in the root ARGS name;
# sets bg_pid (sandboxctl), dur and guest (its host pid) once the guest runs.
start_rl() {
    sleeps=$((sleeps + 1))
    dur=7$$$sleeps
    user_cmd "$SANDBOXCTL" run --socket "$T/none.sock" "$@" /bin/sleep "$dur"
    "${cmd[@]}" >"$T/bg.out" 2>"$T/bg.err" &
    bg_pid=$!
    if ! wait_until 30 guest_of "$dur"; then
        say "the guest did not start"
        diag "$T/bg.err"
        return 1
    fi
    guest=$(guest_of "$dur")
}

# guest_of DURATION: the host pid of the guest sleeping that long.  Its command
# line ends as sandboxctl's does: the one that does not name sandboxctl.
guest_of() {
    local pid
    for pid in $(pgrep -f "sleep $1\$"); do
        grep -q sandboxctl "/proc/$pid/cmdline" 2>/dev/null || { echo "$pid"; return 0; }
    done
    return 1
}

# wait_bg SECONDS: waits for sandboxctl in the background; sets bg_rc.
wait_bg() {
    local end=$((SECONDS + $1))
    while kill -0 "$bg_pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$end" ]; then
            say "sandboxctl still runs after $1 s"
            kill -KILL "$bg_pid"
            wait "$bg_pid" || true
            return 1
        fi
        sleep 0.1
    done
    bg_rc=0
    wait "$bg_pid" || bg_rc=$?
}

# host_uid PID: the real uid of a host process.
host_uid() {
    awk '/^Uid:/ { print $2 }' "/proc/$1/status"
}

# ---- 1. run DIR through the daemon ---------------------------------------------

suite_daemon

as_root "$ROOT" /bin/sh -c 'cat /etc/sbx-image; id -u; echo new >/etc/dir-new; cat /etc/dir-new'
t "daemon: root runs a directory root" expect 0 $'sandboxd test image\n0\nnew'
t "daemon: the guest's writes stay in its overlay" test ! -e "$ROOT/etc/dir-new"
as_member "$ROOT" /bin/sh -c 'cat /etc/sbx-image; id -u; echo x >/tmp/x && cat /tmp/x'
t "daemon: a group member runs a directory root as itself" \
    expect 0 $'sandboxd test image\n'"$MEMBER_ID"$'\nx'
mkdir "$T/private-root"
cp -a "$ROOT/." "$T/private-root/"
chmod 0700 "$T/private-root"
as_member "$T/private-root" /bin/true
t "daemon: a directory the caller cannot open is refused by sandboxctl" expect 125 ""
printf 'filesystem:\n  writable_image: true\n' >"$T/policies/rw.yaml"
as_root --policy rw "$ROOT" /bin/true
t "daemon: a directory root is never writable" err_has "(the policy wants it writable)"
t "daemon: ... status 125" test "$rc" = 125
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=

# ---- 2. rootless, a directory root, the user's own ids ---------------------------

uid_map='awk "{ print \$1, \$2, \$3 }" /proc/self/uid_map'
rl "$ROOT" /bin/sh -c "cat /etc/sbx-image; id -u; $uid_map"
t "rootless dir: runs with no daemon, as the user's own uid" expect 0 "sandboxd test image
0
0 $RL_UID 1"
t "rootless dir: says once that only the user's own ids exist" \
    test "$(grep -c 'no range of 65536 subordinate ids' "$T/err")" = 1
t "rootless dir: says once that no cgroup limit is enforced" \
    test "$(grep -c 'limits are not enforced' "$T/err")" = 1
t "rootless dir: the state directory is under XDG_RUNTIME_DIR" test -d "$STATE/staging"

# Guest root is the user: root's files are not its own, but the user's are.
rl "$ROOT" /bin/sh -c 'echo w >/etc/rl-new'
t "rootless dir: guest root cannot write what host root owns" err_has "Permission denied"
USER_ROOT=$T/user-root
cp -a "$ROOT" "$USER_ROOT"
chown -R "$RL_UID:$RL_GID" "$USER_ROOT"
rl "$USER_ROOT" /bin/sh -c 'echo w >/etc/rl-new && cat /etc/rl-new'
t "rootless dir: in the user's own root, writes go to the overlay" expect 0 w
t "rootless dir: not to the directory" test ! -e "$USER_ROOT/etc/rl-new"

# The e2e isolation checks, in every syscall mode.
for mode in off trap rewrite; do
    rl --syscall-mode "$mode" "$ROOT" /sbx/probe caps
    t "rootless dir ($mode): no capability, no_new_privs, a filter" expect 0 "CapInh=0000000000000000
CapPrm=0000000000000000
CapEff=0000000000000000
CapBnd=0000000000000000
CapAmb=0000000000000000
NoNewPrivs=1
Seccomp=2"
    rl --syscall-mode "$mode" "$ROOT" /sbx/probe fds
    t "rootless dir ($mode): only stdio" expect 0 $'0\n1\n2'
done
rl "$ROOT" /sbx/probe ifaces
t "rootless dir: only lo" expect 0 lo
rl "$ROOT" /bin/sh -c 'ls -a /dev | grep -v "^\.\.*$" | sort | tr "\n" " "'
t "rootless dir: a minimal /dev" \
    expect 0 "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero "
echo host-only >"$T/host-only"
chmod 0644 "$T/host-only"
rl "$ROOT" /bin/sh -c 'for p; do [ -e "$p" ] && echo "visible: $p"; done; echo checked' sh \
    "$T/host-only" "$SANDBOXD" /etc/os-release
t "rootless dir: host files are not there (pivot_root)" expect 0 checked
rl "$ROOT" /bin/hostname
t "rootless dir: a hostname of its own" expect 0 sandbox
rl "$ROOT" /sbx/probe pid
t "rootless dir: a pid namespace of its own (the guest is pid 2)" \
    test "$rc" = 0 -a "${out%% *}" = pid=2

# Seen from the host: the caller's uid, its own namespaces, the user's own.
host_checks() {
    local want_uid=$1 ok=0 ns
    if [ "$(host_uid "$guest")" != "$want_uid" ]; then
        say "the guest runs as host uid $(host_uid "$guest"), expected $want_uid"
        ok=1
    fi
    for ns in user mnt pid ipc uts net cgroup; do
        if [ "$(readlink "/proc/$guest/ns/$ns")" = "$(readlink "/proc/self/ns/$ns")" ]; then
            say "the guest shares the host's $ns namespace"
            ok=1
        fi
    done
    if grep -qF "$T" /proc/self/mountinfo; then
        say "the host mount table names $T"
        ok=1
    fi
    return "$ok"
}
sleeper_host_checks() {
    local want_uid=$1 ok=0
    shift
    start_rl "$@" || return 1
    host_checks "$want_uid" || ok=1
    kill -TERM "$bg_pid"
    wait_bg 20 || ok=1
    [ "${bg_rc:-}" = 143 ] || { say "sandboxctl ended with ${bg_rc:-?}, expected 143"; ok=1; }
    wait_until 10 nothing_left || { nothing_left; ok=1; }
    return "$ok"
}
t "rootless dir: from the host, the guest is the user in namespaces of its own" \
    sleeper_host_checks "$RL_UID" "$ROOT"

# The escape probes (tests/guest/escape) a user namespace could make reachable.
read -r -d '' ESCAPES <<'EOF' || true
/sbx/esc-namespaces
/sbx/esc-mountapi /tmp
/sbx/esc-seccomp
/sbx/esc-ptrace init
/sbx/esc-bpf
/sbx/esc-keyring
/sbx/esc-kmod
/sbx/esc-handle
/sbx/esc-rawsock
/sbx/esc-timehost
/sbx/esc-cgroup /tmp
/sbx/esc-abi
EOF
read -r -d '' TABLE <<'EOF' || true
unshare-user errno=EPERM
unshare-mnt errno=EPERM
unshare-pid errno=EPERM
unshare-net errno=EPERM
unshare-cgroup errno=EPERM
unshare-time errno=EPERM
clone-user errno=EPERM
clone-mnt errno=EPERM
clone3-user errno=ENOSYS
setns-net errno=EPERM
setns-init-mnt errno=E(PERM|ACCES)
mount errno=EPERM
umount errno=EPERM
pivot_root errno=EPERM
fsopen errno=EPERM
open_tree errno=EPERM
move_mount errno=EPERM
mount_setattr errno=EPERM
allow-all-then-unshare errno=EPERM
sigsys-ignored-then-unshare errno=EPERM
clear-nnp errno=EINVAL
seccomp-mode 2
attach-init errno=EPERM
map-create errno=EPERM
add_key errno=EPERM
init_module errno=EPERM
kexec_load errno=EPERM
open_by_handle_at errno=EPERM
packet-raw errno=EPERM
inet-raw errno=EPERM
settimeofday errno=EPERM
sethostname errno=EPERM
mount-cgroup2 errno=EPERM
i386-unshare killed=SIGSYS
EOF

# escapes_refused FILE: every line of TABLE is in the output, its value matching.
escapes_refused() {
    local label want got ok=0
    while read -r label want; do
        got=$(awk -v l="$label" 'index($0, l " ") == 1 { print substr($0, length(l) + 2); exit }' \
            "$1")
        if ! [[ "$got" =~ ^($want)$ ]]; then
            say "'$label' answered '${got:-nothing}', expected /$want/"
            ok=1
        fi
    done <<<"$TABLE"
    return "$ok"
}

# run_escapes ROOT MODE: the probes in one sandbox; their output in $T/esc-MODE.
run_escapes() {
    local script
    script=$(tr '\n' ';' <<<"$ESCAPES")
    rl --syscall-mode "$2" "$1" /bin/sh -c "$script"
    cp "$T/out" "$T/esc-$2"
}
for mode in off trap rewrite; do
    run_escapes "$ROOT" "$mode"
    t "rootless dir ($mode): the escape probes are refused" escapes_refused "$T/esc-$mode"
done

# ---- 3. rootless, the ext4 image through fuse2fs ---------------------------------

if [ -z "$fuse_mode" ]; then
    echo "ok $((n += 1)) - # SKIP no /dev/fuse on this host"
else
    chmod 0600 /dev/fuse
    rl "$IMG" /bin/true
    t "rootless image: /dev/fuse closed to the user is a clear error" \
        err_has "needs /dev/fuse: Permission denied"
    t "rootless image: ... and exit status 125, nothing left" test "$rc" = 125
    t "rootless image: nothing left after the refusal" nothing_left
    chmod 0666 /dev/fuse

    rl "$IMG" /bin/sh -c 'cat /etc/sbx-image
        awk "\$5 == \"/\" { for (i = 7; \$i != \"-\"; i++); print \$(i + 1) }" /proc/self/mountinfo'
    t "rootless image: runs from the ext4 image through fuse2fs" \
        expect 0 $'sandboxd test image\noverlay'
    t "rootless image: fuse2fs says nothing when it works" \
        test "$(grep -c -v '^sandboxctl: rootless: ' "$T/err")" = 0
    t "rootless image: nothing left after the run" nothing_left

    fuse_while_running() {
        local ok=0 fuse
        start_rl "$IMG" || return 1
        fuse=$(pgrep -f "fuse2fs /proc/self/fd/[0-9]* $STATE/fuse/image" || true)
        if [ -z "$fuse" ]; then
            say "no fuse2fs serves the image while the sandbox runs"
            ok=1
        elif ! grep -qF "$STATE/fuse/image" "/proc/$fuse/mountinfo"; then
            say "fuse2fs's mount is not in its mount namespace"
            ok=1
        fi
        host_checks "$RL_UID" || ok=1
        kill "-$1" "$bg_pid"
        wait_bg 20 || ok=1
        if [ "$1" != KILL ] && [ "${bg_rc:-}" != "$2" ]; then
            say "sandboxctl ended with ${bg_rc:-?} after SIG$1, expected $2"
            ok=1
        fi
        wait_until 10 nothing_left || { nothing_left; ok=1; }
        return "$ok"
    }
    t "rootless image: fuse2fs runs while the guest does; Ctrl-C (SIGINT) ends both" \
        fuse_while_running INT 130
    t "rootless image: SIGKILL of sandboxctl leaves no fuse2fs, mount or guest" \
        fuse_while_running KILL -

    # Runs of one user share the state directory; each has its own fuse2fs and mount point.
    concurrent_runs() {
        local i pids=() ok=0
        for i in 1 2 3; do
            user_cmd "$SANDBOXCTL" run --socket "$T/none.sock" "$IMG" /bin/sh -c "sleep 1; echo $i"
            "${cmd[@]}" >"$T/par-$i" 2>/dev/null &
            pids+=($!)
        done
        for i in 1 2 3; do
            wait "${pids[$((i - 1))]}" || { say "run $i failed"; ok=1; }
            [ "$(cat "$T/par-$i")" = "$i" ] || { say "run $i printed '$(cat "$T/par-$i")'"; ok=1; }
        done
        nothing_left || ok=1
        return "$ok"
    }
    t "rootless image: three runs at once, each with its own fuse2fs" concurrent_runs

    for mode in off trap rewrite; do
        run_escapes "$IMG" "$mode"
        t "rootless image ($mode): the escape probes are refused" escapes_refused "$T/esc-$mode"
    done

    head -c 1M /dev/urandom >"$T/bad.ext4"
    chmod 0644 "$T/bad.ext4"
    rl "$T/bad.ext4" /bin/true
    t "rootless image: an image fuse2fs cannot read is refused with its words" \
        err_has "fuse2fs could not serve it"
    t "rootless image: nothing left after fuse2fs failed" nothing_left
fi

# ---- 4. errors --------------------------------------------------------------------

# user.max_user_namespaces is per user namespace: 0 in one of the user's own
# disables user namespaces below it, and the host's setting is never touched.
user_cmd unshare --user --map-current-user --keep-caps sh -c \
    'echo 0 >/proc/sys/user/max_user_namespaces && exec "$@"' sh \
    "$SANDBOXCTL" run --socket "$T/none.sock" "$ROOT" /bin/true
rc=0
"${cmd[@]}" >"$T/out" 2>"$T/err" || rc=$?
finish
t "errors: user namespaces disabled: status 125" test "$rc" = 125
t "errors: ... and the message names the sysctl to set" \
    err_has "sysctl -w user.max_user_namespaces="
t "errors: ... in one line" test "$(wc -l <"$T/err")" = 1
if [ -e /proc/sys/kernel/unprivileged_userns_clone ]; then
    old_clone=$(cat /proc/sys/kernel/unprivileged_userns_clone)
    trap 'echo "$old_clone" >/proc/sys/kernel/unprivileged_userns_clone; cleanup' EXIT
    echo 0 >/proc/sys/kernel/unprivileged_userns_clone
    rl "$ROOT" /bin/true
    echo "$old_clone" >/proc/sys/kernel/unprivileged_userns_clone
    t "errors: kernel.unprivileged_userns_clone=0 is named with its fix" \
        err_has "sysctl -w kernel.unprivileged_userns_clone=1"
else
    echo "ok $((n += 1)) - # SKIP no kernel.unprivileged_userns_clone (a Debian kernel's)"
fi

rl -u 1000 "$ROOT" /bin/true
t "errors: no subordinate ids, another guest uid: status 125" test "$rc" = 125
t "errors: ... naming /etc/subuid" err_has "uid 1000 has no id in sandboxd's user namespace"

rl --memory 64M "$ROOT" /bin/true
t "errors: --memory with no delegated cgroup is refused, naming the fix" \
    err_has "--memory: rootless with no delegated cgroup"
rl --pids-limit 10 "$ROOT" /bin/true
t "errors: --pids-limit too" err_has "--pids-limit: rootless with no delegated cgroup"

# ---- 5. a subordinate range: guest ids 0-65535 ----------------------------------

subids_changed=1
echo "$RL_USER:$SUBID_START:65536" >>/etc/subuid
echo "$RL_USER:$SUBID_START:65536" >>/etc/subgid
rl "$ROOT" /bin/sh -c "$uid_map"
t "subids: the guest's uid_map has the user and its range" expect 0 "0 $RL_UID 1
1 $SUBID_START 65535"
t "subids: no note about missing ids" test "$(grep -c 'subordinate' "$T/err")" = 0
rl -u 1000 "$ROOT" /bin/sh -c 'id -u; id -g; touch /tmp/f; stat -c %u /tmp/f'
t "subids: the guest runs as uid 1000" expect 0 $'1000\n1000\n1000'
t "subids: from the host, guest uid 1000 is the range's" \
    sleeper_host_checks $((SUBID_START + 999)) -u 1000 "$ROOT"
if [ -n "$fuse_mode" ]; then
    rl "$IMG" /bin/sh -c 'stat -c "%u:%g" /home/sbxuser /etc/sbx-image'
    t "subids: the image's owners are as built (through fuse2fs)" expect 0 $'1000:1000\n0:0'
    rl -u 1000 "$IMG" /bin/sh -c 'touch /home/sbxuser/x && echo written'
    t "subids: the image's user writes its home (in the overlay)" expect 0 written
fi
cp -p "$T/subuid.orig" /etc/subuid
cp -p "$T/subgid.orig" /etc/subgid
subids_changed=
subids_restored() { cmp -s "$T/subuid.orig" /etc/subuid && cmp -s "$T/subgid.orig" /etc/subgid; }
t "subids: /etc/subuid and /etc/subgid are restored" subids_restored

t "nothing is left behind: no process, no mount" nothing_left

tap_finish
