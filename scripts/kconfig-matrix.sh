#!/bin/bash
# The Kconfig matrix of SPEC section 2 item 6, plus IOMMU_SUPPORT=n and
# a 32-bit architecture that uses GENERIC_ATOMIC64. For each case:
# olddefconfig prints no "unmet direct dependencies" warning,
# VFIO_NOIOMMU and IOMMUFD_NOIOMMU come out as the matrix says,
# drivers/iommu/ and drivers/vfio/ build with W=1 with no warning the
# base kernel does not give for the same case, and the cases marked
# "link" build vmlinux. Then Debian's three amd64 configurations with
# what a distribution builder adds (scripts/kconfig-debian.sh, cases
# debian-FLAVOUR, two results each). Prints TAP and writes it to
# build/results/matrix.tap: two results a case.
#
# IOMMUFD and VFIO as modules (Kconfig outcome, W=1, vmlinux and modules
# linked) are checked on the kernel scripts/modules-run.sh builds to boot:
# a case here would build a second kernel of that size.
#
# The cases of one architecture share a build directory, in an order that
# changes few options from one to the next: kbuild then recompiles only
# what depends on them. A case's vmlinux is built without W=1 (its
# kernel-doc pass on every object would triple the time), its
# drivers/iommu/ and drivers/vfio/ with W=1 (scripts/build-kernel.sh
# SERIES_W1=1).
#
# usage: scripts/kconfig-matrix.sh [CASE...]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=debian-config.conf
. "$TOP/debian-config.conf"

TAP=$BUILD/results/matrix.tap
MATRIX=$BUILD/kbuild/matrix
RV32_CROSS=riscv64-linux-gnu-

# name|arch|expect VFIO_NOIOMMU|expect IOMMUFD_NOIOMMU|build|settings
# "container" is VFIO_CONTAINER or IOMMUFD_VFIO_CONTAINER; settings are
# the options that define the case, on top of kconfig/matrix.config
# (x86_64) or kconfig/rv32.config (riscv). Every case also asks for
# VFIO_NOIOMMU=y.
CASES="
case3-group-cdev|x86_64|y|y|link|VFIO_GROUP=y VFIO_CONTAINER=y VFIO_DEVICE_CDEV=y
case1-group|x86_64|y|n|dirs|VFIO_GROUP=y VFIO_CONTAINER=y VFIO_DEVICE_CDEV=n
case2-group-nocontainer|x86_64|n|n|dirs|VFIO_GROUP=y VFIO_CONTAINER=n IOMMUFD_VFIO_CONTAINER=n VFIO_DEVICE_CDEV=n
case4-group-nocontainer-cdev|x86_64|n|n|dirs|VFIO_GROUP=y VFIO_CONTAINER=n IOMMUFD_VFIO_CONTAINER=n VFIO_DEVICE_CDEV=y
case5-cdev|x86_64|y|y|link|VFIO_GROUP=n VFIO_DEVICE_CDEV=y
case6-no-vfio|x86_64|n|n|dirs|VFIO=n
no-iommu-support|x86_64|y|n|link|IOMMU_SUPPORT=n IOMMUFD=n VFIO_GROUP=y VFIO_CONTAINER=y
rv32-group-cdev|riscv|y|n|dirs|32BIT=y GENERIC_ATOMIC64=y VFIO_GROUP=y VFIO_CONTAINER=y VFIO_DEVICE_CDEV=y
rv32-cdev|riscv|n|n|dirs|32BIT=y GENERIC_ATOMIC64=y VFIO_GROUP=n VFIO_DEVICE_CDEV=y
"

# Write the fragment of settings "A=y B=n ..." to $1.
settings_fragment() {
	local out=$1 kv
	shift
	: >"$out"
	for kv in "$@"; do
		case "$kv" in
		*=n) echo "# CONFIG_${kv%=n} is not set" >>"$out" ;;
		*) echo "CONFIG_$kv" >>"$out" ;;
		esac
	done
}

