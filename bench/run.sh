#!/bin/bash
# bench/run.sh -- evtaskd against nginx on this machine, same wrk, same run.
#
#   bench/run.sh [RUNS] [SECONDS]
#
# Starts nginx (Debian's, worker_processes 1) answering `return 200` with a
# JSON body the size of a task, and evtaskd (durable store in a temp dir,
# and --memory), both pinned to CPU 0, wrk pinned to CPU 1 with 64
# connections. Prints the median of RUNS runs (default 3) of SECONDS
# (default 5) per scenario, and each evtaskd figure as a ratio of nginx's.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SECS=${2:-5}
CONNS=${CONNS:-64}
EVTASKD=${EVTASKD:-src/evtaskd}
BENCH=$(pwd)/bench
WORK=$(mktemp -d)
NGINX_PORT=18601
EV_PORT=18602
MEM_PORT=18603
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)"; exit 1; }
command -v nginx >/dev/null || { echo "nginx not found (apt-get install nginx-light)"; exit 1; }

# One wrk run; prints requests/s.
wrk_rps() {
	taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" "$@" |
	    awk '/^Requests\/sec:/ { print $2 }'
}

# The median of RUNS wrk runs.
median() {
	local i vals=()
	for ((i = 0; i < RUNS; i++)); do
		vals+=("$(wrk_rps "$@")")
	done
	printf '%s\n' "${vals[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# Wait until a port answers.
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.05
	done
	echo "nothing answers on port $1" >&2
	exit 1
}

start_evtaskd() {
	taskset -c 0 "$EVTASKD" -l "127.0.0.1:$1" --log-level warn "${@:2}" &
	PIDS+=($!)
	wait_port "$1"
}

# evtaskd, durable and in memory; a task to GET.
start_evtaskd $EV_PORT -d "$WORK/state"
start_evtaskd $MEM_PORT --memory
TASK=$(curl -s "http://127.0.0.1:$EV_PORT/v1/tasks" -d '{"duration_ms":3600000,"name":"bench"}')
ID=$(printf '%s' "$TASK" | sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/')
BODY_LEN=$(curl -s "http://127.0.0.1:$EV_PORT/v1/tasks/$ID" | wc -c)

# nginx answering a static JSON body of the same size.
BODY=$(printf '%s' "$TASK" | head -c "$BODY_LEN" | sed "s/'/ /g")
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $WORK/nginx;
	proxy_temp_path $WORK/nginx;
	fastcgi_temp_path $WORK/nginx;
	uwsgi_temp_path $WORK/nginx;
	scgi_temp_path $WORK/nginx;
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / {
			default_type application/json;
			return 200 '$BODY';
		}
	}
}
CONF
taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" &
PIDS+=($!)
wait_port $NGINX_PORT

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $CONNS connections, median of $RUNS x ${SECS}s"
echo "# task JSON $BODY_LEN bytes; nginx answers the same size"
NGINX=$(median "http://127.0.0.1:$NGINX_PORT/v1/tasks/$ID")
GET=$(median "http://127.0.0.1:$EV_PORT/v1/tasks/$ID")
CREATE=$(median -s "$BENCH/create.lua" "http://127.0.0.1:$EV_PORT/v1/tasks")
CREATE_MEM=$(median -s "$BENCH/create.lua" "http://127.0.0.1:$MEM_PORT/v1/tasks")
PAIRS=$(median -s "$BENCH/create_cancel.lua" "http://127.0.0.1:$EV_PORT/v1/tasks")
LP_TASK=$(curl -s "http://127.0.0.1:$EV_PORT/v1/tasks" -d '{"duration_ms":3600000}' |
    sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/')
LONGPOLL=$(TASK_ID=$LP_TASK median -s "$BENCH/longpoll.lua" "http://127.0.0.1:$EV_PORT/")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }
printf '| scenario | req/s | vs nginx | target |\n|---|---:|---:|---:|\n'
printf '| nginx, static JSON | %.0f | 100 %% | |\n' "$NGINX"
printf '| GET /v1/tasks/ID | %.0f | %s | 90 %% |\n' "$GET" "$(ratio "$GET" "$NGINX")"
printf '| POST /v1/tasks, durable | %.0f | %s | 70 %% |\n' "$CREATE" "$(ratio "$CREATE" "$NGINX")"
printf '| POST /v1/tasks, --memory | %.0f | %s | |\n' "$CREATE_MEM" "$(ratio "$CREATE_MEM" "$NGINX")"
printf '| create+cancel, durable (requests) | %.0f | %s | 60 %% |\n' "$PAIRS" "$(ratio "$PAIRS" "$NGINX")"
printf '| long-poll, 10 ms limit | %.0f | | |\n' "$LONGPOLL"
printf '\ndurable create is %s of --memory create (target 80 %%)\n' "$(ratio "$CREATE" "$CREATE_MEM")"
