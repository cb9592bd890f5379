#!/bin/bash
# In-guest test driver (run by scripts/guest-suite.sh through
# scripts/vm-run.sh): for each program in TESTS, prepare its device, run
# it and keep its TAP in $VM_OUT/tap/NAME.tap (plus a "# exit status N"
# line). Always exits 0: the host side judges the TAP files.
#
# usage: [FAULT_REJECT="START END"] [NOIOMMU_TEST_TIMEOUT=SECS]
#          tests/guest/run-tests.sh [--list] [--kmemleak]
#          [--only NAME[,NAME...]] [--suite main|iommu-gone]
#   --list      print the name of each test program and exit (host side);
#               each prints its own TAP plan ("1..N"), which the host
#               side holds its results to
#   --kmemleak  end with a kmemleak scan (sanitizer kernel)
#   --only      run (or list) only these programs of the suite, or
#               these SUBSETS (one program's tests, chosen by fixture)
#   --suite     the programs of TESTS (main, the default) or of
#               IOMMU_GONE_TESTS, which need a boot of their own
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$TOP/tests/guest/lib.sh"

# One line per test program: its name (build/tests/NAME, or a kernel
# selftest under build/selftests/) and the setup_* function that prepares
# its arguments. The legacy group path runs first, then the cdev in the
# same boot. Every program prints its TAP plan first (the kselftest
# harness counts its tests), so no count is kept here.
TESTS="
legacy_group			edu
dpdk_testpmd.sh			none
vfio_iommufd_noiommu_test	edu
noiommu_pinning			edu
vfio_pci_driver_test		vfio_driver
vfio_pci_device_test		vfio_device
vfio_iommufd_setup_test		edu
vfio_dma_mapping_test		vfio_dma
noiommu_stress			edu
noiommu_domains			edu
noiommu_errno			edu
noiommu_fail_nth		fail_nth
"

# Subsets: the tests of one program that some fixtures hold, run on their
# own with --only NAME (make bad-input, make unprivileged), never in the
# whole suite, which runs the program whole. One line each: NAME, the
# program, its setup_* and the kselftest harness's filter (-f FIXTURE).
SUBSETS="
noiommu_bad_input	vfio_iommufd_noiommu_test	edu	-f noiommu_bad_input -f noiommu_bad_input_errno -f noiommu_bad_input_answer
noiommu_unpriv		vfio_iommufd_noiommu_test	edu	-f noiommu_unpriv
noiommu_lifetime	vfio_iommufd_noiommu_test	edu	-f noiommu_lifetime
"

# The upstream vfio selftests run on the edu device's no-IOMMU cdev, minus
# what cannot apply there, excluded by name (kselftest harness filters):
# - every container and IOMMUFD-compat variant (-v iommufd...): a
#   no-IOMMU device binds to iommufd through its cdev only;
# - vfio_pci_driver_test memcpy_from_unmapped_iova and
#   memcpy_to_unmapped_iova: without an IOMMU an unmapped IOVA is a
#   physical address the device would really write to, so the library
#   refuses it and the test skips them (a skip fails make check: left out
#   instead; mix_and_match leaves that copy out and runs);
# - vfio_pci_device_test reset: edu has no reset method (no FLR, no PM
#   reset, alone on the root bus); the msix variant: edu has MSI only;
# - vfio_pci_device_init_perf_test: a timing loop, no assertion to make;
#   vfio_pci_sriov_uapi_test: needs an SR-IOV device; vfio_dma_mapping_mmio_test:
#   maps a BAR, which iommufd's IOMMU_IOAS_MAP does not support.
VFIO_DRIVER_ARGS="-T memcpy_from_unmapped_iova -T memcpy_to_unmapped_iova -v iommufd"
VFIO_DEVICE_ARGS="-T reset -V msix"
VFIO_DMA_ARGS="-v iommufd_anonymous -v iommufd_anonymous_hugetlb_2mb -v iommufd_anonymous_hugetlb_1gb -v iommufd"
# The programs built for the kernel under test: tests/Makefile's, for the
# 7.2 series or, with NOIOMMU_SFX=-7.3 (scripts/guest-suite.sh for BASE=7.3),
# for the 7.3 series
BINS="$TOP/build/tests${NOIOMMU_SFX:-} $TOP/build/selftests${NOIOMMU_SFX:-}/vfio $TOP/tests/guest"
# Each program's limit (NOIOMMU_TEST_TIMEOUT, default 300 s).
TEST_TIMEOUT=${NOIOMMU_TEST_TIMEOUT:-300}

