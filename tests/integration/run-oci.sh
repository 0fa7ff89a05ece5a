#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sandboxd-oci driven by real engines, reported as TAP: podman (exit
# statuses, detached containers, exec, signals, a terminal, limits, a
# read-only root, pause, recovery after conmon died, the baseline's denials
# and the trampoline inside) and a private containerd (ctr run).  Storage,
# state and configuration are the suite's own, under $T; images are made
# offline from the test image.  Needs root; skipped where podman is missing.
# Environment: SANDBOXD_OCI, TEST_IMAGE, PROBE, OCITTY (paths).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
if ! command -v podman >/dev/null || ! command -v conmon >/dev/null; then
    echo "1..0 # SKIP podman and conmon are not installed (tools/install-deps --tests)"
    exit 0
fi
suite_init oci SANDBOXD_OCI TEST_IMAGE PROBE OCITTY
OCIROOT=$T/oci-state
ctrd_pid=
# podman keeps a blob-info cache in /var/lib/containers/cache whatever its
# --root: the suite removes it when it was the one that made it.
made_varlib=0
[ -e /var/lib/containers ] || made_varlib=1
# The runc shim keeps fifos and sockets in /run/containerd whatever the root.
made_runctrd=0
[ -e /run/containerd ] || made_runctrd=1

cleanup() {
    local d
    if [ -n "$ctrd_pid" ]; then
        kill -TERM "$ctrd_pid" 2>/dev/null || true
        wait "$ctrd_pid" 2>/dev/null || true
    fi
    # Whatever a failed test left running goes before the storage does.
    for d in "$OCIROOT"/*; do
        [ -e "$d" ] || continue
        "$SANDBOXD_OCI" --root "$OCIROOT" delete --force "${d##*/}" >/dev/null 2>&1 || true
    done
    pm rm -a -f >/dev/null 2>&1 || true
    # podman's cgroupfs manager puts conmon in libpod_parent/conmon of every
    # hierarchy and leaves it; rmdir takes them only when no one uses them.
    rmdir /sys/fs/cgroup/*/libpod_parent/conmon /sys/fs/cgroup/*/libpod_parent 2>/dev/null || true
    # podman leaves its storage mounted (overlay, shm): only below $T.
    grep -o " $T/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done || true
    [ "$made_varlib" = 0 ] || rm -rf /var/lib/containers
    [ "$made_runctrd" = 0 ] || rm -rf /run/containerd
    rm -rf "$T"
}
trap cleanup EXIT

# The runtime as podman calls it: with the suite's state root, which
# podman's cleanup process (delete --force, no --runtime-flag) must see too.
cat >"$T/sandboxd-oci" <<EOF
#!/bin/sh
exec "$SANDBOXD_OCI" --root "$OCIROOT" "\$@"
EOF
chmod 0755 "$T/sandboxd-oci"
# podman's default ulimits (nofile 1048576) need CAP_SYS_RESOURCE, which this
# host's root may lack; the runtime is registered by path and reports errors
# in runc's JSON log.
cat >"$T/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "sandboxd-oci"
runtime_supports_json = ["sandboxd-oci"]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$T/events.log"
[engine.runtimes]
sandboxd-oci = ["$T/sandboxd-oci"]
[network]
network_config_dir = "$T/net"
EOF
mkdir -p "$T/net" "$T/tmp"
export CONTAINERS_CONF=$T/containers.conf
pm() {
    podman --root "$T/storage" --runroot "$T/run" --tmpdir "$T/tmp" --storage-driver vfs "$@"
}

# run CMD...: $rc, $T/out, $T/err.
# shellcheck disable=SC2034  # rc is read by rc_is and tap_on_fail
run() {
    rc=0
    "$@" >"$T/out" 2>"$T/err" || rc=$?
}
out_is() { [ "$(cat "$T/out")" = "$1" ]; }
out_has() { grep -q -- "$1" "$T/out"; }
err_has() { grep -q -- "$1" "$T/err"; }

# The image: the test image's tree, imported offline.
mkdir "$T/rootfs"
debugfs -R "rdump / $T/rootfs" "$TEST_IMAGE" >/dev/null 2>&1
IMG=localhost/sbx-oci-test:latest
setup_image() {
    tar -C "$T/rootfs" -c . | pm import - "$IMG" >/dev/null
}
t "setup: the test image imported into podman" setup_image

