#!/bin/bash
# run_wrk.sh BUILD [SECONDS] [CONNECTIONS] - load figures of `hyperlight serve` with wrk:
# requests/s, p50/p99/p99.9 latency and errors for a no-op native call, a 1 KiB echo, and a
# WASM add, at each connection count (default 1,16,64), SECONDS each (default 10).
# The server gets --pool = the number of CPUs and no access log; wrk runs on the same machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run_wrk.sh BUILD [SECONDS] [CONNECTIONS]}
secs=${2:-10}
conns=${3:-1,16,64}
command -v wrk >/dev/null || { echo "wrk not found (Debian: wrk; scripts/deps.sh installs it)" >&2; exit 2; }
. "$here/common.sh"
ncpu=$(nproc)
serve_start "$build" --pool "$ncpu" --queue 1024 --queue-timeout-ms 10000 --max-connections 4096
trap 'kill -TERM $SERVE_PID 2>/dev/null || true' EXIT
echo1k="[\"$(head -c 1024 /dev/zero | tr '\0' x)\"]"
url=http://127.0.0.1:$SERVE_PORT
echo "hyperlight serve --pool $ncpu on $(nproc) CPUs ($("$build/hyperlight" doctor --quiet 2>/dev/null || true)); wrk ${secs}s per row"
printf '%-8s %5s %10s %9s %9s %9s %s\n' scenario conns req/s "p50 ms" "p99 ms" "p99.9 ms" errors
for sc in noop echo1k wasm; do
	case $sc in
	noop) path=/v1/simpleguest/NoOp body='[]' ;;
	echo1k) path=/v1/simpleguest/Echo body=$echo1k ;;
	wasm) path=/v1/bench/add body='[40,2]' ;;
	esac
	for c in ${conns//,/ }; do
		t=$(( c < ncpu ? c : ncpu ))
		line=$(wrk -t "$t" -c "$c" -d "${secs}s" --timeout 10s -s "$here/call.lua" "$url$path" -- "$body" | grep '^RESULT')
		eval "$(echo "$line" | sed -E 's/^RESULT //; s/ errors=([0-9]+) .*/ errors=\1/')"
		printf '%-8s %5d %10s %9s %9s %9s %s\n' "$sc" "$c" "$rps" "$p50_ms" "$p99_ms" "$p999_ms" "$errors"
	done
done
trap - EXIT
serve_stop
