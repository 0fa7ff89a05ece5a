#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hand-made OCI image layouts for the image suite (run-image.sh).

mkoci.py CASE DIR writes the layout DIR (tag "t") for CASE:
  all        every entry type and every whiteout case, over three layers
  dotdot, absolute, through-symlink, link-missing, link-outside
             one hostile layer each
  bad-digest, bad-diffid, missing-blob, bad-gzip, bad-mediatype
             a correct layer, then the named damage
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

MTIME = 1700000000


def entry(name, kind="file", data=b"", mode=0o644, uid=0, gid=0, link="", dev=(0, 0),
          xattrs=None, mtime=MTIME):
    return dict(name=name, kind=kind, data=data, mode=mode, uid=uid, gid=gid, link=link,
                dev=dev, xattrs=xattrs or {}, mtime=mtime)


TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
         "fifo": tarfile.FIFOTYPE}


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = TYPES[e["kind"]]
            ti.mode, ti.uid, ti.gid, ti.mtime = e["mode"], e["uid"], e["gid"], e["mtime"]
            ti.linkname = e["link"]
            ti.devmajor, ti.devminor = e["dev"]
            ti.size = len(e["data"]) if e["kind"] == "file" else 0
            if e["xattrs"]:
                ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
            t.addfile(ti, io.BytesIO(e["data"]) if e["kind"] == "file" else None)
    return buf.getvalue()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


CAP = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

LAYER1 = [
    entry("./", "dir", mode=0o755),
    entry("bin/", "dir", mode=0o755),
    entry("bin/tool", data=b"#!/bin/sh\necho tool\n", mode=0o4755, uid=1000, gid=1000),
    entry("bin/sgid", data=b"g", mode=0o2755, gid=50),
    entry("bin/tool-link", "hardlink", link="bin/tool"),
    entry("bin/rel", "symlink", link="tool"),
    entry("bin/abs", "symlink", link="/bin/tool"),
    entry("bin/dangling", "symlink", link="/no/such/" + "long" * 30),
    entry("tmp/", "dir", mode=0o1777),
    entry("dev/", "dir", mode=0o755),
    entry("dev/null", "chr", mode=0o666, dev=(1, 3)),
    entry("dev/disk", "blk", mode=0o660, dev=(259, 300)),
    entry("dev/fifo", "fifo", mode=0o600),
    entry("cap", data=b"\x7fELF" + b"\0" * 9000 + b"end", mode=0o755,
          xattrs={"security.capability": CAP, "user.note": "hello"}),
    entry("big", data=bytes(range(256)) * 4096 + b"\0" * 65536 + b"tail"),
    entry("empty", data=b""),
    entry("typed-mode", data=b"m", mode=0o100640),
    entry("gone-file", data=b"x"),
    entry("gone-dir/", "dir"),
    entry("gone-dir/inner", data=b"y"),
    entry("opaque/", "dir", mode=0o750),
    entry("opaque/old", data=b"old"),
    entry("opaque/sub/", "dir"),
    entry("opaque/sub/deep", data=b"deep"),
    entry("file-to-dir", data=b"f"),
    entry("dir-to-file/", "dir"),
    entry("dir-to-file/x", data=b"x"),
    entry("keep/", "dir"),
    entry("keep/a", data=b"a", mtime=MTIME - 100),
    entry("lower-target", data=b"shared", uid=7, gid=8),
]
LAYER2 = [
    entry("./.wh.gone-file", data=b""),
    entry("./.wh.gone-dir", data=b""),
    entry("opaque/", "dir", mode=0o700),
    entry("opaque/.wh..wh..opq", data=b""),
    entry("opaque/new", data=b"new"),
    entry("file-to-dir/", "dir"),
    entry("file-to-dir/in", data=b"in"),
    entry("dir-to-file", data=b"now a file"),
    entry("keep/a", data=b"replaced", mode=0o600, uid=5),
    entry("keep/.wh.never-existed", data=b""),
    entry("upper-link", "hardlink", link="lower-target"),
]
LAYER3 = [
    entry("bin/rel", "symlink", link="sgid"),
    entry("opaque/sub2/", "dir"),
    entry("opaque/sub2/f", data=b"f", xattrs={"user.a": "1", "trusted.b": "2"}),
]


def write_layout(path, layers, config_extra=None, damage=None):
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)

    def blob(b):
        d = sha(b)
        with open(os.path.join(path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(b)
        return d

    descs, diff_ids = [], []
    for i, (entries, compress) in enumerate(layers):
        raw = tar_bytes(entries)
        diff_ids.append(sha(raw))
        data = gzip.compress(raw, mtime=0) if compress else raw
        mt = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
        last = i == len(layers) - 1
        if last and damage == "bad-gzip":
            data = data[:10] + b"garbage" * 10 + data[80:]
        if last and damage == "bad-mediatype":
            mt = "application/vnd.example.layer.v1.squashfs"
        d = blob(data)
        if last and damage == "bad-digest":
            with open(os.path.join(path, "blobs", "sha256", d[7:]), "r+b") as f:
                f.seek(len(data) - 20)
                f.write(b"X")
        if last and damage == "missing-blob":
            os.unlink(os.path.join(path, "blobs", "sha256", d[7:]))
        if last and damage == "bad-diffid":
            diff_ids[-1] = sha(b"something else")
        descs.append({"mediaType": mt, "digest": d, "size": len(data)})
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo from-config"],
                         "Env": ["PATH=/bin:/usr/bin", "FROM_IMAGE=yes"],
                         "WorkingDir": "/tmp", "User": "0:0",
                         "Labels": {"org.example.name": "all"}},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    if config_extra:
        config["config"].update(config_extra)
    cb = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": blob(cb), "size": len(cb)},
                "layers": descs}
    mb = json.dumps(manifest).encode()
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": blob(mb),
         "size": len(mb), "annotations": {"org.opencontainers.image.ref.name": "t"}}]}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


BASE = [entry("./", "dir", mode=0o755), entry("etc/", "dir"), entry("etc/x", data=b"x")]
HOSTILE = {
    "dotdot": [entry("etc/../../escape", data=b"out")],
    "absolute": [entry("/etc/abs", data=b"out")],
    "through-symlink": [entry("link", "symlink", link="/tmp"), entry("link/owned", data=b"o")],
    "link-missing": [entry("hl", "hardlink", link="no/such/file")],
    "link-outside": [entry("hl", "hardlink", link="../../etc/passwd")],
}


def main():
    case, path = sys.argv[1], sys.argv[2]
    if case == "all":
        write_layout(path, [(LAYER1, False), (LAYER2, True), (LAYER3, True)])
    elif case in HOSTILE:
        write_layout(path, [(BASE + HOSTILE[case], False)])
    else:
        write_layout(path, [(BASE, True), (BASE, True)], damage=case)


if __name__ == "__main__":
    main()
