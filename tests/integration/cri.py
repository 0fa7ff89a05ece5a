#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A pod through containerd's CRI plugin, as kubelet asks for one.

Speaks the CRI (runtime.v1.RuntimeService) over containerd's socket with
grpcio's generic calls and a small protobuf encoder of its own: only the
fields a pod of one app container needs.  Runs the pod sandbox (the pause
container), creates and starts an app container in it with
/dev/termination-log bound from a host file and a CPU request and limit,
waits for it to exit, then stops and removes the pod.  Prints one JSON
object per step on stdout.

Usage: cri.py SOCKET HANDLER STATE_ROOT CGROUP_PARENT LOGDIR TERMLOG IMAGE -- ARGS...
"""
import json
import os
import sys
import time

import grpc

SERVICE = "/runtime.v1.RuntimeService/"


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, value):
    """One field: an int is a varint, bytes/str/a list of pairs a length-delimited value."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, list):
        value = msg(value)
    return varint(num << 3 | 2) + varint(len(value)) + value


def msg(pairs):
    return b"".join(field(n, v) for n, v in pairs if v is not None)


def decode(data):
    """A message as {field: [values]}: ints for varints, bytes for the rest."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = read_varint(data, i)
        elif wire == 2:
            n, i = read_varint(data, i)
            val, i = data[i:i + n], i + n
        elif wire == 1:
            val, i = data[i:i + 8], i + 8
        elif wire == 5:
            val, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        out.setdefault(num, []).append(val)
    return out


def read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def main():
    sock, handler, state_root, cgparent, logdir, termlog, image = sys.argv[1:8]
    assert sys.argv[8] == "--"
    args = sys.argv[9:]
    ch = grpc.insecure_channel("unix://" + sock)

    def call(name, pairs):
        fn = ch.unary_unary(SERVICE + name)
        return decode(fn(msg(pairs), timeout=120))

    def say(**kw):
        print(json.dumps(kw), flush=True)

    # PodSandboxConfig: metadata (name, uid, namespace, attempt), hostname,
    # log_directory, linux (cgroup_parent, security_context.namespace_options:
    # network and ipc POD = 0, pid CONTAINER = 1, as kubelet's default).
    pod_config = [
        (1, [(1, "sbx-pod"), (2, "uid-sbx-pod"), (3, "default"), (4, 0)]),
        (2, "pod-1"),
        (3, logdir),
        (8, [(1, cgparent), (2, [(1, [(1, 0), (2, 1), (3, 0)])])]),
    ]
    r = call("RunPodSandbox", [(1, pod_config), (2, handler)])
    pod = r[1][0].decode()
    say(step="RunPodSandbox", pod=pod)
    try:
        run_app(call, say, pod, pod_config, state_root, termlog, image, args)
    finally:
        # As kubelet ends a pod, also when a step above failed: its network goes with it.
        call("StopPodSandbox", [(1, pod)])
        say(step="StopPodSandbox")
        call("RemovePodSandbox", [(1, pod)])
        say(step="RemovePodSandbox")


def run_app(call, say, pod, pod_config, state_root, termlog, image, args):
    # ContainerConfig: metadata (name), image, command and args (repeated:
    # one field each), mounts (container_path, host_path), log_path, linux
    # (resources: cpu_period, cpu_quota, cpu_shares; security_context:
    # namespace_options as the pod's).
    cconfig = ([(1, [(1, "app"), (2, 0)]), (2, [(1, image)])] + [(3, a) for a in args[:1]] +
               [(4, a) for a in args[1:]] +
               [(7, [(1, "/dev/termination-log"), (2, termlog)]), (11, "app.log"),
                (15, [(1, [(1, 50000), (2, 25000), (3, 512)]),
                      (2, [(3, [(1, 0), (2, 1), (3, 0)])])])])
    r = call("CreateContainer", [(1, pod), (2, cconfig), (3, pod_config)])
    cid = r[1][0].decode()
    say(step="CreateContainer", container=cid)
    call("StartContainer", [(1, cid)])
    say(step="StartContainer")

    # ContainerStatusResponse.status: state (2: EXITED), exit_code.
    end = time.time() + 60
    state = code = None
    while time.time() < end:
        st = decode(call("ContainerStatus", [(1, cid)])[1][0])
        state = st.get(3, [0])[0]
        code = st.get(7, [0])[0]
        if state == 2:
            break
        time.sleep(0.2)
    say(step="ContainerStatus", state=state, exit_code=code)
    # The pause container's sandbox, from the runtime's state: what the app joined.
    with open("%s/%s/state.json" % (state_root, pod)) as f:
        init = json.load(f)["init"]
    say(step="PauseNamespaces",
        ns={n: os.readlink("/proc/%d/ns/%s" % (init, n)) for n in ("net", "ipc", "uts")})


if __name__ == "__main__":
    main()
