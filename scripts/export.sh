#!/bin/bash
# Regenerate patches/ from the commits of build/linux since the base.
# An unchanged tree gives byte-identical files. The cover letter
# 0000-cover-letter.patch is made from patches/cover-letter.txt (first
# line: subject; the rest: body) plus git's shortlog and diffstat; it is
# not listed in patches/series, since git am and quilt reject a patch
# without a diff. With BASE=X (scripts/lib.sh): build/linux-X into
# patches-X/, whose cover letter is patches-X/cover-letter.txt.
#
# usage: [BASE=X] scripts/export.sh [DIR]
#   DIR  write the patches there instead (scripts/tree.sh compares them)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

PATCHDIR=${1:-$PATCHES}

# 0000-cover-letter.patch, dated like the last patch so that an unchanged
# tree exports the same bytes.
cover_letter() {
	local date cover=$PATCHDIR/0000-cover-letter.patch
	git -C "$TREE" -c core.abbrev=12 -c "branch.$(git -C "$TREE" symbolic-ref --short HEAD).description=$(cat "$PATCHES/cover-letter.txt")" \
		format-patch -q --zero-commit --no-signature --numbered \
		--cover-letter --cover-from-description=subject \
		-o "$PATCHDIR.cover" base..HEAD
	mv "$PATCHDIR.cover/0000-cover-letter.patch" "$cover"
	rm -rf "$PATCHDIR.cover"
	date=$(git -C "$TREE" log -1 --format=%aD HEAD)
	sed -i "0,/^Date: .*/s//Date: $date/" "$cover"
}

main() {
	local n
	[ -d "$TREE/.git" ] || die "no ${TREE#"$TOP"/} tree: run 'make tree' first"
	git -C "$TREE" rev-parse -q --verify base >/dev/null ||
		die "${TREE#"$TOP"/} has no 'base' tag: run 'make tree FORCE=1'"
	mkdir -p "$PATCHDIR"
	find "$PATCHDIR" -maxdepth 1 -name '0*.patch' -delete
	n=$(git -C "$TREE" rev-list --count base..HEAD)
	if [ "$n" -gt 0 ]; then
		git -C "$TREE" -c core.abbrev=12 format-patch -q --zero-commit --no-signature \
			--numbered --subject-prefix=PATCH -o "$PATCHDIR" base..HEAD
		[ -f "$PATCHES/cover-letter.txt" ] && cover_letter
	fi
	(cd "$PATCHDIR" && find . -maxdepth 1 -name '0*.patch' \
		! -name '0000-cover-letter.patch' -printf '%f\n' | sort) \
		>"$PATCHDIR/series"
	log "exported $n patches to ${PATCHDIR#"$TOP"/}"
}

main "$@"