# The container's id in podman and its directory in the runtime's state.
state_of() { cat "$OCIROOT/$1/state.json"; }
field() { state_of "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }

# ---- run --rm ----
t "run --rm: exit 0, stdout and stderr apart" eval \
    'run pm run --rm --network none "$IMG" sh -c "echo to-out; echo to-err >&2" &&
     rc_is 0 && out_is to-out && grep -qx to-err "$T/err"'
t "run --rm: exit status 3" eval 'run pm run --rm --network none "$IMG" sh -c "exit 3"; rc_is 3'
t "run --rm: killed by SIGKILL is 137" eval \
    'run pm run --rm --network none "$IMG" sh -c "kill -9 \$\$"; rc_is 137'
t "run --rm: a missing program is 127, named" eval \
    'run pm run --rm --network none "$IMG" /nonexistent; rc_is 127 && err_has nonexistent'
# --preserve-fds N: the caller's fds 3.. reach the container's process as 3..
preserve_fds() {
    echo passed-in >"$T/pfd"
    echo second >"$T/pfd2"
    run pm run --rm --network none --preserve-fds 2 "$IMG" sh -c 'cat <&3; cat <&4' \
        3<"$T/pfd" 4<"$T/pfd2"
    rc_is 0 && [ "$(tr '\n' ' ' <"$T/out")" = "passed-in second " ]
}
t "run --preserve-fds 2: fds 3 and 4 reach the guest" preserve_fds
t "run without --preserve-fds: no fd 3 in the guest" eval \
    'run pm run --rm --network none "$IMG" sh -c "test -e /proc/self/fd/3 && echo leaked || echo none" \
        3<"$T/pfd"; rc_is 0 && out_is none'
t "run --rm: nothing left in the runtime's state" eval '[ -z "$(ls -A "$OCIROOT")" ]'

# ---- detached: logs, ps, kill, pause, stop, rm ----
mkdir -p "$T/vol"
logs_have() { pm logs "$id" 2>&1 | grep -q -- "$1"; }
detached() {
    id=$(pm run -d --network none -v "$T/vol:/vol" "$IMG" sh -c '
        trap "echo got-usr1" USR1
        echo started; i=0
        while true; do i=$((i+1)); echo $i > /vol/count; sleep 0.1; done')
    [ -n "$id" ] && wait_until 20 logs_have started
}
t "run -d: the container runs and logs" detached
t "ps: podman shows it up" eval 'pm ps --format "{{.ID}} {{.Status}}" | grep -q "^${id:0:12} Up"'
state_running() {
    local monitor
    monitor=$(field "$id" monitor)
    "$T/sandboxd-oci" state "$id" >"$T/out" || return 1
    grep -q '"status":"running"' "$T/out" && grep -q "\"pid\":$monitor," "$T/out" &&
        [ "$(ps -o ppid= -p "$monitor" | tr -d ' ')" = "$(pm inspect --format '{{.State.ConmonPid}}' "$id")" ]
}
t "state: running; its pid is the monitor, a child of conmon" state_running
t "kill -s USR1 reaches the guest's trap" eval \
    'pm kill -s USR1 "$id" >/dev/null && wait_until 10 logs_have got-usr1'
count() { cat "$T/vol/count"; }
count_is_not() { [ "$(count)" != "$1" ]; }
paused() {
    pm pause "$id" >/dev/null || return 1
    [ "$(pm inspect --format '{{.State.Status}}' "$id")" = paused ] || return 1
    grep -q 'frozen 1' "$(field "$id" cgroup_v2)/cgroup.events" || return 1
    local a
    a=$(count)
    sleep 1
    [ "$(count)" = "$a" ] || return 1
    pm unpause "$id" >/dev/null || return 1
    wait_until 10 count_is_not "$a" && [ "$(pm inspect --format '{{.State.Status}}' "$id")" = running ]
}
t "pause: the cgroup is frozen and the guest makes no progress; unpause resumes it" paused

# ---- exec ----
t "exec: output and exit status" eval \
    'run pm exec "$id" sh -c "echo in-exec; exit 7"; rc_is 7 && out_is in-exec'
t "exec --preserve-fds 1: fd 3 reaches the process" eval \
    'echo to-exec >"$T/xfd"; run pm exec --preserve-fds 1 "$id" sh -c "cat <&3" 3<"$T/xfd"
     rc_is 0 && out_is to-exec'
exec_isolated() {
    run pm exec "$id" sh -c 'grep Seccomp: /proc/self/status; cat /proc/self/cgroup; hostname'
    rc_is 0 && out_has 'Seccomp:.2' && out_has "$(pm inspect --format '{{.Config.Hostname}}' "$id")"
}
t "exec: the process is under the filter, in the container's uts namespace" exec_isolated
exec_cgroup() {
    pm exec -d "$id" sleep 63 >/dev/null || return 1
    wait_until 10 pgrep -x -f "sleep 63" || return 1
    local pid
    pid=$(pgrep -x -f "sleep 63" | head -n 1)
    grep -qx "$pid" "$(field "$id" cgroup_v2)/cgroup.procs" &&
        [ "$(readlink "/proc/$pid/ns/pid")" = "$(readlink "/proc/$(field "$id" init)/ns/pid")" ] &&
        grep -q 'memfd:sbx-trampoline' "/proc/$pid/maps"
}
t "exec -d: the process is in the container's cgroup and pid namespace, with the trampoline" \
    exec_cgroup
exec_tty() {
    python3 "$OCITTY" podman --root "$T/storage" --runroot "$T/run" --tmpdir "$T/tmp" \
        --storage-driver vfs exec -it "$id" /bin/sh >"$T/out" 2>&1 || true
    out_has ready=yes && out_has 'tty=/dev/pts/' && out_has status=5
}
t "exec -it: a shell on a pty of the container's devpts, its status back" exec_tty
t "exec: a missing program is 127" eval 'run pm exec "$id" /nonexistent; rc_is 127'

stopped() {
    pm stop -t 5 "$id" >/dev/null || return 1
    [ "$(pm inspect --format '{{.State.ExitCode}}' "$id")" = 143 ] && pm rm "$id" >/dev/null
}
t "stop: SIGTERM ends it (143), rm removes it" stopped
t "stop/rm: nothing left in the runtime's state, no cgroup" eval \
    '[ -z "$(ls -A "$OCIROOT")" ] && ! find /sys/fs/cgroup -maxdepth 4 -name "*$id*" | grep -q .'

stop_ignored() {
    id=$(pm run -d --network none "$IMG" sh -c 'trap "" TERM; echo up; while :; do sleep 0.1; done') ||
        return 1
    wait_until 10 logs_have up || return 1
    pm stop -t 1 "$id" >/dev/null || return 1
    [ "$(pm inspect --format '{{.State.ExitCode}}' "$id")" = 137 ] && pm rm "$id" >/dev/null &&
        [ ! -e "$OCIROOT/$id" ]
}
t "stop of a guest that ignores SIGTERM: SIGKILL after the timeout (137)" stop_ignored
t "podman restart: the same id created again" eval \
    'id=$(pm run -d --network none "$IMG" sleep 68) && pm restart -t 0 "$id" >/dev/null &&
     [ "$(pm inspect --format "{{.State.Status}}" "$id")" = running ] && pm rm -f -t 0 "$id" >/dev/null'

# ---- a terminal ----
tty_session() {
    python3 "$OCITTY" podman --root "$T/storage" --runroot "$T/run" --tmpdir "$T/tmp" \
        --storage-driver vfs run --rm -it --network none "$IMG" /bin/sh >"$T/out" 2>&1 || true
    out_has ready=yes && out_has 'tty=/dev/pts/' && out_has status=5
}
t "run -it: a shell on a pty, its status back" tty_session

# ---- limits, read-only root, network ----
cgroup_file() { cat "$(field "$1" "$2")/$3"; }
limits() {
    id=$(pm run -d --network none --memory 64m --pids-limit 32 --cpus 0.5 "$IMG" sleep 60) ||
        return 1
    local ok=0
    [ "$(cgroup_file "$id" cgroup_v1_memory memory.limit_in_bytes 2>/dev/null ||
        cgroup_file "$id" cgroup_v2 memory.max)" = 67108864 ] || ok=1
    [ "$(cgroup_file "$id" cgroup_v1_pids pids.max 2>/dev/null ||
        cgroup_file "$id" cgroup_v2 pids.max)" = 32 ] || ok=1
    [ "$(cgroup_file "$id" cgroup_v1_cpu cpu.cfs_quota_us 2>/dev/null ||
        cgroup_file "$id" cgroup_v2 cpu.max | cut -d' ' -f1)" = 50000 ] || ok=1
    pm rm -f "$id" >/dev/null
    return "$ok"
}
t "--memory, --pids-limit, --cpus: the container's cgroup has the limits" limits
t "--memory: going past it is an OOM kill (137)" eval \
    'run pm run --rm --network none --memory 32m "$IMG" sh -c "head -c 200m /dev/zero | tail > /dev/null"
     rc_is 137'
t "--pids-limit: forks past it fail" eval \
    'run pm run --rm --network none --pids-limit 10 "$IMG" sh -c \
        "for i in \$(seq 30); do sleep 5 & done 2>&1; wait"
     grep -qi "fork\|resource" "$T/out" "$T/err"'
t "--read-only: / refuses writes, /tmp takes them" eval \
    'run pm run --rm --network none --read-only "$IMG" sh -c "touch /x 2>&1; touch /tmp/y && echo tmp-ok"
     out_has "Read-only file system" && out_has tmp-ok'
t "the root is nodev: a device node made in it does not open" eval \
    'run pm run --rm --network none "$IMG" sh -c "mknod /null2 c 1 3 && echo x > /null2"
     ! rc_is 0 && err_has "Permission denied"'
t "--network none: loopback only" eval \
    'run pm run --rm --network none "$IMG" ls /sys/class/net; rc_is 0 && out_is lo'
t "--sysctl: the container's own net and ipc sysctls are set, the host's are not" eval \
    'run pm run --rm --network none --sysctl net.ipv4.ip_forward=1 --sysctl kernel.shmmni=1234 \
        "$IMG" cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni
     rc_is 0 && [ "$(tr "\n" " " <"$T/out")" = "1 1234 " ] &&
        [ "$(cat /proc/sys/kernel/shmmni)" != 1234 ]'
# A network namespace kept by a bind mount on a file of $T, as ip netns keeps
# them in /run/netns (the cleanup's umount of $T takes it).
netns_join() {
    touch "$T/netns"
    unshare --net="$T/netns" true || return 1
    run pm run --rm --network "ns:$T/netns" "$IMG" readlink /proc/self/ns/net
    rc_is 0 && [ "$(cat "$T/out")" = "net:[$(stat -L -c %i "$T/netns")]" ]
}
t "linux.namespaces: a network namespace joined by path" netns_join
# podman names X's namespace by X's pid, its monitor's on the host: the
# runtime maps that to X's sandbox, as a Kubernetes pod needs (oci-pod).
share_net() {
    local want
    id=$(pm run -d --network none "$IMG" sleep 67) || return 1
    want=$(readlink "/proc/$(field "$id" init)/ns/net")
    run pm run --rm --network "container:$id" "$IMG" readlink /proc/self/ns/net
    pm rm -f -t 0 "$id" >/dev/null
    rc_is 0 && [ "$(cat "$T/out")" = "$want" ] && [ "$want" != "$(readlink /proc/self/ns/net)" ]
}
t "--network container:X: X's sandbox's network, not the host's" share_net

# ---- the sandbox inside: baseline under podman's profile, trampoline ----
host_probe() {
    setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
        "$PROBE" syscall "$1" 2>&1 || true
}
probe() {
    if [ "$(host_probe "$1")" = "$2" ]; then
        say "on the host, without the filter, $1 already answers $2: no proof"
        return 1
    fi
    run pm run --rm --network none "$IMG" /sbx/probe syscall "$1"
    rc_is 0 && out_is "$2"
}
# podman's default profile allows these; the baseline under it does not.
t "baseline: mount fails with EPERM" probe mount errno=EPERM
t "baseline: unshare(CLONE_NEWUSER) fails with EPERM" probe unshare-user errno=EPERM
t "baseline: keyctl fails with EPERM" probe keyctl errno=EPERM
t "baseline: clone3 fails with ENOSYS" probe clone3 errno=ENOSYS
t "baseline: io_uring_setup fails with EPERM" probe io_uring errno=EPERM
t "baseline: perf_event_open fails with EPERM" probe perf_event_open errno=EPERM
t "baseline: ioctl TIOCSTI fails with EPERM" probe tiocsti errno=EPERM
t "baseline: unshare(CLONE_NEWUSER|CLONE_NEWNS) fails with EPERM" probe unshare-mnt errno=EPERM
mapped() {
    id=$(pm run -d --network none "$IMG" sleep 61) || return 1
    local pid
    wait_until 10 pgrep -x -f "sleep 61" || return 1
    pid=$(pgrep -x -f "sleep 61" | head -n 1)
    grep -q 'memfd:sbx-trampoline' "/proc/$pid/maps"
    local r=$?
    pm rm -f "$id" >/dev/null
    return "$r"
}
t "trampoline: mapped in the guest (rewrite, the default)" mapped
t "annotation org.sandboxd.syscall-mode=off: no trampoline" eval \
    'run pm run --rm --network none --annotation org.sandboxd.syscall-mode=off "$IMG" \
        sh -c "grep -c sbx-trampoline /proc/self/maps"; out_is 0'
t "annotation org.sandboxd.syscall-mode=bogus: refused, named" eval \
    'run pm run --rm --network none --annotation org.sandboxd.syscall-mode=bogus "$IMG" true
     ! rc_is 0 && err_has "org.sandboxd.syscall-mode"'

# ---- the runtime's own commands on a container of podman's ----
own_commands() {
    id=$(pm run -d --network none "$IMG" sh -c 'sleep 64 & sleep 65 & wait') || return 1
    wait_until 10 pgrep -x -f "sleep 65" || return 1
    local ok=0 pids
    pids=$("$T/sandboxd-oci" ps --format json "$id")
    # The init, the shell and its two sleeps: the cgroup's pids, as JSON.
    python3 -c 'import json,sys; p = json.loads(sys.argv[1]); sys.exit(len(p) != 4)' "$pids" ||
        { say "ps: $pids"; ok=1; }
    grep -q "$(pgrep -x -f "sleep 65")" <<<"$pids" || ok=1
    "$T/sandboxd-oci" kill --all "$id" KILL || ok=1
    wait_until 10 eval '! pgrep -x -f "sleep 6[45]"' || ok=1
    pm rm -f "$id" >/dev/null
    return "$ok"
}
t "ps --format json lists the container's pids; kill --all KILL ends them all" own_commands
t "--version names the runtime and libseccomp; podman info shows it" eval \
    '"$T/sandboxd-oci" --version | grep -q "^sandboxd-oci version" &&
     pm info --format "{{.Host.OCIRuntime.Version}}" | grep -q "sandboxd-oci version"'

# ---- recovery after conmon died ----
recovery() {
    id=$(pm run -d --network none "$IMG" sleep 62) || return 1
    local conmon monitor
    conmon=$(pm inspect --format '{{.State.ConmonPid}}' "$id")
    monitor=$(field "$id" monitor)
    kill -KILL "$conmon"
    "$T/sandboxd-oci" state "$id" | grep -q '"status":"running"' || return 1
    "$T/sandboxd-oci" delete --force "$id" || return 1
    "$T/sandboxd-oci" delete --force "$id" || return 1
    wait_until 10 eval '! kill -0 "$monitor" 2>/dev/null' || return 1
    ! pgrep -x -f "sleep 62" >/dev/null && [ ! -e "$OCIROOT/$id" ] && pm rm -f "$id" >/dev/null
}
t "conmon killed: state still answers, delete --force (twice) leaves nothing" recovery

# ---- the runtime alone: errors named, in runc's JSON log ----
bundle_with() {
    mkdir -p "$T/b"
    ln -sfn "$T/rootfs" "$T/b/rootfs"
    python3 - "$T/b/config.json" "$1" <<'PY'
import json, sys
c = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
     "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
     "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network")]}}
