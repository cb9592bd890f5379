# shellcheck shell=bash
# The TAP tally of scripts/check.sh. Source, do not execute.
#
# judge_tap adds a TAP file's results to the totals PASSED, FAILED and
# SKIPPED, printing a line "# NAME: N ok, N not ok, N skipped of N" and a
# "not ok - ..." line for each result that is not a pass and for anything
# wrong with the file as a whole; fail and pass add results of the
# caller's own. tap_total prints the final "N passed, N failed, N
# skipped" and fails on any failure or skip. Nothing here knows what a
# step is: the caller names each file and what it expects of it.

PASSED=0
FAILED=0
SKIPPED=0

# fail TEXT: one failed result of the caller's own.
fail() {
	echo "not ok - $*"
	FAILED=$((FAILED + 1))
}

# pass TEXT: one passed result of the caller's own.
pass() {
	echo "ok - $*"
	PASSED=$((PASSED + 1))
}

# tap_counts FILE: print "plan results ok notok skip exit bailout".
tap_counts() {
	awk '
	/^1\.\.[0-9]+/ { plan = substr($1, 4) + 0 }
	/^(not )?ok( |$)/ {
		results++
		if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) skip++
		else if ($1 == "ok") ok++
		else notok++
	}
	/^Bail out!/ { bail = 1 }
	/^# exit status [0-9]+$/ { status = $4 }
	END { printf "%d %d %d %d %d %d %d\n", plan, results, ok, notok, skip, status, bail }
	' "$1"
}

# judge_tap NAME FILE [EXPECTED]: add a program's results to the totals.
# Without EXPECTED, the count is the program's own plan ("1..N": the
# kselftest harness prints it before the first test), so a program that
# dies before printing all its results still fails, one failure per
# missing result; one that prints no plan fails too.
judge_tap() {
	local name=$1 file=$2 expected=${3:-} plan results ok notok skip status bail
	if [ ! -f "$file" ]; then
		fail "$name: no TAP output ($file missing: crashed or never ran)"
		FAILED=$((FAILED + (${expected:-0} > 1 ? expected - 1 : 0)))
		return
	fi
	read -r plan results ok notok skip status bail < <(tap_counts "$file")
	# Skipped results are listed as well: they fail the run too.
	grep -E '^(not )?ok' "$file" | grep -E '^not ok|#[[:space:]]*[Ss][Kk][Ii][Pp]' |
		awk -v name="$name" '{ print name ": " $0 }' || true
	PASSED=$((PASSED + ok))
	FAILED=$((FAILED + notok))
	SKIPPED=$((SKIPPED + skip))
	if [ -z "$expected" ]; then
		if ! grep -qE '^1\.\.[0-9]+' "$file"; then
			fail "$name: no TAP plan (1..N), $results results: it died before its first test or prints no plan (see $file)"
			return
		fi
		expected=$plan
		if [ "$plan" -eq 0 ]; then
			fail "$name: its plan is 1..0: no test ran (see $file)"
			return
		fi
	fi
	# Missing results count as failures, one each; otherwise one more
	# failure for a wrong count, a bail-out or a bad exit status.
	[ "$bail" -eq 0 ] || echo "# $name: $(grep -m1 '^Bail out!' "$file")"
	if [ "$results" -lt "$expected" ]; then
		fail "$name: $results results, expected $expected (plan $plan)"
		FAILED=$((FAILED + expected - results - 1))
	elif [ "$results" -ne "$expected" ] || [ "$plan" -ne "$expected" ]; then
		fail "$name: $results results and plan $plan, expected $expected"
	elif [ "$bail" -eq 1 ]; then
		fail "$name: bailed out"
	elif [ "$status" -ne 0 ] && [ "$notok" -eq 0 ]; then
		fail "$name: exited $status although every result was ok"
	fi
	echo "# $name: $ok ok, $notok not ok, $skip skipped of $expected"
}

# tap_total: the final line; fails if anything failed or was skipped.
# Every test judged can run where it ran: a skip is a failure.
tap_total() {
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	[ "$FAILED" -eq 0 ] && [ "$SKIPPED" -eq 0 ]
}
