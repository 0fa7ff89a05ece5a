#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes a kubelet-shaped config.json, as containerd's CRI plugin makes them.

A pod is a pause container with its own network, ipc and uts namespaces and
app containers that join them by path (/proc/PID/ns/TYPE, PID being what the
runtime wrote to --pid-file), with /dev/termination-log bound from a host
file and the pod's CPU request and limit as linux.resources.cpu.

Usage: ocipod.py BUNDLE ROOTFS CGROUPS_PATH [--hostname H] [--join TYPE=PATH]...
       [--bind SRC:DST]... [--cpu SHARES:QUOTA:PERIOD] -- ARGS...
"""
import argparse
import json
import os

CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bundle")
    p.add_argument("rootfs")
    p.add_argument("cgroups_path")
    p.add_argument("--hostname")
    p.add_argument("--join", action="append", default=[])
    p.add_argument("--bind", action="append", default=[])
    p.add_argument("--cpu")
    p.add_argument("args", nargs="+")
    a = p.parse_args()

    joined = dict(j.split("=", 1) for j in a.join)
    namespaces = []
    for t in ("pid", "ipc", "uts", "mount", "network"):
        n = {"type": t}
        if t in joined:
            n["path"] = joined[t]
        namespaces.append(n)

    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                     "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
    ]
    for b in a.bind:
        src, dst = b.split(":", 1)
        mounts.append({"destination": dst, "type": "bind", "source": src,
                       "options": ["rbind", "rprivate", "rw"]})

    resources = {"devices": [{"allow": False, "access": "rwm"}]}
    if a.cpu:
        shares, quota, period = (int(x) for x in a.cpu.split(":"))
        resources["cpu"] = {"shares": shares}
        if quota:
            resources["cpu"].update(quota=quota, period=period)

    config = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": a.args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOSTNAME=pod-1"],
            "cwd": "/",
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
            "noNewPrivileges": True,
            "oomScoreAdj": 1000,
        },
        "root": {"path": a.rootfs},
        "mounts": mounts,
        "annotations": {"io.kubernetes.cri.container-type":
                        "sandbox" if a.hostname else "container"},
        "linux": {
            "resources": resources,
            "cgroupsPath": a.cgroups_path,
            "namespaces": namespaces,
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    if a.hostname:
        config["hostname"] = a.hostname
    os.makedirs(a.bundle, exist_ok=True)
    with open(os.path.join(a.bundle, "config.json"), "w") as f:
        json.dump(config, f)


if __name__ == "__main__":
    main()
