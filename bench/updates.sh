#!/usr/bin/env bash
# bench/updates.sh [BUILD] [N...]: `synapse check-updates` over N followed packs
# (default 100 and 1,000), each with one newer version upstream, against the
# loopback fake Civitai: API requests made and whole-process time, per N.
# Targets (SPEC §9, at 1,000 packs): at most 15 API requests, under 1 s.
# The reference is the number of packs: a tool asking once per pack makes N
# requests (the Python original made 621 for 621 packs, in 57 s).
#
#   bench/updates.sh build 100 1000
#
# Needs jq; SYN_BENCH_RUNS (default 5) timed runs each, the median shown.
set -euo pipefail
build=${1:-build}
[ $# -gt 0 ] && shift
build=$(cd "$build" && pwd)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000)
max=0
for n in "${sizes[@]}"; do
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 100000 ] || { echo "bench: N must be 1 to 100000, not '$n'" >&2; exit 2; }
	[ "$n" -gt $max ] && max=$n
done
runs=${SYN_BENCH_RUNS:-5}
synapse=$build/bin/synapse
bench=$build/bin/syn-bench
server=$build/bin/syn-bench-server
for b in "$synapse" "$bench" "$server"; do
	[ -x "$b" ] || { echo "bench: $b missing (build first, with tests enabled for syn-bench-server)" >&2; exit 1; }
done
command -v jq > /dev/null || { echo "bench: jq is needed (apt-get install jq)" >&2; exit 1; }
scratch=$(mktemp -d /var/tmp/synapse-bench-updates.XXXXXX)
unset SYNAPSE_FSYNC CIVITAI_API_TOKEN CIVITAI_API_KEY SYNAPSE_STATE_ROOT SYNAPSE_DATA_ROOT

coproc SERVER { "$server" 16384 "$max"; }
cleanup() {
	exec {SERVER[1]}>&- 2> /dev/null || true
	wait 2> /dev/null || true
	rm -rf "$scratch"
}
trap cleanup EXIT
read -r url _ <&"${SERVER[0]}"
case $url in http://127.0.0.1:*) ;; *) echo "bench: the fake Civitai is not on loopback: $url" >&2; exit 1 ;; esac
export SYNAPSE_CIVITAI_URL=$url
requests() { local c; echo count >&"${SERVER[1]}"; read -r c <&"${SERVER[0]}"; echo "$c"; }

# The template: a pack a real import wrote.
export SYNAPSE_ROOT=$scratch/template
"$synapse" store init > /dev/null
"$synapse" import civitai:5000 > /dev/null 2>&1
tpl=$SYNAPSE_ROOT/state/packs/Scale_Lora

printf '%-8s %10s %12s %12s\n' packs requests "median ms" "ms/pack"
for n in "${sizes[@]}"; do
	export SYNAPSE_ROOT=$scratch/store-$n
	"$synapse" store init > /dev/null
	"$bench" scalepacks "$SYNAPSE_ROOT" "$n" "$tpl" > /dev/null
	# the first run is checked, not timed: every pack has exactly one update
	requests > /dev/null
	"$synapse" check-updates --json > "$scratch/plan.json"
	calls=$(requests)
	found=$(jq '.packs_with_updates' "$scratch/plan.json")
	[ "$found" = "$n" ] || { echo "bench: expected $n packs with updates, the check found $found" >&2; exit 1; }
	: > "$scratch/times"
	for _ in $(seq "$runs"); do
		t0=$EPOCHREALTIME
		"$synapse" check-updates --json > /dev/null
		t1=$EPOCHREALTIME
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >> "$scratch/times"
	done
	requests > /dev/null
	ms=$(sort -n "$scratch/times" | awk '{ a[NR] = $1 } END { printf "%.1f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
	printf '%-8s %10s %12s %12s\n' "$n" "$calls" "$ms" "$(awk -v m="$ms" -v n="$n" 'BEGIN { printf "%.3f", m / n }')"
done
