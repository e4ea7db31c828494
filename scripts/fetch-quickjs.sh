#!/bin/bash
# fetch-quickjs.sh [--print-path] - fetches the QuickJS WebAssembly module that the JavaScript
# guest is built from (js/quickjs.lock: the npm package, its exact version and checksums) into
# the cache directory, once. npm downloads the package tarball; its sha512 must equal the pinned
# integrity and the module's sha256 the pinned one, or nothing is kept.
#
# The cache: $HYPERLIGHT_DEPS_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/hyperlight (outside the
# source tree; js/CMakeLists.txt looks in the same place). --print-path prints the module's path
# (whether it is there or not) and does nothing else.
# Exit status: 0 when the module is in the cache, 1 when it could not be fetched or verified.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../js/quickjs.lock
. "$root/js/quickjs.lock"
cache=${HYPERLIGHT_DEPS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hyperlight}
dest="$cache/quickjs/${QJS_PACKAGE##*/}-$QJS_VERSION"
wasm="$dest/emscripten-module.wasm"
if [ "${1:-}" = --print-path ]; then
	echo "$wasm"
	exit 0
fi
say() { echo "fetch-quickjs: $*" >&2; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
if [ -f "$wasm" ] && [ "$(sha256_of "$wasm")" = "$QJS_WASM_SHA256" ]; then
	exit 0
fi
if ! command -v npm >/dev/null; then
	say "npm is not installed (Debian: apt-get install npm): cannot fetch $QJS_PACKAGE@$QJS_VERSION"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hl-quickjs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
say "fetching $QJS_PACKAGE@$QJS_VERSION with npm"
if ! (cd "$tmp" && npm pack --silent "$QJS_PACKAGE@$QJS_VERSION" >npm.log 2>&1); then
	say "npm pack failed:"
	sed 's/^/  /' "$tmp/npm.log" >&2
	exit 1
fi
tgz=$(ls "$tmp"/*.tgz 2>/dev/null | head -1)
if [ -z "$tgz" ]; then
	say "npm pack wrote no tarball"
	exit 1
fi
# npm's integrity string: "sha512-" + the base64 of the tarball's SHA-512.
got="sha512-$(python3 -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tgz")"
if [ "$got" != "$QJS_INTEGRITY" ]; then
	say "the tarball's integrity is $got, js/quickjs.lock pins $QJS_INTEGRITY: refused"
	exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/dist/emscripten-module.wasm package/LICENSE package/package.json
if [ "$(sha256_of "$tmp/package/dist/emscripten-module.wasm")" != "$QJS_WASM_SHA256" ]; then
	say "the module's sha256 differs from js/quickjs.lock: refused"
	exit 1
fi
mkdir -p "$dest"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
cp "$tmp/package/package.json" "$dest/package.json"
# The module last, by rename, so that a module in the cache is always a whole, verified one.
cp "$tmp/package/dist/emscripten-module.wasm" "$wasm.tmp"
mv "$wasm.tmp" "$wasm"
say "$wasm ($(stat -c %s "$wasm") bytes, sha256 verified)"
