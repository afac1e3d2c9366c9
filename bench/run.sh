#!/bin/bash
# bench/run.sh -- evtaskd against nginx on this machine, same wrk, same run.
#
#   bench/run.sh [RUNS] [SECONDS]
#
# Starts nginx (Debian's, worker_processes 1) answering `return 200` with a
# JSON body the size of a task, Redis 7 (Debian's redis-server, durable:
# appendonly, appendfsync always, no snapshots) and evtaskd (durable store
# in a temp dir, and --memory), all pinned to CPU 0, wrk and
# redis-benchmark pinned to CPU 1 with 64 connections. Prints the median of
# RUNS runs (default 3) of SECONDS (default 5) per scenario, each evtaskd
# figure as a ratio of nginx's, and the durable writes as a ratio of
# Redis's durable SET rate (a value the size of our task JSON).
#
# EVTASKD names the binary (default src/evtaskd); BASELINE, if set, names
# another (say main's) measured in the same run right after the first, so
# that both see the same machine (run twice, and compare the medians).
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
REDIS_PORT=18604
BASE_PORT=18605
BASE_MEM_PORT=18606
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)"; exit 1; }
command -v nginx >/dev/null || { echo "nginx not found (apt-get install nginx-light)"; exit 1; }
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
    { echo "redis not found (apt-get install redis-server redis-tools)"; exit 1; }

# One wrk run; prints requests/s.
wrk_rps() {
	taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" "$@" |
	    awk '/^Requests\/sec:/ { print $2 }'
}

# The median of RUNS wrk runs (median_of, below).
median() {
	median_of wrk_rps "$@"
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

# Start an evtaskd; its log (a warn line per cancel) goes to a file in WORK.
start_evtaskd() {
	local bin=$1
	shift
	taskset -c 0 "$bin" -l "127.0.0.1:$1" --log-level warn "${@:2}" \
	    2>>"$WORK/evtaskd-$1.log" &
	PIDS+=($!)
	wait_port "$1"
}

# evtaskd, durable and in memory; a task to GET.
start_evtaskd "$EVTASKD" $EV_PORT -d "$WORK/state"
start_evtaskd "$EVTASKD" $MEM_PORT --memory
if [ -n "${BASELINE:-}" ]; then
	start_evtaskd "$BASELINE" $BASE_PORT -d "$WORK/base-state"
	start_evtaskd "$BASELINE" $BASE_MEM_PORT --memory
fi
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

# Redis, as durable as we are: every SET fsynced before its answer.
mkdir -p "$WORK/redis"
taskset -c 0 redis-server --port $REDIS_PORT --bind 127.0.0.1 \
    --dir "$WORK/redis" --appendonly yes --appendfsync always --save '' \
    --daemonize no --logfile "$WORK/redis/log" &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
	redis-cli -p $REDIS_PORT ping >/dev/null 2>&1 && break
	sleep 0.05
done

# One redis-benchmark run of about SECS seconds; prints SETs/s.
redis_rps() {
	taskset -c 1 redis-benchmark -p $REDIS_PORT -c "$CONNS" -t set \
	    -d "$BODY_LEN" -n $((SECS * 40000)) -q 2>/dev/null |
	    tr '\r' '\n' | awk '/^SET: [0-9.]+ requests per second/ { v = $2 } END { print v }'
}

# The median of RUNS runs of a command printing one figure.
median_of() {
	local i vals=()
	for ((i = 0; i < RUNS; i++)); do
		vals+=("$("$@")")
	done
	printf '%s\n' "${vals[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $CONNS connections, median of $RUNS x ${SECS}s"
echo "# task JSON $BODY_LEN bytes; nginx answers the same size, Redis SETs the same size"
NGINX=$(median "http://127.0.0.1:$NGINX_PORT/v1/tasks/$ID")
REDIS=$(median_of redis_rps)

# Every evtaskd scenario of one daemon pair (durable port, --memory port):
# sets GET CREATE CREATE_MEM PAIRS LONGPOLL with a prefix.
measure() {
	local p=$1 ev=$2 mem=$3 id lp
	id=$(curl -s "http://127.0.0.1:$ev/v1/tasks" -d '{"duration_ms":3600000,"name":"bench"}' |
	    sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/')
	eval "${p}GET=$(median "http://127.0.0.1:$ev/v1/tasks/$id")"
	eval "${p}CREATE=$(median -s "$BENCH/create.lua" "http://127.0.0.1:$ev/v1/tasks")"
	eval "${p}CREATE_MEM=$(median -s "$BENCH/create.lua" "http://127.0.0.1:$mem/v1/tasks")"
	eval "${p}PAIRS=$(median -s "$BENCH/create_cancel.lua" "http://127.0.0.1:$ev/v1/tasks")"
	lp=$(curl -s "http://127.0.0.1:$ev/v1/tasks" -d '{"duration_ms":3600000}' |
	    sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/')
	eval "${p}LONGPOLL=$(TASK_ID=$lp median -s "$BENCH/longpoll.lua" "http://127.0.0.1:$ev/")"
}

measure "" $EV_PORT $MEM_PORT
[ -n "${BASELINE:-}" ] && measure BASE_ $BASE_PORT $BASE_MEM_PORT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }
times() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

# The table of one daemon: its figures with a prefix, under a title.
report() {
	local p=$1 get create mem pairs lp
	eval "get=\$${p}GET create=\$${p}CREATE mem=\$${p}CREATE_MEM pairs=\$${p}PAIRS lp=\$${p}LONGPOLL"
	printf '\n## %s\n\n' "$2"
	printf '| scenario | req/s | vs nginx | vs Redis SET | target |\n|---|---:|---:|---:|---:|\n'
	printf '| nginx, static JSON | %.0f | 100 %% | | |\n' "$NGINX"
	printf '| Redis SET, appendfsync always | %.0f | | 1.00x | |\n' "$REDIS"
	printf '| GET /v1/tasks/ID | %.0f | %s | | 95 %% |\n' "$get" "$(ratio "$get" "$NGINX")"
	printf '| POST /v1/tasks, durable | %.0f | %s | %s | 1.00x Redis |\n' "$create" \
	    "$(ratio "$create" "$NGINX")" "$(times "$create" "$REDIS")"
	printf '| POST /v1/tasks, --memory | %.0f | %s | | |\n' "$mem" "$(ratio "$mem" "$NGINX")"
	printf '| create+cancel, durable (requests) | %.0f | %s | %s | 0.90x Redis |\n' "$pairs" \
	    "$(ratio "$pairs" "$NGINX")" "$(times "$pairs" "$REDIS")"
	printf '| long-poll, 10 ms limit | %.0f | | | |\n' "$lp"
	printf '\ndurable create is %s of --memory create\n' "$(ratio "$create" "$mem")"
}

report "" "$EVTASKD"
[ -n "${BASELINE:-}" ] && report BASE_ "$BASELINE (baseline)"
exit 0
