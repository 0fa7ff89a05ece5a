# SPDX-License-Identifier: LGPL-2.1-or-later
# TAP helpers shared by the shell suites; source it, then call t NAME CMD...
# and tap_finish at the end.  A suite may define tap_on_fail (called after a
# failed test) to print what went wrong.
# shellcheck shell=bash

n=0
failures=0

say() {
    printf '# %s\n' "$*"
}

# Prints a file (or stdin) as TAP diagnostics, at most 40 lines.
diag() {
    head -n 40 "$@" | sed 's/^/#   /'
}

# t NAME COMMAND...: one test, passed when COMMAND succeeds.
t() {
    local name=$1
    shift
    n=$((n + 1))
    if "$@"; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name"
        failures=$((failures + 1))
        if declare -F tap_on_fail >/dev/null; then
            tap_on_fail
        fi
    fi
}

# Prints the plan; the suite's status says whether every test passed.
tap_finish() {
    echo "1..$n"
    [ "$failures" -eq 0 ]
}
