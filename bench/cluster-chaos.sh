#!/bin/sh
# cluster-chaos.sh [ROUNDS] -- kill -9 a random node of three under load,
# ROUNDS times (default 20); 0 acknowledged tasks lost and 0 cleanups
# doubled, or exit 1. Needs PostgreSQL 15 (as tests/pg.py finds it) and a
# built src/evtaskd.
here=$(cd "$(dirname "$0")" && pwd)
EVTASKD=${EVTASKD:-$here/../src/evtaskd}
export EVTASKD
exec python3 "$here/cluster_chaos.py" "$@"
