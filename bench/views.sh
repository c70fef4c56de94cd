#!/usr/bin/env bash
# View benchmarks (SPEC §9):
#  - `synapse use` and `synapse back` of an already built view, whole CLI
#    process, in a store of 1,000 packs of 10 files (target < 20 ms each);
#  - building a view of N files against a bare C loop making N symlinks in the
#    same run and filesystem, N = 10,000 and 100,000 (target <= 1.5x).
#
#   bench/views.sh [BUILD_DIR]      SYN_BENCH_RUNS (default 20) use/back pairs
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
runs=${SYN_BENCH_RUNS:-20}
scratch=$(mktemp -d /var/tmp/synapse-bench-views.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
synapse=$build/bin/synapse
bench=$build/bin/syn-bench
ms() { echo "($2 - $1) * 1000" | bc -l; }

echo "bench: making 1,000 packs of 10 files"
export SYNAPSE_ROOT=$scratch/store
"$synapse" store init > /dev/null
SYNAPSE_FSYNC=0 "$bench" mkpacks "$SYNAPSE_ROOT" 1000 10
"$synapse" doctor --rebuild-views > /dev/null 2>&1 || true  # exits 1: it built views that were missing
"$synapse" use Pack00500 --no-sync > /dev/null   # build the work view once
"$synapse" back > /dev/null

if command -v hyperfine > /dev/null; then
	# -N: no shell in between, so the figure is synapse's own process, start to exit
	hyperfine -N -w 3 -r "$runs" --export-json "$scratch/h.json" \
		"$synapse use Pack00500 --no-sync" "$synapse back" > /dev/null
	best_use=$(jq '.results[0].min * 1000' "$scratch/h.json" 2>/dev/null ||
		python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['min']*1000)" "$scratch/h.json")
	best_back=$(jq '.results[1].min * 1000' "$scratch/h.json" 2>/dev/null ||
		python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][1]['min']*1000)" "$scratch/h.json")
else
	# without hyperfine the shell's own fork and exec are counted too: compare with /bin/true
	best_use= best_back=
	for _ in $(seq "$runs"); do
		t0=$(date +%s.%N); "$synapse" use Pack00500 --no-sync > /dev/null; t1=$(date +%s.%N)
		"$synapse" back > /dev/null; t2=$(date +%s.%N)
		u=$(ms "$t0" "$t1"); b=$(ms "$t1" "$t2")
		{ [ -z "$best_use" ] || [ "$(echo "$u < $best_use" | bc -l)" = 1 ]; } && best_use=$u
		{ [ -z "$best_back" ] || [ "$(echo "$b < $best_back" | bc -l)" = 1 ]; } && best_back=$b
	done
fi

printf '\n%-46s %10s %10s %8s %s\n' "measure" "synapse" "reference" "ratio" "target"
printf '%-46s %8.1fms %10s %8s %s\n' "use, 1,000 packs x 10 files, view built" "$best_use" "-" "-" "< 20 ms"
printf '%-46s %8.1fms %10s %8s %s\n' "back, 1,000 packs x 10 files" "$best_back" "-" "-" "< 20 ms"

# best of three fresh stores per size: this measures the build, not a noisy disk
for n in ${SYN_BENCH_VIEW_SIZES:-10000 100000}; do
	best_b= best_l= entries=0
	for _ in 1 2 3; do
		root=$scratch/build$n
		rm -rf "$root" "$scratch/loop$n"
		SYNAPSE_ROOT=$root "$synapse" store init > /dev/null
		SYNAPSE_FSYNC=0 "$bench" mkpacks "$root" $((n / 100)) 100
		sync
		read -r entries t_build t_loop < <("$bench" viewbuild "$root" "$scratch/loop$n")
		{ [ -z "$best_b" ] || [ "$(echo "$t_build < $best_b" | bc -l)" = 1 ]; } && best_b=$t_build
		{ [ -z "$best_l" ] || [ "$(echo "$t_loop < $best_l" | bc -l)" = 1 ]; } && best_l=$t_loop
	done
	printf '%-46s %9.3fs %9.3fs %8.2f %s\n' "build a view of $entries files vs N symlinks" "$best_b" "$best_l" \
		"$(echo "$best_b / $best_l" | bc -l)" "<= 1.5"
done
