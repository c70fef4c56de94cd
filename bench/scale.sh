#!/usr/bin/env bash
# Scale benchmark (SPEC §9, "cost follows the change"): whole-process wall time
# of everyday commands in stores of N packs, to show which ones grow with the
# store instead of with the change.
#
#   bench/scale.sh [BUILD_DIR] [N ...]        (default: build, N = 100 1000 10000)
#
# For each N it makes a store of N packs shaped exactly like `synapse import`
# writes them (the templates are two packs really imported from a loopback fake
# Civitai: a LoRA of one file with a preview, and a two-version LoRA of two
# files; pack i copies template i % 2 with its own name, Civitai ids, file
# names and blobs), every blob present with its manifest, all listed in the
# global profile, state/ committed once, views built by
# `synapse doctor --rebuild-views`. Two UIs are enabled (the `local` set:
# comfyui and forge; the others are disabled). Only the fixture is written with
# SYNAPSE_FSYNC=0; every timed command runs with fsync on.
#
# Then it times (hyperfine -N, median of 3 to SYN_BENCH_RUNS runs, as many as fit
# in hyperfine's 3 s budget; a bash loop when hyperfine is missing):
#   import civitai:5000 (over HTTP from the loopback fake; deleted in --prepare),
#   install of a 16 KiB pack (its blob removed in --prepare),
#   delete of a pack (re-imported and installed in --prepare),
#   status --json, list --json, show <pack>, history --limit 10,
#   use <pack> --no-sync of a view built 2 s earlier (back in --prepare), back (use in --prepare),
#   `syn-bench lookfloor`, a bare loop on one thread looking at what status and
#   list cannot take on trust (the metadata of every pack's two documents and
#   of every blob folder): their floor in a store that trusts no record
#   unchecked, a process of its own,
#   a first use (a full view build: a different pack each run, `back` before)
#   against `syn-bench symlinks`, a bare C loop making as many symlinks as that
#   use made, as a process of its own; the two alternate, so both see the same
#   disk (timed from bash with $EPOCHREALTIME; 3 to SYN_BENCH_RUNS pairs, ~30 s).
# and prints, per command, the median at each N, the ratio N=max / N=min and
# the issue's targets.
#
# Environment: SYN_BENCH_RUNS (most runs per command, default 10),
# SYN_BENCH_DIR (scratch directory, default a new one under /var/tmp),
# SYN_BENCH_KEEP=1 (keep the scratch directory), SYN_BENCH_TSV=FILE (also
# write the figures as tab-separated "command N median_ms" lines, and
# "first/loop N ratio", the median of the pairs' ratios).
set -euo pipefail

build=build
if [ $# -gt 0 ] && ! [[ $1 =~ ^[0-9]+$ ]]; then
	build=$1
	shift
fi
build=$(cd "$build" && pwd)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 10000)
for n in "${sizes[@]}"; do
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 10 ] || { echo "bench: N must be a number >= 10, not '$n'" >&2; exit 2; }
done
runs=${SYN_BENCH_RUNS:-10}
synapse=$build/bin/synapse
bench=$build/bin/syn-bench
server=$build/bin/syn-bench-server
for b in "$synapse" "$bench" "$server"; do
	[ -x "$b" ] || { echo "bench: $b missing (build first, with tests enabled for syn-bench-server)" >&2; exit 1; }
done
command -v jq > /dev/null || { echo "bench: jq is needed (apt-get install jq)" >&2; exit 1; }
have_hf=0
command -v hyperfine > /dev/null && have_hf=1
scratch=${SYN_BENCH_DIR:-$(mktemp -d /var/tmp/synapse-bench-scale.XXXXXX)}
mkdir -p "$scratch"
unset SYNAPSE_FSYNC CIVITAI_API_TOKEN CIVITAI_API_KEY SYNAPSE_STATE_ROOT SYNAPSE_DATA_ROOT

