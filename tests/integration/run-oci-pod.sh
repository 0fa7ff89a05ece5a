#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A Kubernetes pod under sandboxd-oci, reported as TAP: the bundles
# containerd's CRI plugin makes (ocipod.py), driven by runc's command line
# as the runc shim drives it.  A pause container with its own network, ipc
# and uts namespaces, then an app container that joins them by the pause
# container's --pid-file pid, with /dev/termination-log bound from the host
# and the pod's CPU request and limit.  The proofs are read on the host:
# namespace inodes, the bound file, the cgroup's files.  Needs root.
# Environment: SANDBOXD_OCI, TEST_IMAGE, OCIPOD (paths).
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init oci-pod SANDBOXD_OCI TEST_IMAGE OCIPOD
ROOT=$T/state
CG=/${T##*/}

cleanup() {
    local d
    for d in "$ROOT"/*; do
        [ -e "$d" ] || continue
        "$SANDBOXD_OCI" --root "$ROOT" delete --force "${d##*/}" >/dev/null 2>&1 || true
    done
    rm -rf "$T"
}
trap cleanup EXIT

oci() { "$SANDBOXD_OCI" --root "$ROOT" "$@"; }
# run CMD...: $rc, $T/out, $T/err.
# shellcheck disable=SC2034  # rc is read by rc_is and tap_on_fail
run() {
    rc=0
    "$@" >"$T/out" 2>"$T/err" || rc=$?
}
err_has() { grep -q -- "$1" "$T/err"; }
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
    "$ROOT/$1/state.json" "$2"; }
ns_of() { readlink "/proc/$1/ns/$2"; }

mkdir "$T/rootfs"
debugfs -R "rdump / $T/rootfs" "$TEST_IMAGE" >/dev/null 2>&1
: >"$T/termination-log"
: >"$T/out"
mkdir "$T/adir"

# create ID ARGS...: a bundle from ocipod.py ARGS, created with a pid file.
create() {
    local id=$1
    shift
    "$OCIPOD" "$T/$id" "$T/rootfs" "$CG/$id" "$@" &&
        oci create --bundle "$T/$id" --pid-file "$T/$id.pid" "$id" >"$T/$id.out" 2>"$T/err"
}

pause() {
    create pause --hostname pod-1 -- sleep 3600 && oci start pause &&
        oci state pause | grep -q '"status":"running"'
}
t "pod: the pause container runs" pause
P=$(cat "$T/pause.pid" 2>/dev/null || true)
PINIT=$(field pause init 2>/dev/null || true)

joins=(--join "network=/proc/$P/ns/net" --join "ipc=/proc/$P/ns/ipc"
    --join "uts=/proc/$P/ns/uts")
app() {
    create app "${joins[@]}" --bind "$T/termination-log:/dev/termination-log" \
        --cpu 512:25000:50000 -- \
        sh -c 'hostname >/dev/termination-log; exec sleep 3600' && oci start app
}
t "pod: an app container joins by the pause container's pid" app
AINIT=$(field app init 2>/dev/null || true)
same_ns() {
    local n
    for n in net ipc uts; do
        [ "$(ns_of "$AINIT" "$n")" = "$(ns_of "$PINIT" "$n")" ] || return 1
        [ "$(ns_of "$AINIT" "$n")" != "$(ns_of $$ "$n")" ] || return 1
    done
    # Its own mount and pid namespaces: a pod shares no process namespace here.
    [ "$(ns_of "$AINIT" mnt)" != "$(ns_of "$PINIT" mnt)" ] &&
        [ "$(ns_of "$AINIT" pid)" != "$(ns_of "$PINIT" pid)" ]
}
t "pod: the app's net, ipc and uts are the pause sandbox's, not the host's" same_ns
termlog() { [ "$(cat "$T/termination-log")" = pod-1 ]; }
t "pod: the app wrote the pod's hostname to /dev/termination-log, seen on the host" \
    wait_until 20 termlog
