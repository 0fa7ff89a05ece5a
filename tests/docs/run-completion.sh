#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bash completion of sandboxctl, driven the way bash drives it
# (COMP_WORDS, COMP_CWORD, then the function), reported as TAP.
# Usage: run-completion.sh COMPLETION_FILE SANDBOXCTL
set -euo pipefail

completion=$(realpath "$1")
sandboxctl=$(realpath "$2")
T=$(mktemp -d /tmp/sbx-completion.XXXXXX)
trap 'rm -rf "$T"' EXIT
# shellcheck source=tests/integration/tap.sh
. "$(dirname "$0")/../integration/tap.sh"
# shellcheck source=/dev/null
. "$completion"

mkdir -p "$T/policies" "$T/work/sub"
touch "$T/policies/web.yaml" "$T/policies/batch.yaml" "$T/policies/notes.txt"
touch "$T/work/img.ext4" "$T/work/local.yaml" "$T/work/other.txt"
export SANDBOXCTL_POLICY_DIR=$T/policies
cd "$T/work"

# complete WORD...: what TAB offers after these words (the last is the
# word being completed), sorted, one a line, in $T/got.
complete_words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMPREPLY=()
    _sandboxctl
    printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort >"$T/got"
}

# offers EXPECTED... -- WORD...: TAB offers exactly EXPECTED.
offers() {
    local want=()
    while [ "$1" != -- ]; do
        want+=("$1")
        shift
    done
    shift
    complete_words "$sandboxctl" "$@"
    printf '%s\n' "${want[@]}" | sed '/^$/d' | sort >"$T/want"
    if ! cmp -s "$T/want" "$T/got"; then
        say "after: sandboxctl $*"
        say "wanted: $(tr '\n' ' ' <"$T/want")"
        say "got:    $(tr '\n' ' ' <"$T/got")"
        return 1
    fi
}

# includes EXPECTED -- WORD...: TAB offers EXPECTED among others.
includes() {
    local option=$1
    shift 2
    complete_words "$sandboxctl" "$@"
    if ! grep -qxF -- "$option" "$T/got"; then
        say "after: sandboxctl $*: no '$option' in: $(tr '\n' ' ' <"$T/got")"
        return 1
    fi
}

registered() { complete -p sandboxctl | grep -q _sandboxctl; }
t "the bash completion is registered for sandboxctl" registered
t "commands" offers run image ps logs wait stop kill rm inspect exec stats status policy version \
    --help --version -- ''
t "a command from its first letters" offers policy -- po
t "stop: its options from --help" includes --time -- stop --
t "logs: its options from --help" includes --tail -- logs --t
t "kill -s: signal names" includes TERM -- kill -s ''
t "policy's subcommand" offers check --help -- policy ''
t "image's subcommands" offers build inspect --help -- image ''
t "image build's options" offers --size --label --quiet --help -- image build -
t "image inspect's options" offers --json --help -- image inspect -
t "policy check: YAML files and directories" offers local.yaml sub -- policy check ''
t "run: every option --help prints" includes --syscall-mode -- run --
t "run: short options too" includes -e -- run -
t "run: options from their first letters" offers --policy -- run --pol
t "run --policy: names from the policy directory" offers batch -- run --policy b
t "run --policy: names, YAML files and directories" \
    offers batch web local.yaml sub -- run --policy ''
t "run --syscall-mode: the modes" offers off trap rewrite -- run --syscall-mode ''
t "run --env takes a value, not a completion" offers -- run --env ''
t "run: the image is a file" offers img.ext4 -- run --stats i
t "run: --trace, its optional argument attached" offers --trace -- run --tra
t "run: after --trace, the image" offers img.ext4 -- run --trace i
t "run --learn: a file" offers img.ext4 -- run --learn i
t "run: after an option's argument, the image" offers img.ext4 -- run --policy web i
t "run: no options after the image" offers -- run img.ext4 --
t "run: after '--', the image" offers img.ext4 -- run -- i
t "run: the command is the guest's, not a host file" offers -- run img.ext4 o
# Options come from --help: a program whose --help shows options that
# sandboxctl does not have (yet).
cat >"$T/fakehelp" <<'EOF'
Usage: sandboxctl run [OPTIONS] IMAGE CMD

  -V, --volume SRC:DST[:ro]   a bind mount
  --quiet                     less
EOF
printf '#!/bin/sh\nexec cat %s\n' "$T/fakehelp" >"$T/fakectl"
chmod +x "$T/fakectl"
fake_includes() {
    complete_words "$T/fakectl" "${@:2}"
    grep -qxF -- "$1" "$T/got" || { say "no '$1' in: $(tr '\n' ' ' <"$T/got")"; return 1; }
}
fake_offers_image() {
    complete_words "$T/fakectl" run "$@" i
    [ "$(cat "$T/got")" = img.ext4 ] || { say "got: $(tr '\n' ' ' <"$T/got")"; return 1; }
}
t "run: an option --help adds completes without a change" fake_includes --volume run --vo
t "run: its short form too" fake_includes -V run -
t "run: an option --help shows with an argument takes one" fake_offers_image --volume /a:/b
t "run: an option --help shows without an argument takes none" fake_offers_image --quiet
tap_finish
