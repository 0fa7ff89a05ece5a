#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What the fds a client sends prove, reported as TAP: sandboxd refuses fds
# that prove no right to read or write what it relies on (fdattack speaks the
# protocol with crafted fds), a caller other than root runs the guest as
# itself unless an operator's policy says otherwise, and sandboxctl neither
# ties each bind fd to the source the policy names, takes no id of an
# operator's policy from the caller's image, and sandboxctl neither
# hangs on a FIFO nor hands its own fds to the guest when started with 0-2
# closed.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, FDATTACK (paths).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016  # guest scripts single-quoted
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
# The identity rules checked here are those of the host's user namespace
# (`userns: host`, or a daemon with no subordinate ids): the daemon gets
# none.  run-userns.sh checks those of a sandbox's own user namespace.
SUBID_BLOCKS=0
suite_init fdcheck SANDBOXD SANDBOXCTL TEST_IMAGE FDATTACK
IMG=$T/test.ext4
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
# Another user's image: only root may open it.
cp "$TEST_IMAGE" "$T/secret.ext4"
chmod 0600 "$T/secret.ext4"
cp "$TEST_IMAGE" "$T/writable.ext4"
mkdir -p "$T/policies" "$T/hostro" "$T/private" "$T/report" "$T/opsrc" "$T/uiddir"
echo "from the host" >"$T/hostro/file"
ln -s hostro "$T/hostro-link"
echo "the operator's source" >"$T/opsrc/file"
# A directory the attacker can open, with a file only uid 1000 can read.
echo "for uid 1000 only" >"$T/uiddir/only1000"
chown 1000:1000 "$T/uiddir/only1000"
chmod 0600 "$T/uiddir/only1000"
# A file only root and group 0 can read.
echo "for group 0 only" >"$T/hostro/root-group"
chmod 0640 "$T/hostro/root-group"
echo "a host file" >"$T/hostfile"
chmod 0644 "$T/hostfile"
echo "root's secret" >"$T/private/secret"
chmod 0700 "$T/private"
mkfifo "$T/fifo"
# The attacker: not root, a member of the daemon's group (nogroup) only.
ATTACKER=4242
as_attacker=(setpriv "--reuid=$ATTACKER" --regid=65534 --clear-groups --)


out_has() { grep -q -- "$1" "$T/out"; }
err_has() { grep -q -- "$1" "$T/err"; }

# attack [--as-attacker] CASE IMAGE PATH [CMD...]: one fdattack case.
attack() {
    local as=()
    if [ "$1" = --as-attacker ]; then
        as=("${as_attacker[@]}")
        shift
    fi
    rc=0
    timeout -k 5 90 "${as[@]}" "$FDATTACK" "$SOCK" "$@" >"$T/out" 2>"$T/err" || rc=$?
}

# refused WORDS: the last attack got ERROR (and no guest ran), naming WORDS.
refused() {
    grep '^ERROR' "$T/out" | diag
    rc_is 0 && out_has "^ERROR" && ! out_has STARTED && out_has "$1"
}

# run [--as-attacker] [--image IMAGE] POLICY CMD...: sandboxctl run of IMAGE
# (default $IMG; "-" for no policy).
run() {
    local as=() img=$IMG
    if [ "$1" = --as-attacker ]; then
        as=("${as_attacker[@]}")
        shift
    fi
    if [ "$1" = --image ]; then
        img=$2
        shift 2
    fi
    local p=$1
    shift
    local pol=()
    [ "$p" = - ] || pol=(--policy "$p")
    rc=0
    timeout -k 5 60 "${as[@]}" "$SANDBOXCTL" run --socket "$SOCK" "${pol[@]}" "$img" "$@" \
        >"$T/out" 2>"$T/err" || rc=$?
}

suite_daemon

# ---- fds a client sends: the controls first, so the client is shown to work ---

