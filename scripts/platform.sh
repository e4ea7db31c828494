#!/bin/bash
# platform.sh - sourced by test.sh, demo.sh and .ci/run: decides, by capability,
# whether guests run natively here or inside the QEMU VM of tests/vm/.
#
# hl_platform_decide BUILD_DIR: asks BUILD_DIR/hyperlight doctor, which runs a
#   probe guest that computes with SSE; prints its report and the decision,
#   and sets HL_NATIVE=1 (guests run natively here) or HL_NATIVE=0.
# hl_in_kvm [--timeout S] COMMAND...: runs COMMAND natively when HL_NATIVE=1,
#   else inside the VM (installing what the VM needs first).

hl_platform_decide() {
	local build=$1 report rc
	report=$("$build/hyperlight" doctor 2>&1)
	rc=$?
	echo "$report" | sed 's/^/  doctor: /'
	if [ "$rc" -eq 0 ]; then
		HL_NATIVE=1
		echo "guests run natively here: running them on this machine's /dev/kvm"
	else
		HL_NATIVE=0
		echo "guests cannot run natively here (doctor exit $rc): running them inside a QEMU VM with nested KVM (tests/vm/run-in-vm.sh)"
	fi
}

hl_in_kvm() {
	local timeout=3000
	if [ "${1:-}" = --timeout ]; then
		timeout=$2
		shift 2
	fi
	if [ "${HL_NATIVE:-0}" = 1 ]; then
		"$@"
	else
		"$(dirname "${BASH_SOURCE[0]}")/deps.sh" vm
		"$(dirname "${BASH_SOURCE[0]}")/../tests/vm/run-in-vm.sh" --timeout "$timeout" -- "$@"
	fi
}
