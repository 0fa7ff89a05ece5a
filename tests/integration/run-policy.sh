#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Policies end to end, reported as TAP: every section of a YAML policy shown
# working inside real sandboxes of a real sandboxd, and what callers other
# than root may not ask for.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016,SC2034  # guest scripts single-quoted; variables read in eval
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
# The identity rules checked here are those of the host's user namespace
# (`userns: host`, or a daemon with no subordinate ids): the daemon gets
# none.  run-userns.sh checks those of a sandbox's own user namespace.
SUBID_BLOCKS=0
suite_init policy SANDBOXD SANDBOXCTL TEST_IMAGE
IMG=$T/test.ext4
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
mkdir -p "$T/policies" "$T/hostro" "$T/hostrw" "$T/private"
echo "from the host" >"$T/hostro/file"
chmod 0777 "$T/hostrw"
chmod 0700 "$T/private"


# run [--as USER] POLICY CMD...: sandboxctl run with that policy ("-" for none).
run() {
    local as=()
    if [ "$1" = --as ]; then
        as=(setpriv --reuid="$2" --regid="$3" --init-groups --)
        shift 3
    fi
    local p=$1
    shift
    local pol=()
    [ "$p" = - ] || pol=(--policy "$p")
    rc=0
    timeout 60 "${as[@]}" "$SANDBOXCTL" run --socket "$SOCK" "${pol[@]}" "$IMG" "$@" \
        >"$T/out" 2>"$T/err" || rc=$?
}

out_is() { [ "$(cat "$T/out")" = "$1" ]; }
err_has() { grep -q -- "$1" "$T/err"; }

suite_daemon

# ---- syscalls ------------------------------------------------------------------

policy deny-mkdir <<'YAML'
syscalls:
  rules:
    - { action: errno EACCES, syscalls: [mkdir, mkdirat] }
YAML
run deny-mkdir /bin/sh -c 'mkdir /tmp/d; echo "mkdir=$?"; touch /tmp/f && echo touched'
t "syscalls: an errno rule makes mkdir fail with Permission denied, other calls work" \
    eval 'rc_is 0 && out_is "$(printf "mkdir=1\ntouched")" && err_has "Permission denied"'

policy unix-only <<'YAML'
syscalls:
  rules:
    - action: errno EACCES
      syscalls: [socket]
      args: [{ index: 0, op: ne, value: AF_UNIX }]
YAML
run unix-only /bin/sh -c '/sbx/sockprobe unix; /sbx/sockprobe inet; /sbx/sockprobe inet6'
t "syscalls: an argument condition allows socket(AF_UNIX) only" \
    out_is "$(printf 'ok\nerrno=EACCES\nerrno=EACCES')"
run - /sbx/sockprobe inet
t "syscalls: without the rule socket(AF_INET) works" eval 'rc_is 0 && out_is ok'

policy kill-getppid <<'YAML'
syscalls:
  rules:
    - { action: kill, syscalls: [getppid] }
YAML
run kill-getppid /sbx/probe pid
t "syscalls: a kill rule kills the guest with SIGSYS (exit 159)" rc_is 159

policy default-deny <<'YAML'
syscalls:
  mode: off
  default: errno EPERM
  rules:
    - action: allow
      syscalls: [execve, brk, arch_prctl, set_tid_address, set_robust_list, rseq, prlimit64,
                 mprotect, readlink, getrandom, mmap, munmap, write, exit_group, uname, newfstatat]
YAML
run default-deny /sbx/sockprobe unix
t "syscalls: a default errno EPERM denies what the rules do not allow" \
    eval 'rc_is 1 && out_is "errno=EPERM"'

# ---- filesystem ----------------------------------------------------------------

policy binds <<YAML
filesystem:
  mounts:
    - { type: bind, source: $T/hostro, target: /data }
    - { type: bind, source: $T/hostrw, target: /out, readonly: false }
    - { type: tmpfs, target: /scratch, size: 1M }
  masked: [/etc/sbx-image]
