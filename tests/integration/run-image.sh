#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sandboxctl image build and inspect, reported as TAP: images from a
# directory, tar archives in every compression, hand-made OCI layouts with
# every entry type and whiteout case, and podman's and skopeo's own output
# (docker-archive, oci-archive, oci:), each checked with e2fsck -fn and
# compared entry by entry with `umoci unpack` of the same image (or the
# source tree); POSIX ACLs by getfacl; reproducibility; a member's build
# equal to root's; hostile and damaged inputs with the
# message each gives and no output left; the image config honoured by
# sandboxctl run in a real sandboxd.  Needs root (for the loop mounts that
# read the images back), podman, skopeo, umoci, getfacl and setfacl.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths).
# shellcheck disable=SC2016,SC2034  # guest scripts single-quoted; variables read in eval
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init image SANDBOXD SANDBOXCTL TEST_IMAGE
HERE=$(cd "$(dirname "$0")" && pwd)
for tool in podman skopeo umoci e2fsck debugfs python3 getfacl setfacl; do
    if ! command -v "$tool" >/dev/null; then
        echo "Bail out! $tool is missing (tools/install-deps --tests)"
        exit 1
    fi
done

MNT=$T/mnt
mkdir -p "$MNT" "$T/policies"
cleanup() {
    if mountpoint -q "$MNT"; then
        umount "$MNT" || true
    fi
    suite_cleanup
}
trap cleanup EXIT

build() {
    rc=0
    "$SANDBOXCTL" image build "$@" >"$T/out" 2>"$T/err" || rc=$?
}
err_has() { grep -q -- "$1" "$T/err"; }
fsck_clean() { e2fsck -fn "$1" >"$T/fsck" 2>&1; }

# same_tree IMAGE DIR: IMAGE, mounted read-only, equals DIR entry by entry.
same_tree() {
    mount -o ro,loop "$1" "$MNT"
    local r=0
    python3 "$HERE/treediff.py" "$MNT" "$2" >"$T/diff" 2>&1 || r=$?
    umount "$MNT"
    [ "$r" -eq 0 ]
}

tap_on_fail() {
    say "exit status ${rc:-?}; stdout:"
    diag "$T/out"
    say "stderr:"
    diag "$T/err"
    for f in fsck diff; do
        if [ -s "$T/$f" ]; then
            say "$f:"
            diag "$T/$f"
        fi
    done
}

# The test image's tree, as the source of the directory and tar cases.
ROOT=$T/root
mkdir "$ROOT"
debugfs -R "rdump / $ROOT" "$TEST_IMAGE" >/dev/null 2>&1

build "$ROOT" "$T/dir.ext4"
t "a directory builds" test "$rc" = 0
t "the directory's image passes e2fsck -fn" fsck_clean "$T/dir.ext4"
t "the directory's image holds the directory, entry by entry" same_tree "$T/dir.ext4" "$ROOT"

tar -C "$ROOT" -cf "$T/root.tar" .
for z in gzip xz zstd; do
    "$z" -c "$T/root.tar" >"$T/root.tar.$z"
    # A misleading name: the compression is found by content.
    build "$T/root.tar.$z" "$T/tar-$z.ext4"
    t "a $z tar builds" test "$rc" = 0
    t "the $z tar's image passes e2fsck -fn" fsck_clean "$T/tar-$z.ext4"
    t "the $z tar's image holds the tree, entry by entry" same_tree "$T/tar-$z.ext4" "$ROOT"
done

# POSIX ACLs (access and default), from a directory and from GNU tar's SCHILY.acl records,
# as getfacl sees them in the mounted image: only the entries with more than the mode (-s).
ACL=$T/acl
mkdir -p "$ACL/d/sub"
echo acl >"$ACL/f"
setfacl -m u:1234:rw,g:55:r,m::rw "$ACL/f"
setfacl -m u:4321:rwx "$ACL/d"
setfacl -d -m u:4321:rx,g:77:rwx "$ACL/d"
# acls DIR: getfacl's listing of DIR, a line for each file, sorted (readdir's order differs).
acls() { (cd "$1" && getfacl -R -s -n -p .) | awk -v RS= '{ gsub("\n", " "); print }' | sort; }
acls "$ACL" >"$T/acl.want"
same_acls() {
    mount -o ro,loop "$1" "$MNT"
    local r=0
    acls "$MNT" >"$T/acl.got" 2>&1 || r=1
    # With a mask, the group bits are the mask's.
    [ "$(stat -c %a "$MNT/f")" = 664 ] || r=1
    umount "$MNT"
    diff -u "$T/acl.want" "$T/acl.got" >"$T/diff" || r=1
    [ "$r" -eq 0 ] && grep -q ' user:1234:rw- ' "$T/acl.got" &&
        grep -q ' default:group:77:rwx ' "$T/acl.got"
}
build "$ACL" "$T/acl-dir.ext4"
t "a directory's POSIX ACLs are in its image" eval 'test "$rc" = 0 && same_acls "$T/acl-dir.ext4"'
tar --acls --format=posix -C "$ACL" -cf "$T/acl.tar" .
build "$T/acl.tar" "$T/acl-tar.ext4"
t "a tar's SCHILY.acl records are the image's POSIX ACLs" \
    eval 'test "$rc" = 0 && same_acls "$T/acl-tar.ext4"'
