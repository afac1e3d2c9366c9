# bash completion for evtaskctl(1): commands, flags, job names (from
# `evtaskctl jobs`) and active task ids (from `evtaskctl ls`).

# The first column of a table evtaskctl prints, without its head line.
_evtaskctl_column()
{
	"$1" "${@:2}" 2>/dev/null | awk 'NR > 1 && $1 !~ /^\(/ { print $1 }'
}

_evtaskctl()
{
	local cur prev cmd i words_before=()
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--url | --token-file) ((i++)); words_before+=("${COMP_WORDS[i - 1]}" "${COMP_WORDS[i]}") ;;
		--json) words_before+=(--json) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $prev in
	--token-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--url | --name | --delay | --timeout | --key | --retry | --reason | \
	--limit | --schedule | --cron | --tz | --every) return ;;
	--on-conflict) COMPREPLY=($(compgen -W "queue replace reject" -- "$cur")); return ;;
	--state) COMPREPLY=($(compgen -W "scheduled running cancelling succeeded failed cancelled timed_out" -- "$cur")); return ;;
	--kind) COMPREPLY=($(compgen -W "sleep command" -- "$cur")); return ;;
	esac
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "--url --token-file --json --help sleep run ls show wait cancel logs events jobs schedules" -- "$cur"))
		return
	fi
	local flags
	case $cmd in
	sleep) flags="--name --delay --timeout --wait" ;;
	run) flags="--name --delay --timeout --key --on-conflict --retry --wait --follow" ;;
	ls) flags="--state --kind --schedule --limit" ;;
	wait) flags="--timeout" ;;
	cancel) flags="--reason --no-wait" ;;
	logs) flags="-f --follow --cleanup" ;;
	events) flags="--task" ;;
	schedules) flags="ls add show pause resume rm --cron --tz --every --cancel-running" ;;
	esac
	if [[ $cur == -* || $cmd == schedules ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	elif [[ $cmd == run && $prev == run ]]; then
		COMPREPLY=($(compgen -W "$(_evtaskctl_column evtaskctl "${words_before[@]}" jobs)" -- "$cur"))
	elif [[ $cmd =~ ^(show|wait|cancel|logs)$ || $prev == --task ]]; then
		COMPREPLY=($(compgen -W "$(_evtaskctl_column evtaskctl "${words_before[@]}" ls --limit 50)" -- "$cur"))
	fi
}
complete -F _evtaskctl evtaskctl