# Programs that need a boot of their own, with a virtio-iommu whose driver
# they unbind (scripts/guest-suite.sh boots it with vm-run.sh --iommu virtio
# and iommufd.allow_unsafe_interrupts=1): run with --suite iommu-gone.
IOMMU_GONE_TESTS="
noiommu_iommu_gone		iommu_gone
"

usage() {
	echo "usage: $0 [--list] [--kmemleak] [--only NAME[,NAME...]] [--suite main|iommu-gone]" >&2
	exit 2
}

# The "NAME SETUP" lines of the suite chosen with --suite.
suite_tests() {
	case "$SUITE" in
	main) echo "$TESTS" ;;
	iommu-gone) echo "$IOMMU_GONE_TESTS" ;;
	esac
}

# The subsets --only may name: the main suite's.
suite_subsets() {
	[ "$SUITE" != main ] || echo "$SUBSETS"
}

# "NAME PROGRAM SETUP [FILTER...]" of each program selected by --only (all
# without it), then of each subset it names.
selected_tests() {
	local name setup filter
	while read -r name setup; do
		[ -n "$name" ] || continue
		[ -z "$ONLY" ] || [[ ",$ONLY," == *",$name,"* ]] || continue
		echo "$name $name $setup"
	done <<<"$(suite_tests)"
	[ -n "$ONLY" ] || return 0
	while read -r name prog setup filter; do
		[ -n "$name" ] || continue
		[[ ",$ONLY," == *",$name,"* ]] || continue
		echo "$name $prog $setup $filter"
	done <<<"$(suite_subsets)"
}

