#!/bin/sh
# run.sh -- build the libFuzzer harnesses of tests/fuzz with clang (ASan and
# UBSan) in a scratch directory and run each for FUZZ_SECONDS on a copy of
# its seed corpus. Exits 77 (skipped) without clang, 1 if a fuzzer fails.
#
# Environment:
#   BUILDDIR       the configured build tree with config.h (default: the
#                  source tree); the daemon for fuzz_http is taken from it
#   EVTASKD        the daemon for fuzz_http (default: $BUILDDIR/src/evtaskd)
#   FUZZ_SECONDS   how long each fuzzer runs (default 60)
#   FUZZERS        which to run (default: "spec config parse http")
#   FUZZ_WORKDIR   the scratch directory (default: a new one in $TMPDIR or
#                  /tmp, removed after a clean run); never in the sources
#   FUZZ_ARGS      more libFuzzer flags, e.g. "-jobs=4 -workers=4"
#   FUZZ_ASAN_DAEMON=1  build an ASan/UBSan daemon for fuzz_http instead
#   FUZZ_KEEP=1    keep the scratch directory after a clean run too
#   CLANG          the compiler (default: clang)
#   FUZZ_VERBOSE=1 show the fuzzers' output as it comes
# and for the harnesses themselves:
#   FUZZ_HTTP_READ_MS=N  fuzz_http: wait N ms for an answer (default 500)
#   FUZZ_HTTP_DEBUG=1    fuzz_http: show what each input was answered
#
# A failing fuzzer leaves its log and its reproducer (crash-*, leak-*,
# timeout-*) in the scratch directory, which is then kept.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-60}
fuzzers=${FUZZERS:-spec config parse http}
clang=${CLANG:-clang}
pkgs="libmicrohttpd libevent jansson sqlite3 libcurl libcrypto libpq"

die() {
	echo "run.sh: $*" >&2
	exit 1
}

case $seconds in
'' | *[!0-9]*) seconds=0 ;;
esac
[ "$seconds" -gt 0 ] ||
	die "FUZZ_SECONDS must be a number of seconds above 0, not '${FUZZ_SECONDS:-}'"

if ! command -v "$clang" >/dev/null 2>&1; then
	echo "clang not found: skipping"
	exit 77
fi

builddir=${BUILDDIR:-$srcdir}
[ -d "$builddir" ] || die "BUILDDIR $builddir is not a directory"
builddir=$(cd "$builddir" && pwd)
[ -f "$builddir/config.h" ] ||
	die "$builddir/config.h not found: run ./configure first (set BUILDDIR to the build tree if it is not the source tree)"

command -v pkg-config >/dev/null 2>&1 || die "pkg-config not found"
# shellcheck disable=SC2086 # a list of packages
pkg_cflags=$(pkg-config --cflags $pkgs) || die "pkg-config: $pkgs missing"
# shellcheck disable=SC2086
pkg_libs=$(pkg-config --libs $pkgs)
# The daemon uses libsystemd's journal API where configure found it.
if grep -q '^#define HAVE_LIBSYSTEMD 1' "${BUILDDIR:-$srcdir}/config.h" 2>/dev/null; then
	pkg_libs="$pkg_libs $(pkg-config --libs libsystemd)"
fi

want_http=no
for f in $fuzzers; do
	case $f in
	spec | config | parse) ;;
	http) want_http=yes ;;
	*) die "unknown fuzzer '$f' (spec, config, parse, http)" ;;
	esac
done
evtaskd=${EVTASKD:-$builddir/src/evtaskd}
if [ "$want_http" = yes ] && [ "${FUZZ_ASAN_DAEMON:-0}" != 1 ] &&
	[ ! -x "$evtaskd" ]; then
	die "the daemon $evtaskd is not built: run make (or set EVTASKD)"
fi

# The scratch directory: never inside the source tree.
if [ -n "${FUZZ_WORKDIR:-}" ]; then
	mkdir -p "$FUZZ_WORKDIR"
	work=$(cd "$FUZZ_WORKDIR" && pwd)
	own_work=no
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/evtaskd-fuzz.XXXXXX")
	own_work=yes
