#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The policy fields as options of sandboxctl run, reported as TAP: each one
# working in a real sandbox of a real sandboxd, its composition with
# --policy (the option wins), the refusals a caller other than root gets,
# bad values with the option named, and --help on every command.  Needs root.
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
suite_init options SANDBOXD SANDBOXCTL TEST_IMAGE
IMG=$T/test.ext4
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
mkdir -p "$T/policies" "$T/hostro" "$T/hostrw" "$T/private"
echo "from the host" >"$T/hostro/file"
chmod 0777 "$T/hostrw"
chmod 0700 "$T/private"


# run [--as UID] ARGS...: sandboxctl run ARGS (options, IMAGE, CMD) on our daemon.
run() {
    local as=()
    if [ "$1" = --as ]; then
        as=(setpriv --reuid="$2" --regid=65534 --init-groups --)
        shift 2
    fi
    rc=0
    timeout 60 "${as[@]}" "$SANDBOXCTL" run --socket "$SOCK" "$@" >"$T/out" 2>"$T/err" || rc=$?
}

out_is() { [ "$(cat "$T/out")" = "$1" ]; }
err_is() { [ "$(cat "$T/err")" = "$1" ]; }
err_has() { grep -q -- "$1" "$T/err"; }

suite_daemon

# ---- filesystem ------------------------------------------------------------------

run -v "$T/hostro:/data" -v "$T/hostrw:/out:rw" "$IMG" /bin/sh -c 'cat /data/file
    echo x >/data/new || echo ro-refused; echo through >/out/written && echo rw-ok'
t "-v SRC:DST binds a host directory read-only" \
    eval 'rc_is 0 && grep -qx "from the host" "$T/out" && grep -qx ro-refused "$T/out" &&
          [ ! -e "$T/hostro/new" ]'
t "-v SRC:DST:rw writes through to the host" \
    eval 'grep -qx rw-ok "$T/out" && [ "$(cat "$T/hostrw/written")" = through ]'
run --volume "$T/hostro:/data:ro" "$IMG" /bin/sh -c 'echo x >/data/new || echo ro-refused'
t "--volume SRC:DST:ro is read-only" eval 'rc_is 0 && out_is ro-refused'

run --tmpfs /scratch:size=2M,mode=1777 "$IMG" /bin/sh -c \
    'df -k /scratch | tail -n 1; stat -c %a /scratch'
t "--tmpfs DST:size=N,mode=M: df shows the size, stat the mode" \
    eval 'rc_is 0 && [ "$(sed -n 1p "$T/out" | awk "{print \$2}")" = 2048 ] &&
          [ "$(sed -n 2p "$T/out")" = 1777 ]'

run -w /etc "$IMG" /bin/pwd
t "-w sets the working directory" eval 'rc_is 0 && out_is /etc'

# ---- process ---------------------------------------------------------------------

run -u 1000 "$IMG" /bin/sh -c 'id -u; id -g'
t "-u UID as root runs the guest as that uid" eval 'rc_is 0 && out_is "$(printf "1000\n1000")"'
run --user sbxuser:users "$IMG" /bin/sh -c 'id -un; id -gn'
t "--user NAME:GROUP resolves names in the image" \
    eval 'rc_is 0 && out_is "$(printf "sbxuser\nusers")"'
run -u 0 "$IMG" id -u
t "-u 0 as root runs the guest as root" eval 'rc_is 0 && out_is 0'

run --hostname opt-host "$IMG" /bin/hostname
t "--hostname sets the sandbox's hostname" eval 'rc_is 0 && out_is opt-host'

run --cap-add NET_BIND_SERVICE "$IMG" /bin/sh -c 'grep CapEff /proc/self/status'
t "--cap-add as root keeps the capability" \
    eval 'rc_is 0 && grep -q "CapEff:.*0000000000000400" "$T/out"'

