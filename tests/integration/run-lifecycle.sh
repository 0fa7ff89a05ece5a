#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The lifecycle of detached sandboxes, reported as TAP: run -d, ps, logs,
# wait, stop, kill, rm, inspect, as root and as a member of the daemon's
# group, and what each may see and do; the log's bound and rotation; the
# limits; records that survive a SIGKILLed daemon and its restart, with
# nothing of the dead daemon left behind; a corrupt record skipped; the
# audit lines.  Outcomes are checked from the host.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE (paths).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init lifecycle SANDBOXD SANDBOXCTL TEST_IMAGE
IMG=$T/test.ext4
cp "$TEST_IMAGE" "$IMG"
chmod 0644 "$IMG"
mkdir -p "$T/policies"
MEMBER=(setpriv --reuid=4242 --regid=65534 --clear-groups --)
# A mark in the guests' command lines that no other process has.
MARK=7$$
LOG_SIZE=65536

cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" || true
    fi
    # The leftovers this suite makes on purpose, should a test have failed.
    umount -l "$T/state/staging" 2>/dev/null || true
    [ -z "${loopdev:-}" ] || losetup -d "$loopdev" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

# life_daemon: the suite's sandboxd with small limits, appending to its log.
life_daemon() {
    rm -f "$T/ready"
    mkfifo "$T/ready"
    "$SANDBOXD" --socket "$SOCK" --state-dir "$T/state" --policy-dir "$T/policies" \
        --group nogroup --ready-fd 3 --log-size "$LOG_SIZE" --max-detached 3 \
        --max-records 6 3>"$T/ready" 2>>"$T/sandboxd.log" &
    daemon_pid=$!
    if ! read -r -t 20 _ <"$T/ready"; then
        echo "Bail out! sandboxd did not become ready"
        diag "$T/sandboxd.log"
        exit 1
    fi
}

# ctl AS ARGS...: sandboxctl ARGS as root or the member, on the suite's socket; sets rc.
ctl() {
    local prefix=()
    [ "$1" = member ] && prefix=("${MEMBER[@]}")
    shift
    local cmd=$1
    shift
    rc=0
    "${prefix[@]}" "$SANDBOXCTL" "$cmd" --socket "$SOCK" "$@" >"$T/out" 2>"$T/err" || rc=$?
}

# detach AS NAME CMD...: run -d; sets id.
detach() {
    local as=$1 name=$2
    shift 2
    ctl "$as" run -d --name "$name" "$IMG" "$@"
    id=$(cat "$T/out")
}

out_has() { grep -q -- "$1" "$T/out"; }
err_has() { grep -q -- "$1" "$T/err"; }

# state_of NAME: running or exited, from ps -a --json, as root.
state_of() {
    "$SANDBOXCTL" inspect --socket "$SOCK" --json "$1" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}

is_exited() { [ "$(state_of "$1")" = exited ]; }

# field NAME EXPR: a field of inspect --json, as root (EXPR in Python, d the document).
field() {
    "$SANDBOXCTL" inspect --socket "$SOCK" --json "$1" |
        python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}

# Host pids of processes whose command line holds the mark.
guest_pids() { pgrep -f -- "$MARK" | grep -v "^$$\$" || true; }
no_guest() { [ -z "$(guest_pids)" ]; }

tap_on_fail() {
    say "exit status ${rc:-?}; stdout:"
    diag "$T/out"
    say "stderr:"
    diag "$T/err"
    say "sandboxd's log:"
    tail -n 15 "$T/sandboxd.log" | diag
}

life_daemon

# ---- run -d, ps, logs, wait ----------------------------------------------

t_run_d() {
    detach root web /bin/sh -c 'echo out-line; echo err-line >&2; printf partial; exec sleep 1000 '"$MARK"
    rc_is 0 && [[ $id =~ ^[0-9a-f]{12}$ ]] || return 1
    ctl root ps
    rc_is 0 && out_has "$id" && out_has " web " && out_has running
}
t "run -d prints an id once the guest runs; ps lists it" t_run_d

