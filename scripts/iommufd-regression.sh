#!/bin/bash
# No regression for real-IOMMU users: run iommufd's own selftests
# (tools/testing/selftests/iommu: iommufd and iommufd_fail_nth, on
# IOMMUFD_TEST's mock IOMMU) on the base kernel and on the base plus the
# series, both built from kconfig/vm.config, and compare their results
# test by test. Prints TAP and writes it to build/results/iommufd.tap.
#
# usage: scripts/iommufd-regression.sh
# needs: build/kbuild/base-bzImage (scripts/bisect-check.sh) and the VM
#        kernel (make kernel)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

TAP=$BUILD/results/iommufd.tap
SELFTEST_OUT=$BUILD/selftests/iommu
PROGS=(iommufd iommufd_fail_nth)
RUN_TIMEOUT=${IOMMUFD_TIMEOUT:-2400}

build_selftests() {
	mkdir -p "$SELFTEST_OUT"
	make -s -C "$TREE/tools/testing/selftests/iommu" OUTPUT="$SELFTEST_OUT" \
		KHDR_INCLUDES="-isystem $BUILD/kbuild/vm/usr/include" \
		>"$SELFTEST_OUT/build.log" 2>&1 ||
		die "building tools/testing/selftests/iommu failed (see $SELFTEST_OUT/build.log)"
}

# run_on NAME BZIMAGE: run every program in the VM, TAP into $OUT_DIR/NAME.
run_on() {
	local name=$1 kernel=$2 out=$BUILD/vm/iommufd-$1 prog cmd=""
	for prog in "${PROGS[@]}"; do
		cmd+="timeout -k 5 $RUN_TIMEOUT $SELFTEST_OUT/$prog >\$VM_OUT/$prog.tap 2>&1; "
	done
	"$TOP/scripts/vm-run.sh" --kernel "$kernel" --timeout $((RUN_TIMEOUT * 2)) \
		--log "$BUILD/vm/iommufd-$name.log" --out "$out" -- "$cmd true"
}

# "result test-name" for every test of a kselftest TAP file.
results() {
	sed -nE 's/^(ok|not ok) [0-9]+ ([^#]*[^ #])( # (SKIP|XFAIL).*)?$/\1\4 \2/p' "$1" |
		sed -E 's/^okSKIP/skip/; s/^not ok/fail/; s/^ok/pass/' | sort
}

counts() {
	awk '{ c[$1]++ } END { printf "%d pass, %d fail, %d skip", c["pass"], c["fail"], c["skip"] }' "$1"
}

main() {
	local base=$BUILD/kbuild/base-bzImage series=$BUILD/kbuild/vm/arch/x86/boot/bzImage
	local prog n=0 diff
	[ -f "$base" ] || die "no $base: run scripts/bisect-check.sh first"
	[ -f "$series" ] || die "no $series: run 'make kernel' first"
	mkdir -p "$(dirname "$TAP")"
	build_selftests
	log "iommufd selftests on the base kernel"
	run_on base "$base" >/dev/null 2>&1 || warn "base kernel run failed (see $BUILD/vm/iommufd-base.log)"
	log "iommufd selftests on the series kernel"
	run_on series "$series" >/dev/null 2>&1 || warn "series kernel run failed (see $BUILD/vm/iommufd-series.log)"
	{
		echo "1..${#PROGS[@]}"
		for prog in "${PROGS[@]}"; do
			n=$((n + 1))
			results "$BUILD/vm/iommufd-base/$prog.tap" >"$BUILD/vm/iommufd-base/$prog.results"
			results "$BUILD/vm/iommufd-series/$prog.tap" >"$BUILD/vm/iommufd-series/$prog.results"
			diff=$(diff "$BUILD/vm/iommufd-base/$prog.results" \
				"$BUILD/vm/iommufd-series/$prog.results" || true)
			if [ ! -s "$BUILD/vm/iommufd-series/$prog.results" ]; then
				echo "not ok $n - $prog: no results (see $BUILD/vm/iommufd-series/$prog.tap)"
			elif [ -n "$diff" ]; then
				echo "not ok $n - $prog: results differ between base and series"
				tap_diag <<<"$diff"
			else
				echo "ok $n - $prog: same results on base and series ($(counts "$BUILD/vm/iommufd-series/$prog.results"))"
			fi
		done
	} | tee "$TAP"
}

main "$@"