run --ulimit nofile=64:128 "$IMG" /bin/sh -c 'ulimit -Sn; ulimit -Hn'
t "--ulimit NAME=SOFT:HARD sets both limits" eval 'rc_is 0 && out_is "$(printf "64\n128")"'
run --ulimit nofile=100 "$IMG" /bin/sh -c 'ulimit -Sn; ulimit -Hn'
t "--ulimit NAME=N sets soft and hard" eval 'rc_is 0 && out_is "$(printf "100\n100")"'

export SBX_FROM_CALLER="caller's value"
unset SBX_UNSET_VAR
run -e SBX_FROM_CALLER -e SBX_UNSET_VAR -e SET=here "$IMG" /bin/sh -c \
    'echo "$SBX_FROM_CALLER"; echo "${SBX_UNSET_VAR-unset}"; echo "$SET"'
t "-e KEY passes the caller's value, nothing when unset; -e KEY=VALUE sets" \
    eval 'rc_is 0 && out_is "$(printf "caller'\''s value\nunset\nhere")"'

printf '# a comment\n\nA=1\nB=two words\nSBX_FROM_CALLER\n' >"$T/env"
run --env-file "$T/env" -e A=override "$IMG" /bin/sh -c 'echo "$A|$B|$SBX_FROM_CALLER"'
t "--env-file reads KEY=VALUE and KEY lines; a later -e wins" \
    eval 'rc_is 0 && out_is "override|two words|caller'\''s value"'
printf 'GOOD=1\n=bad\n' >"$T/badenv"
run --env-file "$T/badenv" "$IMG" /bin/true
t "--env-file: a bad line is refused with FILE:LINE" \
    eval 'rc_is 125 && err_has "^sandboxctl: --env-file $T/badenv:2: expected KEY=VALUE or KEY"'

# ---- limits ----------------------------------------------------------------------

# cg_read FILE... -- OPTIONS...: while a sandbox started with OPTIONS sleeps,
# the first of the FILEs (v2 or v1 names) that its cgroups have, from the host.
# The daemon's spare sandbox has cgroups too, with the default limits and
# sandbox init alone in them: the running one holds its guest as well.
cg_read() {
    local files=() dir f v=
    while [ "$1" != -- ]; do files+=("$1"); shift; done
    shift
    run "$@" "$IMG" /bin/sleep 3 &
    local job=$!
    for _ in $(seq 50); do
        while read -r dir; do
            for f in "${files[@]}"; do
                [ "$(wc -l <"$dir/cgroup.procs" 2>/dev/null || echo 0)" -ge 2 ] || continue
                if [ -z "$v" ] && [ -r "$dir/$f" ]; then v=$(cat "$dir/$f"); fi
            done
        done < <(find /sys/fs/cgroup -maxdepth 5 -type d -name "sbx-$daemon_pid-*" 2>/dev/null)
        [ -n "$v" ] && break
        sleep 0.1
    done
    wait "$job" || true
    echo "$v"
}
v=$(cg_read memory.max memory.limit_in_bytes -- --memory 64M)
t "--memory sets the sandbox's cgroup memory limit (seen from the host)" [ "$v" = 67108864 ]
v=$(cg_read pids.max -- --pids-limit 42)
t "--pids-limit sets the sandbox's cgroup pids limit" [ "$v" = 42 ]
v=$(cg_read cpu.max cpu.cfs_quota_us -- --cpus 0.5)
t "--cpus sets the sandbox's cgroup CPU quota" \
    eval '[ "$v" = "50000 100000" ] || [ "$v" = 50000 ]'

start=$(date +%s)
run --timeout 1s "$IMG" /bin/sleep 100
t "--timeout kills the sandbox; exit 124" \
    eval 'rc_is 124 && err_has "timeout" && [ $(($(date +%s) - start)) -lt 10 ]'

# ---- network ---------------------------------------------------------------------

run --network none "$IMG" /sbx/probe ifaces
t "--network none shows only lo" eval 'rc_is 0 && out_is lo'
run --network host "$IMG" /sbx/probe ifaces
host_ifaces=$(tail -n +3 /proc/net/dev | wc -l)
t "--network host as root shows the host's interfaces" \
    eval 'rc_is 0 && [ "$(wc -l <"$T/out")" -eq "$host_ifaces" ]'

