#!/bin/bash
# Build a kernel from build/linux: 'make tinyconfig' (or another base
# target), the given Kconfig fragments merged on top, then a check that
# every option the fragments set took effect.
#
# usage: scripts/build-kernel.sh NAME FRAGMENT... [-- MAKE-TARGET...]
#   NAME         output directory build/kbuild/NAME
#   FRAGMENT     kconfig/*.config files, merged in order
#   MAKE-TARGET  what to build, bzImage without '--'; '--' alone builds
#                nothing but SERIES_W1's directories
# env: BASE (scripts/lib.sh: the tree build/linux-BASE, and the option
#      renames of kconfig/renames-BASE applied to the fragments),
#      ARCH (default x86_64), CROSS_COMPILE, NOIOMMU_KBASE (default tinyconfig),
#      SERIES_W1=1 (drivers/iommu/ and drivers/vfio/ compiled with W=1
#      first, see build_w1), NOIOMMU_VERIFY=last (check only the last fragment
#      took effect) or NOIOMMU_VERIFY=none
# The make output is in build/kbuild/NAME/build.log; with SERIES_W1=1 it
# starts with the W=1 build's, also in build-w1.log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	echo "usage: $0 NAME FRAGMENT... [-- MAKE-TARGET...]" >&2
	exit 2
}

kmake() {
	local cc=(CC="${CROSS_COMPILE:-}gcc")
	command -v ccache >/dev/null && cc=(CC="ccache ${CROSS_COMPILE:-}gcc")
	# Relative paths in ccache's keys let every clone share the cache
	export CCACHE_BASEDIR=$TOP
	# W=1 runs kernel-doc, a Python script, on every object: use the
	# system's python3 directly, not a version manager's shell shim.
	PATH=/usr/bin:$PATH make -C "$TREE" O="$OUT" ARCH="$ARCH" ${CROSS_COMPILE:+CROSS_COMPILE="$CROSS_COMPILE"} \
		"${cc[@]}" -j"$(jobs)" "$@"
}

