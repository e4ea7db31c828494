#!/bin/sh
# run-tests.sh PYTHON - runs the binding's pytest suite with PYTHON; exits 77 (CTest: skipped) if pytest or hypothesis is missing.
#
# HYPERLIGHT_LIB and HYPERLIGHT_GUEST_DIR come from the caller (CTest sets
# them). -B: no __pycache__ in the source tree. --capture=sys: pytest's default fd capture uses unlinked temporary
# files, which the 9p root of tests/vm/run-in-vm.sh cannot truncate.
py=${1:-python3}
if ! "$py" -c 'import pytest, hypothesis' 2>/dev/null; then
	echo "SKIP: $py lacks pytest or hypothesis (Debian: apt-get install python3-pytest python3-hypothesis)"
	exit 77
fi
exec "$py" -B -m pytest "$(dirname "$0")" -q -rs -p no:cacheprovider --capture=sys