YAML
run binds /bin/sh -c 'cat /data/file; echo x > /data/new || echo ro-refused
    echo through > /out/written && echo rw-ok
    dd if=/dev/zero of=/scratch/big bs=64k count=64 2>/dev/null || echo tmpfs-full
    echo "masked=[$(cat /etc/sbx-image)]"'
t "filesystem: a read-only bind is readable and refuses writes" \
    eval 'rc_is 0 && grep -qx "from the host" "$T/out" && grep -qx ro-refused "$T/out" &&
          err_has "Read-only file system"'
t "filesystem: a writable bind writes through to the host" \
    eval 'grep -qx rw-ok "$T/out" && [ "$(cat "$T/hostrw/written")" = through ]'
t "filesystem: a tmpfs mount has the size the policy gives" grep -qx tmpfs-full "$T/out"
t "filesystem: a masked path reads empty" grep -qx 'masked=\[\]' "$T/out"

cp "$IMG" "$T/writable.ext4"
before=$(sha256sum <"$IMG")
policy writable <<'YAML'
filesystem:
  writable_image: true
YAML
rc=0
timeout 60 "$SANDBOXCTL" run --socket "$SOCK" --policy writable "$T/writable.ext4" \
    /bin/sh -c 'echo kept > /etc/persisted' >"$T/out" 2>"$T/err" || rc=$?
timeout 60 "$SANDBOXCTL" run --socket "$SOCK" "$T/writable.ext4" /bin/cat /etc/persisted \
    >"$T/out" 2>"$T/err" || rc=$?
t "filesystem: writable_image writes into the image file itself" eval 'rc_is 0 && out_is kept'
run - /bin/sh -c 'cat /etc/persisted 2>/dev/null || echo absent'
t "filesystem: by default the image is untouched" \
    eval 'out_is absent && [ "$(sha256sum <"$IMG")" = "$before" ]'

# ---- process -------------------------------------------------------------------

policy identity <<'YAML'
process:
  user: sbxuser
  groups: [users]
  cwd: /home/sbxuser
  env: { GREETING: hello }
  hostname: builder
  capabilities: [CAP_NET_BIND_SERVICE]
  rlimits: { nofile: 64 }
  umask: "0077"
YAML
run identity /bin/sh -c 'id; pwd; echo "$GREETING"; echo "${PATH:+path-set}"; hostname
    grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb):" /proc/self/status; ulimit -n; umask'
t "process: user and groups resolved in the image's /etc/passwd and /etc/group" \
    eval 'rc_is 0 && grep -qx "uid=1000(sbxuser) gid=1000(sbxgroup) groups=100(users)" "$T/out"'
t "process: cwd, env (extended), hostname" \
    eval 'sed -n 2,5p "$T/out" | diff -q - <(printf "/home/sbxuser\nhello\npath-set\nbuilder\n") >/dev/null'
# As a uid other than 0 the capability survives exec only by the ambient set,
# and the bounding set holds it and nothing more.
t "process: kept capability is inheritable, permitted, effective, bounding and ambient" \
    eval 'sed -n 6,10p "$T/out" | diff - <(printf "Cap%s:\t0000000000000400\n" Inh Prm Eff Bnd Amb)'
t "process: rlimit nofile and umask apply" \
    eval 'sed -n 11,12p "$T/out" | diff -q - <(printf "64\n0077\n") >/dev/null'
run - /bin/sh -c 'grep CapEff /proc/self/status'
t "process: without the policy no capability is kept" grep -q 'CapEff:.*0000000000000000' "$T/out"

policy replace-env <<'YAML'
process:
  env: { ONLY: this }
  env_mode: replace
YAML
run replace-env /usr/bin/env
t "process: env_mode replace gives exactly the policy's environment" out_is "ONLY=this"

# ---- limits --------------------------------------------------------------------

policy memory <<'YAML'
limits: { memory: 32M }
YAML
run memory /bin/sh -c 'a=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; while :; do a="$a$a"; done'
t "limits: the memory limit stops a memory hog, reported as out of memory" \
    eval 'rc_is 137 && err_has "out of memory"'

