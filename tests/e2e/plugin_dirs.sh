#!/usr/bin/env bash
# A binary loads the plugins of its own tree: a build tree's synapse never also
# loads what `cmake --install` put in the prefix, an installed one only its
# prefix's; the compiled-in install directory is the fallback for a binary
# with no plugin directory beside it.
#   plugin_dirs.sh <build dir> <compiled-in plugin dir>
set -euo pipefail
build=$(cd "$1" && pwd)
installdir=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
unset SYNAPSE_PLUGIN_PATH

# Every plugin file that <synapse> loads lies in <dir>, at least six load, none is skipped.
check_tree() {
	local synapse=$1 dir=$2 out files
	out=$("$synapse" plugins --json 2> "$stage/stderr")
	if [ -s "$stage/stderr" ]; then echo "plugin_dirs: $synapse warned: $(cat "$stage/stderr")"; exit 1; fi
	if echo "$out" | grep -q '"reason"'; then echo "plugin_dirs: $synapse skipped a plugin: $out"; exit 1; fi
	files=$(echo "$out" | sed -n 's/^ *"file": "\(.*\)",\{0,1\}$/\1/p')
	[ "$(echo "$files" | grep -c .)" -ge 6 ] || { echo "plugin_dirs: $synapse loaded too few: $out"; exit 1; }
	if echo "$files" | grep -v "^$dir/"; then echo "plugin_dirs: $synapse loaded plugins outside $dir"; exit 1; fi
}

# Naming the (only) component writes install_manifest_Unspecified.txt and leaves
# the install_manifest.txt of a real `cmake --install` alone, for uninstalling.
cmake --install "$build" --prefix "$stage/usr" --component Unspecified > /dev/null
staged=$(dirname "$(find "$stage/usr" -name comfyui.so | head -n 1)")

check_tree "$build/bin/synapse" "$build/lib/synapse/plugins"
check_tree "$stage/usr/bin/synapse" "$staged"

# The same with the install directory holding plugins: use the real one if
# something is installed there, otherwise (as root) fill an empty one in a
# private mount namespace.
if [ -d "$installdir" ]; then
	check_tree "$build/bin/synapse" "$build/lib/synapse/plugins"
	check_tree "$stage/usr/bin/synapse" "$staged"
	echo "plugin_dirs: $installdir exists and was not loaded"
	exit 0
fi
base=$installdir
while [ ! -d "$base" ]; do base=$(dirname "$base"); done
case $base/ in
/ | /usr/ | "$build"/* | "$stage"/* | "${TMPDIR:-/tmp}"/*) base= ;;
esac
case $build/ in "$base"/*) base= ;; esac
case $stage/ in "$base"/*) base= ;; esac
if [ -z "$base" ] || [ "$(id -u)" -ne 0 ] || ! unshare --mount --propagation private true 2> /dev/null; then
	echo "plugin_dirs: own trees checked; $installdir not filled (needs root, unshare, and a parent that may be hidden)"
	exit 0
fi
# a binary with libsynapse beside it but no plugin directory: it uses the install directory
mkdir -p "$stage/bare/bin" "$stage/bare/lib"
cp "$build/bin/synapse" "$stage/bare/bin/"
cp -P "$build"/lib/libsynapse.so* "$stage/bare/lib/"
export build stage staged installdir base
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --mount --propagation private bash -euc '
	mount -t tmpfs synapse-test "$base"
	mkdir -p "$installdir"
	cp -r "$staged"/. "$installdir"/
	'"$(declare -f check_tree)"'
	check_tree "$build/bin/synapse" "$build/lib/synapse/plugins"
	check_tree "$stage/usr/bin/synapse" "$staged"
	check_tree "$stage/bare/bin/synapse" "$installdir"
'
echo "plugin_dirs: each binary loaded its own tree's plugins, the install directory only as the fallback"
