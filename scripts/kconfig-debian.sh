#!/bin/bash
# The distribution builder's cases of the Kconfig matrix: each of Debian's
# amd64 kernel configurations (linux-config-7.2, debian-config.conf) plus
# what a builder adds for the series (kconfig/debian-builder.config:
# IOMMUFD=m, VFIO_DEVICE_CDEV=y, VFIO_NOIOMMU=y), then olddefconfig. Two
# TAP results per flavour, printed without numbers (kconfig-matrix.sh,
# which runs this script, numbers them):
#   config  no "unmet direct dependencies", the builder's options took
#           effect and IOMMUFD_NOIOMMU=y; names what olddefconfig turned
#           on or changed because of them (against Debian's configuration
#           through olddefconfig alone, on the same toolchain)
#   build   every object and module of drivers/iommu/ and drivers/vfio/
#           compiled with W=1 and no warning, and modpost run on all those
#           modules, with no missing namespace import and no undefined
#           symbol between them
#
# Not the whole kernel: a Debian kernel takes hours here. modpost needs
# vmlinux.o for the symbols that modules import from the kernel; instead
# it gets a partial vmlinux.o, the built-in code of drivers/iommu/ and
# drivers/vfio/ linked with 'ld -r'. So:
# - exports of that built-in code (the generic_pt formats, which the
#   series' IOMMUFD_NOIOMMU selects as =y, iommu.c, iommufd_driver) and
#   of every module of the two directories are known to modpost with
#   their namespaces, and a module that uses one of them without its
#   MODULE_IMPORT_NS is a modpost error (iommufd without GENERIC_PT_IOMMU,
#   vfio without IOMMUFD, ...);
# - symbols of the rest of the kernel stay unresolved: KBUILD_MODPOST_WARN=1
#   turns modpost's "undefined!" errors into warnings, and only those:
#   a missing namespace import stays an error (modpost's check_exports);
# - an undefined symbol between the two directories' code cannot hide
#   among them: every symbol a module leaves undefined that some object
#   of the two directories defines must be exported by a module or by
#   their built-in code (Module.symvers), or the case fails.
# Namespaces exported by the rest of the kernel (DMA_BUF, ...) are not
# checked here; the modules VM run (scripts/modules-run.sh) loads
# iommufd, vfio and vfio-pci for real.
#
# The olddefconfig of Debian's configuration alone is only a reference;
# the build uses kconfig/debian-build.config on top (no debug
# information), which must not change any IOMMU or VFIO option.
#
# usage: scripts/kconfig-debian.sh [FLAVOUR...]   (default: all of
#        debian-config.conf's DEBCONFIG_FLAVOURS)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=debian-config.conf
. "$TOP/debian-config.conf"

ARCH=x86_64
DIRS=("${SERIES_DIRS[@]}")
BUILDER=$TOP/kconfig/debian-builder.config
BUILDONLY=$TOP/kconfig/debian-build.config
# The modules a distribution user loads for the feature: they must be
# among those built.
WANT_MODULES="drivers/iommu/iommufd/iommufd.ko drivers/vfio/vfio.ko drivers/vfio/pci/vfio-pci-core.ko drivers/vfio/pci/vfio-pci.ko"

kmake() {
	local cc=(CC=gcc)
	command -v ccache >/dev/null && cc=(CC="ccache gcc")
	export CCACHE_BASEDIR=$TOP
	PATH=/usr/bin:$PATH make -C "$TREE" O="$OUT" ARCH="$ARCH" "${cc[@]}" \
		-j"$(jobs)" "$@"
}

# The value of CONFIG_$2 in .config $1: y, m, n or the string.
config_value() {
	local v
	v=$(sed -n "s/^CONFIG_$2=//p" "$1")
	echo "${v:-n}"
}

# olddefconfig on $OUT/.config, whose log goes to $1; fails on any
# unmet dependency.
olddefconfig() {
	kmake olddefconfig >"$1" 2>&1 || die "make olddefconfig failed (see $1)"
	if grep -q "unmet direct dependencies" "$1"; then
		die "olddefconfig: $(grep -m1 "unmet direct dependencies" "$1") (see $1)"
	fi
}

# merge FRAGMENT: merge a fragment onto $OUT/.config.
merge() {
	(cd "$OUT" && KCONFIG_CONFIG=.config "$TREE/scripts/kconfig/merge_config.sh" \
		-m -O "$OUT" .config "$1") >>"$OUT/merge.log" 2>&1 ||
		die "merge_config.sh $1 failed (see $OUT/merge.log)"
}

