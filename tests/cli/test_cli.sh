#!/bin/bash
# test_cli.sh - tests of the hyperlight command-line driver: its argument errors everywhere, its guest runs where /dev/kvm works.
#
# Usage: test_cli.sh HYPERLIGHT_BINARY GUEST_DIR
#
# Prints TAP (tests/lib/tap.sh): "ok - NAME", "ok - NAME # SKIP reason" or
# "not ok - NAME" and its details for each case, then the plan and the
# counts; exits 1 if any case failed. Cases that need a guest to run are
# skipped when /dev/kvm cannot be opened. HL_CLI_WRAPPER, if set, is put in
# front of every invocation, e.g.
# HL_CLI_WRAPPER="valgrind -q --leak-check=full --error-exitcode=99".
set -u

. "$(dirname "$0")/../lib/tap.sh"
tap_args "HYPERLIGHT_BINARY GUEST_DIR" "$@"
HL=$1
GUESTS=$2
if [ ! -x "$HL" ]; then
	echo "$0: '$HL' is not an executable file" >&2
	exit 2
fi

tap_tmpdir test_cli

# hl ARGS...: runs the binary (run_capture: rc, out, err).
hl() {
	# shellcheck disable=SC2086  # the wrapper is a command line on purpose
	run_capture ${HL_CLI_WRAPPER:-} "$HL" "$@"
}

# expect NAME RC STDERR_SUBSTRING ARGS...: exit status RC, nothing on stdout
# and STDERR_SUBSTRING in the message. For the error cases.
expect_error() {
	local name=$1 want_rc=$2 want_err=$3
	shift 3
	hl "$@"
	if [ "$rc" -ne "$want_rc" ]; then
		fail "$name" "expected exit $want_rc; $(last)"
	elif [ -s "$tmp/out" ]; then
		fail "$name" "expected nothing on stdout; $(last)"
	elif [[ $err != "hyperlight: "* ]]; then
		fail "$name" "expected a 'hyperlight: ' message on stderr; $(last)"
	elif [[ $err != *"$want_err"* ]]; then
		fail "$name" "expected '$want_err' in the message; $(last)"
	else
		pass "$name"
	fi
}

# expect_out NAME EXPECTED ARGS...: exit 0 and stdout exactly EXPECTED plus
# a newline.
expect_out() {
	local name=$1 want=$2
	shift 2
	hl "$@"
	if [ "$rc" -ne 0 ]; then
		fail "$name" "expected exit 0; $(last)"
	elif ! printf '%s\n' "$want" | cmp -s - "$tmp/out"; then
		fail "$name" "expected stdout '$want' and a newline; $(last)"
	else
		pass "$name"
	fi
}

# ---------------------------------------------------------------- no KVM needed
expect_error "--timeout-ms needs a number" 1 "milliseconds" run --timeout-ms soon x y
expect_error "--timeout-ms 0 is refused" 1 "milliseconds" run --timeout-ms 0 x y
nofile=$tmp/no-such-guest
printf 'this is not an ELF file\n' >"$tmp/notelf"
printf '\177ELF\002\001\001\000garbage' >"$tmp/truncated-elf"

hl --help
if [ "$rc" -eq 0 ] && [[ $out == *"Usage: hyperlight run"* ]] && [ ! -s "$tmp/err" ]; then
	pass "--help prints the usage on stdout and exits 0"
else
	fail "--help prints the usage on stdout and exits 0" "$(last)"
fi
hl -h
if [ "$rc" -eq 0 ] && [[ $out == *"Usage:"* ]]; then pass "-h is --help"; else fail "-h is --help" "$(last)"; fi
hl run --help
if [ "$rc" -eq 0 ] && [[ $out == *"TYPE:VALUE"* ]]; then
	pass "run --help prints the usage and exits 0"
else
	fail "run --help prints the usage and exits 0" "$(last)"
fi

