#!/bin/bash
# Compare the errnos the series gives userspace with mainline 7.3's: the
# "errno: REQUEST = E" lines of a run of tests/guest/noiommu_errno on the
# series (its TAP file) against the reference measured on mainline
# (tests/guest/noiommu_errno.mainline-7.3, 'make errno-mainline'). The two
# must differ in exactly the deliberate differences documented in
# tests/guest/noiommu_errno.differences, one a line:
#
#   REQUEST mainline=E series=E REASON...
#
# Prints TAP, one result per request of the reference (plus one per
# request or documented difference that is not in it): ok when both
# kernels agree, or differ as documented with a reason; not ok for an
# undocumented difference, a documented one that is not measured (either
# side), a reason that is still TODO, or a request missing from the run.
# Exits non-zero if any result is not ok. With --table, prints instead a
# table of every request, mainline, series and the documented reason.
#
# usage: scripts/errno-compare.sh [--table] SERIES_TAP [REFERENCE [DIFFERENCES]]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

REFERENCE=$TOP/tests/guest/noiommu_errno.mainline-7.3
DIFFERENCES=$TOP/tests/guest/noiommu_errno.differences

usage() {
	echo "usage: $0 [--table] SERIES_TAP [REFERENCE [DIFFERENCES]]" >&2
	exit 2
}

# errno_lines FILE: "REQUEST E" for each "errno: REQUEST = E" line of FILE;
# dies on a malformed or repeated request.
errno_lines() {
	awk -v f="$1" '
	/^errno: / {
		if (NF != 4 || $3 != "=" || $2 !~ /^[a-z0-9_.]+$/) {
			printf "error: %s:%d: want \"errno: REQUEST = E\", got \"%s\"\n", f, FNR, $0 > "/dev/stderr"
			exit 1
		}
		if ($2 in seen) {
			printf "error: %s:%d: request %s measured twice\n", f, FNR, $2 > "/dev/stderr"
			exit 1
		}
		seen[$2] = 1
		print $2, $4
	}' "$1"
}

# Read the three files into the maps REF, GOT, DIFF_M, DIFF_S and REASON,
# and ORDER: the requests of the reference, then the others.
load() {
	local name val line req m s reason n=0 ref got
	declare -gA REF=() GOT=() DIFF_M=() DIFF_S=() REASON=()
	ORDER=()
	ref=$(errno_lines "$REFERENCE")
	got=$(errno_lines "$SERIES")
	[ -n "$ref" ] ||
		die "${REFERENCE#"$TOP"/} has no errno: lines: regenerate it with 'make errno-mainline'"
	while read -r name val; do
		REF[$name]=$val
		ORDER+=("$name")
	done <<<"$ref"
	if [ -n "$got" ]; then
		while read -r name val; do
			GOT[$name]=$val
			[ -n "${REF[$name]+set}" ] || ORDER+=("$name")
		done <<<"$got"
	fi
	while IFS= read -r line; do
		n=$((n + 1))
		case "$line" in '' | '#'*) continue ;; esac
		read -r req m s reason <<<"$line"
		if [[ "$m" != mainline=?* || "$s" != series=?* || -z "$reason" ]]; then
			die "${DIFFERENCES#"$TOP"/}:$n: want 'REQUEST mainline=E series=E REASON', got '$line'"
		fi
		[ -z "${DIFF_M[$req]+set}" ] ||
			die "${DIFFERENCES#"$TOP"/}:$n: $req is documented twice"
		DIFF_M[$req]=${m#mainline=}
		DIFF_S[$req]=${s#series=}
		REASON[$req]=$reason
		[ -n "${REF[$req]+set}" ] || [ -n "${GOT[$req]+set}" ] ||
			ORDER+=("$req")
	done <"$DIFFERENCES"
}

# judge REQUEST: print "ok|not ok" and the verdict's text, tab-separated.
judge() {
	local req=$1 m=${REF[$1]:-} s=${GOT[$1]:-} dm=${DIFF_M[$1]:-} ds=${DIFF_S[$1]:-}
	local reason=${REASON[$1]:-}
	if [ -z "$m" ]; then
		if [ -n "$s" ]; then
			printf 'not ok\tseries %s, not in the mainline reference (regenerate it: make errno-mainline)\n' "$s"
		else
			printf 'not ok\tdocumented (mainline=%s series=%s) but measured on neither kernel\n' "$dm" "$ds"
		fi
	elif [ -z "$s" ]; then
		printf 'not ok\tmainline %s, no line in the series run\n' "$m"
	elif [ -z "$dm" ]; then
		if [ "$m" = "$s" ]; then
			printf 'ok\t%s on both\n' "$m"
		else
			printf 'not ok\tmainline %s, series %s: an undocumented difference\n' "$m" "$s"
		fi
	elif [ "$m" != "$dm" ] || [ "$s" != "$ds" ]; then
		printf 'not ok\tmainline %s, series %s, but documented as mainline=%s series=%s\n' \
			"$m" "$s" "$dm" "$ds"
	elif [ "$reason" = TODO ]; then
		printf 'not ok\tmainline %s, series %s: a difference not decided yet (reason TODO)\n' "$m" "$s"
	else
		printf 'ok\tmainline %s, series %s: deliberate (%s)\n' "$m" "$s" "$reason"
	fi
}

tap() {
	local i=0 req verdict text failed=0
	echo "1..${#ORDER[@]}"
	for req in "${ORDER[@]}"; do
		i=$((i + 1))
		IFS=$'\t' read -r verdict text < <(judge "$req")
		echo "$verdict $i - $req: $text"
		[ "$verdict" = ok ] || failed=$((failed + 1))
	done
	[ "$failed" -eq 0 ] || echo "# $failed of ${#ORDER[@]} requests differ from mainline 7.3 other than as documented in ${DIFFERENCES#"$TOP"/}"
	[ "$failed" -eq 0 ]
}

table() {
	local req
	printf '%-42s %-11s %-11s %s\n' request mainline series "documented difference"
	for req in "${ORDER[@]}"; do
		printf '%-42s %-11s %-11s %s\n' "$req" "${REF[$req]:--}" \
			"${GOT[$req]:--}" "${REASON[$req]:-}"
	done
}

main() {
	local mode=tap
	[ "${1:-}" = --table ] && { mode=table; shift; }
	if [ $# -lt 1 ] || [ $# -gt 3 ]; then
		usage
	fi
	SERIES=$1
	REFERENCE=${2:-$REFERENCE}
	DIFFERENCES=${3:-$DIFFERENCES}
	local f
	for f in "$SERIES" "$REFERENCE" "$DIFFERENCES"; do
		[ -f "$f" ] || die "no such file: $f"
	done
	load
	"$mode"
}

main "$@"
