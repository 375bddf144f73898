#!/bin/sh
# install-deps.sh PKG... - apt-get install the Debian packages not installed yet.
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y $missing >/dev/null 2>&1 ||
	{ apt-get update >/dev/null && apt-get install -y $missing; }
