#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Selective gating (issue 18), reported as TAP: in trap and rewrite mode the
# trampoline sees only the syscalls it gates, so sandboxctl's --stats counts
# no trap of any other number (before, every syscall trapped in trap mode);
# it still sees the ones it gates; and the kernel policy still decides the
# others, from the guest's own code.  Needs root.
# Environment: SANDBOXD, SANDBOXCTL, TEST_IMAGE, GATE_PROG_C (trampoline/
# gate-prog.c, whose gated_nrs list is the gated set).
# Guest scripts are single-quoted on purpose: they expand in the guest.
# shellcheck disable=SC2016  # guest scripts single-quoted
set -euo pipefail

# shellcheck source=tests/integration/suite.sh
. "$(dirname "$0")/suite.sh"
suite_init gating SANDBOXD SANDBOXCTL TEST_IMAGE GATE_PROG_C


# The gated syscalls by name, from the list the trampoline compiles in.
GATED=" $(sed -n '/gated_nrs\[\] = {/,/};/p' "$GATE_PROG_C" |
    grep -o '__NR_[a-z0-9_]*' | sed 's/^__NR_//' | tr '\n' ' ')"
if [ "$GATED" = " " ]; then
    echo "Bail out! no gated_nrs list in $GATE_PROG_C"
    exit 1
fi

mkdir -p "$T/policies"
cat >"$T/policies/deny-mkdir.yaml" <<'YAML'
syscalls:
  rules:
    - { action: errno EACCES, syscalls: [mkdir, mkdirat] }
YAML

mkfifo "$T/ready"
"$SANDBOXD" --socket "$SOCK" --state-dir "$T/state" --policy-dir "$T/policies" \
    --ready-fd 3 3>"$T/ready" 2>"$T/sandboxd.log" &
daemon_pid=$!
if ! read -r -t 20 _ <"$T/ready"; then
    echo "Bail out! sandboxd did not become ready"
    diag "$T/sandboxd.log"
    exit 1
fi

# run MODE [POLICY] CMD...: sandboxctl run --stats of the test image.
run() {
    local mode=$1 pol=()
    shift
    if [ "$1" != - ]; then
        pol=(--policy "$1")
    fi
    shift
    rc=0
    timeout -k 5 60 "$SANDBOXCTL" run --socket "$SOCK" --syscall-mode "$mode" --stats \
        "${pol[@]}" "$TEST_IMAGE" "$@" >"$T/out" 2>"$T/err" || rc=$?
}

# The --stats rows (name trapped patched) of the last run, without the total.
stats_rows() {
    awk '/^syscall +trapped +patched$/ { on = 1; next }
         on && NF == 3 && $1 != "total" { print }' "$T/err"
}

# Every syscall that trapped is a gated one, and among them is each of $@.
only_gated_trapped() {
    local name trapped seen=" " want
    while read -r name trapped _; do
        [ "$trapped" -gt 0 ] || continue
        seen="$seen$name "
        case $GATED in
        *" $name "*) ;;
        *)
            say "$name trapped $trapped times, yet it is not gated"
            return 1
            ;;
        esac
    done < <(stats_rows)
    for want in "$@"; do
        case $seen in
        *" $want "*) ;;
        *)
            say "$want did not trap: trapped were$seen"
            return 1
            ;;
        esac
    done
}

# Reads, writes, opens, stats and getpid-style calls in plenty; forks,
# execs, signal handlers and redirections (gated) too.
work='for i in 1 2 3 4 5; do cat /proc/self/stat >/dev/null; echo "$i" >/tmp/f; done
      trap "" USR1; cat /tmp/f'

run trap - /bin/sh -c "$work"
t "trap mode: the workload runs and --stats prints its table" \
    eval 'rc_is 0 && [ "$(cat "$T/out")" = 5 ] && [ -n "$(stats_rows)" ]'
t "trap mode: only gated syscalls trapped, among them execve, clone and rt_sigaction" \
    only_gated_trapped execve clone rt_sigaction

run rewrite - /bin/sh -c "$work"
t "rewrite mode: the workload runs" eval 'rc_is 0 && [ "$(cat "$T/out")" = 5 ]'
t "rewrite mode: only gated syscalls trapped" only_gated_trapped

# mkdir is not gated: it goes from the guest's code to the kernel policy.
for mode in trap rewrite; do
    run "$mode" deny-mkdir /bin/sh -c 'mkdir /tmp/d; echo "mkdir=$?"; touch /tmp/e && echo ok'
    t "$mode mode: the policy still denies an ungated syscall (mkdir: EACCES)" \
        eval 'rc_is 0 && [ "$(cat "$T/out")" = "$(printf "mkdir=1\nok")" ] &&
              grep -q "Permission denied" "$T/err"'
done

tap_finish
