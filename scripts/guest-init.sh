#!/bin/bash
# PID 1 of the test VM booted by scripts/vm-run.sh, run from the host's
# root filesystem shared read-only over 9p. Mounts what the tests need,
# runs the command from $VM_OUT/cmd (with VM_SHELL=1: an interactive
# shell on the console) as root in $VM_TOP, writes its exit status to
# $VM_OUT/status and powers the guest off.
#
# usage: (kernel cmdline) init=/path/to/scripts/guest-init.sh VM_OUT=DIR VM_TOP=DIR
#            [VM_SHELL=0|1]
set -euo pipefail

BUSYBOX=/bin/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp TERM=dumb LANG=C.UTF-8

usage() {
	echo "usage: init=$0 VM_OUT=DIR VM_TOP=DIR [VM_SHELL=0|1] on the kernel cmdline (see scripts/vm-run.sh)" >&2
	exit 2
}

# Always end the VM, also when a step below fails: the host then finds
# no status file and reports that the guest died.
power_off() {
	sync || true
	"$BUSYBOX" poweroff -f
}

# A writable /tmp, which must not hide the repository when it was cloned
# under the host's /tmp: keep the host's copy and put it back in place.
mount_tmp() {
	"$BUSYBOX" mkdir -p /run/host-tmp
	"$BUSYBOX" mount --bind /tmp /run/host-tmp
	"$BUSYBOX" mount -t tmpfs tmpfs /tmp
	case "$VM_TOP" in
	/tmp/*)
		"$BUSYBOX" mkdir -p "$VM_TOP"
		"$BUSYBOX" mount --bind "/run/host-tmp/${VM_TOP#/tmp/}" "$VM_TOP"
		;;
	esac
}

mount_filesystems() {
	"$BUSYBOX" mount -t proc proc /proc
	"$BUSYBOX" mount -t sysfs sysfs /sys
	"$BUSYBOX" mount -t devtmpfs devtmpfs /dev
	exec </dev/null >/dev/console 2>&1
	"$BUSYBOX" mkdir -p /dev/pts /dev/shm /dev/hugepages
	"$BUSYBOX" mount -t devpts devpts /dev/pts
	"$BUSYBOX" mount -t tmpfs tmpfs /dev/shm
	"$BUSYBOX" mount -t tmpfs tmpfs /run
	mount_tmp
	"$BUSYBOX" mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages
	"$BUSYBOX" mount -t debugfs debugfs /sys/kernel/debug
	"$BUSYBOX" mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmout "$VM_OUT"
}

write_status() {
	echo "$1" >"$VM_OUT/status.tmp"
	mv "$VM_OUT/status.tmp" "$VM_OUT/status"
}

run_command() {
	local cmd rc=0
	cmd=$(cat "$VM_OUT/cmd")
	cd "$VM_TOP"
	echo "=== vm-run: command start: $cmd ==="
	VM_OUT=$VM_OUT /bin/sh -c "$cmd" </dev/null || rc=$?
	echo "=== vm-run: command exit status $rc ==="
	write_status "$rc"
}

# vm-run.sh --shell: bash on the console, in a session of its own with
# the console as its controlling terminal (job control, Ctrl-C).
run_shell() {
	local rc=0 tty
	cd "$VM_TOP"
	tty=/dev/$(sed 's/.* //' /sys/class/tty/console/active)
	# The host terminal's size, when it is one (vm-run.sh).
	[ -z "${VM_ROWS:-}" ] || stty -F "$tty" rows "$VM_ROWS" cols "$VM_COLS" || true
	echo "=== vm-run: shell start (exit to power off) ==="
	# The session's leader waits for the shell and drains the console
	# (stty sets the mode with TCSADRAIN) before it exits, which hangs
	# the console up and drops the output it has not sent yet.
	# shellcheck disable=SC2016 # expanded by that bash
	TERM=${VM_TERM:-dumb} VM_OUT=$VM_OUT setsid --ctty --wait /bin/bash -c \
		'trap "" TTOU; PS1="vm:\w# " /bin/bash --norc -i; rc=$?; stty sane; exit $rc' \
		<>"$tty" >&0 2>&0 || rc=$?
	echo "=== vm-run: shell exit status $rc ==="
	write_status "$rc"
}

main() {
	[ $$ -eq 1 ] || usage
	[ -n "${VM_OUT:-}" ] || usage
	[ -n "${VM_TOP:-}" ] || usage
	trap power_off EXIT
	mount_filesystems
	if [ "${VM_SHELL:-0}" = 1 ]; then
		run_shell
	else
		run_command
	fi
}

main "$@"
