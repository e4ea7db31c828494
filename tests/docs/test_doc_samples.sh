#!/bin/bash
# test_doc_samples.sh - compiles every C code block of README.md and docs/*.md, and runs the complete host samples that say so where /dev/kvm works.
#
# Usage: test_doc_samples.sh SOURCE_DIR HOST_LIBRARY GUEST_CC GUEST_DIR
#   SOURCE_DIR    the source tree (its include/ and wasm/include/ are used)
#   HOST_LIBRARY  libhyperlight.a of the build
#   GUEST_CC      the build tree's hyperlight-guest-cc ("" or missing: guest
#                 samples are skipped, e.g. with HL_BUILD_GUESTS=OFF)
#   GUEST_DIR     the sample guests (simpleguest, ...), copied next to the
#                 host samples that run
#
# What each block is comes from the marker comment before it
# (tests/lib/extract-samples.awk lists them); a C block without one
# fails the test with its file and line. Fragments are compiled inside a
# small wrapper with #line directives, so a compiler message names the
# document and its line. Complete host samples marked "run" run, with KVM,
# in a directory holding the sample guests and the document's own guests
# (named by their markers); each must exit 0.
#
# Prints TAP (tests/lib/tap.sh) per block, then the plan and the counts;
# exits 1 if anything failed. HL_DOCS_KEEP=1 keeps the
# temporary directory. CC picks the host compiler (default cc).
set -u

. "$(dirname "$0")/../lib/tap.sh"
tap_args "SOURCE_DIR HOST_LIBRARY GUEST_CC GUEST_DIR" "$@"
src=$(cd "$1" && pwd -P) || exit 2
hostlib=$2 guestcc=$3 guestdir=$4
lib=$src/tests/lib
cc=${CC:-cc}

tap_tmpdir hl-docs "${HL_DOCS_KEEP:-0}"

if [ ! -f "$hostlib" ]; then
	echo "not ok - the host library '$hostlib' exists"
	exit 1
fi
if [ -z "$guestcc" ] || [ ! -x "$guestcc" ]; then
	guestcc=""
fi
kvm=0
have_kvm && kvm=1

# ---- the checker checks itself: what it must refuse ---------------------------
mkdir -p "$tmp/self"
printf '# Doc\n\n```c\nint x;\n```\n' >"$tmp/self/unmarked.md"
printf '<!-- sample: hots -->\n```c\nint x;\n```\n' >"$tmp/self/typo.md"
printf '<!-- sample: host -->\n\nSome prose.\n\n```c\nint x;\n```\n' >"$tmp/self/prose.md"
for case in "unmarked:unmarked.md:3:without a marker" "typo:typo.md:1:unknown sample marker" \
	"prose:prose.md:5:without a marker"; do
	IFS=: read -r what md ln msg <<<"$case"
	name="self-check: the extractor refuses a $what C block, naming its file and line"
	if (cd "$tmp/self" && awk -v mode=c -v out="$tmp/self/$what" -f "$lib/extract-samples.awk" "$md" \
		>/dev/null 2>"$tmp/self/$what.log"); then
		fail "$name" "it was accepted"
	elif ! grep -q "^$md:$ln: .*$msg" "$tmp/self/$what.log"; then
		fail "$name" "message: $(cat "$tmp/self/$what.log")"
	else
		pass "$name"
	fi
done

