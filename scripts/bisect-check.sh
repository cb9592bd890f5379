#!/bin/bash
# Build every prefix of the series (base, base+1, ... base+N) with W=1:
# bzImage, drivers/iommu/ and drivers/vfio/. Fail, naming the patch, if a
# prefix does not build or gives a warning the base does not. Prints TAP
# and writes it to build/results/bisect.tap. The base's bzImage is kept
# as build/kbuild/base-bzImage.
#
# usage: scripts/bisect-check.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

NAME=bisect
OUT=$BUILD/kbuild/$NAME
TAP=$BUILD/results/bisect.tap
BASE_IMAGE=$BUILD/kbuild/base-bzImage
TARGETS=(bzImage drivers/iommu/ drivers/vfio/)

# "file: warning: text [-Wflag]" without line and column, which patches
# shift.
warnings() {
	grep -E '(warning|error):' "$OUT/build.log" |
		sed -E 's/^([^:]+):[0-9]+(:[0-9]+)?:/\1:/' | sort -u || true
}

# Build commit $1; its warnings go to $2. Returns non-zero if it fails.
build_commit() {
	git -C "$TREE" checkout -q --detach "$1"
	# Recompile these directories every time so that their warnings are
	# printed again (ccache replays them); the rest is incremental.
	rm -rf "$OUT/drivers/iommu" "$OUT/drivers/vfio"
	W=1 "$TOP/scripts/build-kernel.sh" "$NAME" "$TOP/kconfig/vm.config" \
		-- "${TARGETS[@]}" >/dev/null 2>&1 || return 1
	warnings >"$2"
}

restore_tree() {
	git -C "$TREE" checkout -q "$BRANCH"
}

main() {
	local commits=() c n=0 subject new base_w
	[ -d "$TREE/.git" ] || die "no build/linux tree: run 'make tree' first"
	git -C "$TREE" diff --quiet HEAD ||
		die "build/linux has uncommitted changes: commit them first"
	BRANCH=$(git -C "$TREE" symbolic-ref --short HEAD) ||
		die "build/linux is not on a branch: run 'make tree'"
	mapfile -t commits < <(git -C "$TREE" rev-list --reverse base..HEAD)
	trap restore_tree EXIT
	mkdir -p "$(dirname "$TAP")"
	# A failed base build must not leave an older image to compare with
	rm -f "$BASE_IMAGE"
	base_w=$(mktemp)
	{
		echo "1..$((${#commits[@]} + 1))"
		log "bisect-check: base"
		if build_commit base "$base_w"; then
			# Kept for the iommufd selftest comparison
			cp "$OUT/arch/x86/boot/bzImage" "$BASE_IMAGE"
			echo "ok 1 - base builds with W=1 ($(wc -l <"$base_w") warnings)"
		else
			echo "not ok 1 - base does not build (see $OUT/build.log)"
		fi
		for c in "${commits[@]}"; do
			n=$((n + 1))
			subject=$(git -C "$TREE" log -1 --format=%s "$c")
			log "bisect-check: $n/${#commits[@]} $subject"
			if ! build_commit "$c" "$base_w.new"; then
				echo "not ok $((n + 1)) - patch $n does not build: $subject (see $OUT/build.log)"
				continue
			fi
			new=$(comm -13 "$base_w" "$base_w.new")
			if [ -z "$new" ]; then
				echo "ok $((n + 1)) - patch $n builds with no new W=1 warning: $subject"
			else
				echo "not ok $((n + 1)) - patch $n adds W=1 warnings: $subject"
				tap_diag <<<"$new"
			fi
		done
	} | tee "$TAP"
	rm -f "$base_w" "$base_w.new"
}

main "$@"