fi
case $work/ in
"$srcdir"/*) die "the scratch directory $work is inside the source tree" ;;
esac
echo "run.sh: building in $work"

# Can this clang build a fuzzer at all (libclang-rt-dev)?
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d == 0 && n > 0; }\n' >"$work/probe.c"
if ! "$clang" -fsanitize=fuzzer,address,undefined -o "$work/probe" \
	"$work/probe.c" >"$work/probe.log" 2>&1; then
	cat "$work/probe.log"
	echo "clang cannot build libFuzzer targets (install libclang-rt-dev): skipping"
	[ "$own_work" = yes ] && rm -rf "$work"
	exit 77
fi

common="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all -I$builddir -I$srcdir/lib -I$srcdir/src"
objsan="-fsanitize=fuzzer-no-link,address,undefined"
linksan="-fsanitize=fuzzer,address,undefined"
warn="-Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes"

# The project: every lib/*.c and src/*.c but main.c, instrumented for
# coverage.
mkdir -p "$work/obj" "$work/bin"
objs=
for src in "$srcdir"/lib/*.c "$srcdir"/src/*.c; do
	name=$(basename "$src" .c)
	[ "$name" = main ] && continue
	# shellcheck disable=SC2086 # flag lists
	"$clang" $common $objsan $pkg_cflags -c "$src" -o "$work/obj/$name.o" ||
		die "compiling $src failed"
	objs="$objs $work/obj/$name.o"
done

# The harnesses: fuzz_http links only libc.
for f in $fuzzers; do
	h=$here/fuzz_$f.c
	if [ "$f" = http ]; then
		# shellcheck disable=SC2086
		"$clang" $common $linksan $warn "$h" -o "$work/bin/fuzz_$f" ||
			die "building fuzz_$f failed"
	else
		# shellcheck disable=SC2086
		"$clang" $common $linksan $warn $pkg_cflags "$h" $objs \
			$pkg_libs -lm -o "$work/bin/fuzz_$f" ||
			die "building fuzz_$f failed"
	fi
done

# Optionally a daemon with ASan and UBSan for fuzz_http.
if [ "$want_http" = yes ] && [ "${FUZZ_ASAN_DAEMON:-0}" = 1 ]; then
	mkdir -p "$work/daemon"
	dobjs=
	for src in "$srcdir"/lib/*.c "$srcdir"/src/*.c; do
		name=$(basename "$src" .c)
		# shellcheck disable=SC2086
		"$clang" $common -fsanitize=address,undefined $pkg_cflags \
			-DLOCALSTATEDIR='"/var"' -DSYSCONFDIR='"/etc"' \
			-c "$src" -o "$work/daemon/$name.o" ||
			die "compiling $src for the daemon failed"
		dobjs="$dobjs $work/daemon/$name.o"
	done
	# shellcheck disable=SC2086
	"$clang" -fsanitize=address,undefined $dobjs $pkg_libs -lm \
		-o "$work/daemon/evtaskd" || die "linking the daemon failed"
	evtaskd=$work/daemon/evtaskd
fi

UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export UBSAN_OPTIONS
EVTASKD=$evtaskd
export EVTASKD
TMPDIR=$work
export TMPDIR

failed=
for f in $fuzzers; do
	corpus=$work/corpus/$f
	artifacts=$work/artifacts/$f
	log=$work/fuzz_$f.log
	rm -f "$work/rc.$f"
	rm -rf "$corpus"
	mkdir -p "$corpus" "$artifacts"
	if [ -d "$here/corpus/$f" ]; then
		cp "$here/corpus/$f"/* "$corpus"/ 2>/dev/null || true
	fi
	set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/"
	[ -f "$here/$f.dict" ] && set -- "$@" -dict="$here/$f.dict"
	echo "run.sh: fuzz_$f for ${seconds}s ($(find "$corpus" -type f | wc -l) seeds)"
	rc=0
	if [ "${FUZZ_VERBOSE:-0}" = 1 ]; then
		# shellcheck disable=SC2086 # extra flags
		{
			"$work/bin/fuzz_$f" "$@" ${FUZZ_ARGS:-} "$corpus" 2>&1 ||
				echo "$?" >"$work/rc.$f"
		} | tee "$log"
		[ -f "$work/rc.$f" ] && rc=$(cat "$work/rc.$f")
	else
		# shellcheck disable=SC2086
		"$work/bin/fuzz_$f" "$@" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1 ||
			rc=$?
	fi
	if [ "$rc" -eq 0 ]; then
		# The last status line, and the final stats.
		grep '^#[0-9]' "$log" | tail -n 1 || true
		grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|Done )' \
			"$log" || true
	else
		echo "run.sh: fuzz_$f FAILED (exit $rc); the end of $log:"
		tail -n 60 "$log"
		echo "run.sh: reproducers in $artifacts:"
		ls -l "$artifacts"
		failed="$failed $f"
	fi
done

if [ -n "$failed" ]; then
	echo "run.sh: failed:$failed (everything is kept in $work)"
	exit 1
fi
if [ "$own_work" = yes ] && [ "${FUZZ_KEEP:-0}" != 1 ]; then
	rm -rf "$work"
fi
echo "run.sh: all fuzzers ran clean"