# The documents, as paths relative to the source tree (messages name them so).
cd "$src" || exit 2
docs=(README.md docs/*.md)

if awk -v mode=c -v out="$tmp" -f "$lib/extract-samples.awk" "${docs[@]}" 2>"$tmp/extract.log"; then
	pass "every C block of README.md and docs/*.md has a sample marker"
else
	fail "every C block of README.md and docs/*.md has a sample marker"
	show "$tmp/extract.log" 100
fi

# Warnings are errors: a sample must be clean code. Fragments may leave
# things unused.
warn=(-Wall -Wextra -Werror)
fragwarn=(-Wno-unused-function -Wno-unused-variable -Wno-unused-parameter
	-Wno-unused-but-set-variable)
incs=(-I"$src/include" -I"$src/wasm/include")
prelude_common='#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>'

# wrap KIND FILE LINE BLOCK OUT: writes the translation unit of a fragment.
wrap() {
	local kind=$1 file=$2 line=$3 block=$4 out=$5 header
	case $kind in
	host-*) header='#include <hyperlight/hyperlight.h>' ;;
	guest-*) header='#include <hyperlight/guest.h>' ;;
	esac
	{
		echo "$prelude_common"
		echo "$header"
		case $kind in
		*-fragment)
			echo "#line $line \"$file\""
			cat "$block"
			;;
		*-statements)
			# The block's #include lines go to file scope, each with its
			# own line number; blank lines keep the rest in place.
			awk -v f="$file" -v l="$line" '/^[ \t]*#[ \t]*include/ {
				printf "#line %d \"%s\"\n%s\n", l + NR - 1, f, $0 }' "$block"
			echo "void hl_doc_sample(void);"
			echo "void hl_doc_sample(void)"
			echo "{"
			echo "#line $line \"$file\""
			sed 's/^[ \t]*#[ \t]*include.*$//' "$block"
			echo "}"
			;;
		esac
	} >"$out"
}

# The manifest's blocks, guests first: the hosts that run may need them.
rundir=$tmp/run
mkdir -p "$rundir"
cp "$guestdir"/* "$rundir/" 2>/dev/null
runs=()
manifest=$tmp/manifest
[ -f "$manifest" ] || : >"$manifest"
order=$( { awk -F'\t' '$4 == "guest"' "$manifest"; awk -F'\t' '$4 != "guest"' "$manifest"; } )

while IFS=$'\t' read -r id file line kind extra; do
	[ -n "$id" ] || continue
	block=$tmp/$id.c
	where="$file:$line"
	if [ "$kind" = file ]; then
		# A package-test sample: host or guest by its header.
		if grep -q '^#include [<"]hyperlight/guest\.h[>"]' "$block"; then
			kind=guest
		elif grep -q '^#include [<"]hyperlight/hyperlight\.h[>"]' "$block"; then
			kind=host
		else
			fail "$where: $extra: a file: C block must include hyperlight/hyperlight.h or hyperlight/guest.h"
			continue
		fi
		extra=""
	fi
	# Compile as the document's own file name and line, for messages.
	lined=$tmp/$id.lined.c
	{ echo "#line $line \"$file\""; cat "$block"; } >"$lined"
	log=$tmp/$id.log
	case $kind in
	host)
		if "$cc" "${warn[@]}" "${incs[@]}" -o "$tmp/$id.host" "$lined" "$hostlib" -lpthread -lm \
			>"$log" 2>&1; then
			pass "$where: host program compiles and links"
			[ "$extra" = run ] && runs+=("$id"$'\t'"$where")
		else
			fail "$where: host program compiles and links"
			show "$log"
		fi
		;;
	guest)
		if [ -z "$guestcc" ]; then
			skip "$where: guest program builds" "no guest toolchain (HL_BUILD_GUESTS=OFF)"
			continue
		fi
		name=${extra:-sample_$id}
		if "$guestcc" "${warn[@]}" -o "$tmp/$id.guest" "$lined" >"$log" 2>&1; then
			pass "$where: guest program builds"
			cp "$tmp/$id.guest" "$rundir/$name"
		else
			fail "$where: guest program builds"
			show "$log"
		fi
		;;
	host-fragment | host-statements | guest-fragment | guest-statements)
		unit=$tmp/$id.unit.c
		wrap "$kind" "$file" "$line" "$block" "$unit"
		case $kind in
		host-*) compile=("$cc" "${incs[@]}") ;;
		guest-*)
			if [ -z "$guestcc" ]; then
				skip "$where: $kind compiles" "no guest toolchain (HL_BUILD_GUESTS=OFF)"
				continue
			fi
			compile=("$guestcc")
			;;
		esac
		# Syntax and semantics only: nothing to link, and code generation
		# is slow on an emulated machine.
		if "${compile[@]}" "${warn[@]}" "${fragwarn[@]}" -fsyntax-only "$unit" >"$log" 2>&1; then
			pass "$where: $kind compiles"
		else
			fail "$where: $kind compiles"
			show "$log"
		fi
		;;
	esac
done <<<"$order"

for r in "${runs[@]}"; do
	id=${r%%$'\t'*} where=${r#*$'\t'}
	if [ "$kvm" != 1 ]; then
		skip "$where: host program runs" "no usable /dev/kvm"
		continue
	fi
	if (cd "$rundir" && timeout 120 "$tmp/$id.host" >"$tmp/$id.out" 2>&1 </dev/null); then
		pass "$where: host program runs"
	else
		fail "$where: host program runs" "exit status $?"
		show "$tmp/$id.out"
	fi
done

tap_done
