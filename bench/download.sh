#!/usr/bin/env bash
# Download benchmark: `synapse install` of one 1 GiB file, each figure a
# ratio of times measured in the same run.
#   1. From a loopback CDN that caps each connection at 20 MB/s (the way
#      Civitai's CDN paces one stream): synapse (segmented, config defaults)
#      against `curl -s` (one stream), target >= 3.5x as fast, and against
#      `aria2c -x4 -s4`, target >= 1.0x (skipped when aria2c is missing:
#      `apt-get install -y aria2`).
#   2. From an uncapped loopback server: synapse against
#      `curl -s URL | tee f | openssl dgst -sha256`, target <= 1.1x the time.
# Every reference writes its file and syncs it, as synapse's commit does.
#
#   bench/download.sh [BUILD_DIR]
# Environment: SYN_BENCH_SIZE_MB (default 1024), SYN_BENCH_RUNS (default 1;
# the best run counts), SYN_BENCH_CDN_RATE (bytes/s per connection, default
# 20000000).
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
size_mb=${SYN_BENCH_SIZE_MB:-1024}
runs=${SYN_BENCH_RUNS:-1}
cdn_rate=${SYN_BENCH_CDN_RATE:-20000000}
scratch=$(mktemp -d /var/tmp/synapse-bench-download.XXXXXX)
synapse=$build/bin/synapse
server=$build/bin/syn-bench-server
[ -x "$server" ] || { echo "bench: $server missing (build with tests enabled)" >&2; exit 1; }
aria=$(command -v aria2c || true)
unset CIVITAI_API_TOKEN CIVITAI_API_KEY

# the smaller of two times
best() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
now() { date +%s.%N; }

# One server (capped when $1 is given); sets url, sha, blob and a store that has imported it.
start() {
	local opt=()
	[ -n "${1:-}" ] && opt=(--cdn-rate="$1")
	coproc SERVER { "$server" "${opt[@]}" $((size_mb * 1024 * 1024)); }
	read -r url sha <&"${SERVER[0]}"
	export SYNAPSE_ROOT=$scratch/store SYNAPSE_CIVITAI_URL=$url
	rm -rf "$SYNAPSE_ROOT"
	"$synapse" store init > /dev/null
	"$synapse" import civitai:4242 --no-previews > /dev/null
	blob=$SYNAPSE_ROOT/data/blobs/sha256/${sha:0:2}/$sha
}

stop() {
	exec {SERVER[1]}>&-
	wait "$SERVER_PID" 2>/dev/null || true
}
trap 'rm -rf "$scratch"' EXIT

# Time `synapse install` of the imported file.
time_synapse() {
	local t0 t1
	rm -f "$blob" "$blob.meta"; sync
	t0=$(now)
	/usr/bin/time -f %M -o "$scratch/rss" "$synapse" install Bench_Model > /dev/null
	t1=$(now)
	[ -f "$blob" ] || { echo "bench: synapse did not store the blob" >&2; exit 1; }
	echo "$t1 - $t0" | bc -l
}

check() {
	local got
	got=$(openssl dgst -sha256 "$1" | awk '{print $NF}')
	[ "$got" = "$sha" ] || { echo "bench: $2 fetched bytes hashing to $got, not $sha" >&2; exit 1; }
}

peak_kb=0
note_rss() { local r; r=$(cat "$scratch/rss"); [ "$r" -gt "$peak_kb" ] && peak_kb=$r; return 0; }

# ---- 1. a CDN capping each connection ----------------------------------------
start "$cdn_rate"
syn_capped= curl_capped= aria_capped=
for _ in $(seq "$runs"); do
	syn_capped=$(best "$syn_capped" "$(time_synapse)"); note_rss

	rm -f "$scratch/f"; sync
	t0=$(now)
	curl -sL -o "$scratch/f" "$url/api/download/models/42420"
	sync "$scratch/f"
	t1=$(now)
	check "$scratch/f" curl
	curl_capped=$(best "$curl_capped" "$(echo "$t1 - $t0" | bc -l)")

	if [ -n "$aria" ]; then
		rm -f "$scratch/a"; sync
		t0=$(now)
		"$aria" -q -x4 -s4 --allow-overwrite=true --auto-file-renaming=false --file-allocation=none \
			-d "$scratch" -o a "$url/api/download/models/42420"
		sync "$scratch/a"
		t1=$(now)
		check "$scratch/a" aria2c
		aria_capped=$(best "$aria_capped" "$(echo "$t1 - $t0" | bc -l)")
	fi
done
stop

# ---- 2. an uncapped server ------------------------------------------------------
start ""
syn_free= ref_free=
for _ in $(seq "$runs"); do
	syn_free=$(best "$syn_free" "$(time_synapse)"); note_rss

	rm -f "$scratch/f"; sync
	t0=$(now)
	got=$(curl -sL "$url/api/download/models/42420" | tee "$scratch/f" | openssl dgst -sha256 | awk '{print $NF}')
	sync "$scratch/f"
	t1=$(now)
	[ "$got" = "$sha" ] || { echo "bench: reference download hashed to $got, not $sha" >&2; exit 1; }
	ref_free=$(best "$ref_free" "$(echo "$t1 - $t0" | bc -l)")
done
stop

rate_mb=$(echo "$cdn_rate / 1000000" | bc -l)
printf '\n%-52s %9s %9s %8s %s\n' "measure (${size_mb} MiB)" "synapse" "reference" "ratio" "target"
printf '%-52s %8.2fs %8.2fs %7.2fx %s\n' "$(printf 'capped %.0f MB/s per connection: speed vs curl' "$rate_mb")" \
	"$syn_capped" "$curl_capped" "$(echo "$curl_capped / $syn_capped" | bc -l)" ">= 3.5x"
if [ -n "$aria" ]; then
	printf '%-52s %8.2fs %8.2fs %7.2fx %s\n' "$(printf 'capped %.0f MB/s per connection: speed vs aria2c -x4 -s4' "$rate_mb")" \
		"$syn_capped" "$aria_capped" "$(echo "$aria_capped / $syn_capped" | bc -l)" ">= 1.0x"
else
	echo "capped: aria2c is not installed (apt-get install -y aria2): comparison skipped"
fi
printf '%-52s %8.2fs %8.2fs %7.2fx %s\n' "uncapped: time vs curl|tee|openssl dgst" \
	"$syn_free" "$ref_free" "$(echo "$syn_free / $ref_free" | bc -l)" "<= 1.1x"
printf '%-52s %8.1f MiB %s\n' "peak memory of synapse install" "$(echo "$peak_kb / 1024" | bc -l)" "(< 32 MiB)"