policy pids <<'YAML'
limits: { pids: 16, timeout: 5s }
YAML
rc=0
timeout 60 "$SANDBOXCTL" run --socket "$SOCK" --policy pids "$IMG" /bin/sh -c \
    'i=0; while [ $i -lt 64 ]; do sleep 30 & i=$((i+1)); done; echo spawned; wait' \
    >"$T/bomb.out" 2>"$T/bomb.err" &
bomb=$!
sleep 1
run - /bin/sh -c 'echo other sandbox'
t "limits: while a sandbox hits its pids limit, another one runs" \
    eval 'rc_is 0 && out_is "other sandbox"'
wait "$bomb" || rc=$?
# busybox sh gives up (exit 2) when fork fails; it never gets to "spawned".
t "limits: the pids limit stops a fork bomb" \
    eval 'grep -q "can.t fork" "$T/bomb.err" && ! grep -q spawned "$T/bomb.out" && rc_is 2'

policy timeout <<'YAML'
limits: { timeout: 1s }
YAML
start=$(date +%s)
run timeout /bin/sleep 100
t "limits: the timeout kills the sandbox; sandboxctl exits 124 with a message" \
    eval 'rc_is 124 && err_has "timeout" && [ $(($(date +%s) - start)) -lt 10 ]'

# ---- network -------------------------------------------------------------------

run - /sbx/probe ifaces
t "network: none (the default) shows only lo" out_is lo
policy host-net <<'YAML'
network: host
YAML
run host-net /sbx/probe ifaces
host_ifaces=$(tail -n +3 /proc/net/dev | wc -l)
t "network: host shows the host's interfaces" \
    eval 'rc_is 0 && [ "$(wc -l <"$T/out")" -eq "$host_ifaces" ]'

# ---- named policies and errors -------------------------------------------------

run deny-mkdir /bin/mkdir /tmp/x
t "a policy by name is read from the daemon's policy directory" \
    eval 'rc_is 1 && err_has "Permission denied"'
run no-such-policy /bin/true
t "an unknown policy name is refused with exit 125" \
    eval 'rc_is 125 && err_has "no-such-policy"'
printf 'syscalls:\n  rules:\n    - { action: allow, syscalls: [opnat] }\n' >"$T/bad.yaml"
run "$T/bad.yaml" /bin/true
t "an invalid policy file is refused with file:line:col" \
    eval 'rc_is 125 && err_has "bad.yaml:3:.*opnat"'

# ---- sandboxctl policy check ---------------------------------------------------

SRC=$(cd "$(dirname "$0")/../.." && pwd)
rc=0
"$SANDBOXCTL" policy check "$SRC"/policies/*.yaml >"$T/out" 2>"$T/err" || rc=$?
t "policy check: the example policies are valid (exit 0, silent)" \
    eval 'rc_is 0 && [ ! -s "$T/out" ] && [ ! -s "$T/err" ]'
cat >"$T/expected" <<'EXPECTED'
bad-keys.yaml:2:1: unknown key 'sycalls' (did you mean 'syscalls'?)
bad-keys.yaml:4:3: unknown key 'cwdd' in 'process' (did you mean 'cwd'?)
bad-keys.yaml:6:3: duplicate key 'cwd' (first at line 5)
bad-keys.yaml:9:34: unknown key 'sise' in a mount (did you mean 'size'?)
bad-keys.yaml:10:23: unknown key 'frob' in 'limits'
EXPECTED
rc=0
"$SANDBOXCTL" policy check "$SRC/tests/unit/policy-fixtures/bad-keys.yaml" >"$T/out" 2>"$T/err" || rc=$?
t "policy check: every problem of a file, each at FILE:LINE:COL, exit 2" \
    eval 'rc_is 2 && sed "s|^.*/policy-fixtures/||" "$T/err" | diff -u "$T/expected" - >&2'