# GNU tar names the users and groups an ACL entry gives a name for on its host.
mkdir "$T/acl-named"
touch "$T/acl-named/f"
setfacl -m u:0:r "$T/acl-named/f"
tar --acls --format=posix -C "$T/acl-named" -cf "$T/acl-named.tar" .
build "$T/acl-named.tar" "$T/acl-named.ext4"
t "an ACL entry naming a user without its number is refused, named" \
    eval 'test "$rc" = 1 && err_has "entry ../f.: ACL entry .user:root. names its user without a number" &&
        [ ! -e "$T/acl-named.ext4" ]'
# bsdtar's record of an NFSv4 ACL, which POSIX ACLs cannot express.
python3 - "$T/nfs4.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo("f")
    ti.size = 2
    ti.pax_headers = {"SCHILY.acl.ace": "owner@:rw-p--aARWcCos:-------:allow"}
    t.addfile(ti, io.BytesIO(b"hi"))
EOF
build "$T/nfs4.tar" "$T/nfs4.ext4"
t "an NFSv4 ACL is refused, named" \
    eval 'test "$rc" = 1 && err_has "entry .f.: an NFSv4 ACL, which ext4 cannot hold" &&
        [ ! -e "$T/nfs4.ext4" ]'

# Every entry type and whiteout case over three layers, two of them gzip.
python3 "$HERE/mkoci.py" all "$T/all"
build "oci:$T/all:t" "$T/all.ext4"
t "a hand-made OCI layout builds" test "$rc" = 0
t "its image passes e2fsck -fn" fsck_clean "$T/all.ext4"
umoci unpack --image "$T/all:t" "$T/all-bundle" >/dev/null 2>&1
t "its image equals umoci unpack, entry by entry" same_tree "$T/all.ext4" "$T/all-bundle/rootfs"
whiteouts_applied() {
    mount -o ro,loop "$T/all.ext4" "$MNT"
    local r=0
    [ ! -e "$MNT/gone-file" ] && [ ! -e "$MNT/gone-dir" ] && [ ! -e "$MNT/opaque/old" ] &&
        [ ! -e "$MNT/opaque/sub" ] && [ -f "$MNT/opaque/new" ] && [ -d "$MNT/file-to-dir" ] &&
        [ -f "$MNT/dir-to-file" ] && [ "$(cat "$MNT/keep/a")" = replaced ] &&
        [ "$(stat -c %i "$MNT/lower-target")" = "$(stat -c %i "$MNT/upper-link")" ] &&
        [ "$(stat -c %a "$MNT/bin/tool")" = 4755 ] && [ "$(readlink "$MNT/bin/rel")" = sgid ] &&
        python3 -c 'import os,sys; os.getxattr(sys.argv[1], "security.capability")' "$MNT/cap" &&
        [ -z "$(find "$MNT" -name '.wh.*')" ] || r=1
    umount "$MNT"
    return "$r"
}
t "whiteouts, opaque directories, overrides and cross-layer hard links applied" whiteouts_applied

build "oci:$T/all:t" "$T/again.ext4"
t "the same layout gives a byte-identical image" cmp -s "$T/all.ext4" "$T/again.ext4"
build "oci:$T/all" "$T/untagged.ext4"
# The metadata after the filesystem names the source as given, so only the filesystems compare.
fs_bytes=$(debugfs -R stats "$T/all.ext4" 2>/dev/null | sed -n 's/^Block count: *//p')
t "a layout with one image needs no tag" \
    cmp -s -n $((fs_bytes * 4096)) "$T/all.ext4" "$T/untagged.ext4"