cpu_files() {
    local v2 v1
    v2=$(field app cgroup_v2)
    v1=$(field app cgroup_v1_cpu)
    if [ -n "$v2" ] && [ -e "$v2/cpu.weight" ]; then
        # 1 + (512 - 2) * 9999 / 262142
        [ "$(cat "$v2/cpu.weight")" = 20 ] && [ "$(cat "$v2/cpu.max")" = "25000 50000" ]
    else
        [ -n "$v1" ] && [ "$(cat "$v1/cpu.shares")" = 512 ] &&
            [ "$(cat "$v1/cpu.cfs_period_us")" = 50000 ] &&
            [ "$(cat "$v1/cpu.cfs_quota_us")" = 25000 ] &&
            grep -qx "$AINIT" "$v1/cgroup.procs"
    fi
}
t "pod: cpu shares, quota and period on the app's cgroup" cpu_files
exec_hostname() {
    printf '{"args":["hostname"],"cwd":"/","env":["PATH=/bin:/usr/bin"],"user":{"uid":0,"gid":0}}' \
        >"$T/exec.json"
    [ "$(oci exec --process "$T/exec.json" app)" = pod-1 ]
}
t "pod: exec in the app sees the pod's uts namespace" exec_hostname

# ---- what is refused, by name ----
refused() {
    local want=$1
    shift
    run create bad "$@" -- true
    [ "$rc" != 0 ] && err_has "$want" && [ ! -e "$ROOT/bad" ]
}
t "pod: joining the host's ipc namespace is refused" refused \
    "/proc/$$/ns/ipc is the host's ipc namespace" --join "ipc=/proc/$$/ns/ipc"
# A runtime started in a network namespace of its own still knows the host's:
# pid 1's.  (This machine's own pid 1 is unreadable even to root, so the
# case makes a pid namespace whose pid 1 stays in the host's network.)
# shellcheck disable=SC2016  # the inner shell expands its "$@"
refused_unshared() {
    "$OCIPOD" "$T/bad" "$T/rootfs" "$CG/bad" --join "network=/proc/1/ns/net" -- true &&
        run unshare --pid --fork --mount-proc sh -c \
            'unshare --net "$@"; rc=$?; exit "$rc"' sh "$SANDBOXD_OCI" --root "$ROOT" \
            create --bundle "$T/bad" --pid-file "$T/bad.pid" bad
    [ "$rc" != 0 ] && err_has "/proc/1/ns/net is the host's network namespace" &&
        [ ! -e "$ROOT/bad" ]
}
t "pod: a runtime in its own network namespace refuses pid 1's as the host's" refused_unshared
t "pod: joining a pid namespace is refused" refused \
    "joining a pid namespace is not supported" --join "pid=/proc/$P/ns/pid"
t "pod: a namespace of the wrong type is refused" refused \
    "is not a uts namespace" --join "uts=/proc/$P/ns/ipc"
t "pod: a bind over one of the sandbox's own /dev files is refused" refused \
    "/dev/null is one of the sandbox's own files in /dev" --bind "$T/termination-log:/dev/null"
t "pod: a directory bound into /dev is refused" refused \
    "the sandbox's own /proc or /dev" --bind "$T/adir:/dev/adir"
t "pod: a file deeper in /dev is refused" refused \
    "the sandbox's own /proc or /dev" --bind "$T/termination-log:/dev/shm/log"

# ---- teardown as kubelet does it: app first, then the pause container ----
gone() {
    oci kill app KILL && oci delete --force app && oci kill pause KILL &&
        oci delete --force pause && [ -z "$(ls -A "$ROOT")" ] &&
        ! grep -rqs . /sys/fs/cgroup/*"$CG"/ 2>/dev/null && ! ls -d /sys/fs/cgroup/*"$CG" 2>/dev/null
}
t "pod: delete leaves no state and no cgroup" gone
stale() {
    run create late --join "ipc=/proc/$P/ns/ipc" -- true
    [ "$rc" != 0 ] && err_has "/proc/$P/ns/ipc" && [ ! -e "$ROOT/late" ]
}
t "pod: a container joining a pause container that is gone is refused" stale
tap_finish
