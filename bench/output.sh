#!/bin/bash
# bench/output.sh -- what a command writing 50 MB/s or more costs the
# loop: GET latency (wrk --latency, 8 connections) with and without it.
#
#   bench/output.sh [SECONDS]
#
# evtaskd is pinned to CPU 0; the job and wrk share CPU 1, so the figure is
# the loop's own cost of reading the pipe and writing the output file.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
EVTASKD=${EVTASKD:-src/evtaskd}
WORK=$(mktemp -d)
PORT=18611
PID=

cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)"; exit 1; }

# 1 MiB every 10 ms at most, as fast as head and tr make it: 50 MB/s or more.
cat > "$WORK/flood.sh" <<'EOF'
#!/bin/sh
while :; do head -c 1048576 /dev/zero | tr '\0' x; sleep 0.01; done
EOF
chmod +x "$WORK/flood.sh"
cat > "$WORK/evtaskd.json" <<EOF
{"jobs": {"flood": {"argv": ["/usr/bin/taskset", "-c", "1", "$WORK/flood.sh"],
                    "max_output_bytes": 67108864}}}
EOF

taskset -c 0 "$EVTASKD" -c "$WORK/evtaskd.json" -d "$WORK/state" \
    -l "127.0.0.1:$PORT" --log-level warn &
PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.05; done
URL="http://127.0.0.1:$PORT"
ID=$(curl -s "$URL/v1/tasks" -d '{"duration_ms":3600000}' | sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/')

# wrk's latency distribution for GET of one task: "p50 p99 req/s".
measure() {
	taskset -c 1 wrk -t1 -c8 -d"${SECS}s" --latency "$URL/v1/tasks/$ID" |
	    awk '/^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
		/^Requests\/sec:/ { rps = $2 } END { print p50, p99, rps }'
}

read -r Q50 Q99 QRPS <<<"$(measure)"
JOB=$(curl -s "$URL/v1/tasks" -d '{"kind":"command","job":"flood"}' | sed 's/.*"id":"\([0-9A-Z]*\)".*/\1/')
T0=$(date +%s.%N)
read -r B50 B99 BRPS <<<"$(measure)"
BYTES=$(curl -s -X DELETE "$URL/v1/tasks/$JOB" | sed 's/.*"output_bytes":\([0-9]*\).*/\1/')
T1=$(date +%s.%N)
RATE=$(awk -v b="$BYTES" -v a="$T0" -v z="$T1" 'BEGIN { printf "%.0f", b / (z - a) / 1e6 }')

echo "# $(date -u +%Y-%m-%dT%H:%MZ), GET latency, 8 connections, ${SECS}s each"
printf '| GET /v1/tasks/ID | p50 | p99 | req/s |\n|---|---:|---:|---:|\n'
printf '| quiet | %s | %s | %.0f |\n' "$Q50" "$Q99" "$QRPS"
printf '| a command writing %s MB/s | %s | %s | %.0f |\n' "$RATE" "$B50" "$B99" "$BRPS"
