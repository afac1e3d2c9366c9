#!/bin/sh
# tests/deb.sh -- the Debian package, as CI checks it (.ci/run, as root on
# Debian 12): build it from a copy of the tree with dpkg-buildpackage (the
# test suite has run already: nocheck), lintian clean at error and warning
# level, install it with dpkg -i, smoke-test the installed files
# (tests/smoke_installed.py), purge it. Needs debhelper, lintian and the
# build dependencies of debian/control.
set -eu
cd "$(dirname "$0")/.."
top=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/evtaskd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

step() { printf '\n=== %s\n' "$*"; }

step "copy the tree"
mkdir "$work/evtaskd"
if git rev-parse --git-dir >/dev/null 2>&1; then
	# Tracked files and new ones, not build products.
	git ls-files -z -co --exclude-standard |
	    tar --null -T - -cf - | tar -C "$work/evtaskd" -xf -
else
	tar --exclude=.git -cf - . | tar -C "$work/evtaskd" -xf -
fi

step "dpkg-buildpackage"
(cd "$work/evtaskd" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b)

step "lintian"
lintian --fail-on error,warning \
	"$work"/evtaskd_*.changes

step "dpkg -i"
dpkg -i "$work"/evtaskd_*.deb
dpkg-query -W -f='${Conffiles}\n' evtaskd | grep -q '/etc/evtaskd/evtaskd.json'

step "smoke test of the installed files"
EVTASKD=/usr/sbin/evtaskd PYTHONPATH="$top/tests" \
	python3 "$top/tests/smoke_installed.py"

step "dpkg --purge"
dpkg --purge evtaskd
test ! -e /usr/sbin/evtaskd
step "package green"
