#!/bin/sh
# tests/ci.sh -- the whole test suite, as CI runs it (README, command 2):
#
# 1. make distcheck: the normal build, make check (unit suites and
#    black-box tests), install/uninstall, and a build from the tarball;
#    then the black-box suite once more with every daemon on a private
#    PostgreSQL 15 (tests/pg-suite.sh);
# 2. the unit suites under valgrind (--leak-check=full) and a black-box
#    suite with the daemon itself under valgrind;
# 3. the whole make check again with ASan and UBSan;
# 4. the fuzzers, about a minute each, where clang is installed;
# 5. the Debian package: built, linted, installed, smoke-tested, purged.
set -eu
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}

step() { printf '\n=== %s\n' "$*"; }

step "autoreconf"
autoreconf -fi

step "make distcheck"
./configure --enable-werror
make -j"$JOBS" distcheck

step "black-box suite on PostgreSQL"
make -j"$JOBS"
tests/pg-suite.sh -j"$JOBS" || [ $? -eq 77 ]

step "OpenAPI lint"
if command -v npx >/dev/null 2>&1; then
	# 1.28 runs on Debian 12's Node 18; the 2.x line needs Node 20.
	npx --yes @redocly/cli@1.28.5 lint docs/openapi.yaml
else
	echo "npx not installed: skipped"
fi

step "valgrind"
make -j"$JOBS"
make -j"$JOBS" check-valgrind

step "sanitizers"
make distclean
./configure --enable-werror --enable-sanitizers
make -j"$JOBS" check

if command -v clang >/dev/null 2>&1; then
	step "fuzzers"
	make distclean
	./configure
	make -j"$JOBS"
	FUZZ_SECONDS=${FUZZ_SECONDS:-60} sh tests/fuzz/run.sh
else
	step "fuzzers: clang not installed, skipped"
fi

if command -v dpkg-buildpackage >/dev/null 2>&1; then
	step "Debian package"
	make distclean
	sh tests/deb.sh
else
	step "Debian package: dpkg-buildpackage not installed, skipped"
fi
step "all green"
