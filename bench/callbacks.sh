#!/bin/bash
# bench/callbacks.sh -- what 10 000 callback deliveries cost the loop: GET
# latency (wrk --latency, 8 connections) while 10 000 tasks that name a
# callback finish within about a second and their deliveries drain to a
# local receiver (nginx answering 204), against the same GET when quiet.
#
#   bench/callbacks.sh [COUNT]
#
# evtaskd (durable store in a temp dir) is pinned to CPU 0; nginx and wrk
# share CPU 1, so the figures are the loop's own cost of the deliveries.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-10000}
EVTASKD=${EVTASKD:-src/evtaskd}
WORK=$(mktemp -d)
PORT=18621
HOOK=18622
BASE_MS=5000		# the tasks end 5 s after their creation ...
SPREAD_MS=700		# ... spread over 0.7 s (creating them takes ~0.3 s)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)"; exit 1; }
command -v nginx >/dev/null || { echo "nginx not found (apt-get install nginx-light)"; exit 1; }

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
		listen 127.0.0.1:$HOOK;
		location /hook { return 204; }
	}
}
CONF
taskset -c 1 nginx -c "$WORK/nginx/nginx.conf" &
PIDS+=($!)

(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/secret")
cat > "$WORK/evtaskd.json" <<EOF
{"callbacks": {"bench": {"url": "http://127.0.0.1:$HOOK/hook",
                         "secret_file": "$WORK/secret"}},
 "limits": {"max_connections_per_ip": 10000}}
EOF
taskset -c 0 "$EVTASKD" -c "$WORK/evtaskd.json" -d "$WORK/state" \
    -l "127.0.0.1:$PORT" --log-level warn &
PIDS+=($!)
URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -s -o /dev/null "$URL/healthz" && break; sleep 0.05; done
ID=$(curl -s "$URL/v1/tasks" -d '{"duration_ms":3600000}' | sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/')

# wrk's latency distribution for GET of one task: "p50 p99 max req/s".
measure() {
	taskset -c 1 wrk -t1 -c8 -d"$1" --latency "$URL/v1/tasks/$ID" |
	    awk '/^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
		/^ +Latency +[0-9]/ { max = $4 } /^Requests\/sec:/ { rps = $2 }
		END { print p50, p99, max, rps }'
}
# One sample of /metrics.
sample() {
	curl -s "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

read -r Q50 Q99 QMAX QRPS <<<"$(measure 3s)"

# Create COUNT tasks (naming the callback if $1 is set) that end BASE_MS
# later; measure GET from just before the first end for 4 s. Prints
# "p50 p99 max req/s", leaves the start of the measure in $WORK/t1.
scenario() {
	local t0
	t0=$(date +%s.%N)
	COUNT=$COUNT BASE_MS=$BASE_MS SPREAD_MS=$SPREAD_MS CALLBACK=$1 \
	    taskset -c 1 wrk -t1 -c32 -d2s -s bench/create_n.lua "$URL" \
	    >/dev/null
	sleep "$(awk -v t0="$t0" -v b="$BASE_MS" -v now="$(date +%s.%N)" \
	    'BEGIN { s = t0 + b / 1000 - 0.3 - now; print (s > 0 ? s : 0) }')"
	date +%s.%N > "$WORK/t1"
	measure 4s
}

read -r N50 N99 NMAX NRPS <<<"$(CALLBACK= scenario "")"
read -r B50 B99 BMAX BRPS <<<"$(scenario bench)"
T1=$(cat "$WORK/t1")
while [ "$(sample evtaskd_callback_outbox)" != 0 ] ||
    [ "$(sample 'evtaskd_callback_deliveries_total{outcome="delivered"}')" -lt "$COUNT" ]; do
	sleep 0.1
done
T2=$(date +%s.%N)
DELIVERED=$(sample 'evtaskd_callback_deliveries_total{outcome="delivered"}')
FAILED=$(sample 'evtaskd_callback_deliveries_total{outcome="failed"}')
ATTEMPTS=$(curl -s "$URL/metrics" | awk '/^evtaskd_callback_attempts_total/ { n += $2 } END { print n }')
DRAIN=$(awk -v a="$T1" -v z="$T2" 'BEGIN { printf "%.1f", z - a - 0.3 }')
LAT=$(curl -s "$URL/metrics" | awk '
	/^evtaskd_callback_latency_seconds_bucket/ { split($1, a, "\""); b[++n] = a[2]; c[n] = $2 }
	/^evtaskd_callback_latency_seconds_count/ { total = $2 }
	END { for (i = 1; i <= n; i++) if (c[i] >= total * 0.99) { print b[i]; exit } }')

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $COUNT tasks ending within ~1 s, GET latency, 8 connections"
printf '| GET /v1/tasks/ID | p50 | p99 | max | req/s |\n|---|---:|---:|---:|---:|\n'
printf '| quiet (3 s) | %s | %s | %s | %.0f |\n' "$Q50" "$Q99" "$QMAX" "$QRPS"
printf '| while %s tasks end, no callback (4 s) | %s | %s | %s | %.0f |\n' \
    "$COUNT" "$N50" "$N99" "$NMAX" "$NRPS"
printf '| while %s tasks end and their callbacks drain (4 s) | %s | %s | %s | %.0f |\n' \
    "$COUNT" "$B50" "$B99" "$BMAX" "$BRPS"
echo
echo "deliveries: $DELIVERED delivered, $FAILED failed, $ATTEMPTS attempts;" \
    "outbox empty ${DRAIN}s after the first task ended; attempt latency p99 <= ${LAT}s"
