#!/bin/bash
# No regression for real-IOMMU users: run iommufd's own selftests
# (tools/testing/selftests/iommu: iommufd and iommufd_fail_nth, on
# IOMMUFD_TEST's mock IOMMU) on the base kernel and on the base plus the
# series, both built from kconfig/vm.config, and compare their results
# test by test; the series kernel's console must show no report (oops,
# WARN, lockdep, ...). Prints TAP and writes it to
# build/results/iommufd.tap.
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
	# libcap-dev: sys/capability.h; iommufd_fail_nth links -lcap as well
	need_pkgs gcc make libcap-dev
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
	local prog n=0 diff series_msg series_rc=0
	[ -f "$base" ] || die "no $base: run scripts/bisect-check.sh first"
	[ -f "$series" ] || die "no $series: run 'make kernel' first"
	mkdir -p "$(dirname "$TAP")"
	build_selftests
	log "iommufd selftests on the base kernel"
	# A report on the base is not the series' doing: the comparison
	# below still shows whether the series changes anything.
	run_on base "$base" >/dev/null 2>&1 ||
		warn "base kernel run failed (see $BUILD/vm/iommufd-base.log)"
	log "iommufd selftests on the series kernel"
	series_msg=$(run_on series "$series" 2>&1) || series_rc=$?
	{
		echo "1..$((${#PROGS[@]} + 1))"
		n=1
		if [ "$series_rc" -eq 0 ]; then
			echo "ok 1 - series kernel: the selftests ran with no kernel report"
		else
			echo "not ok 1 - series kernel: $(tail -n1 <<<"$series_msg")"
		fi
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
