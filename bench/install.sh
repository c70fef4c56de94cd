#!/usr/bin/env bash
# Install benchmark (SPEC §9): `synapse install` of one 1 GiB file from a
# loopback server against `curl -s URL | tee f | openssl dgst -sha256; sync f`
# from the same server in the same run, as a ratio; and synapse's peak memory.
#
#   bench/install.sh [BUILD_DIR]
# Environment: SYN_BENCH_SIZE_MB (default 1024), SYN_BENCH_RUNS (default 3).
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
size_mb=${SYN_BENCH_SIZE_MB:-1024}
runs=${SYN_BENCH_RUNS:-3}
scratch=$(mktemp -d /var/tmp/synapse-bench-install.XXXXXX)
synapse=$build/bin/synapse
server=$build/bin/syn-bench-server
[ -x "$server" ] || { echo "bench: $server missing (build with tests enabled)" >&2; exit 1; }

coproc SERVER { "$server" $((size_mb * 1024 * 1024)); }
trap 'exec {SERVER[1]}>&-; wait; rm -rf "$scratch"' EXIT
read -r url sha <&"${SERVER[0]}"
export SYNAPSE_ROOT=$scratch/store SYNAPSE_CIVITAI_URL=$url
unset CIVITAI_API_TOKEN CIVITAI_API_KEY
"$synapse" store init > /dev/null
"$synapse" import civitai:4242 --no-previews > /dev/null
blob=$SYNAPSE_ROOT/data/blobs/sha256/${sha:0:2}/$sha

best_syn= best_ref= peak_kb=0
for _ in $(seq "$runs"); do
	rm -f "$blob" "$blob.meta"; sync
	t0=$(date +%s.%N)
	/usr/bin/time -f %M -o "$scratch/rss" "$synapse" install "Bench_Model" > /dev/null
	t1=$(date +%s.%N)
	t=$(echo "$t1 - $t0" | bc -l)
	rss=$(cat "$scratch/rss")
	[ "$rss" -gt "$peak_kb" ] && peak_kb=$rss
	{ [ -z "$best_syn" ] || [ "$(echo "$t < $best_syn" | bc -l)" = 1 ]; } && best_syn=$t

	rm -f "$scratch/f"; sync
	t0=$(date +%s.%N)
	got=$(curl -sL "$url/api/download/models/42420" | tee "$scratch/f" | openssl dgst -sha256 | awk '{print $2}')
	sync "$scratch/f"
	t1=$(date +%s.%N)
	[ "$got" = "$sha" ] || { echo "bench: reference download hashed to $got, not $sha" >&2; exit 1; }
	t=$(echo "$t1 - $t0" | bc -l)
	{ [ -z "$best_ref" ] || [ "$(echo "$t < $best_ref" | bc -l)" = 1 ]; } && best_ref=$t
done

printf '\n%-44s %10s %10s %8s %s\n' "measure" "synapse" "reference" "ratio" "target"
printf '%-44s %9.3fs %9.3fs %8.2f %s\n' "install ${size_mb} MiB (vs curl|tee|openssl; sync)" \
	"$best_syn" "$best_ref" "$(echo "$best_syn / $best_ref" | bc -l)" "<= 1.2"
printf '%-44s %9.1f MiB %19s %s\n' "peak memory of synapse install" "$(echo "$peak_kb / 1024" | bc -l)" "" "< 32 MiB"