# Every name given to --only must be a program or a subset of the suite.
check_only() {
	local name
	for name in ${ONLY//,/ }; do
		awk -v n="$name" '$1 == n { f = 1 } END { exit !f }' <<<"$(suite_tests; suite_subsets)" || {
			echo "error: no test program or subset '$name' in suite $SUITE of $0 (see --list)" >&2
			exit 2
		}
	done
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

setup_vfio_driver() {
	local bdf
	bdf=$(setup_edu) || return 1
	echo "$VFIO_DRIVER_ARGS $bdf"
}

setup_vfio_device() {
	local bdf
	bdf=$(setup_edu) || return 1
	echo "$VFIO_DEVICE_ARGS $bdf"
}

# Fault injection stays out of drivers/acpi: vfio-pci's open and close
# route the device's interrupt through ACPI (_PRT), and an allocation
# failure injected in the ACPI interpreter crashes in ACPICA's error path,
# which is not code of the series. The host passes the text range of
# drivers/acpi in FAULT_REJECT ("START END"); an allocation with a caller
# in it is neither failed nor counted by fail-nth.
setup_fail_nth() {
	local attr start end dir=/sys/kernel/debug
	read -r start end <<<"${FAULT_REJECT:-}"
	if [ -z "$end" ]; then
		echo "FAULT_REJECT (drivers/acpi's text range, START END) is not set"
		return 1
	fi
	for attr in failslab fail_page_alloc; do
		if [ ! -w "$dir/$attr/reject-start" ]; then
			echo "$dir/$attr/reject-start is missing (no FAULT_INJECTION_STACKTRACE_FILTER?)"
			return 1
		fi
		echo "$start" >"$dir/$attr/reject-start"
		echo "$end" >"$dir/$attr/reject-end"
	done
	setup_edu
}

setup_vfio_dma() {
	local bdf
	bdf=$(setup_edu) || return 1
	echo "$VFIO_DMA_ARGS $bdf"
}

# noiommu_iommu_gone: edu on vfio-pci behind the virtio-iommu, its cdev
# and /dev/iommu given to nobody, as a udev rule would give them to the
# user of a VM (the guest has no udev). The program checks all this.
setup_iommu_gone() {
	local bdf cdev
	bdf=$(setup_edu) || return 1
	cdev=$(vfio_cdev "$bdf") || return 1
	chown 65534:65534 "$cdev" /dev/iommu || return 1
	echo "$bdf"
}

# run_one NAME PROGRAM SETUP [FILTER]: run PROGRAM (build/tests/PROGRAM,
# ...) with the harness's FILTER into $VM_OUT/tap/NAME.tap.
run_one() {
	local name=$1 bin tap=$VM_OUT/tap/$1.tap args rc=0
	local setup=$3 filter=${4:-}
	bin=$(test_bin "$2")
	echo "# $name"
	if ! args=$("setup_$setup" 2>&1); then
		printf 'Bail out! setup %s failed: %s\n' "$setup" "$args" | tee "$tap"
		return 0
	fi
	# The BDF comes last: the selftests take it off the end of argv
	# shellcheck disable=SC2086 # filter and args are words (-f NAME, a BDF, ...)
	timeout -k 5 "$TEST_TIMEOUT" "$bin" $filter $args >"$tap" 2>&1 || rc=$?
	echo "# exit status $rc" >>"$tap"
	reap "$bin" >>"$tap"
	cat "$tap"
}

# reap BIN: kill what is left of a program that timed out. timeout(1)
# signals its process group, but the kselftest harness runs each test
# in a group of its own (setpgrp), which would live on holding the
# device the next program needs. Waits until they are gone (a killed
# process exits unless the kernel is stuck, and then the VM's timeout
# and its report say so).
reap() {
	pgrep -f "^$1( |\$)" >/dev/null || return 0
	echo "# killing what is left of $1: $(pgrep -d' ' -f "^$1( |\$)")"
	while pkill -KILL -f "^$1( |\$)"; do
		sleep 1
	done
}

# kmemleak: a scan after the suite, one TAP result (tests/guest/kmemleak.sh)
kmemleak_check() {
	"$TOP/tests/guest/kmemleak.sh" "$VM_OUT/tap/kmemleak.tap"
}

main() {
	local kmemleak=0 list=0 name prog setup filter
	ONLY=
	SUITE=main
	while [ $# -gt 0 ]; do
		case "$1" in
		--list) list=1 ;;
		--kmemleak) kmemleak=1 ;;
		--only) [ $# -ge 2 ] || usage; ONLY=$2; shift ;;
		--suite) [ $# -ge 2 ] || usage; SUITE=$2; shift ;;
		*) usage ;;
		esac
		shift
	done
	case "$SUITE" in main | iommu-gone) ;; *) usage ;; esac
	check_only
	if [ "$list" = 1 ]; then
		selected_tests | cut -d' ' -f1
		[ "$kmemleak" = 0 ] || echo kmemleak
		return 0
	fi
	[ -n "${VM_OUT:-}" ] || die_usage
	mkdir -p "$VM_OUT/tap"
	# A here-string: the guest has no /dev/fd for a process substitution
	while read -r name prog setup filter; do
		run_one "$name" "$prog" "$setup" "$filter"
	done <<<"$(selected_tests)"
	[ "$kmemleak" = 0 ] || kmemleak_check
}

die_usage() {
	echo "error: VM_OUT is not set: run this in the VM through scripts/guest-suite.sh" >&2
	exit 2
}

main "$@"
