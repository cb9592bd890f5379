#!/bin/bash
# Host side of 'make check' (run after 'make kernel'): build the test
# programs and run every check, or the STEPs given, in this order:
#   static     checkpatch --strict and kernel-doc on the series
#   guest      tests/guest/run-tests.sh in the VM (guest:NAME,... runs
#              only those programs), then the iommu-gone step; the errnos
#              noiommu_errno prints are compared with mainline 7.3's
#              (scripts/errno-compare.sh, no 7.3 kernel needed)
#   iommu-gone run-tests.sh --suite iommu-gone in a boot of its own, with
#              a virtio-iommu whose driver noiommu_iommu_gone unbinds
#   modules    iommufd and VFIO built as modules (the Kconfig outcome,
#              W=1 in drivers/iommu/ and drivers/vfio/, vmlinux and modules
#              linked), loaded with modprobe, the core of the suite,
#              unloaded, three times (scripts/modules-run.sh)
#   runner     the runner's self-tests (check-log.sh on synthetic logs; a
#              guest WARN must fail vm-run.sh)
#   kunit      generic_pt's KUnit tests on UML
#   bisect     every prefix of the series builds (W=1 in drivers/iommu/
#              and drivers/vfio/)
#   iommufd    iommufd's selftests on base and series (after bisect)
#   matrix     the Kconfig matrix
#   sanitizer  the in-VM suite on the sanitizer kernel, then kmemleak
#              (only when asked for: 'make sanitizer'; see the README's
#              time budget)
# and aggregate every TAP file. Ends with one line
# "N passed, N failed, N skipped" and exits non-zero on any failure, skip,
# crash, kernel report or missing result.
#
# usage: scripts/check.sh [STEP...]
# env: NOIOMMU_CHECK_TIMEOUT (guest test run, default 900 s),
#      NOIOMMU_SELFTEST_TIMEOUT (runner self-test boot, default 180 s),
#      NOIOMMU_DEBUG_TIMEOUT (sanitizer run, default 2400 s), VM_VERBOSE=1
#      (show the console; scripts/vm-run.sh)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

CHECK_TIMEOUT=${NOIOMMU_CHECK_TIMEOUT:-900}
SELFTEST_TIMEOUT=${NOIOMMU_SELFTEST_TIMEOUT:-180}
RESULTS=$BUILD/check
GUEST_OUT=$BUILD/vm/check
GUEST_LOG=$BUILD/vm/check.log
# vfio_pci_driver_test maps a 1 GiB region, which a no-IOMMU device gets
# in 2M hugepages; vfio_dma_mapping_test maps a 1G hugepage.
GUEST_MEM=(--mem 4096 --hugepages 600)
GUEST_APPEND="hugepagesz=1G hugepages=1"
# The IOMMU-gone scenario: virtio-iommu does not isolate MSIs, so iommufd
# binds a device behind it only with allow_unsafe_interrupts.
IOMMU_GONE_OUT=$BUILD/vm/iommu-gone
IOMMU_GONE_APPEND="iommufd.allow_unsafe_interrupts=1"
DEBUG_TIMEOUT=${NOIOMMU_DEBUG_TIMEOUT:-2400}
DEBUG_OUT=$BUILD/vm/debug
DEBUG_LOG=$BUILD/vm/debug.log
# The sanitizer kernel is about 5 times slower: the harness's per-test
# timeouts of the guest programs (tests/guest/noiommu_utils.h) scale by it
DEBUG_TIMEOUT_SCALE=5
# generic_pt's KUnit cases that run on UML: the base's suite has 210 once
# the skips it makes by design are left out; the series adds test_phys_contig
# for each of the 12 format configurations.
KUNIT_MIN_CASES=222

PASSED=0
FAILED=0
SKIPPED=0

STEPS="static guest iommu-gone modules runner kunit bisect iommufd matrix sanitizer"
# What 'make check' (and so CI) runs: a cold run stays within 75 minutes
# (the README's time budget)
DEFAULT_STEPS="static guest modules runner kunit bisect iommufd matrix"

