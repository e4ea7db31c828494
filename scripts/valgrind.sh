#!/bin/bash
# valgrind.sh - runs integration tests under Valgrind memcheck (invalid
# accesses, uses of uninitialised values, definite and indirect leaks are
# errors); inside a VM with nested KVM where guests cannot run natively (scripts/platform.sh).
#
# Usage: scripts/valgrind.sh [--build DIR] [TEST...]
#   DIR    a build without sanitizers (default: build, as scripts/test.sh makes it)
#   TEST   test programs of DIR/tests (test_calls ...); default: every
#          integration test, which took 18 min in the emulated VM on a busy
#          2-core machine (docs/security.md).
# HL_VALGRIND_ORIGINS=1 adds --track-origins=yes (where an uninitialised
# value came from; about half again slower).
# .ci/run runs a subset that covers every host path (docs/security.md says
# which and why). Exit status: 0 if every test passed and memcheck found
# nothing, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [ "${1:-}" = --build ]; then
	build=$2
	shift 2
fi
if [ $# -eq 0 ]; then
	set -- $(sed -n 's/^hl_integration_test(\(test_[a-z_]*\))$/\1/p' tests/CMakeLists.txt)
fi
command -v valgrind >/dev/null || { echo "valgrind not found (scripts/deps.sh installs it)" >&2; exit 2; }
for t in "$@"; do
	[ -x "$build/tests/$t" ] || { echo "no test program $build/tests/$t: build it first" >&2; exit 2; }
done
export HYPERLIGHT_GUEST_DIR=${HYPERLIGHT_GUEST_DIR:-$PWD/$build/guests/bin}

# The command that runs inside the VM (or here, with /dev/kvm): every test
# under memcheck, a line of timing each, and a failure count at the end.
# --vgdb=no: the VM's /tmp has no FIFOs for the gdb server. The test
# seccomp is left out under Valgrind: the filter it installs would apply to
# Valgrind's own system calls (it maps translated code executable).
run=$(cat <<'EOF'
fail=0
for t in "$@"; do
	case $t in test_seccomp) echo "valgrind: $t skipped (a seccomp filter restricts Valgrind itself)"; continue ;; esac
	start=$(date +%s)
	if valgrind -q --vgdb=no --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		$ORIGINS "$BUILD/tests/$t" >"$LOGDIR/$t.log" 2>&1; then
		echo "valgrind: $t clean ($(( $(date +%s) - start )) s)"
	else
		fail=$((fail + 1))
		echo "valgrind: $t FAILED ($(( $(date +%s) - start )) s):"
		grep -v '^\[ *\(RUN\|OK\) *\]' "$LOGDIR/$t.log" | tail -n 60
	fi
done
echo "valgrind: $# tests, $fail failed"
[ $fail -eq 0 ]
EOF
)
logdir=$build/valgrind
mkdir -p "$logdir"
ORIGINS=
[ "${HL_VALGRIND_ORIGINS:-0}" = 1 ] && ORIGINS=--track-origins=yes
export BUILD=$build LOGDIR=$logdir ORIGINS
. scripts/platform.sh
[ -n "${HL_NATIVE:-}" ] || hl_platform_decide "$build"
hl_in_kvm --timeout 3000 env BUILD="$BUILD" LOGDIR="$LOGDIR" ORIGINS="$ORIGINS" \
	HYPERLIGHT_GUEST_DIR="$HYPERLIGHT_GUEST_DIR" bash -c "$run" valgrind "$@"