exec(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"))
PY
}
unsupported() {
    bundle_with 'c["linux"]["devices"] = [{"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}]'
    rm -f "$T/log.json"
    run "$T/sandboxd-oci" --log "$T/log.json" --log-format json create --bundle "$T/b" bad
    rc_is 1 && python3 -c 'import json,sys
l = json.loads(open(sys.argv[1]).readline())
sys.exit(not (l["level"] == "error" and "linux.devices" in l["msg"]))' "$T/log.json" &&
        [ ! -e "$OCIROOT/bad" ]
}
t "an unsupported field is an error naming it, in the JSON log" unsupported
failed_setup() {
    bundle_with 'c["mounts"] = [{"destination": "/dev/x", "type": "bind", "source": "/etc"}]'
    run "$T/sandboxd-oci" create --bundle "$T/b" bad2
    rc_is 1 && err_has "bind /dev/x" && [ ! -e "$OCIROOT/bad2" ] &&
        ! find /sys/fs/cgroup -maxdepth 3 -name sandboxd-oci | grep -q .
}
t "a create that fails in sbx-init leaves no state and no cgroup" failed_setup
run_cmd() {
    bundle_with 'c["process"]["args"] = ["/bin/sh", "-c", "echo via-run; exit 6"]'
    run "$T/sandboxd-oci" run --bundle "$T/b" r1
    rc_is 6 && out_is via-run && [ -d "$(field r1 cgroup_v2)" ] &&
        "$T/sandboxd-oci" delete r1 && [ ! -e "$OCIROOT/r1" ] &&
        ! find /sys/fs/cgroup -maxdepth 3 -name sandboxd-oci | grep -q .
}
t "run: create, start and the status; delete removes the cgroup and its parent" run_cmd
t "delete --force of a container that does not exist succeeds" \
    "$T/sandboxd-oci" delete --force no-such-container
