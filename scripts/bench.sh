#!/bin/bash
# Host side of 'make bench' (run after 'make kernel'): build
# bench/getpa_bench.c, boot the VM kernel with 2M and 1G hugepages
# reserved, bind QEMU's edu device to vfio-pci and time
# IOMMU_IOAS_NOIOMMU_GET_PA against /proc/self/pagemap. Prints the markdown
# table and, last, the path of the file holding it (build/bench.md).
#
# The timings are reported, never judged: this fails only if the benchmark
# could not run or GET_PA and pagemap disagreed.
#
# usage: scripts/bench.sh [-r REPS] [-s MIB[,MIB...]]
#   -r REPS  timed repetitions per figure (default 5)
#   -s MIB   buffer sizes in MiB (default 64,1024)
# In the guest, vm-run.sh runs this script again with --guest.
# env: BENCH_TIMEOUT (VM run, default 1800 s), BENCH_MEM (guest MB, default
#      6144), BENCH_KERNEL (bzImage to boot, default the VM kernel's; e.g. a
#      saved copy of an older build, to compare), VM_VERBOSE=1 (show the console)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_TIMEOUT=${BENCH_TIMEOUT:-1800}
# Two NUMA nodes of half the memory each: a 1 GiB 4K-page buffer, the
# hugepages below and the kernel fit with room to spare.
BENCH_MEM=${BENCH_MEM:-6144}
# 2M pages for a 1 GiB buffer (512) plus slack; one 1G page (a 64 MiB
# buffer uses the first 64 MiB of it). 1G pages must be asked for on the
# cmdline, before the buddy allocator fragments memory.
HUGEPAGES_2M=544
HUGEPAGES_1G=1
KERNEL=${BENCH_KERNEL:-$BUILD/kbuild/vm/arch/x86/boot/bzImage}
BIN=$BUILD/bench/getpa_bench
OUT=$BUILD/vm/bench
LOG=$BUILD/vm/bench.log
TABLE=$BUILD/bench.md

usage() {
	echo "usage: $0 [-r REPS] [-s MIB[,MIB...]]" >&2
	exit 2
}

# In the guest: edu to vfio-pci, then the benchmark; its table goes to
# $VM_OUT/bench.md, its output (errors included) to $VM_OUT/report.txt.
guest_main() {
	local bdf
	# shellcheck source-path=SCRIPTDIR source=../tests/guest/lib.sh
	. "$TOP/tests/guest/lib.sh"
	{
		bdf=$(edu_bdf)
		bind_vfio_pci "$bdf"
		"$BIN" -o "$VM_OUT/bench.md" "$@" "$bdf"
	} 2>&1 | tee "$VM_OUT/report.txt"
}

host_main() {
	local rc=0 start
	build_uapi_program bench/getpa_bench.c "$BIN"
	rm -f "$TABLE"
	log "booting $KERNEL (${BENCH_MEM} MB, ${HUGEPAGES_2M}x2M + ${HUGEPAGES_1G}x1G hugepages) and running the benchmark (console: $LOG)"
	start=$SECONDS
	"$TOP/scripts/vm-run.sh" --kernel "$KERNEL" \
		--timeout "$BENCH_TIMEOUT" --log "$LOG" \
		--out "$OUT" --mem "$BENCH_MEM" --hugepages "$HUGEPAGES_2M" \
		--append "hugepagesz=1G hugepages=$HUGEPAGES_1G" \
		-- scripts/bench.sh --guest "$@" || rc=$?
	if [ "$rc" -ne 0 ]; then
		[ -s "$OUT/report.txt" ] && tail -n 20 "$OUT/report.txt" >&2
		die "the benchmark failed (exit status $rc; console log $LOG)"
	fi
	[ -s "$OUT/bench.md" ] || die "the benchmark wrote no table ($OUT/bench.md; console log $LOG)"
	cp "$OUT/bench.md" "$TABLE"
	echo
	cat "$TABLE"
	echo
	log "benchmark ran in $((SECONDS - start))s"
	echo "$TABLE"
}

# -r REPS and -s MIB, each with its value, and nothing else
host_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		-r | -s) [ $# -ge 2 ] || usage; shift 2 ;;
		*) usage ;;
		esac
	done
}

vm_script_main "$@"
