#!/bin/bash
# The series as a distribution ships it, built as modules: build the
# modules kernel (kconfig/vm.config, then kconfig/modules.config:
# iommufd, vfio, vfio-pci-core and vfio-pci as modules, kmemleak) in
# build/kbuild/modules and check its build (build_results: TAP in
# build/results/modules-build.tap), install its modules under
# build/kbuild/modules/root (the guest's root is the host's, read-only),
# boot it and run tests/guest/modules.sh: modprobe, the core of the in-VM
# suite, rmmod in reverse order and a kmemleak scan, twice. The TAP
# files are left in build/vm/modules/tap/ (modules.tap) and
# build/vm/modules/roundN/tap/ (the core programs); scripts/check.sh
# modules judges them and modules-build.tap. Exits non-zero, with one
# line, if the kernel does not build or the guest run fails (timeout,
# kernel report on the console: a WARN of a load or unload, a kmemleak
# report).
#
# usage: scripts/modules-run.sh
# env: NOIOMMU_MODULES_TIMEOUT (the guest run, default 1800 s: a limit for a
#      hung guest, not a time the run must meet)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

NAME=modules
KOUT=$BUILD/kbuild/$NAME
MODROOT=$KOUT/root
OUT=$BUILD/vm/modules
# Not under $OUT, which vm-run.sh empties
BUILD_TAP=$BUILD/results/modules-build.tap
TIMEOUT=${NOIOMMU_MODULES_TIMEOUT:-1800}
# As the in-VM suite's boot (scripts/guest-suite.sh): vfio_pci_driver_test
# maps a 1 GiB region, which a no-IOMMU device gets in 2M hugepages.
GUEST_MEM=(--mem 4096 --hugepages 600)

# What the Kconfig matrix checked of IOMMUFD and VFIO as modules, its
# case "modules", which built a second kernel of this size: checked on
# this build instead, one TAP line each (after build-kernel.sh, which
# fails on an unmet dependency, succeeded).
build_results() {
	local vfio iommufd objs warnings mods
	vfio=$(sed -n 's/^CONFIG_VFIO_NOIOMMU=//p' "$KOUT/.config")
	iommufd=$(sed -n 's/^CONFIG_IOMMUFD_NOIOMMU=//p' "$KOUT/.config")
	echo "1..3"
	if [ "$vfio $iommufd" = "y y" ]; then
		echo "ok 1 - VFIO_NOIOMMU=y IOMMUFD_NOIOMMU=y, no unmet dependencies"
	else
		echo "not ok 1 - VFIO_NOIOMMU=${vfio:-n} IOMMUFD_NOIOMMU=${iommufd:-n}, expected y and y (see $KOUT/.config)"
	fi
	# "No warning" means something if the directories were compiled
	objs=$(grep -cE '^ +CC( \[M\])? +drivers/(iommu|vfio)/' "$KOUT/build-w1.log" || true)
	warnings=$(build_warnings "$KOUT/build-w1.log")
	if [ "$objs" -eq 0 ]; then
		echo "not ok 2 - nothing compiled in drivers/iommu/ and drivers/vfio/ (see $KOUT/build-w1.log)"
	elif [ -n "$warnings" ]; then
		echo "not ok 2 - W=1 warnings in drivers/iommu/ and drivers/vfio/ (see $KOUT/build-w1.log)"
		tap_diag <<<"$warnings"
	else
		echo "ok 2 - drivers/iommu/ and drivers/vfio/ compiled with W=1 ($objs objects), no warning"
	fi
	# modpost, which 'make modules' runs, fails the build on both
	mods=$(wc -l <"$KOUT/modules.order")
	if grep -qx drivers/iommu/iommufd/iommufd.o "$KOUT/modules.order" &&
		grep -qx drivers/vfio/vfio.o "$KOUT/modules.order"; then
		echo "ok 3 - vmlinux and $mods modules linked, modpost: no undefined symbol, no missing namespace import"
	else
		echo "not ok 3 - iommufd.o or vfio.o is not among the $mods modules (see $KOUT/modules.order): is IOMMUFD=m, VFIO=m?"
	fi
}

# Build the modules kernel, drivers/iommu/ and drivers/vfio/ with W=1 as
# the VM kernel (scripts/build-kernel.sh SERIES_W1=1), and write
# $BUILD_TAP; a failed build fails its three results.
build_kernel() {
	local msg rc=0
	msg=$(SERIES_W1=1 "$TOP/scripts/build-kernel.sh" "$NAME" \
		"$TOP/kconfig/vm.config" "$TOP/kconfig/modules.config" \
		-- bzImage modules 2>&1) || rc=$?
	[ -z "$msg" ] || echo "$msg" >&2
	mkdir -p "$(dirname "$BUILD_TAP")"
	if [ "$rc" -eq 0 ]; then
		build_results >"$BUILD_TAP"
		return
	fi
	msg=$(tail -n1 <<<"$msg")
	printf '%s\n' "1..3" "not ok 1 - the modules kernel does not build: ${msg#error: }" \
		"not ok 2 - drivers/iommu/ and drivers/vfio/ with W=1: the kernel does not build" \
		"not ok 3 - vmlinux and modules: the kernel does not build" >"$BUILD_TAP"
	die "${msg#error: }"
}

# What 'make modules_install INSTALL_MOD_PATH=$MODROOT' does for this
# kernel (no signing, no compression), after the build: kbuild does not
# order modules_install after modules in one make, and a second make
# would configure again. Then depmod, for modprobe's dependencies.
install_modules() {
	local rel dir m n=0
	rel=$(cat "$KOUT/include/config/kernel.release") ||
		die "no kernel release in $KOUT (see $KOUT/build.log)"
	dir=$MODROOT/lib/modules/$rel
	rm -rf "$MODROOT"
	mkdir -p "$dir/kernel"
	while read -r m; do
		m=${m%.o}.ko
		[ -f "$KOUT/$m" ] || die "no $m in $KOUT: modules not built? (see $KOUT/build.log)"
		mkdir -p "$dir/kernel/$(dirname "$m")"
		cp "$KOUT/$m" "$dir/kernel/$m"
		n=$((n + 1))
	done <"$KOUT/modules.order"
	sed 's|^|kernel/|; s|\.o$|.ko|' "$KOUT/modules.order" >"$dir/modules.order"
	cp "$KOUT/modules.builtin" "$KOUT/modules.builtin.modinfo" "$dir/"
	depmod -b "$MODROOT" "$rel" || die "depmod -b $MODROOT $rel failed"
	[ -f "$dir/kernel/drivers/iommu/iommufd/iommufd.ko" ] ||
		die "no iommufd.ko among the $n modules of $KOUT: is IOMMUFD=m? (kconfig/modules.config)"
	log "installed $n modules under $dir"
}

main() {
	local p
	[ $# -eq 0 ] || die "usage: $0 (no arguments)"
	[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "NOIOMMU_MODULES_TIMEOUT wants seconds, got '$TIMEOUT'"
	rm -f "$BUILD_TAP"
	for p in legacy_group noiommu_pinning; do
		[ -x "$BUILD/tests/$p" ] ||
			die "no $BUILD/tests/$p: build the test programs first (make -C tests, or scripts/check.sh modules)"
	done
	need_pkgs kmod
	build_kernel
	install_modules
	"$TOP/scripts/vm-run.sh" --kernel "$KOUT/arch/x86/boot/bzImage" \
		--timeout "$TIMEOUT" --log "$OUT.log" --out "$OUT" "${GUEST_MEM[@]}" \
		--append "hugepagesz=1G hugepages=1" \
		-- "tests/guest/modules.sh $MODROOT"
}

main "$@"
