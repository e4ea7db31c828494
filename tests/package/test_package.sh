#!/bin/bash
# test_package.sh - installs into a temporary prefix and builds hosts and guests against that alone, running them where /dev/kvm works.
#
# Usage: test_package.sh BUILD_DIR SOURCE_DIR
#
# 1. cmake --install BUILD_DIR into a staging prefix, then moves the prefix
#    (an installation must not depend on where it was made), and checks the
#    installed files and that no installed text file names the source or
#    build tree.
# 2. The build tree's own hyperlight-guest-cc builds a guest.
# 3. Every sample of docs/tutorial-first-guest.md and docs/packaging.md (and
#    docs/python.md, when python3 is there) is extracted into a directory of
#    its own (tests/lib/extract-samples.awk) and its shell blocks run in
#    order, in one shell per document, with PREFIX set: CMake projects with
#    find_package(Hyperlight) and hyperlight_add_guest, pkg-config builds,
#    hyperlight-guest-cc, make. The builds must not name the source or build
#    tree. Blocks marked run-kvm run only with a usable /dev/kvm, and their
#    stdout must equal the document's output block when there is one.
#
# Prints TAP (tests/lib/tap.sh) per step, then the plan and the counts;
# exits 1 if any step failed. HL_PACKAGE_KEEP=1 keeps the
# temporary directory.
set -u

. "$(dirname "$0")/../lib/tap.sh"
tap_args "BUILD_DIR SOURCE_DIR" "$@"
build=$(cd "$1" && pwd -P) || exit 2
src=$(cd "$2" && pwd -P) || exit 2
lib=$src/tests/lib

tap_tmpdir hl-package "${HL_PACKAGE_KEEP:-0}"

missing=()
for t in cmake cc musl-gcc pkg-config make awk; do
	command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "not ok - prerequisites: missing ${missing[*]} (Debian: cmake gcc musl-tools pkg-config make)"
	exit 1
fi

kvm=0
if have_kvm; then
	kvm=1
else
	echo "# ************************************************************************"
	echo "# SKIP: no usable /dev/kvm here. Everything is installed and built, but no"
	echo "# guest runs (tests/vm/run-in-vm.sh runs this test where KVM works)."
	echo "# ************************************************************************"
fi

# ---- 1. install, move, inspect ------------------------------------------------
stage=$tmp/stage prefix=$tmp/moved/prefix
if cmake --install "$build" --prefix "$stage" >"$tmp/install.log" 2>&1; then
	pass "cmake --install into a temporary prefix"
else
	fail "cmake --install into a temporary prefix"
	show_tail "$tmp/install.log"
	tap_done
	exit 1
fi
mkdir -p "$tmp/moved" && mv "$stage" "$prefix"

