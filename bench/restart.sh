#!/bin/bash
# bench/restart.sh -- a restart with many stored tasks, and what a request
# costs with few or many stored.
#
#   bench/restart.sh [COUNTS] [SECONDS]
#
# For each binary (EVTASKD, default src/evtaskd, and BASELINE if set: say
# main's, in the same run) and each count of COUNTS (default "10000
# 1000000"), on a fresh durable store, the daemon pinned to CPU 0 and wrk
# to CPU 1 with 64 connections:
#  1. creates COUNT sleep tasks that end 10 to 11 minutes later, and one
#     probe task scheduled 3 s later; SIGTERM (they are kept);
#  2. starts it again: the time from exec until it answers /healthz (READY
#     is sent just before), until every task is back in memory (the
#     active-task gauges of /metrics add up), and how late the probe
#     starts (its started_at minus its start_at);
#  3. measures GET of one task and durable create (the median of RUNS,
#     default 3, wrk runs of SECONDS, default 5), with every task loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNTS=${1:-10000 1000000}
SECS=${2:-5}
EVTASKD=${EVTASKD:-src/evtaskd}
PORT=18711
WORK=$(mktemp -d)
PID=

cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# Start the daemon on the store; the exec time in T0.
start() {
	T0=$(now)
	taskset -c 0 "$1" -l "127.0.0.1:$PORT" -d "$WORK/state" \
	    -c "$WORK/config.json" --log-level warn 2>>"$WORK/log" &
	PID=$!
	until curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; do
		kill -0 "$PID" 2>/dev/null || { cat "$WORK/log" >&2; exit 1; }
		sleep 0.01
	done
}

stop() {
	kill "$PID"
	wait "$PID" || true
	PID=
}

# The tasks in memory that have not ended.
active() {
	curl -s "http://127.0.0.1:$PORT/metrics" |
	    awk '/^evtaskd_tasks_active\{/ { n += $2 } END { print n + 0 }'
}

# Create COUNT sleep tasks over HTTP (wrk, create_n.lua).
fill() {
	COUNT=$1 BASE_MS=600000 SPREAD_MS=60000 taskset -c 1 wrk -t1 -c64 \
	    -d3600s -s bench/create_n.lua "http://127.0.0.1:$PORT/" \
	    >/dev/null 2>&1 &
	local wrk=$!
	until [ "$(active)" -ge "$1" ]; do sleep 0.2; done
	kill $wrk
	wait $wrk 2>/dev/null || true
}

# The median requests/s of RUNS (default 3) wrk runs of SECONDS.
wrk_rps() {
	local i
	for ((i = 0; i < ${RUNS:-3}; i++)); do
		taskset -c 1 wrk -t1 -c64 -d"${SECS}s" "$@" |
		    awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }'
	done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# ms between two RFC 3339 times of a task's JSON (on stdin).
lateness() {
	python3 -c 'import json, sys, datetime
t = json.load(sys.stdin)
p = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
print(round((p(t["started_at"]) - p(t["start_at"])).total_seconds() * 1000))'
}

# One binary, one count: a row of the table.
one() {
	local bin=$1 n=$2 probe answer loaded late get create id
	rm -rf "$WORK/state"
	start "$bin"
	fill "$n"
	probe=$(curl -s "http://127.0.0.1:$PORT/v1/tasks" \
	    -d '{"duration_ms":0,"delay_ms":3000}' |
	    sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/')
	stop
	start "$bin"
	answer=$(since "$T0")
	until [ "$(active)" -ge "$n" ]; do sleep 0.02; done
	loaded=$(since "$T0")
	curl -s "http://127.0.0.1:$PORT/v1/tasks/$probe?wait=30" >"$WORK/probe"
	late=$(lateness <"$WORK/probe") || {
		echo "the probe $probe: $(cat "$WORK/probe")" >&2
		tail -5 "$WORK/log" >&2
		late=?
	}
	id=$(curl -s "http://127.0.0.1:$PORT/v1/tasks?limit=1" |
	    sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/')
	get=$(wrk_rps "http://127.0.0.1:$PORT/v1/tasks/$id")
	create=$(wrk_rps -s bench/create.lua "http://127.0.0.1:$PORT/v1/tasks")
	stop
	printf '| %s | %d | %s s | %s s | %s ms | %s | %s |\n' "$bin" "$n" \
	    "$answer" "$loaded" "$late" "$get" "$create"
}

# Room for a million and those created on top of them.
echo '{"limits": {"max_active_tasks": 10000000}}' >"$WORK/config.json"

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs; GET and create: wrk 64 connections, ${SECS}s"
printf '| binary | stored | answers after | all loaded after | probe late | GET req/s | create req/s |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for n in $COUNTS; do
	one "$EVTASKD" "$n"
	[ -n "${BASELINE:-}" ] && one "$BASELINE" "$n"
done
exit 0
