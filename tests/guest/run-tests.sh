#!/bin/bash
# In-guest test driver (run by scripts/check.sh through scripts/vm-run.sh):
# for each program in TESTS, prepare its device, run it and keep its TAP
# in $VM_OUT/tap/NAME.tap (plus a "# exit status N" line). Always exits
# 0: the host side judges the TAP files.
#
# usage: tests/guest/run-tests.sh [--list]
#   --list  print "NAME COUNT" for each test program and exit (host side)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$TOP/tests/guest/lib.sh"

# One line per test program: its name (build/tests/NAME, or a kernel
# selftest under build/selftests/), the number of TAP results it must
# print, and the setup_* function that prepares its arguments. The legacy
# group path runs first, then the cdev in the same boot.
TESTS="
legacy_group			14	edu
dpdk_testpmd.sh			10	none
vfio_iommufd_noiommu_test	21	edu
noiommu_pinning			10	edu
noiommu_lifetime		6	edu
"
BINS="$TOP/build/tests $TOP/build/selftests/vfio $TOP/tests/guest"
TEST_TIMEOUT=${TEST_TIMEOUT:-300}

usage() {
	echo "usage: $0 [--list]" >&2
	exit 2
}

list_tests() {
	local name count setup
	while read -r name count setup; do
		[ -n "$name" ] || continue
		echo "$name $count"
	done <<<"$TESTS"
}

# setup_KIND: prepare the device, print the program's arguments.
setup_none() {
	:
}

setup_edu() {
	local bdf
	bdf=$(edu_bdf)
	bind_vfio_pci "$bdf"
	echo "$bdf"
}

# test_bin NAME: print the path of test program NAME.
test_bin() {
	local dir
	for dir in $BINS; do
		[ -x "$dir/$1" ] && { echo "$dir/$1"; return 0; }
	done
	echo "$1-not-built"
}

# run_one NAME SETUP: run build/tests/NAME into $VM_OUT/tap/NAME.tap.
run_one() {
	local name=$1 setup=$2 tap=$VM_OUT/tap/$1.tap args rc=0
	echo "# $name"
	if ! args=$("setup_$setup" 2>&1); then
		printf 'Bail out! setup %s failed: %s\n' "$setup" "$args" | tee "$tap"
		return 0
	fi
	# shellcheck disable=SC2086 # args are words (a BDF, ...)
	timeout -k 5 "$TEST_TIMEOUT" "$(test_bin "$name")" $args >"$tap" 2>&1 || rc=$?
	echo "# exit status $rc" >>"$tap"
	cat "$tap"
}

main() {
	case "${1:-}" in
	--list) list_tests; return 0 ;;
	"") ;;
	*) usage ;;
	esac
	[ -n "${VM_OUT:-}" ] || die_usage
	mkdir -p "$VM_OUT/tap"
	local name count setup
	while read -r name count setup; do
		[ -n "$name" ] || continue
		run_one "$name" "$setup"
	done <<<"$TESTS"
}

die_usage() {
	echo "error: VM_OUT is not set: run this in the VM through scripts/check.sh" >&2
	exit 2
}

main "$@"