# Every CONFIG_X=v and '# CONFIG_X is not set' of the fragments must be in
# the final .config, a later fragment overriding an earlier one; name each
# one that is not. With NOIOMMU_VERIFY=last only the last fragment is checked (the
# others are requests whose outcome the caller checks itself).
verify_config() {
	local frags=("${FRAGS[@]}") bad
	[ "${NOIOMMU_VERIFY:-all}" = none ] && return 0
	[ "${NOIOMMU_VERIFY:-all}" = last ] && frags=("${FRAGS[-1]}")
	# One pass (a grep per option took seconds, paid again by every
	# prefix of bisect-check and every case of the matrix).
	bad=$(awk -v cfg="$OUT/.config" '
		/^CONFIG_[A-Za-z0-9_]+=/ { o = $0; sub(/=.*/, "", o) }
		/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { o = $2 }
		!/^CONFIG_[A-Za-z0-9_]+=/ && !/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { next }
		FILENAME != cfg { want[o] = $0; next }
		{ have[o] = $0 }
		END {
			for (o in want)
				if (want[o] ~ / is not set$/ ? have[o] ~ /=/ : have[o] != want[o])
					print o
		}' "${frags[@]}" "$OUT/.config" | sort | tr '\n' ' ')
	[ -z "$bad" ] ||
		die "Kconfig dropped options the fragments ask for: ${bad% } (see $OUT/.config)"
}

# 'make tinyconfig' takes 14 s (several Kconfig passes) and its result
# depends only on the Kconfig files, scripts/ and kernel/configs of the
# tree, on ARCH and on the compiler: keep it for a clean tree, keyed by
# those files' blob ids, for callers that configure again and again (a
# build per patch of the series, per case of the Kconfig matrix).
base_config() {
	local kbase=${NOIOMMU_KBASE:-tinyconfig} cache="" cc key
	cc=$("${CROSS_COMPILE:-}gcc" -dumpfullversion 2>/dev/null || echo none)
	if [ -z "$(git -C "$TREE" status --porcelain)" ]; then
		key=$(git -C "$TREE" ls-files -s -- ':(glob)**/Kconfig*' scripts \
			kernel/configs 'arch/*/configs' | md5sum)
		key=${key%% *}
		cache=$BUILD/kbuild/.kbase/$ARCH-$kbase-${CROSS_COMPILE:-native}$cc-$key
	fi
	if [ -n "$cache" ] && [ -f "$cache" ]; then
		cp "$cache" "$OUT/.config"
		return 0
	fi
	kmake "$kbase" >"$1" 2>&1 || die "make $kbase failed (see $1)"
	if [ -n "$cache" ]; then
		mkdir -p "$(dirname "$cache")"
		cp "$OUT/.config" "$cache"
	fi
}

# A base whose Kconfig names options of the fragments differently lists
# them in kconfig/renames-BASE, one "OLD NEW" a line: the fragments are
# merged and verified with the new names (copies in $OUT/fragments/).
rename_options() {
	local renames=$TOP/kconfig/renames-${BASE:-} old new rest i out sed=()
	[ -n "${BASE:-}" ] && [ -f "$renames" ] || return 0
	while read -r old new rest; do
		case "$old" in '' | '#'*) continue ;; esac
		if ! [[ "$old$new" =~ ^[A-Z0-9_]+$ ]] || [ -z "$new" ] || [ -n "$rest" ]; then
			die "${renames#"$TOP"/}: want 'OLD NEW' option names, got '$old $new $rest'"
		fi
		sed+=(-e "s/^CONFIG_$old=/CONFIG_$new=/"
			-e "s/^# CONFIG_$old is not set\$/# CONFIG_$new is not set/")
	done <"$renames"
	[ ${#sed[@]} -gt 0 ] || return 0
	mkdir -p "$OUT/fragments"
	for i in "${!FRAGS[@]}"; do
		out=$OUT/fragments/$i-$(basename "${FRAGS[$i]}")
		sed "${sed[@]}" "${FRAGS[$i]}" >"$out"
		FRAGS[i]=$out
	done
}

configure() {
	local log=$OUT/config.log
	: >"$log"
	base_config "$log"
	(cd "$OUT" && KCONFIG_CONFIG=.config "$TREE/scripts/kconfig/merge_config.sh" \
		-m -O "$OUT" .config "${FRAGS[@]}") >>"$log" 2>&1 ||
		die "merge_config.sh failed (see $log)"
	kmake olddefconfig >>"$log" 2>&1 || die "make olddefconfig failed (see $log)"
	if grep -q "unmet direct dependencies" "$log"; then
		grep -m1 "unmet direct dependencies" "$log" >&2
		die "Kconfig warns about unmet direct dependencies (see $log)"
	fi
	verify_config
}

build_failed() {
	grep -m5 -E "error:|Error [0-9]" "$OUT/build.log" >&2 || true
	die "$1 failed (see $OUT/build.log)"
}

# W=1 only where the series' C code is (SERIES_DIRS, scripts/lib.sh), so
# that every kernel built in one directory (make kernel, bisect-check)
# has the flags of a build without W=1 everywhere else and stays
# incremental: kbuild recompiles every object whose command line
# changed. The directories' objects are removed, so that their warnings
# are printed again (ccache replays them), and compiled with W=1 before
# the targets: those, built without W=1, recompile them (from ccache),
# and the image and modules are those of a build without W=1.
build_w1() {
	local d rc=0
	for d in "${SERIES_DIRS[@]}"; do
		rm -rf "${OUT:?}/$d"
	done
	log "building $NAME: ${SERIES_DIRS[*]/%//} with W=1"
	kmake W=1 "${SERIES_DIRS[@]/%//}" >"$OUT/build-w1.log" 2>&1 || rc=$?
	cp "$OUT/build-w1.log" "$OUT/build.log"
	[ "$rc" -eq 0 ] || build_failed "W=1 build of ${SERIES_DIRS[*]/%//} in $NAME"
}

main() {
	[ $# -ge 2 ] || usage
	NAME=$1
	shift
	FRAGS=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		[ -f "$1" ] || die "no such Kconfig fragment: $1"
		FRAGS+=("$(realpath "$1")")
		shift
	done
	TARGETS=(bzImage)
	if [ "${1:-}" = -- ]; then
		shift
		TARGETS=("$@")
	fi
	case "${SERIES_W1:-}" in
	"" | 0 | 1) ;;
	*) die "SERIES_W1 wants 1 or nothing, got '$SERIES_W1'" ;;
	esac
	ARCH=${ARCH:-x86_64}
	OUT=$BUILD/kbuild/$NAME
	[ -d "$TREE/.git" ] || die "no ${TREE#"$TOP"/} tree: run 'make tree' first"
	need_pkgs flex bison bc libelf-dev libssl-dev ccache cpio
	mkdir -p "$OUT"
	rename_options
	configure
	rm -f "$OUT/build-w1.log"
	: >"$OUT/build.log"
	[ "${SERIES_W1:-}" != 1 ] || build_w1
	[ ${#TARGETS[@]} -gt 0 ] || return 0
	log "building $NAME: ${TARGETS[*]}"
	kmake "${TARGETS[@]}" >>"$OUT/build.log" 2>&1 ||
		build_failed "kernel build $NAME"
}

main "$@"
