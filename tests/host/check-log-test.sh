#!/bin/bash
# Host-only self-test of scripts/check-log.sh on small synthetic console
# logs. Prints TAP; exits non-zero if any case fails.
#
# usage: tests/host/check-log-test.sh
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CHECK_LOG=$TOP/scripts/check-log.sh
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

N=0
FAILED=0

usage() {
	echo "usage: $0" >&2
	exit 2
}

# expect WANT NAME LOG-LINE...: WANT is "clean" or the text check-log
# must name (a substring of its one-line report).
expect() {
	local want=$1 name=$2 log=$TMP/log out rc=0
	shift 2
	printf '%s\r\n' "[    0.000000] Linux version 7.2.13 (test)" "$@" \
		"[    9.000000] reboot: Power down" >"$log"
	out=$("$CHECK_LOG" "$log" 2>&1) || rc=$?
	N=$((N + 1))
	if [ "$want" = clean ] && [ $rc -eq 0 ] && [ -z "$out" ]; then
		echo "ok $N - $name: clean"
	elif [ "$want" != clean ] && [ $rc -eq 1 ] &&
		[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
		[[ "$out" == *"$want"* ]]; then
		echo "ok $N - $name: $out"
	else
		echo "not ok $N - $name: want '$want', got rc $rc '$out'"
		FAILED=$((FAILED + 1))
	fi
}

cases() {
	expect clean "clean boot" \
		"[    0.100000] RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable" \
		"[    0.200000] lkdtm: Performing direct entry WARNING" \
		"=== vm-run: command start: echo BUG: not a report, WARNING: neither ===" \
		"ok 1 - output mentioning a kernel BUG: is fine mid-line"
	expect "line 3: WARNING: CPU: 1 PID: 77 at drivers/misc/lkdtm/bugs.c:100" "WARN_ON" \
		"[    1.000000] ------------[ cut here ]------------" \
		"[    1.000001] WARNING: CPU: 1 PID: 77 at drivers/misc/lkdtm/bugs.c:100 lkdtm_WARNING+0x1a/0x30" \
		"[    1.000002] Call Trace:"
	expect "BUG: kernel NULL pointer dereference" "NULL deref" \
		"[    2.000000] BUG: kernel NULL pointer dereference, address: 0000000000000000" \
		"[    2.000001] Oops: Oops: 0002 [#1] SMP NOPTI"
	expect "kernel BUG at mm/slub.c:42!" "BUG_ON" \
		"[    2.000000] kernel BUG at mm/slub.c:42!"
	expect "Oops: 0000 [#1] SMP" "oops" "[    2.0] Oops: 0000 [#1] SMP"
	expect "general protection fault" "GPF" \
		"[    2.000000] general protection fault, probably for non-canonical address 0xdead: 0000 [#1]"
	expect "BUG: KASAN: slab-use-after-free" "KASAN" \
		"[    3.000000] ==================================================================" \
		"[    3.000001] BUG: KASAN: slab-use-after-free in foo+0x10/0x20"
	expect "UBSAN: array-index-out-of-bounds" "UBSAN" \
		"[    3.000000] UBSAN: array-index-out-of-bounds in drivers/x.c:10:5"
	expect "WARNING: possible circular locking dependency detected" "lockdep circular" \
		"[    4.000000] ======================================================" \
		"[    4.000001] WARNING: possible circular locking dependency detected"
	expect "inconsistent lock state" "lockdep old format" \
		"[    4.000000] [ INFO: inconsistent lock state ]"
	expect "WARNING: suspicious RCU usage" "RCU" \
		"[    4.000000] WARNING: suspicious RCU usage"
	expect "unreferenced object 0xffff888003a1c000" "kmemleak" \
		"unreferenced object 0xffff888003a1c000 (size 64):"
	expect "INFO: task kworker/0:1:12 blocked for more than 120 seconds" "hung task" \
		"[  130.000000] INFO: task kworker/0:1:12 blocked for more than 120 seconds."
	expect "soft lockup - CPU#0 stuck" "soft lockup" \
		"[   30.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:1]"
	expect "Kernel panic - not syncing: Attempted to kill init" "panic" \
		"[    5.000000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"
	expect "Call Trace: without a preceding report" "bare Call Trace" \
		"[    6.000000] CPU: 0 PID: 1 Comm: sh" "[    6.000001] Call Trace:"
	expect "WARNING: CPU: 0 PID: 1" "report after user output on the same line" \
		"ok 3 - something[    7.000000] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x0/0x1"
}

main() {
	[ $# -eq 0 ] || usage
	echo "1..17"
	cases
	[ "$N" -eq 17 ] || { echo "# ran $N cases, planned 17"; exit 1; }
	[ "$FAILED" -eq 0 ]
}

main "$@"
