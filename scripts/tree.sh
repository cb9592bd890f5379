#!/bin/bash
# Make build/linux a git tree of the base kernel with patches/ applied,
# one commit per patch. An existing tree is reset to the base and the
# series re-applied, unless it holds work that patches/ does not.
# With BASE=X (scripts/lib.sh): base-X.conf, build/linux-X and patches-X/,
# which may be absent (the tree is then the base alone).
#
# usage: [BASE=X] scripts/tree.sh [--force]
#   --force  drop work of the tree that patches/ does not hold (make tree
#            FORCE=1; not read from the environment, where a stray FORCE
#            would silently drop it)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

FORCE=0
[ "${1:-}" = --force ] && FORCE=1
# build/linux (or build/linux-X) and patches/ (or patches-X/), for messages
TREE_NAME=${TREE#"$TOP"/}
PATCHES_NAME=${PATCHES#"$TOP"/}

git_tree() {
	git -C "$TREE" -c user.name="$(git -C "$TOP" config user.name)" \
		-c user.email="$(git -C "$TOP" config user.email)" "$@"
}

new_tree() {
	local tarball ver
	read -r tarball ver < <("$TOP/scripts/fetch-kernel.sh")
	log "unpacking $BASE_PACKAGE $ver into $TREE"
	rm -rf "$TREE.tmp"
	mkdir -p "$TREE.tmp"
	tar -xf "$tarball" -C "$TREE.tmp" --strip-components=1
	git -C "$TREE.tmp" init -q -b base-tree
	mv "$TREE.tmp" "$TREE"
	# Debian's top-level .gitignore ignores everything ("/*"): commit the
	# tarball as it is, then hide that rule from the working copy only, so
	# new files of the series show up in 'git status'.
	git_tree add -A -f
	git_tree commit -q -m "Debian $BASE_PACKAGE $ver" \
		--date="2000-01-01T00:00:00Z"
	git_tree tag base
	# Commits made while editing the series carry the project's identity.
	git_tree config user.name "$(git -C "$TOP" config user.name)"
	git_tree config user.email "$(git -C "$TOP" config user.email)"
	git_tree update-index --skip-worktree .gitignore
	sed -i '/^# Debian packaging/,$d' "$TREE/.gitignore"
}

# A patch without the "n/m" of its subject, which depends on the series
# length.
unnumbered() {
	sed -E 's|^Subject: \[PATCH [0-9]+/[0-9]+\]|Subject: [PATCH]|' "$1"
}

# Refuse to drop commits or edits in build/linux that are not exported:
# every commit of the tree must be the patch at the same place in
# patches/series (a tree left by a failed 'make tree' holds a prefix).
# Sets UP_TO_DATE=1 when the tree already holds the whole series.
UP_TO_DATE=0
check_exported() {
	local tmp p n=0 series=()
	[ "$FORCE" = 1 ] && return 0
	git_tree diff --quiet HEAD ||
		die "$TREE_NAME has uncommitted changes: commit them and 'make export', or 'make tree FORCE=1' to drop them"
	tmp=$(mktemp -d)
	"$TOP/scripts/export.sh" "$tmp" >/dev/null 2>&1
	[ -f "$PATCHES/series" ] && mapfile -t series < <(grep -v '^#' "$PATCHES/series")
	while read -r p; do
		[ -n "$p" ] || continue
		if [ $n -ge ${#series[@]} ] ||
			! cmp -s <(unnumbered "$tmp/$p") \
				<(unnumbered "$PATCHES/${series[$n]}"); then
			rm -rf "$tmp"
			die "$TREE_NAME has commits that differ from $PATCHES_NAME/: 'make export' them, or 'make tree FORCE=1' to drop them"
		fi
		n=$((n + 1))
	done < <(grep -v '^#' "$tmp/series")
	rm -rf "$tmp"
	[ $n -eq ${#series[@]} ] && UP_TO_DATE=1
	return 0
}

apply_series() {
	local p
	[ -f "$PATCHES/series" ] || return 0
	while read -r p; do
		case "$p" in '' | '#'*) continue ;; esac
		[ -f "$PATCHES/$p" ] || die "$PATCHES_NAME/series names $p, which does not exist"
		if ! git_tree am -q --committer-date-is-author-date \
			"$PATCHES/$p" >"$BUILD/am.log" 2>&1; then
			git_tree am --abort >/dev/null 2>&1 || true
			die "patch $p does not apply to $BASE_PACKAGE (details: build/am.log)"
		fi
	done <"$PATCHES/series"
}

main() {
	mkdir -p "$BUILD"
	if [ -d "$TREE/.git" ] && git_tree rev-parse -q --verify base >/dev/null; then
		check_exported
		if [ "$UP_TO_DATE" = 1 ]; then
			# Re-applying would touch every patched file and make
			# the next kernel build recompile them.
			log "$TREE_NAME: already the $(git_tree rev-list --count base..HEAD) patches of $PATCHES_NAME/series"
			return 0
		fi
		git_tree am --abort >/dev/null 2>&1 || true
		git_tree checkout -q -f -B series base
	else
		rm -rf "$TREE"
		new_tree
		git_tree checkout -q -b series
	fi
	apply_series
	log "$TREE_NAME: $(git_tree rev-list --count base..HEAD) patches on $BASE_PACKAGE"
}

main "$@"