# ---- composition with --policy ---------------------------------------------------

cat >"$T/policies/base.yaml" <<YAML
filesystem:
  mounts: [{ type: bind, source: $T/hostro, target: /data }]
process: { hostname: from-policy, cwd: /tmp, rlimits: { nofile: 50, core: 0 } }
limits: { memory: 32M, pids: 20 }
YAML
run --policy base --hostname from-option -w / --ulimit nofile=70 -v "$T/hostrw:/data:rw" \
    "$IMG" /bin/sh -c 'hostname; pwd; ulimit -n; ulimit -c; ls /data'
t "options win over the policy's fields; the policy's others stay" \
    eval 'rc_is 0 && out_is "$(printf "from-option\n/\n70\n0\nwritten")"'
v=$(cg_read memory.max memory.limit_in_bytes -- --policy base --memory 48M)
t "--memory wins over the policy's limits.memory" [ "$v" = 50331648 ]
v=$(cg_read pids.max -- --policy base --memory 48M)
t "the policy's limits.pids stays when only --memory is given" [ "$v" = 20 ]
v=$(cg_read memory.max memory.limit_in_bytes -- --policy "$T/policies/base.yaml" \
    --memory 40M --memory 36M)
t "with a policy file, the last of an option given twice wins" [ "$v" = 37748736 ]

# ---- bad values ------------------------------------------------------------------

run --memory 12Q "$IMG" /bin/true
t "--memory 12Q: the policy's message, naming the option" \
    eval 'rc_is 125 && err_is "sandboxctl: --memory 12Q: invalid value '\''12Q'\'' for '\''memory'\'' (a size such as 256M or 2G)"'
run --pids-limit 0 --cpus lots "$IMG" /bin/true
t "every bad option is reported, each on its own line" \
    eval 'rc_is 125 && err_has "^sandboxctl: --pids-limit 0: '\''pids'\'' is out of range" &&
          err_has "^--cpus lots: invalid value '\''lots'\'' for '\''cpu'\''"'
run --network bridge "$IMG" /bin/true
t "--network takes none or host" \
    eval 'rc_is 125 && err_has "^sandboxctl: --network bridge: invalid value '\''bridge'\'' for '\''network'\'' (expected none or host)"'
run -v relative:/data "$IMG" /bin/true
t "-v needs an absolute source, as a policy's bind does" \
    eval 'rc_is 125 && err_has "^sandboxctl: --volume relative:/data: '\''source'\'' must be an absolute path"'
run -v "$T/hostro:/data:rx" "$IMG" /bin/true
t "-v's third field is ro or rw" \
    eval 'rc_is 125 && err_has "^sandboxctl: --volume $T/hostro:/data:rx: expected SRC:DST\[:ro|rw\]"'
run -v "$T/hostro:/d" --tmpfs /d "$IMG" /bin/true
t "two options cannot mount at the same target" \
    eval 'rc_is 125 && err_has "^sandboxctl: --tmpfs /d: '\''/d'\'' is already the target"'
run --tmpfs /s:size=1Z "$IMG" /bin/true
t "--tmpfs size is checked as the policy's" \
    eval 'rc_is 125 && err_has "^sandboxctl: --tmpfs /s:size=1Z: invalid value '\''1Z'\'' for '\''size'\''"'
run --tmpfs /s:uid=0 "$IMG" /bin/true
t "--tmpfs takes size and mode only" \
    eval 'rc_is 125 && err_has "^sandboxctl: --tmpfs /s:uid=0: expected DST\[:size=N,mode=M\]"'
run -w relative "$IMG" /bin/true
t "-w needs an absolute path" \
    eval 'rc_is 125 && err_has "^sandboxctl: --workdir relative: '\''cwd'\'' must be an absolute path"'
run -u "bad user" "$IMG" /bin/true
t "-u refuses what the policy's user refuses" \
    eval 'rc_is 125 && err_has "^sandboxctl: --user bad user: invalid user '\''bad user'\''"'