libdir=$(cd "$prefix" && for d in lib lib64 lib/*-linux-gnu; do
	[ -f "$d/libhyperlight.so" ] && { echo "$d"; break; }
done)
missing=()
for f in bin/hyperlight bin/hyperlight-guest-cc \
	include/hyperlight/hyperlight.h include/hyperlight/guest.h include/hyperlight/abi.h \
	"$libdir/libhyperlight.so" "$libdir/libhyperlight.a" "$libdir/libhyperlight_guest.a" \
	"$libdir/pkgconfig/hyperlight.pc" "$libdir/pkgconfig/hyperlight-guest.pc" \
	"$libdir/cmake/Hyperlight/HyperlightConfig.cmake" \
	"$libdir/cmake/Hyperlight/HyperlightConfigVersion.cmake" \
	"$libdir/cmake/Hyperlight/HyperlightGuest.cmake" \
	share/hyperlight/hyperlight-guest.conf share/hyperlight/guests/simpleguest; do
	[ -e "$prefix/$f" ] || missing+=("$f")
done
if [ -z "$libdir" ] || [ ${#missing[@]} -gt 0 ]; then
	fail "the installed tree is complete" "missing: ${missing[*]:-libhyperlight.so}"
else
	pass "the installed tree is complete"
fi

# Text files must not point back to where the package was built.
leaks=$(cd "$prefix" && find . -type f \( -name '*.cmake' -o -name '*.pc' -o -name '*.conf' \
	-o -name '*.h' -o -name hyperlight-guest-cc \) -print0 |
	xargs -0 grep -l -e "$src" -e "$build" -e "$stage" 2>/dev/null)
if [ -z "$leaks" ]; then
	pass "no installed text file names the source, build or staging directory"
else
	fail "no installed text file names the source, build or staging directory" "$leaks"
fi

for pc in hyperlight hyperlight-guest; do
	if PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig pkg-config --exists --print-errors "$pc" 2>"$tmp/pc.log"; then
		pass "pkg-config knows $pc after the move"
	else
		fail "pkg-config knows $pc after the move"
		show_tail "$tmp/pc.log"
	fi
done

# ---- 2. the build tree's wrapper ------------------------------------------------
if [ -x "$build/guests/hyperlight-guest-cc" ]; then
	if "$build/guests/hyperlight-guest-cc" -O2 -Wall -Werror -o "$tmp/hello_buildtree" \
		"$src/guests/hello.c" >"$tmp/bt.log" 2>&1; then
		pass "build/guests/hyperlight-guest-cc builds a guest"
	else
		fail "build/guests/hyperlight-guest-cc builds a guest"
		show_tail "$tmp/bt.log"
	fi
else
	skip "build/guests/hyperlight-guest-cc builds a guest" "built with HL_BUILD_GUESTS=OFF"
fi

# ---- 3. the documents' samples --------------------------------------------------
# Runs the extracted blocks of one document in one shell, in order, so that
# exports carry over; records each block's stdout and stderr beside it. Not
# to be called as an `if` condition: that would switch off its set -e.
run_blocks() { # DIR KVM
	(
		cd "$1" || exit 99
		set -e
		for f in .blocks/[0-9][0-9][0-9].*; do # sorted: the document's order
			b=${f#.blocks/}
			case $b in
			*.run) ;;
			*.kvm) [ "$2" = 1 ] || { echo "$b" >>.blocks/skipped; continue; } ;;
			*) continue ;;
			esac
			echo "$b" >.blocks/current
			# shellcheck disable=SC1090 # the blocks are the documents' own
			. "$f" >"$f.stdout" 2>"$f.stderr"
		done
		rm -f .blocks/current
	)
}

# Everything but the installed prefix that a consumer could find: the
# environment a developer's shell may carry is cleared.
unset HYPERLIGHT_LIB HYPERLIGHT_GUEST_DIR HYPERLIGHT_GUEST_CC HYPERLIGHT_GUEST_CONF
unset CMAKE_PREFIX_PATH PKG_CONFIG_PATH C_INCLUDE_PATH CPATH LIBRARY_PATH LD_LIBRARY_PATH
export PREFIX=$prefix

docs=(tutorial-first-guest packaging)
if command -v python3 >/dev/null 2>&1; then
	docs+=(python)
	export PYTHONPATH=$src/python
else
	skip "docs/python.md samples" "no python3"
fi

for doc in "${docs[@]}"; do
	md=$src/docs/$doc.md
	dir=$tmp/samples/$doc
	if ! awk -v mode=package -v out="$dir" -f "$lib/extract-samples.awk" "$md" 2>"$tmp/extract.log"; then
		fail "docs/$doc.md: every code block is marked" "$(cat "$tmp/extract.log")"
		continue
	fi
	pass "docs/$doc.md: every code block is marked"
	# The sample guests, for documents that call them by name.
	cp "$prefix/share/hyperlight/guests/"* "$dir/"

	run_blocks "$dir" "$kvm"
	rc=$?
	if [ $rc = 0 ]; then
		pass "docs/$doc.md: every sample builds$([ $kvm = 1 ] && echo ' and runs')"
	else
		b=$(cat "$dir/.blocks/current" 2>/dev/null)
		fail "docs/$doc.md: every sample builds$([ $kvm = 1 ] && echo ' and runs')" \
			"failed in block $b:" "$(sed 's/^/  | /' "$dir/.blocks/$b")"
		[ -n "$b" ] && show_tail "$dir/.blocks/$b.stderr" && show_tail "$dir/.blocks/$b.stdout" 20
		continue
	fi
	if [ -f "$dir/.blocks/skipped" ]; then
		skip "docs/$doc.md: the samples that run a guest" "no usable /dev/kvm ($(wc -l <"$dir/.blocks/skipped") blocks)"
	fi

	# Python samples compile, KVM or not.
	pys=("$dir"/*.py)
	if [ -e "${pys[0]}" ] && command -v python3 >/dev/null 2>&1; then
		if python3 -m py_compile "${pys[@]}" 2>"$tmp/py.log"; then
			pass "docs/$doc.md: the Python samples compile"
		else
			fail "docs/$doc.md: the Python samples compile" "$(cat "$tmp/py.log")"
		fi
	fi

	# Outputs: each output block equals the stdout of its run block.
	for want in "$dir"/.blocks/*.out; do
		[ -e "$want" ] || continue
		base=${want%.out}
		got=$base.run.stdout
		[ -f "$got" ] || got=$base.kvm.stdout
		[ -f "$got" ] || continue # its block did not run (no KVM)
		if cmp -s "$want" "$got"; then
			pass "docs/$doc.md: output of block $(basename "$base") as documented"
		else
			fail "docs/$doc.md: output of block $(basename "$base") as documented" \
				"$(diff "$want" "$got" | sed 's/^/  | /')"
		fi
	done

	# The consumers were built against the prefix alone.
	if grep -rIl -e "$src/include" -e "$build" "$dir" --include='*.ninja' --include='Makefile*' \
		--include='*.make' --include='flags.make' --include='CMakeCache.txt' >"$tmp/refs" 2>/dev/null; then
		fail "docs/$doc.md: no build refers to the source or build tree" "$(cat "$tmp/refs")"
	else
		pass "docs/$doc.md: no build refers to the source or build tree"
	fi
done

tap_done
