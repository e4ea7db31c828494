#!/bin/bash
# test.sh - installs what is missing, builds with -Werror, runs every test.
# Where guests cannot run natively (hyperlight doctor says why), the tests
# run inside a VM with nested KVM (tests/vm/run-in-vm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DHL_WERROR=ON >/dev/null
cmake --build build
. scripts/platform.sh
hl_platform_decide build
hl_in_kvm --timeout 3000 ctest --test-dir build --output-on-failure
