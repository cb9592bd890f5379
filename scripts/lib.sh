# shellcheck shell=bash
# Common helpers for the noiommu-cdev tooling. Source, do not execute.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# NOIOMMU_BUILD, NOIOMMU_TREE: other build/ and build/linux directories.
BUILD=${NOIOMMU_BUILD:-$TOP/build}
# Downloads live outside the repository so that a new clone reuses them.
# shellcheck disable=SC2034 # used by the scripts that source this file
CACHE=${NOIOMMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/noiommu-cdev}

# The base kernel to work on. Unset (or 7.2): Debian's linux-source-7.2,
# base.conf, the tree build/linux and the series patches/. BASE=X for
# another one: base-X.conf, build/linux-X and patches-X/ (BASE=7.3, the
# mainline that merged the feature, for the follow-up series).
# shellcheck disable=SC2034 # used by the scripts that source this file
# SFX tells the bases' outputs apart: "" for 7.2, "-X" for BASE=X, in the
# names of VM kernel builds (KNAME: build/kbuild/vm, vm-7.3), of results
# (build/results/bisect.tap, bisect-7.3.tap) and of test programs
# (build/tests, build/tests-7.3).
case "${BASE:-}" in
"" | 7.2)
	BASE_CONF=$TOP/base.conf
	TREE=${NOIOMMU_TREE:-$BUILD/linux}
	PATCHES=$TOP/patches
	SFX=
	;;
*[!0-9.]* | .* | *.)
	echo "error: BASE wants a kernel version such as 7.3, got '$BASE'" >&2
	exit 1
	;;
*)
	BASE_CONF=$TOP/base-$BASE.conf
	TREE=${NOIOMMU_TREE:-$BUILD/linux-$BASE}
	PATCHES=$TOP/patches-$BASE
	SFX=-$BASE
	;;
esac
# shellcheck disable=SC2034 # used by the scripts that source this file
KNAME=vm$SFX
if [ ! -f "$BASE_CONF" ]; then
	echo "error: BASE=$BASE: no ${BASE_CONF#"$TOP"/} (bases: 7.2 $(find "$TOP" -maxdepth 1 -name 'base-*.conf' -printf '%f\n' | sed 's/^base-//; s/\.conf$//' | sort -V | paste -sd' '))" >&2
	exit 1
fi

# shellcheck source=base.conf
. "$BASE_CONF"

# Single-line error and non-zero exit.
die() {
	echo "error: $*" >&2
	exit 1
}

warn() {
	echo "warning: $*" >&2
}

log() {
	echo "==> $*" >&2
}

# Run "$@" up to 4 times, backing off, for transient archive errors.
retry() {
	local n
	for n in 1 2 3 4; do
		"$@" && return 0
		[ "$n" = 4 ] && return 1
		warn "'$1' failed (attempt $n), retrying in $((n * 5))s"
		sleep $((n * 5))
	done
}

# The Debian packages named in "$@" that are not installed.
missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "ok installed" || echo "$p"
	done
}

# Packages are installed by one step, 'make deps' (scripts/deps.sh), that
# every target of the Makefile runs first; a script names what it uses
# here, and stops with one line if the step was skipped.
need_pkgs() {
	local missing
	missing=$(missing_pkgs "$@")
	[ -z "$missing" ] ||
		die "missing Debian packages: ${missing//$'\n'/ }: run 'make deps'"
}

# The directories the series' C code lives in, the only ones compiled
# with W=1 (scripts/build-kernel.sh SERIES_W1=1): elsewhere W=1 warns
# about code the series does not touch and runs kernel-doc on every
# object (a cold VM kernel: 10.3 min with W=1 everywhere, 10.0 without,
# measured 2026-12-02).
# shellcheck disable=SC2034 # used by the scripts that source this file
SERIES_DIRS=(drivers/iommu drivers/vfio)

# Number of parallel jobs for make.
jobs() {
	nproc
}

# The "file: warning: text [-Wflag]" lines (and errors) of build log $1,
# sorted and without line and column, which patches shift: two builds'
# lists compare with comm(1).
build_warnings() {
	grep -E '(warning|error):' "$1" |
		sed -E 's/^([^:]+):[0-9]+(:[0-9]+)?:/\1:/' | sort -u || true
}

# acpi_text_range KBUILD: "START END" (hex) of the text of drivers/acpi in
# the kernel built in KBUILD, the longest run of consecutive System.map
# text symbols that drivers/acpi defines (names alone can collide). The
# in-VM suite keeps fault injection out of it (FAULT_REJECT of
# tests/guest/run-tests.sh, passed by scripts/guest-suite.sh).
acpi_text_range() {
	local kb=$1 syms
	syms=$(nm --defined-only "$kb/drivers/acpi/built-in.a") ||
		die "cannot list the symbols of $kb/drivers/acpi/built-in.a"
	awk 'NR == FNR { if ($2 ~ /^[Tt]$/) acpi[$3] = 1; next }
	     $2 !~ /^[Tt]$/ { next }
	     $3 in acpi { if (!n++) s = $1; next }
	     { if (n > best) { best = n; bs = s; be = $1 } n = 0 }
	     END { if (!best) exit 1; print "0x" bs, "0x" be }' \
		<(echo "$syms") "$kb/System.map" ||
		die "no drivers/acpi text found in $kb/System.map"
}

