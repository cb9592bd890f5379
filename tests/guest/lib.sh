# shellcheck shell=bash
# Helpers for the in-guest tests (sourced by tests/guest/run-tests.sh).
# Each prints one line to stderr and returns non-zero on failure.

EDU_VENDOR=1234
EDU_DEVICE=11e8

# find_pci_dev VENDOR DEVICE: print the BDF of the first PCI device with
# this vendor:device ID (hex, no 0x), e.g. find_pci_dev 1234 11e8.
find_pci_dev() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ -e "$d/vendor" ] || continue
		if [ "$(cat "$d/vendor")" = "0x$1" ] &&
			[ "$(cat "$d/device")" = "0x$2" ]; then
			basename "$d"
			return 0
		fi
	done
	echo "no PCI device $1:$2 in the guest (is QEMU's -device present?)" >&2
	return 1
}

# edu_bdf: print the BDF of QEMU's edu device.
edu_bdf() {
	find_pci_dev "$EDU_VENDOR" "$EDU_DEVICE"
}

# pci_driver BDF: print the name of the driver bound to BDF, or nothing.
pci_driver() {
	local link=/sys/bus/pci/devices/$1/driver
	[ -e "$link" ] || return 0
	basename "$(readlink -f "$link")"
}

# bind_vfio_pci BDF: unbind BDF from its driver and bind it to vfio-pci
# through driver_override; wait until the bind took effect.
bind_vfio_pci() {
	local bdf=$1 dev=/sys/bus/pci/devices/$1 drv i
	[ -d "$dev" ] || { echo "no PCI device $bdf" >&2; return 1; }
	drv=$(pci_driver "$bdf")
	[ "$drv" = vfio-pci ] && return 0
	[ -z "$drv" ] || echo "$bdf" >"$dev/driver/unbind"
	echo vfio-pci >"$dev/driver_override"
	echo "$bdf" >/sys/bus/pci/drivers_probe
	for i in $(seq 50); do
		[ "$(pci_driver "$bdf")" = vfio-pci ] && return 0
		[ "$i" = 50 ] || sleep 0.1
	done
	echo "$bdf did not bind to vfio-pci (see dmesg; is vfio.enable_unsafe_noiommu_mode=1 set?)" >&2
	return 1
}

# unbind_pci BDF: release BDF from its driver and clear driver_override.
unbind_pci() {
	local dev=/sys/bus/pci/devices/$1
	[ -z "$(pci_driver "$1")" ] || echo "$1" >"$dev/driver/unbind"
	echo >"$dev/driver_override"
}

# vfio_group_node BDF: print the legacy group node of BDF,
# /dev/vfio/noiommu-N in no-IOMMU mode (/dev/vfio/N otherwise).
vfio_group_node() {
	local n
	n=$(basename "$(readlink -f "/sys/bus/pci/devices/$1/iommu_group")")
	if [ -e "/dev/vfio/noiommu-$n" ]; then
		echo "/dev/vfio/noiommu-$n"
	elif [ -e "/dev/vfio/$n" ]; then
		echo "/dev/vfio/$n"
	else
		echo "no /dev/vfio node for group $n of $1" >&2
		return 1
	fi
}

# vfio_cdev BDF: print the VFIO device cdev of BDF (bound to vfio-pci),
# /dev/vfio/devices/vfioN, or noiommu-vfioN for a device without an IOMMU.
vfio_cdev() {
	local d
	for d in "/sys/bus/pci/devices/$1/vfio-dev/"*; do
		[ -e "$d" ] || break
		echo "/dev/vfio/devices/${d##*/}"
		return 0
	done
	echo "no VFIO cdev for $1 (not bound to vfio-pci?)" >&2
	return 1
}
