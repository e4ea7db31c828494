#!/bin/bash
# test_wasm_cli.sh - `hyperlight wasm build` and `hyperlight wasm run` end to end: argument errors and builds everywhere, runs where /dev/kvm works.
#
# Usage: test_wasm_cli.sh HYPERLIGHT_BINARY WASM_GUEST_DIR
#
# WASM_GUEST_DIR holds the test modules (*.wasm) and their guests, as the
# build leaves them in build/wasm/guests. Prints TAP (tests/lib/tap.sh) per
# case, then the plan and the counts; exits 1 if any case failed.
set -u

. "$(dirname "$0")/../lib/tap.sh"
tap_args "HYPERLIGHT_BINARY WASM_GUEST_DIR" "$@"
HL=$1
W=$2
tap_tmpdir test_wasm_cli

# The binary under test (tap.sh's expect runs it too).
hl() { run_capture "$HL" "$@"; }

# ---- the command line ----------------------------------------------------------------
hl wasm help
if [ "$rc" -eq 0 ] && [[ $out == *"hyperlight wasm build"* ]]; then pass "help"; else fail "help" "$(last)"; fi
expect "no subcommand" 1 "" "missing command" wasm
expect "unknown subcommand" 1 "" "unknown command 'frobnicate'" wasm frobnicate
expect "build without a module" 1 "" "missing MODULE.wasm" wasm build
expect "build with an unknown option" 1 "" "unknown option '--fast'" wasm build --fast "$W/arith.wasm"
expect "build with two modules" 1 "" "more than one MODULE" wasm build "$W/arith.wasm" "$W/bench.wasm"
expect "build needs -o for a name without .wasm" 1 "" "give the output with -o" wasm build "$W/arith"
expect "build with a bad --max-call-depth" 1 "" "not a number of calls" wasm build --max-call-depth x "$W/arith.wasm"
expect "run without a guest" 1 "" "missing GUEST and FUNCTION" wasm run
expect "run without a function" 1 "" "missing FUNCTION" wasm run "$W/arith"
expect "run with a bad size" 1 "" "is not a size" wasm run --heap lots "$W/arith" noop
expect "run with a bad --env" 1 "" "is not NAME=VALUE" wasm run --env FOO "$W/arith" noop

# ---- builds (no KVM needed) ---------------------------------------------------------------
expect "build a missing module" 3 "" "cannot read" wasm build "$tmp/none.wasm" -o "$tmp/none"
expect "build a module with an unsupported import" 3 "" "HL_WASM_E_MODULE" \
	wasm build "$W/bad_import_module.wasm" -o "$tmp/bad"
expect "build a module importing a memory" 3 "" "can import a memory only from module" \
	wasm build "$W/bad_import_memory.wasm" -o "$tmp/bad"
expect "build with -o (and -O0)" 0 "" "" wasm build -O0 "$W/arith.wasm" -o "$tmp/arith"
if [ "$(head -c 4 "$tmp/arith" | od -An -c | tr -d ' ')" = "177ELF" ]; then
	pass "the guest is an ELF file"
else
	fail "the guest is an ELF file" "$(head -c 4 "$tmp/arith" | od -An -c)"
fi
cp "$W/bench.wasm" "$tmp/b.wasm"
expect "build names the guest after the module" 0 "" "" wasm build -O1 "$tmp/b.wasm"
[ -x "$tmp/b" ] && pass "the default output exists" || fail "the default output exists" "no $tmp/b"
expect "build notes skipped exports" 0 "" "export 'two' is not callable from the host" \
	wasm build -O0 "$W/arith.wasm" -o "$tmp/arith2"
hl wasm build -v -O0 "$W/bench.wasm" -o "$tmp/b2"
if [ "$rc" -eq 0 ] && [[ $err == *"running: "*wasm2c* ]]; then pass "build -v shows the commands"; else fail "build -v shows the commands" "$(last)"; fi
if [ -n "$(command -v clang)" ] && [ -n "$(command -v wasm-ld)" ]; then
	cat >"$tmp/sq.c" <<'C'
