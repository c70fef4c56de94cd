#!/usr/bin/env bash
# Install Synapse into a staging prefix, build tests/sdk/hello.c against it with
# pkg-config only, and check that the installed synapse loads it.
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# Naming the (only) component writes install_manifest_Unspecified.txt and leaves
# the install_manifest.txt of a real `cmake --install` alone, for uninstalling.
cmake --install "$build" --prefix "$stage/usr" --component Unspecified > /dev/null
pcdir=$(dirname "$(find "$stage/usr" -name synapse.pc | head -n 1)")
export PKG_CONFIG_PATH=$pcdir
# the .pc file carries the configured prefix: relocate it to the staging copy
pc() { pkg-config --define-variable=prefix="$stage/usr" "$@" synapse; }
[ "$(pc --variable=plugin_abi)" = "1.3" ] || { echo "sdk: plugin_abi missing"; exit 1; }
[ "$(pc --variable=pluginsdir)" = "$(dirname "$pcdir")/synapse/plugins" ] ||
	{ echo "sdk: pluginsdir is $(pc --variable=pluginsdir)"; exit 1; }
cflags=$(pc --cflags)
libs=$(pc --libs)
mkdir -p "$stage/plugins"
# shellcheck disable=SC2086
cc -std=c11 -pedantic -Wall -Wextra -Werror -shared -fPIC $cflags -o "$stage/plugins/hello.so" "$src/hello.c" $libs

# the installed binary finds its own plugins relative to itself, and ours through the path
out=$(SYNAPSE_PLUGIN_PATH=$stage/plugins "$stage/usr/bin/synapse" plugins --json)
echo "$out" | grep -q '"hello"' || { echo "sdk: hello plugin not loaded: $out"; exit 1; }
echo "$out" | grep -q '"comfyui"' || { echo "sdk: installed plugins not found: $out"; exit 1; }
if echo "$out" | grep -q '"reason"'; then echo "sdk: a plugin was skipped: $out"; exit 1; fi
for h in synapse/synapse.h synapse/sys/plugin.h synapse/sys/source.h synapse/sys/ui.h synapse/sys/backend.h; do
	[ -f "$stage/usr/include/$h" ] || { echo "sdk: header $h not installed"; exit 1; }
done
echo "sdk: out-of-tree plugin built with pkg-config and loaded by the installed synapse"