run -u nosuchuser "$IMG" /bin/true
t "-u with a name the image does not have names the option" \
    eval 'rc_is 125 && err_has "^sandboxctl: --user nosuchuser: policy identity:"'
run --hostname -bad- "$IMG" /bin/true
t "--hostname refuses what the policy refuses" \
    eval 'rc_is 125 && err_has "^sandboxctl: --hostname -bad-: invalid hostname"'
run --timeout soon "$IMG" /bin/true
t "--timeout takes a duration" \
    eval 'rc_is 125 && err_has "^sandboxctl: --timeout soon: invalid value '\''soon'\'' for '\''timeout'\''"'
run --cap-add CAP_SYS_ADMN "$IMG" /bin/true
t "--cap-add names a capability, with the policy's suggestion" \
    eval 'rc_is 125 && err_has "^sandboxctl: --cap-add CAP_SYS_ADMN: unknown capability '\''CAP_SYS_ADMN'\'' (did you mean '\''CAP_SYS_ADMIN'\''?)"'
run --ulimit nofile "$IMG" /bin/true
t "--ulimit needs NAME=SOFT[:HARD]" \
    eval 'rc_is 125 && err_has "^sandboxctl: --ulimit nofile: expected NAME=SOFT\[:HARD\]"'
run --ulimit nofiles=10 "$IMG" /bin/true
t "--ulimit names an rlimit, with the policy's suggestion" \
    eval 'rc_is 125 && err_has "^sandboxctl: --ulimit nofiles=10: unknown rlimit '\''nofiles'\'' (did you mean '\''nofile'\''?)"'
run --ulimit nofile=20:10 "$IMG" /bin/true
t "--ulimit: the soft limit may not exceed the hard one" \
    eval 'rc_is 125 && err_has "the soft limit exceeds the hard one"'
run -e =x "$IMG" /bin/true
t "-e refuses an empty name" eval 'rc_is 125 && err_has "^sandboxctl: --env: expected KEY=VALUE or KEY"'

# ---- what only root may ask for --------------------------------------------------

run --as 65534 --memory 64M --hostname mine -v "$T/hostrw:/out:rw" --tmpfs /s -w /s \
    --ulimit nofile=32 --timeout 30s "$IMG" /bin/sh -c \
    'id -u; hostname; pwd; ulimit -n; echo mine >/out/by-nobody'
t "a member of the group may use the options that need no privilege" \
    eval 'rc_is 0 && out_is "$(printf "65534\nmine\n/s\n32")" &&
          [ "$(stat -c %u "$T/hostrw/by-nobody")" = 65534 ]'
run --as 65534 --network host "$IMG" /bin/true
t "--network host is refused to a caller other than root, naming the option" \
    eval 'rc_is 125 && err_is "sandboxctl: permission denied: only root may use --network host"'
run --as 65534 --cap-add NET_BIND_SERVICE "$IMG" /bin/true
t "--cap-add is refused to a caller other than root" \
    eval 'rc_is 125 && err_is "sandboxctl: permission denied: only root may use --cap-add NET_BIND_SERVICE"'
run --as 65534 -u 0 "$IMG" /bin/true
t "-u 0 is refused to a caller other than root" \
    eval 'rc_is 125 && err_has "^sandboxctl: --user 0: permission denied"'
run --as 65534 -u 1000 "$IMG" /bin/true
t "-u with another uid is refused to a caller other than root" \
    eval 'rc_is 125 && err_has "^sandboxctl: --user 1000: permission denied.*uid 1000"'
run --as 65534 -u 65534:100 "$IMG" /bin/true
t "-u with a group the caller is not in is refused" \
    eval 'rc_is 125 && err_has "^sandboxctl: --user 65534:100: permission denied.*gid 100"'
run --as 65534 -u 65534:0 "$IMG" /bin/true
t "-u with group 0 is refused to a caller other than root" \
    eval 'rc_is 125 && err_has "^sandboxctl: --user 65534:0: permission denied.*group 0"'
