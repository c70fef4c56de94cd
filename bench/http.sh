#!/usr/bin/env bash
# HTTP benchmark: `synapse serve` on a store of 600 packs, wrk on
# GET /api/store/status and GET /api/packs/ with 1 and 16 connections for
# 10 s each: requests per second, p99 latency, and the server's peak RSS
# (VmHWM). Targets: >= 5,000 req/s at 16 connections, p99 < 10 ms, < 32 MiB.
# For reference, the same on GET /api/openapi.json, which runs no operation:
# what the server itself costs, apart from the operations. Then a second
# server with the response cache off (SYNAPSE_HTTP_NO_WATCH=1) on the two
# routes at 16 connections: what computing every answer costs.
#
# Before the runs, the answers are checked against the CLI's --json, also
# right after pack.json is edited by hand and a blob is removed by hand.
#
#   bench/http.sh [BUILD_DIR]     SYN_BENCH_SECONDS (default 10) per run
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
seconds=${SYN_BENCH_SECONDS:-10}
synapse=$build/bin/synapse
bench=$build/bin/syn-bench
command -v wrk > /dev/null || { echo "bench: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
scratch=$(mktemp -d /var/tmp/synapse-bench-http.XXXXXX)
server=
cleanup() {
	[ -n "$server" ] && kill -TERM "$server" 2> /dev/null && wait "$server" 2> /dev/null
	rm -rf "$scratch"
}
trap cleanup EXIT

echo "bench: making 600 packs of 4 files"
export SYNAPSE_ROOT=$scratch/store
"$synapse" store init > /dev/null
SYNAPSE_FSYNC=0 "$bench" mkpacks "$SYNAPSE_ROOT" 600 4
"$synapse" doctor --rebuild-views > /dev/null 2>&1 || true  # exits 1: it built the views that were missing

# start_server [VAR=VALUE ...]: serve the store, $url its address
start_server() {
	env "$@" "$synapse" serve --port 0 > "$scratch/serve.out" 2> "$scratch/serve.err" &
	server=$!
	for _ in $(seq 500); do grep -q 'http://' "$scratch/serve.out" 2> /dev/null && break; sleep 0.01; done
	url=$(grep -o 'http://[^ ]*' "$scratch/serve.out")
	echo "bench: $(cat "$scratch/serve.out") $*"
}

stop_server() {
	kill -TERM "$server"
	wait "$server" || true
	server=
}

# same ROUTE CLI-ARGS...: the server's answer is byte for byte what `synapse --json` prints
same() {
	local route=$1
	shift
	if ! cmp -s <(curl -s "$url$route") <("$synapse" --json "$@"); then
		echo "bench: GET /$route differs from synapse --json $*" >&2
		exit 1
	fi
}

check_answers() {
	local pack=$SYNAPSE_ROOT/state/packs/Pack00007 sha
	same api/store/status status
	same api/packs/ list
	same api/store/status status
	same api/packs/ list
	# a hand edit of the same length, then a blob removed by hand, each seen at once
	sed -i 's/"pack_type": "lora"/"pack_type": "LORA"/' "$pack/pack.json"
	same api/packs/ list
	sha=$(grep -o '"sha256": "[0-9a-f]*"' "$pack/lock.json" | head -1 | grep -o '[0-9a-f]\{64\}')
	mv "$SYNAPSE_ROOT/data/blobs/sha256/${sha:0:2}/$sha" "$scratch/blob"
	same api/store/status status
	grep -q "$sha" <(curl -s "${url}api/store/status") || { echo "bench: the removed blob is not missing" >&2; exit 1; }
	mv "$scratch/blob" "$SYNAPSE_ROOT/data/blobs/sha256/${sha:0:2}/$sha"
	sed -i 's/"pack_type": "LORA"/"pack_type": "lora"/' "$pack/pack.json"
	same api/store/status status
	same api/packs/ list
}

# run ROUTE CONNS: one wrk run, one line
run() {
	local out rps p99 errors
	out=$(wrk -t "$([ "$2" = 1 ] && echo 1 || echo 2)" -c "$2" -d "${seconds}s" --latency "$url$1")
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")
	p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
	errors=$(grep -E 'Non-2xx|Socket errors' <<< "$out" || true)
	printf '%-20s %-6s %5s %12s %10s %s\n' "/$1" "$3" "$2" "$rps" "$p99" "$errors"
}

start_server
check_answers
echo "bench: the answers equal synapse --json, also right after hand edits"
printf '%-20s %-6s %5s %12s %10s\n' route cache conns req/s p99
for route in api/store/status api/packs/ api/openapi.json; do
	for conns in 1 16; do
		run "$route" "$conns" on
	done
done
echo "bench: server peak RSS $(awk '/^VmHWM:/ {print $2, $3}' "/proc/$server/status")"
stop_server

start_server SYNAPSE_HTTP_NO_WATCH=1
for route in api/store/status api/packs/; do
	run "$route" 16 off
done
echo "bench: server peak RSS $(awk '/^VmHWM:/ {print $2, $3}' "/proc/$server/status") (cache off)"
echo "bench: targets at 16 connections: >= 5000 req/s, p99 < 10 ms; peak RSS < 32 MiB"