build "oci:$T/all:nope" "$T/nope.ext4"
t "an unknown tag is an error listing the tags" \
    eval 'test "$rc" = 1 && err_has "no image tagged .nope. (there are: t)" && [ ! -e "$T/nope.ext4" ]'

# podman's and skopeo's output, made offline from the test image's tree.
PM=$T/podman
mkdir -p "$PM/ctx"
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' \
    >"$PM/containers.conf"
printf '[storage]\ndriver = "vfs"\nrunroot = "%s/run"\ngraphroot = "%s/root"\n' "$PM" "$PM" \
    >"$PM/storage.conf"
export CONTAINERS_CONF=$PM/containers.conf CONTAINERS_STORAGE_CONF=$PM/storage.conf
echo "added by build" >"$PM/ctx/added.txt"
cat >"$PM/ctx/Containerfile" <<'EOF'
FROM localhost/sbx-image-base:1
COPY added.txt /srv/added.txt
ENV GREETING=hello
WORKDIR /srv
LABEL org.example.suite=image
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING from $(pwd) as $(id -u)"]
EOF
podman_made() {
    podman import "$T/root.tar" localhost/sbx-image-base:1 &&
        podman build --pull=never -t localhost/sbx-image-app:1 "$PM/ctx" &&
        podman save --format docker-archive -o "$PM/app.docker.tar" localhost/sbx-image-app:1 &&
        podman save --format oci-archive -o "$PM/app.oci.tar" localhost/sbx-image-app:1 &&
        skopeo copy containers-storage:localhost/sbx-image-app:1 oci:"$PM/layout":app &&
        umoci unpack --image "$PM/layout:app" "$PM/bundle"
}
t "podman import, build, save and skopeo copy made the images" \
    eval 'podman_made >"$T/out" 2>"$T/err"'
for src in "docker-archive:$PM/app.docker.tar" "oci-archive:$PM/app.oci.tar" \
    "oci:$PM/layout:app"; do
    kind=${src%%:*}
    build "$src" "$T/$kind.ext4"
    t "$kind from podman builds" test "$rc" = 0
    t "$kind: its image passes e2fsck -fn" fsck_clean "$T/$kind.ext4"
    t "$kind: its image equals umoci unpack, entry by entry" \
        same_tree "$T/$kind.ext4" "$PM/bundle/rootfs"
done
two_tags() {
    skopeo copy "oci:$PM/layout:app" "oci:$T/two:a" && skopeo copy "oci:$PM/layout:app" "oci:$T/two:b"
}
t "a layout with two images needs a tag, and the error lists them" \
    eval 'two_tags >"$T/out" 2>"$T/err" && build "oci:$T/two" "$T/two.ext4" && test "$rc" = 1 &&
        err_has "2 images, name one with :TAG (there are: a, b)" && [ ! -e "$T/two.ext4" ]'
inspect_shows() {
    "$SANDBOXCTL" image inspect "$T/oci.ext4" >"$T/out" 2>"$T/err" &&
        grep -q "^digest  *sha256:" "$T/out" && grep -q '^WorkingDir  */srv' "$T/out" &&
        grep -q '^label  *org.example.suite=image' "$T/out" && grep -q '^sitemap  *yes' "$T/out"
}
t "image inspect shows the digest, config, labels and a site map (root's build)" inspect_shows
mkdir -m 0777 "$T/member"
rc=0
setpriv --reuid=4242 --regid=65534 --clear-groups "$SANDBOXCTL" image build \
    "oci:$PM/layout:app" "$T/member/app.ext4" >"$T/out" 2>"$T/err" || rc=$?
# It cannot mount, so its helper is handed the files instead: the same map, the same bytes.
t "a member's build equals root's byte for byte, site map included" \
    eval 'test "$rc" = 0 && [ ! -s "$T/err" ] && [ "$(stat -c %u "$T/member/app.ext4")" = 4242 ] &&
        "$SANDBOXCTL" image inspect "$T/member/app.ext4" | grep -q "^sitemap  *yes" &&
        cmp "$T/oci.ext4" "$T/member/app.ext4" >"$T/diff" 2>&1'
# Root in a user namespace of its own cannot mount either: its helper is handed the files too.
rc=0
unshare -Ur "$SANDBOXCTL" image build "oci:$PM/layout:app" "$T/userns.ext4" >"$T/out" 2>"$T/err" ||
    rc=$?
t "root that cannot mount still stores a site map" \
    eval 'test "$rc" = 0 && [ ! -s "$T/err" ] &&
        "$SANDBOXCTL" image inspect "$T/userns.ext4" | grep -q "^sitemap  *yes"'