# The loopback Civitai: every file is 16 KiB (the install target Bench_Model too).
coproc SERVER { "$server" 16384; }
cleanup() {
	exec {SERVER[1]}>&- 2> /dev/null || true
	wait 2> /dev/null || true
	[ "${SYN_BENCH_KEEP:-0}" = 1 ] || rm -rf "$scratch"
}
trap cleanup EXIT
read -r url install_sha <&"${SERVER[0]}"
case $url in http://127.0.0.1:*) ;; *) echo "bench: the fake Civitai is not on loopback: $url" >&2; exit 1 ;; esac
export SYNAPSE_CIVITAI_URL=$url

# Templates: packs a real import wrote.
export SYNAPSE_ROOT=$scratch/templates
"$synapse" store init > /dev/null
"$synapse" import civitai:5000 > /dev/null 2>&1
"$synapse" import civitai:5001 --version 50010 --version 50011 > /dev/null 2>&1
tpl_one=$SYNAPSE_ROOT/state/packs/Scale_Lora
tpl_two=$SYNAPSE_ROOT/state/packs/Scale_Pair

# Prepare steps, run by hyperfine without a shell.
prep=$scratch/prep.sh
cat > "$prep" << EOF
#!/usr/bin/env bash
# prepare steps of bench/scale.sh (SYNAPSE_ROOT and SYNAPSE_CIVITAI_URL come from the environment)
set -e
case "\$1" in
unimport) "$synapse" delete Scale_Lora --force > /dev/null 2>&1 || true ;;
reimport) "$synapse" import civitai:5000 > /dev/null 2>&1; "$synapse" install Scale_Lora > /dev/null 2>&1 ;;
esac
EOF
chmod +x "$prep"

# median_ms KEY PREPARE COMMAND...: median wall time of COMMAND in ms (PREPARE, untimed, before each run; "" = none)
median_ms() {
	local key=$1 before=$2 t0 t1 r
	shift 2
	if [ $have_hf = 1 ]; then
		# at least 3 runs, at most $runs: as many as fit in hyperfine's 3 s budget
		local args=(-N -w 1 -m 3 -M "$runs" --style none --export-json "$scratch/$key.json")
		[ -n "$before" ] && args+=(--prepare "$before")
		hyperfine "${args[@]}" "$*" > /dev/null 2> "$scratch/$key.err" || { cat "$scratch/$key.err" >&2; return 1; }
		jq '.results[0].median * 1000' "$scratch/$key.json"
	else
		# the shell's own fork and exec are counted too
		: > "$scratch/$key.times"
		for r in $(seq 0 "$runs"); do
			[ -z "$before" ] || $before > /dev/null 2>&1
			t0=$EPOCHREALTIME
			"$@" > /dev/null
			t1=$EPOCHREALTIME
			[ "$r" = 0 ] || elapsed_ms "$t0" "$t1" >> "$scratch/$key.times"   # run 0: warm-up
		done
		median "$scratch/$key.times"
	fi
}

