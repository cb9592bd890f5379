#!/bin/bash
# Host side of 'make demo' (run after 'make kernel'): build the example
# userspace driver examples/edu-dma.c, boot the VM kernel, bind QEMU's edu
# device to vfio-pci and let the driver DMA through its no-IOMMU cdev
# (/dev/vfio/devices/noiommu-vfioN); show the driver's report.
#
# usage: scripts/demo.sh [--corrupt-pa]
#   --corrupt-pa  negative test: the driver programs the device with wrong
#                 physical addresses, so verification must fail (exit 1)
# In the guest, vm-run.sh runs this script again with --guest.
# env: DEMO_TIMEOUT (VM run, default 600 s), VM_VERBOSE=1 (show the console)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

DEMO_TIMEOUT=${DEMO_TIMEOUT:-600}
BIN=$BUILD/examples/edu-dma
OUT=$BUILD/vm/demo
LOG=$BUILD/vm/demo.log

usage() {
	echo "usage: $0 [--corrupt-pa]" >&2
	exit 2
}

# In the guest: edu to vfio-pci, then the driver.
guest_run() {
	local bdf
	# shellcheck source-path=SCRIPTDIR source=../tests/guest/lib.sh
	. "$TOP/tests/guest/lib.sh"
	bdf=$(edu_bdf)
	bind_vfio_pci "$bdf"
	"$BIN" "$@" "$bdf"
}

# The output, errors included, is kept for the host in $VM_OUT/report.txt.
guest_main() {
	guest_run "$@" 2>&1 | tee "$VM_OUT/report.txt"
}

host_main() {
	local rc=0 start
	build_uapi_program examples/edu-dma.c "$BIN"
	log "booting the VM kernel and running the driver in it (console: $LOG)"
	start=$SECONDS
	"$TOP/scripts/vm-run.sh" --timeout "$DEMO_TIMEOUT" --log "$LOG" \
		--out "$OUT" -- scripts/demo.sh --guest "$@" || rc=$?
	if [ -s "$OUT/report.txt" ]; then
		echo
		cat "$OUT/report.txt"
		echo
	fi
	[ "$rc" -eq 0 ] || die "the demo failed (exit status $rc; console log $LOG)"
	log "demo passed in $((SECONDS - start))s"
}

# Only --corrupt-pa
host_args() {
	local arg
	for arg in "$@"; do
		[ "$arg" = --corrupt-pa ] || usage
	done
}

vm_script_main "$@"