t_logs_streams() {
    wait_until 10 grep -q partial "$T/state/sandboxes/$id/log" || return 1
    ctl root logs web
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf 'out-line\npartial')" ] &&
        [ "$(cat "$T/err")" = err-line ]
}
t "logs: stdout and stderr each to its own, a partial line kept" t_logs_streams

t_logs_timestamps() {
    ctl root logs --timestamps web
    rc_is 0 && grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z out-line$' "$T/out"
}
t "logs --timestamps: each line after the time it was read" t_logs_timestamps

t_inspect() {
    ctl root inspect --json web
    rc_is 0 && [ "$(field web 'd["usage"]["pids_current"] >= 1')" = True ] &&
        [ "$(field web 'd["limits"]["memory_bytes"] > 0')" = True ] &&
        [ "$(field web 'd["command"][0]')" = /bin/sh ] &&
        [ "$(field web 'd["image"]')" = "$IMG" ] &&
        [ "$(field web 'd["owner_uid"]')" = 0 ]
}
t "inspect: command, image, owner, limits and the cgroup's usage" t_inspect

# The effective policy's rules: each action, syscall and argument condition as the file gave it.
policy rules <<'YAML'
syscalls:
  default: allow
  rules:
    - { action: allow, syscalls: [read, write, close] }
    - { action: errno EACCES, syscalls: [mkdir, mkdirat] }
    - { action: kill, syscalls: [chroot] }
    - { action: trace, syscalls: [openat], args: [{ index: 2, op: masked_eq, mask: 0x3, value: 0x1 }] }
    - action: errno ENOTDIR
      syscalls: [socket]
      args: [{ index: 0, op: eq, value: 10 }, { index: 1, op: ge, value: 0x80000 }]
YAML
# rules_of FILE: the syscalls section of a policy file, in the form inspect --json gives it.
rules_of() {
    python3 -c '
import json, sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["syscalls"]
print(json.dumps({"default": s.get("default", "allow"), "baseline": s.get("baseline", "default"),
                  "rules": [{"action": r["action"], "syscalls": r["syscalls"],
                             "args": r.get("args", [])} for r in s["rules"]]}, sort_keys=True))
' "$1"
}
t_inspect_rules() {
    ctl root run -d --name rules --policy rules "$IMG" /bin/sleep 1000 "$MARK"
    rc_is 0 || return 1
    local want got
    want=$(rules_of "$T/policies/rules.yaml")
    got=$(field rules 'json.dumps(d["syscalls"], sort_keys=True)')
    say "inspect: $got"
    [ "$got" = "$want" ] || return 1
    # The section written back as a policy gives a sandbox with the same rules.
    field rules 'json.dumps({"syscalls": d["syscalls"]})' >"$T/policies/rules-again.yaml"
    ctl root run -d --name rules-again --policy rules-again "$IMG" /bin/sleep 1000 "$MARK"
    rc_is 0 && [ "$(field rules-again 'json.dumps(d["syscalls"], sort_keys=True)')" = "$want" ] ||
        return 1
    # The text output: one line per rule, in the flow form a policy's rules list takes.
    ctl root inspect rules
    rc_is 0 && out_has "^syscalls.default: allow$" && out_has "^syscalls.baseline: default$" &&
        python3 -c '
import json, sys, yaml
lines = [l.split(": ", 1)[1] for l in open(sys.argv[1]) if l.startswith("syscalls.rules[")]
rules = [dict({"args": []}, **yaml.safe_load(l)) for l in lines]
want = json.loads(sys.argv[2])["rules"]
assert rules == want, (rules, want)
' "$T/out" "$want"
}
t "inspect: the effective policy's syscall rules, in --json and text, read back the same" \
    t_inspect_rules
"$SANDBOXCTL" rm -f --socket "$SOCK" rules >/dev/null
"$SANDBOXCTL" rm -f --socket "$SOCK" rules-again >/dev/null

t_name_clash() {
    ctl root run -d --name web "$IMG" /bin/true
    rc_is 125 && err_has "the name 'web' is taken by sandbox $id"
}
t "a name already taken is refused, naming the holder" t_name_clash

