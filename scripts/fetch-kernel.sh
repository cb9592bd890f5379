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

APTDIR=$CACHE/apt
DEBDIR=$CACHE/debs

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

setup_apt() {
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

# Echo the version to download: the pinned one if the archive still has
# it, else the newest one, with a warning naming both.
pick_version() {
	local versions newest
	versions=$(apt_private apt-cache madison "$BASE_PACKAGE" | awk '{print $3}')
	[ -n "$versions" ] || die "no $BASE_PACKAGE in $BASE_SUITES of $BASE_MIRROR"
	if grep -qxF "$BASE_VERSION" <<<"$versions"; then
		echo "$BASE_VERSION"
		return
	fi
	newest=$(sort -V <<<"$versions" | tail -n1)
	warn "pinned $BASE_PACKAGE $BASE_VERSION left the archive; using $newest instead (update ${BASE_CONF#"$TOP"/})"
	echo "$newest"
}

download() {
	local ver=$1 deb=$2 sum
	(cd "$DEBDIR" && retry apt_private apt-get -qq download "$BASE_PACKAGE=$ver") ||
		die "apt-get download $BASE_PACKAGE=$ver failed"
	[ -f "$deb" ] || die "download produced no $deb"
	if [ "$ver" = "$BASE_VERSION" ]; then
		sum=$(sha256sum "$deb" | cut -d' ' -f1)
		if [ "$sum" != "$BASE_SHA256" ]; then
			rm -f "$deb"
			die "sha256 of $BASE_PACKAGE $ver is $sum, ${BASE_CONF#"$TOP"/} pins $BASE_SHA256"
		fi
	fi
}

main() {
	local ver deb tarball
	need_pkgs debian-archive-keyring xz-utils
	mkdir -p "$DEBDIR"
	# A cached tarball of the pinned version needs no network at all.
	tarball=$CACHE/$BASE_PACKAGE-$BASE_VERSION.tar.xz
	if [ ! -f "$tarball" ]; then
		setup_apt
		ver=$(pick_version)
		tarball=$CACHE/$BASE_PACKAGE-$ver.tar.xz
	else
		ver=$BASE_VERSION
	fi
	if [ ! -f "$tarball" ]; then
		deb=$DEBDIR/${BASE_PACKAGE}_${ver}_all.deb
		[ -f "$deb" ] || download "$ver" "$deb"
		log "unpacking $deb"
		dpkg-deb --fsys-tarfile "$deb" |
			tar -xO "./usr/src/$BASE_PACKAGE.tar.xz" >"$tarball.tmp"
		mv "$tarball.tmp" "$tarball"
	fi
	echo "$tarball $ver"
}

main "$@"