attack run-ok "$IMG" -
t "control: a RUN with an image opened read-only boots it" \
    eval 'rc_is 0 && out_has "sandboxd test image"'
attack bind-ok "$IMG" "$T/hostro" /bin/cat /fdattack/file
t "control: a bind source opened read-only is mounted" eval 'rc_is 0 && out_has "from the host"'
attack writable-ok "$T/writable.ext4" - /bin/sh -c 'echo kept > /etc/kept'
t "control: a writable image opened read-write is written" rc_is 0

# The image is cached now (idle): the cache must not match an fd that proves nothing.
attack image-opath "$IMG" -
t "an O_PATH image fd is refused, even for a cached image" eval 'refused "image.*O_PATH"'
attack image-wronly "$IMG" -
t "an image fd opened write-only is refused" eval 'refused "image.*not open for reading"'
attack bind-opath "$IMG" "$T/hostro" /bin/ls /fdattack
t "an O_PATH bind source is refused" eval 'refused "bind source 1.*O_PATH"'
attack bind-wronly "$IMG" "$T/hostfile" /bin/cat /fdattack
t "a bind source opened write-only is refused" \
    eval 'refused "bind source 1.*not open for reading"'
attack writable-rdonly "$T/writable.ext4" -
t "a writable image opened read-only is refused" eval 'refused "writable image"'
attack writable-opath "$T/writable.ext4" -
t "a writable image sent as an O_PATH fd is refused" eval 'refused "writable image"'
attack stdin-opath "$IMG" "$T/hostfile" /bin/cat
t "an O_PATH stdin is refused" eval 'refused "stdin.*O_PATH"'
attack stdout-opath "$IMG" "$T/hostfile" /bin/true
t "an O_PATH stdout is refused" eval 'refused "stdout.*O_PATH"'
# A directory fd would let the guest walk to the host's root with openat(0, "..").
attack stdin-dir "$IMG" "$T/hostro" /bin/ls /proc/self/fd/0/..
t "a directory as stdin is refused" eval 'refused "stdin.*directory"'

# ---- the same as a member of the group, against root's files ---------------

attack --as-attacker run-ok "$IMG" -
t "control: the group member boots a readable image with fdattack" \
    eval 'rc_is 0 && out_has "sandboxd test image"'
attack --as-attacker bind-ok "$IMG" "$T/hostro" /bin/cat /fdattack/file
t "control: the group member mounts a readable directory with fdattack" \
    eval 'rc_is 0 && out_has "from the host"'
# Right before the attack, so that the image is surely still in the cache.
rc=0
timeout -k 5 60 "$SANDBOXCTL" run --socket "$SOCK" "$T/secret.ext4" /bin/true >"$T/out" 2>"$T/err" ||
    rc=$?
t "root boots its 0600 image (now cached)" rc_is 0
rc=0
timeout -k 5 60 "${as_attacker[@]}" "$SANDBOXCTL" run --socket "$SOCK" "$T/secret.ext4" /bin/true \
    >"$T/out" 2>"$T/err" || rc=$?
t "control: the group member cannot open root's image with sandboxctl" \
    eval 'rc_is 125 && err_has "Permission denied"'
attack --as-attacker image-opath "$T/secret.ext4" -
t "the group member cannot boot root's cached 0600 image through an O_PATH fd" \
    eval 'refused "image.*O_PATH" && ! out_has "sandboxd test image"'
attack --as-attacker bind-opath "$IMG" "$T/private" /bin/stat -c %a:%u /fdattack
t "the group member cannot mount root's 0700 directory through an O_PATH fd" \
    eval 'refused "bind source 1.*O_PATH" && ! out_has "700:0"'

# ---- each bind fd is the file the policy names ------------------------------

attack --as-attacker bind-other "$IMG" "$T/hostro=$T/uiddir" /bin/ls /fdattack
t "an fd of another directory than the policy's source is refused, naming the bind" \
    eval 'refused "bind source 1 ($T/hostro): the fd the client sent is not the file the policy names" &&
          ! out_has only1000'
