#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs shellcheck over every shell script of the tree (by name or by #! line),
# reported as TAP, one test per script.  Usage: run-shellcheck.sh SOURCE_ROOT
set -euo pipefail
cd "$1"
if ! command -v shellcheck >/dev/null; then
    echo "1..0 # SKIP shellcheck is not installed (tools/install-deps --tests)"
    exit 0
fi
# shellcheck source=tests/integration/tap.sh
. tests/integration/tap.sh

scripts() {
    local f
    while IFS= read -r f; do
        case $f in
        *.sh) echo "$f" ;;
        *) head -c 64 "$f" 2>/dev/null | head -n 1 | grep -q '^#!.*\(bash\|/sh\)' && echo "$f" ;;
        esac
    done < <(git ls-files 2>/dev/null || find . -type f -not -path './build*' -not -path './.git/*')
}

check() {
    shellcheck -x "$1" >"$out" 2>&1 || { diag "$out"; return 1; }
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
while IFS= read -r f; do
    t "shellcheck $f" check "$f"
done < <(scripts | sort -u)
tap_finish
