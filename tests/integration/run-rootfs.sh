#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The sandbox's root filesystem against hostile images, reported as TAP.  Each
# image carries symlinks that point out of the tree (absolute, relative,
# through /dev, /proc and /tmp); policies mount and mask through them.  Every
# case checks from the host that nothing was created or mounted at the host
# path, and that the run either failed naming the mount point or the mount
# landed inside the guest.  Also: the flags of /dev and its mounts, and the
# capabilities sbx-init keeps while its guest runs.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init rootfs SANDBOXD SANDBOXCTL TEST_IMAGE
# A name no other file on the host has: what an attack would create in /etc.
ATTACK=sbx-rootfs-attack-$$
# The host directory the images' absolute symlinks point at; it must stay empty.
HOST=$T/host
# A host directory that member callers bind read-write: root's, 0755, with one
# directory and one file to mount on.  It is a mount of its own, shared, so that
# a mount made on it in a sandbox would show on the host if it propagated.
BINDSRC=$T/bindsrc
mkdir -p "$T/policies" "$HOST/dev" "$HOST/tmp" "$T/src" "$BINDSRC"
echo "bound from the host" >"$T/src/file"

# stop_daemon: SIGTERM, and SIGKILL if it has not exited within 10 s.
stop_daemon() {
    kill -TERM "$daemon_pid"
    for _ in $(seq 100); do
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$daemon_pid" 2>/dev/null || true
    rc=0
    wait "$daemon_pid" || rc=$?
    daemon_pid=
}

cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        stop_daemon
    fi
    # What a successful attack leaves in the host's /etc goes too.
    if mountpoint -q "$BINDSRC"; then
        umount -R "$BINDSRC"
    fi
    rm -rf "$T" "/etc/${ATTACK:?}" "/etc/$ATTACK-f" "/etc/$ATTACK-d"
}
trap cleanup EXIT

# run [--member] IMAGE POLICY CMD...: sandboxctl run of IMAGE ($T/NAME.ext4) with a policy
# ("-" for none); as root, or with --member as nobody in the daemon's group (nogroup).
run() {
    local as=()
    if [ "$1" = --member ]; then
        as=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
        shift
    fi
    local img=$T/$1.ext4 p=$2
    shift 2
    local pol=()
    [ "$p" = - ] || pol=(--policy "$p")
    rc=0
    timeout -k 5 "${RUN_TIMEOUT:-60}" "${as[@]}" "$SANDBOXCTL" run --socket "$SOCK" "${pol[@]}" "$img" "$@" \
        >"$T/out" 2>"$T/err" || rc=$?
}

out_is() { [ "$(cat "$T/out")" = "$1" ]; }
err_has() { grep -qF -- "$1" "$T/err"; }

# The host side of every case: nothing new in $HOST or /etc, no mount of ours on the host.
host_untouched() {
    local found
    found=$(find "$HOST" -mindepth 1 -not -path "$HOST/dev" -not -path "$HOST/tmp"
        ls -d "/etc/$ATTACK"* 2>/dev/null || true
        grep -F -e "$HOST" -e "$ATTACK" /proc/self/mountinfo || true)
    [ -z "$found" ] || {
        say "on the host: $(tr '\n' ' ' <<<"$found")"
        # Undo it, so that the next case starts from a clean host.
        find "$HOST" -mindepth 1 -not -path "$HOST/dev" -not -path "$HOST/tmp" -delete
        rm -rf "/etc/${ATTACK:?}" "/etc/$ATTACK-f" "/etc/$ATTACK-d"
        return 1
    }
}

# refused TARGET: the run failed before the guest ran, naming TARGET.
refused() { rc_is 125 && err_has "$1" && say "refused: $(head -n 1 "$T/err")"; }

# ---- hostile images --------------------------------------------------------------

# The test image's tree, taken out of the image itself.
mkdir "$T/tree"
debugfs -R "rdump / $T/tree" "$TEST_IMAGE" >/dev/null 2>&1
if [ ! -x "$T/tree/bin/busybox" ]; then
    echo "Bail out! cannot extract the test image with debugfs"
    exit 1
