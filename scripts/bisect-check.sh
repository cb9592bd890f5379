#!/bin/bash
# Build every prefix of the series (base, base+1, ... base+N): the kernel
# (vmlinux, bzImage at the base; drivers/iommu/ and drivers/vfio/, where
# the series' C code is, with W=1) and the vfio selftests. Fail, naming
# the patch, if a prefix does not build or gives a warning the base does
# not. Prints TAP and writes it to build/results/bisect.tap. The base's
# bzImage is kept as build/kbuild/base-bzImage. With BASE=7.3
# (scripts/lib.sh), the 7.3 series in build/kbuild/vm-7.3:
# build/results/bisect-7.3.tap and build/kbuild/base-7.3-bzImage,
# mainline 7.3 as released.
#
# The kernel is built in the VM kernel's build directory (same
# configuration and flags: scripts/build-kernel.sh SERIES_W1=1, as 'make
# kernel'), so that going from the series to the base and
# from one patch to the next recompiles only what changed; it is left
# holding the series' kernel, as 'make kernel' leaves it. A patch that
# changes nothing the kernel build reads (only tools/, Documentation/ or
# MAINTAINERS) leaves the kernel of the prefix before it: that kernel is
# not built again. The vfio selftests (-Wall -Werror) are
# built at the base (where 7.2's do not build: reported, not failed) and
# wherever a patch changes them or the UAPI headers they include.
#
# With --base-only, only the base is built and kept (for the iommufd
# comparison, scripts/iommufd-regression.sh): build/results/base.tap
# (base-7.3.tap), one result.
#
# usage: [BASE=X] scripts/bisect-check.sh [--base-only]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

NAME=$KNAME
OUT=$BUILD/kbuild/$NAME
SELFTEST_OUT=$BUILD/kbuild/bisect-selftests$SFX
TAP=$BUILD/results/bisect$SFX.tap
BASE_IMAGE=$BUILD/kbuild/base$SFX-bzImage
# What the kernel build does not read
NOT_KERNEL=(':!Documentation' ':!tools' ':!MAINTAINERS')
SELFTEST_INPUTS=(tools/testing/selftests/vfio include/uapi)

# changes FROM TO PATHSPEC...: true if commits FROM..TO touch PATHSPEC.
changes() {
	local from=$1 to=$2
	shift 2
	[ -n "$(git -C "$TREE" diff --name-only "$from" "$to" -- "$@")" ]
}

# Build the checked-out kernel, target $2; its warnings go to $1.
# build-kernel.sh recompiles drivers/iommu/ and drivers/vfio/ every time,
# so that their W=1 warnings are printed again (ccache replays them); the
# rest is incremental.
build_kernel() {
	SERIES_W1=1 "$TOP/scripts/build-kernel.sh" "$NAME" \
		"$TOP/kconfig/vm.config" -- "$2" >/dev/null 2>&1 || return 1
	build_warnings "$OUT/build.log" >"$1"
}

# Build the checked-out vfio selftests against its UAPI headers.
build_selftests() {
	mkdir -p "$SELFTEST_OUT"
	{
		make -s -C "$TREE" O="$OUT" headers &&
			make -s -C "$TREE/tools/testing/selftests/vfio" \
				OUTPUT="$SELFTEST_OUT" KHDR_INCLUDES="-isystem $OUT/usr/include"
	} >"$SELFTEST_OUT/build.log" 2>&1
}

# Back to the branch, and leave the series' bzImage in $OUT again, as
# 'make kernel' would: the prefixes built vmlinux, and one may have
# failed (then drivers/iommu/ and drivers/vfio/ again with W=1, so that
# build.log shows the series' warnings).
restore_tree() {
	local w1=""
	git -C "$TREE" checkout -q "$BRANCH"
	[ ! -f "$WARN.failed" ] || w1=1
	SERIES_W1=$w1 "$TOP/scripts/build-kernel.sh" "$NAME" "$TOP/kconfig/vm.config" \
		>/dev/null 2>&1 || warn "the series' kernel does not build (see $OUT/build.log)"
	rm -f "$WARN" "$WARN.base" "$WARN.new" "$WARN.failed"
}