usage() {
	echo "usage: $0 [STEP...], STEP one of: $STEPS (guest:NAME,... for some programs)" >&2
	exit 2
}

step() {
	STEP_START=$SECONDS
	log "$*"
}

step_done() {
	log "  ... $((SECONDS - STEP_START))s"
}

fail() {
	echo "not ok - $*"
	FAILED=$((FAILED + 1))
}

build_tests() {
	step "building tests (tests/Makefile)"
	mkdir -p "$RESULTS"
	# dpdk-dev has dpdk-testpmd, the legacy-path client
	need_pkgs gcc make qemu-system-x86 busybox-static uuid-dev dpdk-dev \
		librte-net-e1000-23
	make -C "$TOP/tests" >"$RESULTS/build.log" 2>&1 ||
		die "building tests failed: $(grep -m1 -E 'error|Error' "$RESULTS/build.log" || tail -n1 "$RESULTS/build.log") (see $RESULTS/build.log)"
	step_done
}

# tap_counts FILE: print "plan results ok notok skip exit bailout".
tap_counts() {
	awk '
	/^1\.\.[0-9]+/ { plan = substr($1, 4) + 0 }
	/^(not )?ok( |$)/ {
		results++
		if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) skip++
		else if ($1 == "ok") ok++
		else notok++
	}
	/^Bail out!/ { bail = 1 }
	/^# exit status [0-9]+$/ { status = $4 }
	END { printf "%d %d %d %d %d %d %d\n", plan, results, ok, notok, skip, status, bail }
	' "$1"
}

# judge_tap NAME FILE [EXPECTED]: add a program's results to the totals.
# Without EXPECTED, the count is the program's own plan ("1..N": the
# kselftest harness prints it before the first test), so a program that
# dies before printing all its results still fails, one failure per
# missing result; one that prints no plan fails too.
judge_tap() {
	local name=$1 file=$2 expected=${3:-} plan results ok notok skip status bail
	if [ ! -f "$file" ]; then
		fail "$name: no TAP output ($file missing: crashed or never ran)"
		FAILED=$((FAILED + (${expected:-0} > 1 ? expected - 1 : 0)))
		return
	fi
	read -r plan results ok notok skip status bail < <(tap_counts "$file")
	# Skipped results are listed as well: they fail the run too.
	grep -E '^(not )?ok' "$file" | grep -E '^not ok|#[[:space:]]*[Ss][Kk][Ii][Pp]' |
		awk -v name="$name" '{ print name ": " $0 }' || true
	PASSED=$((PASSED + ok))
	FAILED=$((FAILED + notok))
	SKIPPED=$((SKIPPED + skip))
	if [ -z "$expected" ]; then
		if ! grep -qE '^1\.\.[0-9]+' "$file"; then
			fail "$name: no TAP plan (1..N), $results results: it died before its first test or prints no plan (see $file)"
			return
		fi
		expected=$plan
		if [ "$plan" -eq 0 ]; then
			fail "$name: its plan is 1..0: no test ran (see $file)"
			return
		fi
	fi
	# Missing results count as failures, one each; otherwise one more
	# failure for a wrong count, a bail-out or a bad exit status.
	[ "$bail" -eq 0 ] || echo "# $name: $(grep -m1 '^Bail out!' "$file")"
	if [ "$results" -lt "$expected" ]; then
		fail "$name: $results results, expected $expected (plan $plan)"
		FAILED=$((FAILED + expected - results - 1))
	elif [ "$results" -ne "$expected" ] || [ "$plan" -ne "$expected" ]; then
		fail "$name: $results results and plan $plan, expected $expected"
	elif [ "$bail" -eq 1 ]; then
		fail "$name: bailed out"
	elif [ "$status" -ne 0 ] && [ "$notok" -eq 0 ]; then
		fail "$name: exited $status although every result was ok"
	fi
	echo "# $name: $ok ok, $notok not ok, $skip skipped of $expected"
}

