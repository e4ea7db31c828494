#!/bin/bash
# example_hello.sh HOST GUEST - runs the README's example and checks its output.
#
# Prints TAP (tests/lib/tap.sh); skips without a usable /dev/kvm.
set -u
. "$(dirname "$0")/lib/tap.sh"
name="the README's host program prints the greeting"
if ! have_kvm; then
	skip "$name" "no usable /dev/kvm"
elif ! out=$("$1" "$2" 2>&1); then
	fail "$name" "it failed:" "$out"
elif [ "$out" != "$(printf 'greeting world\nHello, world!')" ]; then
	fail "$name" "unexpected output:" "$out"
else
	pass "$name"
fi
tap_done
