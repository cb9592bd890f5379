#!/bin/bash
# Host side of 'make check' (run after 'make kernel'): build the test
# programs and run every check, or the STEPs given, in this order:
#   static     checkpatch --strict and kernel-doc on the series
#   guest      tests/guest/run-tests.sh in the VM (guest:NAME,... runs
#              only those programs, or subsets of one: run-tests.sh's
#              SUBSETS), then the iommu-gone step; the errnos
#              noiommu_errno prints are compared with mainline 7.3's
#              (scripts/errno-compare.sh, no 7.3 kernel needed)
#   iommu-gone run-tests.sh --suite iommu-gone in a boot of its own, with
#              a virtio-iommu whose driver noiommu_iommu_gone unbinds
#   modules    iommufd and VFIO built as modules (the Kconfig outcome,
#              W=1 in drivers/iommu/ and drivers/vfio/, vmlinux and modules
#              linked), loaded with modprobe, the core of the suite,
#              unloaded, twice (scripts/modules-run.sh)
#   runner     the runner's self-tests (check-log.sh on synthetic logs; a
#              guest WARN must fail vm-run.sh)
#   kunit      generic_pt's KUnit tests on UML
#   bisect     every prefix of the series builds (W=1 in drivers/iommu/
#              and drivers/vfio/)
#   base       the base kernel alone, for iommufd (bisect-check.sh
#              --base-only), where bisect does not run
#   iommufd    iommufd's selftests on base and series (after bisect or
#              base)
#   matrix     the Kconfig matrix
#   sanitizer  the in-VM suite on the sanitizer kernel, then kmemleak
#              (only when asked for: 'make sanitizer'; see the README's
#              time budget)
#   STEP-7.3   static, guest, iommu-gone, kunit, bisect, base, iommufd or
#              sanitizer for the 7.3 series (patches-7.3/ on mainline 7.3:
#              build/linux-7.3, build/kbuild/vm-7.3), its results named
#              7.3/NAME; kunit-7.3 relies on the kunit step's run where
#              the two series change generic_pt alike (kunit_same_as_72)
# and aggregate every TAP file. Ends with one line
# "N passed, N failed, N skipped" and exits non-zero on any failure, skip,
# crash, kernel report or missing result. Each step is another script's
# job: this one runs them and judges what they leave. The in-VM suite's
# boots are scripts/guest-suite.sh's, the tally (judge_tap, the final
# line) is scripts/tap.sh's.
#
# usage: scripts/check.sh [STEP...]
# env: NOIOMMU_CHECK_TIMEOUT (guest test run, default 900 s),
#      NOIOMMU_SELFTEST_TIMEOUT (runner self-test boot, default 180 s),
#      NOIOMMU_DEBUG_TIMEOUT (sanitizer run, default 2400 s), VM_VERBOSE=1
#      (show the console; scripts/vm-run.sh)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=tap.sh
. "$(dirname "$0")/tap.sh"

CHECK_TIMEOUT=${NOIOMMU_CHECK_TIMEOUT:-900}
SELFTEST_TIMEOUT=${NOIOMMU_SELFTEST_TIMEOUT:-180}
RESULTS=$BUILD/check
# The in-VM suite's boots (scripts/guest-suite.sh): TAP files in OUT/tap/,
# the console in OUT.log
DEBUG_OUT=$BUILD/vm/debug
DEBUG_TIMEOUT=${NOIOMMU_DEBUG_TIMEOUT:-2400}
# The sanitizer kernel is about 5 times slower: the harness's per-test
# timeouts of the guest programs (tests/guest/noiommu_utils.h) scale by
# it, and a program may take up to 15 minutes (noiommu_fail_nth's sweeps
# take four).
DEBUG_SLOW=(--test-timeout 900 --timeout-scale 5)
# generic_pt's KUnit cases that run on UML: the base's suite has 210 once
# the skips it makes by design are left out; the series adds test_phys_contig
# for each of the 12 format configurations.
KUNIT_MIN_CASES=222

