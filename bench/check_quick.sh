#!/bin/sh
# check_quick.sh - the CTest test bench.quick: `hl_bench --quick` runs and prints every
# figure. No timing is asserted: on a shared machine times say little.
# Usage: check_quick.sh HL_BENCH GUEST_DIR; exit 77 where guests cannot run.
set -u
bench=$1
guests=$2
out=$(mktemp)
json=$(mktemp)
trap 'rm -f "$out" "$json"' EXIT
"$bench" "$guests" --quick --json "$json" >"$out" 2>&1
rc=$?
cat "$out"
[ "$rc" = 77 ] && exit 77
fail() {
	echo "check_quick: $*" >&2
	exit 1
}
[ "$rc" = 0 ] || fail "hl_bench exited $rc"
# Every figure of issue 12's table, the alternatives and the curves.
for label in \
	'guest call, no arguments / floor' \
	'host callback, per crossing / floor' \
	'fresh-state call (restore <= 16 pages + call) / floor' \
	'cancel latency (cancel -> the call returns) / floor' \
	'sandbox from a snapshot to its first result / raw VM + first run' \
	'cold creation (load + init) / raw VM + the guest'"'"'s own init' \
	'restore 256 MiB / 1 MiB sandbox, 1 page dirtied' \
	'restore 256 MiB / 1 MiB sandbox, 16 pages dirtied' \
	'calls/s with 2 threads / calls/s with 1 thread' \
	'resident memory of 1000 idle sandboxes from one snapshot, beyond it' \
	'posix_spawn + wait of a small static program' \
	'fork server: request -> answer' \
	'new WebAssembly instance + call' \
	'Restore against sandbox size' \
	'Restore against dirtied pages' \
	'Creation against heap size' \
	'Throughput against threads' \
	'Resident memory against idle sandboxes' \
	'hl_bench summary: 10 targets:'; do
	grep -qF -- "$label" "$out" || fail "missing from the output: $label"
done
# A figure may be skipped with its reason (node absent), never left unmeasured.
if grep -q 'not measured' "$out"; then
	grep 'not measured' "$out" >&2
	fail "some figures were not measured"
fi
grep -q 'every figure measured' "$out" || fail "the summary does not say every figure was measured"
# The JSON holds the same figures.
if command -v python3 >/dev/null; then
	python3 - "$json" <<'PY' || fail "the JSON output is not what it should be"
import json, sys
d = json.load(open(sys.argv[1]))
targets = [f for f in d["figures"] if f["table"] == "target"]
assert len(targets) == 10, len(targets)
assert all(f["met"] in (True, False) for f in targets), targets
for k in ("restore_vs_size", "restore_vs_pages", "creation_vs_heap",
          "throughput_vs_threads", "memory_vs_sandboxes"):
    assert d["curves"][k]["rows"], k
PY
fi
echo "check_quick: every figure printed"
