#!/bin/bash
# fuzz.sh [SECONDS] - builds every libFuzzer target with ASan+UBSan and runs each
# for SECONDS (default 30) from its seed corpus; prints executions and crashes.
# A long run by hand: scripts/fuzz.sh 3600
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
out=build-fuzz
mkdir -p "$out"
status=0
for src in fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	target=${name#fuzz_}
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iinclude -Isrc "$src" src/host/elf.c -o "$out/$name"
	corpus="$out/corpus-$target"
	mkdir -p "$corpus"
	log="$out/$name.log"
	if "$out/$name" -max_total_time="$secs" -print_final_stats=1 "$corpus" "fuzz/corpus/$target" >"$log" 2>&1; then
		result=ok
	else
		result=CRASH
		status=1
	fi
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
	echo "$name: $result, $execs executions in ${secs}s (log: $log)"
	[ "$result" = ok ] || tail -30 "$log"
done
exit $status