printf 'filesystem:\n  mounts: [{ type: bind, source: %s, target: /h }]\n' "$T/hostro-link" \
    >"$T/via-link.yaml"
run --as-attacker "$T/via-link.yaml" /bin/cat /h/file
t "control: a source that is a symlink is the file it leads to, as for the client's open" \
    eval 'rc_is 0 && out_has "from the host"'
cat >"$T/policies/op-bind.yaml" <<YAML
process: { user: "1000:1000" }
filesystem:
  mounts: [{ type: bind, source: $T/opsrc, target: /fdattack }]
YAML
chmod 0644 "$T/policies/op-bind.yaml"
run --as-attacker op-bind /bin/cat /fdattack/file
t "control: an operator's policy with a bind runs for the group member" \
    eval 'rc_is 0 && out_has "the operator.s source"'
attack --as-attacker named-other "$IMG" "op-bind=$T/uiddir" /bin/cat /fdattack/only1000
t "an operator's ids never act on a directory the caller chose instead of the policy's" \
    eval 'refused "bind source 1 ($T/opsrc): the fd the client sent is not the file" &&
          ! out_has "for uid 1000 only"'

# The attacker's own copy, writable, sent for root's read-only image.
cp "$TEST_IMAGE" "$T/mine.ext4"
chown "$ATTACKER" "$T/mine.ext4"
attack --as-attacker writable-other "$IMG" "$T/mine.ext4" /bin/sh -c 'echo x > /etc/written'
t "a writable image fd of another file than RUN's image is refused" \
    eval 'refused "writable image.*not the same file as RUN.s image"'

# ---- the guest's identity for callers other than root ----------------------

printf 'process: { user: "65534:65534" }\n' >"$T/as-nobody.yaml"
run --as-attacker "$T/as-nobody.yaml" /bin/sh -c 'id -u'
t "a group member's own policy cannot run the guest as 65534" \
    eval 'rc_is 125 && err_has "permission denied.*uid 65534"'
printf 'process: { user: "%s:65534" }\n' "$ATTACKER" >"$T/as-self.yaml"
run --as-attacker "$T/as-self.yaml" /bin/sh -c 'id -u; id -g'
t "a group member's own policy may name its own uid and gid" \
    eval 'rc_is 0 && [ "$(cat "$T/out")" = "$(printf "%s\n65534" "$ATTACKER")" ]'
printf 'process: { user: "%s", groups: [100] }\n' "$ATTACKER" >"$T/other-group.yaml"
run --as-attacker "$T/other-group.yaml" /bin/true
t "a group member's own policy cannot add a group it is not in" \
    eval 'rc_is 125 && err_has "permission denied.*gid 100"'
run --as-attacker - /bin/sh -c 'id -u; id -g'
t "by default a group member's guest runs as the caller" \
    eval 'rc_is 0 && [ "$(cat "$T/out")" = "$(printf "%s\n65534" "$ATTACKER")" ]'
cp "$T/as-nobody.yaml" "$T/policies/op-nobody.yaml"
chmod 0644 "$T/policies/op-nobody.yaml"
run --as-attacker op-nobody /bin/sh -c 'id -u'
t "an operator's policy (root-owned, in the policy directory) may run it as 65534" \
    eval 'rc_is 0 && [ "$(cat "$T/out")" = 65534 ]'
cp "$T/as-nobody.yaml" "$T/policies/own-nobody.yaml"
chown "$ATTACKER" "$T/policies/own-nobody.yaml"
run --as-attacker own-nobody /bin/sh -c 'id -u'
t "a policy file in the directory that root does not own gives no other identity" \
    eval 'rc_is 125 && err_has "permission denied.*uid 65534"'
