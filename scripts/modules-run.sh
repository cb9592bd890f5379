#!/bin/bash
# The series as a distribution ships it, built as modules: build the
# modules kernel (kconfig/vm.config, then kconfig/modules.config:
# iommufd, vfio, vfio-pci-core and vfio-pci as modules, kmemleak) in
# build/kbuild/modules, install its modules under
# build/kbuild/modules/root (the guest's root is the host's, read-only),
# boot it and run tests/guest/modules.sh: modprobe, the core of the in-VM
# suite, rmmod in reverse order and a kmemleak scan, three times. The TAP
# files are left in build/vm/modules/tap/ (modules.tap) and
# build/vm/modules/roundN/tap/ (the core programs); scripts/check.sh
# modules judges them. Exits non-zero, with one line, if the kernel does
# not build or the guest run fails (timeout, kernel report on the
# console: a WARN of a load or unload, a kmemleak report).
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
TIMEOUT=${NOIOMMU_MODULES_TIMEOUT:-1800}
# As the in-VM suite's boot (scripts/check.sh): vfio_pci_driver_test maps
# a 1 GiB region, which a no-IOMMU device gets in 2M hugepages.
GUEST_MEM=(--mem 4096 --hugepages 600)

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
	for p in legacy_group noiommu_pinning; do
		[ -x "$BUILD/tests/$p" ] ||
			die "no $BUILD/tests/$p: build the test programs first (make -C tests, or scripts/check.sh modules)"
	done
	need_pkgs kmod
	"$TOP/scripts/build-kernel.sh" "$NAME" "$TOP/kconfig/vm.config" \
		"$TOP/kconfig/modules.config" -- bzImage modules >&2
	install_modules
	"$TOP/scripts/vm-run.sh" --kernel "$KOUT/arch/x86/boot/bzImage" \
		--timeout "$TIMEOUT" --log "$OUT.log" --out "$OUT" "${GUEST_MEM[@]}" \
		--append "hugepagesz=1G hugepages=1" \
		-- "tests/guest/modules.sh $MODROOT"
}

main "$@"
