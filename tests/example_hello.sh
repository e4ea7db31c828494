#!/bin/sh
# example_hello.sh HOST GUEST - runs the README's example and checks its output.
if [ ! -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
	echo "SKIP: no usable /dev/kvm"
	exit 0
fi
out=$("$1" "$2") || { echo "example failed: $out"; exit 1; }
want="greeting world
Hello, world!"
[ "$out" = "$want" ] || { printf 'unexpected output:\n%s\nwanted:\n%s\n' "$out" "$want"; exit 1; }
echo "example ok"