fi

# image NAME SETUP: the test image's tree changed by the shell code SETUP (in the
# tree's directory), packed as $T/NAME.ext4.
image() {
    rm -rf "$T/work"
    cp -a "$T/tree" "$T/work"
    (cd "$T/work" && eval "$2")
    mkfs.ext4 -q -F -d "$T/work" "$T/$1.ext4" 64M >/dev/null
    chmod 0644 "$T/$1.ext4"
}

image plain ':'
image links "ln -s /etc link; ln -s ../../../../../../../../etc rel; ln -s $HOST hostlink
    ln -s /etc mlink; ln -s /proc/self/root$HOST magic"
image dev "rm -rf dev; ln -s $HOST/dev dev"
image proc "rm -rf proc; ln -s /etc proc"
image tmp "rm -rf tmp; ln -s $HOST/tmp tmp"
image fifo "rm etc/passwd; mkfifo etc/passwd"
image evil "mkdir -p mnt/v; ln -s /mnt/v evil"
image devlink "ln -s /dev dlink; ln -s /proc plink"

mount -t tmpfs -o mode=0755 sbx-rootfs-bindsrc "$BINDSRC"
mount --make-shared "$BINDSRC"
mkdir "$BINDSRC/existing"
echo "the host's file" >"$BINDSRC/existfile"

# -v: the daemon's debug lines say whether a run took a prepared root.
SUITE_DAEMON_DEBUG=1 suite_daemon

# ---- policy mounts through the image's symlinks ----------------------------------

policy abs-tmpfs <<YAML
filesystem:
  mounts: [{ type: tmpfs, target: /link/$ATTACK }]
YAML
run links abs-tmpfs /bin/sh -c "grep -c ' /etc/$ATTACK ' /proc/self/mountinfo"
t "tmpfs through an absolute symlink (/link -> /etc) lands in the guest's /etc" \
    eval 'host_untouched && { refused "/link/$ATTACK" || { rc_is 0 && out_is 1; }; }'

policy rel-bind <<YAML
filesystem:
  mounts: [{ type: bind, source: $T/src/file, target: /rel/$ATTACK-f }]
YAML
run links rel-bind /bin/cat "/etc/$ATTACK-f"
t "a file bind through a relative escape (/rel -> ../../../../etc) lands in the guest's /etc" \
    eval 'host_untouched && { refused "/rel/$ATTACK-f" || { rc_is 0 && out_is "bound from the host"; }; }'

policy rel-dir-bind <<YAML
filesystem:
  mounts: [{ type: bind, source: $T/src, target: /rel/$ATTACK-d/sub }]
YAML
run links rel-dir-bind /bin/cat "/etc/$ATTACK-d/sub/file"
t "a directory bind through a relative escape creates its parents in the guest only" \
    eval 'host_untouched && { refused "/rel/$ATTACK-d/sub" || { rc_is 0 && out_is "bound from the host"; }; }'

policy host-tmpfs <<YAML
filesystem:
  mounts: [{ type: tmpfs, target: /hostlink/a/b }]
YAML
run links host-tmpfs /bin/sh -c "grep -c ' $HOST/a/b ' /proc/self/mountinfo"
t "tmpfs through a symlink to a host directory creates nothing on the host" \
    eval 'host_untouched && { refused "/hostlink/a/b" || { rc_is 0 && out_is 1; }; }'

policy host-file-bind <<YAML
filesystem:
  mounts: [{ type: bind, source: $T/src/file, target: /hostlink/f }]
YAML
run links host-file-bind /bin/cat "$HOST/f"
t "a file bind through a symlink to a host directory creates nothing on the host" \
    eval 'host_untouched && { refused "/hostlink/f" || { rc_is 0 && out_is "bound from the host"; }; }'

policy host-final <<YAML
filesystem:
  mounts: [{ type: tmpfs, target: /hostlink }]