# acpi_text_range KBUILD: "START END" (hex) of the text of drivers/acpi in
# the kernel built in KBUILD, the longest run of consecutive System.map
# text symbols that drivers/acpi defines (names alone can collide).
acpi_text_range() {
	local kb=$1 syms
	syms=$(nm --defined-only "$kb/drivers/acpi/built-in.a") ||
		die "cannot list the symbols of $kb/drivers/acpi/built-in.a"
	awk 'NR == FNR { if ($2 ~ /^[Tt]$/) acpi[$3] = 1; next }
	     $2 !~ /^[Tt]$/ { next }
	     $3 in acpi { if (!n++) s = $1; next }
	     { if (n > best) { best = n; bs = s; be = $1 } n = 0 }
	     END { if (!best) exit 1; print "0x" bs, "0x" be }' \
		<(echo "$syms") "$kb/System.map" ||
		die "no drivers/acpi text found in $kb/System.map"
}

# run_guest_tests [NAME,...]: the in-VM suite, or only these programs.
run_guest_tests() {
	step "booting the VM for tests/guest/run-tests.sh"
	local rc=0 msg name reject only=()
	[ -z "${1:-}" ] || only=(--only "$1")
	reject=$(acpi_text_range "$BUILD/kbuild/vm")
	msg=$("$TOP/scripts/vm-run.sh" --timeout "$CHECK_TIMEOUT" --log "$GUEST_LOG" \
		--out "$GUEST_OUT" "${GUEST_MEM[@]}" --append "$GUEST_APPEND" \
		-- "FAULT_REJECT='$reject' tests/guest/run-tests.sh ${only[*]}" 2>&1) || rc=$?
	step_done
	[ "$rc" -eq 0 ] || fail "guest run: $(tail -n1 <<<"$msg")"
	while read -r name; do
		judge_tap "$name" "$GUEST_OUT/tap/$name.tap"
		[ "$name" != noiommu_errno ] || errno_vs_mainline
	done < <("$TOP/tests/guest/run-tests.sh" --list "${only[@]}")
}

# The errnos of the series (noiommu_errno's "errno:" lines) against those
# of mainline 7.3 (tests/guest/noiommu_errno.mainline-7.3, measured by
# 'make errno-mainline'): they may differ only as documented in
# tests/guest/noiommu_errno.differences. One result per request.
errno_vs_mainline() {
	local out=$RESULTS/errno-vs-mainline.tap err=$RESULTS/errno-vs-mainline.err
	local tap=$GUEST_OUT/tap/noiommu_errno.tap
	local ref=$TOP/tests/guest/noiommu_errno.mainline-7.3
	if [ ! -f "$tap" ]; then
		fail "errno-vs-mainline: no noiommu_errno run to compare ($tap missing)"
		return
	fi
	if ! "$TOP/scripts/errno-compare.sh" "$tap" >"$out" 2>"$err" && [ -s "$err" ]; then
		fail "errno-vs-mainline: $(head -n1 "$err")"
		return
	fi
	judge_tap errno-vs-mainline "$out" "$(grep -c '^errno: ' "$ref")"
}

# The IOMMU-gone scenario (noiommu_iommu_gone) in a boot of its own: it
# unbinds the virtio-iommu's driver, which cannot be undone in that boot.
# usage: run_iommu_gone_tests [KERNEL PREFIX]: the VM kernel by default;
# the sanitizer step passes its kernel and "debug/", and the programs get
# the sanitizer run's 900 s each.
run_iommu_gone_tests() {
	local kernel=${1:-$BUILD/kbuild/vm/arch/x86/boot/bzImage} prefix=${2:-}
	local out=$IOMMU_GONE_OUT${prefix:+-debug} rc=0 msg name
	local cmd="tests/guest/run-tests.sh --suite iommu-gone"
	[ -z "$prefix" ] || cmd="NOIOMMU_TEST_TIMEOUT=900 NOIOMMU_TIMEOUT_SCALE=$DEBUG_TIMEOUT_SCALE $cmd"
	step "booting ${prefix:+the sanitizer kernel }with a virtio-iommu for run-tests.sh --suite iommu-gone"
	msg=$("$TOP/scripts/vm-run.sh" --kernel "$kernel" --timeout "$CHECK_TIMEOUT" \
		--log "$out.log" --out "$out" --iommu virtio \
		--append "$IOMMU_GONE_APPEND" \
		-- "$cmd" 2>&1) || rc=$?
	step_done
	[ "$rc" -eq 0 ] || fail "${prefix}iommu-gone guest run: $(tail -n1 <<<"$msg")"
	while read -r name; do
		judge_tap "$prefix$name" "$out/tap/$name.tap"
	done < <("$TOP/tests/guest/run-tests.sh" --list --suite iommu-gone)
}