cp "$T/as-nobody.yaml" "$T/policies/open-nobody.yaml"
chmod 0664 "$T/policies/open-nobody.yaml"
run --as-attacker open-nobody /bin/sh -c 'id -u'
t "a group-writable policy file gives no other identity" \
    eval 'rc_is 125 && err_has "permission denied.*uid 65534"'

# An image of the attacker's own that maps the operator's names and uid to gid 0.
cp "$TEST_IMAGE" "$T/gid0.ext4"
chmod 0644 "$T/gid0.ext4"
printf '%s\n' root:x:0:0:root:/root:/bin/sh builder:x:1000:0:builder:/:/bin/sh \
    nobody:x:65534:65534:nobody:/nonexistent:/bin/false >"$T/gid0-passwd"
printf '%s\n' root:x:0: wheel:x:0:builder builder:x:1000: nogroup:x:65534: >"$T/gid0-group"
printf '%s\n' "rm /etc/passwd" "write $T/gid0-passwd /etc/passwd" "rm /etc/group" \
    "write $T/gid0-group /etc/group" >"$T/gid0.debugfs"
debugfs -w -f "$T/gid0.debugfs" "$T/gid0.ext4" >/dev/null 2>&1
t "setup: the attacker's image maps builder and uid 1000 to gid 0" \
    eval 'debugfs -R "cat /etc/passwd" "$T/gid0.ext4" 2>/dev/null | grep -qx "builder:x:1000:0:.*"'
# op POLICY YAML: an operator's policy (root-owned, 0644) with a bind of $T/hostro.
op() {
    printf '%s\nfilesystem:\n  mounts: [{ type: bind, source: %s, target: /h }]\n' "$2" \
        "$T/hostro" >"$T/policies/$1.yaml"
    chmod 0644 "$T/policies/$1.yaml"
}
op op-builder 'process: { user: builder }'
run --as-attacker --image "$T/gid0.ext4" op-builder /bin/sh -c 'id -g; cat /h/root-group'
t "an operator's user name is not looked up in the caller's image" \
    eval 'rc_is 125 && err_has "user .builder.*numeric" && ! out_has "for group 0 only"'
op op-wheel 'process: { user: "1000:1000", groups: [wheel] }'
run --as-attacker --image "$T/gid0.ext4" op-wheel /bin/sh -c 'cat /h/root-group'
t "an operator's group name is not looked up in the caller's image" \
    eval 'rc_is 125 && err_has "group .wheel.*numeric" && ! out_has "for group 0 only"'
op op-uid 'process: { user: 1000 }'
run --as-attacker --image "$T/gid0.ext4" op-uid /bin/sh -c 'id -g; cat /h/root-group'
t "an operator's numeric user takes no gid from the caller's image" \
    eval 'rc_is 125 && err_has "user: 1000.*uid:gid" && ! out_has "for group 0 only"'
op op-gid0 'process: { user: "1000:0" }'
run --as-attacker op-gid0 /bin/sh -c 'id -g; cat /h/root-group'
t "an operator's policy cannot give a caller other than root gid 0" \
    eval 'rc_is 125 && err_has "only root may run a guest with group 0" && ! out_has "for group 0"'
op op-groups0 'process: { user: "1000:1000", groups: [0] }'
run --as-attacker op-groups0 /bin/sh -c 'cat /h/root-group'
t "an operator's policy cannot give a caller other than root the group 0" \
    eval 'rc_is 125 && err_has "only root may run a guest with group 0" && ! out_has "for group 0"'
op op-nobody-uid 'process: { user: 65534 }'
run --as-attacker op-nobody-uid /bin/true
t "an operator's numeric user without a gid is refused to a caller other than root" \
    eval 'rc_is 125 && err_has "uid:gid"'
run --image "$T/gid0.ext4" op-builder /bin/sh -c 'id -u; id -g'
t "control: root's run of the same policy still resolves names in the image" \
    eval 'rc_is 0 && [ "$(cat "$T/out")" = "$(printf "1000\n0")" ]'
