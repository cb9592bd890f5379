#!/bin/bash
# Host side of 'make bench': build bench/getpa_bench.c once, then boot
# each kernel below in turn, with 2M and 1G hugepages reserved, bind
# QEMU's edu device to vfio-pci and time IOMMU_IOAS_NOIOMMU_GET_PA against
# /proc/self/pagemap. build/bench.md gets a summary table, the kernels
# side by side, then each kernel's full table. Prints it and, last, its
# path.
#
# The timings are reported, never judged: this fails only if the benchmark
# could not run or GET_PA and pagemap disagreed (the other kernels still
# run and are tabulated).
#
# usage: scripts/bench.sh [-r REPS] [-s MIB[,MIB...]]
#   -r REPS  timed repetitions per figure (default 5)
#   -s MIB   buffer sizes in MiB (default 64,1024)
# both passed to every kernel's run. In the guest, vm-run.sh runs this
# script again with --guest.
#
# The kernels, in this order ('make bench' builds all three):
#   series     7.2 with patches/: build/kbuild/vm/arch/x86/boot/bzImage
#              (make kernel)
#   mainline   7.3 as released: build/kbuild/base-7.3-bzImage (made by
#              BASE=7.3 scripts/bisect-check.sh; make bench)
#   follow-up  7.3 with patches-7.3/: build/kbuild/vm-7.3/arch/x86/boot/bzImage
#              (make kernel-7.3)
# All run the same program, built against the 7.2 series' UAPI headers
# (GET_PA's ABI is the same on the three).
#
# env: BENCH_KERNELS (the kernels to boot, in order, default "series
#      mainline follow-up"; NAME=BZIMAGE boots BZIMAGE instead, titled as
#      NAME if NAME is one of the three, e.g. "mainline=/tmp/bzImage", else
#      as NAME, e.g. "series old=/tmp/bzImage.old" to compare with a saved
#      build), BENCH_TIMEOUT (each VM run, default 1800 s), BENCH_MEM (guest
#      MB, default 6144), VM_VERBOSE=1 (show the consoles)
set -euo pipefail
# The program is built against the 7.2 series, whatever BASE says
BASE=7.2
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
BIN=$BUILD/bench/getpa_bench
TABLE=$BUILD/bench.md

# The known kernels: title, bzImage and which make target builds it
declare -A TITLE=([series]="7.2 series" [mainline]="mainline 7.3"
	[follow-up]="7.3 follow-up")
declare -A IMAGE=([series]=$BUILD/kbuild/vm/arch/x86/boot/bzImage
	[mainline]=$BUILD/kbuild/base-7.3-bzImage
	[follow-up]=$BUILD/kbuild/vm-7.3/arch/x86/boot/bzImage)
declare -A MAKER=([series]="'make kernel' builds it ('make bench' all three)"
	[mainline]="'make bench' builds it, with the other two"
	[follow-up]="'make kernel-7.3' builds it ('make bench' all three)")

usage() {
	echo "usage: $0 [-r REPS] [-s MIB[,MIB...]]" >&2
	exit 2
}

# In the guest: edu to vfio-pci, then the benchmark; its table goes to
# $VM_OUT/bench.md, its summary to $VM_OUT/summary, its output (errors
# included) to $VM_OUT/report.txt.
guest_main() {
	local bdf
	# shellcheck source-path=SCRIPTDIR source=../tests/guest/lib.sh
	. "$TOP/tests/guest/lib.sh"
	{
		bdf=$(edu_bdf)
		bind_vfio_pci "$bdf"
		"$BIN" -o "$VM_OUT/bench.md" -S "$VM_OUT/summary" "$@" "$bdf"
	} 2>&1 | tee "$VM_OUT/report.txt"
}

