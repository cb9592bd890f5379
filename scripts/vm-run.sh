#!/bin/bash
# Boot the test kernel in QEMU and run one command as root in the guest.
#
# The guest has no initramfs: its root is the host's / over 9p, read-only,
# and PID 1 is scripts/guest-init.sh. A per-run host directory (--out) is
# shared writable over 9p and mounted in the guest at the same path; the
# command goes in through it and its exit status comes back through it.
# The command's exit status is vm-run.sh's own. A timeout, a guest that
# dies before the command ends, or a kernel report in the console log
# (scripts/check-log.sh) fails the run with one line.
#
# usage: scripts/vm-run.sh [OPTION...] -- COMMAND...
#        scripts/vm-run.sh [OPTION...] --shell
# OPTION: [--kernel BZIMAGE] [--timeout SECS] [--log FILE] [--out DIR]
#         [--mem MB] [--hugepages N] [--append "CMDLINE"] [--iommu none|virtio]
#   COMMAND         one argument is a shell command line ('ls /dev/vfio &&
#                   ...'); several are one command and its arguments, each
#                   passed as it is (quotes, spaces)
#   --shell         an interactive root shell on the serial console, in the
#                   terminal's stdin/stdout, with the same devices; the
#                   guest powers off when it exits, with its status. No
#                   timeout unless --timeout is given.
#   --iommu virtio  adds a virtio-iommu that translates the edu device
#                   only (see iommu_config); the default, none, has no IOMMU.
# env: VM_MEM (MB, default 2048) and VM_HUGEPAGES (2M pages, default 64),
#      which --mem and --hugepages override; VM_VERBOSE=1 also shows the
#      console on the terminal; VM_ACCEL=kvm|tcg skips the KVM probe.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# --- platform and defaults ---
QEMU=qemu-system-x86_64
MACHINE=q35
# Without LA57 (5-level paging): the base kernel takes interrupts while
# identify_cpu() has cleared the boot CPU's feature bits, X86_FEATURE_LA57
# among them, and a KASAN check in such an interrupt then computes its
# shadow range for 4-level paging and reports the 5-level direct map as
# "wild-memory-access" (seen 3 ms into boot on the sanitizer kernel,
# handle_edge_irq interrupting identify_cpu, when TCG is slowed by a
# loaded host). Machines without LA57 are also what most users have.
CPU=max,la57=off
SMP=2
KERNEL=$BUILD/kbuild/vm/arch/x86/boot/bzImage
TIMEOUT=""
LOG=$BUILD/vm/console.log
OUT=$BUILD/vm/out
MEM=${VM_MEM:-2048}
HUGEPAGES=${VM_HUGEPAGES:-64}
APPEND=""
IOMMU=none
SHELL_MODE=0
KVM_PROBE_CACHE=$BUILD/vm/kvm-probe
KVM_PROBE_TIMEOUT=20

usage() {
	echo "usage: $0 [--kernel BZIMAGE] [--timeout SECS] [--log FILE] [--out DIR]" \
		"[--mem MB] [--hugepages N] [--append \"CMDLINE\"] [--iommu none|virtio]" \
		"-- COMMAND... | --shell" >&2
	exit 2
}

# Quote "$@" for the guest's /bin/sh (POSIX single quotes, no bashisms).
sh_quote() {
	local arg out="" q="'\\''"
	for arg in "$@"; do
		out+="'${arg//\'/$q}' "
	done
	echo "${out% }"
}

parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--kernel) KERNEL=${2:?}; shift 2 ;;
		--timeout) TIMEOUT=${2:?}; shift 2 ;;
		--log) LOG=${2:?}; shift 2 ;;
		--out) OUT=${2:?}; shift 2 ;;
		--mem) MEM=${2:?}; shift 2 ;;
		--hugepages) HUGEPAGES=${2:?}; shift 2 ;;
		--append) APPEND=${2?}; shift 2 ;;
		--iommu) IOMMU=${2:?}; shift 2 ;;
		--shell) SHELL_MODE=1; shift ;;
		--) shift; break ;;
		*) usage ;;
		esac
	done
	if [ "$SHELL_MODE" = 1 ]; then
		[ $# -eq 0 ] || die "--shell takes no COMMAND: type it in the shell"
		COMMAND=""
		TIMEOUT=${TIMEOUT:-0}
	else
		[ $# -gt 0 ] || usage
		# One argument is a command line, as sh -c takes it; several
		# are quoted one by one, so that they reach the guest unchanged.
		if [ $# -eq 1 ]; then
			COMMAND=$1
		else
			COMMAND=$(sh_quote "$@")
		fi
		TIMEOUT=${TIMEOUT:-300}
	fi
	[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout wants seconds, got '$TIMEOUT'"
	[[ "$MEM" =~ ^[0-9]+$ ]] || die "--mem (or VM_MEM) wants MB, got '$MEM'"
	[[ "$HUGEPAGES" =~ ^[0-9]+$ ]] || die "--hugepages (or VM_HUGEPAGES) wants a count, got '$HUGEPAGES'"
	case "$IOMMU" in none | virtio) ;; *) die "--iommu wants none or virtio, got '$IOMMU'" ;; esac
}

check_host() {
	command -v "$QEMU" >/dev/null || need_pkgs qemu-system-x86
	[ -x /bin/busybox ] || need_pkgs busybox-static
	[ -f "$KERNEL" ] || die "no kernel at $KERNEL: build it with scripts/build-kernel.sh vm kconfig/vm.config"
}

# The out directory (emptied first) is mounted in the guest at its host path, which must
# name the same directory through the read-only root share: no spaces
# (kernel cmdline), and an absolute, symlink-free path.
prepare_out() {
	OUT=$(realpath -m "$OUT")
	LOG=$(realpath -m "$LOG")
	[[ "$OUT" != *[[:space:]]* ]] || die "--out path has whitespace: $OUT; use another directory"
	# It is emptied below: only ever under build/.
	[[ "$OUT" == "$(realpath "$BUILD")"/* ]] || die "--out $OUT is not under $BUILD; pick a directory there"
	mkdir -p "$OUT" "$(dirname "$LOG")"
	find "$OUT" -mindepth 1 -delete
	printf '%s\n' "$COMMAND" >"$OUT/cmd"
	: >"$LOG"
	QEMU_ERR=${LOG%.log}.qemu.err
}

# KVM only if /dev/kvm is usable and a short probe boot finishes; the
# verdict is cached, since a hanging KVM costs the whole probe timeout.
choose_accel() {
	ACCEL=${VM_ACCEL:-}
	case "$ACCEL" in
	kvm | tcg) return 0 ;;
	"") ;;
	*) die "VM_ACCEL wants kvm or tcg, got '$ACCEL'" ;;
	esac
	ACCEL=tcg
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		return 0
	fi
	if [ -f "$KVM_PROBE_CACHE" ]; then
		ACCEL=$(cat "$KVM_PROBE_CACHE")
		return 0
	fi
	log "probing KVM with a ${KVM_PROBE_TIMEOUT}s boot"
	if VM_ACCEL=kvm "$0" --kernel "$KERNEL" --timeout "$KVM_PROBE_TIMEOUT" \
		--log "$BUILD/vm/kvm-probe.log" --out "$BUILD/vm/kvm-probe.out" \
		-- true >/dev/null 2>&1; then
		ACCEL=kvm
	else
		warn "KVM probe boot failed; using TCG (delete $KVM_PROBE_CACHE to probe again)"
	fi
	echo "$ACCEL" >"$KVM_PROBE_CACHE"
}

# cache=readahead keeps file pages while open (exec of bash and busybox
# over 9p gets ~4x faster under TCG) without caching dentries: cache=loose
# revalidates the host's ever-changing /proc, /sys and /dev directories
# and so detaches the guest's own mounts on them.
cmdline() {
	echo "console=ttyS0 root=hostroot rootfstype=9p" \
		"rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=readahead ro" \
		"init=$TOP/scripts/guest-init.sh" \
		"vfio.enable_unsafe_noiommu_mode=1" \
		"hugepagesz=2M hugepages=$HUGEPAGES panic=-1" \
		"VM_OUT=$OUT VM_TOP=$TOP VM_SHELL=$SHELL_MODE $TERMINAL $APPEND"
}

# --shell on a terminal: its type and size for the guest's shell, in
# TERMINAL (cmdline() runs in a subshell, whose stdout is no terminal).
shell_terminal() {
	local size
	TERMINAL=""
	[ "$SHELL_MODE" = 1 ] && [ -t 0 ] && [ -t 1 ] || return 0
	size=$(stty size 2>/dev/null) || size=""
	TERMINAL="VM_TERM=${TERM:-vt100}${size:+ VM_ROWS=${size% *} VM_COLS=${size#* }}"
}

# Two NUMA nodes, one CPU and half the memory each, so that move_pages(2)
# really migrates. sockets=2 keeps the CPU topology consistent with the
# nodes (else the guest WARNs in topology_sane()).
numa_args() {
	local half=$((MEM / 2))
	echo "-smp $SMP,sockets=$SMP,cores=1,threads=1" \
		"-object memory-backend-ram,id=m0,size=${half}M" \
		"-object memory-backend-ram,id=m1,size=$((MEM - half))M" \
		"-numa node,nodeid=0,cpus=0,memdev=m0" \
		"-numa node,nodeid=1,cpus=1,memdev=m1"
}

# The IOMMU (--iommu). Sets MACHINE_OPTS, EDU (edu's QEMU arguments in
# its usual place) and LAST_DEVICES (the arguments after the e1000).
# The virtio-iommu translates edu only: the root bus bypasses it
# (default-bus-bypass-iommu) and edu moves behind a root port of a PCIe
# expander bridge, which it translates. The 9p transports of the guest's
# root must stay out of it: unbinding the virtio_iommu driver while they
# are bound to virtio-pci WARNs in the IOMMU core (__iommu_group_free_device:
# a group emptied while its driver still holds owner_cnt). These devices
# go last: a -device without bus= lands on the bus created last.
iommu_config() {
	local edu="edu,dma_mask=0xffffffffffffffff"
	MACHINE_OPTS=""
	EDU=(-device "$edu")
	LAST_DEVICES=()
	case "$IOMMU" in
	virtio)
		MACHINE_OPTS=",default-bus-bypass-iommu=on"
		EDU=()
		LAST_DEVICES=(-device virtio-iommu-pci
			-device "pxb-pcie,id=iommu_pxb,bus_nr=128,bus=pcie.0"
			-device "pcie-root-port,id=iommu_rp,bus=iommu_pxb,chassis=1"
			-device "$edu,bus=iommu_rp")
		;;
	esac
}

# QEMU's command line, serial console aside.
qemu_args() {
	local numa
	read -ra numa <<<"$(numa_args)"
	iommu_config
	shell_terminal
	QEMU_ARGS=(-machine "$MACHINE,accel=$ACCEL$MACHINE_OPTS" -cpu "$CPU" -m "$MEM" "${numa[@]}"
		-nographic -no-reboot -monitor none
		-kernel "$KERNEL" -append "$(cmdline)"
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
		-virtfs "local,path=$OUT,mount_tag=vmout,security_model=none"
		"${EDU[@]}"
		-netdev "user,id=n0,restrict=on" -device "e1000,netdev=n0,romfile="
		"${LAST_DEVICES[@]}")
}

# --shell with stdin not a terminal (a script piped in): hold it until
# the guest's shell has the console open, since what the UART receives
# before is lost, then send it and an "exit", which ends the shell if the
# script did not.
shell_input() {
	until grep -qs '^=== vm-run: shell start' "$LOG"; do
		sleep 0.5
	done
	cat
	printf '\nexit\n'
}

# Run QEMU under timeout(1). Sets QEMU_RC (124: timed out).
boot() {
	local tailpid="" input feeder
	qemu_args
	QEMU_RC=0
	if [ "$SHELL_MODE" = 1 ]; then
		# The console on the terminal, also logged for check-log.sh;
		# Ctrl-C goes to the guest, Ctrl-A x quits QEMU. --foreground
		# lets QEMU read the terminal (timeout 0: none).
		QEMU_ARGS+=(-chardev "stdio,id=console,mux=on,signal=off,logfile=$LOG"
			-serial chardev:console)
		if [ -t 0 ]; then
			timeout --foreground -k 5 "$TIMEOUT" "$QEMU" "${QEMU_ARGS[@]}" \
				2>"$QEMU_ERR" || QEMU_RC=$?
		else
			exec {input}< <(shell_input)
			feeder=$!
			timeout -k 5 "$TIMEOUT" "$QEMU" "${QEMU_ARGS[@]}" \
				<&"$input" 2>"$QEMU_ERR" || QEMU_RC=$?
			exec {input}<&-
			kill "$feeder" 2>/dev/null || true
		fi
		return 0
	fi
	if [ "${VM_VERBOSE:-0}" = 1 ]; then
		tail -n +1 -f "$LOG" &
		tailpid=$!
	fi
	timeout -k 5 "$TIMEOUT" "$QEMU" "${QEMU_ARGS[@]}" -serial "file:$LOG" \
		</dev/null >"$QEMU_ERR" 2>&1 || QEMU_RC=$?
	if [ -n "$tailpid" ]; then
		sleep 0.2
		kill "$tailpid" 2>/dev/null || true
		wait "$tailpid" 2>/dev/null || true
	fi
}

# Turn the boot into vm-run.sh's verdict: a kernel report first (it is
# the most specific), then timeout, QEMU failure, missing status.
verdict() {
	local report status what=command
	[ "$SHELL_MODE" = 0 ] || what=shell
	report=$("$TOP/scripts/check-log.sh" "$LOG" 2>&1) || die "${report#error: }"
	case "$QEMU_RC" in 124 | 137)
		die "guest timed out after ${TIMEOUT}s, QEMU killed (see $LOG; raise --timeout if it was only slow)" ;;
	esac
	[ "$QEMU_RC" -eq 0 ] ||
		die "QEMU exited $QEMU_RC: $(head -n1 "$QEMU_ERR") (see $QEMU_ERR)"
	[ -f "$OUT/status" ] ||
		die "guest died before the command finished: no $OUT/status (see $LOG)"
	status=$(cat "$OUT/status")
	[[ "$status" =~ ^[0-9]+$ ]] || die "bad exit status '$status' in $OUT/status (see $LOG)"
	[ "$status" -eq 0 ] || warn "guest $what exited $status (see $LOG)"
	exit "$status"
}

main() {
	parse_args "$@"
	check_host
	mkdir -p "$BUILD/vm"
	choose_accel
	prepare_out
	local start=$SECONDS
	boot
	[ "${VM_VERBOSE:-0}" = 1 ] && log "VM ran $((SECONDS - start))s ($ACCEL)"
	verdict
}

main "$@"