run --as 65534 -u 65534 "$IMG" id -u
t "-u with the caller's own uid is allowed" eval 'rc_is 0 && out_is 65534'
run --as 65534 -v "$T/private:/private" "$IMG" /bin/true
t "-v with a source the caller cannot open is refused, naming it" \
    eval "rc_is 125 && err_has 'cannot open bind source $T/private'"
# Numbers: an operator's policy names no user for others than root (names
# would mean what the caller's image says).
cat >"$T/policies/as-sbxuser.yaml" <<'YAML'
process: { user: "1000:1000" }
YAML
run --as 65534 --policy as-sbxuser --hostname h "$IMG" id -u
t "an operator's policy keeps its identity under options that need no privilege" \
    eval 'rc_is 0 && out_is 1000'
run --as 65534 --policy as-sbxuser -v "$T/hostrw:/out:rw" "$IMG" id -u
t "with -v, an operator's policy no longer gives another caller a third uid" \
    eval 'rc_is 125 && err_has "permission denied.*uid 1000"'
run --as 65534 --policy as-sbxuser -u 65534 "$IMG" id -u
t "-u over an operator's policy is the caller's choice, checked as the caller's" \
    eval 'rc_is 0 && out_is 65534'
# Options over an operator's policy may lower its limits, never raise them.
cat >"$T/policies/op-limits.yaml" <<'YAML'
process: { user: "1000:1000" }
limits: { memory: 64M, pids: 10, timeout: 20s }
YAML
run --as 65534 --policy op-limits --memory 1G "$IMG" /bin/true
t "an option may not raise an operator's memory limit, even to the default" \
    eval 'rc_is 125 && err_has "may lower the operator.s policy.s limits, not raise them (limits: memory)"'
run --as 65534 --policy op-limits --timeout unlimited "$IMG" /bin/true
t "an option may not lift an operator's timeout" eval 'rc_is 125 && err_has "limits: timeout"'
run --as 65534 --policy op-limits --memory 32M --pids-limit 5 "$IMG" id -u
t "options may lower an operator's limits, and its identity stays" eval 'rc_is 0 && out_is 1000'

run --as 65534 --memory 12Q "$IMG" /bin/true
t "a caller other than root gets the same messages for bad values" \
    eval 'rc_is 125 && err_has "^sandboxctl: --memory 12Q: invalid value"'

# ---- --help ----------------------------------------------------------------------

help_ok() { # help_ok ARGS...: exit 0, usage on stdout, nothing on stderr
    rc=0
    (cd "$T" && "$SANDBOXCTL" "$@" >"$T/out" 2>"$T/err") || rc=$?
    rc_is 0 && grep -q '^Usage: sandboxctl' "$T/out" && [ ! -s "$T/err" ]
}
t "sandboxctl --help" help_ok --help
t "sandboxctl help" help_ok help
lists_options() {
    local o
    help_ok run --help || return 1
    for o in --volume --tmpfs --workdir --user --hostname --memory --pids-limit --cpus \
        --timeout --network --cap-add --ulimit --env --env-file; do
        grep -q -- "$o" "$T/out" || return 1
    done
}
t "sandboxctl run --help lists the options" lists_options
t "sandboxctl run -h" help_ok run -h
t "sandboxctl policy --help" help_ok policy --help
t "sandboxctl policy check --help does not read a file named --help" \
    eval 'help_ok policy check --help && grep -q "policy check" "$T/out"'
t "sandboxctl policy check -h" help_ok policy check -h
t "sandboxctl version --help" help_ok version --help
rc=0
(cd "$T" && "$SANDBOXCTL" policy check -- --help >"$T/out" 2>"$T/err") || rc=$?
t "sandboxctl policy check -- --help checks a file named --help" \
    eval 'rc_is 2 && err_has "^--help: cannot read"'
rc=0
"$SANDBOXCTL" policy check --frob >"$T/out" 2>"$T/err" || rc=$?
t "sandboxctl policy check --frob is an unknown option, not a file" \
    eval 'rc_is 2 && err_has "unrecognized option\|unknown option"'

tap_finish