t "features: JSON naming the seccomp actions" eval \
    '"$T/sandboxd-oci" features | python3 -c "import json,sys; sys.exit(\"SCMP_ACT_ERRNO\" not in json.load(sys.stdin)[\"linux\"][\"seccomp\"][\"actions\"])"'

# ---- containerd ----
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
    C=$T/containerd
    mkdir -p "$C"
    cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$C/sock"
[ttrpc]
  address = "$C/ttrpc.sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable_cgroup = true
EOF
    containerd --config "$C/config.toml" >"$C/log" 2>&1 &
    ctrd_pid=$!
    ctr_() { ctr --address "$C/sock" --namespace sbx-oci "$@"; }
    ctrd_up() {
        wait_until 30 ctr --address "$C/sock" version &&
            tar -C "$T/rootfs" -c . >"$T/layer.tar" &&
            python3 - "$T" <<'PY' && ctr_ image import --no-unpack=false "$T/oci.tar" >/dev/null
import hashlib, io, json, os, sys, tarfile
t = sys.argv[1]
layer = open(t + "/layer.tar", "rb").read()
def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), data
ld, _ = blob(layer)
cfg = json.dumps({"architecture": "amd64", "os": "linux",
                  "config": {"Cmd": ["/bin/sh"]},
                  "rootfs": {"type": "layers", "diff_ids": [ld]}}).encode()