# The steps that also run for the 7.3 series, as STEP-7.3
BASE_STEPS="static guest iommu-gone kunit bisect base iommufd sanitizer"
STEPS="static guest iommu-gone modules runner kunit bisect base iommufd matrix sanitizer ${BASE_STEPS// /-7.3 }-7.3"
# What 'make check' (and so CI) runs: a cold run stays within 75 minutes
# (the README's time budget). Of the 7.3 series' bisect only its base is
# built (for iommufd-7.3): every prefix is 'make bisect-check BASE=7.3',
# run when patches-7.3/ changes, as 'make sanitizer' is.
DEFAULT_STEPS="static static-7.3 guest guest-7.3 modules runner kunit kunit-7.3 bisect iommufd base-7.3 iommufd-7.3 matrix"

# use_base B: the series the steps work on, 7.2 or 7.3: scripts/lib.sh's
# TREE, PATCHES, SFX and KNAME for BASE=B (exported to the scripts the
# steps run), and the step's own paths. PFX names the results ("7.3/").
use_base() {
	export BASE=$1
	# shellcheck source-path=SCRIPTDIR source=lib.sh
	. "$TOP/scripts/lib.sh"
	PFX=${SFX:+${SFX#-}/}
	VM_KERNEL=$BUILD/kbuild/$KNAME/arch/x86/boot/bzImage
	GUEST_OUT=$BUILD/vm/check$SFX
	IOMMU_GONE_OUT=$BUILD/vm/iommu-gone$SFX
}
use_base 7.2

usage() {
	echo "usage: $0 [STEP...], STEP one of: $STEPS (guest:NAME,... for some programs or subsets)" >&2
	exit 2
}

step() {
	STEP_START=$SECONDS
	log "$*"
}

step_done() {
	log "  ... $((SECONDS - STEP_START))s"
}

build_tests() {
	step "building tests (tests/Makefile${PFX:+ BASE=$BASE})"
	mkdir -p "$RESULTS"
	# dpdk-dev has dpdk-testpmd, the legacy-path client
	need_pkgs gcc make qemu-system-x86 busybox-static uuid-dev dpdk-dev \
		librte-net-e1000-23
	make -C "$TOP/tests" BASE="$BASE" >"$RESULTS/build$SFX.log" 2>&1 ||
		die "building tests${SFX:+ for $BASE} failed: $(grep -m1 -E 'error|Error' "$RESULTS/build$SFX.log" || tail -n1 "$RESULTS/build$SFX.log") (see $RESULTS/build$SFX.log)"
	step_done
}

# guest_suite WHAT PREFIX KERNEL OUT [OPTION...]: boot KERNEL for the
# in-VM suite (scripts/guest-suite.sh KERNEL OUT OPTION...) and judge
# each TAP file it names, as PREFIXNAME; a failed boot is one failure
# more, named WHAT. Called after the step's own step line.
guest_suite() {
	local what=$1 prefix=$2 kernel=$3 out=$4 rc=0 msg name
	shift 4
	msg=$("$TOP/scripts/guest-suite.sh" "$kernel" "$out" "$@" 2>&1) || rc=$?
	step_done
	[ "$rc" -eq 0 ] || fail "$what: $(tail -n1 <<<"$msg")"
	while read -r name; do
		judge_tap "$prefix$name" "$out/tap/$name.tap"
		# The VM kernel's errnos against mainline's, right after the
		# run that printed them
		[ "$prefix$name" != "${PFX}noiommu_errno" ] || errno_vs_mainline "$out/tap/$name.tap"
	done < <("$TOP/scripts/guest-suite.sh" --list "$@")
}

# run_guest_tests [NAME,...]: the in-VM suite, or only these programs or
# subsets.
run_guest_tests() {
	local only=()
	[ -z "${1:-}" ] || only=(--only "$1")
	step "booting the ${PFX:+$BASE series }VM for tests/guest/run-tests.sh"
	guest_suite "${PFX}guest run" "$PFX" "$VM_KERNEL" "$GUEST_OUT" \
		--timeout "$CHECK_TIMEOUT" "${only[@]}"
}

# errno_vs_mainline TAP: the errnos of the series (the "errno:" lines of
# noiommu_errno's TAP) against those of mainline 7.3
# (tests/guest/noiommu_errno.mainline-7.3, measured by 'make
# errno-mainline'): they may differ only as documented in
# tests/guest/noiommu_errno.differences. One result per request.
errno_vs_mainline() {
	local out=$RESULTS/errno-vs-mainline$SFX.tap err=$RESULTS/errno-vs-mainline$SFX.err
	local tap=$1 ref=$TOP/tests/guest/noiommu_errno.mainline-7.3
	if [ ! -f "$tap" ]; then
		fail "${PFX}errno-vs-mainline: no noiommu_errno run to compare ($tap missing)"
		return
	fi
	if ! "$TOP/scripts/errno-compare.sh" "$tap" >"$out" 2>"$err" && [ -s "$err" ]; then
		fail "${PFX}errno-vs-mainline: $(head -n1 "$err")"
		return
	fi
	judge_tap "${PFX}errno-vs-mainline" "$out" "$(grep -c '^errno: ' "$ref")"
}

# The IOMMU-gone scenario (noiommu_iommu_gone) in a boot of its own: it
# unbinds the virtio-iommu's driver, which cannot be undone in that boot.
# usage: run_iommu_gone_tests [KERNEL PREFIX]: the VM kernel by default;
# only the sanitizer step passes a kernel (and its prefix, "debug/" or
# "7.3/debug/"), and then the programs get the sanitizer run's time.
run_iommu_gone_tests() {
	local kernel=${1:-$VM_KERNEL} prefix=${2:-$PFX} slow=()
	[ $# -eq 0 ] || slow=("${DEBUG_SLOW[@]}")
	local what=${PFX:+the $BASE series }
	[ ${#slow[@]} -eq 0 ] || what="the sanitizer kernel ${PFX:+of the $BASE series }"
	step "booting ${what}with a virtio-iommu for run-tests.sh --suite iommu-gone"
	guest_suite "${prefix}iommu-gone guest run" "$prefix" "$kernel" \
		"$IOMMU_GONE_OUT${slow:+-debug}" --suite iommu-gone \
		--timeout "$CHECK_TIMEOUT" "${slow[@]}"
}

# The whole in-VM suite again on the sanitizer kernel (KASAN, kmemleak,
# lockdep, UBSAN, DEBUG_LIST, fault injection), ending with a kmemleak
# scan. Its results count under the prefix "debug/" ("7.3/debug/").
run_debug_tests() {
	local msg kernel=$BUILD/kbuild/debug$SFX/arch/x86/boot/bzImage
	step "building the sanitizer kernel${PFX:+ of the $BASE series} (kconfig/debug.config)"
	if ! msg=$("$TOP/scripts/build-kernel.sh" "debug$SFX" "$TOP/kconfig/vm.config" \
		"$TOP/kconfig/debug.config" 2>&1); then
		fail "${PFX}sanitizer kernel: $(tail -n1 <<<"$msg")"
		return
	fi
	step_done
	step "booting the sanitizer kernel${PFX:+ of the $BASE series} for tests/guest/run-tests.sh --kmemleak"
	guest_suite "${PFX}sanitizer kernel run" "${PFX}debug/" "$kernel" "$DEBUG_OUT$SFX" \
		--kmemleak --timeout "$DEBUG_TIMEOUT" "${DEBUG_SLOW[@]}"
	run_iommu_gone_tests "$kernel" "${PFX}debug/"
	run_debug_iommufd "$kernel"
}

# iommufd's own no-IOMMU selftests (its mock device without an IOMMU,
# fail_nth sweeps among them) on the sanitizer kernel KERNEL, then a
# kmemleak scan: their error paths checked by KASAN, lockdep and kmemleak.
run_debug_iommufd() {
	local out=$BUILD/vm/debug-iommufd$SFX rc=0 msg name plan
	step "booting the sanitizer kernel${PFX:+ of the $BASE series} for iommufd's no-IOMMU selftests"
	msg=$("$TOP/scripts/iommufd-selftests.sh" --kmemleak "$1" "$out" \
		"$DEBUG_TIMEOUT" -f iommufd_noiommu -f iommufd_noiommu_mixed \
		-f noiommu_fail_nth -f noiommu_hugepage_fail_nth 2>&1) || rc=$?
	step_done
	[ "$rc" -eq 0 ] || fail "${PFX}sanitizer kernel, iommufd selftests: $(tail -n1 <<<"$msg")"
	for name in iommufd iommufd_fail_nth kmemleak; do
		# The harness's own plan; a filter that matched nothing (1..0)
		# still expects a result
		plan=$(sed -n 's/^1\.\.//p' "$out/$name.tap" 2>/dev/null || true)
		[ "${plan:-0}" -gt 0 ] || plan=1
		judge_tap "${PFX}debug/$name" "$out/$name.tap" "$plan"
	done
}

selftest_check_log() {
	step "self-test: check-log.sh on synthetic logs"
	"$TOP/tests/host/check-log-test.sh" >"$RESULTS/check-log-test.tap" 2>&1 || true
	judge_tap check-log-test "$RESULTS/check-log-test.tap" 17
	step_done
}

# A guest WARN must make vm-run.sh fail with check-log's one line.
selftest_warn() {
	step "self-test: a guest WARN (LKDTM) fails vm-run.sh"
	local rc=0 msg
	msg=$("$TOP/scripts/vm-run.sh" --timeout "$SELFTEST_TIMEOUT" \
		--log "$BUILD/vm/selftest-warn.log" --out "$BUILD/vm/selftest-warn" \
		-- 'echo WARNING > /sys/kernel/debug/provoke-crash/DIRECT' 2>&1) || rc=$?
	step_done
	if [ "$rc" -ne 0 ] && [ "$(wc -l <<<"$msg")" -eq 1 ] &&
		[[ "$msg" == *"kernel report in "*"WARNING:"* ]]; then
		pass "runner self-test: guest WARN fails the run: $msg"
	else
		fail "runner self-test: guest WARN did not fail the run as expected (exit $rc): $(tail -n1 <<<"$msg")"
	fi
}

# Number of patches in the series.
series_len() {
	grep -cv '^#' "$PATCHES/series"
}

# checkpatch --strict on every patch, kernel-doc on the UAPI header.
static_checks() {
	step "static checks${PFX:+ of the $BASE series}: checkpatch --strict, kernel-doc"
	"$TOP/scripts/checkpatch.sh" >"$RESULTS/static$SFX.log" 2>&1 || true
	judge_tap "${PFX}static" "$BUILD/results/static$SFX.tap" "$(($(series_len) + 2))"
	step_done
}

# The series' changes to generic_pt (phys_contig() and its KUnit test), as
# a diff without line numbers and blob IDs, which differ between bases.
generic_pt_changes() {
	git -C "$1" diff base HEAD -- drivers/iommu/generic_pt include/linux/generic_pt |
		grep -vE '^(index |@@ )'
}

# The files of the base's generic_pt, with their blob IDs, but for
# iommu_pt.h, where 7.2 and 7.3 differ in dirty tracking (record_dirty()),
# which phys_contig() does not call.
generic_pt_base() {
	git -C "$1" ls-tree -r base -- drivers/iommu/generic_pt include/linux/generic_pt |
		grep -v '/iommu_pt\.h$'
}

# KUnit of the 7.3 series: the 7.2 series' run (the kunit step) already
# tested the same changes to generic_pt on a base that is the same but
# for dirty tracking: one result saying so, and a UML build and run of
# their own (5 min with an empty ccache) when the changes or the rest of
# the bases differ, or when this run has no 7.2 KUnit result
# (scripts/check.sh kunit-7.3).
kunit_same_as_72() {
	local changes cases
	changes=$(generic_pt_changes "$TREE")
	cases=$(sed -n 's/^1\.\.//p' "$BUILD/results/kunit.tap" 2>/dev/null || true)
	if [ -z "$changes" ] || [ "${cases:-0}" -lt "$KUNIT_MIN_CASES" ] ||
		[ "$changes" != "$(generic_pt_changes "$BUILD/linux")" ] ||
		[ "$(generic_pt_base "$TREE")" != "$(generic_pt_base "$BUILD/linux")" ]; then
		kunit_tests
		return
	fi
	step "KUnit on $BASE: generic_pt changed as in the 7.2 series"
	if ! grep -q '^not ok' "$BUILD/results/kunit.tap"; then
		pass "${PFX}kunit: the series changes generic_pt as the 7.2 series does ($(wc -l <<<"$changes") diff lines), which the kunit step tested: $(sed -n 's/^1\.\.//p' "$BUILD/results/kunit.tap") cases passed"
	else
		fail "${PFX}kunit: the series changes generic_pt as the 7.2 series does, but the kunit step did not pass (see $BUILD/results/kunit.tap)"
	fi
	step_done
}

# generic_pt's KUnit tests on UML, with kunit.py.
kunit_tests() {
	local cases
	step "KUnit${PFX:+ on $BASE}: generic_pt on UML (tools/testing/kunit/kunit.py)"
	"$TOP/scripts/kunit.sh" >"$RESULTS/kunit$SFX.log" 2>&1 || true
	# The count is the plan kunit.py found; it must not shrink below the
	# cases of the base's suite plus test_phys_contig.
	cases=$(sed -n 's/^1\.\.//p' "$BUILD/results/kunit$SFX.tap" 2>/dev/null || true)
	if [ "${cases:-0}" -lt "$KUNIT_MIN_CASES" ]; then
		fail "${PFX}kunit: ${cases:-no} test cases, expected at least $KUNIT_MIN_CASES (see $RESULTS/kunit$SFX.log)"
		return
	fi
	judge_tap "${PFX}kunit" "$BUILD/results/kunit$SFX.tap" "$cases"
	step_done
}

# The Kconfig matrix: 9 cases, each judged at the series and against
# the base, and Debian's 3 configurations, two results each
# (scripts/kconfig-matrix.sh).
kconfig_matrix() {
	step "Kconfig matrix (scripts/kconfig-matrix.sh)"
	"$TOP/scripts/kconfig-matrix.sh" >"$RESULTS/matrix.log" 2>&1 || true
	judge_tap kconfig-matrix "$BUILD/results/matrix.tap" 24
	step_done
}

# The series built as modules (scripts/modules-run.sh): the 3 results of
# its build (modules-build.tap), modules.tap, and each program of the
# core, held to its own plan, in each of the two rounds.
modules_run() {
	local rc=0 msg name count file out=$BUILD/vm/modules
	step "modules: built as modules, modprobe, the core of the suite, rmmod, twice"
	msg=$("$TOP/scripts/modules-run.sh" 2>&1) || rc=$?
	step_done
	[ "$rc" -eq 0 ] || fail "modules run: $(tail -n1 <<<"$msg")"
	judge_tap modules/build "$BUILD/results/modules-build.tap" 3
	while read -r name count; do
		file=$out/${name%/*}/tap/${name##*/}.tap
		[ "$name" != modules ] || file=$out/tap/modules.tap
		judge_tap "modules/$name" "$file" "$count"
	done < <("$TOP/tests/guest/modules.sh" --list)
}

# iommufd's own selftests (mock IOMMU) give the same results on the base,
# kept by bisect_check, and on the series.
iommufd_regression() {
	step "no regression: iommufd selftests on the base and on the ${PFX:+$BASE }series"
	local planned
	"$TOP/scripts/iommufd-regression.sh" >"$RESULTS/iommufd$SFX.log" 2>&1 || true
	# One result per test the series adds, which the script counts from
	# the harness's own output, after 7 of its own
	planned=$(sed -n 's/^1\.\.//p' "$BUILD/results/iommufd$SFX.tap" 2>/dev/null || true)
	judge_tap "${PFX}iommufd-regression" "$BUILD/results/iommufd$SFX.tap" "${planned:-7}"
	step_done
}

# Every prefix of the series builds (W=1 in drivers/iommu/ and
# drivers/vfio/) and adds no warning.
bisect_check() {
	step "bisect check: every prefix of the ${PFX:+$BASE }series (W=1 in drivers/iommu/, drivers/vfio/)"
	"$TOP/scripts/bisect-check.sh" >"$RESULTS/bisect$SFX.log" 2>&1 || true
	judge_tap "${PFX}bisect" "$BUILD/results/bisect$SFX.tap" "$(($(series_len) + 1))"
	step_done
}

# The base kernel alone, for the iommufd step, without the prefixes.
base_build() {
	step "the ${PFX:+$BASE }base kernel, for the iommufd comparison"
	"$TOP/scripts/bisect-check.sh" --base-only >"$RESULTS/base$SFX.log" 2>&1 || true
	judge_tap "${PFX}base" "$BUILD/results/base$SFX.tap" 1
	step_done
}

# The bases whose test programs this run built (run_step)
TESTS_BUILT=" "

# run_step STEP: one of $STEPS, or guest:NAME,...
run_step() {
	# The test programs, once per base, before its first VM step: after
	# bisect, which may have built the VM kernel they take headers from
	case "$1" in
	guest | guest:* | iommu-gone | sanitizer | modules)
		[[ "$TESTS_BUILT" == *" $BASE "* ]] || { build_tests; TESTS_BUILT+="$BASE "; } ;;
	esac
	case "$1" in
	*-7.3) use_base 7.3; run_step "${1%-7.3}"; use_base 7.2 ;;
	static) static_checks ;;
	guest) run_guest_tests; run_iommu_gone_tests ;;
	iommu-gone) run_iommu_gone_tests ;;
	guest:?*) run_guest_tests "${1#guest:}" ;;
	runner) selftest_check_log; selftest_warn ;;
	kunit) if [ -n "$PFX" ]; then kunit_same_as_72; else kunit_tests; fi ;;
	bisect) bisect_check ;;
	base) base_build ;;
	iommufd) iommufd_regression ;;
	sanitizer) run_debug_tests ;;
	matrix) kconfig_matrix ;;
	modules) modules_run ;;
	*) usage ;;
	esac
}

# check_step STEP: a wrong step stops the run before any work, with one
# line: a STEP not in $STEPS, or a program not in the suite
# (guest-suite.sh --list names the suite's).
check_step() {
	[[ " $STEPS " == *" ${1%%:*} "* ]] || usage
	case "$1" in
	guest:?*) "$TOP/scripts/guest-suite.sh" --list --only "${1#guest:}" >/dev/null || exit 2 ;;
	*:*) usage ;;
	esac
}

main() {
	local start=$SECONDS steps=("$@") s
	[ $# -gt 0 ] || read -ra steps <<<"$DEFAULT_STEPS"
	for s in "${steps[@]}"; do
		check_step "$s"
	done
	mkdir -p "$RESULTS"
	rm -f "$BUILD"/results/*.tap
	for s in "${steps[@]}"; do
		run_step "$s"
	done
	log "make check took $((SECONDS - start))s"
	tap_total
}

main "$@"
