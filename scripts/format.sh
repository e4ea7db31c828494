#!/bin/bash
# format.sh - checks (or with --fix, applies) the layout of .clang-format on every C file of
# the tree (`git ls-files '*.c' '*.h'`) but those listed in scripts/format-exclude.txt, or
# on the files given.
#
# Usage: scripts/format.sh [--fix] [FILE...]
#
# Without --fix, prints clang-format's change for every file that differs and exits 1;
# nothing is written. The layout is clang-format 14's (Debian 12): other versions place
# some lines differently, so another one is refused (CLANG_FORMAT names the binary).
# A region whose hand layout reads better (a table, a register list) is kept between
# /* clang-format off */ and /* clang-format on */. Reformat an existing file in a commit
# of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
if [ "${1:-}" = --fix ]; then
	fix=1
	shift
fi
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null || { echo "format: '$cf' not found (scripts/deps.sh installs it)" >&2; exit 2; }
ver=$("$cf" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$ver" != 14 ]; then
	echo "format: $cf is version ${ver:-unknown}; the layout is clang-format 14's (set CLANG_FORMAT)" >&2
	exit 2
fi
if [ $# -gt 0 ]; then
	files=("$@")
else
	tracked=$(git ls-files '*.c' '*.h') || {
		echo "format: not a git checkout: name the files" >&2
		exit 2
	}
	excluded=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' scripts/format-exclude.txt)
	# An entry that names no tracked C file is a typo or a file gone: say so.
	stale=$(comm -23 <(sort <<<"$excluded") <(sort <<<"$tracked"))
	if [ -n "$stale" ]; then
		printf 'format: scripts/format-exclude.txt names a file that is not a tracked C file: %s\n' \
			$stale >&2
		exit 2
	fi
	mapfile -t files < <(grep -vxF -f <(printf '%s\n' "$excluded") <<<"$tracked")
fi
status=0
for f in "${files[@]}"; do
	if [ $fix = 1 ]; then
		"$cf" -i --style=file "$f"
	elif ! "$cf" --style=file "$f" | diff -u --label "$f" --label "$f (clang-format)" "$f" - ; then
		status=1
	fi
done
[ $status = 0 ] || echo "format: the files above differ from .clang-format; scripts/format.sh --fix FILE" >&2
exit $status
