#!/bin/bash
# 'make deps', which every target of the Makefile runs first: install the
# Debian packages that any step needs, those missing, with one
# apt-get install from the system's configured archive (the base kernel
# and Debian's configurations come later, through the private apt state
# of scripts/fetch-*.sh). Scripts check for theirs with need_pkgs.
#
# usage: scripts/deps.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

PKGS=(
	# fetching the base kernel and Debian's configurations
	debian-archive-keyring xz-utils
	# kernel builds (build-kernel.sh, kconfig-debian.sh, KUnit on UML)
	gcc make flex bison bc libelf-dev libssl-dev ccache cpio binutils python3
	# the Kconfig matrix's 32-bit RISC-V cases
	gcc-riscv64-linux-gnu
	# checkpatch.sh: the series applies with quilt too
	quilt
	# the VM (vm-run.sh, guest-init.sh) and the test programs
	qemu-system-x86 busybox-static uuid-dev libcap-dev util-linux kmod
	# dpdk-testpmd, the legacy group path's client, and its e1000 driver
	dpdk-dev librte-net-e1000-23
)

main() {
	local missing sudo=()
	[ $# -eq 0 ] || die "usage: $0 (no arguments)"
	missing=$(missing_pkgs "${PKGS[@]}")
	[ -n "$missing" ] || return 0
	# shellcheck disable=SC2086 # one package a word
	set -- $missing
	log "installing $*"
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	retry "${sudo[@]}" apt-get update -qq ||
		die "apt-get update failed; check the network to Debian's archive"
	retry "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "$@" \
		>/dev/null || die "apt-get install $* failed"
}

main "$@"
