#!/usr/bin/env bash
# Adopt benchmark: `synapse adopt` of 200 files totalling 4 GiB into a fresh
# store (a loopback Civitai answering the by-hash requests) against
# `sha256sum` over the same files on every core, as a ratio, once for each
# mode that puts bytes in the store (copy: a reflink clone where the
# filesystem can, else a copy with fsync; link: a hard link); then the
# second run over 30,000 small files, which must only look at metadata.
# Every run starts with the files in the page cache, so both sides read
# memory, not the disk.
#
#   bench/adopt.sh [BUILD_DIR]
# Environment: SYN_BENCH_SIZE_MB (default 4096), SYN_BENCH_FILES (default
# 200), SYN_BENCH_SMALL_FILES (default 30000), SYN_BENCH_RUNS (default 3).
# Scratch space in /var/tmp: the files, and as much again for the copy.
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
size_mb=${SYN_BENCH_SIZE_MB:-4096}
nfiles=${SYN_BENCH_FILES:-200}
nsmall=${SYN_BENCH_SMALL_FILES:-30000}
runs=${SYN_BENCH_RUNS:-3}
cores=$(nproc)
scratch=$(mktemp -d /var/tmp/synapse-bench-adopt.XXXXXX)
synapse=$build/bin/synapse
server=$build/bin/syn-bench-server
[ -x "$server" ] || { echo "bench: $server missing (build with tests enabled)" >&2; exit 1; }

coproc SERVER { "$server" 4096; }
trap 'exec {SERVER[1]}>&-; wait; rm -rf "$scratch"' EXIT
read -r url _ <&"${SERVER[0]}"
export SYNAPSE_CIVITAI_URL=$url
unset CIVITAI_API_TOKEN CIVITAI_API_KEY

# ---- 200 files, 4 GiB ------------------------------------------------------
mkdir -p "$scratch/models"
per=$((size_mb * 1024 * 1024 / nfiles))
for i in $(seq -w 1 "$nfiles"); do
	openssl rand -out "$scratch/models/model_$i.safetensors" "$per"
done
touch -d '1 hour ago' "$scratch/models"/*
cat "$scratch/models"/* > /dev/null # into the page cache

best() { # best "$1" "$2": the smaller
	if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi
}

best_ref=
for _ in $(seq "$runs"); do
	t0=$(date +%s.%N)
	find "$scratch/models" -type f -print0 | xargs -0 -P "$cores" -n $(((nfiles + cores - 1) / cores)) sha256sum > /dev/null
	t1=$(date +%s.%N)
	best_ref=$(best "$best_ref" "$(echo "$t1 - $t0" | bc -l)")
done

declare -A best_mode
for mode in copy link; do
	for _ in $(seq "$runs"); do
		rm -rf "$scratch/store"
		SYNAPSE_ROOT=$scratch/store "$synapse" store init > /dev/null
		sync
		cat "$scratch/models"/* > /dev/null
		t0=$(date +%s.%N)
		SYNAPSE_ROOT=$scratch/store "$synapse" adopt "$scratch/models" "--$mode" --json > "$scratch/report.json"
		t1=$(date +%s.%N)
		got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["adopted"])' "$scratch/report.json")
		[ "$got" = "$nfiles" ] || { echo "bench: adopt --$mode stored $got blobs, not $nfiles" >&2; exit 1; }
		best_mode[$mode]=$(best "${best_mode[$mode]:-}" "$(echo "$t1 - $t0" | bc -l)")
	done
done
rm -rf "$scratch/store" "$scratch/models"

# ---- 30,000 small files, second run ----------------------------------------
mkdir -p "$scratch/small"
python3 - "$scratch/small" "$nsmall" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 300))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.safetensors" % i), "wb") as f:
        f.write(i.to_bytes(4, "little") * 64)
PY
find "$scratch/small" -type f -exec touch -d '1 hour ago' {} +
export SYNAPSE_ROOT=$scratch/store
"$synapse" store init > /dev/null
t0=$(date +%s.%N)
"$synapse" adopt "$scratch/small" --json > "$scratch/first.json"
t1=$(date +%s.%N)
first=$(echo "$t1 - $t0" | bc -l)
best_second=
for _ in $(seq "$runs"); do
	t0=$(date +%s.%N)
	"$synapse" adopt "$scratch/small" --json > "$scratch/second.json"
	t1=$(date +%s.%N)
	best_second=$(best "$best_second" "$(echo "$t1 - $t0" | bc -l)")
done
cached=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cached"])' "$scratch/second.json")
[ "$cached" = "$nsmall" ] || { echo "bench: the second run took $cached digests from the cache, not $nsmall" >&2; exit 1; }

printf '\n%-52s %10s %10s %8s %s\n' "measure" "synapse" "reference" "ratio" "target"
for mode in copy link; do
	printf '%-52s %9.3fs %9.3fs %8.2f %s\n' "adopt --$mode ${size_mb} MiB in $nfiles files (vs sha256sum x$cores)" \
		"${best_mode[$mode]}" "$best_ref" "$(echo "${best_mode[$mode]} / $best_ref" | bc -l)" "<= 1.1"
done
printf '%-52s %9.3fs %21s %s\n' "adopt of $nsmall small files, first run" "$first" "" "-"
printf '%-52s %9.3fs %21s %s\n' "adopt of $nsmall small files, second run (stat only)" "$best_second" "" "< 1 s"