t_notfound() {
    ctl root run -d --name gone "$IMG" /no/such/program
    rc_is 127 && err_has "not found" && is_exited gone
}
t "run -d of a missing program fails as a foreground run (127)" t_notfound

t_noexec() {
    ctl root run -d --name noexec "$IMG" /etc/passwd
    rc_is 126 && err_has "cannot execute" && is_exited noexec
}
t "run -d of a file that cannot be executed fails as a foreground run (126)" t_noexec
"$SANDBOXCTL" rm --socket "$SOCK" noexec >/dev/null

t_wait_status() {
    detach root seven /bin/sh -c 'sleep 0.3; exit 7'
    ctl root wait seven
    rc_is 7 && [ "$(cat "$T/out")" = 7 ]
}
t "wait exits with the sandbox's status" t_wait_status

t_ps_all() {
    ctl root ps
    ! out_has seven || return 1
    ctl root ps -a --json
    rc_is 0 && python3 -c '
import json, sys
d = {s["name"]: s for s in json.load(open(sys.argv[1]))}
s = d["seven"]
assert s["state"] == "exited" and s["exit"]["kind"] == "exited" and s["exit"]["code"] == 7
assert s["exit"]["status"] == 7 and s["detached"] and s["syscall_mode"] in ("off", "trap", "rewrite")
assert d["web"]["state"] == "running" and d["web"]["exit"] is None
' "$T/out"
}
t "ps shows running ones, ps -a the exited too, with status" t_ps_all

# Names are unique among the records too: an ended sandbox keeps its name until rm.
t_name_clash_record() {
    ctl root run -d --name seven "$IMG" /bin/true
    rc_is 125 && err_has "the name 'seven' is taken by sandbox" || return 1
    ctl root run -d --name gone "$IMG" /bin/true
    rc_is 125 && err_has "the name 'gone' is taken by sandbox"
}
t "a name held by an ended sandbox's record is refused, naming the holder" t_name_clash_record

# ---- exec ------------------------------------------------------------------

# What the kernel holds a process to, from its /proc status: the guest's and an exec'd one's.
HELD='grep -E "^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):" /proc/self/status'

t_exec_status() {
    ctl root exec -e GREETING=hello web /bin/sh -c 'echo "$GREETING from exec"; exit 5'
    rc_is 5 && [ "$(cat "$T/out")" = "hello from exec" ]
}
t "exec: a new process in the sandbox, its status exec's own" t_exec_status

t_exec_held() {
    detach member held /bin/sh -c "$HELD; exec sleep 1000 $MARK"
    wait_until 10 grep -q Seccomp_filters "$T/state/sandboxes/$id/log" || return 1
    ctl member logs held
    cp "$T/out" "$T/guest-held"
    ctl member exec held /bin/sh -c "$HELD"
    say "exec'd: $(tr '\n\t' '  ' <"$T/out")"
    rc_is 0 && grep -q "^Uid:.4242" "$T/out" && grep -q "^NoNewPrivs:.1" "$T/out" &&
        grep -q "^Seccomp:.2" "$T/out" && diff "$T/guest-held" "$T/out" >&2
}
t "exec: the member's process has the guest's ids, capabilities, no_new_privs and filter" \
    t_exec_held

t_exec_same_ns() {
    ctl root exec web /bin/sh -c 'ps -o comm,args'
    rc_is 0 && out_has "sleep 1000 $MARK"
}
t "exec: in the sandbox's pid namespace, beside its guest" t_exec_same_ns

t_exec_policy() {
    policy deny-mkdir <<'YAML'
syscalls:
  rules:
    - { action: errno EACCES, syscalls: [mkdir, mkdirat] }
YAML
    ctl root run -d --name strict --policy deny-mkdir "$IMG" /bin/sleep 1000 "$MARK"
    rc_is 0 || return 1
    ctl root exec strict /bin/sh -c 'mkdir /tmp/d; echo "mkdir=$?"; touch /tmp/f && echo touched'
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf 'mkdir=1\ntouched')" ] &&
        err_has "Permission denied" || return 1
    # The control: the default policy lets mkdir through.
    ctl root exec web /bin/sh -c 'mkdir /tmp/d && echo made'
    rc_is 0 && out_has made
}
t "exec obeys the sandbox's policy: a call it denies fails in exec too" t_exec_policy

