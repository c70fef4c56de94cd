#!/usr/bin/env bash
# Install the Debian 12 packages Synapse needs, when missing. Works on a
# minimal Debian 12 (debootstrap --variant=minbase) where not even make is
# installed. Uses apt-get directly as root, through sudo otherwise.
#
#   scripts/install-deps.sh           what building, running and testing need
#   scripts/install-deps.sh --build   only what building and running need
set -euo pipefail

# to build and run: the toolchain, the libraries, and the CA certificates
# libcurl needs to talk to Civitai over HTTPS (libyaml: ComfyUI's YAML, soon;
# libmicrohttpd: `synapse serve`)
build_packages=(gcc libc6-dev make cmake pkg-config ca-certificates libcurl4-openssl-dev libssl-dev
                libjansson-dev libgit2-dev libyaml-dev libmicrohttpd-dev)
# to test as well: Check, git to inspect state/, and for the page's test
# (tests/browser) headless Chromium driven from Python 3
test_packages=(check git chromium python3)

case "${1:-}" in
"") packages=("${build_packages[@]}" "${test_packages[@]}") ;;
--build) packages=("${build_packages[@]}") ;;
*) echo "usage: $0 [--build]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all dependencies are present"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "install-deps: missing ${missing[*]} and not root (no sudo); install them and retry" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