# The whole in-VM suite again on the sanitizer kernel (KASAN, kmemleak,
# lockdep, UBSAN, DEBUG_LIST, fault injection), ending with a kmemleak
# scan. Its results count under the prefix "debug/". A program may take
# up to 15 minutes there: noiommu_fail_nth's sweeps take four.
run_debug_tests() {
	local rc=0 msg name reject kernel=$BUILD/kbuild/debug/arch/x86/boot/bzImage
	step "building the sanitizer kernel (kconfig/debug.config)"
	if ! msg=$("$TOP/scripts/build-kernel.sh" debug "$TOP/kconfig/vm.config" \
		"$TOP/kconfig/debug.config" 2>&1); then
		fail "sanitizer kernel: $(tail -n1 <<<"$msg")"
		return
	fi
	step_done
	step "booting the sanitizer kernel for tests/guest/run-tests.sh --kmemleak"
	reject=$(acpi_text_range "$BUILD/kbuild/debug")
	msg=$("$TOP/scripts/vm-run.sh" --kernel "$kernel" \
		--timeout "$DEBUG_TIMEOUT" --log "$DEBUG_LOG" --out "$DEBUG_OUT" \
		"${GUEST_MEM[@]}" --append "$GUEST_APPEND" \
		-- "FAULT_REJECT='$reject' NOIOMMU_TEST_TIMEOUT=900 NOIOMMU_TIMEOUT_SCALE=$DEBUG_TIMEOUT_SCALE tests/guest/run-tests.sh --kmemleak" 2>&1) || rc=$?
	step_done
	[ "$rc" -eq 0 ] || fail "sanitizer kernel run: $(tail -n1 <<<"$msg")"
	while read -r name; do
		judge_tap "debug/$name" "$DEBUG_OUT/tap/$name.tap"
	done < <("$TOP/tests/guest/run-tests.sh" --list --kmemleak)
	run_iommu_gone_tests "$kernel" debug/
	run_debug_iommufd "$kernel"
}

# iommufd's own no-IOMMU selftests (its mock device without an IOMMU,
# fail_nth sweeps among them) on the sanitizer kernel KERNEL, then a
# kmemleak scan: their error paths checked by KASAN, lockdep and kmemleak.
run_debug_iommufd() {
	local out=$BUILD/vm/debug-iommufd rc=0 msg name plan
	step "booting the sanitizer kernel for iommufd's no-IOMMU selftests"
	msg=$("$TOP/scripts/iommufd-selftests.sh" --kmemleak "$1" "$out" \
		"$DEBUG_TIMEOUT" -f iommufd_noiommu -f iommufd_noiommu_mixed \
		-f noiommu_fail_nth -f noiommu_hugepage_fail_nth 2>&1) || rc=$?
	step_done
	[ "$rc" -eq 0 ] || fail "sanitizer kernel, iommufd selftests: $(tail -n1 <<<"$msg")"
	for name in iommufd iommufd_fail_nth kmemleak; do
		# The harness's own plan; a filter that matched nothing (1..0)
		# still expects a result
		plan=$(sed -n 's/^1\.\.//p' "$out/$name.tap" 2>/dev/null || true)
		[ "${plan:-0}" -gt 0 ] || plan=1
		judge_tap "debug/$name" "$out/$name.tap" "$plan"
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
		echo "ok - runner self-test: guest WARN fails the run: $msg"
		PASSED=$((PASSED + 1))
	else
		fail "runner self-test: guest WARN did not fail the run as expected (exit $rc): $(tail -n1 <<<"$msg")"
	fi
}