YAML
run links host-final /bin/sh -c "grep -c ' $HOST ' /proc/self/mountinfo"
t "tmpfs on a symlink to a host directory is refused or lands in the guest" \
    eval 'host_untouched && { refused "/hostlink" || { rc_is 0 && out_is 1; }; }'

policy magic <<YAML
filesystem:
  mounts: [{ type: tmpfs, target: /magic/m }]
YAML
run links magic /bin/true
t "tmpfs through a magic link (/magic -> /proc/self/root/HOST) is refused" \
    eval 'host_untouched && refused "/magic/m"'

policy mask-link <<'YAML'
filesystem:
  masked: [/mlink/sbx-image]
YAML
run links mask-link /bin/sh -c 'echo "[$(cat /etc/sbx-image)]"'
t "a masked path through a symlink (/mlink -> /etc) hides the guest's file" \
    eval 'host_untouched && rc_is 0 && out_is "[]"'

# ---- policy mounts inside an earlier read-write bind of a host directory ----------

# What the host directory holds, and the host's mounts at or below it.
bindsrc_state() {
    (cd "$BINDSRC" && find . | sort && cat existfile)
    grep -F "$BINDSRC" /proc/self/mountinfo | awk '{ print $5 }'
}
bindsrc_before=$(bindsrc_state)
bindsrc_untouched() {
    local now
    now=$(bindsrc_state)
    [ "$now" = "$bindsrc_before" ] || {
        say "the host's $BINDSRC now: $(tr '\n' ' ' <<<"$now")"
        # Undo what an attack made, so that the next case starts from a clean host.
        rm -rf "${BINDSRC:?}/$ATTACK"*
        return 1
    }
}

policy bind-in-bind-tmpfs <<YAML
filesystem:
  mounts:
    - { type: bind, source: $BINDSRC, target: /hostdir, readonly: false }
    - { type: tmpfs, target: /hostdir/$ATTACK-d }
YAML
run --member plain bind-in-bind-tmpfs /bin/true
t "a member's tmpfs target missing inside a read-write bind is refused; nothing on the host" \
    eval 'bindsrc_untouched && host_untouched && refused "/hostdir/$ATTACK-d" &&
          err_has "bind mount at /hostdir"'

policy bind-in-bind-file <<YAML
filesystem:
  mounts:
    - { type: bind, source: $BINDSRC, target: /hostdir, readonly: false }
    - { type: bind, source: $T/src/file, target: /hostdir/$ATTACK-f }
YAML
run --member plain bind-in-bind-file /bin/true
t "a member's file bind target missing inside a read-write bind is refused; nothing on the host" \
    eval 'bindsrc_untouched && host_untouched && refused "/hostdir/$ATTACK-f"'

policy bind-in-bind-link <<YAML
filesystem:
  mounts:
    - { type: bind, source: $BINDSRC, target: /mnt/v, readonly: false }
    - { type: tmpfs, target: /evil/$ATTACK-x }
YAML
run --member evil bind-in-bind-link /bin/true
t "a tmpfs target through an image symlink (/evil -> /mnt/v) into a bind is refused" \
    eval 'bindsrc_untouched && host_untouched && refused "/evil/$ATTACK-x"'

policy bind-in-etc <<YAML
filesystem:
  mounts:
    - { type: bind, source: /etc, target: /hostetc, readonly: false }
    - { type: tmpfs, target: /hostetc/$ATTACK-d }
    - { type: bind, source: $T/src/file, target: /hostetc/$ATTACK-f }
YAML
run --member plain bind-in-etc /bin/true
t "a member's mount points inside a read-write bind of /etc create nothing in the host's /etc" \
    eval 'host_untouched && refused "/hostetc/$ATTACK-"'

policy bind-in-bind-existing <<YAML
filesystem:
  mounts:
    - { type: bind, source: $BINDSRC, target: /hostdir, readonly: false }
    - { type: bind, source: $T/src/file, target: /hostdir/existfile }
    - { type: tmpfs, target: /hostdir/existing }
YAML
run --member plain bind-in-bind-existing /bin/sh -c \
    'cat /hostdir/existfile; stat -f -c %T /hostdir/existing'
