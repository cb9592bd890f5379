#!/bin/bash
# No regression for real-IOMMU users: run iommufd's own selftests
# (tools/testing/selftests/iommu: iommufd and iommufd_fail_nth, on
# IOMMUFD_TEST's mock IOMMU) on the base kernel and on the base plus the
# series, both built from kconfig/vm.config, and compare their results
# test by test; the series kernel's console must show no report (oops,
# WARN, lockdep, ...). The tests the series adds (fixtures matching
# NEW_TESTS: the mock device without an IOMMU) are left out of the
# comparison, which the base fails, and must each pass on the series.
# Prints TAP and writes it to build/results/iommufd.tap. With BASE=7.3:
# mainline 7.3 and the 7.3 series, build/results/iommufd-7.3.tap.
#
# usage: [BASE=X] scripts/iommufd-regression.sh
# needs: build/kbuild/base-bzImage (scripts/bisect-check.sh) and the VM
#        kernel (make kernel); for BASE=X their -X counterparts
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

TAP=$BUILD/results/iommufd$SFX.tap
PROGS=(iommufd iommufd_fail_nth)
# The fixtures of the series' patch "iommufd/selftest: Test devices
# without an IOMMU"
NEW_TESTS='^(iommufd_noiommu|iommufd_noiommu_mixed|noiommu_fail_nth|noiommu_hugepage_fail_nth)[.]'
# Tests of the base that the 7.3 series fixes ("iommufd/selftest: Return
# the dma-buf's fd from IOMMU_TEST_OP_DMABUF_GET"): they fail on mainline
# 7.3, and are held to passing on the series like the new ones.
if [ "${BASE:-}" = 7.3 ]; then
	NEW_TESTS="$NEW_TESTS|^iommufd_ioas[.][a-z_]+[.]dmabuf_(simple|revoke)\$"
fi
RUN_TIMEOUT=${IOMMUFD_TIMEOUT:-2400}

# run_on NAME BZIMAGE: every program in the VM, TAP into build/vm/iommufd-NAME.
run_on() {
	"$TOP/scripts/iommufd-selftests.sh" "$2" "$BUILD/vm/iommufd$SFX-$1" "$RUN_TIMEOUT"
}

# "result test-name" for every test of a kselftest TAP file.
results() {
	sed -nE 's/^(ok|not ok) [0-9]+ ([^#]*[^ #])( # (SKIP|XFAIL).*)?$/\1\4 \2/p' "$1" |
		sed -E 's/^okSKIP/skip/; s/^not ok/fail/; s/^ok/pass/' | sort
}

# plan_ok FILE: the harness printed a result for each test of its plan.
plan_ok() {
	local plan
	plan=$(sed -n 's/^1\.\.//p' "$1" | head -n1)
	[ -n "$plan" ] && [ "$(grep -cE '^(not )?ok ' "$1")" -eq "$plan" ]
}

counts() {
	awk '{ c[$1]++ } END { printf "%d pass, %d fail, %d skip", c["pass"], c["fail"], c["skip"] }' "$1"
}

main() {
	local base=$BUILD/kbuild/base$SFX-bzImage series=$BUILD/kbuild/$KNAME/arch/x86/boot/bzImage
	local prog n=0 diff series_msg series_rc=0 name series_tap result test
	[ -f "$base" ] || die "no $base: run scripts/bisect-check.sh first"
	[ -f "$series" ] || die "no $series: run 'make kernel' first"
	mkdir -p "$(dirname "$TAP")"
	log "iommufd selftests on the base kernel"
	# A report on the base is not the series' doing: the comparison
	# below still shows whether the series changes anything.
	run_on base "$base" >/dev/null 2>&1 ||
		warn "base kernel run failed (see $BUILD/vm/iommufd$SFX-base.log)"
	log "iommufd selftests on the series kernel"
	series_msg=$(run_on series "$series" 2>&1) || series_rc=$?
	for prog in "${PROGS[@]}"; do
		for name in base series; do
			results "$BUILD/vm/iommufd$SFX-$name/$prog.tap" |
				awk -v re="$NEW_TESTS" '$NF !~ re' \
				>"$BUILD/vm/iommufd$SFX-$name/$prog.results"
		done
		results "$BUILD/vm/iommufd$SFX-series/$prog.tap" |
			awk -v re="$NEW_TESTS" '$NF ~ re' \
			>"$BUILD/vm/iommufd$SFX-series/$prog.new"
	done
	{
		echo "1..$((1 + 3 * ${#PROGS[@]} + $(cat "$BUILD/vm/iommufd$SFX-series"/*.new | wc -l)))"
		n=1
		if [ "$series_rc" -eq 0 ]; then
			echo "ok 1 - series kernel: the selftests ran with no kernel report"
		else
			echo "not ok 1 - series kernel: $(tail -n1 <<<"$series_msg")"
		fi
		for prog in "${PROGS[@]}"; do
			series_tap=$BUILD/vm/iommufd$SFX-series/$prog.tap
			n=$((n + 1))
			if plan_ok "$series_tap"; then
				echo "ok $n - $prog: every test of the harness's plan ran on the series"
			else
				echo "not ok $n - $prog: fewer results than the harness planned (see $series_tap)"
			fi
			n=$((n + 1))
			diff=$(diff "$BUILD/vm/iommufd$SFX-base/$prog.results" \
				"$BUILD/vm/iommufd$SFX-series/$prog.results" || true)
			if [ ! -s "$BUILD/vm/iommufd$SFX-series/$prog.results" ]; then
				echo "not ok $n - $prog: no results (see $series_tap)"
			elif [ -n "$diff" ]; then
				echo "not ok $n - $prog: results differ between base and series"
				tap_diag <<<"$diff"
			else
				echo "ok $n - $prog: same results on base and series ($(counts "$BUILD/vm/iommufd$SFX-series/$prog.results"))"
			fi
			n=$((n + 1))
			if [ -s "$BUILD/vm/iommufd$SFX-series/$prog.new" ]; then
				echo "ok $n - $prog: $(wc -l <"$BUILD/vm/iommufd$SFX-series/$prog.new") tests of the series ran"
			else
				echo "not ok $n - $prog: none of the series' tests ($NEW_TESTS) ran"
			fi
			while read -r result test; do
				n=$((n + 1))
				case "$result" in
				pass) echo "ok $n - $prog: $test" ;;
				*) echo "not ok $n - $prog: $test ($result)" ;;
				esac
			done <"$BUILD/vm/iommufd$SFX-series/$prog.new"
			# How many injection points each fail_nth sweep covered
			grep -E '^# [a-z_.]+: [0-9]+ fault injection points swept$' \
				"$series_tap" | sed 's/^# //' | tap_diag || true
		done
		} | tee "$TAP"
}

main "$@"