# "OPT=value" lines of every option set to y, m or a value in .config $2
# that differs from .config $1 (newly set or changed), one line.
turned_on() {
	diff <(grep '^CONFIG_' "$1" | sort) <(grep '^CONFIG_' "$2" | sort) |
		sed -n 's/^> CONFIG_//p' | paste -sd' '
}

# The IOMMU and VFIO options of .config $1, for comparing two configs.
iommu_options() {
	grep -E '^(# )?CONFIG_[A-Z0-9_]*(IOMMU|VFIO|GENERIC_PT)' "$1" | sort
}

# configure FLAVOUR CONFIG: the builder's .config in $OUT, and the
# reference files debian.dotconfig and builder.dotconfig. Prints what
# olddefconfig turned on because of the builder's options.
configure() {
	local flavour=$1 cfg=$2 opt line on
	: >"$OUT/merge.log"
	cp "$cfg" "$OUT/.config"
	olddefconfig "$OUT/debian.log"
	cp "$OUT/.config" "$OUT/debian.dotconfig"
	cp "$cfg" "$OUT/.config"
	merge "$BUILDER"
	olddefconfig "$OUT/config.log"
	cp "$OUT/.config" "$OUT/builder.dotconfig"
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		opt=${line%%=*}
		grep -qxF "$line" "$OUT/.config" ||
			die "olddefconfig did not keep $line: ${opt#CONFIG_}=$(config_value "$OUT/.config" "${opt#CONFIG_}")"
	done <"$BUILDER"
	opt=$(config_value "$OUT/.config" IOMMUFD_NOIOMMU)
	[ "$opt" = y ] || die "IOMMUFD_NOIOMMU=$opt, expected y"
	on=$(turned_on "$OUT/debian.dotconfig" "$OUT/builder.dotconfig")
	merge "$BUILDONLY"
	olddefconfig "$OUT/build-config.log"
	if ! diff -q <(iommu_options "$OUT/builder.dotconfig") \
		<(iommu_options "$OUT/.config") >/dev/null; then
		die "${BUILDONLY#"$TOP"/} changes IOMMU or VFIO options: $(diff <(iommu_options "$OUT/builder.dotconfig") <(iommu_options "$OUT/.config") | grep '^[<>]' | paste -sd' ')"
	fi
	echo "$on"
}

# Symbols that modules of the two directories leave undefined although an
# object of the two directories defines them, and that no module and no
# built-in code of theirs exports (Module.symvers): one a line. Runs in
# $OUT, where the members of the thin built-in.a archives are.
unexported_between() {
	local objs=("${@/%/.o}") d
	for d in "${DIRS[@]}"; do
		[ ! -f "$d/built-in.a" ] || objs+=("$d/built-in.a")
	done
	# (the process substitutions below cannot fail the function)
	nm "${objs[@]}" >/dev/null || return 1
	comm -12 \
		<(nm -u "${@/%/.o}" | awk 'NF == 2 { print $2 }' | sort -u) \
		<(nm -g --defined-only "${objs[@]}" | awk 'NF == 3 { print $3 }' | sort -u) |
		comm -23 - <(cut -f2 Module.symvers | sort -u)
}

# build FLAVOUR: compile the two directories with W=1, then link their
# modules with modpost (see the header). Prints the build's summary.
build() {
	local d objs mods=() kos=() archives=() rc=0 absent="" m warnings bad
	# Remove the directories' objects so that their W=1 warnings are
	# printed again (ccache replays them).
	for d in "${DIRS[@]}"; do
		rm -rf "${OUT:?}/$d"
	done
	rm -f "$OUT/vmlinux.o" "$OUT/Module.symvers"
	kmake W=1 "${DIRS[@]/%//}" >"$OUT/build.log" 2>&1 || {
		grep -m3 -E "error:|Error [0-9]" "$OUT/build.log" >&2 || true
		die "W=1 build of ${DIRS[*]} failed (see $OUT/build.log)"
	}
	objs=$(grep -cE '^ +CC( \[M\])? +drivers/(iommu|vfio)/' "$OUT/build.log" || true)
	[ "$objs" -gt 0 ] || die "nothing compiled in ${DIRS[*]} (see $OUT/build.log)"
	for d in "${DIRS[@]}"; do
		[ -f "$OUT/$d/modules.order" ] || die "no $d/modules.order (see $OUT/build.log)"
		while read -r m; do
			mods+=("${m%.o}")
			kos+=("${m%.o}.ko")
		done <"$OUT/$d/modules.order"
	done
	[ ${#kos[@]} -gt 0 ] || die "no module in ${DIRS[*]}"
	for m in $WANT_MODULES; do
		[[ " ${kos[*]} " == *" $m "* ]] || absent+=" $m"
	done
	[ -z "$absent" ] || die "not built as modules:$absent"
	# The partial vmlinux.o: the directories' built-in code
	# (a directory with nothing built in has no built-in.a; the archives
	# are thin, their members named relative to $OUT)
	for d in "${DIRS[@]}"; do
		[ ! -f "$OUT/$d/built-in.a" ] || archives+=("$d/built-in.a")
	done
	[ ${#archives[@]} -gt 0 ] || die "no built-in code in ${DIRS[*]}: no built-in.a"
	(cd "$OUT" && ld -m elf_x86_64 -r -o vmlinux.o --whole-archive "${archives[@]}") ||
		die "cannot link the built-in code of ${DIRS[*]} into $OUT/vmlinux.o"
	kmake W=1 KBUILD_MODPOST_WARN=1 "${kos[@]}" >"$OUT/modpost.log" 2>&1 || rc=$?
	if grep -q "but does not import it" "$OUT/modpost.log"; then
		die "modpost: $(grep -m1 "but does not import it" "$OUT/modpost.log" | sed 's/^ERROR: modpost: //') (see $OUT/modpost.log)"
	fi
	[ "$rc" -eq 0 ] || die "modpost or the module link failed: $(grep -m1 -E 'ERROR|error' "$OUT/modpost.log" || tail -n1 "$OUT/modpost.log") (see $OUT/modpost.log)"
	for m in "${kos[@]}"; do
		[ -f "$OUT/$m" ] || die "modpost left no $m (see $OUT/modpost.log)"
	done
	bad=$(cd "$OUT" && unexported_between "${mods[@]}") ||
		die "cannot list the symbols of the modules of ${DIRS[*]}"
	[ -z "$bad" ] || die "undefined between the modules of ${DIRS[*]} (defined there, exported by none): $(paste -sd' ' <<<"$bad")"
	warnings=$( {
		build_warnings "$OUT/build.log"
		build_warnings "$OUT/modpost.log"
		# (the "undefined!" of the rest of the kernel, and modpost's count
		# of those it did not print, are expected)
		grep -E '^WARNING: modpost:' "$OUT/modpost.log" |
			grep -vE ' undefined!$|suppressed [0-9]+ unresolved symbol warnings' || true
	} )
	if [ -n "$warnings" ]; then
		echo "W=1 warnings in ${DIRS[*]}:" >&2
		tap_diag <<<"$warnings" >&2
		die "W=1 warnings in ${DIRS[*]} (see $OUT/build.log and $OUT/modpost.log)"
	fi
	echo "$objs objects compiled with W=1, no warning; modpost on ${#kos[@]} modules: no missing namespace import, no undefined symbol between them"
}

# check_flavour FLAVOUR CONFIG: the two TAP lines of a flavour.
check_flavour() {
	local flavour=$1 cfg=$2 name=debian-$1 msg start=$SECONDS
	OUT=$BUILD/kbuild/$name
	mkdir -p "$OUT"
	if ! msg=$(configure "$flavour" "$cfg" 2>&1); then
		echo "not ok - $name config: $(tail -n1 <<<"$msg")"
		echo "not ok - $name build: not configured"
		return
	fi
	echo "ok - $name config: IOMMUFD=m VFIO_DEVICE_CDEV=y VFIO_NOIOMMU=y, IOMMUFD_NOIOMMU=y, no unmet dependencies; olddefconfig turned on: $msg"
	if ! msg=$(build 2>&1); then
		echo "not ok - $name build: $(tail -n1 <<<"$msg")"
		grep '^#' <<<"$msg" || true
		return
	fi
	echo "ok - $name build: $msg ($((SECONDS - start))s)"
}

main() {
	local line flavour cfg dir want=("$@")
	[ -d "$TREE/.git" ] || die "no ${TREE#"$TOP"/} tree: run 'make tree' first"
	[ ${#want[@]} -gt 0 ] || read -ra want <<<"$DEBCONFIG_FLAVOURS"
	for flavour in "${want[@]}"; do
		[[ " $DEBCONFIG_FLAVOURS " == *" $flavour "* ]] ||
			die "no Debian flavour '$flavour' (flavours: $DEBCONFIG_FLAVOURS)"
	done
	need_pkgs flex bison bc libelf-dev libssl-dev ccache binutils
	dir=$("$TOP/scripts/fetch-debian-config.sh" | sed -n 1p) ||
		die "cannot fetch $DEBCONFIG_PACKAGE"
	for flavour in "${want[@]}"; do
		cfg=$dir/config.$flavour
		log "Debian flavour $flavour"
		check_flavour "$flavour" "$cfg"
	done
}

main "$@"