# elapsed_ms T0 T1: milliseconds between two $EPOCHREALTIME readings
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'; }
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { printf "%.3f\n", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# first_vs_loop PACK...: a first `use` of each pack in turn (a full view build; `back` before it), each
# followed by the bare loop making as many symlinks as that use made, as a process of its own, so the
# two see the same disk (a sync before each, so neither waits on the other's writeback); prints
# "median-use-ms median-loop-ms links median-ratio", the ratio the median of each pair's use / loop
# (the disk's speed swings between pairs, not within one). At least 3 pairs, then stops after ~30 s.
first_vs_loop() {
	local p t0 t1 start=$EPOCHREALTIME k=0 links=0 ui
	: > "$scratch/first.times"
	: > "$scratch/loop.times"
	for p in "$@"; do
		"$synapse" back > /dev/null
		sync
		t0=$EPOCHREALTIME
		"$synapse" use "$p" --no-sync > /dev/null
		t1=$EPOCHREALTIME
		elapsed_ms "$t0" "$t1" >> "$scratch/first.times"
		if [ $k = 0 ]; then
			for ui in comfyui forge; do
				links=$((links + $(find "$SYNAPSE_ROOT/data/views/$ui/profiles/work__$p" -type l | wc -l)))
			done
		fi
		rm -rf "$scratch/loop"
		sync
		t0=$EPOCHREALTIME
		"$bench" symlinks "$scratch/loop" "$links"
		t1=$EPOCHREALTIME
		elapsed_ms "$t0" "$t1" >> "$scratch/loop.times"
		rm -rf "$scratch/loop"
		k=$((k + 1))
		[ $k -ge 3 ] && gt "$(elapsed_ms "$start" "$EPOCHREALTIME")" 30000 && break
	done
	"$synapse" back > /dev/null
	paste "$scratch/first.times" "$scratch/loop.times" | awk '{ printf "%.4f\n", $1 / $2 }' > "$scratch/pair.ratios"
	echo "$(median "$scratch/first.times") $(median "$scratch/loop.times") $links $(median "$scratch/pair.ratios")"
}
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

rows=(import install delete status list floor show history use back first loop)
declare -A T LINKS PAIRS
for n in "${sizes[@]}"; do
	root=$scratch/store-$n
	rm -rf "$root"
	export SYNAPSE_ROOT=$root
	t_fix0=$(date +%s%N)
	"$synapse" store init > /dev/null
	for ui in $(jq -r '.ui.known[]' "$root/state/config.json"); do
		case $ui in comfyui | forge) ;; *) "$synapse" ui disable "$ui" > /dev/null ;; esac
	done
	SYNAPSE_FSYNC=0 "$bench" scalepacks "$root" "$n" "$tpl_one" "$tpl_two"
	SYNAPSE_FSYNC=0 "$synapse" doctor --rebuild-views > /dev/null 2>&1 || true  # exits 1: it built views that were missing
	# the install target: a 16 KiB checkpoint, imported and installed for real
	"$synapse" import civitai:4242 > /dev/null 2>&1
	"$synapse" install Bench_Model > /dev/null 2>&1
	blob=$root/data/blobs/sha256/${install_sha:0:2}/$install_sha
	[ -f "$blob" ] || { echo "bench: the install target's blob is not at $blob" >&2; exit 1; }
	"$synapse" status --json | jq -e '[.in_sync[]] | all' > /dev/null ||
		{ echo "bench: the store of $n packs is not in sync after building it" >&2; exit 1; }
	t_fix1=$(date +%s%N)
	mid=$(((n / 2) & ~1))                       # an even index: a one-file pack in the middle
	show_pack=$(printf 'Scale_Pair_%05d' $((mid + 1)))
	use_pack=$(printf 'Scale_Lora_%05d' "$mid")
	firsts=()
	for ((i = 0; i < runs && 2 * i < n; i++)); do
		[ $((2 * i)) = "$mid" ] || firsts+=("$(printf 'Scale_Lora_%05d' $((2 * i)))")
	done
	echo "bench: store of $n packs ready in $(((t_fix1 - t_fix0) / 1000000)) ms; timing (3 to ${runs} runs each)" >&2

	T[import,$n]=$(median_ms import "$prep unimport" "$synapse" import civitai:5000)
	T[install,$n]=$(median_ms install "rm -f $blob $blob.meta" "$synapse" install Bench_Model)
	T[delete,$n]=$(median_ms delete "$prep reimport" "$synapse" delete Scale_Lora --force)
	T[status,$n]=$(median_ms status "" "$synapse" status --json)
	T[list,$n]=$(median_ms list "" "$synapse" list --json)
	T[floor,$n]=$(median_ms floor "" "$bench" lookfloor "$root")
	T[show,$n]=$(median_ms show "" "$synapse" show "$show_pack")
	T[history,$n]=$(median_ms history "" "$synapse" history --limit 10)
	"$synapse" use "$use_pack" --no-sync > /dev/null   # build its view once
	"$synapse" back > /dev/null
	# a view built a while ago: for two seconds after a profile is written its file
	# metadata cannot vouch for it, and use reads the global and work profiles again
	sleep 2
	T[use,$n]=$(median_ms use "$synapse back" "$synapse" use "$use_pack" --no-sync)
	T[back,$n]=$(median_ms back "$synapse use $use_pack --no-sync" "$synapse" back)
	"$synapse" back > /dev/null
	res=$(first_vs_loop "${firsts[@]}")
	read -r t_first t_loop n_links r_pairs <<< "$res"
	T[first,$n]=$t_first T[loop,$n]=$t_loop LINKS[$n]=$n_links PAIRS[$n]=$r_pairs
	"$synapse" status --json | jq -e '[.in_sync[]] | all' > /dev/null ||
		{ echo "bench: the store of $n packs is out of sync after the timed commands" >&2; exit 1; }
	if [ -n "${SYN_BENCH_TSV:-}" ]; then
		for r in "${rows[@]}"; do printf '%s\t%s\t%s\n' "$r" "$n" "${T[$r,$n]}"; done >> "$SYN_BENCH_TSV"
		printf 'first/loop\t%s\t%s\n' "$n" "${PAIRS[$n]}" >> "$SYN_BENCH_TSV"
	fi
	[ "${SYN_BENCH_KEEP:-0}" = 1 ] || rm -rf "$root" "$scratch/loop"
