#!/bin/bash
# bench/scale.sh -- a million pending sleep tasks, created over HTTP.
#
#   bench/scale.sh [COUNT]
#
# 1. Creates COUNT (default 1000000) sleep tasks due in 10+ minutes with a
#    durable store; reports the create rate and the daemon's RSS per task.
# 2. Stops the daemon (SIGTERM keeps them) and starts it again: the time
#    from exec until it answers (recovery of COUNT tasks, then READY).
# 3. Creates COUNT sleep tasks that end FIRE_AFTER_MS (default 80000) to
#    FIRE_AFTER_MS + 60000 ms after their creation, lets them all fire, and
#    reads the timer lateness histogram from /metrics (p50, p99, max). With
#    the default the creates (about a minute) are over before the first
#    fires, so a million fire over about a minute with no HTTP load; with
#    FIRE_AFTER_MS=40000 the first half fire while wrk still saturates the
#    loop with creates. The daemon is not pinned here: its store writer
#    thread may use the other core once the client is done.
# ONLY_LATENESS=1 runs step 3 alone; NO_LATENESS=1 runs steps 1 and 2.
# NICE=-10 starts the daemon at that nice value (what a unit's Nice= does);
# FIFO=10 under SCHED_FIFO at that priority (CPUSchedulingPolicy=fifo).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-1000000}
EVTASKD=${EVTASKD:-src/evtaskd}
PORT=18701
WORK=$(mktemp -d)
PID=

cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

start() {
	taskset -c "${1:-0}" nice -n "${NICE:-0}" ${FIFO:+chrt -f "$FIFO"} "$EVTASKD" -l "127.0.0.1:$PORT" -d "$WORK/state" \
	    --log-level warn 2>"$WORK/log" &
	PID=$!
	until curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; do
		sleep 0.01
	done
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }

# Create COUNT tasks with wrk; print the seconds it took.
create() {
	local t0 t1
	t0=$(date +%s.%N)
	COUNT=$COUNT BASE_MS=$1 SPREAD_MS=$2 taskset -c 1 wrk -t1 -c64 \
	    -d3600s -s bench/create_n.lua "http://127.0.0.1:$PORT/" \
	    >/dev/null 2>&1 &
	local wrk=$!
	until [ "$(active)" -ge "$COUNT" ]; do sleep 0.2; done
	t1=$(date +%s.%N)
	kill $wrk; wait $wrk 2>/dev/null || true
	echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }'
}

active() {
	curl -s "http://127.0.0.1:$PORT/metrics" |
	    awk '/^evtaskd_tasks_active\{/ { n += $2 } /^evtaskd_tasks_finished_total\{kind="sleep"/ { n += $2 } END { print n + 0 }'
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $COUNT tasks"
if [ -z "${ONLY_LATENESS:-}" ]; then
start
base=$(rss_kb)
secs=$(create 600000 60000)
rss=$(rss_kb)
echo "created $COUNT pending tasks in ${secs}s: $(awk -v n="$COUNT" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') creates/s"
echo "RSS $((base / 1024)) MB before, $((rss / 1024)) MB after: $(awk -v a="$base" -v b="$rss" -v n="$COUNT" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }') bytes per pending task"

kill -TERM "$PID"; wait "$PID" || true
t0=$(date +%s.%N)
start
t1=$(date +%s.%N)
echo "restart with $COUNT stored tasks: answering after $(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')s, RSS $(($(rss_kb) / 1024)) MB"
kill -TERM "$PID"; wait "$PID" || true
rm -rf "$WORK/state"
fi

[ -n "${NO_LATENESS:-}" ] && exit 0
start 0,1
after=${FIRE_AFTER_MS:-80000}
secs=$(create "$after" 60000)
echo "created $COUNT tasks ending $((after / 1000))-$((after / 1000 + 60)) s after their creation in ${secs}s; waiting for them to fire"
until curl -s "http://127.0.0.1:$PORT/metrics" |
    awk -v n="$COUNT" '/^evtaskd_timer_lateness_seconds_count/ { exit !($2 >= n) }'; do
	sleep 1
done
curl -s "http://127.0.0.1:$PORT/metrics" | awk -v n="$COUNT" '
	/^evtaskd_timer_lateness_seconds_bucket/ {
		match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
		if (p50 == "" && $2 >= n * 0.5) p50 = le
		if (p99 == "" && $2 >= n * 0.99) p99 = le
		if ($2 > prev) max = le
		prev = $2
	}
	END { printf "timer lateness: p50 <= %s s, p99 <= %s s, max <= %s s (histogram bucket bounds)\n", p50, p99, max }'