t "mount points that exist inside a bind still work, and the mounts stay in the sandbox" \
    eval 'rc_is 0 && out_is "$(printf "bound from the host\ntmpfs")" && bindsrc_untouched'

# Mount points are still created on the sandbox's own filesystems.
policy in-own <<YAML
filesystem:
  mounts:
    - { type: bind, source: $T/src/file, target: /tmp/sub/f }
    - { type: tmpfs, target: /data }
    - { type: tmpfs, target: /data/sub }
YAML
run --member plain in-own /bin/sh -c 'cat /tmp/sub/f; stat -f -c %T /data/sub'
t "mount points are created in /tmp, in a policy tmpfs and in the overlay" \
    eval 'rc_is 0 && out_is "$(printf "bound from the host\ntmpfs")"'
cp "$T/plain.ext4" "$T/rw.ext4"
policy in-image <<YAML
filesystem:
  writable_image: true
  mounts: [{ type: tmpfs, target: /new/sub }]
YAML
run rw in-image /bin/sh -c 'stat -f -c %T /new/sub'
t "with writable_image, mount points are created in the image (and stay there)" \
    eval 'rc_is 0 && out_is tmpfs && debugfs -R "ls /new" "$T/rw.ext4" 2>/dev/null | grep -qw sub'

# ---- the guest's cwd (chdir runs after pivot_root: confined already) ---------------

policy cwd-link <<'YAML'
process: { cwd: /link }
YAML
run links cwd-link /bin/sh -c 'cd -P . && pwd'
t "a cwd through /link -> /etc is the guest's /etc" eval 'rc_is 0 && out_is /etc'
policy cwd-host <<'YAML'
process: { cwd: /hostlink }
YAML
run links cwd-host /bin/true
t "a cwd through a symlink to a host directory fails; the guest does not run" \
    eval 'host_untouched && refused "working directory /hostlink"'

# ---- the sandbox's own mount points as symlinks ----------------------------------

run dev - /bin/sh -c 'echo x >/dev/null && head -c 3 /dev/zero | wc -c'
t "/dev as a symlink to a host directory: refused, or a working /dev in the guest" \
    eval 'host_untouched && [ -z "$(ls -A "$HOST/dev")" ] &&
          { refused "/dev" || { rc_is 0 && out_is 3; }; }'

run proc - /bin/sh -c 'grep -c "^[0-9]* [0-9]* [0-9:]* / /proc " /proc/self/mountinfo'
t "/proc as a symlink to /etc: refused, or procfs in the guest" \
    eval 'host_untouched && { refused "/proc" || { rc_is 0 && out_is 1; }; }'

policy tmp-sub <<'YAML'
filesystem:
  mounts: [{ type: tmpfs, target: /tmp/sub }]
YAML
run tmp tmp-sub /bin/sh -c 'stat -f -c %T /tmp/sub'
t "/tmp as a symlink to a host directory: refused, or a tmpfs in the guest" \
    eval 'host_untouched && [ -z "$(ls -A "$HOST/tmp")" ] &&
          { refused "/tmp" || { rc_is 0 && out_is tmpfs; }; }'

# ---- types -----------------------------------------------------------------------

policy file-on-dir <<'YAML'
filesystem:
  mounts: [{ type: tmpfs, target: /etc/passwd }]
YAML
run plain file-on-dir /bin/true
t "a tmpfs on a file is refused, naming the target" refused "/etc/passwd"

# The sandbox's own /dev and /proc take no policy mounts: sbx-init opens the
# pty of -t there as root, and a bind over /dev/pts would choose what it opens.
policy over-pts <<'YAML'
filesystem:
  mounts: [{ type: tmpfs, target: /dev/pts }]
YAML
run plain over-pts /bin/true
t "a policy mount in /dev is refused by the parser, naming it" \
    refused "a mount cannot go in the sandbox's own /dev or /proc ('/dev/pts')"
policy pts-via-link <<'YAML'
filesystem:
  mounts: [{ type: tmpfs, target: /dlink/pts }]
