#!/bin/sh
# pg-suite.sh -- the black-box suite once more, every daemon on a fresh
# PostgreSQL database instead of --memory (EVTASKD_TEST_STORE=pg, see
# tests/harness.py and tests/pg.py). Run from a configured build tree:
#   tests/pg-suite.sh [make check arguments, e.g. TESTS=tests/test_tasks.py]
# Skips (exit 77) where PostgreSQL 15 is not installed.
set -eu
bin=${EVTASKD_PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$bin/initdb" ]; then
	echo "pg-suite: SKIP: PostgreSQL 15 is not installed ($bin/initdb)"
	exit 77
fi
EVTASKD_TEST_STORE=pg
export EVTASKD_TEST_STORE
tests=$(sed -n '/^BLACKBOX_TESTS = /,/^$/p' "$(dirname "$0")/../Makefile.am" |
	grep -o 'tests/test_[a-z_]*\.py' | tr '\n' ' ')
exec make check TESTS="$tests" "$@"
