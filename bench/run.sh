#!/usr/bin/env bash
# Synapse benchmarks (SPEC §9). Each figure is a ratio against a reference
# measured in the same run, on the same file and filesystem, with a warm
# page cache; never an absolute time.
#
#   bench/run.sh [BUILD_DIR]       (default: build)
#
# Environment: SYN_BENCH_SIZE_MB (default 1024), SYN_BENCH_RUNS (default 3),
# SYN_BENCH_DIR (scratch directory, default a new one under /var/tmp).
set -euo pipefail

build=${1:-build}
bench=$(cd "$build" && pwd)/bin/syn-bench
size_mb=${SYN_BENCH_SIZE_MB:-1024}
runs=${SYN_BENCH_RUNS:-3}
scratch=${SYN_BENCH_DIR:-$(mktemp -d /var/tmp/synapse-bench.XXXXXX)}
trap 'rm -rf "$scratch"' EXIT

[ -x "$bench" ] || { echo "bench: build first (make build): $bench missing" >&2; exit 1; }
command -v openssl >/dev/null || { echo "bench: openssl is needed" >&2; exit 1; }

file=$scratch/model.safetensors
store=$scratch/store
echo "bench: writing a ${size_mb} MiB file in $scratch"
head -c $((size_mb * 1024 * 1024)) /dev/urandom > "$file"
cat "$file" > /dev/null

# best (minimum) wall time in seconds of "$@" over $runs runs; $before runs untimed first
best_of() {
	local before=$1 best= t0 t1 t
	shift
	for _ in $(seq "$runs"); do
		eval "$before"
		t0=$(date +%s.%N)
		"$@" > /dev/null
		t1=$(date +%s.%N)
		t=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
	done
	echo "$best"
}

sha=$("$bench" insert "$store" "$file")
"$bench" remove "$store" "$sha"

cp_sync() { cp "$file" "$scratch/copy" && sync "$scratch/copy"; }

t_dgst=$(best_of : openssl dgst -sha256 "$file")
t_insert=$(best_of "$bench remove $store $sha" "$bench" insert "$store" "$file")
t_cp=$(best_of "rm -f $scratch/copy" cp_sync)
t_verify=$(best_of : "$bench" verify "$store" "$sha")

printf '\n%-44s %10s %10s %8s %s\n' "measure" "synapse" "reference" "ratio" "target"
printf '%-44s %9.3fs %9.3fs %8.2f %s\n' "verify ${size_mb} MiB (throughput vs openssl dgst)" \
	"$t_verify" "$t_dgst" "$(echo "$t_dgst / $t_verify" | bc -l)" ">= 0.9"
printf '%-44s %9.3fs %9.3fs %8.2f %s\n' "insert ${size_mb} MiB (time vs cp + sync)" \
	"$t_insert" "$t_cp" "$(echo "$t_insert / $t_cp" | bc -l)" "<= 1.2"
printf '%-44s %9.3fs %9.3fs %8.2f %s\n' "insert ${size_mb} MiB (throughput vs openssl dgst)" \
	"$t_insert" "$t_dgst" "$(echo "$t_dgst / $t_insert" | bc -l)" "(info)"
