#!/bin/bash
# fuzz.sh [SECONDS] - builds every libFuzzer target with ASan+UBSan and runs each
# for SECONDS (default 30) from its seed corpus; prints executions and crashes
# per target and exits non-zero if any target crashed.
# A long run by hand: scripts/fuzz.sh 3600
# One target: FUZZ_TARGETS=records scripts/fuzz.sh 60
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
out=build-fuzz
mkdir -p "$out"

# The library sources each target links, besides fuzz/fuzz_<target>.c.
# The whole host library (seccomp.c without HL_HAVE_SECCOMP: no libseccomp),
# with the backend's entry code (kvm/*.S).
host_lib=$(echo src/host/*.c src/host/kvm/*.c src/host/kvm/*.S)
declare -A sources=(
	[elf]="src/host/elf.c"
	[records]="src/host/records.c"
	[config]="$host_lib"
)
declare -A libs=(
	[config]="-lpthread"
)
targets=${FUZZ_TARGETS:-$(for s in fuzz/fuzz_*.c; do t=$(basename "$s" .c); echo "${t#fuzz_}"; done)}

status=0
for target in $targets; do
	name=fuzz_$target
	if [ -z "${sources[$target]+x}" ]; then
		echo "$name: no source list in scripts/fuzz.sh" >&2
		status=1
		continue
	fi
	# shellcheck disable=SC2086 # the lists are split on purpose
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iinclude -Isrc -Iwasm/include "fuzz/$name.c" ${sources[$target]} ${libs[$target]:-} -o "$out/$name"
	corpus="$out/corpus-$target"
	rm -rf "$out/crashes-$target"
	mkdir -p "$corpus" "$out/crashes-$target"
	log="$out/$name.log"
	start=$(date +%s)
	if "$out/$name" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$out/crashes-$target/" "$corpus" "fuzz/corpus/$target" >"$log" 2>&1; then
		crashes=0
	else
		crashes=$(find "$out/crashes-$target" -type f | wc -l)
		[ "$crashes" -gt 0 ] || crashes=1 # the fuzzer failed without writing an input
		status=1
	fi
	took=$(($(date +%s) - start))
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
	echo "$name: $execs executions, $crashes crashes in ${took}s (coverage $cov edges; log: $log)"
	[ "$crashes" = 0 ] || tail -30 "$log"
done
exit $status
