#!/bin/bash
# In-guest test of the series built as modules (kconfig/modules.config),
# run by scripts/modules-run.sh through scripts/vm-run.sh. Two rounds
# (the second shows that the modules unload clean enough to load and
# work again; a third repeated it) of:
#   - modprobe vfio enable_unsafe_noiommu_mode=1, then modprobe vfio-pci,
#     as a user loads them: modprobe brings in iommu_amdv1 (the generic_pt
#     format), iommufd, vfio, vfio-pci-core, vfio-pci (and what they ask
#     for, vfio_iommu_type1, irqbypass);
#   - the core of the in-VM suite, tests/guest/run-tests.sh --only CORE,
#     with its TAP files in $VM_OUT/roundN/tap/;
#   - every module the round loaded removed with rmmod, the last loaded
#     first; then none is left, nor /dev/iommu and /dev/vfio/vfio;
#   - a kmemleak scan: no unreferenced object.
# Its own results go to $VM_OUT/tap/modules.tap. Always exits 0: the
# host judges the TAP files.
#
# usage: tests/guest/modules.sh --list | MODROOT
#   MODROOT  where 'make modules_install INSTALL_MOD_PATH=MODROOT' put the
#            modules (the guest's root is the host's, read-only, without
#            them): modprobe -d MODROOT
#   --list   print the name of each TAP file and exit (host side), with
#            the count of results for modules.tap
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$TOP/tests/guest/lib.sh"

ROUNDS=2
# The core of the in-VM suite: the legacy group path, the series'
# selftest (GET_PA against /proc/self/pagemap among its cases), upstream's
# vfio_pci_driver_test (real DMA through the edu driver) and
# noiommu_pinning (DMA lands where GET_PA said)
CORE=legacy_group,vfio_iommufd_noiommu_test,vfio_pci_driver_test,noiommu_pinning
# What modprobe must have loaded: iommufd, and the generic_pt format of
# its no-IOMMU domain, VFIO, vfio-pci
WANT="iommu_amdv1 iommufd vfio vfio_pci_core vfio_pci"
# Results of modules.tap: one before the rounds, three per round
COUNT=$((1 + 3 * ROUNDS))

usage() {
	echo "usage: $0 --list | MODROOT" >&2
	exit 2
}

N=0
ok() {
	N=$((N + 1))
	echo "ok $N - $*"
}

not_ok() {
	N=$((N + 1))
	echo "not ok $N - $*"
}

# The names of the loaded modules, most recently loaded first.
loaded() {
	cut -d' ' -f1 /proc/modules
}

# Modules of WANT that are loaded, one line.
loaded_wanted() {
	local m out=""
	for m in $WANT; do
		grep -qx "$m" <<<"$(loaded)" && out+=" $m"
	done
	echo "${out# }"
}

# load ROUND: modprobe as a user; prints the names of the modules this
# round loaded, last loaded first, on the line "loaded: ...".
load() {
	local before after new="" m absent="" param out
	before=$(loaded)
	if ! out=$(modprobe -d "$MODROOT" vfio enable_unsafe_noiommu_mode=1 2>&1 &&
		modprobe -d "$MODROOT" vfio-pci 2>&1); then
		not_ok "round $1: modprobe vfio-pci failed: $(tail -n1 <<<"$out")"
		return 1
	fi
	after=$(loaded)
	# (no process substitution: the guest has no /dev/fd)
	for m in $after; do
		grep -qxF "$m" <<<"$before" || new+=" $m"
	done
	new=${new# }
	for m in $WANT; do
		[[ " $new " == *" $m "* ]] || absent+=" $m"
	done
	param=$(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode 2>/dev/null || echo missing)
	if [ -n "$absent" ]; then
		not_ok "round $1: modprobe did not load$absent (loaded: $new)"
		return 1
	fi
	if [ "$param" != Y ]; then
		not_ok "round $1: vfio's enable_unsafe_noiommu_mode is $param, not Y"
		return 1
	fi
	ok "round $1: modprobe loaded $new; enable_unsafe_noiommu_mode=Y"
	UNLOAD=$new
}

# unload ROUND: rmmod what load loaded, in /proc/modules order (the last
# loaded first); then nothing of it may be left.
unload() {
	local m out left
	for m in $UNLOAD; do
		if ! out=$(rmmod "$m" 2>&1); then
			not_ok "round $1: rmmod $m failed: $(tail -n1 <<<"$out") (loaded: $(loaded | paste -sd' '))"
			return 1
		fi
	done
	left=$(loaded_wanted)
	if [ -n "$left" ]; then
		not_ok "round $1: still loaded after rmmod: $left"
	elif [ -e /dev/iommu ] || [ -e /dev/vfio/vfio ]; then
		not_ok "round $1: /dev/iommu or /dev/vfio/vfio still there after rmmod"
	else
		ok "round $1: rmmod $UNLOAD, in that order; none left, no /dev/iommu, no /dev/vfio/vfio"
	fi
}

# kmemleak ROUND: a scan after rmmod (tests/guest/kmemleak.sh), as one
# result of this program's TAP.
kmemleak() {
	local tap=$VM_OUT/round$1-kmemleak.tap
	"$TOP/tests/guest/kmemleak.sh" "$tap" >/dev/null
	if grep -q '^ok 1 ' "$tap"; then
		ok "round $1: kmemleak: no unreferenced object after rmmod"
	else
		not_ok "round $1: $(sed -n 's/^not ok 1 - //p' "$tap")"
	fi
}

# "NAME COUNT" of modules.tap, then "roundN/NAME" of each program of the
# core (its count is the plan it prints, which the host holds it to).
list() {
	local r name _
	echo "modules $COUNT"
	for r in $(seq "$ROUNDS"); do
		while read -r name _; do
			echo "round$r/$name"
		done <<<"$("$TOP/tests/guest/run-tests.sh" --list --only "$CORE")"
	done
}

rounds() {
	local r left
	left=$(loaded_wanted)
	if [ -z "$left" ] && [ ! -e /dev/iommu ]; then
		ok "nothing of iommufd or VFIO loaded at boot"
	else
		not_ok "loaded at boot: $left (is the kernel built with kconfig/modules.config?)"
	fi
	for r in $(seq "$ROUNDS"); do
		echo "# round $r" >&2
		UNLOAD=""
		if load "$r"; then
			VM_OUT=$VM_OUT/round$r "$TOP/tests/guest/run-tests.sh" --only "$CORE" >&2
			unload "$r" || true
		else
			not_ok "round $r: nothing to unload"
		fi
		kmemleak "$r"
	done
}

main() {
	[ $# -eq 1 ] || usage
	if [ "$1" = --list ]; then
		list
		return 0
	fi
	MODROOT=$1
	[ -n "${VM_OUT:-}" ] || {
		echo "error: VM_OUT is not set: run this in the VM through scripts/modules-run.sh" >&2
		exit 2
	}
	mkdir -p "$VM_OUT/tap"
	{
		echo "1..$COUNT"
		if [ ! -d "$MODROOT/lib/modules/$(uname -r)" ]; then
			echo "Bail out! no $MODROOT/lib/modules/$(uname -r): modules not installed for this kernel"
		else
			rounds
		fi
	} | tee "$VM_OUT/tap/modules.tap"
}

main "$@"
