# tap.sh - the helpers every shell test sources: TAP results, the summary, a scratch directory, the KVM check, a captured run.
#
# A test sources it (`. "$(dirname "$0")/../lib/tap.sh"`), reports each case
# with one of
#   pass NAME                 "ok - NAME"
#   fail NAME [DETAIL...]     "not ok - NAME", then each line of each DETAIL
#                             as a "#   " line
#   skip NAME REASON          "ok - NAME # SKIP REASON"
#   check NAME FILE REGEX     pass when a line of FILE matches the extended
#                             REGEX, else fail naming both
# and ends with `tap_done`, which prints the plan ("1..N") and the counts and
# returns 1 when a case failed, 0 otherwise: `tap_done; exit` or
# `tap_done || exit 1`.
#
# Also:
#   tap_args "OPERANDS" "$@"  exits 2 with a usage line unless the test got
#                             as many arguments as OPERANDS has words
#   show FILE [N]             the first N (30) lines of FILE as "#   " lines
#   show_tail FILE [N]        the last N (40) lines of FILE, the same way
#   have_kvm                  true when /dev/kvm is a device this user can open
#                             read-write, as the library opens it
#   tap_tmpdir NAME [KEEP]    makes a scratch directory, sets $tmp to it and
#                             removes it at exit (after tap_cleanup, when the
#                             test defines that function); KEEP=1 keeps it and
#                             says where
#   run_capture CMD...        runs CMD for at most 300 s with stdin from
#                             $TAP_STDIN (default /dev/null); sets rc, and out
#                             and err to its stdout
#                             and stderr (NUL bytes dropped), which
#                             $tmp/out and $tmp/err keep byte for byte
#   last                      the last run_capture in one line, for a detail
#   expect NAME RC STDOUT STDERR_PART ARGS...
#                             runs the test's own `hl ARGS...` (which calls
#                             run_capture) and passes when the exit status is
#                             RC, stdout is STDOUT exactly and stderr contains
#                             STDERR_PART (unless empty)
# shellcheck shell=bash

tap_passed=0 tap_failed=0 tap_skipped=0

tap_args() {
	local operands=$1
	shift
	if [ $# -ne "$(wc -w <<<"$operands")" ]; then
		echo "usage: $0 $operands" >&2
		exit 2
	fi
}

pass() {
	echo "ok - $1"
	tap_passed=$((tap_passed + 1))
}

fail() {
	echo "not ok - $1"
	shift
	[ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/#   /'
	tap_failed=$((tap_failed + 1))
}

skip() {
	echo "ok - $1 # SKIP $2"
	tap_skipped=$((tap_skipped + 1))
}

check() {
	if grep -Eq -- "$3" "$2"; then
		pass "$1"
	else
		fail "$1" "no line of $2 matches /$3/"
	fi
}

show() {
	head -n "${2:-30}" "$1" | sed 's/^/#   /'
}

show_tail() {
	tail -n "${2:-40}" "$1" | sed 's/^/#   /'
}

tap_done() {
	echo "1..$((tap_passed + tap_failed + tap_skipped))"
	echo "# $tap_passed passed, $tap_failed failed, $tap_skipped skipped"
	[ "$tap_failed" -eq 0 ]
}

have_kvm() {
	# -c first: on a missing node, <> would create a regular file.
	[ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null
}

tap_tmpdir() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 2
	tmp=$(cd "$tmp" && pwd -P)
	if [ "${2:-0}" = 1 ]; then
		echo "# keeping $tmp"
		trap 'declare -F tap_cleanup >/dev/null && tap_cleanup' EXIT
	else
		trap 'declare -F tap_cleanup >/dev/null && tap_cleanup; rm -rf "$tmp"' EXIT
	fi
}

run_capture() {
	timeout 300 "$@" >"$tmp/out" 2>"$tmp/err" <"${TAP_STDIN:-/dev/null}"
	rc=$?
	out=$(tr -d '\0' <"$tmp/out")
	err=$(tr -d '\0' <"$tmp/err")
}

last() {
	printf 'exit %s, stdout [%s], stderr [%s]' "$rc" "$(head -c 300 "$tmp/out" | tr '\0\n' '.|')" \
		"$(head -c 600 "$tmp/err" | tr '\0\n' '.|')"
}

expect() {
	local name=$1 want_rc=$2 want_out=$3 want_err=$4
	shift 4
	hl "$@"
	if [ "$rc" -ne "$want_rc" ]; then
		fail "$name" "expected exit $want_rc; $(last)"
	elif [ "$out" != "$want_out" ]; then
		fail "$name" "expected stdout [$want_out]; $(last)"
	elif [ -n "$want_err" ] && [[ $err != *"$want_err"* ]]; then
		fail "$name" "expected '$want_err' on stderr; $(last)"
	else
		pass "$name"
	fi
}
