#!/bin/bash
# test_js_cli.sh - `hyperlight js run` end to end: results, console output, every kind of failure and its exit status.
#
# Usage: test_js_cli.sh HYPERLIGHT_BINARY [WHY_THE_GUEST_IS_MISSING]
#
# Prints TAP (tests/lib/tap.sh) per case, then the plan and the counts; exits 1
# if any case failed, 77 (skipped) without /dev/kvm or the JavaScript guest.
set -u
if [ $# -lt 1 ]; then
	echo "usage: $0 HYPERLIGHT_BINARY [WHY]" >&2
	exit 2
fi
HL=$1
WHY=${2:-}
. "$(dirname "$0")/../lib/tap.sh"
tap_tmpdir test_js_cli

# The binary under test (tap.sh's expect runs it too).
hl() { run_capture "$HL" "$@"; }
# The runs are skipped (exit 77) when nothing failed before them.
skip_the_runs() {
	skip "the runs" "$1"
	tap_done && exit 77
	exit 1
}

# The command line itself, everywhere.
hl js help
if [ "$rc" -eq 0 ] && [[ $out == *"hyperlight js run"* ]]; then pass "help"; else fail "help" "$(last)"; fi
expect "no subcommand" 1 "" "missing command" js
expect "unknown subcommand" 1 "" "unknown command 'go'" js go
expect "too few arguments" 1 "" "expected FILE.js HANDLER JSON" js run a.js
expect "unknown option" 1 "" "unknown option '--fast'" js run --fast 1 a.js h 1
expect "bad size" 1 "" "is not a number" js run --memory lots a.js h 1
expect "missing file" 3 "" "cannot read $tmp/none.js" js run "$tmp/none.js" handler 1

have_kvm || skip_the_runs "/dev/kvm is not available"
if [ -n "$WHY" ]; then
	echo 'function handler(e) { return e; }' >"$tmp/echo.js"
	expect "no guest is a host error" 3 "" "HL_JS_E_NO_GUEST" js run "$tmp/echo.js" handler 1
	skip_the_runs "the JavaScript guest was not built: $WHY"
fi

cat >"$tmp/h.js" <<'JS'
function handler(event) {
  console.log("event", event);
  console.error("to stderr");
  return { greeting: "hello " + event.name, list: [1, 2.5, null, true] };
}
function greet(event) { return { greeting: "hello " + event.name, list: [1, 2.5, null, true] }; }
function boom(e) {
  throw new RangeError("bad " + e);
}
function spin() { for (;;) {} }
function bomb() { const a = []; for (;;) a.push(new Array(1e5).fill(1)); }
function deep(n) { return n === 0 ? 0 : 1 + deep(n - 1); }
async function later(e) { await null; return e * 2; }
JS
printf 'export default function (e) { return [e, typeof globalThis.handler]; }\n' >"$tmp/m.mjs"
printf 'function handler(e) {\n  return e +;\n}\n' >"$tmp/bad.js"

EXAMPLE=$(cd "$(dirname "$0")/../.." && pwd)/examples/greet.js
expect "the README's example" 0 'greeting world'$'\n''{"greeting":"hello world","at":"1970-01-01T00:00:00.000Z"}' "" \
	js run "$EXAMPLE" handler '{"name":"world"}'
expect "a handler's result" 0 '{"greeting":"hello world","list":[1,2.5,null,true]}' "" \
	js run "$tmp/h.js" greet '{"name":"world"}'
expect "console.log goes to stdout, console.error to stderr" 0 \
	'event {"name":"x"}'$'\n''{"greeting":"hello x","list":[1,2.5,null,true]}' "to stderr" \
	js run "$tmp/h.js" handler '{"name":"x"}'
TAP_STDIN="$tmp/in.json"
echo '{"name":"stdin"}' >"$TAP_STDIN"
hl js run "$tmp/h.js" handler -
if [ "$rc" -eq 0 ] && [[ $out == *'"hello stdin"'* ]]; then pass "JSON from stdin"; else fail "JSON from stdin" "$(last)"; fi
unset TAP_STDIN
expect "an async handler" 0 "42" "" js run "$tmp/h.js" later 21
expect "a module's default export" 0 '[3,"undefined"]' "" js run "$tmp/m.mjs" handler 3
expect "an exception, with its stack" 2 "" "RangeError: bad 5" js run "$tmp/h.js" boom 5
[[ $err == *"at boom ($tmp/h.js:8"* ]] && pass "the stack names the file and line" ||
	fail "the stack names the file and line" "$(last)"
expect "a syntax error" 2 "" "SyntaxError" js run "$tmp/bad.js" handler 1
expect "no such function" 2 "" "defines no function nothere" js run "$tmp/h.js" nothere 1
expect "JSON that does not parse" 2 "" "the argument is not JSON" js run "$tmp/h.js" handler '{x'
expect "an infinite loop times out" 2 "" "HL_JS_E_TIMEOUT" js run --timeout-ms 300 "$tmp/h.js" spin 0
expect "an allocation bomb hits the limit" 2 "" "HL_JS_E_MEMORY" js run --memory 16M --timeout-ms 20000 \
	"$tmp/h.js" bomb 0
expect "deep recursion overflows the stack" 2 "" "HL_JS_E_STACK" js run "$tmp/h.js" deep 10000000
expect "deep recursion within the stack" 0 "1000" "" js run "$tmp/h.js" deep 1000
expect "a result past the output buffer" 2 "" "HL_JS_E_RESULT" js run --output 64K "$tmp/h.js" greet \
	"{\"name\":\"$(head -c 70000 /dev/zero | tr '\0' x)\"}"

tap_done