t "image inspect --json gives the same document" \
    eval '"$SANDBOXCTL" image inspect --json "$T/oci.ext4" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d[\"config\"][\"Cmd\"] and d[\"kind\"] == \"oci\"" 2>"$T/err"'
rc=0
"$SANDBOXCTL" image inspect "$TEST_IMAGE" >"$T/out" 2>"$T/err" || rc=$?
t "image inspect of a plain image says it has no metadata" \
    eval 'test "$rc" = 1 && err_has "no metadata"'
build --label owner=suite --label org.example.suite=override "oci:$PM/layout:app" "$T/labels.ext4"
t "--label adds and overrides labels" \
    eval '"$SANDBOXCTL" image inspect "$T/labels.ext4" | grep -q "^label  *org.example.suite=override" &&
        "$SANDBOXCTL" image inspect "$T/labels.ext4" | grep -q "^label  *owner=suite"'
build --size 64M "$ROOT" "$T/sized.ext4"
t "--size sets the filesystem's size" \
    eval 'test "$rc" = 0 && [ "$(debugfs -R stats "$T/sized.ext4" 2>/dev/null | sed -n "s/^Block count: *//p")" = 16384 ]'
build --size 8M "$ROOT" "$T/small.ext4"
t "a --size too small fails, says so, and leaves nothing" \
    eval 'test "$rc" = 1 && err_has "give a larger --size" && [ ! -e "$T/small.ext4" ] &&
        ! ls "$T"/small.ext4.tmp-* >/dev/null 2>&1'
rc=0
script -qec "$SANDBOXCTL image build $ROOT $T/tty.ext4" /dev/null >"$T/out" 2>&1 || rc=$?
t "on a terminal a build shows its progress" eval 'test "$rc" = 0 && grep -q "entries" "$T/out"'
rc=0
script -qec "$SANDBOXCTL image build --quiet $ROOT $T/tty-quiet.ext4" /dev/null >"$T/out" 2>&1 || rc=$?
t "--quiet on a terminal prints nothing" eval 'test "$rc" = 0 && [ ! -s "$T/out" ]'
build "$ROOT" "$T/quiet.ext4"
t "without a terminal it prints nothing" eval 'test "$rc" = 0 && [ ! -s "$T/err" ]'

# Hostile layers and damaged images: each refused by name, nothing left behind.
check_refused() {
    local case=$1 want=$2
    python3 "$HERE/mkoci.py" "$case" "$T/h-$case"
    build "oci:$T/h-$case" "$T/h-$case.ext4"
    test "$rc" = 1 && err_has "$want" && [ ! -e "$T/h-$case.ext4" ] &&
        ! ls "$T/h-$case.ext4".tmp-* >/dev/null 2>&1
}
t "'..' in a name is refused" check_refused dotdot "entry 'etc/../../escape': a '..' component"
t "an absolute name is refused" check_refused absolute "entry '/etc/abs': an absolute name"
t "writing through a symlink is refused" \
    check_refused through-symlink "entry 'link/owned': 'link' is a symlink"
t "a hard link to a missing entry is refused" \
    check_refused link-missing "entry 'hl': a hard link to 'no/such/file', which is not"
t "a hard link out of the tree is refused" \
    check_refused link-outside "hard link target '../../etc/passwd': a '..' component"
t "a blob whose sha256 differs is refused" check_refused bad-digest "sha256 mismatch: the manifest"
t "a layer whose diff_id differs is refused" \
    check_refused bad-diffid "layer 2 (sha256:[0-9a-f]*): uncompressed sha256 mismatch"
t "a missing blob is named" check_refused missing-blob "blob 'blobs/sha256/[0-9a-f]*': missing"
t "a bad gzip stream is named" check_refused bad-gzip "layer 2 (sha256:[0-9a-f]*): .*gzip"
t "an unsupported media type is named" \
    check_refused bad-mediatype "unsupported media type 'application/vnd.example.layer.v1.squashfs'"
t "nothing was written outside the images" \
    eval '! ls /escape /etc/abs "$T/escape" >/dev/null 2>&1 && ! grep -q owned /tmp/owned 2>/dev/null'

