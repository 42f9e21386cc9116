# bash completion for constraintctl
_constraintctl() {
    local cur prev commands global
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    commands="scan fix-undo generate status apply rollback verify drop-checks health"
    global="--db --project --schema --json --format --quiet --verbose --help --version"
    case $prev in
        --db) COMPREPLY=($(compgen -W "sqlite: postgresql://" -- "$cur")); return ;;
        --project|--schema) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --format) COMPREPLY=($(compgen -W "text json github junit prometheus" -- "$cur")); return ;;
    esac
    local cmd="" w
    for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
        [[ " $commands " == *" $w "* ]] && cmd=$w
    done
    local opts=""
    case $cmd in
        scan) opts="--table --sample --fix --dry-run --allow-cascade --policy" ;;
        generate) opts="--name --check" ;;
        status) opts="--check" ;;
        apply) opts="--to --dry-run --fix --lock-wait-ms" ;;
        rollback) opts="--to --dry-run --lock-wait-ms" ;;
        verify) opts="--strict" ;;
        drop-checks) opts="--table --constraint --lock-wait-ms" ;;
        health) opts="--fail-under" ;;
        "") COMPREPLY=($(compgen -W "$commands $global" -- "$cur")); return ;;
    esac
    COMPREPLY=($(compgen -W "$opts $global" -- "$cur"))
}
complete -F _constraintctl constraintctl