# Number of patches in the series.
series_len() {
	grep -cv '^#' "$TOP/patches/series"
}

# checkpatch --strict on every patch, kernel-doc on the UAPI header.
static_checks() {
	step "static checks: checkpatch --strict, kernel-doc"
	"$TOP/scripts/checkpatch.sh" >"$RESULTS/static.log" 2>&1 || true
	judge_tap static "$BUILD/results/static.tap" "$(($(series_len) + 2))"
	step_done
}

# generic_pt's KUnit tests on UML, with kunit.py.
kunit_tests() {
	local cases
	step "KUnit: generic_pt on UML (tools/testing/kunit/kunit.py)"
	"$TOP/scripts/kunit.sh" >"$RESULTS/kunit.log" 2>&1 || true
	# The count is the plan kunit.py found; it must not shrink below the
	# cases of the base's suite plus test_phys_contig.
	cases=$(sed -n 's/^1\.\.//p' "$BUILD/results/kunit.tap" 2>/dev/null || true)
	if [ "${cases:-0}" -lt "$KUNIT_MIN_CASES" ]; then
		fail "kunit: ${cases:-no} test cases, expected at least $KUNIT_MIN_CASES (see $RESULTS/kunit.log)"
		return
	fi
	judge_tap kunit "$BUILD/results/kunit.tap" "$cases"
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
# core, held to its own plan, in each of the three rounds.
modules_run() {
	local rc=0 msg name count file out=$BUILD/vm/modules
	step "modules: built as modules, modprobe, the core of the suite, rmmod, three times"
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
	step "no regression: iommufd selftests on the base and on the series"
	local planned
	"$TOP/scripts/iommufd-regression.sh" >"$RESULTS/iommufd.log" 2>&1 || true
	# One result per test the series adds, which the script counts from
	# the harness's own output, after 7 of its own
	planned=$(sed -n 's/^1\.\.//p' "$BUILD/results/iommufd.tap" 2>/dev/null || true)
	judge_tap iommufd-regression "$BUILD/results/iommufd.tap" "${planned:-7}"
	step_done
}

# Every prefix of the series builds (W=1 in drivers/iommu/ and
# drivers/vfio/) and adds no warning.
bisect_check() {
	step "bisect check: every prefix of the series (W=1 in drivers/iommu/, drivers/vfio/)"
	"$TOP/scripts/bisect-check.sh" >"$RESULTS/bisect.log" 2>&1 || true
	judge_tap bisect "$BUILD/results/bisect.tap" "$(($(series_len) + 1))"
	step_done
}

# run_step STEP: one of $STEPS, or guest:NAME,...
run_step() {
	case "$1" in
	static) static_checks ;;
	guest) run_guest_tests; run_iommu_gone_tests ;;
	iommu-gone) run_iommu_gone_tests ;;
	guest:?*) run_guest_tests "${1#guest:}" ;;
	runner) selftest_check_log; selftest_warn ;;
	kunit) kunit_tests ;;
	bisect) bisect_check ;;
	iommufd) iommufd_regression ;;
	sanitizer) run_debug_tests ;;
	matrix) kconfig_matrix ;;
	modules) modules_run ;;
	*) usage ;;
	esac
}

main() {
	local start=$SECONDS steps=("$@") s vm_tests=0
	[ $# -gt 0 ] || read -ra steps <<<"$DEFAULT_STEPS"
	for s in "${steps[@]}"; do
		[[ " $STEPS " == *" ${s%%:*} "* ]] || usage
		case "$s" in guest*|iommu-gone|sanitizer|modules) vm_tests=1 ;; esac
	done
	rm -f "$BUILD"/results/*.tap
	[ "$vm_tests" = 0 ] || build_tests
	for s in "${steps[@]}"; do
		run_step "$s"
	done
	log "make check took $((SECONDS - start))s"
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	# Every test listed here can run here: a skip is a failure.
	[ "$FAILED" -eq 0 ] && [ "$SKIPPED" -eq 0 ]
}

main "$@"
