#!/bin/bash
# demo.sh - installs what is missing, builds, and runs the sample guests end to end
# (natively where hyperlight doctor says guests run here, else inside a VM).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build
. scripts/platform.sh
hl_platform_decide build
hl_in_kvm --timeout 1800 build/hyperlight demo build/guests/bin
