#!/bin/sh
# run_bench.sh - the wasm bench: Node's figures, then hl_wasm_bench's with ratios, on this machine.
# Usage: wasm/bench/run_bench.sh [BUILD_DIR] [ITERS]
# Without /dev/kvm: tests/vm/run-in-vm.sh -- wasm/bench/run_bench.sh BUILD_DIR
set -eu
build=${1:-build}
iters=${2:-2000}
here=$(dirname "$0")
json=$(mktemp)
trap 'rm -f "$json"' EXIT
node "$here/node_bench.js" "$build/wasm/guests/bench.wasm" "$iters" >"$json"
"$build/wasm/hl_wasm_bench" --iters "$iters" --node "$json"