policy kill-mkdir <<'YAML'
syscalls:
  rules:
    - { action: kill, syscalls: [mkdir, mkdirat] }
YAML
mkdir -p "$T/kvol"

# An exec'd process installs its own filter, so its kill rules have a listener of their own.
t_exec_kill_rules() {
    local m=$1
    rm -rf "${T:?}/kvol"/*
    ctl root run -d --name killer --policy kill-mkdir --syscall-mode "$m" -v "$T/kvol:/vol:rw" \
        "$IMG" /bin/sleep 1000 "$MARK"
    rc_is 0 || return 1
    ctl root exec killer /bin/mkdir /vol/made
    rc_is 159 && [ ! -e "$T/kvol/made" ] && [ "$(grep -c . "$T/err")" = 1 ] &&
        err_has "^sandboxctl: killed by SIGSYS: the seccomp policy.s kill action, on syscall mkdir$" ||
        return 1
    # A child of the exec'd shell: the shell sees 159, sandboxctl names the call.
    ctl root exec killer /bin/sh -c 'mkdir /vol/child; exit "$?"'
    rc_is 159 && [ ! -e "$T/kvol/child" ] &&
        err_has "^sandboxctl: a process was killed by the seccomp policy.s kill action, on syscall mkdir$" ||
        return 1
    # The guest runs on, and so does the next exec, which calls nothing the policy kills.
    ctl root exec killer /bin/sh -c 'echo "$$ lives"'
    rc_is 0 && out_has lives && [ "$(state_of killer)" = running ] &&
        [ "$(field killer 'd["exit"]')" = None ]
}
for m in trap off; do
    t "exec under kill rules ($m): the exec'd call is killed, 159 naming mkdir; the guest runs on" \
        t_exec_kill_rules "$m"
    "$SANDBOXCTL" rm -f --socket "$SOCK" killer >/dev/null
done

t_exec_tty() {
    ctl root exec -t web /bin/sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo isatty; exit 4'
    rc_is 4 && grep -q "^/dev/pts/[0-9]" "$T/out" && out_has isatty
}
t "exec -t: a terminal of its own in the sandbox's devpts" t_exec_tty

t_exec_gone() {
    "$SANDBOXCTL" exec --socket "$SOCK" web /bin/sleep 999 "$MARK" &
    local pid=$!
    wait_until 10 pgrep -f "sleep 999 $MARK" || return 1
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    wait_until 10 eval '! pgrep -f "sleep 999 $MARK"'
}
t "exec: a client that dies takes its process with it" t_exec_gone

t_exec_refused() {
    ctl member exec web /bin/true
    rc_is 125 && err_has "no sandbox 'web' of yours" || return 1
    ctl root exec seven /bin/true
    rc_is 125 && err_has "is not running" || return 1
    ctl root exec web /no/such
    rc_is 127 && err_has "not found"
}
t "exec: not into another's, not into an ended one; a missing program is 127" t_exec_refused

t_exec_user() {
    ctl root exec -u 4242:65534 web /bin/sh -c 'id -u; id -g; id -G'
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf '4242\n65534\n65534')" ] || return 1
    # The member's guest does not hold id 0: its filter was not compiled for it.
    ctl root exec -u 0 held /bin/true
    rc_is 125 && err_has "id 0 only in a sandbox whose guest holds it"
}
t "exec -u UID:GID: numeric ids, and never id 0 where the guest has none" t_exec_user

# Names come from the image's /etc/passwd and /etc/group (tests/image/mkimage.sh).
t_exec_user_names() {
    ctl root exec -u sbxuser web /bin/sh -c 'id -u; id -g; id -G'
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf '1000\n1000\n1000')" ] || return 1
    ctl root exec -u nobody:users web /bin/sh -c 'id -u; id -g'
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf '65534\n100')" ] || return 1
    ctl root exec -u nosuch web /bin/true
    rc_is 125 && [ "$(cat "$T/err")" = "sandboxctl: -u nosuch: policy identity: user 'nosuch' not found in the image's /etc/passwd" ] ||
        return 1
    ctl root exec -u sbxuser:nosuchgroup web /bin/true
    rc_is 125 && err_has "-u sbxuser:nosuchgroup: policy identity: group 'nosuchgroup' not found in the image's /etc/group" ||
        return 1
    ctl root exec -u root held /bin/true
    rc_is 125 && err_has "-u root: permission denied: 0:0: id 0 only in a sandbox whose guest holds it"
}
t "exec -u NAME[:GROUP]: names from the image; an unknown one named in the error" t_exec_user_names

# As with run --user: in the sandbox's own user namespace (the suite's daemon
# has subordinate ids) a member may name any id of that namespace, and none
# outside it.
t_exec_user_member() {
    ctl member exec -u 4242:nogroup held /bin/sh -c 'id -u; id -g'
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf '4242\n65534')" ] || return 1
    ctl member exec -u nobody:users held /bin/sh -c 'id -u; id -g'
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf '65534\n100')" ] || return 1
    ctl member exec -u 70000 held /bin/true
    rc_is 125 && err_has "uid 70000 is not an id of the sandbox's user namespace (0 to 65535)"
}
t "exec -u as a member: any id of the sandbox's user namespace, none outside" t_exec_user_member

"$SANDBOXCTL" rm -f --socket "$SOCK" strict >/dev/null
"$SANDBOXCTL" rm -f --socket "$SOCK" held >/dev/null

# ---- two users -----------------------------------------------------------

t_member_sees_own() {
    detach member mine /bin/sh -c 'echo member-out; exec sleep 1000 '"$MARK"
    rc_is 0 || return 1
    mid=$id
    ctl member ps -a
    rc_is 0 && out_has mine && ! out_has web && ! out_has seven
}
t "a member sees only its own sandboxes" t_member_sees_own

t_root_sees_all() {
    ctl root ps
    out_has mine && out_has web && grep -q "mine .* 4242 " "$T/out"
}
t "root sees everyone's, with the owner's uid" t_root_sees_all

t_member_denied() {
    local c
    for c in "logs web" "wait web" "stop web" "kill web" "rm -f web" "inspect web"; do
        # shellcheck disable=SC2086  # the words of c are the command and its arguments
        ctl member $c
        if ! rc_is 125 || ! err_has "no sandbox 'web' of yours"; then
            say "member: $c"
            return 1
        fi
    done
    [ "$(state_of web)" = running ]
}
t "a member can neither see nor touch root's sandbox" t_member_denied

t_stats() {
    ctl root stats --no-stream
    rc_is 0 && grep -Eq "^$mid +mine +[0-9.]+ +[0-9.]+s +[0-9.]+[KMG]iB +[0-9.]+[KMG]iB +[1-9]" \
        "$T/out" && out_has " web " || return 1
    ctl member stats --no-stream
    rc_is 0 && out_has " mine " && ! out_has " web "
}
t "stats --no-stream: CPU, memory and pids of running ones, each user's own" t_stats

# Rows for the sandboxes named, and the trampoline's counts per syscall, which add up to its totals.
t_stats_named() {
    ctl root stats --no-stream web mine
    rc_is 0 && [ "$(grep -c . "$T/out")" = 3 ] && out_has " web " && out_has " mine " &&
        head -n 1 "$T/out" | grep -q "TOP SYSCALLS$" || return 1
    local top
    top=$(field web '" ".join(n for n, _ in sorted(d["usage"]["syscalls"]["by_syscall"].items(), key=lambda kv: -kv[1]["trapped"] - kv[1]["patched"])[:1])')
    [ -n "$top" ] && grep -Eq " web .* $top [1-9][0-9]*" "$T/out" || return 1
    field web '[sum(c[k] for c in d["usage"]["syscalls"]["by_syscall"].values()) == d["usage"]["syscalls"][k] for k in ("trapped", "patched")]' >"$T/sums"
    say "web's most counted: $top; sums: $(cat "$T/sums")"
    [ "$(cat "$T/sums")" = "[True, True]" ] && [ "$(field web 'd["usage"]["syscalls"]["trapped"] > 0')" = True ]
}
t "stats NAME...: a row for each, with its most counted syscalls; inspect has the counts per syscall" \
    t_stats_named

t_status() {
    ctl root status --json
    rc_is 0 && python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["server"].startswith("sandboxd ") and d["uptime_ms"] >= 0 and d["scope"] == "all"
assert d["sandboxes"]["running"] >= 2 and d["sandboxes"]["recorded"] >= 3, d
assert d["images_cached"] >= 1 and d["state_dir_bytes"] > 0, d
' "$T/out" || return 1
    ctl member status --json
    rc_is 0 && python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["scope"] == "own" and d["sandboxes"]["running"] == 1 and d["sandboxes"]["recorded"] == 1, d
' "$T/out"
}
t "status: version, uptime, counts (a member's own), images, state directory" t_status

t_member_acts() {
    ctl member logs mine
    out_has member-out || return 1
    ctl member kill -s KILL mine
    rc_is 0 && wait_until 10 is_exited mine &&
        [ "$(field mine 'd["exit"]["status"]')" = 137 ]
}
t "a member reads and kills its own" t_member_acts

t_root_acts_on_member() {
    ctl root rm "$mid"
    rc_is 0 && [ ! -e "$T/state/sandboxes/$mid" ]
}
t "root removes a member's record" t_root_acts_on_member

# ---- stop, kill, rm --------------------------------------------------------

t_stop_term() {
    detach root polite /bin/sh -c 'trap "echo got TERM; exit 3" TERM; while :; do sleep 0.1; done'
    sleep 0.5
    ctl root stop polite
    rc_is 0 && [ "$(field polite 'd["exit"]["code"]')" = 3 ] || return 1
    ctl root logs polite
    out_has "got TERM"
}
t "stop: SIGTERM reaches a guest that traps it" t_stop_term

t_stop_ignores() {
    detach root stubborn /bin/sh -c 'trap "" TERM; while :; do sleep 0.1; done; : '"$MARK"
    sleep 0.5
    ctl root stop -t 1 stubborn
    rc_is 0 && [ "$(field stubborn 'd["exit"]["status"]')" = 137 ] &&
        [ "$(field stubborn 'd["exit"]["message"]')" = \
            "killed: it did not stop within the grace time after SIGTERM" ]
}
t "stop: a guest that ignores SIGTERM is killed after the grace time" t_stop_ignores

t_kill_signal() {
    detach root usr /bin/sh -c 'trap "echo got USR1" USR1; while :; do sleep 0.1; done'
    sleep 0.5
    ctl root kill -s SIGUSR1 usr
    rc_is 0 && wait_until 10 grep -q "got USR1" "$T/state/sandboxes/$id/log" &&
        [ "$(state_of usr)" = running ]
}
t "kill -s USR1 reaches the guest, which goes on" t_kill_signal

t_rm_running() {
    ctl root rm usr
    rc_is 125 && err_has "is running" || return 1
    ctl root rm -f usr
    rc_is 0 && [ ! -e "$T/state/sandboxes/$id" ] && ! "$SANDBOXCTL" inspect --socket "$SOCK" usr \
        2>/dev/null
}
t "rm refuses a running sandbox; rm -f kills and removes it" t_rm_running

for sb in polite stubborn seven gone; do
    "$SANDBOXCTL" rm --socket "$SOCK" "$sb" >/dev/null
done

# ---- the log's bound -------------------------------------------------------

t_chatty() {
    # About 1.3 MB of numbered lines, twenty times the bound.
    detach root chatty /bin/sh -c 'i=0; while [ $i -lt 100000 ]; do echo "line $i xxxxx"; i=$((i+1)); done; echo last-line'
    ctl root wait chatty
    rc_is 0 || return 1
    local bytes
    bytes=$(cat "$T/state/sandboxes/$id"/log* | wc -c)
    say "log files: $bytes bytes for a bound of $LOG_SIZE"
    [ "$bytes" -le "$LOG_SIZE" ] || return 1
    ctl root logs chatty
    [ "$(tail -n 1 "$T/out")" = last-line ] && ! out_has "^line 0 " &&
        [ "$(wc -l <"$T/out")" -gt 100 ]
}
t "a chatty guest: the log stays within its bound, the newest lines kept" t_chatty

t_tail() {
    ctl root logs --tail 3 chatty
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf 'line 99998 xxxxx\nline 99999 xxxxx\nlast-line')" ]
}
t "logs --tail 3: the last three lines" t_tail

t_follow() {
    detach root follow /bin/sh -c 'for i in 1 2 3; do echo tick $i; sleep 0.3; done'
    ctl root logs -f follow
    rc_is 0 && [ "$(cat "$T/out")" = "$(printf 'tick 1\ntick 2\ntick 3')" ]
}
t "logs -f follows until the sandbox ends" t_follow

t_follow_rotation() {
    detach root rot /bin/sh -c 'i=0; while [ $i -lt 6000 ]; do echo "row $i"; i=$((i+1)); [ $((i % 500)) = 0 ] && sleep 0.05; done'
    ctl root logs -f rot
    rc_is 0 && [ "$(tail -n 1 "$T/out")" = "row 5999" ] &&
        [ "$(sort -u "$T/out" | wc -l)" = "$(wc -l <"$T/out")" ] && [ "$(wc -l <"$T/out")" -gt 1000 ]
}
t "logs -f across rotations: no line twice, the last one there" t_follow_rotation

for sb in chatty follow rot; do
    "$SANDBOXCTL" rm --socket "$SOCK" "$sb" >/dev/null
done

# ---- limits ---------------------------------------------------------------

t_max_detached() {
    detach member m1 /bin/sleep 1000 "$MARK"
    detach member m2 /bin/sleep 1000 "$MARK"
    detach member m3 /bin/sleep 1000 "$MARK"
    ctl member run -d --name m4 "$IMG" /bin/sleep 1000 "$MARK"
    rc_is 125 && err_has "uid 4242 has 3 detached sandboxes running" && err_has -- --max-detached
}
t "--max-detached: the next one is refused with the limit named" t_max_detached

t_max_records() {
    local n
    for n in m1 m2 m3; do "$SANDBOXCTL" stop --socket "$SOCK" -t 0 "$n" >/dev/null; done
    for n in m4 m5 m6; do
        detach member "$n" /bin/true
        rc_is 0 || return 1
    done
    ctl member run -d --name m7 "$IMG" /bin/true
    rc_is 125 && err_has "uid 4242 keeps 6 sandbox records" && err_has "sandboxctl rm"
}
t "--max-records: the next one is refused until records are removed" t_max_records

for sb in m1 m2 m3 m4 m5 m6; do
    "$SANDBOXCTL" rm --socket "$SOCK" "$sb" >/dev/null
done

# ---- a dead daemon and the next one ----------------------------------------

t_audit() {
    grep -q "sandbox [0-9a-f]\{12\} started: name seven, uid 0, image $IMG, command /bin/sh -c sleep 0.3; exit 7" \
        "$T/sandboxd.log" &&
        grep -q "sandbox [0-9a-f]\{12\} ended: name seven, uid 0, image $IMG, command .*exited, code 7" \
            "$T/sandboxd.log" &&
        grep -q "ended: name mine, uid 4242, image $IMG, .*killed: sandboxctl kill" "$T/sandboxd.log"
}
t "each start and end is one line with id, name, owner, image and command" t_audit

t_sigkill_restart() {
    detach root survivor /bin/sh -c 'echo before-the-crash; exec sleep 1000 '"$MARK"
    wait_until 10 grep -q before-the-crash "$T/state/sandboxes/$id/log" || return 1
    detach member survivor2 /bin/sleep 1000 "$MARK"
    local old=$daemon_pid
    kill -KILL "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null || true
    wait_until 10 no_guest || { say "guests outlived their daemon"; return 1; }
    # What a dead daemon could leave in its state directory.
    mount -t tmpfs none "$T/state/staging"
    truncate -s 1M "$T/state/leftover.img"
    loopdev=$(losetup -f --show "$T/state/leftover.img")
    life_daemon
    ctl root ps -a --json
    python3 -c '
import json, sys
d = {s["name"]: s for s in json.load(open(sys.argv[1]))}
for n in ("survivor", "survivor2"):
    s = d[n]
    assert s["state"] == "exited", s
    assert s["exit"]["message"] == "killed: sandboxd stopped while it ran", s
    assert s["exit"]["status"] == 137, s
' "$T/out" || return 1
    ctl root logs survivor
    out_has before-the-crash || return 1
    # Nothing of the dead daemon: processes, cgroups, mounts, loop devices.
    no_guest || { say "processes: $(guest_pids)"; return 1; }
    if find /sys/fs/cgroup -maxdepth 4 -name "sbx-$old-*" | grep -q .; then
        say "cgroups of $old are left"
        return 1
    fi
    if grep -q " $T/" /proc/self/mountinfo; then
        say "mounts: $(grep " $T/" /proc/self/mountinfo)"
        return 1
    fi
    if losetup -l -n -O BACK-FILE | grep -q "$T/"; then
        say "loop devices: $(losetup -l -n -O NAME,BACK-FILE | grep "$T/")"
        return 1
    fi
    loopdev=
    grep -q "unmounted $T/state/staging, left by a sandboxd that died" "$T/sandboxd.log"
}
t "SIGKILL of the daemon, then a restart: records, logs, nothing left" t_sigkill_restart

t_corrupt_record() {
    mkdir -p "$T/state/sandboxes/0123456789ab" "$T/state/sandboxes/ba9876543210"
    printf '{"version":1,"id":"0123456789ab","na' >"$T/state/sandboxes/0123456789ab/record.json"
    printf '{"version":1,"id":"ba9876543210","name":7}' >"$T/state/sandboxes/ba9876543210/record.json"
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
    life_daemon
    ctl root ps -a
    rc_is 0 && out_has survivor && ! out_has 0123456789ab &&
        grep -q "record $T/state/sandboxes/0123456789ab skipped: record.json is not JSON (truncated)" \
            "$T/sandboxd.log" &&
        grep -q "record $T/state/sandboxes/ba9876543210 skipped: field 'name' is missing or not a string" \
            "$T/sandboxd.log"
}
t "a truncated or corrupt record is reported and skipped" t_corrupt_record

t_sigterm_restart() {
    detach root graceful /bin/sleep 1000 "$MARK"
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
    life_daemon
    [ "$(field graceful 'd["exit"]["message"]')" = "killed: sandboxd is stopping" ]
}
t "SIGTERM to the daemon: the running ones are recorded as killed by the stop" t_sigterm_restart

t_needs_daemon() {
    rc=0
    "$SANDBOXCTL" ps --socket "$T/nobody.sock" >"$T/out" 2>"$T/err" || rc=$?
    rc_is 125 && err_has "this needs a running sandboxd" || return 1
    rc=0
    "$SANDBOXCTL" run -d --socket "$T/nobody.sock" "$IMG" /bin/true >"$T/out" 2>"$T/err" || rc=$?
    rc_is 125 && err_has "this needs a running sandboxd" && [ ! -e "$T/nobody.sock" ]
}
t "without a daemon, ps and run -d say they need one" t_needs_daemon

t_name_option() {
    ctl root run --name x "$IMG" /bin/true
    rc_is 125 && err_has "needs -d" || return 1
    ctl root run -d --name "../x" "$IMG" /bin/true
    rc_is 125 && err_has "invalid sandbox name"
}
t "--name needs -d and a plain name" t_name_option

tap_finish
