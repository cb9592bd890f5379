#!/bin/bash
# dpdk_testpmd: a real userspace driver on the legacy VFIO group no-IOMMU
# path. DPDK's dpdk-testpmd drives QEMU's e1000 NIC through
# /dev/vfio/noiommu-N (VFIO_NOIOMMU_IOMMU container) in txonly mode for a
# few seconds; the port's TX counter must show packets the NIC sent by DMA.
#
# usage: tests/guest/dpdk_testpmd.sh   (in the VM as root, see
#        tests/guest/run-tests.sh; host package: dpdk-dev)
# Prints TAP, always all PLAN results: a check whose prerequisite failed is
# "not ok", never skipped. Exits 1 if any check failed. Leaves the NIC
# unbound from vfio-pci. testpmd's output is kept in $VM_OUT/dpdk_testpmd.log.
# env: TESTPMD (default dpdk-testpmd), TESTPMD_RUN_SECS (txonly time,
#      default 5)
# No limit of its own on how long testpmd takes to start or to stop: a
# sanitizer kernel under TCG, or a busy host, makes it slow, not wrong.
# It waits on testpmd itself; a testpmd that hangs is stopped by
# run-tests.sh's per-program timeout, which scales with the kernel.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$TOP/tests/guest/lib.sh"

PLAN=10
E1000_VENDOR=8086
E1000_DEVICE=100e
TESTPMD=${TESTPMD:-dpdk-testpmd}
RUN_SECS=${TESTPMD_RUN_SECS:-5}
# 2048 mbufs (~5 MB) keep the hugepage need far below the VM's 64 x 2M.
MBUFS=2048
# testpmd writes to tmpfs (9p is slow under load); kept in $VM_OUT after.
LOG=/tmp/dpdk_testpmd.log
SAVED_LOG=${VM_OUT:-/tmp}/dpdk_testpmd.log
NAP_FIFO=""
HUGEPAGES=""
INTX=""

N=0
FAILS=0
BDF=""
GROUP=""
BOUND=0
RAN=0
TESTPMD_RC=""
TX=""
WHY_NOT_RUN="the NIC was not set up"

ok() {
	N=$((N + 1))
	echo "ok $N - $*"
}

not_ok() {
	N=$((N + 1))
	FAILS=$((FAILS + 1))
	echo "not ok $N - $*"
}

# check DESC FUNC: one TAP result. FUNC's stderr lines starting with "#"
# are diagnostics shown after the result; its first other line is the
# reason it failed.
check() {
	local desc=$1 err
	err=$(mktemp)
	if "$2" 2>"$err"; then
		ok "$desc"
	else
		not_ok "$desc: $(grep -m1 -v '^#' "$err" || echo "no reason given")"
	fi
	grep '^#' "$err" || true
	rm -f "$err"
}

find_nic() {
	BDF=$(find_pci_dev "$E1000_VENDOR" "$E1000_DEVICE") || return 1
	echo "# e1000 NIC at $BDF" >&2
}

bind_nic() {
	[ -n "$BDF" ] || { echo "no NIC found" >&2; return 1; }
	bind_vfio_pci "$BDF" || return 1
	BOUND=1
}

# Its group must be a no-IOMMU one: the path DPDK uses without an IOMMU.
check_group() {
	[ "$BOUND" = 1 ] || { echo "NIC not bound to vfio-pci" >&2; return 1; }
	GROUP=$(vfio_group_node "$BDF") || return 1
	if [[ ! "$GROUP" =~ ^/dev/vfio/noiommu-[0-9]+$ ]]; then
		echo "group node of $BDF is $GROUP, not /dev/vfio/noiommu-N" >&2
		return 1
	fi
	[ -c "$GROUP" ] || { echo "$GROUP is not a character device" >&2; return 1; }
	echo "# group node $GROUP" >&2
}

# Sleep without exec: /bin/sleep comes over 9p, slow while testpmd's
# forwarding core keeps QEMU busy under TCG.
nap() {
	read -r -t "$1" _ <>"$NAP_FIFO" || true
}