# A member of group 0 that is not root: its own policy cannot pass group 0 on.
printf 'process: { user: "%s:65534", groups: [0] }\n' "$ATTACKER" >"$T/own-groups0.yaml"
rc=0
timeout -k 5 60 setpriv "--reuid=$ATTACKER" --regid=65534 --groups=0 -- "$SANDBOXCTL" run \
    --socket "$SOCK" --policy "$T/own-groups0.yaml" "$IMG" /bin/true >"$T/out" 2>"$T/err" || rc=$?
t "a caller other than root in group 0 cannot give its guest group 0" \
    eval 'rc_is 125 && err_has "only root may run a guest with group 0"'

run - /bin/sh -c 'id -u'
t "root runs the guest as root by default" eval 'rc_is 0 && [ "$(cat "$T/out")" = 0 ]'
run "$T/as-nobody.yaml" /bin/sh -c 'id -u'
t "root's own policy may run the guest as 65534" eval 'rc_is 0 && [ "$(cat "$T/out")" = 65534 ]'

# ---- sandboxctl: FIFOs and closed stdio ------------------------------------

rc=0
timeout -k 5 10 "$SANDBOXCTL" run --socket "$SOCK" "$T/fifo" /bin/true >"$T/out" 2>"$T/err" || rc=$?
t "a FIFO as the image is refused at once, in one line (exit 125)" \
    eval 'rc_is 125 && err_has "image.*fifo.*neither a directory nor a regular file" && [ "$(wc -l <"$T/err")" = 1 ]'
printf 'filesystem:\n  mounts: [{ type: bind, source: %s, target: /f }]\n' "$T/fifo" \
    >"$T/fifo-bind.yaml"
rc=0
timeout -k 5 10 "$SANDBOXCTL" run --socket "$SOCK" --policy "$T/fifo-bind.yaml" "$IMG" /bin/true \
    >"$T/out" 2>"$T/err" || rc=$?
t "a FIFO as a bind source is refused at once, in one line (exit 125)" \
    eval 'rc_is 125 && err_has "bind source.*fifo.*neither a directory nor a regular file" &&
          [ "$(wc -l <"$T/err")" = 1 ]'

printf 'filesystem:\n  mounts: [{ type: bind, source: %s, target: /report, readonly: false }]\n' \
    "$T/report" >"$T/report.yaml"
# closed REDIRECTIONS: sandboxctl with those fds closed; the guest's shell writes
# where its own fds 0-2 lead, as readlink sees them, to the report directory.
closed() {
    rm -f "$T/report/fds"
    rc=0
    eval 'timeout -k 5 60 "$SANDBOXCTL" run --socket "$SOCK" --policy "$T/report.yaml" "$IMG" \
        /bin/sh -c "exec 3>/report/fds; for f in 0 1 2; do \
        echo \"\$f \$(readlink /proc/\$\$/fd/\$f)\" >&3; done" >"$T/out" 2>"$T/err" '"$1" ||
        rc=$?
    cp "$T/report/fds" "$T/out" 2>/dev/null || true
}
# guest_fds_clean: three fds, none of them the image or a socket.
guest_fds_clean() {
    rc_is 0 && [ "$(wc -l <"$T/out")" = 3 ] && ! out_has ext4 && ! out_has socket: &&
        ! out_has anon_inode:
}
closed '0<&-'
t "sandboxctl started with stdin closed gives the guest neither its image nor its socket" \
    guest_fds_clean
closed '1>&-'
t "sandboxctl started with stdout closed gives the guest neither its image nor its socket" \
    guest_fds_clean
closed '2>&-'
t "sandboxctl started with stderr closed gives the guest neither its image nor its socket" \
    guest_fds_clean
closed '0<&- 1>&- 2>&-'
t "sandboxctl started with 0, 1 and 2 closed gives the guest neither image nor socket" \
    guest_fds_clean

kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
t "sandboxd served the whole suite and stops cleanly" rc_is 0

tap_finish
