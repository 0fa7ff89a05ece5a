#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian test root filesystem: debootstrap (minbase, bookworm) into
# OUTDIR/rootfs, packed into OUTDIR/debian.ext4 with mkfs.ext4 -d. Cached: a
# stamp file records the script version and package list, and a matching stamp
# makes the run a no-op. Runs hold an exclusive flock on OUTDIR/.lock.
# Usage: mkdebian.sh [OUTDIR]   (default /var/cache/sandboxd-test)
set -euo pipefail

# Bump when the way the root filesystem is made changes, so caches rebuild.
script_version=2
suite=bookworm
variant=minbase
# minbase already brings bash, coreutils, dash, gzip, tar, sed, grep, findutils.
# libpython3.11-stdlib: json and the rest of the standard library for the workloads.
packages=(bash coreutils gzip tar python3-minimal libpython3.11-stdlib sqlite3)

prog=mkdebian.sh
die() {
    echo "$prog: $*" >&2
    exit 1
}

outdir=${1:-/var/cache/sandboxd-test}
[ $# -le 1 ] || die "usage: $prog [OUTDIR]"
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap creates device nodes and root-owned files)"

mkdir -p "$outdir" || die "cannot create $outdir"
outdir=$(cd "$outdir" && pwd)
stamp="$outdir/stamp"
image="$outdir/debian.ext4"
rootfs="$outdir/rootfs"
work="$outdir/rootfs.new"

want_stamp=$(printf 'script_version=%s\nsuite=%s\nvariant=%s\npackages=%s\n' \
    "$script_version" "$suite" "$variant" "${packages[*]}")

cached() {
    [ -f "$image" ] && [ -d "$rootfs" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ]
}
# Readers of the cache (tests) hold a shared lock while they use it, so the
# check takes a shared lock too; only a rebuild takes the exclusive lock, the
# one writer. flock converts the lock, not atomically, hence the second check.
exec 9>"$outdir/.lock"
flock -s 9 || die "cannot lock $outdir/.lock"
cached && exit 0
flock 9 || die "cannot lock $outdir/.lock"
cached && exit 0

# Prints the first archive URI in the host's apt sources that serves $suite's
# main component, for both one-line (.list) and deb822 (.sources) files.
host_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == s) { print $i; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" s "( |$)") &&
                    enabled != "no" && uris != "") { split(uris, u, " "); print u[1]; exit }
                types = suites = uris = enabled = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "types:" { $1 = ""; types = $0 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            tolower($1) == "uris:" { $1 = ""; uris = $0 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { flush() }' "$f"
    done
}

mirror=${SBX_DEBIAN_MIRROR:-$(host_mirror | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}

if ! command -v debootstrap >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } ||
        die "debootstrap is missing and apt-get install debootstrap failed"
fi
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 is missing (apt-get install e2fsprogs)"

# Unmounts whatever debootstrap left mounted under $1 (it mounts /proc and
# /sys in the target), deepest first, so that rm never walks into a host fs.
unmount_under() {
    local dir=$1 mnt
    awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r mnt; do
        umount -l "$mnt" || die "cannot unmount $mnt"
    done
}
remove_tree() {
    [ -e "$1" ] || return 0
    unmount_under "$1"
    rm -rf --one-file-system "$1"
}
cleanup() {
    remove_tree "$work"
    rm -f "$image.new"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -f "$stamp"
remove_tree "$work"
start=$(date +%s)
echo "$prog: debootstrap $variant $suite from $mirror into $rootfs" >&2
include=$(
    IFS=,
    echo "${packages[*]}"
)
if ! debootstrap --variant="$variant" --include="$include" "$suite" "$work" "$mirror" \
    >"$outdir/debootstrap.log" 2>&1; then
    tail -n 20 "$outdir/debootstrap.log" >&2
    die "debootstrap failed (full log: $outdir/debootstrap.log)"
fi
unmount_under "$work"

# Downloaded archives and package lists are not needed to run programs.
rm -rf "$work"/var/cache/apt/archives/*.deb "$work"/var/lib/apt/lists/* "$work"/var/log/*.log
echo sandboxd-debian >"$work/etc/hostname"
echo "sandboxd Debian test image ($suite, $variant)" >"$work/etc/sbx-image"

# ext4 metadata and the journal need room beyond the files: 10% plus 32 MiB.
size_kb=$(du -sk --apparent-size "$work" | cut -f1)
size_mb=$((size_kb * 11 / 10 / 1024 + 32))
inodes=$(($(find "$work" -xdev | wc -l) * 2 + 4096))
rm -f "$image.new"
mkfs.ext4 -q -F -L sbxdebian -N "$inodes" -d "$work" "$image.new" "${size_mb}M" ||
    die "mkfs.ext4 -d $work failed"

remove_tree "$rootfs"
mv "$work" "$rootfs"
mv -f "$image.new" "$image"
printf '%s' "$want_stamp" >"$stamp"
trap - EXIT
end=$(date +%s)
echo "$prog: built $image ($(du -h --apparent-size "$image" | cut -f1) image," \
    "$(du -sh "$rootfs" | cut -f1) rootfs) in $((end - start)) s" >&2