# The config, honoured by sandboxctl run in a real sandboxd.
suite_daemon
run() {
    rc=0
    timeout 60 "$@" >"$T/out" 2>"$T/err" || rc=$?
}
IMG=$T/oci.ext4
chmod 0644 "$IMG" "$T/all.ext4" "$T/dir.ext4"
run "$SANDBOXCTL" run --socket "$SOCK" "$IMG"
t "run IMAGE runs Entrypoint + Cmd in WorkingDir with Env" \
    eval 'test "$rc" = 0 && [ "$(cat "$T/out")" = "hello from /srv as 0" ]'
t "its first rewrite-mode run uses the site map stored in it" \
    eval 'grep -q "site map of [1-9][0-9]* files, [0-9]* sites, from the image file" "$T/sandboxd.log" &&
        [ -z "$(ls -A "$T/state/sitemaps" 2>/dev/null)" ]'
run "$SANDBOXCTL" run --socket "$SOCK" "$IMG" 'echo replaced in $PWD'
t "run IMAGE CMD replaces Cmd, keeps Entrypoint" \
    eval 'test "$rc" = 0 && [ "$(cat "$T/out")" = "replaced in /srv" ]'
# Changed after the build, its filesystem no longer matches the stored map: the helper makes one.
cp "$IMG" "$T/changed.ext4"
debugfs -w -R "write $T/root.tar.gzip /srv/new" "$T/changed.ext4" >/dev/null 2>&1
chmod 0644 "$T/changed.ext4"
run "$SANDBOXCTL" run --socket "$SOCK" "$T/changed.ext4"
changed_map=$T/state/sitemaps/$(stat -c '%d %i' "$T/changed.ext4" | awk '{ printf "%x-%x.map", $1, $2 }')
t "a built image changed since is given a new site map, not its stale one" \
    eval 'test "$rc" = 0 && wait_until 30 test -s "$changed_map" &&
        [ "$(grep -c "from the image file" "$T/sandboxd.log")" = 1 ]'
run "$SANDBOXCTL" run --socket "$SOCK" -e GREETING=bye -w / "$IMG"
t "-e and -w override Env and WorkingDir" \
    eval 'test "$rc" = 0 && [ "$(cat "$T/out")" = "bye from / as 0" ]'
run "$SANDBOXCTL" run --socket "$SOCK" -u 4242 "$IMG"
t "-u runs the image as the user it names" \
    eval 'test "$rc" = 0 && [ "$(cat "$T/out")" = "hello from /srv as 4242" ]'
printf 'process:\n  cwd: /tmp\n  env: { GREETING: policy }\n' >"$T/policies/over.yaml"
run "$SANDBOXCTL" run --socket "$SOCK" --policy over "$IMG"
t "the policy's cwd and env override the config" \
    eval 'test "$rc" = 0 && [ "$(cat "$T/out")" = "policy from /tmp as 0" ]'
run setpriv --reuid=4242 --regid=65534 --clear-groups "$SANDBOXCTL" run --socket "$SOCK" "$IMG"
t "a member runs an image without User as itself" \
    eval 'test "$rc" = 0 && [ "$(cat "$T/out")" = "hello from /srv as 4242" ]'
run setpriv --reuid=4242 --regid=65534 --clear-groups "$SANDBOXCTL" run --socket "$SOCK" \
    "$T/all.ext4" /bin/tool
# In a user namespace of its own guest root is no one on the host: the
# image's User 0:0 is the member's to become (run-userns.sh checks the ids).
t "a member becomes the image's User 0:0 in a user namespace of its own" \
    eval 'test "$rc" != 125 && ! err_has "permission denied"'
run "$SANDBOXCTL" run --socket "$SOCK" "$T/dir.ext4"
t "an image without Entrypoint or Cmd needs a command" \
    eval 'test "$rc" = 125 && err_has "no command given, and the image.s config has neither"'
run "$SANDBOXCTL" run --socket "$SOCK" "$T/dir.ext4" /bin/echo built
t "a built directory image runs a command" eval 'test "$rc" = 0 && [ "$(cat "$T/out")" = built ]'
run "$SANDBOXCTL" run --socket "$SOCK" "$TEST_IMAGE"
t "a plain image without a command is refused" \
    eval 'test "$rc" = 125 && err_has "no command given (only an image made by"'
cp "$IMG" "$T/damaged.ext4"
printf 'X' | dd of="$T/damaged.ext4" bs=1 seek=$(($(stat -c %s "$T/damaged.ext4") - 100)) \
    conv=notrunc 2>/dev/null
run "$SANDBOXCTL" run --socket "$SOCK" "$T/damaged.ext4" /bin/true
t "damaged metadata fails the run, named" \
    eval 'test "$rc" = 125 && err_has "image metadata damaged"'

tap_finish
