#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the test image: busybox-static (every applet linked), a small /etc,
# and the project's guest programs under /sbx, packed with mkfs.ext4 -d.
# Usage: mkimage.sh OUT.ext4 [GUEST_PROGRAM...]
set -euo pipefail

out=$1
shift
busybox=${BUSYBOX:-/bin/busybox}
# The image has no libc of its own, so busybox must be the static build.
if ! [ -x "$busybox" ] || ! { ldd "$busybox" 2>&1 || true; } | grep -q 'not a dynamic'; then
    echo "mkimage.sh: $busybox is not a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,dev,tmp,root,sbx,home/sbxuser,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"
install -m 0755 "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
done

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
sbxuser:x:1000:1000:sandbox test user:/home/sbxuser:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
users:x:100:sbxuser
sbxgroup:x:1000:
nogroup:x:65534:
GROUP
echo "sandboxd test image" >"$root/etc/sbx-image"
chmod 0644 "$root/etc/sbx-image"
chown 1000:1000 "$root/home/sbxuser"

for prog in "$@"; do
    install -m 0755 "$prog" "$root/sbx/$(basename "$prog")"
done

size_kb=$(du -sk "$root" | cut -f1)
size_mb=$(( size_kb / 1024 + 24 ))
rm -f "$out"
mkfs.ext4 -q -F -L sbxtest -d "$root" "$out" "${size_mb}M"
