#!/bin/bash
# Regenerate patches/ from the commits of build/linux since the base.
# An unchanged tree gives byte-identical files. The hand-written cover
# letter (0000-cover-letter.patch) is left alone.
#
# usage: scripts/export.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

PATCHDIR=${PATCHDIR:-$TOP/patches}

main() {
	local n
	[ -d "$TREE/.git" ] || die "no build/linux tree: run 'make tree' first"
	git -C "$TREE" rev-parse -q --verify base >/dev/null ||
		die "build/linux has no 'base' tag: run 'make tree FORCE=1'"
	mkdir -p "$PATCHDIR"
	find "$PATCHDIR" -maxdepth 1 -name '0*.patch' ! -name '0000-cover-letter.patch' -delete
	n=$(git -C "$TREE" rev-list --count base..HEAD)
	if [ "$n" -gt 0 ]; then
		git -C "$TREE" format-patch -q --zero-commit --no-signature \
			--numbered --subject-prefix=PATCH -o "$PATCHDIR" base..HEAD
	fi
	(cd "$PATCHDIR" && find . -maxdepth 1 -name '0*.patch' \
		! -name '0000-cover-letter.patch' -printf '%f\n' | sort) \
		>"$PATCHDIR/series"
	log "exported $n patches to ${PATCHDIR#"$TOP"/}"
}

main "$@"
