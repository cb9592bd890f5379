#!/bin/bash
# Download the pinned linux-source-7.2 .deb (base.conf; with BASE=X, the
# package of base-X.conf) with a private apt state (the system's apt
# configuration is never touched), verify it, and leave the kernel tarball
# in the cache. Prints the tarball's path and version.
#
# usage: [BASE=X] scripts/fetch-kernel.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

DEBDIR=$CACHE/debs

main() {
	local ver deb tarball
	need_pkgs debian-archive-keyring xz-utils
	mkdir -p "$DEBDIR"
	# A cached tarball of the pinned version needs no network at all.
	tarball=$CACHE/$BASE_PACKAGE-$BASE_VERSION.tar.xz
	if [ ! -f "$tarball" ]; then
		setup_private_apt
		ver=$(pick_version "$BASE_PACKAGE" "$BASE_VERSION" "${BASE_CONF#"$TOP"/}")
		tarball=$CACHE/$BASE_PACKAGE-$ver.tar.xz
	else
		ver=$BASE_VERSION
	fi
	if [ ! -f "$tarball" ]; then
		deb=$DEBDIR/${BASE_PACKAGE}_${ver}_all.deb
		[ -f "$deb" ] || download_deb "$BASE_PACKAGE" "$ver" "$BASE_VERSION" \
			"$BASE_SHA256" "$deb"
		log "unpacking $deb"
		dpkg-deb --fsys-tarfile "$deb" |
			tar -xO "./usr/src/$BASE_PACKAGE.tar.xz" >"$tarball.tmp"
		mv "$tarball.tmp" "$tarball"
	fi
	echo "$tarball $ver"
}

main "$@"