rc=0
"$SANDBOXCTL" policy check "$SRC"/tests/unit/policy-fixtures/bad-*.yaml >"$T/out" 2>"$T/err" || rc=$?
t "policy check: every malformed fixture is reported, nothing but FILE:LINE:COL lines" \
    eval 'rc_is 2 && [ "$(grep -c . "$T/err")" -ge 8 ] &&
          ! grep -vE "^[^:]+:[0-9]+:[0-9]+: " "$T/err" &&
          [ "$(sed "s/:.*//" "$T/err" | sort -u | wc -l)" -eq "$(ls "$SRC"/tests/unit/policy-fixtures/bad-*.yaml | wc -l)" ]'

# ---- what only root may ask for (nobody is authorized through --group nogroup) --

run --as 65534 65534 - /bin/sh -c 'id -u; id -g'
t "a member of the group runs as itself by default" \
    eval 'rc_is 0 && out_is "$(printf "65534\n65534")"'
run --as 65534 65534 host-net /bin/true
t "only root may ask for the host network" \
    eval 'rc_is 125 && err_has "only root may use"'
policy no-baseline <<'YAML'
syscalls: { baseline: none }
YAML
run --as 65534 65534 no-baseline /bin/true
t "only root may opt out of the baseline" eval 'rc_is 125 && err_has "only root may use"'
run --as 65534 65534 identity /bin/true
t "only root may keep capabilities" eval 'rc_is 125 && err_has "only root may use"'
policy as-root <<'YAML'
process: { user: root }
YAML
run --as 65534 65534 as-root /bin/true
t "only root may run the guest as uid 0" eval 'rc_is 125 && err_has "permission denied"'
policy as-sbxuser <<'YAML'
process: { user: sbxuser }
YAML
# Sent as text (a path), the policy is the caller's own, not the operator's.
run --as 65534 65534 "$T/policies/as-sbxuser.yaml" /bin/true
t "others' own policies may not run the guest as a third uid" \
    eval 'rc_is 125 && err_has "uid 1000"'
# The image is the caller's: a name in an operator's policy would mean what it says.
run --as 65534 65534 as-sbxuser /bin/sh -c 'id -u'
t "an operator's policy names no user for a caller other than root, only numbers" \
    eval 'rc_is 125 && err_has "user .sbxuser. is a name"'
policy as-1000 <<'YAML'
process: { user: "1000:1000" }
YAML
run --as 65534 65534 as-1000 /bin/sh -c 'id -u; id -g'
t "an operator's policy (by name, root-owned) may run it as a third uid" \
    eval 'rc_is 0 && out_is "$(printf "1000\n1000")"'
policy private-bind <<YAML
filesystem:
  mounts: [{ type: bind, source: $T/private, target: /private }]
YAML
run --as 65534 65534 private-bind /bin/true
t "a bind source the caller cannot open is refused, naming it" \
    eval "rc_is 125 && err_has 'cannot open bind source $T/private'"
# The default limits protect the host from a member: its own policy and its
# options may lower them, only root or an operator's policy may raise them.
policy more-memory <<'YAML'
limits: { memory: 2G, pids: 2048 }
YAML
run --as 65534 65534 "$T/policies/more-memory.yaml" /bin/true
t "a member's own policy may not raise the default memory limit" \
    eval 'rc_is 125 && err_has "only root or an operator.s policy may ask for more than the default limits (limits: memory)"'
policy no-memory-limit <<'YAML'
limits: { memory: unlimited }
YAML
run --as 65534 65534 "$T/policies/no-memory-limit.yaml" /bin/true
t "a member's own policy may not lift the memory limit" \
    eval 'rc_is 125 && err_has "limits: memory"'
policy big-tmp <<'YAML'
filesystem: { tmp_size: 4G }
YAML
run --as 65534 65534 "$T/policies/big-tmp.yaml" /bin/true
t "a member's own policy may not raise a writable layer's size" \
    eval 'rc_is 125 && err_has "filesystem: tmp_size"'
policy rtprio <<'YAML'
process: { rlimits: { rtprio: 99 } }
YAML
run --as 65534 65534 "$T/policies/rtprio.yaml" /bin/true
t "a member's own policy may not raise an rlimit over the daemon's hard limit" \
    eval 'rc_is 125 && err_has "process: rlimits"'
policy less <<'YAML'
limits: { memory: 256M, pids: 64 }
filesystem: { tmp_size: 16M }
YAML
run --as 65534 65534 "$T/policies/less.yaml" /bin/sh -c 'df -k /tmp | awk "NR==2 {print \$2}"'
t "a member's own policy may lower the defaults" eval 'rc_is 0 && out_is 16384'
run --as 65534 65534 more-memory /bin/true
t "an operator's policy may raise the defaults for a member" eval 'rc_is 0'
policy tmpfs-unsized <<'YAML'
filesystem:
  mounts: [{ type: tmpfs, target: /scratch }]
YAML
run --as 65534 65534 "$T/policies/tmpfs-unsized.yaml" \
    /bin/sh -c 'df -k /scratch | awk "NR==2 {print \$2}"'
t "a member's tmpfs mount without a size gets the default /tmp's size" \
    eval 'rc_is 0 && out_is 524288'
run "$T/policies/no-memory-limit.yaml" /bin/true
t "root may lift the memory limit" eval 'rc_is 0'

# Let everyone reach the socket, so that sandboxd's own check is what refuses.
chmod 0666 "$SOCK"
run --as 1 1 - /bin/true
t "a caller outside the group is refused by sandboxd" \
    eval 'rc_is 125 && err_has "not root and not in group"'
# sandboxctl sends its request right behind HELLO: the refusal is all it says,
# whether the request went out before the daemon closed or not.
t "... in one line" test "$(wc -l <"$T/err")" = 1

# ---- the baseline: device events, socket families, set-id files ------------------

modes=(off trap rewrite)

# A NETLINK_KOBJECT_UEVENT socket of the host's network namespace hears the
# host's device events, and so did one of a sandbox's own: the kernel sends
# them to every network namespace that belongs to the host's user namespace.
# Listeners in every mode, and one with network: host that must hear them.
listeners=()
names=()
for m in "${modes[@]}"; do
    printf 'syscalls: { mode: %s }\n' "$m" | policy "uevent-$m"
    printf 'syscalls: { mode: %s }\nnetwork: host\n' "$m" | policy "uevent-host-$m"
    names+=("uevent-$m" "uevent-host-$m")
done
for p in "${names[@]}"; do
    timeout 60 "$SANDBOXCTL" run --socket "$SOCK" --policy "$p" "$IMG" /sbx/probe uevent 10 \
        >"$T/$p.out" 2>"$T/$p.err" &
    listeners+=($!)
done
# Each listener says "listening" or why it cannot; then a loop device comes and
# goes.  The first event a listener hears may be another one's: other sandboxes
# on this host attach loop devices too.
for _ in $(seq 100); do
    ready=0
    for p in "${names[@]}"; do
        [ -s "$T/$p.out" ] && ready=$((ready + 1))
    done
    [ "$ready" -eq "${#names[@]}" ] && break
    sleep 0.1
done
truncate -s 1M "$T/loopfile"
loopdev=$(losetup -f --show "$T/loopfile")
losetup -d "$loopdev"
for pid in "${listeners[@]}"; do wait "$pid" || true; done
# listener_says NAME REGEX: the listener's whole output matches REGEX.
listener_says() {
    [[ $(cat "$T/$1.out") =~ $2 ]] && return 0
    say "expected '$2'; the listener printed:"
    diag "$T/$1.out" "$T/$1.err"
    return 1
}
for m in "${modes[@]}"; do
    t "baseline ($m): a uevent socket is refused with EPROTONOSUPPORT; no host event reaches it" \
        listener_says "uevent-$m" '^errno=EPROTONOSUPPORT$'
    t "baseline ($m): with network: host the guest hears the host's device events" \
        listener_says "uevent-host-$m" $'^listening\nevent [a-z]+@/devices/[^\n]*$'
done
run - /sbx/probe syscall netlink-route
t "baseline: a NETLINK_ROUTE socket still works" eval 'rc_is 0 && out_is ok'
run host-net /sbx/probe syscall vsock
vsock_host=$(cat "$T/out")
run - /sbx/probe syscall vsock
t "baseline: socket(AF_VSOCK) is refused with EAFNOSUPPORT, and network: host lifts that" \
    eval 'out_is errno=EAFNOSUPPORT && [ "$vsock_host" != errno=EAFNOSUPPORT ]'

# A root caller's guest is host uid 0: a set-id file it leaves on a writable
# bind is a set-id-root file on the host.  The filter refuses set-id bits in
# every call that sets a mode there; 0755 still works.
cat >"$T/setid-expected" <<'EXPECTED'
open errno=EPERM
open-setgid errno=EPERM
creat errno=EPERM
open-legacy errno=EPERM
mknodat errno=EPERM
mknod errno=EPERM
tmpfile errno=EPERM
openat2 errno=ENOSYS
chmod errno=EPERM
fchmod errno=EPERM
fchmodat errno=EPERM
fchmodat2 errno=EPERM
fchmod-setgid errno=EPERM
fchmod-plain ok
EXPECTED
for m in "${modes[@]}"; do
    mkdir -m 0777 "$T/setid-$m"
    policy "setid-$m" <<YAML
syscalls: { mode: $m }
filesystem:
  mounts: [{ type: bind, source: $T/setid-$m, target: /out, readonly: false }]
YAML
    run "setid-$m" /sbx/probe setid /out
    t "baseline ($m): a root guest makes no set-id file on a writable bind, by any call" \
        eval "rc_is 0 && diff -u '$T/setid-expected' '$T/out' >&2 &&
              [ -z \"\$(find '$T/setid-$m' -perm /6000)\" ] &&
              [ \"\$(stat -c %a '$T/setid-$m/fchmod-plain')\" = 755 ]"
done
mkdir -m 0777 "$T/setid-sh"
policy setid-sh <<YAML
filesystem:
  mounts: [{ type: bind, source: $T/setid-sh, target: /out, readonly: false }]
YAML
run setid-sh /bin/sh -c 'cd /out && touch f g && chmod 4755 f; echo "chmod=$?"
    chmod 755 g; echo "chmod755=$?"'
t "baseline: chmod 4755 on a writable bind fails with EPERM; the host's file keeps 644" \
    eval 'out_is "$(printf "chmod=1\nchmod755=0")" && err_has "Operation not permitted" &&
          [ "$(stat -c %a "$T/setid-sh/f")" = 644 ]'
t "baseline: chmod 755 on a writable bind works" eval '[ "$(stat -c %a "$T/setid-sh/g")" = 755 ]'
run - /bin/sh -c 'touch /root/f && chmod 4755 /root/f && stat -c %a /root/f'
t "baseline: where nothing persists (the overlay) a root guest still sets set-id bits" \
    eval 'rc_is 0 && out_is 4755'
run setid-sh /bin/sh -c 'touch /root/f && chmod 4755 /root/f; echo "chmod=$?"'
t "baseline: with a writable bind the rule covers the whole sandbox, the overlay too" \
    out_is chmod=1
policy setid-user <<YAML
process: { user: sbxuser }
filesystem:
  mounts: [{ type: bind, source: $T/setid-sh, target: /out, readonly: false }]
YAML
run setid-user /bin/sh -c 'touch /out/u && chmod 4755 /out/u; echo "chmod=$?"'
t "baseline: a guest of another uid may set its own set-id bits on a writable bind" \
    eval 'out_is chmod=0 && [ "$(stat -c %a:%u "$T/setid-sh/u")" = 4755:1000 ]'
cp "$TEST_IMAGE" "$T/setid.ext4"
run_writable() {
    rc=0
    timeout 60 "$SANDBOXCTL" run --socket "$SOCK" --policy writable "$T/setid.ext4" "$@" \
        >"$T/out" 2>"$T/err" || rc=$?
}
run_writable /bin/sh -c 'touch /setid-f && chmod 4755 /setid-f; echo "chmod=$?"'
t "baseline: a root guest makes no set-id file in a writable image" \
    eval 'out_is chmod=1 && err_has "Operation not permitted"'

kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
t "sandboxd served the whole suite and stops cleanly" rc_is 0

tap_finish
