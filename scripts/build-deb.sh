#!/bin/sh
# build-deb.sh OUTDIR - build the Debian package from debian/ in a copy of the
# tree (the files git tracks or would track), so that the package build's
# clean step never touches the working tree's build/. The .deb lands in OUTDIR.
set -e
out=$(realpath -m "$1")
cd "$(dirname "$0")/.."
version=$(cat VERSION)
src="$out/vmswitch-$version"
rm -rf "$out"
mkdir -p "$src"
git ls-files --cached --others --exclude-standard |
	while read -r f; do [ ! -e "$f" ] || echo "$f"; done |
	xargs -d '\n' cp --parents -t "$src"
# The build dependencies debian/control names (apt resolves them).
export DEBIAN_FRONTEND=noninteractive
apt-get build-dep -y "$src" >/dev/null 2>&1 ||
	{ apt-get update >/dev/null && apt-get build-dep -y "$src"; }
cd "$src"
dpkg-buildpackage -b -us -uc
ls -1 "$out"/*.deb