YAML
run devlink pts-via-link /bin/true
t "a tmpfs on /dev/pts through an image symlink is refused by sbx-init" \
    refused "is in the sandbox's own /proc or /dev"
policy ptmx-via-link <<YAML
filesystem:
  mounts: [{ type: bind, source: $T/src/file, target: /dlink/pts/ptmx }]
YAML
run devlink ptmx-via-link /bin/true
t "a file bind on /dev/pts/ptmx through an image symlink is refused" \
    refused "is in the sandbox's own /proc or /dev"
policy proc-via-link <<'YAML'
filesystem:
  mounts: [{ type: tmpfs, target: /plink/sys }]
YAML
run devlink proc-via-link /bin/true
t "a tmpfs on /proc/sys through an image symlink is refused" \
    refused "is in the sandbox's own /proc or /dev"

# ---- /dev ------------------------------------------------------------------------

# opts MOUNTPOINT: the per-mount options of MOUNTPOINT in the guest's mountinfo output.
opts() { awk -v m="$1" '$5 == m { print $6 }' "$T/out"; }
has_opts() {
    local o
    for o in "${@:2}"; do
        [[ ,$(opts "$1"), == *,$o,* ]] || { say "$1: $(opts "$1") lacks $o"; return 1; }
    done
}
run plain - /bin/cat /proc/self/mountinfo
t "/dev is mounted nodev,nosuid,noexec" has_opts /dev nodev nosuid noexec
t "/dev/pts is nosuid,noexec; /dev/shm is nosuid,nodev" \
    eval 'has_opts /dev/pts nosuid noexec && has_opts /dev/shm nosuid nodev'
run plain - /bin/sh -c 'echo x >/dev/null && head -c 5 /dev/zero | wc -c &&
    head -c 8 /dev/urandom | wc -c && head -c 4 /dev/random | wc -c; echo x >/dev/full || echo full'
t "the device nodes work under the nodev /dev" eval 'rc_is 0 && out_is "$(printf "5\n8\n4\nfull")"'

# ---- the spare's premade /proc and /dev ------------------------------------------

# A warm daemon's next run gets a spare sandbox whose /proc and /dev were made
# before the request.  Each spare serves one run: what a run leaves in its /dev,
# /dev/shm and /dev/pts is not in the next one's.
run plain - /bin/sh -c 'echo a >/dev/sbx-mark && echo a >/dev/shm/sbx-mark &&
    mkdir /dev/pts/sbx-mark 2>/dev/null; ls /dev/sbx-mark /dev/shm/sbx-mark'
t "a run writes into its /dev and /dev/shm" \
    eval 'rc_is 0 && out_is "$(printf "/dev/sbx-mark\n/dev/shm/sbx-mark")"'
run plain - /bin/sh -c 'ls -A /dev | tr "\n" " "; echo; ls -A /dev/shm /dev/pts | tr "\n" " "'
t "the next run's /dev, /dev/shm and /dev/pts are fresh" \
    eval 'rc_is 0 && out_is "$(printf "%s\n%s" "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero " \
        "/dev/pts: ptmx  /dev/shm: ")"'
run plain - /bin/sh -c 'cat /proc/self/mountinfo; wc -c </proc/kallsyms'
t "its premade /proc keeps /proc/sys read-only and /proc/kallsyms hidden" \
    eval 'rc_is 0 && has_opts /proc/sys ro && [ "$(tail -n 1 "$T/out")" = 0 ]'
# As at a sandbox made at the request: the root is the first mount in mountinfo.
t "the root is the first line of the guest's mountinfo" eval '[ "$(head -n 1 "$T/out" | cut -d" " -f5)" = / ]'

# ---- the spare's prepared root ---------------------------------------------------

# The spare also builds, before its request, the root of the last run: the
# overlay on its image, /proc, /dev, /tmp.  A run for that root takes it; any
# other run builds its own, as without a spare.

