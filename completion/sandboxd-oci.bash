# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for sandboxd-oci: global options, commands, each command's options,
# and container ids from the state directory (--root, or the default).
_sandboxd_oci() {
    local cur prev root=/run/sandboxd-oci cmd="" i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        --root) root=${COMP_WORDS[i + 1]}; ((i++)) ;;
        --log | --log-format) ((i++)) ;;
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    case $prev in
    --root | --bundle | -b) mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return ;;
    --log | --pid-file | --process | -p | --console-socket) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    --log-format) mapfile -t COMPREPLY < <(compgen -W "text json" -- "$cur"); return ;;
    --format) mapfile -t COMPREPLY < <(compgen -W "json table" -- "$cur"); return ;;
    esac
    local opts
    case $cmd in
    "") opts="--root --log --log-format --systemd-cgroup --debug --help --version
              create start run state kill delete exec ps pause resume features" ;;
    create | run) opts="--bundle --pid-file --console-socket --preserve-fds --no-pivot --no-new-keyring" ;;
    kill) opts="--all" ;;
    delete) opts="--force" ;;
    exec) opts="--process --detach --tty --console-socket --pid-file --preserve-fds" ;;
    ps) opts="--format" ;;
    features) opts="" ;;
    esac
    if [[ $cur != -* && -n $cmd && $cmd != features ]]; then
        opts="$opts $(cd "$root" 2>/dev/null && ls -d -- * 2>/dev/null)"
    fi
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
}
complete -F _sandboxd_oci sandboxd-oci
