#!/usr/bin/env bash
# Check the README's two commands on a minimal Debian 12: bootstrap one
# (debootstrap --variant=minbase bookworm, where not even make is installed),
# copy this checkout into it, and run there, as root, `./run --version` and
# `./run` (the main job), then `./run-tests` (the test command).
#
#   sudo scripts/check-minimal-debian.sh [DIR]     DIR defaults to /tmp/deb12
#
# MIRROR overrides the Debian mirror (default: the one apt uses here). An
# existing DIR is reused (remove it for a fresh check). Not part of CI: it needs root and a mirror.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/tmp/deb12}
[ -x "$top/run-tests" ] || { echo "check-minimal-debian: $top is not a Synapse checkout" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "check-minimal-debian: run it as root" >&2; exit 1; }

if [ -z "${MIRROR:-}" ]; then
	MIRROR=$(grep -hoE '(URIs:|^deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2> /dev/null |
		awk '{ print $2; exit }' || true)
	MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
command -v debootstrap > /dev/null || apt-get install -y -qq --no-install-recommends debootstrap
if [ ! -x "$root/usr/bin/apt-get" ]; then
	echo "check-minimal-debian: bootstrapping a minimal Debian 12 in $root from $MIRROR"
	debootstrap --variant=minbase bookworm "$root" "$MIRROR"
fi

# the checkout without its build trees
rm -rf "$root/src"
mkdir -p "$root/src"
tar -C "$top" --exclude=./.git --exclude=./build --exclude='./build-*' -cf - . | tar -C "$root/src" -xf -
cp /etc/resolv.conf "$root/etc/resolv.conf"

mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
trap 'umount "$root/dev" "$root/proc"' EXIT

# shellcheck disable=SC2016 # expanded inside the chroot
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	TERM=dumb LANG=C.UTF-8 /bin/bash -euc '
	cd /src
	for t in make cmake gcc pkg-config; do
		if command -v $t > /dev/null; then echo "check-minimal-debian: $t: installed"; else echo "check-minimal-debian: $t: not installed"; fi
	done
	./run --version
	time ./run
	time ./run-tests
'
echo "check-minimal-debian: both commands passed on a minimal Debian 12"
