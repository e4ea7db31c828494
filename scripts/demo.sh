#!/bin/bash
# demo.sh - installs what is missing, builds, and runs the sample guests end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	build/hyperlight demo build/guests/bin
else
	echo "no usable /dev/kvm here: running the demo inside a VM with nested KVM"
	tests/vm/run-in-vm.sh -- build/hyperlight demo build/guests/bin
fi