# spare_has_root: the spare's sbx-init (a child of the daemon not yet in its
# new root) has mounted the overlay and, last of what it prepares, /tmp on it.
spare_has_root() {
    local pid
    for pid in $(pgrep -P "$daemon_pid"); do
        awk '/ - overlay sbx-root / && $5 != "/" { o = 1 } / - tmpfs sbx-tmp / { t = 1 }
            END { exit !(o && t) }' "/proc/$pid/mountinfo" 2>/dev/null && return 0
    done
    return 1
}
prepared_runs() { grep -c 'the spare, with its root prepared' "$T/sandboxd.log" || true; }
unused_runs() { grep -c 'its prepared root left unused' "$T/sandboxd.log" || true; }
# The guest's mounts without what differs between two instances of the same
# tree: mount ids, device numbers, and the host ids of each sandbox's user
# namespace (a tmpfs's uid= and gid=).
mounts_of() { grep ' - ' "$1" | cut -d' ' -f4- | sed -E 's/ [0-9]+:[0-9]+ / /; s/([ug]id)=[0-9]+/\1=N/g'; }

run plain - /bin/sh -c 'echo a >/sbx-prep-mark && echo b >/tmp/sbx-prep-mark && ls /sbx-prep-mark'
t "a run writes into its root and its /tmp" eval 'rc_is 0 && out_is /sbx-prep-mark'
t "the next spare prepares that root before any request" wait_until 10 spare_has_root
before=$(prepared_runs)
run plain - /bin/sh -c 'ls /sbx-prep-mark /tmp/sbx-prep-mark 2>&1; df -k /tmp | tail -n 1; cat /proc/self/mountinfo'
cp "$T/out" "$T/prepared.out"
t "a run of the same image takes the prepared root" \
    eval 'rc_is 0 && [ "$(prepared_runs)" -gt "$before" ]'
t "the prepared root is fresh: the last run's files are in neither / nor /tmp" \
    eval '[ "$(grep -c "No such file" "$T/out")" = 2 ]'
t "its /tmp has the default size (512 MiB)" \
    eval 'grep -E "^sbx-tmp +524288 " "$T/out" >/dev/null'

# Runs that follow each other at once: the spare a run takes has often not
# built its root yet.  The run takes it all the same (its SPEC waits behind
# PREPARE in init) and never builds a second root beside it.  A run that
# comes before the refill makes its own sandbox and takes no spare at all.
spare_runs() { grep -cE 'the spare, (with|its) ' "$T/sandboxd.log" || true; }
# shellcheck disable=SC2034  # read by the checks, in eval
before_unused=$(unused_runs) before=$(prepared_runs) before_spare=$(spare_runs) b2b_failed=0
for _ in $(seq 10); do
    run plain - /bin/true
    # shellcheck disable=SC2034  # read by the checks, in eval
    [ "$rc" = 0 ] || b2b_failed=1
done
t "runs back to back that take a spare all take its root, built or not yet" \
    eval '[ "$b2b_failed" = 0 ] && [ "$(unused_runs)" = "$before_unused" ] &&
          [ "$(prepared_runs)" -gt "$before" ] &&
          [ $(($(prepared_runs) - before)) = $(($(spare_runs) - before_spare)) ]'

# A root that cannot be built (the image's /proc is a symlink): the spare's
# build fails, and the run that takes it builds from its SPEC's copy of the
# image, which fails as a run without a spare does, with the same message.
preparing() { grep -c "asked to build the last run's root" "$T/sandboxd.log" || true; }
# Deterministic: the spare is there (prepared for plain) before the first
# run, which takes it; the spare made after that run is asked for its root.
wait_until 10 spare_has_root
# shellcheck disable=SC2034  # read in the eval of wait_until
asked=$(preparing)
run proc - /bin/true
cp "$T/err" "$T/proc-first.err"
wait_until 10 eval '[ "$(preparing)" -gt "$asked" ]'
before=$(prepared_runs)
run proc - /bin/true
t "a root the spare could not build fails the run that takes it, as without a spare" \
    eval 'rc_is 125 && [ "$(prepared_runs)" -gt "$before" ] && err_has "/proc is a symlink" &&
          cmp -s "$T/err" "$T/proc-first.err"'