# check_prefix N COMMIT PREVIOUS: one TAP line for patch N (0: the base).
check_prefix() {
	local n=$1 c=$2 prev=$3 what subject notes new target prev_name="patch $(($1 - 1))"
	[ "$n" -gt 1 ] || prev_name="the base"
	if [ "$n" -eq 0 ]; then
		what="base"
	else
		subject=$(git -C "$TREE" log -1 --format=%s "$c")
		what="patch $n: $subject"
	fi
	log "bisect-check: $what"
	git -C "$TREE" checkout -q --detach "$c"
	if [ "$n" -eq 0 ] || changes "$prev" "$c" . "${NOT_KERNEL[@]}"; then
		# vmlinux is what a prefix must link; the compressed image only
		# adds seconds of xz to each (the base's is kept, as bzImage).
		target=vmlinux
		[ "$n" -gt 0 ] || target=bzImage
		if ! build_kernel "$WARN.new" "$target"; then
			echo "not ok $((n + 1)) - $what: the kernel does not build (see $OUT/build.log)"
			touch "$WARN.failed"
			return
		fi
		[ "$n" -gt 0 ] || cp "$WARN.new" "$WARN.base"
		new=$(comm -13 "$WARN.base" "$WARN.new")
		if [ -n "$new" ]; then
			echo "not ok $((n + 1)) - $what: warnings the base does not give"
			tap_diag <<<"$new"
			return
		fi
		notes="kernel built (W=1 in drivers/iommu, drivers/vfio), no warning the base does not give"
		[ "$n" -gt 0 ] || notes="kernel built (W=1 in drivers/iommu, drivers/vfio): $(wc -l <"$WARN.base") warnings"
	else
		notes="no kernel source changed, the kernel is $prev_name's"
	fi
	if [ "$n" -eq 0 ] || changes "$prev" "$c" "${SELFTEST_INPUTS[@]}"; then
		if build_selftests; then
			notes+="; vfio selftests built"
		elif [ "$n" -eq 0 ]; then
			# Not the series' doing (7.2's library calls an undefined
			# calloc_assert(), which the series defines); a patch that
			# changes them must leave them building.
			cp "$SELFTEST_OUT/build.log" "$SELFTEST_OUT/base-build.log"
			notes+="; the vfio selftests do not build at the base: $(grep -m1 'error:' "$SELFTEST_OUT/base-build.log" | sed 's/^.*error: //')"
		else
			echo "not ok $((n + 1)) - $what: the vfio selftests do not build (see $SELFTEST_OUT/build.log)"
			return
		fi
	fi
	echo "ok $((n + 1)) - $what: $notes"
}

main() {
	local commits=() n=0 prev=base c base_only=0
	case "${1:-}" in
	"") ;;
	--base-only) base_only=1 TAP=$BUILD/results/base$SFX.tap ;;
	*) die "usage: [BASE=X] scripts/bisect-check.sh [--base-only]" ;;
	esac
	[ -d "$TREE/.git" ] || die "no build/linux tree: run 'make tree' first"
	git -C "$TREE" diff --quiet HEAD ||
		die "build/linux has uncommitted changes: commit them first"
	BRANCH=$(git -C "$TREE" symbolic-ref --short HEAD) ||
		die "build/linux is not on a branch: run 'make tree'"
	[ "$base_only" = 1 ] || mapfile -t commits < <(git -C "$TREE" rev-list --reverse base..HEAD)
	WARN=$(mktemp)
	trap restore_tree EXIT
	mkdir -p "$(dirname "$TAP")"
	# A failed base build must not leave an older image to compare with
	rm -f "$BASE_IMAGE"
	{
		echo "1..$((${#commits[@]} + 1))"
		check_prefix 0 base base
		# Kept for the iommufd selftest comparison
		[ ! -f "$WARN.base" ] || cp "$OUT/arch/x86/boot/bzImage" "$BASE_IMAGE"
		for c in "${commits[@]}"; do
			n=$((n + 1))
			if [ -f "$WARN.base" ]; then
				check_prefix "$n" "$c" "$prev"
			else
				echo "not ok $((n + 1)) - patch $n: not built, the base does not build"
			fi
			prev=$c
		done
	} | tee "$TAP"
}

main "$@"
