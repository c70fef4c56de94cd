#!/usr/bin/env bash
# Install the Debian 12 packages Synapse builds and tests with, when missing.
# Uses apt-get directly as root, through sudo otherwise.
set -euo pipefail

packages=(build-essential cmake pkg-config git libcurl4-openssl-dev libssl-dev libjansson-dev
          libgit2-dev libmicrohttpd-dev check)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all build dependencies are present"
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