hl --version
if [ "$rc" -eq 0 ] && [[ $out =~ ^hyperlight\ [0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	pass "--version prints the library version"
else
	fail "--version prints the library version" "$(last)"
fi

if [ -w /dev/full ]; then
	timeout 60 "$HL" --version >/dev/full 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q "stdout" "$tmp/err"; then
		pass "a failed write to stdout is an error"
	else
		fail "a failed write to stdout is an error" "exit $rc, stderr [$(cat "$tmp/err")]"
	fi
fi

hl
if [ "$rc" -eq 1 ] && [[ $err == *"Usage:"* ]] && [ ! -s "$tmp/out" ]; then
	pass "no command prints the usage on stderr and exits 1"
else
	fail "no command prints the usage on stderr and exits 1" "$(last)"
fi

expect_error "unknown command" 1 "unknown command 'frobnicate'" frobnicate
expect_error "unknown option" 1 "unknown option '--frobnicate'" run --frobnicate "$nofile" Echo
expect_error "unknown short option" 1 "unknown option '-z'" run -z "$nofile" Echo
expect_error "option before the command" 1 "unknown option '--heap'" --heap 1M run "$nofile" Echo
expect_error "option without its value" 1 "--heap needs a value" run --heap
expect_error "size with a bad suffix" 1 "'12X' is not a size" run --heap 12X "$nofile" Echo
expect_error "negative size" 1 "'-5' is not a size" run --stack=-5 "$nofile" Echo
expect_error "empty size" 1 "'' is not a size" run --input "" "$nofile" Echo
expect_error "size that overflows" 1 "is not a size" run --output 99999999999999999999G "$nofile" Echo
expect_error "size of 2^64 bytes overflows" 1 "is not a size" run --output 17179869184G "$nofile" Echo
expect_error "unknown log level" 1 "'loud' is not a log level" run --log-level loud "$nofile" Echo
expect_error "run without GUEST" 1 "missing GUEST" run
expect_error "run without FUNCTION" 1 "missing FUNCTION" run "$nofile"
expect_error "info without GUEST" 1 "missing GUEST" info
expect_error "info with an extra operand" 1 "unexpected argument 'extra'" info "$nofile" extra
expect_error "demo with an extra operand" 1 "unexpected argument 'extra'" demo "$GUESTS" extra

# The arguments are checked before the guest is loaded, so a missing guest
# file does not hide them and these cases need no KVM.
expect_error "argument without a type" 1 "argument 1 'hello': expected TYPE:VALUE" run "$nofile" Echo hello
expect_error "argument of an unknown type" 1 "unknown type 'int'" run "$nofile" Echo int:5
expect_error "argument with an empty type" 1 "unknown type ''" run "$nofile" Echo :5
expect_error "type names are case sensitive" 1 "unknown type 'I32'" run "$nofile" Echo I32:5
expect_error "bad i32" 1 "argument 1 (i32): 'abc' is not a decimal integer" run "$nofile" Echo i32:abc
expect_error "i32 with a fraction" 1 "'1.5' is not a decimal integer" run "$nofile" Echo i32:1.5
expect_error "i32 with a leading space" 1 "' 5' is not a decimal integer" run "$nofile" Echo "i32: 5"
expect_error "i32 with trailing junk" 1 "'5x' is not a decimal integer" run "$nofile" Echo i32:5x
expect_error "empty i32" 1 "'' is not a decimal integer" run "$nofile" Echo i32:
expect_error "i32 out of range" 1 "argument 1 (i32): '99999999999' is out of range for i32 [-2147483648, 2147483647]" \
	run "$nofile" Echo i32:99999999999
expect_error "i32 just below its range" 1 "out of range for i32" run "$nofile" Echo i32:-2147483649
expect_error "the bad argument's index is named" 1 "argument 3 (i32)" run "$nofile" Echo i32:1 string:x i32:2147483648
expect_error "u32 of -1" 1 "argument 1 (u32): '-1' is out of range for u32 [0, 4294967295]" run "$nofile" Echo u32:-1
expect_error "u32 of 2^32" 1 "out of range for u32" run "$nofile" Echo u32:4294967296
expect_error "i64 out of range" 1 "out of range for i64" run "$nofile" Echo i64:9223372036854775808
expect_error "u64 out of range" 1 "out of range for u64 [0, 18446744073709551615]" run "$nofile" Echo u64:18446744073709551616
expect_error "u64 of -1" 1 "out of range for u64" run "$nofile" Echo u64:-1
expect_error "bad f64" 1 "argument 1 (f64): 'abc' is not a number" run "$nofile" Echo f64:abc
expect_error "empty f64" 1 "'' is not a number" run "$nofile" Echo f64:
expect_error "f64 with trailing junk" 1 "'1.5x' is not a number" run "$nofile" Echo f64:1.5x
expect_error "f64 out of range" 1 "'1e999' is out of range for f64" run "$nofile" Echo f64:1e999
expect_error "f64 that rounds to zero" 1 "'1e-400' is too small for f64" run "$nofile" Echo f64:1e-400
expect_error "f32 out of range" 1 "'1e39' is out of range for f32" run "$nofile" Echo f32:1e39
expect_error "bad bool" 1 "argument 1 (bool): 'yes' is not a bool" run "$nofile" Echo bool:yes
expect_error "bytes of odd length" 1 "argument 1 (bytes): 'abc' has an odd number of hex digits" run "$nofile" Echo bytes:abc
expect_error "bytes that are not hex" 1 "'0g' is not hex" run "$nofile" Echo bytes:0g

expect_error "nonexistent guest file" 3 "HL_E_IO" run "$nofile" Echo string:x
if [[ $err != *"$nofile"* ]]; then fail "the missing guest file is named" "$(last)"; else pass "the missing guest file is named"; fi
expect_error "a directory as the guest" 3 "HL_E_IO" run "$tmp" Echo string:x
expect_error "a text file as the guest" 3 "HL_E_ELF" run "$tmp/notelf" Echo string:x
expect_error "a truncated ELF as the guest" 3 "HL_E_ELF" run "$tmp/truncated-elf" Echo string:x
expect_error "info on a non-ELF file" 3 "HL_E_ELF" info "$tmp/notelf"
expect_error "a dynamically linked program as the guest" 3 "HL_E_ELF" run "$HL" Echo string:x
# The library checks the sizes when it loads, before it reads the ELF.
expect_error "heap below the library's minimum" 1 "HL_E_CONFIG" run --heap 1K "$tmp/notelf" Echo
expect_error "stack above the library's maximum" 1 "HL_E_CONFIG" run --stack 1G "$tmp/notelf" Echo
expect_error "-- ends the options" 3 "cannot open guest '-odd'" run -- -odd Echo
expect_error "demo without its guests" 3 "no readable simpleguest in '$tmp'" demo "$tmp"
HYPERLIGHT_GUEST_DIR=$tmp expect_error "demo with a bad HYPERLIGHT_GUEST_DIR" 3 "HYPERLIGHT_GUEST_DIR" demo

# ---------------------------------------------------------------- KVM needed
kvm=no
have_kvm && kvm=yes
sg=$GUESTS/simpleguest
cg=$GUESTS/callbackguest
dg=$GUESTS/dummyguest

# kvm_case NAME: true if the case should run; says SKIP otherwise.
kvm_case() {
	if [ "$kvm" = no ]; then
		skip "$1" "no /dev/kvm"
		return 1
	fi
	return 0
}

# The echo function of a type, found in the guest's own list: a function
# "Name(T) -> T", preferring one whose name starts with Echo.
echo_fn() {
	local t=$1 list
	list=$(timeout 300 "$HL" info "$sg" 2>/dev/null | sed -n "s/^\([A-Za-z_][A-Za-z0-9_]*\)($t) -> $t\$/\1/p")
	printf '%s\n' "$list" | grep '^Echo' | head -n 1 | grep . || printf '%s\n' "$list" | head -n 1
}

if [ "$kvm" = yes ] && [ ! -r "$sg" ]; then
	fail "the sample guests are built" "no $sg (is GUEST_DIR right?)"
fi

kvm_case "Echo string:hello prints hello" && expect_out "Echo string:hello prints hello" hello run "$sg" Echo string:hello
kvm_case "EchoI32 i32:-5 prints -5" && expect_out "EchoI32 i32:-5 prints -5" -5 run "$sg" EchoI32 i32:-5
kvm_case "an empty string round-trips" && expect_out "an empty string round-trips" "" run "$sg" Echo string:
kvm_case "a string with colons round-trips" && expect_out "a string with colons round-trips" "a:b::c" run "$sg" Echo string:a:b::c
kvm_case "a UTF-8 string round-trips" && expect_out "a UTF-8 string round-trips" "héllo wörld ✓" run "$sg" Echo "string:héllo wörld ✓"

# Every type through its echo function, with its edge values.
declare -A values=(
	[i32]="-5:-5 2147483647:2147483647 -2147483648:-2147483648 +7:7"
	[u32]="0:0 4294967295:4294967295"
	[i64]="-9223372036854775808:-9223372036854775808 9007199254740993:9007199254740993"
	[u64]="18446744073709551615:18446744073709551615 0:0"
	[f32]="1.5:1.5 0.1:0.1 -0:-0 nan:nan inf:inf -inf:-inf 3.4028235e38:3.4028235e+38 1e-45:1e-45"
	[f64]="1e-300:1e-300 0.1:0.1 -0:-0 nan:nan inf:inf -inf:-inf 5e-324:5e-324 3.141592653589793:3.141592653589793 2.5:2.5"
	[bool]="true:true false:false"
	[string]="hello:hello"
	[bytes]="0a0b0c:0a0b0c 00FF:00ff :"
)
for t in i32 u32 i64 u64 f32 f64 bool string bytes; do
	name="every type: $t round-trips"
	kvm_case "$name" || continue
	fn=$(echo_fn "$t")
	if [ -z "$fn" ]; then
		fail "$name" "simpleguest exports no function $t -> $t"
		continue
	fi
	for pair in ${values[$t]}; do
		in=${pair%%:*} want=${pair#*:}
		expect_out "$name: $fn($t:$in) prints '$want'" "$want" run "$sg" "$fn" "$t:$in"
	done
done

name="a void function prints nothing"
if kvm_case "$name"; then
	vfn=$(timeout 300 "$HL" info "$sg" 2>/dev/null | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)() -> void$/\1/p' | head -n 1)
	if [ -z "$vfn" ]; then
		skip "$name" "simpleguest exports no function () -> void"
	else
		hl run "$sg" "$vfn"
		if [ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ]; then pass "$name ($vfn)"; else fail "$name ($vfn)" "$(last)"; fi
	fi
fi

name="PrintOutput's text reaches stdout"
if kvm_case "$name"; then
	hl run "$sg" PrintOutput "string:printed by the guest"
	if [ "$rc" -eq 0 ] && [[ $out == "printed by the guest"* ]]; then pass "$name"; else fail "$name" "$(last)"; fi
fi

name="GuestMethod1 returns what HostMethod1 returned"
if kvm_case "$name"; then
	# HostMethod1 returns the length of the message the guest built around
	# ours: two messages 5 bytes apart give results 5 apart.
	hl run "$cg" GuestMethod1 string:a
	r1=$out rc1=$rc
	hl run "$cg" GuestMethod1 string:abcdef
	if [ "$rc1" -eq 0 ] && [ "$rc" -eq 0 ] && [[ $r1 =~ ^[0-9]+$ ]] && [[ $out =~ ^[0-9]+$ ]] &&
		[ "$r1" -ge 1 ] && [ $((out - r1)) -eq 5 ]; then
		pass "$name"
	else
		fail "$name" "results '$r1' (exit $rc1) and '$out' should differ by 5; $(last)"
	fi
fi

name="--timeout-ms cancels a spinning guest"
if kvm_case "$name"; then
	hl run --timeout-ms 300 "$sg" Spin
	if [ "$rc" -eq 2 ] && [[ $err == *"HL_E_CANCELLED"* ]]; then pass "$name"; else fail "$name" "$(last)"; fi
fi
kvm_case "--timeout-ms leaves a quick call alone" &&
	expect_out "--timeout-ms leaves a quick call alone" 7 run --timeout-ms 5000 "$sg" EchoI32 i32:7

name="bench times creation, the call and a fresh-state call"
if kvm_case "$name"; then
	hl bench "$sg" EchoI32 i32:1
	if [ "$rc" -eq 0 ] && [ "$(grep -c 'median .* us   p99 .* us' "$tmp/out")" -eq 3 ]; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
fi
expect_error "bench needs a function" 1 "missing FUNCTION" bench "$sg"

# The sample host functions, through the callbackguest functions that call them.
kvm_case "HostAdd adds" && expect_out "HostAdd adds" 42 run "$cg" GuestMethod2 i32:40 i32:2
kvm_case "HostAdd wraps around" && expect_out "HostAdd wraps around" -2147483648 run "$cg" GuestMethod2 i32:2147483647 i32:1
kvm_case "HostEcho echoes" && expect_out "HostEcho echoes" "echo: me" run "$cg" GuestMethod3 "string:echo: me"
kvm_case "HostGetBytes returns i & 0xff" &&
	expect_out "HostGetBytes returns i & 0xff" 000102030405060708090a0b0c0d0e0f run "$cg" GuestMethod4 u32:16
kvm_case "HostGetBytes of 0 bytes" && expect_out "HostGetBytes of 0 bytes" "" run "$cg" GuestMethod4 u32:0
name="HostGetBytes of 1 MiB"
if kvm_case "$name"; then
	hl run --input 2M --output 4M "$cg" GuestMethod4 u32:1048576
	want=$(for _ in $(seq 4096); do printf '%s' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff; done)
	if [ "$rc" -eq 0 ] && [ "$out" = "$want" ]; then pass "$name"; else fail "$name" "exit $rc, ${#out} hex digits, stderr [$err]"; fi
fi
kvm_case "HostGetBytes refuses more than 1 MiB" &&
	expect_error "HostGetBytes refuses more than 1 MiB" 2 "n too large" run --input 2M "$cg" GuestMethod4 u32:1048577
name="HostPrint writes to stdout and returns the length"
if kvm_case "$name"; then
	hl run "$cg" PrintViaHost "string:via the host"
	if [ "$rc" -eq 0 ] && [ "$out" = "via the host12" ]; then pass "$name"; else fail "$name" "$(last)"; fi
fi
kvm_case "a host error the guest handles" &&
	expect_out "a host error the guest handles" "handled: HostError always fails" run "$cg" CallHostErrorHandled

name="a guest fault exits 2 and names the fault"
if kvm_case "$name"; then
	hl run "$sg" NullDeref
	if [ "$rc" -eq 2 ] && [[ $err == *"HL_E_GUEST_FAULT"* ]] && [[ $err == *"hyperlight: fault: kind="*"rip=0x"*"addr=0x"*"error_code=0x"* ]]; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
fi

kvm_case "a failing host function exits 2" &&
	expect_error "a failing host function exits 2" 2 "HostError always fails" run "$cg" CallHostError
kvm_case "an unknown function exits 1" &&
	expect_error "an unknown function exits 1" 1 "HL_E_NO_FUNCTION" run "$sg" NoSuchFunction
kvm_case "an argument of the wrong type exits 1" &&
	expect_error "an argument of the wrong type exits 1" 1 "HL_E_ARG_TYPE" run "$sg" Echo i32:5
kvm_case "a missing argument exits 1" &&
	expect_error "a missing argument exits 1" 1 "HL_E_ARG_COUNT" run "$sg" Echo
kvm_case "arguments larger than the input buffer exit 1" &&
	expect_error "arguments larger than the input buffer exit 1" 1 "HL_E_TOO_LARGE" \
		run --input 4K "$sg" Echo "string:$(head -c 8000 /dev/zero | tr '\0' x)"

name="--input makes room for large arguments"
if kvm_case "$name"; then
	big=$(head -c 100000 /dev/zero | tr '\0' y)
	hl run --input 256K --output 256K "$sg" Echo "string:$big"
	if [ "$rc" -eq 0 ] && [ "$out" = "$big" ]; then pass "$name"; else fail "$name" "exit $rc, ${#out} bytes out"; fi
fi

name="--debug prints the layout and registers"
if kvm_case "$name"; then
	hl run --debug "$sg" Echo string:dbg
	if [ "$rc" -eq 0 ] && [ "$out" = dbg ] && [ -s "$tmp/err" ]; then pass "$name"; else fail "$name" "$(last)"; fi
fi

kvm_case "--log-level trace runs" && expect_out "--log-level trace runs" x run --log-level=trace "$sg" Echo string:x

name="info lists the functions and the layout"
if kvm_case "$name"; then
	hl info --heap 1M "$sg"
	if [ "$rc" -eq 0 ] && grep -qx 'Echo(string) -> string' "$tmp/out" &&
		grep -qx 'EchoI32(i32) -> i32' "$tmp/out" && grep -q '^region  *start  *end  *size$' "$tmp/out" &&
		grep -q '^heap  *0x[0-9a-f]\{16\} 0x[0-9a-f]\{16\} 1 MiB$' "$tmp/out" && grep -q '^stack ' "$tmp/out"; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
fi

name="info names the platform"
if kvm_case "$name"; then
	hl info "$sg"
	if [ "$rc" -eq 0 ] && grep -Eq '^platform: (kvm \((VMX|SVM)\)|kvm-pvm|kvm) \(' "$tmp/out"; then pass "$name"; else fail "$name" "$(last)"; fi
fi

# doctor: guests run natively wherever these cases run at all (natively, or
# inside the VM of tests/vm), so the verdict is native and the exit 0.
name="doctor names the platform and says native"
if kvm_case "$name"; then
	hl doctor
	if [ "$rc" -eq 0 ] && grep -Eq '^platform: +(kvm \((VMX|SVM)\)|kvm-pvm|kvm)$' "$tmp/out" &&
		grep -q '^probe: .*SSE.*answered right' "$tmp/out" && grep -Eq '^exit: +[0-9.]+ us' "$tmp/out" &&
		grep -q '^verdict: *native' "$tmp/out"; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
fi
name="doctor --quiet prints the verdict word alone"
if kvm_case "$name"; then
	hl doctor --quiet
	if [ "$rc" -eq 0 ] && [ "$out" = native ]; then pass "$name"; else fail "$name" "$(last)"; fi
fi
expect_error "doctor with an unknown argument" 1 "unexpected argument '--bogus'" doctor --bogus

# Where /dev/kvm is not KVM at all (here: /dev/null bound over it in a
# private mount namespace), doctor says so, names the cause and exits 5.
name="doctor on a /dev/kvm that is not KVM says why and exits 5"
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 &&
	unshare -m true 2>/dev/null; then
	timeout 60 unshare -m sh -c 'mount --bind /dev/null /dev/kvm && exec "$0" doctor' "$HL" \
		>"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ "$rc" -eq 5 ] && grep -q '^platform: *none$' "$tmp/out" &&
		grep -q '^probe: .*KVM' "$tmp/out" && grep -q '^verdict: *no-kvm' "$tmp/out"; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
else
	skip "$name" "needs root and unshare -m (a private mount namespace)"
fi

name="info on a guest without functions"
if kvm_case "$name"; then
	hl info "$dg"
	if [ "$rc" -eq 0 ] && [ "$(head -n 1 "$tmp/out")" = "(no functions)" ]; then pass "$name"; else fail "$name" "$(last)"; fi
fi

name="demo: every step behaves as expected"
if kvm_case "$name"; then
	hl demo "$GUESTS"
	if [ "$rc" -eq 0 ] && [[ $(tail -n 1 "$tmp/out") == "demo: all "*" steps behaved as expected" ]]; then
		pass "$name"
	else
		fail "$name" "exit $rc; failed steps: $(grep -B3 FAILED "$tmp/out" | tr '\n' '|' | head -c 1500) stderr [$err]"
	fi
fi

name="demo finds the guests through HYPERLIGHT_GUEST_DIR"
if kvm_case "$name"; then
	HYPERLIGHT_GUEST_DIR=$GUESTS hl demo
	if [ "$rc" -eq 0 ]; then pass "$name"; else fail "$name" "$(last)"; fi
fi

# ---------------------------------------------------------------- guest logs
name="by default a guest warning reaches stderr with its file and line"
if kvm_case "$name"; then
	hl run "$sg" LogMessage i32:2 string:careful
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ] &&
		[[ $err =~ guest\ WARN\ [^\ ]*simpleguest\.c:[0-9]+:\ careful ]]; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
fi
name="by default a guest info record is not shown"
if kvm_case "$name"; then
	hl run "$sg" LogMessage i32:3 string:chatty
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ]; then pass "$name"; else fail "$name" "$(last)"; fi
fi
name="--log-level debug shows a debug record"
if kvm_case "$name"; then
	hl run --log-level debug "$sg" LogMessage i32:4 string:detail
	if [ "$rc" -eq 0 ] && [[ $err == *"guest DEBUG "*": detail"* ]]; then pass "$name"; else fail "$name" "$(last)"; fi
fi

# ---------------------------------------------------------------- --stats
expect_error "--stats is only for run" 1 "--stats: only for the run command" info --stats "$sg"

# stat NAME: the value on the NAME line of the statistics table in stderr.
stat() { awk -v n="$1" '$1 == n { print $2 }' "$tmp/err"; }

name="--stats prints the table after the call"
if kvm_case "$name"; then
	hl run --stats "$sg" Echo string:counted
	if [ "$rc" -eq 0 ] && [ "$out" = counted ] && grep -qx -- '--- statistics' "$tmp/err" &&
		[ "$(stat calls)" = 1 ] && [ "$(stat calls_ok)" = 1 ] && [ "$(stat rejected)" = 0 ] &&
		[ "$(stat vm_exits)" -ge 2 ] && [[ $(stat call_us_p50) =~ ^[0-9]+\.[0-9]{3}$ ]]; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
fi

name="--stats counts a fault in its family"
if kvm_case "$name"; then
	hl run --stats "$sg" NullDeref
	if [ "$rc" -eq 2 ] && [ "$(stat calls)" = 1 ] && [ "$(stat faults)" = 1 ] &&
		[ "$(stat calls_ok)" = 0 ]; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
fi

name="--stats counts a refused call as rejected"
if kvm_case "$name"; then
	hl run --stats "$sg" NoSuchFunction
	if [ "$rc" -eq 1 ] && [ "$(stat calls)" = 0 ] && [ "$(stat rejected)" = 1 ]; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
fi

name="--stats counts log records sent, not those filtered in the guest"
if kvm_case "$name"; then
	hl run --stats --log-level info "$sg" LogMessage i32:3 string:sent
	sent=$(stat logs) exits_sent=$(stat vm_exits) rc1=$rc
	hl run --stats --log-level warn "$sg" LogMessage i32:3 string:filtered
	if [ "$rc1" -eq 0 ] && [ "$rc" -eq 0 ] && [ "$sent" = 1 ] && [ "$(stat logs)" = 0 ] &&
		[ $((exits_sent - $(stat vm_exits))) -eq 1 ]; then
		pass "$name"
	else
		fail "$name" "logs $sent, exits $exits_sent then $(stat vm_exits); $(last)"
	fi
fi

name="--stats counts a timeout"
if kvm_case "$name"; then
	hl run --stats --timeout-ms 1000 "$sg" Spin
	if [ "$rc" -eq 2 ] && [ "$(stat timeouts)" = 1 ] && [ "$(stat cancelled)" = 0 ]; then
		pass "$name"
	else
		fail "$name" "$(last)"
	fi
fi

tap_done
