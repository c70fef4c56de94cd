#!/usr/bin/env bash
# bench/inventory.sh [BUILD_DIR]: the inventory and backup benchmarks (SPEC §9),
# each a ratio or a budget measured in the same run:
#
#   inventory list --json over 10,000 blobs and 2,000 packs, whole process:
#       median time (target <= 50 ms) and peak RSS (target <= 16 MiB);
#   doctor --verify-blobs over 2 GiB of blobs against one `openssl dgst -sha256`
#       over the same files: throughput ratio (target >= 1.6 on 2 cores);
#   backup sync --direction to_backup --execute of 1 GiB to another directory
#       against `cp -r` of the same blobs + `sync`: time ratio (target <= 1.3).
#
# Environment: SYN_BENCH_RUNS (default 3), SYN_BENCH_VERIFY_MB (default 2048),
# SYN_BENCH_SYNC_MB (default 1024), SYN_BENCH_DIR (scratch, default /var/tmp/...).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
synapse=$build/bin/synapse
bench=$build/bin/syn-bench
runs=${SYN_BENCH_RUNS:-3}
verify_mb=${SYN_BENCH_VERIFY_MB:-2048}
sync_mb=${SYN_BENCH_SYNC_MB:-1024}
for b in "$synapse" "$bench"; do
	[ -x "$b" ] || { echo "bench: $b missing (build first)" >&2; exit 1; }
done
for t in hyperfine jq openssl bc /usr/bin/time; do
	command -v "$t" > /dev/null || { echo "bench: $t is needed (apt-get install hyperfine jq openssl bc time)" >&2; exit 1; }
done
scratch=${SYN_BENCH_DIR:-$(mktemp -d /var/tmp/synapse-bench-inventory.XXXXXX)}
mkdir -p "$scratch"
trap 'rm -rf "$scratch"' EXIT
unset SYNAPSE_STATE_ROOT SYNAPSE_DATA_ROOT SYNAPSE_FSYNC

# median wall time in seconds of a command run by hyperfine (no shell), $1 = untimed prepare ("" none)
median_s() {
	local before=$1 args
	shift
	args=(-N -w 1 -r "$runs" --style none --export-json "$scratch/hf.json")
	[ -n "$before" ] && args+=(--prepare "$before")
	hyperfine "${args[@]}" "$*" > /dev/null 2> "$scratch/hf.err" || { cat "$scratch/hf.err" >&2; return 1; }
	jq '.results[0].median' "$scratch/hf.json"
}

# 1. inventory list
export SYNAPSE_ROOT=$scratch/inv
"$synapse" store init > /dev/null
SYNAPSE_FSYNC=0 "$bench" mkpacks "$SYNAPSE_ROOT" 2000 5 > /dev/null
# documents written in the last two seconds cannot be vouched for by their metadata (the
# race git's index has too), so the digest cache would not keep them yet: time a store
# whose packs were not written a moment ago, as a user's are
sleep 2
"$synapse" inventory list --json > /dev/null
blobs=$(find "$SYNAPSE_ROOT/data/blobs/sha256" -type f ! -name '*.*' | wc -l)
t_list=$(median_s "" "$synapse" inventory list --json)
rss_kb=$(/usr/bin/time -f %M "$synapse" inventory list --json 2>&1 > /dev/null | tail -1)

# 2. verify: 2 GiB of random blobs, against one openssl over the same files
export SYNAPSE_ROOT=$scratch/verify
"$synapse" store init > /dev/null
mkdir -p "$scratch/src"
n=$((verify_mb / 256))
for i in $(seq "$n"); do
	head -c $((256 * 1024 * 1024)) /dev/urandom > "$scratch/src/f$i"
	"$bench" insert "$SYNAPSE_ROOT" "$scratch/src/f$i" > /dev/null
done
files=$(find "$SYNAPSE_ROOT/data/blobs/sha256" -type f ! -name '*.*')
cat $files > /dev/null
t_doctor=$(median_s "" "$synapse" doctor --verify-blobs --json)
# shellcheck disable=SC2086
t_dgst=$(median_s "" openssl dgst -sha256 $files)
rm -rf "$scratch/src" "$scratch/verify"

# 3. backup sync of 1 GiB to another directory, against cp -r + sync
export SYNAPSE_ROOT=$scratch/sync
"$synapse" store init > /dev/null
mkdir -p "$scratch/src"
n=$((sync_mb / 256))
for i in $(seq "$n"); do
	head -c $((256 * 1024 * 1024)) /dev/urandom > "$scratch/src/f$i"
	"$bench" insert "$SYNAPSE_ROOT" "$scratch/src/f$i" > /dev/null
done
rm -rf "$scratch/src"
mkdir -p "$scratch/backup"
"$synapse" backup config --path "$scratch/backup" --enable > /dev/null
cat > "$scratch/reset.sh" << EOF2
#!/bin/sh
rm -rf "$scratch/backup/.synapse" "$scratch/copy"
sync # each run, ours or cp's, starts with nothing of the last one still being written out
EOF2
chmod +x "$scratch/reset.sh"
t_sync=$(median_s "$scratch/reset.sh" "$synapse" backup sync --direction to_backup --execute --json)
cat > "$scratch/cp.sh" << EOF2
#!/bin/sh
cp -r "$SYNAPSE_ROOT/data/blobs" "$scratch/copy" && sync -f "$scratch/copy"
EOF2
chmod +x "$scratch/cp.sh"
t_cp=$(median_s "$scratch/reset.sh" "$scratch/cp.sh")

printf '\n%-58s %10s %10s %8s %s\n' measure synapse reference ratio target
printf '%-58s %9.1fms %10s %8s %s\n' "inventory list --json ($blobs blobs, 2000 packs)" \
	"$(echo "$t_list * 1000" | bc -l)" - - "<= 50 ms"
printf '%-58s %8.1fMiB %10s %8s %s\n' "  its peak RSS" "$(echo "$rss_kb / 1024" | bc -l)" - - "<= 16 MiB"
printf '%-58s %9.3fs %9.3fs %8.2f %s\n' "doctor --verify-blobs ${verify_mb} MiB (vs openssl dgst)" \
	"$t_doctor" "$t_dgst" "$(echo "$t_dgst / $t_doctor" | bc -l)" ">= 1.6"
printf '%-58s %9.3fs %9.3fs %8.2f %s\n' "backup sync ${sync_mb} MiB (vs cp -r + sync)" \
	"$t_sync" "$t_cp" "$(echo "$t_sync / $t_cp" | bc -l)" "<= 1.3"