cd, _ = blob(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                             "digest": cd, "size": len(cfg)},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                              "digest": ld, "size": len(layer)}]}).encode()
md, _ = blob(man)
index = json.dumps({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(man),
     "annotations": {"io.containerd.image.name": "localhost/sbx-oci-test:latest",
                     "org.opencontainers.image.ref.name": "latest"}}]}).encode()
with tarfile.open(t + "/oci.tar", "w") as out:
    def add(name, data):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        out.addfile(ti, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", index)
    for d, data in ((ld, layer), (cd, cfg), (md, man)):
        add("blobs/sha256/" + d[7:], data)
PY
    }
    t "containerd: a private daemon up, the image imported" ctrd_up
    t "containerd: ctr run --runc-binary, output and exit status" eval \
        'run ctr_ run --rm --runc-binary "$T/sandboxd-oci" "$IMG" c1 sh -c "echo via-ctr; exit 4"
         rc_is 4 && out_is via-ctr'
    ctrd_task() {
        ctr_ run -d --runc-binary "$T/sandboxd-oci" "$IMG" c2 sleep 66 >/dev/null || return 1
        wait_until 10 pgrep -x -f "sleep 66" || return 1
        local ok=0
        run ctr_ task exec --exec-id e1 c2 sh -c 'echo in-exec; exit 6'
        if ! rc_is 6 || ! out_is in-exec; then
            say "exec: $rc $(cat "$T/out" "$T/err")"
            ok=1
        fi
        ctr_ task ps c2 | grep -q "$(pgrep -x -f "sleep 66")" || { say "ps"; ok=1; }
        ctr_ task kill -s SIGKILL c2 || ok=1
        wait_until 10 eval '! pgrep -x -f "sleep 66"' || { say "still running"; ok=1; }
        wait_until 10 eval 'ctr_ task rm c2 >/dev/null 2>&1' || ok=1
        ctr_ container rm c2 || ok=1
        return "$ok"
    }
    t "containerd: task exec (status, output), ps, kill, rm" ctrd_task
    t "containerd: nothing left in the runtime's state" eval \
        '[ ! -e "$OCIROOT/c1" ] && [ ! -e "$OCIROOT/c2" ]'
else
    echo "ok $((n + 1)) - containerd # SKIP containerd and ctr are not installed"
    n=$((n + 1))
fi

tap_finish
