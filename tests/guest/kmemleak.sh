#!/bin/bash
# In the guest, after a run on the sanitizer kernel: scan for leaks with
# kmemleak and write one TAP result to FILE. Scans twice (the first scan
# can still see objects freed a moment ago as referenced). Any leak is
# printed on the console, where the VM runner's log check catches it too.
#
# usage: tests/guest/kmemleak.sh FILE
set -euo pipefail

KML=/sys/kernel/debug/kmemleak

[ $# -eq 1 ] || { echo "usage: $0 FILE" >&2; exit 2; }

check() {
	echo "1..1"
	if [ ! -w "$KML" ]; then
		echo "not ok 1 - kmemleak: $KML is missing (kernel without DEBUG_KMEMLEAK?)"
		return 0
	fi
	echo scan >"$KML"
	sleep 5
	echo scan >"$KML"
	if [ -s "$KML" ]; then
		cat "$KML" >/dev/console
		echo "not ok 1 - kmemleak: $(grep -c 'unreferenced object' "$KML") unreferenced objects after the run"
		# A later scan in the same boot reports only new leaks
		echo clear >"$KML"
	else
		echo "ok 1 - kmemleak: no unreferenced object after the run"
	fi
}

check >"$1"
cat "$1"