# BENCH_KERNELS into NAMES, TITLES and IMAGES (one entry per kernel);
# every image must exist before the first boot.
select_kernels() {
	local entry name image words=()
	[ -z "${BENCH_KERNEL:-}" ] ||
		die "BENCH_KERNEL is gone: say BENCH_KERNELS='series old=$BENCH_KERNEL' (see $0)"
	read -ra words <<<"${BENCH_KERNELS-series mainline follow-up}"
	[ ${#words[@]} -gt 0 ] || die "BENCH_KERNELS is empty: name a kernel (see $0)"
	NAMES=() TITLES=() IMAGES=()
	for entry in "${words[@]}"; do
		name=${entry%%=*}
		[[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] ||
			die "BENCH_KERNELS: bad name '$name' in '$entry' (letters, digits, . _ -)"
		[[ " ${NAMES[*]} " != *" $name "* ]] ||
			die "BENCH_KERNELS names $name twice"
		if [ "$entry" != "$name" ]; then
			image=${entry#*=}
			[ -f "$image" ] || die "BENCH_KERNELS: no kernel image $image ($name)"
		elif [ -n "${IMAGE[$name]:-}" ]; then
			image=${IMAGE[$name]}
			[ -f "$image" ] ||
				die "no ${image#"$TOP"/} (${TITLE[$name]}): ${MAKER[$name]}"
		else
			die "BENCH_KERNELS: unknown kernel '$name' (series, mainline, follow-up, or NAME=BZIMAGE)"
		fi
		NAMES+=("$name")
		TITLES+=("${TITLE[$name]:-$name}")
		IMAGES+=("$image")
	done
}

# run_kernel NAME TITLE BZIMAGE ARGS...: one boot, the benchmark with ARGS
# in it; its results in $BUILD/vm/bench-NAME/.
run_kernel() {
	local name=$1 title=$2 image=$3 rc=0 start=$SECONDS out log
	shift 3
	out=$BUILD/vm/bench-$name
	log=$BUILD/vm/bench-$name.log
	log "$title: booting $image (${BENCH_MEM} MB, ${HUGEPAGES_2M}x2M + ${HUGEPAGES_1G}x1G hugepages) for the benchmark (console: $log)"
	"$TOP/scripts/vm-run.sh" --kernel "$image" \
		--timeout "$BENCH_TIMEOUT" --log "$log" \
		--out "$out" --mem "$BENCH_MEM" --hugepages "$HUGEPAGES_2M" \
		--append "hugepagesz=1G hugepages=$HUGEPAGES_1G" \
		-- scripts/bench.sh --guest "$@" || rc=$?
	if [ "$rc" -ne 0 ]; then
		[ -s "$out/report.txt" ] && tail -n 20 "$out/report.txt" >&2
		warn "$title: the benchmark failed (exit status $rc; console log $log)"
		return 1
	fi
	if [ ! -s "$out/bench.md" ] || [ ! -s "$out/summary" ]; then
		warn "$title: the benchmark wrote no table or summary in $out (console log $log)"
		return 1
	fi
	log "$title: benchmark ran in $((SECONDS - start))s"
}

# summary_table TITLES FILE...: the markdown table of the summaries FILE
# (getpa_bench -S; /dev/null for a kernel that failed), one column each,
# titled by TITLES ("|"-separated).
summary_table() {
	local titles=$1
	shift
	awk -v titles="$titles" '
	function fmt(x) { return x + 0 >= 100 ? sprintf("%.0f", x) : sprintf("%.3g", x) }
	# A row: label, then key k of each kernel (ms or ns), or the ratio
	# of key k over key d in bold
	function row(label, k, d,    i, c) {
		printf "| %s |", label
		for (i = 1; i <= n; i++) {
			c = "-"
			if (d != "" && (i, k) in v && v[i, d] + 0 > 0)
				c = "**" fmt(v[i, k] / v[i, d]) "**"
			else if (d == "" && (i, k) in v)
				c = fmt(v[i, k])
			if (k == "2m_getpa_ms" && (i, "2m_mib") in v &&
			    v[i, "2m_mib"] + 0 != v[i, "size_mib"] + 0)
				c = c " (" v[i, "2m_mib"] " MiB)"
			printf " %s |", c
		}
		print ""
	}
	BEGIN {
		n = split(titles, title, "|")
		size = "?"
		for (i = 1; i <= n; i++) {
			while ((getline line < ARGV[i]) > 0) {
				k = line; sub(/ .*/, "", k)
				sub(/^[^ ]* /, "", line)
				v[i, k] = line
			}
			close(ARGV[i])
			if ((i, "size_mib") in v) {
				size = v[i, "size_mib"]
				reps = v[i, "reps"]
			}
		}
		printf "Medians%s. Ratios in bold: bulk ÷ GET_PA is how many times faster GET_PA resolves a whole 2M-hugetlb buffer than one bulk pread of /proc/self/pagemap (below 1: slower); 2M leaf ÷ 4K leaf is what one GET_PA answered from a 2M page-table leaf costs against one from a 4K leaf (a walk per 4K page: about 512). The targets of the 7.3 follow-up: at least 10 and at most 2. Reported, not judged.\n\n",
			reps ? " of " reps " timed repetitions" : ""
		printf "| median |"
		for (i = 1; i <= n; i++)
			printf " %s |", title[i]
		printf "\n|---|"
		for (i = 1; i <= n; i++)
			printf "---:|"
		print ""
		printf "| kernel |"
		for (i = 1; i <= n; i++)
			printf " %s |", (i, "release") in v ? v[i, "release"] : "failed"
		print ""
		row("2M hugetlb, " size " MiB: GET_PA, whole buffer (ms)", "2m_getpa_ms")
		row("2M hugetlb, " size " MiB: pagemap, one bulk pread (ms)", "2m_bulk_ms")
		row("**GET_PA is N x faster than pagemap**: bulk ÷ GET_PA (target ≥ 10)", "2m_bulk_ms", "2m_getpa_ms")
		row("one GET_PA from a 4K leaf (ns)", "leaf_4k_ns")
		row("one GET_PA from a 2M leaf (ns)", "leaf_2m_ns")
		row("one GET_PA from a 1G leaf (ns)", "leaf_1g_ns")
		row("**one GET_PA, 2M leaf ÷ 4K leaf** (target ≤ 2)", "leaf_2m_ns", "leaf_4k_ns")
	}' "$@"
}

# build/bench.md: the summary, then each kernel's table. $OK[i] says
# whether kernel i ran.
write_table() {
	local i titles summaries=()
	for i in "${!NAMES[@]}"; do
		if [ "${OK[i]}" = 1 ]; then
			summaries+=("$BUILD/vm/bench-${NAMES[i]}/summary")
		else
			summaries+=(/dev/null)
		fi
	done
	titles=$(IFS='|' && echo "${TITLES[*]}")
	{
		echo "# GET_PA vs /proc/self/pagemap: ${titles//|/, }"
		echo
		summary_table "$titles" "${summaries[@]}"
		for i in "${!NAMES[@]}"; do
			echo
			echo "# ${TITLES[i]}"
			echo
			echo "Kernel image: ${IMAGES[i]#"$TOP"/}."
			echo
			if [ "${OK[i]}" = 1 ]; then
				cat "$BUILD/vm/bench-${NAMES[i]}/bench.md"
			else
				echo "The benchmark failed: see $BUILD/vm/bench-${NAMES[i]}.log."
			fi
		done
	} >"$TABLE"
}

host_main() {
	local i start=$SECONDS failed=()
	select_kernels
	build_uapi_program bench/getpa_bench.c "$BIN"
	rm -f "$TABLE"
	OK=()
	for i in "${!NAMES[@]}"; do
		OK[i]=0
		if run_kernel "${NAMES[i]}" "${TITLES[i]}" "${IMAGES[i]}" "$@"; then
			OK[i]=1
		else
			failed+=("${TITLES[i]}")
		fi
	done
	write_table
	echo
	cat "$TABLE"
	echo
	log "the benchmark ran on ${#NAMES[@]} kernel(s) in $((SECONDS - start))s"
	[ ${#failed[@]} -eq 0 ] ||
		die "the benchmark failed on: $(IFS=, && echo "${failed[*]}") (the table of what ran: $TABLE)"
	echo "$TABLE"
}

# What getpa_bench takes for -s: even MiB counts >= 2, ascending, at most 8
sizes_ok() {
	local mib prev=0 list=()
	[[ "$1" =~ ^[0-9]{1,7}(,[0-9]{1,7})*$ ]] || return 1
	IFS=, read -ra list <<<"$1"
	[ ${#list[@]} -le 8 ] || return 1
	for mib in "${list[@]}"; do
		mib=$((10#$mib))
		[ $((mib % 2)) -eq 0 ] && [ "$mib" -gt "$prev" ] || return 1
		prev=$mib
	done
}

# -r REPS and -s MIB, each with a value getpa_bench takes, and nothing
# else: checked here rather than after a boot.
host_args() {
	while [ $# -gt 0 ]; do
		[ $# -ge 2 ] || usage
		case "$1" in
		-r)
			if [[ ! "$2" =~ ^[0-9]{1,3}$ ]] || ((10#$2 < 1 || 10#$2 > 101)); then
				die "-r wants 1 to 101 repetitions, got '$2'"
			fi
			;;
		-s)
			sizes_ok "$2" ||
				die "-s wants at most 8 even MiB counts >= 2, ascending, comma-separated; got '$2'"
			;;
		*) usage ;;
		esac
		shift 2
	done
}

vm_script_main "$@"
