#!/bin/sh
# cluster.sh [SECONDS] -- creates/s and cancels/s, 1 node vs 3 nodes on one
# PostgreSQL (bench/cluster_bench.py). Needs wrk, nginx, PostgreSQL 15 (as
# tests/pg.py finds it) and a built src/evtaskd.
here=$(cd "$(dirname "$0")" && pwd)
EVTASKD=${EVTASKD:-$here/../src/evtaskd}
export EVTASKD
exec python3 "$here/cluster_bench.py" "$@"
