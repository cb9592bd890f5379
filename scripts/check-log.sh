#!/bin/bash
# Scan a guest console log for kernel reports: oops, WARN, BUG, KASAN,
# UBSAN, lockdep, RCU, kmemleak, hung task/soft lockup, panic, and a
# stray "Call Trace:" that follows none of those.
#
# usage: scripts/check-log.sh LOG
# Exit 0 if the log is clean; exit 1 with one line naming the first
# report (file, line number, the report line) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	echo "usage: $0 LOG" >&2
	exit 2
}

# A report line starts a console line or follows a printk timestamp, so a
# test program printing "BUG:" mid-line in its own output does not count.
# The trailing group is the report itself, reported as is.
REPORTS='WARNING:|BUG:|kernel BUG at|Oops[:#]|general protection fault|Kernel panic|KASAN:|UBSAN:|KFENCE:|INFO: |unreferenced object 0x|Internal error:|watchdog: BUG:|rcu: INFO:'
# lockdep, RCU and hung-task lines that may appear without a prefix above
# (older formats such as "[ INFO: possible circular locking ... ]").
ANYWHERE='possible circular locking|inconsistent lock state|possible recursive locking|suspicious RCU usage|blocked for more than [0-9]+ seconds|soft lockup - CPU|hard LOCKUP|detected stalls? on CPU'

# Print "LINENO<TAB>TEXT" of the first report, nothing if clean.
first_report() {
	tr -d '\r' <"$1" | awk -v rep="$REPORTS" -v any="$ANYWHERE" '
	{
		line = $0
		if (match(line, "(^|\\[ *[0-9]+\\.[0-9]+\\] )(" rep ")") ||
		    match(line, any)) {
			s = substr(line, RSTART)
			sub(/^\[ *[0-9]+\.[0-9]+\] /, "", s)
			printf "%d\t%s\n", NR, s
			exit
		}
		if (line ~ /Call Trace:/) {
			printf "%d\t%s\n", NR, "Call Trace: without a preceding report"
			exit
		}
	}'
}

main() {
	[ $# -eq 1 ] || usage
	case "$1" in -h | --help) usage ;; esac
	[ -r "$1" ] || die "cannot read console log $1: run scripts/vm-run.sh first"
	local hit
	hit=$(first_report "$1")
	[ -z "$hit" ] && return 0
	die "kernel report in $1 line ${hit%%$'\t'*}: ${hit#*$'\t'}"
}

main "$@"
