#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian package end to end, reported as TAP. Builds the .deb with
# tools/build-deb, checks it holds everything meson installs, installs it on
# this machine, runs a sandbox through the installed binaries with
# --policy default, purges it and checks that nothing is left. Then boots a
# Debian root with systemd as pid 1 (systemd-nspawn --boot), installs the
# package there and checks socket activation, Type=notify, systemctl stop
# and purge under a real systemd (boot-check.sh, run inside).
# Needs root; skipped, with the reason, where it would change what this
# machine already has (a sandboxd package, the group sandbox, a state
# directory in use) or where its tools are missing.
# Environment: SOURCE_ROOT, BUILD_ROOT, TEST_IMAGE (paths); SBX_TEST_CACHE
# (default /var/cache/sandboxd-test) holds the debootstrapped systemd tree.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/tap.sh
. "$here/../integration/tap.sh"

skip() {
    echo "1..0 # SKIP $*"
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip "the package suite needs root (it installs the package)"
for var in SOURCE_ROOT BUILD_ROOT TEST_IMAGE; do
    [ -e "${!var:-}" ] || { echo "Bail out! $var does not name an existing file: '${!var:-}'"; exit 1; }
done
if ! command -v dpkg >/dev/null || ! command -v apt-get >/dev/null; then
    skip "not a Debian system (dpkg and apt-get are missing)"
fi
if dpkg-query -W -f='${Status}' sandboxd 2>/dev/null | grep -q 'installed'; then
    skip "a sandboxd package is installed on this machine; the suite would replace and purge it"
fi
getent group sandbox >/dev/null && skip "group sandbox exists on this machine; purging the package would delete it"
getent passwd sandboxd >/dev/null && skip "user sandboxd exists on this machine; purging the package would delete it"
[ -e /etc/sandboxd ] && skip "/etc/sandboxd exists on this machine; purging the package would delete it"
[ -e /run/sandboxd ] && skip "/run/sandboxd exists on this machine; purging the package would delete it"

# Whether a process of this machine has a file or directory open under $1.
in_use() {
    local l
    for l in /proc/[0-9]*/fd/* /proc/[0-9]*/cwd; do
        [[ $(readlink "$l" 2>/dev/null) == "$1"/* || $(readlink "$l" 2>/dev/null) == "$1" ]] &&
            return 0
    done
    grep -qF " $1/" /proc/self/mountinfo
}
# Purge removes /var/lib/sandboxd. A leftover of earlier runs (sandboxctl's
# embedded daemon caches there) is moved aside and put back at the end.
state=/var/lib/sandboxd
saved_state=
if [ -e "$state" ]; then
    in_use "$state" && skip "$state is in use by a running sandboxd; purging the package would delete it"
    saved_state=$state.package-test.$$
    mv "$state" "$saved_state"
fi

exec </dev/null
T=$(mktemp -d /tmp/sbx-package.XXXXXX)
chmod 0755 "$T"
daemon_pid=
apt=(apt-get -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300)
export DEBIAN_FRONTEND=noninteractive

cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || true
    fi
    # Whatever failed, the machine gets back what it had.
    if dpkg-query -W -f='${Status}' sandboxd 2>/dev/null | grep -q 'installed\|config-files'; then
        "${apt[@]}" purge sandboxd >/dev/null 2>&1 || dpkg --purge sandboxd >/dev/null 2>&1 || true
    fi
    # A daemon started meanwhile may have made a new one: it keeps it.
    if [ -n "$saved_state" ]; then
        if [ -e "$state" ]; then
            cp -an "$saved_state/." "$state/" && rm -rf --one-file-system "$saved_state"
        else
            mv "$saved_state" "$state"
        fi
    fi
    rm -rf --one-file-system "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rc=0
out=$T/out
err=$T/err
: >"$out"
: >"$err"
tap_on_fail() {
    say "exit status ${rc:-?}; stdout:"
    diag "$out"
    say "stderr:"
    diag "$err"
}

# ---- the package --------------------------------------------------------------

build() { "$SOURCE_ROOT/tools/build-deb" "$T/deb" >"$out" 2>"$err" || { rc=$?; return 1; }; }
t "tools/build-deb builds the package, lintian finds no errors" build
version=$(cd "$SOURCE_ROOT" && dpkg-parsechangelog -S Version)
deb=$T/deb/sandboxd_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || { echo "Bail out! no $deb"; exit 1; }
dpkg-deb -c "$deb" | awk '{ sub(/^\./, "", $6); print $6 }' >"$T/contents"

# Every file meson installs is in the package (with Debian 12's unit
# directory, man pages compressed), the example policies are conffiles.
has_meson_files() {
    local dest missing=0
    while read -r dest; do
        dest=${dest/#\/usr\/lib\/systemd\/system\//\/lib\/systemd\/system\/}
        # dh_compress gzips man pages.
        grep -qxF -e "$dest" -e "$dest.gz" "$T/contents" ||
            { say "not in the package: $dest"; missing=1; }
    done < <(meson introspect --installed "$BUILD_ROOT" |
        python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin).values()))' |
        sed -e 's|^/usr/local/etc/|/etc/|' -e 's|^/usr/local/|/usr/|')
    return $missing
}
t "the package holds every file meson installs" has_meson_files
conffiles() {
    dpkg-deb -I "$deb" conffiles >"$out"
    local p
    for p in default strict build-job; do
        grep -qx "/etc/sandboxd/policies/$p.yaml" "$out" || return 1
    done
}
t "the example policies are conffiles in /etc/sandboxd/policies" conffiles

# ---- installed on this machine ------------------------------------------------

install_deb() { "${apt[@]}" install "$deb" >"$out" 2>"$err" || { rc=$?; return 1; }; }
t "apt-get install of the package" install_deb
installed_files() {
    local p
    for p in /usr/bin/sandboxctl /usr/sbin/sandboxd /usr/bin/sandboxd-oci \
        /lib/systemd/system/sandboxd.service \
        /lib/systemd/system/sandboxd.socket /usr/lib/sysusers.d/sandboxd.conf \
        /usr/lib/tmpfiles.d/sandboxd.conf /etc/sandboxd/policies/default.yaml \
        /usr/share/doc/sandboxd/README.md; do
        [ -e "$p" ] || { say "missing: $p"; return 1; }
    done
}
t "binaries, units, sysusers.d and tmpfiles.d entries, policies and the README are installed" \
    installed_files
group_made() { getent group sandbox >/dev/null; }
t "postinst created the group sandbox" group_made
subids_made() {
    getent passwd sandboxd >/dev/null && grep -qx 'sandboxd:1073741824:16777216' /etc/subuid &&
        grep -qx 'sandboxd:1073741824:16777216' /etc/subgid
}
t "postinst created user sandboxd with subordinate ids" subids_made
state_dir_made() { [ "$(stat -c '%a %U %G' "$state")" = "700 root root" ]; }
t "postinst created $state, mode 0700, root's" state_dir_made
t "sandboxd.socket is enabled on installation" \
    test -L /etc/systemd/system/sockets.target.wants/sandboxd.socket

# The installed daemon with its built-in defaults (state directory, policy
# directory, group), on a socket of the suite's own.
sock=$T/sandboxd.sock
img=$T/test.ext4
cp "$TEST_IMAGE" "$img"
start_installed() {
    mkfifo "$T/ready"
    /usr/sbin/sandboxd --socket "$sock" --ready-fd 3 3>"$T/ready" 2>"$T/sandboxd.log" &
    daemon_pid=$!
    read -r -t 20 _ <"$T/ready"
}
t "the installed sandboxd starts with its built-in defaults" start_installed
run_installed() {
    rc=0
    timeout 60 /usr/bin/sandboxctl run --socket "$sock" --policy default "$img" \
        /bin/echo packaged >"$out" 2>"$err" || rc=$?
    [ "$rc" = 0 ] && [ "$(cat "$out")" = packaged ]
}
t "sandboxctl run --policy default through the installed binaries" run_installed
# sandboxctl image is the installed sandboxctl-image (LIBEXECDIR/sandboxd),
# which sandboxctl finds by its configured path, not beside itself.
image_installed() {
    mkdir -p "$T/tree/etc"
    echo packaged >"$T/tree/etc/marker"
    rc=0
    /usr/bin/sandboxctl image build --quiet "$T/tree" "$T/built.ext4" >"$out" 2>"$err" || rc=$?
    [ "$rc" = 0 ] || return 1
    /usr/bin/sandboxctl image inspect "$T/built.ext4" >"$out" 2>"$err" || rc=$?
    [ "$rc" = 0 ] && grep -q 'directory' "$out"
}
t "sandboxctl image build and inspect through the installed sandboxctl-image" image_installed
stop_installed() {
    kill -TERM "$daemon_pid"
    rc=0
    wait "$daemon_pid" || rc=$?
    local pid=$daemon_pid
    daemon_pid=
    [ "$rc" = 0 ] || return 1
    ! losetup -a -n -O BACK-FILE | grep -qF "$T" || { say "a loop device backs $img"; return 1; }
    ! find /sys/fs/cgroup -maxdepth 6 -type d -name "sandboxd.$pid" 2>/dev/null | grep -q . ||
        { say "cgroup sandboxd.$pid left behind"; return 1; }
}
t "the installed sandboxd stops on SIGTERM, leaving no loop device or cgroup" stop_installed

dpkg-query -L sandboxd >"$T/installed-paths"
purge() { "${apt[@]}" purge sandboxd >"$out" 2>"$err" || { rc=$?; return 1; }; }
t "apt-get purge of the package" purge
nothing_left() {
    local p ok=0
    if dpkg-query -W -f='${Status}' sandboxd 2>/dev/null | grep -q 'installed\|config-files'; then
        say "dpkg still knows sandboxd"
        ok=1
    fi
    # The package's own files; its directories may be shared (/usr/bin, and
    # /lib, a link to /usr/lib), its own are checked below.
    while read -r p; do
        [ -d "$p" ] && continue
        [ ! -e "$p" ] || { say "left behind: $p"; ok=1; }
    done <"$T/installed-paths"
    for p in "$state" /etc/sandboxd /run/sandboxd \
        /etc/systemd/system/sockets.target.wants/sandboxd.socket \
        /var/lib/systemd/deb-systemd-helper-enabled/sandboxd.socket.dsh-also \
        /var/lib/systemd/deb-systemd-helper-enabled/sockets.target.wants/sandboxd.socket; do
        [ ! -e "$p" ] || { say "left behind: $p"; ok=1; }
    done
    ! getent group sandbox >/dev/null || { say "group sandbox is left"; ok=1; }
    ! getent passwd sandboxd >/dev/null || { say "user sandboxd is left"; ok=1; }
    ! grep -qs '^sandboxd:' /etc/subuid /etc/subgid || { say "subordinate ids are left"; ok=1; }
    return $ok
}
t "purge leaves nothing: files, state, socket directory, enablement, group, user, subids" \
    nothing_left

# ---- under a real systemd -----------------------------------------------------

boot_tests() {
    local reason=$1
    echo "ok $((n + 1)) - systemd boot checks # SKIP $reason"
    n=$((n + 1))
}
cache=${SBX_TEST_CACHE:-/var/cache/sandboxd-test}
tree=$cache/systemd-root
tree_stamp=$cache/systemd-root.stamp
# The tree: systemd as init, dbus, and what the package depends on, read
# from the package itself (a new library dependency changes the stamp).
deb_depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' |
    sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$' | sort -u | paste -sd, -)
tree_packages=systemd,systemd-sysv,dbus,$deb_depends
want_stamp="bookworm minbase $tree_packages"

ensure_tools() {
    command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null && return 0
    "${apt[@]}" install systemd-container debootstrap >/dev/null 2>&1 ||
        { apt-get update -qq && "${apt[@]}" install systemd-container debootstrap >/dev/null 2>&1; }
    command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null
}

# Builds the tree once; later runs reuse it (cached like tests/image/mkdebian.sh's).
ensure_tree() {
    mkdir -p "$cache"
    exec 8>"$cache/systemd-root.lock"
    flock 8
    if [ -d "$tree" ] && [ "$(cat "$tree_stamp" 2>/dev/null)" = "$want_stamp" ]; then
        flock -u 8
        return 0
    fi
    local mirror
    mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk 'tolower($1) == "uris:" { print $2; exit }' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    rm -rf --one-file-system "$tree.new" "$tree"
    rm -f "$tree_stamp"
    say "debootstrap bookworm with $tree_packages from $mirror into $tree"
    if ! debootstrap --variant=minbase --include="$tree_packages" bookworm "$tree.new" "$mirror" \
        >"$cache/systemd-root.log" 2>&1; then
        tail -n 20 "$cache/systemd-root.log" | diag
        flock -u 8
        return 1
    fi
    rm -rf "$tree.new"/var/cache/apt/archives/*.deb "$tree.new"/var/lib/apt/lists/*
    mv "$tree.new" "$tree"
    echo "$want_stamp" >"$tree_stamp"
    flock -u 8
}

boot() {
    local root=$T/root
    flock -s 8
    cp -a "$tree" "$root"
    flock -u 8
    mkdir -p "$root/sbx-in" "$root/sbx-out" "$T/boot-out"
    cp "$deb" "$root/sbx-in/sandboxd.deb"
    cp "$TEST_IMAGE" "$root/sbx-in/test.ext4"
    cp "$here/boot-check.sh" "$root/sbx-in/boot-check.sh"
    cat >"$root/etc/systemd/system/sbx-boot-check.service" <<'UNIT'
[Unit]
Description=sandboxd package checks under systemd
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/sbx-in/boot-check.sh

[Install]
WantedBy=multi-user.target
UNIT
    ln -s /etc/systemd/system/sbx-boot-check.service \
        "$root/etc/systemd/system/multi-user.target.wants/sbx-boot-check.service"
    # The daemon attaches loop devices: the container gets /dev/loop-control
    # and the host's loop device nodes (a free one made first). Its own
    # network namespace gives it CAP_NET_ADMIN, which sandboxes need to
    # bring up their loopback. There is no systemd on the host to register
    # with or to make a scope unit: --register=no --keep-unit.
    losetup -f >/dev/null
    local binds=() d
    for d in /dev/loop-control /dev/loop[0-9]*; do
        binds+=("--bind=$d")
    done
    rc=0
    timeout 300 systemd-nspawn --quiet --register=no --keep-unit \
        --private-network --machine=sbx-package-$$ -D "$root" \
        --bind="$T/boot-out:/sbx-out" "${binds[@]}" --boot >"$T/console" 2>&1 || rc=$?
    say "systemd-nspawn --boot exited $rc"
    [ "$rc" = 0 ]
}

if ! ensure_tools; then
    boot_tests "systemd-nspawn or debootstrap is missing (apt-get install systemd-container debootstrap)"
elif ! ensure_tree; then
    boot_tests "debootstrap of the systemd tree failed (log: $cache/systemd-root.log)"
else
    console_on_fail() {
        say "console:"
        tail -n 30 "$T/console" | diag
    }
    tap_on_fail() { console_on_fail; }
    t "a Debian root boots with systemd as pid 1 and powers off" boot
    results=$T/boot-out/results
    while read -r line; do
        case $line in
        "ok "*) t "systemd: ${line#ok }" true ;;
        "not ok "*)
            tap_on_fail() {
                say "what the checks saw:"
                diag "$T/boot-out/log"
            }
            t "systemd: ${line#not ok }" false
            ;;
        esac
    done < <(cat "$results" 2>/dev/null)
    tap_on_fail() {
        say "what the checks saw:"
        tail -n 40 "$T/boot-out/log" 2>/dev/null | diag
    }
    t "systemd: every check inside the booted system ran" grep -qx "done" "$results"
    say "what the checks saw inside:"
    sed 's/^/#   /' "$T/boot-out/log" 2>/dev/null | head -n 200
fi

tap_finish
