#!/bin/bash
# Boot KERNEL once (scripts/vm-run.sh) for the in-VM suite,
# tests/guest/run-tests.sh, and leave its TAP files in OUT/tap/NAME.tap
# and the console log in OUT.log. The machine fits the suite: the main
# suite gets the memory and hugepages its programs map and drivers/acpi's
# text range (FAULT_REJECT), which fault injection stays out of; the
# iommu-gone suite gets a virtio-iommu in front of edu. Judging the TAP
# files is the caller's (scripts/check.sh); --list names them. Exits
# non-zero, vm-run.sh's one line last, if the boot fails: a timeout, a
# kernel report on the console, a guest that died. A wrong argument: one
# line, exit 2, before anything boots.
#
# usage: scripts/guest-suite.sh KERNEL OUT [OPTION...]
#        scripts/guest-suite.sh --list [OPTION...]
#   KERNEL    the bzImage of a kernel build (KBUILD/arch/x86/boot/bzImage;
#             the main suite reads KBUILD's System.map)
#   OUT       a directory under build/, emptied first
#   --list    print the NAME of each TAP file a run with these OPTIONs
#             leaves in OUT/tap/, and boot nothing
# OPTION:
#   --suite main|iommu-gone  the programs of run-tests.sh's --suite
#             (main, the default; iommu-gone needs a boot of its own)
#   --only NAME[,NAME...]    only these programs (or SUBSETS) of the suite
#   --kmemleak               end with a kmemleak scan (sanitizer kernel)
#   --timeout SECS           the whole boot (default 900: a limit for a
#                            hung guest, not a time the run must meet)
#   --test-timeout SECS      each program's limit in the guest
#                            (NOIOMMU_TEST_TIMEOUT; run-tests.sh's 300)
#   --timeout-scale N        the harness's per-test timeouts times N, 1 to
#                            100, for a slow kernel (NOIOMMU_TIMEOUT_SCALE)
#   --iommu none|virtio      no IOMMU, or a virtio-iommu that translates
#                            edu (vm-run.sh --iommu); by default none for
#                            main, virtio for iommu-gone
#   --append "CMDLINE"       more kernel command line
# env: BASE (scripts/lib.sh: BASE=7.3 runs the programs built for the 7.3
#      series, make -C tests BASE=7.3), VM_VERBOSE, VM_ACCEL (scripts/vm-run.sh)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RUN_TESTS=tests/guest/run-tests.sh
LIST=0
KERNEL=""
OUT=""
SUITE=main
ONLY=""
KMEMLEAK=0
TIMEOUT=900
TEST_TIMEOUT=""
TIMEOUT_SCALE=""
IOMMU=""
APPEND=""

usage() {
	echo "usage: $0 KERNEL OUT [OPTION...] | --list [OPTION...];" \
		"OPTION: [--suite main|iommu-gone] [--only NAME[,NAME...]] [--kmemleak]" \
		"[--timeout SECS] [--test-timeout SECS] [--timeout-scale N]" \
		"[--iommu none|virtio] [--append \"CMDLINE\"]" >&2
	exit 2
}

# A wrong value: one line, exit 2, as usage.
usage_error() {
	echo "error: $*" >&2
	exit 2
}

parse_args() {
	if [ "${1:-}" = --list ]; then
		LIST=1
		shift
	else
		[[ $# -ge 2 && "$1" != -* && "$2" != -* ]] || usage
		KERNEL=$1 OUT=$2
		shift 2
	fi
	while [ $# -gt 0 ]; do
		case "$1" in
		--suite | --only | --timeout | --test-timeout | --timeout-scale | --iommu | --append)
			[ $# -ge 2 ] || usage ;;
		esac
		case "$1" in
		--suite) SUITE=$2; shift ;;
		--only) ONLY=$2; shift ;;
		--kmemleak) KMEMLEAK=1 ;;
		--timeout) TIMEOUT=$2; shift ;;
		--test-timeout) TEST_TIMEOUT=$2; shift ;;
		--timeout-scale) TIMEOUT_SCALE=$2; shift ;;
		--iommu) IOMMU=$2; shift ;;
		--append) APPEND+=" $2"; shift ;;
		*) usage ;;
		esac
		shift
	done
}

# whole_number OPTION VALUE [MAX]: VALUE is 1 or more (and MAX at most).
whole_number() {
	local range="of at least 1"
	[ -z "${3:-}" ] || range="from 1 to $3"
	[[ "$2" =~ ^[1-9][0-9]*$ && "$2" -le "${3:-$2}" ]] ||
		usage_error "$1 wants a whole number $range, got '$2'"
}

