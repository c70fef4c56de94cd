#!/usr/bin/env bash
# Check that the modules of libsynapse call each other without a cycle.
#
# A module is one core/src/<name>.c. Module A depends on module B when A's
# object file uses a symbol B's defines: the graph of real calls, whatever the
# headers say. tsort(1) finds any loop in it. Prints the graph with -v.
#
# usage: scripts/check-layers.sh BUILD_DIR [-v]
set -euo pipefail

build=${1:?usage: check-layers.sh BUILD_DIR [-v]}
# libsynapse is a target of the top-level CMakeLists.txt: its objects are in
# the same place in every build tree (Release, sanitizers, any generator).
objdir="$build/CMakeFiles/synapse.dir/core/src"
srcdir="$(cd "$(dirname "$0")/../core/src" && pwd)"
[ -d "$objdir" ] || { echo "check-layers: no objects in $objdir; build first" >&2; exit 2; }

defs=$(mktemp) uses=$(mktemp) edges=$(mktemp)
trap 'rm -f "$defs" "$uses" "$edges"' EXIT

for o in "$objdir"/*.c.o; do
	m=$(basename "$o" .c.o)
	# an object left behind by a source file that is gone is no module
	[ -f "$srcdir/$m.c" ] || continue
	nm -g --defined-only "$o" | awk -v m="$m" 'NF == 3 { print m, $3 }' >>"$defs"
	nm -g --undefined-only "$o" | awk -v m="$m" '{ print m, $NF }' >>"$uses"
done
awk 'NR == FNR { def[$2] = $1; next } ($2 in def) && def[$2] != $1 { print $1, def[$2] }' \
	"$defs" "$uses" | sort -u >"$edges"

[ "${2:-}" = "-v" ] && sed 's/ / -> /' "$edges"

if ! out=$(tsort "$edges" 2>&1 >/dev/null) || [ -n "$out" ]; then
	echo "check-layers: the modules of core/src call each other in a circle:" >&2
	echo "$out" | awk '/input contains a loop/ { if (loop) print "  " loop; loop = ""; next }
		{ sub(/^tsort: /, ""); loop = loop ? loop " -> " $0 : $0 }
		END { if (loop) print "  " loop }' | sort -u >&2
	echo "(module A -> B means A calls B; run with -v for the whole graph)" >&2
	exit 1
fi
echo "check-layers: $(cut -d' ' -f1 "$edges" | sort -u | wc -l) modules, $(wc -l <"$edges") dependencies, no cycle"
