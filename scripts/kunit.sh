#!/bin/bash
# generic_pt's KUnit tests (the series' test_phys_contig among them) the way
# their maintainers run them: tools/testing/kunit/kunit.py on UML with
# drivers/iommu/generic_pt/.kunitconfig, which turns CONFIG_DEBUG_GENERIC_PT
# on. Writes one TAP line per test case to build/results/kunit.tap and
# prints it.
#
# They do not run in the VM: the suite checks that NR_SECONDARY_PAGETABLE
# is back where it was after each case, which only holds when nothing folds
# per-CPU vmstat deltas in between, as on UML but not in a slow TCG guest.
#
# usage: [BASE=X] scripts/kunit.sh
# env: KUNIT_TIMEOUT (test run, default 900 s)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# BASE=X (scripts/lib.sh) tests build/linux-X in build/kbuild/kunit-X, with
# results in build/results/kunit-X.*, so that the bases do not rebuild or
# overwrite each other.
OUT=$BUILD/results/kunit$SFX.tap
JSON=$BUILD/results/kunit$SFX.json
LOG=$BUILD/results/kunit$SFX.log
KBUILD=$BUILD/kbuild/kunit$SFX
# What the base's suite skips on UML by design: test_increase_level where
# the format has no dynamic top level or the VA already fits the starting
# level, test_mixed where the AMDv1 configuration's page sizes or range do
# not allow it.
EXPECTED_SKIPS="
amdv1_iommu_test/test_increase_level/amdv1_cfg_1
amdv1_iommu_test/test_mixed/amdv1_cfg_0
amdv1_iommu_test/test_mixed/amdv1_cfg_1
vtdss_iommu_test/test_increase_level/vtdss_cfg_0
vtdss_iommu_test/test_increase_level/vtdss_cfg_1
vtdss_iommu_test/test_increase_level/vtdss_cfg_2
riscv_64_iommu_test/test_increase_level/riscv_64_cfg_0
riscv_64_iommu_test/test_increase_level/riscv_64_cfg_1
riscv_64_iommu_test/test_increase_level/riscv_64_cfg_2
x86_64_iommu_test/test_increase_level/x86_64_cfg_0
x86_64_iommu_test/test_increase_level/x86_64_cfg_1
x86_64_iommu_test/test_increase_level/x86_64_cfg_2
x86_64_iommu_test/test_increase_level/x86_64_cfg_3
"

# kunit.py's JSON results as TAP: one line per test case, named
# suite/case[/parameter]. The cases in $EXPECTED_SKIPS are parameter
# combinations the base's own suite declares not applicable (a format
# without dynamic top levels, a VA too small to grow): they are left out
# of the count and named in a comment. Any other skip stays a skip, which
# fails 'make check'.
json_to_tap() {
	python3 - "$1" "$EXPECTED_SKIPS" <<'EOF'
import json, sys

def leaves(group, path):
    for sub in group.get("sub_groups", []):
        yield from leaves(sub, path + [sub["name"]])
    for case in group.get("test_cases", []):
        yield "/".join(path + [case["name"]]), case["status"]

expected = set(sys.argv[2].split())
cases, left_out = [], []
for name, status in leaves(json.load(open(sys.argv[1])), []):
    if status == "SKIP" and name in expected:
        left_out.append(name)
    else:
        cases.append((name, status))
print("1..%d" % len(cases))
for n, (name, status) in enumerate(cases, 1):
    if status == "PASS":
        print("ok %d - %s" % (n, name))
    elif status == "SKIP":
        print("ok %d - %s # SKIP" % (n, name))
    else:
        print("not ok %d - %s (%s)" % (n, name, status))
for name in left_out:
    print("# not applicable, skipped by the suite itself: %s" % name)
EOF
}

main() {
	local cc=() rc=0
	[ -d "$TREE/.git" ] || die "no ${TREE#"$TOP"/} tree: run 'make tree' first"
	need_pkgs gcc make flex bison bc python3
	command -v ccache >/dev/null && cc=(--make_options "CC=ccache gcc")
	mkdir -p "$(dirname "$OUT")"
	rm -f "$JSON" "$OUT"
	# Relative paths in ccache's keys let every clone share the cache
	export CCACHE_BASEDIR=$TOP
	(cd "$TREE" && PATH=/usr/bin:$PATH ./tools/testing/kunit/kunit.py run \
		--build_dir "$KBUILD" --kunitconfig drivers/iommu/generic_pt \
		--jobs "$(jobs)" --timeout "${KUNIT_TIMEOUT:-900}" \
		--json="$JSON" "${cc[@]}") >"$LOG" 2>&1 || rc=$?
	[ -s "$JSON" ] ||
		die "kunit.py wrote no results (exit status $rc): $(grep -m1 -iE 'error|fail' "$LOG" || tail -n1 "$LOG") (see $LOG)"
	json_to_tap "$JSON" | tee "$OUT"
	[ "$rc" -eq 0 ] || echo "# kunit.py exited $rc (see $LOG)" | tee -a "$OUT"
}

main "$@"
