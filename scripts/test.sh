#!/bin/bash
# test.sh - installs what is missing, builds with -Werror, runs every test.
# Without /dev/kvm the tests run inside a VM that has it (tests/vm/run-in-vm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DHL_WERROR=ON >/dev/null
cmake --build build
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	ctest --test-dir build --output-on-failure
else
	echo "no usable /dev/kvm here: running the test suite inside a VM with nested KVM"
	tests/vm/run-in-vm.sh --timeout 3000 -- ctest --test-dir build --output-on-failure
fi