int square(int x) { return x * x; }
C
	if clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export-all -o "$tmp/sq.wasm" "$tmp/sq.c" 2>"$tmp/clang.err"; then
		expect "build a module compiled from C" 0 "" "" wasm build -O0 "$tmp/sq.wasm" -o "$tmp/sq"
	else
		fail "compile a module from C" "$(cat "$tmp/clang.err")"
	fi
else
	skip "build a module compiled from C" "no clang or wasm-ld"
fi

# ---- runs ---------------------------------------------------------------------------------
kvm=no
have_kvm && kvm=yes
run_case() {
	if [ "$kvm" = no ]; then
		skip "$1" "no /dev/kvm"
		return 1
	fi
	return 0
}
if run_case "run add_i32"; then expect "run add_i32" 0 "5" "" wasm run "$tmp/arith" add_i32 2 3; fi
if run_case "run with TYPE:VALUE and hex"; then expect "run with TYPE:VALUE and hex" 0 "-1" "" wasm run "$tmp/arith" add_i32 i32:0xfffffffe 1; fi
if run_case "run f64"; then expect "run f64" 0 "0.30000000000000004" "" wasm run "$tmp/arith" add_f64 0.1 0.2; fi
if run_case "run f32"; then expect "run f32" 0 "3.75" "" wasm run "$tmp/arith" add_f32 1.5 2.25; fi
if run_case "run i64"; then expect "run i64" 0 "2880067194370816120" "" wasm run "$tmp/arith" fib_i64 90; fi
if run_case "run void"; then expect "run void" 0 "" "" wasm run "$tmp/arith" noop; fi
if run_case "run a module from C"; then
	if [ -x "$tmp/sq" ]; then expect "run a module from C" 0 "49" "" wasm run "$tmp/sq" square 7; else skip "run a module from C" "not built"; fi
fi
if run_case "run with the wrong number of arguments"; then expect "run with the wrong number of arguments" 1 "" "add_i32 takes 2 arguments (i32, i32), got 1" wasm run "$tmp/arith" add_i32 2; fi
if run_case "run with a bad argument"; then expect "run with a bad argument" 1 "" "is not a valid i32" wasm run "$tmp/arith" add_i32 2 x; fi
if run_case "run with an out-of-range argument"; then expect "run with an out-of-range argument" 1 "" "is not a valid i32" wasm run "$tmp/arith" add_i32 2 4294967296; fi
if run_case "run with the wrong TYPE:"; then expect "run with the wrong TYPE:" 1 "" "is not a valid i32" wasm run "$tmp/arith" add_i32 i64:2 3; fi
if run_case "run an unknown function"; then expect "run an unknown function" 1 "" "HL_E_NO_FUNCTION" wasm run "$tmp/arith" nope; fi
if run_case "run a trap"; then expect "run a trap" 2 "" "wasm trap: integer divide by zero" wasm run "$W/traps" div_s 1 0; fi
if run_case "run stack exhaustion"; then expect "run stack exhaustion" 2 "" "wasm trap: call stack exhausted" wasm run "$W/traps" recurse 0; fi
if run_case "run prints WASI output"; then expect "run prints WASI output" 0 "$(printf 'started\nhello from wasm\n16')" "" wasm run "$W/wasi" hello; fi
if run_case "run passes WASI args and env"; then
	hl wasm run --arg one --env K=V "$W/wasi" print_env
	if [ "$rc" -eq 0 ] && [ "$(tr '\0' '|' <"$tmp/out")" = "$(printf 'started\nK=V|1')" ]; then
		pass "run passes WASI args and env"
	else
		fail "run passes WASI args and env" "$(last)"
	fi
fi
if run_case "run proc_exit"; then expect "run proc_exit" 2 "started" "proc_exit(7)" wasm run "$W/wasi" exit 7; fi
if run_case "run a module that cannot instantiate"; then expect "run a module that cannot instantiate" 2 "" "wasm trap during instantiation" wasm run "$W/badinit" f; fi
if run_case "run with a heap too small"; then expect "run with a heap too small" 2 "" "larger heap" wasm run --heap 16K "$W/growheap" size; fi

tap_done
