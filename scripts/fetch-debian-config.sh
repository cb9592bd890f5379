#!/bin/bash
# Download the pinned linux-config-7.2 .deb (debian-config.conf) with the
# private apt state of scripts/fetch-kernel.sh, verify it, and unpack
# Debian's amd64 kernel configurations into the cache. Prints the
# directory, then one line per flavour: "FLAVOUR CONFIG-FILE".
#
# usage: scripts/fetch-debian-config.sh
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=debian-config.conf
. "$TOP/debian-config.conf"

DEBDIR=$CACHE/debs

main() {
	local ver deb dir f flavour
	[ $# -eq 0 ] || die "usage: $0 (no arguments)"
	need_pkgs debian-archive-keyring xz-utils
	mkdir -p "$DEBDIR"
	# Configurations of the pinned version, once unpacked, need no network.
	dir=$CACHE/$DEBCONFIG_PACKAGE-$DEBCONFIG_VERSION
	ver=$DEBCONFIG_VERSION
	if [ ! -d "$dir" ]; then
		deb=$DEBDIR/${DEBCONFIG_PACKAGE}_${ver}_amd64.deb
		if [ ! -f "$deb" ]; then
			setup_private_apt
			ver=$(pick_version "$DEBCONFIG_PACKAGE" "$DEBCONFIG_VERSION" debian-config.conf)
			dir=$CACHE/$DEBCONFIG_PACKAGE-$ver
			deb=$DEBDIR/${DEBCONFIG_PACKAGE}_${ver}_amd64.deb
			[ -f "$deb" ] || download_deb "$DEBCONFIG_PACKAGE" "$ver" \
				"$DEBCONFIG_VERSION" "$DEBCONFIG_SHA256" "$deb"
		fi
		log "unpacking $deb"
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp"
		for flavour in $DEBCONFIG_FLAVOURS; do
			f=./usr/src/$DEBCONFIG_PACKAGE/config.amd64_none_$flavour.xz
			dpkg-deb --fsys-tarfile "$deb" | tar -xO "$f" | xz -dc \
				>"$dir.tmp/config.$flavour" ||
				die "$deb has no $f"
		done
		mv "$dir.tmp" "$dir"
	fi
	echo "$dir"
	for flavour in $DEBCONFIG_FLAVOURS; do
		[ -s "$dir/config.$flavour" ] || die "no configuration of flavour $flavour in $dir"
		echo "$flavour $dir/config.$flavour"
	done
}

main "$@"