check_args() {
	case "$SUITE" in
	main) IOMMU=${IOMMU:-none} ;;
	iommu-gone) IOMMU=${IOMMU:-virtio} ;;
	*) usage_error "--suite wants main or iommu-gone, got '$SUITE'" ;;
	esac
	case "$IOMMU" in none | virtio) ;; *) usage_error "--iommu wants none or virtio, got '$IOMMU'" ;; esac
	whole_number --timeout "$TIMEOUT"
	[ -z "$TEST_TIMEOUT" ] || whole_number --test-timeout "$TEST_TIMEOUT"
	# The harness's own bounds (tests/guest/noiommu_utils.h)
	[ -z "$TIMEOUT_SCALE" ] || whole_number --timeout-scale "$TIMEOUT_SCALE" 100
	RUN_ARGS=(--suite "$SUITE")
	[ -z "$ONLY" ] || RUN_ARGS+=(--only "$ONLY")
	[ "$KMEMLEAK" = 0 ] || RUN_ARGS+=(--kmemleak)
	# Names not in the suite: run-tests.sh's one line, on the host
	"$TOP/$RUN_TESTS" --list "${RUN_ARGS[@]}" >/dev/null || exit 2
	[ "$LIST" = 0 ] || return 0
	# vm-run.sh empties OUT: only ever under build/ (it checks that too,
	# but after its KVM probe, which boots). Absolute, so that OUT.log
	# is beside OUT whatever slashes OUT ends with.
	OUT=$(realpath -m "$OUT")
	[[ "$OUT" == "$(realpath -m "$BUILD")"/* ]] ||
		usage_error "OUT must be a directory under $BUILD, which is emptied first; got '$OUT'"
}

# drivers/acpi's text range in the build of KERNEL, for FAULT_REJECT.
fault_reject() {
	local kb=${KERNEL%/arch/x86/boot/bzImage}
	[[ "$kb" != "$KERNEL" && -f "$kb/System.map" ]] ||
		die "no System.map for $KERNEL: the main suite keeps fault injection out of drivers/acpi, whose text it finds there; pass KBUILD/arch/x86/boot/bzImage of a kernel build"
	acpi_text_range "$kb"
}

# The machine and the guest environment the suite needs: sets VM_ARGS
# (vm-run.sh's options) and GUEST_ENV (run-tests.sh's variables).
machine() {
	local append="" reject
	VM_ARGS=(--kernel "$KERNEL" --timeout "$TIMEOUT" --log "$OUT.log" --out "$OUT"
		--iommu "$IOMMU")
	GUEST_ENV=()
	if [ "$SUITE" = main ]; then
		# vfio_pci_driver_test maps a 1 GiB region, which a no-IOMMU
		# device gets in 2M hugepages; vfio_dma_mapping_test maps a 1G
		# hugepage.
		VM_ARGS+=(--mem 4096 --hugepages 600)
		append="hugepagesz=1G hugepages=1"
		reject=$(fault_reject)
		GUEST_ENV+=("FAULT_REJECT=$reject")
	fi
	# virtio-iommu does not isolate MSIs, so iommufd binds a device
	# behind it only with allow_unsafe_interrupts.
	[ "$IOMMU" != virtio ] || append+=" iommufd.allow_unsafe_interrupts=1"
	append+=$APPEND
	VM_ARGS+=(--append "${append# }")
	# The test programs built for BASE's series (tests/Makefile BASE=...)
	[ -z "$SFX" ] || GUEST_ENV+=("NOIOMMU_SFX=$SFX")
	[ -z "$TEST_TIMEOUT" ] || GUEST_ENV+=("NOIOMMU_TEST_TIMEOUT=$TEST_TIMEOUT")
	[ -z "$TIMEOUT_SCALE" ] || GUEST_ENV+=("NOIOMMU_TIMEOUT_SCALE=$TIMEOUT_SCALE")
}

main() {
	parse_args "$@"
	check_args
	if [ "$LIST" = 1 ]; then
		"$TOP/$RUN_TESTS" --list "${RUN_ARGS[@]}"
		return
	fi
	# An earlier run's TAP files must not pass for this one's, whatever
	# fails before vm-run.sh empties OUT
	rm -rf "$OUT/tap"
	[ -f "$KERNEL" ] ||
		die "no kernel $KERNEL: build it first (make kernel, or scripts/build-kernel.sh)"
	machine
	# Several words: vm-run.sh quotes each for the guest's shell, and env
	# sets the variables (a quoted NAME=VALUE is no assignment in sh).
	# vm-run.sh's last line says why a boot failed.
	"$TOP/scripts/vm-run.sh" "${VM_ARGS[@]}" \
		-- env "${GUEST_ENV[@]}" "$RUN_TESTS" "${RUN_ARGS[@]}" || exit 1
}

main "$@"