# Indent stdin as TAP diagnostics.
tap_diag() {
	sed 's/^/#   /'
}

# Compile the userspace program $1 (a path under the repository) into $2
# against the VM kernel's UAPI headers (IOMMU_IOAS_NOIOMMU_GET_PA), which
# tests/Makefile installs without a kernel build.
build_uapi_program() {
	local khdr=$BUILD/kbuild/$KNAME/usr/include
	need_pkgs gcc
	if ! grep -qs IOMMU_IOAS_NOIOMMU_GET_PA "$khdr/linux/iommufd.h"; then
		log "installing the VM kernel's UAPI headers"
		make -s -C "$TOP/tests" BASE="${BASE:-7.2}" "$khdr/.stamp" ||
			die "cannot install UAPI headers into $khdr: run 'make kernel' first"
		grep -qs IOMMU_IOAS_NOIOMMU_GET_PA "$khdr/linux/iommufd.h" ||
			die "$khdr/linux/iommufd.h has no IOMMU_IOAS_NOIOMMU_GET_PA: is the series applied in $TREE? (make tree)"
	fi
	mkdir -p "$(dirname "$2")"
	log "building $1"
	gcc -O2 -g -Wall -Wextra -Werror -isystem "$khdr" -o "$2" "$TOP/$1"
}

# main() of a script that boots the VM kernel and that vm-run.sh runs
# again in the guest with --guest first (scripts/bench.sh, demo.sh):
# "--guest ARGS" runs the script's guest_main ARGS (in the VM only),
# anything else its host_main, after its host_args has checked the
# arguments (calling its usage on a wrong one).
vm_script_main() {
	if [ "${1:-}" = --guest ]; then
		shift
		[ -n "${VM_OUT:-}" ] || die "--guest is for the VM: run $0 without it"
		guest_main "$@"
		return
	fi
	host_args "$@"
	host_main "$@"
}

# --- Debian's archive with a private apt state (scripts/fetch-*.sh) ---
# The suites and mirror of base.conf; the system's apt configuration is
# never touched.
APTDIR=$CACHE/apt

apt_private() {
	local tool=$1
	shift
	"$tool" -o Dir::Etc::SourceList="$APTDIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State="$APTDIR/state" \
		-o Dir::State::Lists="$APTDIR/lists" \
		-o Dir::State::status="$APTDIR/state/status" \
		-o Dir::Cache="$APTDIR/cache" \
		-o APT::Sandbox::User=root \
		-o Debug::NoLocking=1 "$@"
}

setup_private_apt() {
	local s
	mkdir -p "$APTDIR"/{state,lists/partial,cache/archives/partial}
	touch "$APTDIR/state/status"
	: >"$APTDIR/sources.list"
	for s in $BASE_SUITES; do
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $BASE_MIRROR $s main" \
			>>"$APTDIR/sources.list"
	done
	retry apt_private apt-get -qq update ||
		die "cannot read the package lists of $BASE_MIRROR ($BASE_SUITES)"
}

# pick_version PACKAGE PINNED CONF: echo the version to download, the
# pinned one (of file CONF) if the archive still has it, else the newest
# one, with a warning naming both.
pick_version() {
	local pkg=$1 pinned=$2 conf=$3 versions newest
	versions=$(apt_private apt-cache madison "$pkg" | awk '{print $3}')
	[ -n "$versions" ] || die "no $pkg in $BASE_SUITES of $BASE_MIRROR"
	if grep -qxF "$pinned" <<<"$versions"; then
		echo "$pinned"
		return
	fi
	newest=$(sort -V <<<"$versions" | tail -n1)
	warn "pinned $pkg $pinned left the archive; using $newest instead (update $conf)"
	echo "$newest"
}

# download_deb PACKAGE VERSION PINNED SHA256 DEB: download PACKAGE=VERSION
# as DEB (apt's file name); the pinned version must have the pinned sha256.
download_deb() {
	local pkg=$1 ver=$2 pinned=$3 want=$4 deb=$5 sum
	(cd "$(dirname "$deb")" && retry apt_private apt-get -qq download "$pkg=$ver") ||
		die "apt-get download $pkg=$ver failed"
	[ -f "$deb" ] || die "download produced no $deb"
	if [ "$ver" = "$pinned" ]; then
		sum=$(sha256sum "$deb" | cut -d' ' -f1)
		if [ "$sum" != "$want" ]; then
			rm -f "$deb"
			die "sha256 of $pkg $ver is $sum, the pin is $want"
		fi
	fi
}