done

declare -A LABEL=(
	[import]="import civitai:5000 (loopback HTTP)"
	[install]="install Bench_Model (16 KiB)"
	[delete]="delete <pack> --force"
	[status]="status --json"
	[list]="list --json"
	[floor]="bare loop: stat documents, blob folders"
	[show]="show <pack>"
	[history]="history --limit 10"
	[use]="use <pack> --no-sync (view built)"
	[back]="back"
	[first]="first use <pack> (full view build)"
	[loop]="bare loop, as many symlinks"
)
declare -A ABS=([import]=50 [install]=30 [delete]=30 [status]=20 [list]=20 [use]=20 [back]=20)
lo=${sizes[0]} hi=${sizes[0]}
for n in "${sizes[@]}"; do
	[ "$n" -lt "$lo" ] && lo=$n
	[ "$n" -gt "$hi" ] && hi=$n
done
echo
echo "synapse scale benchmark: median wall time of the whole process (ms), 3 to $runs runs, $(nproc) cores," \
	"load $(cut -d' ' -f1 /proc/loadavg), $([ $have_hf = 1 ] && echo "hyperfine -N" || echo "bash loop")"
printf '%-38s' "command"
for n in "${sizes[@]}"; do printf ' %10s' "N=$n"; done
printf ' %8s  %s\n' "$hi/$lo" "target (ratio <= 2; time at 10,000 packs)"
for r in "${rows[@]}"; do
	printf '%-38s' "${LABEL[$r]}"
	for n in "${sizes[@]}"; do printf ' %10.1f' "${T[$r,$n]}"; done
	ratio=$(awk -v a="${T[$r,$hi]}" -v b="${T[$r,$lo]}" 'BEGIN { printf "%.2f", a / b }')
	verdict=""
	case $r in
	first | loop) target="(grows with N by design; see below)" ;;
	floor) target="(what status and list must look at; see below)" ;;
	*)
		target="ratio <= 2"
		gt "$ratio" 2 && verdict="GROWS"
		if [ -n "${ABS[$r]:-}" ]; then
			target="$target, <= ${ABS[$r]} ms"
			if [ "$hi" -ge 10000 ] && gt "${T[$r,$hi]}" "${ABS[$r]}"; then
				verdict="${verdict:+$verdict, }SLOW"
			fi
		fi
		;;
	esac
	printf ' %7sx  %s%s\n' "$ratio" "$target" "${verdict:+   <- $verdict}"
done
printf '%-38s' "links made by the first use"
for n in "${sizes[@]}"; do printf ' %10s' "${LINKS[$n]}"; done
echo
printf '%-38s' "first use / bare loop (median pair)"
for n in "${sizes[@]}"; do
	printf ' %9.2fx' "${PAIRS[$n]}"
done
printf ' %8s  %s\n' "" "<= 1.5"
for r in status list; do
	printf '%-38s' "$r / the bare stat loop"
	for n in "${sizes[@]}"; do
		printf ' %9.2fx' "$(awk -v a="${T[$r,$n]}" -v b="${T[floor,$n]}" 'BEGIN { print a / b }')"
	done
	echo
done
echo "(GROWS: more than 2x from N=$lo to N=$hi; SLOW: over the absolute target at N=$hi >= 10,000)"