# hugepages_used: print "USED of TOTAL" 2M pages (builtins only, as nap).
hugepages_used() {
	local key val total=0 free=0
	while read -r key val _; do
		case "$key" in
		HugePages_Total:) total=$val ;;
		HugePages_Free:) free=$val ;;
		esac
	done </proc/meminfo
	echo "$((total - free)) of $total"
}

# intx_line BDF: print BDF's vfio-intx line of /proc/interrupts (builtins
# only, as nap), i.e. vfio-pci has its INTx routed to userspace's eventfd.
intx_line() {
	local line
	while read -r line; do
		[[ "$line" == *"vfio-intx($1)"* ]] && { echo "$line"; return 0; }
	done </proc/interrupts
	return 0
}

# Wait until testpmd forwards (0) or has exited (1).
wait_forwarding() {
	local pid=$1
	while kill -0 "$pid" 2>/dev/null; do
		grep -q '^Press enter to exit' "$LOG" && return 0
		nap 0.5
	done
	return 1
}

# Run testpmd on the NIC: txonly for RUN_SECS once forwarding started,
# then end it the way its non-interactive mode expects (EOF on stdin at
# "Press enter to exit"), which stops forwarding and prints the port
# statistics. stdbuf: testpmd's stdout is a file, and the prompt must
# show before the exit. --vfio-intr=legacy: the e1000 has only INTx (DPDK
# would try MSI-X first and log an error). Sets RAN=1, TESTPMD_RC,
# HUGEPAGES and INTX (read while forwarding).
run_testpmd() {
	local dir pid fd rc=0
	dir=$(mktemp -d)
	mkfifo "$dir/stdin" "$dir/nap"
	NAP_FIFO=$dir/nap
	: >"$LOG"
	stdbuf -oL "$TESTPMD" -l 0-1 -a "$BDF" \
		--in-memory --no-telemetry --huge-dir=/dev/hugepages \
		--log-level=lib.eal:info --vfio-intr=legacy \
		-- --forward-mode=txonly --nb-cores=1 \
		--total-num-mbufs="$MBUFS" \
		<"$dir/stdin" >"$LOG" 2>&1 &
	pid=$!
	exec {fd}>"$dir/stdin"
	if wait_forwarding "$pid"; then
		nap "$RUN_SECS"
		HUGEPAGES=$(hugepages_used)
		INTX=$(intx_line "$BDF")
	fi
	exec {fd}>&-
	wait "$pid" || rc=$?
	rm -rf "$dir"
	[ "$LOG" = "$SAVED_LOG" ] || cp "$LOG" "$SAVED_LOG"
	RAN=1
	TESTPMD_RC=$rc
}

# log_has ERE WHAT: testpmd's output has a line matching ERE.
log_has() {
	[ "$RAN" = 1 ] || { echo "testpmd did not run: $WHY_NOT_RUN" >&2; return 1; }
	grep -qE "$1" "$LOG" && return 0
	echo "testpmd's output has no $2 (see $SAVED_LOG)" >&2
	return 1
}

check_noiommu_type() {
	log_has 'Using IOMMU type 8 \(No-IOMMU\)' "'Using IOMMU type 8 (No-IOMMU)'"
}

check_iova_pa() {
	local mode
	log_has "Selected IOVA mode '" "'Selected IOVA mode' line" || return 1
	mode=$(grep -m1 -o "Selected IOVA mode '[A-Z]*'" "$LOG")
	[ "$mode" = "Selected IOVA mode 'PA'" ] && return 0
	echo "testpmd says \"$mode\", not 'PA'" >&2
	return 1
}

check_probe() {
	log_has "Probe PCI driver: net_e1000_em \\(8086:100e\\) device: $BDF" \
		"probe of $BDF by net_e1000_em"
}

