#!/bin/bash
# deps.sh [vm|plots] - installs the Debian 12 packages the build and tests need (only the
# missing ones), then fetches the QuickJS WebAssembly module of the JavaScript guest with npm
# (scripts/fetch-quickjs.sh: pinned and verified, cached outside the tree); with "vm", the
# packages of the QEMU VM (tests/vm) instead; with "plots", gnuplot for the bench plots.
set -euo pipefail
pkgs=(gcc clang cmake ninja-build make musl-tools musl-dev libcmocka-dev binutils pkg-config python3 python3-pytest python3-hypothesis libclang-rt-14-dev wabt lld clang-format)
# hl_seccomp_restrict_thread (optional in the build, used when present), and the
# analysis steps of .ci/run: scripts/lint.sh, scripts/valgrind.sh.
pkgs+=(libseccomp-dev cppcheck clang-tidy valgrind)
# `hyperlight serve`: HTTP (libmicrohttpd) and JSON (jansson); wrk for its load
# figures (bench/serve, docs/serving.md); python3-yaml for the deploy/ test.
pkgs+=(libmicrohttpd-dev libjansson-dev wrk python3-yaml)
# `deps.sh vm`: what the QEMU VM of tests/vm needs (scripts/platform.sh asks
# for it where guests cannot run natively; .ci/run always, since CI also
# runs the integration tests through the VM's VMX/SVM entry path).
if [ "${1:-}" = vm ]; then
	pkgs=(qemu-system-x86 busybox-static linux-image-amd64 cpio gzip)
fi
# `deps.sh plots`: gnuplot for scripts/bench-plots.sh (hl_bench's curves as PNG and SVG).
if [ "${1:-}" = plots ]; then
	pkgs=(gnuplot-nox python3)
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "${1:-}" = vm ] && exit 0

# npm for the QuickJS module: a machine that has Node.js and npm from elsewhere keeps them.
if ! command -v npm >/dev/null; then
	echo "installing: npm"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
# Without the module the JavaScript guest is not built and its tests skip, saying why; CI
# (CI=true) must have it.
if ! "$(dirname "$0")/fetch-quickjs.sh"; then
	if [ "${CI:-}" = true ]; then
		echo "deps.sh: the QuickJS module could not be fetched, and CI needs it" >&2
		exit 1
	fi
	echo "deps.sh: WARNING: no QuickJS module: the JavaScript guest will not be built" >&2
fi
