#!/usr/bin/env bash
# HTTP benchmark: `synapse serve` on a store of 600 packs, wrk on
# GET /api/store/status and GET /api/packs/ with 1 and 16 connections for
# 10 s each: requests per second, p99 latency, and the server's peak RSS
# (VmHWM). Targets: >= 5,000 req/s at 16 connections, p99 < 10 ms, < 32 MiB.
# For reference, the same on GET /api/openapi.json, which runs no operation:
# what the server itself costs, apart from the operations.
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

"$synapse" serve --port 0 > "$scratch/serve.out" &
server=$!
for _ in $(seq 500); do grep -q 'http://' "$scratch/serve.out" 2> /dev/null && break; sleep 0.01; done
url=$(grep -o 'http://[^ ]*' "$scratch/serve.out")
echo "bench: $(cat "$scratch/serve.out")"
status=$(curl -s -o /dev/null -w '%{http_code}' "${url}api/store/status")
[ "$status" = 200 ] || { echo "bench: GET /api/store/status answered $status" >&2; exit 1; }

printf '%-20s %5s %12s %10s\n' route conns req/s p99
for route in api/store/status api/packs/ api/openapi.json; do
	for conns in 1 16; do
		out=$(wrk -t "$([ "$conns" = 1 ] && echo 1 || echo 2)" -c "$conns" -d "${seconds}s" --latency "$url$route")
		rps=$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")
		p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
		errors=$(grep -E 'Non-2xx|Socket errors' <<< "$out" || true)
		printf '%-20s %5s %12s %10s %s\n' "/$route" "$conns" "$rps" "$p99" "$errors"
	done
done
echo "bench: server peak RSS $(awk '/^VmHWM:/ {print $2, $3}' "/proc/$server/status")"
echo "bench: targets at 16 connections: >= 5000 req/s, p99 < 10 ms; peak RSS < 32 MiB"
