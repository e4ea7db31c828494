#!/bin/bash
# lint.sh - static analysis of the host library (src/host, src/host/kvm):
# cppcheck and clang-tidy with the compile commands of a real configuration,
# and two greps for rules a compiler cannot see (no executable mapping, every
# descriptor close-on-exec); then the layout of every C file of the tree
# but those of scripts/format-exclude.txt (scripts/format.sh, clang-format
# 14). Exits non-zero on any finding.
#
# Usage: scripts/lint.sh [BUILD_DIR]   (default build-lint; only configured, not built)
#
# Suppressions, each a false positive of the tool, not of the code:
#   cppcheck
#     nullPointer in call.c, symbol v: reply(sb, v, msg) takes v == NULL
#       only together with msg != NULL; cppcheck does not follow that.
#     knownConditionTrueFalse in call.c: cppcheck takes the abort record
#       filled by hl__out_copy for all zeroes and the message length for 0.
#     ELFMAG is defined for cppcheck, which runs without the system headers:
#       otherwise src/host/elf.h's check that <elf.h> is glibc's fires and
#       every file including it goes unanalysed.
#   clang-tidy (checks: clang-analyzer-*, bugprone-*, cert-*, less these)
#     clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,
#     cert-err33-c: ask for Annex K functions (memcpy_s) that glibc lacks, and
#       for checking snprintf results that are truncated on purpose.
#     clang-analyzer-valist.Uninitialized: clang 14 misses va_start when the
#       va_list is handed to vsnprintf (hl__fail, hl__elf_fail).
#     bugprone-easily-swappable-parameters: style, not a defect.
#     bugprone-reserved-identifier, cert-dcl37-c, cert-dcl51-cpp: the
#       library's internal prefix is hl__ (STYLE.md), which they reject.
#     bugprone-implicit-widening-of-multiplication-result: fires on constant
#       macros such as HL_IST_SIZE (16u * 1024u) that cannot overflow.
#     bugprone-misplaced-widening-cast: fires on (unsigned long long) casts
#       of uint64_t sums for printf, the same width on LP64.
#     bugprone-macro-parentheses: fires where a macro argument is a declarator
#       name (kvm.c MSR_STORAGE), which cannot be parenthesised.
#     bugprone-sizeof-expression: fires on calloc(n, sizeof *array_of_pointers)
#       (pool.c) and clang-tidy 14 cannot turn that case off alone; gcc's and
#       clang's -Wsizeof-pointer-memaccess (in -Wall) keep the memcpy/memset
#       cases covered.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-lint}
status=0

for t in cppcheck clang-tidy cmake; do
	command -v "$t" >/dev/null || { echo "lint: '$t' not found (scripts/deps.sh installs it)" >&2; exit 2; }
done

# The compile commands of the library as CI builds it (with libseccomp when found).
cmake -S . -B "$build" -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DHL_BUILD_GUESTS=OFF \
	-DHL_BUILD_TESTS=OFF >/dev/null
db=$build/compile_commands.json
host_files=(src/host/*.c src/host/kvm/*.c)

echo "== cppcheck $(cppcheck --version | awk '{print $2}'): ${#host_files[@]} files"
supp=$(mktemp)
trap 'rm -f "$supp"' EXIT
cat >"$supp" <<'EOF'
<?xml version="1.0"?>
<suppressions>
  <suppress><id>nullPointer</id><fileName>*src/host/call.c</fileName><symbolName>v</symbolName></suppress>
  <suppress><id>knownConditionTrueFalse</id><fileName>*src/host/call.c</fileName></suppress>
</suppressions>
EOF
if ! cppcheck -q --project="$db" --file-filter='src/host/*' \
	--enable=warning,style,performance,portability --inline-suppr \
	-DELFMAG='"\177ELF"' --suppress-xml="$supp" --error-exitcode=1 \
	--template='{file}:{line}: {severity} ({id}): {message}'; then
	echo "cppcheck: findings above" >&2
	status=1
fi

echo "== clang-tidy $(clang-tidy --version | awk '/version/ {print $NF; exit}'): ${#host_files[@]} files"
checks='-*,clang-analyzer-*,bugprone-*,cert-*'
checks+=',-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-cert-err33-c'
checks+=',-clang-analyzer-valist.Uninitialized,-bugprone-easily-swappable-parameters'
checks+=',-bugprone-reserved-identifier,-cert-dcl37-c,-cert-dcl51-cpp'
checks+=',-bugprone-implicit-widening-of-multiplication-result,-bugprone-misplaced-widening-cast'
checks+=',-bugprone-macro-parentheses,-bugprone-sizeof-expression'
tidy_out=$(mktemp)
trap 'rm -f "$supp" "$tidy_out"' EXIT
if ! clang-tidy -p "$build" --quiet --checks="$checks" --warnings-as-errors='*' \
	"${host_files[@]}" >"$tidy_out" 2>&1; then
	grep -E 'warning:|error:' "$tidy_out" >&2 || cat "$tidy_out" >&2
	echo "clang-tidy: findings above" >&2
	status=1
fi

echo "== grep: no executable mapping, every descriptor close-on-exec"
# Guest memory and kvm_run are mapped read/write only; seccomp.c names
# PROT_EXEC only to refuse it.
if grep -n 'PROT_EXEC' "${host_files[@]}" | grep -v '^src/host/seccomp.c:'; then
	echo "lint: PROT_EXEC in the host library (guest memory must never be executable)" >&2
	status=1
fi
# Every call that makes a descriptor says CLOEXEC on the same line. (KVM's
# KVM_CREATE_VM and KVM_CREATE_VCPU descriptors are close-on-exec by the
# kernel; tests/integration/test_hardening.c checks them all at run time.)
fd_calls='\b(open|openat|memfd_create|socket|eventfd|timerfd_create|signalfd|epoll_create1|pipe2|dup3|accept4|inotify_init1)\('
if grep -nE "$fd_calls" "${host_files[@]}" | grep -v CLOEXEC | grep -vE ':\s*(/?\*|//)'; then
	echo "lint: a descriptor made without CLOEXEC (above)" >&2
	status=1
fi
if grep -nE '\b(pipe|dup|dup2|accept|epoll_create|inotify_init|creat)\(' "${host_files[@]}" |
	grep -vE ':\s*(/?\*|//)'; then
	echo "lint: a descriptor call that cannot set CLOEXEC (use pipe2, dup3, accept4, ...)" >&2
	status=1
fi

echo "== clang-format: every C file but those of scripts/format-exclude.txt"
if ! scripts/format.sh; then
	status=1
fi

[ $status -eq 0 ] && echo "lint: clean"
exit $status
