#!/bin/bash
# Static checks of the series, as TAP: quilt applies it, checkpatch.pl
# --strict on every patch, and kernel-doc on the UAPI header reporting
# nothing the base does not. Writes build/results/static.tap and prints it
# (BASE=7.3: the 7.3 series, build/results/static-7.3.tap).
#
# usage: [BASE=X] scripts/checkpatch.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

OUT=$BUILD/results/static$SFX.tap

# Print checkpatch's findings for one patch: every error, warning and
# check, as 'checkpatch.pl --strict' prints them (FILE_PATH_CHANGES too: a
# patch that adds a file names it in MAINTAINERS).
checkpatch_findings() {
	(cd "$TREE" && ./scripts/checkpatch.pl --strict --no-summary \
		--show-types --terse "$1" 2>&1) |
		grep -E ': (ERROR|WARNING|CHECK):' || true
}

# kernel-doc warnings for the UAPI header, with the file name and line
# numbers taken out so that base and series compare.
kerneldoc_warnings() {
	(cd "$TREE" && ./scripts/kernel-doc -none -Wall "$1" 2>&1) |
		sed -E 's/^(Warning|Error): [^ ]+:[0-9]+ /\1: /' | sort -u
}

# The series also applies with quilt, from its series file, to the base:
# to those of the base's files that the patches change (a whole tree took
# a minute to write out; the others a patch creates).
quilt_applies() {
	local tmp rc=0 files=()
	tmp=$(mktemp -d)
	mapfile -t files < <(sed -n 's|^--- a/||p' "${patches[@]/#/$PATCHES/}" | sort -u |
		xargs -r git -C "$TREE" ls-tree -r --name-only base --)
	[ ${#files[@]} -eq 0 ] || git -C "$TREE" archive base -- "${files[@]}" | tar -x -C "$tmp"
	(cd "$tmp" && QUILT_PATCHES="$PATCHES" quilt push -a -q) \
		>"$BUILD/results/quilt$SFX.log" 2>&1 || rc=$?
	rm -rf "$tmp"
	return "$rc"
}

# checkpatch.pl on every patch, as many at a time as there are CPUs
# (each is one single-threaded perl): findings of patch P in $1/P.
checkpatch_all() {
	local p
	for p in "${patches[@]}"; do
		while [ "$(builtin jobs -rp | wc -l)" -ge "$(jobs)" ]; do
			wait -n
		done
		checkpatch_findings "$PATCHES/$p" >"$1/$p" &
	done
	wait
}

main() {
	local patches=() p n=0 findings new hdr tmp
	[ -d "$TREE/.git" ] || die "no build/linux tree: run 'make tree' first"
	need_pkgs quilt
	mkdir -p "$(dirname "$OUT")"
	mapfile -t patches < <(grep -v "^#" "$PATCHES/series")
	tmp=$(mktemp -d)
	checkpatch_all "$tmp"
	{
		echo "1..$((${#patches[@]} + 2))"
		if quilt_applies; then
			echo "ok 1 - quilt push -a applies ${PATCHES#"$TOP"/}/series to the base"
		else
			echo "not ok 1 - quilt push -a fails (see build/results/quilt$SFX.log)"
		fi
		n=1
		for p in "${patches[@]}"; do
			n=$((n + 1))
			findings=$(cat "$tmp/$p")
			if [ -z "$findings" ]; then
				echo "ok $n - checkpatch --strict: $p"
			else
				echo "not ok $n - checkpatch --strict: $p"
				tap_diag <<<"$findings"
			fi
		done
		hdr=$(mktemp --suffix=.h)
		git -C "$TREE" show base:include/uapi/linux/iommufd.h >"$hdr"
		new=$(comm -13 <(kerneldoc_warnings "$hdr") \
			<(kerneldoc_warnings include/uapi/linux/iommufd.h))
		rm -f "$hdr"
		n=$((n + 1))
		if [ -z "$new" ]; then
			echo "ok $n - kernel-doc: include/uapi/linux/iommufd.h adds no warning"
		else
			echo "not ok $n - kernel-doc: include/uapi/linux/iommufd.h adds warnings"
			tap_diag <<<"$new"
		fi
	} | tee "$OUT"
	rm -rf "$tmp"
}

main "$@"