# The value of CONFIG_$2 in .config $1: y, m or n.
config_value() {
	local v
	v=$(sed -n "s/^CONFIG_$2=//p" "$1")
	echo "${v:-n}"
}

# build_case NAME ARCH BUILD SETTINGS...: configure case NAME in the
# architecture's build directory and build what it needs: drivers/iommu/
# and drivers/vfio/ with W=1, whose log is left in $MATRIX/NAME.log, and
# vmlinux for BUILD=link.
build_case() {
	local name=$1 arch=$2 what=$3 base cross="" targets=()
	shift 3
	base=$TOP/kconfig/matrix.config
	if [ "$arch" = riscv ]; then
		base=$TOP/kconfig/rv32.config
		cross=$RV32_CROSS
	fi
	mkdir -p "$MATRIX"
	settings_fragment "$MATRIX/$name.config" "$@"
	echo "CONFIG_VFIO_NOIOMMU=y" >"$MATRIX/request.config"
	[ "$what" != link ] || targets+=(vmlinux)
	ARCH=$arch CROSS_COMPILE=$cross SERIES_W1=1 NOIOMMU_VERIFY=${NOIOMMU_VERIFY:-last} \
		"$TOP/scripts/build-kernel.sh" "matrix-$arch" "$base" \
		"$MATRIX/request.config" "$MATRIX/$name.config" \
		-- "${targets[@]}" || return 1
	cp "$BUILD/kbuild/matrix-$arch/build-w1.log" "$MATRIX/$name.log"
	cp "$BUILD/kbuild/matrix-$arch/.config" "$MATRIX/$name.dotconfig"
}

# Judge one case at the series' HEAD: Kconfig outcome and build.
# Prints one TAP line (without its number) and saves the warnings.
check_case() {
	local name=$1 arch=$2 want_vfio=$3 want_iommufd=$4 what=$5 msg
	shift 5
	if ! msg=$(build_case "$name" "$arch" "$what" "$@" 2>&1); then
		echo "not ok - $name: $(tail -n1 <<<"$msg")"
		return
	fi
	local vfio iommufd objs
	# "No warning" means something if the directories were compiled
	objs=$(grep -cE '^ +CC( \[M\])? +drivers/(iommu|vfio)/' "$MATRIX/$name.log" || true)
	if [ "$objs" -eq 0 ]; then
		echo "not ok - $name: nothing compiled in drivers/iommu/ and drivers/vfio/ (see $MATRIX/$name.log)"
		return
	fi
	build_warnings "$MATRIX/$name.log" >"$MATRIX/$name.head-warnings"
	vfio=$(config_value "$MATRIX/$name.dotconfig" VFIO_NOIOMMU)
	iommufd=$(config_value "$MATRIX/$name.dotconfig" IOMMUFD_NOIOMMU)
	if [ "$vfio" != "$want_vfio" ] || [ "$iommufd" != "$want_iommufd" ]; then
		echo "not ok - $name: VFIO_NOIOMMU=$vfio IOMMUFD_NOIOMMU=$iommufd, expected $want_vfio and $want_iommufd"
		return
	fi
	local built="drivers/iommu and drivers/vfio built with W=1 ($objs objects)"
	[ "$what" != link ] || built="vmlinux linked, $built"
	echo "ok - $name: VFIO_NOIOMMU=$vfio IOMMUFD_NOIOMMU=$iommufd, no unmet dependencies, $built"
}

