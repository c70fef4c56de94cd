#!/bin/sh
# ctest `browser`: the page in headless Chromium against the real synapse serve.
# Skipped (exit 77) when chromium or python3 is not installed; the test setup
# (scripts/install-deps.sh without --build) installs both.
#
#   run.sh <synapse> <syn-bench-server> <artifacts dir>
for p in chromium python3; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "browser: $p is not installed; skipping (scripts/install-deps.sh installs it)"
		exit 77
	fi
done
exec python3 "$(dirname "$0")/page_test.py" --synapse "$1" --civitai-server "$2" --artifacts "$3"