# testpmd armed the NIC's link-state interrupt: INTx through the group.
check_intx() {
	[ "$RAN" = 1 ] || { echo "testpmd did not run: $WHY_NOT_RUN" >&2; return 1; }
	grep -m1 -E 'Error (en|dis)abling .*interrupts' "$LOG" >&2 && return 1
	[ -n "$INTX" ] || { echo "no vfio-intx($BDF) in /proc/interrupts while testpmd ran" >&2; return 1; }
	echo "# $INTX" >&2
}

# TX-packets of port 0's forward statistics (the NIC's counters since
# forwarding started), printed at stop.
tx_packets() {
	awk '/Forward statistics for port 0/ { p = 1 }
	     p && /TX-packets:/ { print $2; exit }' "$LOG"
}

check_tx() {
	log_has 'Forward statistics for port 0' "port 0 statistics" || return 1
	TX=$(tx_packets)
	[[ "$TX" =~ ^[0-9]+$ ]] || { echo "cannot read TX-packets in $SAVED_LOG" >&2; return 1; }
	[ "$TX" -gt 0 ] || { echo "TX-packets is 0: the NIC sent nothing" >&2; return 1; }
}

check_exit() {
	[ "$RAN" = 1 ] || { echo "testpmd did not run: $WHY_NOT_RUN" >&2; return 1; }
	case "$TESTPMD_RC" in
	0) ;;
	*) echo "testpmd exited $TESTPMD_RC: $(grep -m1 -E 'Cause:|FATAL' "$LOG" || tail -n1 "$LOG")" >&2; return 1 ;;
	esac
	log_has '^Bye\.\.\.' "'Bye...' (clean shutdown)"
}

# Leave the NIC to no driver, so later tests see it as they found it.
release_nic() {
	[ "$BOUND" = 1 ] || { echo "NIC was never bound" >&2; return 1; }
	unbind_pci "$BDF" || return 1
	[ -z "$(pci_driver "$BDF")" ] || { echo "$BDF still bound to $(pci_driver "$BDF")" >&2; return 1; }
	[ ! -e "$GROUP" ] || { echo "$GROUP still exists after unbind" >&2; return 1; }
}

# On failure, show the end of testpmd's output as TAP diagnostics.
show_log() {
	[ "$FAILS" -gt 0 ] && [ -s "$LOG" ] || return 0
	echo "# last lines of $SAVED_LOG:"
	tail -n 25 "$LOG" | sed 's/^/#   /'
}

# Run testpmd only on a NIC set up as intended; else say why not.
maybe_run_testpmd() {
	if [ "$FAILS" -ne 0 ]; then
		WHY_NOT_RUN="the NIC setup above failed"
	elif ! command -v "$TESTPMD" >/dev/null; then
		# The guest's root is the host's, read-only.
		WHY_NOT_RUN="$TESTPMD not found: install Debian's dpdk-dev on the host"
	else
		echo "# running $TESTPMD -a $BDF, txonly for ${RUN_SECS}s"
		run_testpmd
	fi
}

main() {
	echo "1..$PLAN"
	check "found the e1000 NIC $E1000_VENDOR:$E1000_DEVICE" find_nic
	check "bound the NIC to vfio-pci" bind_nic
	check "its VFIO group is /dev/vfio/noiommu-N" check_group
	maybe_run_testpmd
	check "testpmd used the VFIO no-IOMMU container type" check_noiommu_type
	check "testpmd selected IOVA mode PA" check_iova_pa
	check "testpmd probed $BDF with net_e1000_em" check_probe
	check "testpmd enabled the NIC's INTx through vfio-pci" check_intx
	check "port 0 TX-packets > 0" check_tx
	[ -z "$TX" ] || echo "# TX-packets: $TX in ${RUN_SECS}s of txonly; 2M hugepages in use: $HUGEPAGES"
	check "testpmd exited cleanly" check_exit
	check "released $BDF from vfio-pci" release_nic
	show_log
	echo "# ${SECONDS}s; testpmd output in $SAVED_LOG"
	[ "$FAILS" -eq 0 ] || exit 1
}

main "$@"
