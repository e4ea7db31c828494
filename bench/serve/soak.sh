#!/bin/bash
# soak.sh BUILD [MINUTES] [CONNECTIONS] - a long wrk run of mixed traffic against
# `hyperlight serve` (1 KiB echo, WASM add, one guest fault in 100 requests) while the
# server's resident memory, open descriptors and threads are sampled every 10 s. Prints the
# samples, wrk's summary and a verdict: RSS and descriptors must end within 10% (and 8 MiB /
# 8 descriptors) of their values after the first minute, and nothing but 200s and the
# faults' 500s may come back. Defaults: 5 minutes, 16 connections.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: soak.sh BUILD [MINUTES] [CONNECTIONS]}
mins=${2:-5}
conns=${3:-16}
command -v wrk >/dev/null || { echo "wrk not found (Debian: wrk)" >&2; exit 2; }
. "$here/common.sh"
ncpu=$(nproc)
serve_start "$build" --pool "$ncpu" --queue 1024 --queue-timeout-ms 10000
trap 'kill -TERM $SERVE_PID 2>/dev/null || true' EXIT
out=$(mktemp)
wrk -t "$(( conns < ncpu ? conns : ncpu ))" -c "$conns" -d "$((mins * 60))s" --timeout 10s \
	-s "$here/mix.lua" "http://127.0.0.1:$SERVE_PORT" >"$out" 2>&1 &
wrk_pid=$!
sample() {
	local rss fds thr
	rss=$(awk '/^VmRSS/ {print $2}' /proc/$SERVE_PID/status)
	thr=$(awk '/^Threads/ {print $2}' /proc/$SERVE_PID/status)
	fds=$(ls /proc/$SERVE_PID/fd | wc -l)
	echo "$rss $fds $thr"
}
echo "time_s rss_kib fds threads"
t=0
base_rss="" base_fds=""
while kill -0 $wrk_pid 2>/dev/null; do
	read -r rss fds thr < <(sample)
	echo "$t $rss $fds $thr"
	if [ $t -eq 60 ] || { [ -z "$base_rss" ] && [ $((mins * 60)) -le 60 ]; }; then
		base_rss=$rss base_fds=$fds
	fi
	last_rss=$rss last_fds=$fds
	sleep 10
	t=$((t + 10))
done
wait $wrk_pid
grep RESULT "$out"
curl -s "http://127.0.0.1:$SERVE_PORT/metrics" | grep -E '^hyperlight_(guest_faults|sandbox_restore_failures)_total|^hyperlight_requests_total.*code="(5|4)' || true
trap - EXIT
serve_stop
status=0
res=$(grep RESULT "$out")
bad=$(echo "$res" | grep -oE ' [0-9]{3}=' | grep -vE ' (200|500)=' || true)
sock=$(echo "$res" | sed -E 's/.*socket_errors=([0-9]+).*/\1/')
if [ -n "$bad" ] || [ "$sock" != 0 ]; then
	echo "FAIL: unexpected statuses or socket errors"; status=1
fi
if [ -n "$base_rss" ]; then
	if [ $((last_rss - base_rss)) -gt $((base_rss / 10 > 8192 ? base_rss / 10 : 8192)) ] ||
	   [ $((last_fds - base_fds)) -gt $((base_fds / 10 > 8 ? base_fds / 10 : 8)) ]; then
		echo "FAIL: RSS ${base_rss} -> ${last_rss} KiB, fds ${base_fds} -> ${last_fds}"; status=1
	else
		echo "flat: RSS ${base_rss} -> ${last_rss} KiB, fds ${base_fds} -> ${last_fds} (after the first minute)"
	fi
fi
rm -f "$out"
exit $status