run plain - /bin/true
t "and the next run of another image runs" rc_is 0

policy small-tmp <<'YAML'
filesystem: { tmp_size: 8M }
YAML
wait_until 10 spare_has_root
before=$(unused_runs)
run plain small-tmp /bin/sh -c 'df -k /tmp | tail -n 1'
t "a run that asks for another /tmp leaves the prepared root and gets its own" \
    eval 'rc_is 0 && [ "$(unused_runs)" -gt "$before" ] && grep -E "^sbx-tmp +8192 " "$T/out" >/dev/null'
# The next spare prepared small-tmp's root; a plain run builds its own again.
wait_until 10 spare_has_root
# shellcheck disable=SC2034  # read by the checks, in eval
before=$(unused_runs)
run plain - /bin/sh -c 'ls /sbx-prep-mark /tmp/sbx-prep-mark 2>&1; df -k /tmp | tail -n 1; cat /proc/self/mountinfo'
t "and the next plain run, after a spare prepared for 8M, gets 512 MiB" \
    eval 'rc_is 0 && [ "$(unused_runs)" -gt "$before" ] && grep -E "^sbx-tmp +524288 " "$T/out" >/dev/null'
t "a prepared root's mounts are those of a root built at the request" \
    eval '[ "$(mounts_of "$T/prepared.out")" = "$(mounts_of "$T/out")" ]'

# A writable run of a file is exclusive: a spare that prepared a root on it
# read-only goes, and does not make the run busy.  The read-only run is in
# mode off, which builds no site map (whose builder holds the image too).
image wimg ':'
policy writable <<'YAML'
filesystem: { writable_image: true }
YAML
"$SANDBOXCTL" run --socket "$SOCK" --syscall-mode off "$T/wimg.ext4" /bin/true
wait_until 10 spare_has_root
run wimg writable /bin/sh -c 'echo written >/sbx-w-mark && cat /sbx-w-mark'
t "a writable run right after a read-only run of the same file is not busy" \
    eval 'rc_is 0 && out_is written'

# ---- sbx-init's capabilities while the guest runs --------------------------------

secs=9$$
timeout 60 "$SANDBOXCTL" run --socket "$SOCK" "$T/plain.ext4" /bin/sleep "$secs" \
    >"$T/sleep.out" 2>&1 &
bg=$!
init_status=
for _ in $(seq 100); do
    for pid in $(pgrep -f "/bin/sleep $secs\$" || true); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sandboxctl ] && continue
        ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status")
        if grep -q sbx-init "/proc/$ppid/comm"; then
            init_status=$(cat "/proc/$ppid/status")
        fi
    done
    [ -n "$init_status" ] && break
    sleep 0.1
done
caps_empty() {
    local set v
    [ -n "$init_status" ] || { say "did not find sbx-init of the sleeping guest"; return 1; }
    for set in CapInh CapPrm CapEff CapBnd CapAmb; do
        v=$(awk -v s="$set:" '$1 == s { print $2 }' <<<"$init_status")
        [ "$v" = 0000000000000000 ] || { say "sbx-init $set is $v"; return 1; }
    done
}
t "sbx-init holds no capability (permitted, effective, bounding) while its guest runs" caps_empty
kill "$bg" 2>/dev/null || true
wait "$bg" 2>/dev/null || true

# ---- files the daemon reads from the image ---------------------------------------

# Last, because a daemon that blocks opening the FIFO would hang every later run.

policy as-sbxuser <<'YAML'
process: { user: sbxuser }
YAML
RUN_TIMEOUT=15 run fifo as-sbxuser /bin/true
t "an image whose /etc/passwd is a FIFO is refused at once, naming the user" \
    eval 'rc_is 125 && err_has sbxuser'
RUN_TIMEOUT=15 run plain - /bin/echo served
t "and the daemon serves the next run" eval 'rc_is 0 && out_is served'

stop_daemon
t "sandboxd served the whole suite and stops cleanly within 10 s" rc_is 0

tap_finish
