#!/bin/bash
# Run iommufd's own selftests (tools/testing/selftests/iommu of the tree:
# iommufd and iommufd_fail_nth, on IOMMUFD_TEST's mock devices) in the VM
# on one kernel, each program with the kselftest harness arguments given
# (e.g. -f FIXTURE to run only some fixtures), and keep each program's
# TAP in OUT/PROG.tap. Exits with vm-run.sh's status: non-zero for a
# kernel report or a guest that did not finish. A failing program, or
# one stopped after TIMEOUT, shows in its TAP (fewer results than its
# plan), which is the caller's to judge.
#
# usage: scripts/iommufd-selftests.sh [--kmemleak] KERNEL OUT TIMEOUT
#          [HARNESS_ARG...]
#   --kmemleak  end with a kmemleak scan, TAP in OUT/kmemleak.tap
#               (tests/guest/kmemleak.sh; the sanitizer kernel)
#   KERNEL   the bzImage to boot
#   OUT      a directory under build/ for the TAP files (and OUT.log)
#   TIMEOUT  seconds each program may take
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# BASE=7.3: built from build/linux-7.3 (scripts/lib.sh)
SELFTEST_OUT=$BUILD/selftests$SFX/iommu
PROGS=(iommufd iommufd_fail_nth)

KMEMLEAK=0
[ "${1:-}" != --kmemleak ] || { KMEMLEAK=1; shift; }
[ $# -ge 3 ] || die "usage: $0 [--kmemleak] KERNEL OUT TIMEOUT [HARNESS_ARG...]"
KERNEL=$1 OUT=$2 TIMEOUT=$3
shift 3
[ -f "$KERNEL" ] || die "no kernel $KERNEL"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "TIMEOUT wants seconds, got '$TIMEOUT'"

build_selftests() {
	# libcap-dev: sys/capability.h; iommufd_fail_nth links -lcap as well
	need_pkgs gcc make libcap-dev
	mkdir -p "$SELFTEST_OUT"
	make -s -C "$TREE/tools/testing/selftests/iommu" OUTPUT="$SELFTEST_OUT" \
		KHDR_INCLUDES="-isystem $BUILD/kbuild/$KNAME/usr/include" \
		>"$SELFTEST_OUT/build.log" 2>&1 ||
		die "building tools/testing/selftests/iommu failed (see $SELFTEST_OUT/build.log)"
}

main() {
	local prog cmd="" args=""
	build_selftests
	[ $# -eq 0 ] || args=$(printf ' %q' "$@")
	for prog in "${PROGS[@]}"; do
		cmd+="timeout -k 5 $TIMEOUT $SELFTEST_OUT/$prog$args >\$VM_OUT/$prog.tap 2>&1; "
	done
	[ "$KMEMLEAK" = 0 ] || cmd+="tests/guest/kmemleak.sh \$VM_OUT/kmemleak.tap; "
	"$TOP/scripts/vm-run.sh" --kernel "$KERNEL" \
		--timeout $((TIMEOUT * ${#PROGS[@]} + 120)) \
		--log "$OUT.log" --out "$OUT" -- "$cmd true"
}

main "$@"