# Compare a case's W=1 warnings with the base's for the same case. With
# none at the series there is nothing to compare; otherwise the case's
# directories are built at the base (the caller has checked it out). The
# base's Kconfig may give another outcome (cdev-only no-IOMMU is new), so
# nothing is verified there: only the warnings matter.
compare_case() {
	local name=$1 arch=$2 new
	shift 5
	[ -f "$MATRIX/$name.head-warnings" ] || return 0
	if [ ! -s "$MATRIX/$name.head-warnings" ]; then
		echo "ok - $name: no W=1 warning at all in drivers/iommu/ and drivers/vfio/"
		return
	fi
	if ! NOIOMMU_VERIFY=none build_case "$name-base" "$arch" dirs "$@" >/dev/null 2>&1; then
		echo "not ok - $name: the base does not build (see $BUILD/kbuild/matrix-$arch/build.log)"
		return
	fi
	build_warnings "$MATRIX/$name-base.log" >"$MATRIX/$name.base-warnings"
	new=$(comm -13 "$MATRIX/$name.base-warnings" \
		"$MATRIX/$name.head-warnings")
	if [ -z "$new" ]; then
		echo "ok - $name: no W=1 warning that the base does not give"
	else
		echo "not ok - $name: W=1 warnings the base does not give"
		tap_diag <<<"$new"
	fi
}

# True if a case built at the series gave W=1 warnings: only then is the
# base built.
need_base() {
	local f
	for f in "$MATRIX"/*.head-warnings; do
		[ ! -s "$f" ] || return 0
	done
	return 1
}

selected_cases() {
	local line
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		if [ $# -eq 0 ] || [[ " $* " == *" ${line%%|*} "* ]]; then
			echo "$line"
		fi
	done <<<"$CASES"
}

# Debian's configurations of the selected cases debian-FLAVOUR (all
# without CASE arguments), at the series' HEAD: kconfig-debian.sh's TAP
# lines, or one failure if it fails as a whole.
debian_cases() {
	local f want=() msg
	for f in $DEBCONFIG_FLAVOURS; do
		if [ $# -eq 0 ] || [[ " $* " == *" debian-$f "* ]]; then
			want+=("$f")
		fi
	done
	[ ${#want[@]} -gt 0 ] || return 0
	log "matrix: Debian's configurations: ${want[*]}"
	if ! msg=$("$TOP/scripts/kconfig-debian.sh" "${want[@]}"); then
		grep -E '^(not )?ok - ' <<<"$msg" || true
		echo "not ok - debian: scripts/kconfig-debian.sh failed"
		return
	fi
	echo "$msg"
}

restore_tree() {
	git -C "$TREE" checkout -q "$BRANCH"
}

# Number the TAP lines of stdin and put the plan first.
number_tap() {
	awk '/^(not )?ok - / { n++; sub(/ok - /, "ok " n " - ") } { line[NR] = $0 }
	END { print "1.." n; for (i = 1; i <= NR; i++) print line[i] }'
}

main() {
	local name arch vfio iommufd what settings cases=()
	[ -d "$TREE/.git" ] || die "no build/linux tree: run 'make tree' first"
	git -C "$TREE" diff --quiet HEAD ||
		die "build/linux has uncommitted changes: commit them first"
	BRANCH=$(git -C "$TREE" symbolic-ref --short HEAD) ||
		die "build/linux is not on a branch: run 'make tree'"
	need_pkgs gcc-riscv64-linux-gnu
	mapfile -t cases < <(selected_cases "$@")
	mkdir -p "$(dirname "$TAP")" "$MATRIX"
	rm -f "$MATRIX"/*.head-warnings
	{
		for line in "${cases[@]}"; do
			IFS='|' read -r name arch vfio iommufd what settings <<<"$line"
			log "matrix: $name"
			# shellcheck disable=SC2086 # settings are words
			check_case "$name" "$arch" "$vfio" "$iommufd" "$what" $settings
		done
		debian_cases "$@"
		if need_base; then
			trap restore_tree EXIT
			git -C "$TREE" checkout -q --detach base
		fi
		for line in "${cases[@]}"; do
			IFS='|' read -r name arch vfio iommufd what settings <<<"$line"
			log "matrix: $name, warnings compared with the base"
			# shellcheck disable=SC2086 # settings are words
			compare_case "$name" "$arch" "$vfio" "$iommufd" "$what" $settings
		done
	} | number_tap | tee "$TAP"
}

main "$@"
