#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A Kubernetes pod under sandboxd-oci through containerd's CRI plugin,
# reported as TAP: a private containerd whose CRI runtime handler
# "sandboxd" is the runc shim with BinaryName sandboxd-oci, driven by
# cri.py as kubelet drives it (RunPodSandbox, CreateContainer,
# StartContainer, ContainerStatus, StopPodSandbox, RemovePodSandbox).
# Offline: the pause and app images are the test image's tree, imported
# with ctr into the k8s.io namespace; the pod network is a loopback-only
# CNI configuration.  Needs root; skipped without containerd, ctr, the CNI
# plugins or Debian's python3-grpcio.
# Environment: SANDBOXD_OCI, TEST_IMAGE, CRI (paths).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
skip() {
    echo "1..0 # SKIP $1"
    exit 0
}
if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
    skip "containerd and ctr are not installed (tools/install-deps --tests)"
fi
[ -x /usr/lib/cni/loopback ] || skip "the CNI plugins are not installed (containernetworking-plugins)"
/usr/bin/python3 -c 'import grpc' 2>/dev/null || skip "python3-grpcio is not installed"
# The pod's veth pair gets addresses of a benchmarking range (RFC 2544) that
# the host must not use itself.
NET=198.18.213
if ip -4 addr | grep -q " ${NET%.*}\." || ip -4 route | grep -q "^${NET%.*}\."; then
    skip "the host uses ${NET%.*}.0.0/16, which the suite's pod network needs"
fi
suite_init oci-cri SANDBOXD_OCI TEST_IMAGE CRI
C=$T/containerd
OCIROOT=$T/ocistate
CG=/${T##*/}
ctrd_pid=
# The runc shim keeps fifos and sockets in /run/containerd whatever the root;
# the CRI plugin names pod network namespaces in /run/netns.
made_runctrd=0
[ -e /run/containerd ] || made_runctrd=1
# libcni caches results in /var/lib/cni whatever the configuration.
made_varlibcni=0
[ -e /var/lib/cni ] || made_varlibcni=1
made_runnetns=0
[ -e /run/netns ] || made_runnetns=1

cleanup() {
    local d
    if [ -n "$ctrd_pid" ]; then
        kill -TERM "$ctrd_pid" 2>/dev/null || true
        wait "$ctrd_pid" 2>/dev/null || true
    fi
    for d in "$OCIROOT"/k8s.io/*; do
        [ -d "$d" ] || continue
        "$SANDBOXD_OCI" --root "$OCIROOT/k8s.io" delete --force "${d##*/}" >/dev/null 2>&1 || true
    done
    grep -o " $T/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done || true
    [ "$made_runctrd" = 0 ] || rm -rf /run/containerd
    [ "$made_varlibcni" = 0 ] || rm -rf /var/lib/cni
    [ "$made_runnetns" = 0 ] || rmdir /run/netns 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$C/cni" "$T/logs" "$T/rootfs"
cat >"$C/cni/10-sbx.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "sbx-cri-test", "plugins": [{"type": "ptp", "ipMasq": false,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "$NET.0/28"}]], "dataDir": "$C/ipam"}}]}
EOF
cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$C/sock"
[ttrpc]
  address = "$C/ttrpc.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/sbx-pause:latest"
  # The pause container asks for oomScoreAdj -998, which needs
  # CAP_SYS_RESOURCE; some hosts' root lacks it (as for podman's ulimits).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$C/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "sandboxd"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sandboxd]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sandboxd.options]
      BinaryName = "$SANDBOXD_OCI"
      Root = "$OCIROOT"
EOF
containerd --config "$C/config.toml" >"$C/log" 2>&1 &
ctrd_pid=$!

# Two images of the test image's tree: the pause container's sleeps.
images() {
    debugfs -R "rdump / $T/rootfs" "$TEST_IMAGE" >/dev/null 2>&1
    tar -C "$T/rootfs" -c . >"$T/layer.tar"
    python3 - "$T" <<'PY'
import hashlib, io, json, sys, tarfile
t = sys.argv[1]
layer = open(t + "/layer.tar", "rb").read()
def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()
blobs = {digest(layer): layer}
manifests = []
for name, cmd in (("localhost/sbx-pause:latest", ["sleep", "100000"]),
                  ("localhost/sbx-oci-test:latest", ["/bin/sh"])):
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": cmd},
                      "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}).encode()
    man = json.dumps({"schemaVersion": 2,
                      "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                 "digest": digest(cfg), "size": len(cfg)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                  "digest": digest(layer), "size": len(layer)}]}).encode()
    blobs[digest(cfg)] = cfg
    blobs[digest(man)] = man
    manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "digest": digest(man), "size": len(man),
                      "annotations": {"io.containerd.image.name": name}})
index = json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()
with tarfile.open(t + "/oci.tar", "w") as out:
    def add(name, data):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        out.addfile(ti, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", index)
    for d, data in blobs.items():
        add("blobs/sha256/" + d[7:], data)
PY
    ctr --address "$C/sock" -n k8s.io images import "$T/oci.tar" >/dev/null
}
up() { wait_until 30 ctr --address "$C/sock" version && images; }
t "cri: a private containerd up, the pause and app images imported" up

: >"$T/termination-log"
pod() {
    rc=0
    /usr/bin/python3 "$CRI" "$C/sock" sandboxd "$OCIROOT/k8s.io" "$CG" "$T/logs" \
        "$T/termination-log" localhost/sbx-oci-test:latest -- sh -c \
        'for n in net ipc uts; do readlink /proc/self/ns/$n; done >/dev/termination-log
         hostname >>/dev/termination-log; exit 7' >"$T/out" 2>"$T/err" || rc=$?
    rc_is 0
}
t "cri: a pod runs through RunPodSandbox .. RemovePodSandbox" pod
step() { grep "\"step\": \"$1\"" "$T/out"; }
t "cri: the app container exited with its status" eval \
    'step ContainerStatus | grep -q "\"state\": 2, \"exit_code\": 7"'
joined() {
    local want
    want=$(step PauseNamespaces | /usr/bin/python3 -c \
        'import json,sys; n=json.load(sys.stdin)["ns"]; print("\n".join(n[k] for k in ("net","ipc","uts")))') ||
        return 1
    [ "$(wc -l <<<"$want")" = 3 ] && [ "$(head -3 "$T/termination-log")" = "$want" ] &&
        [ "$(sed -n 3p "$T/termination-log")" != "$(readlink /proc/self/ns/uts)" ] &&
        [ "$(sed -n 2p "$T/termination-log")" != "$(readlink /proc/self/ns/ipc)" ]
}
t "cri: the app was in the pause sandbox's net, ipc and uts, through /dev/termination-log" joined
t "cri: the app saw the pod's hostname" eval '[ "$(sed -n 4p "$T/termination-log")" = pod-1 ]'
t "cri: nothing left in the runtime's state" eval \
    '[ -z "$(ls -A "$OCIROOT/k8s.io" 2>/dev/null)" ] && ! ls -d /sys/fs/cgroup/*"$CG"/*/ 2>/dev/null'
t "cri: the pod's network is gone with it (no veth of its range on the host)" eval \
    '! ip -4 addr | grep -q " $NET\."'
tap_finish
