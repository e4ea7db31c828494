#!/bin/bash
# run-in-vm.sh - run a command with a working /dev/kvm on a machine without one.
#
# Boots the host's Debian kernel in QEMU with TCG (pure software emulation),
# with the CPU's SVM (AMD-V) extension emulated by QEMU, loads kvm + kvm_amd
# inside, shares the host's root filesystem into the VM read-write over
# virtio-9p, chroots into it, cd's to the caller's working directory and runs
# COMMAND there.  COMMAND's stdout/stderr are streamed to ours; its exit
# status becomes ours.  See tests/vm/README.md.
#
# Usage: run-in-vm.sh [--timeout SECONDS] [--] COMMAND [ARGS...]
#
# Exit status: COMMAND's exit status; 124 if the timeout expired (QEMU is
# killed); 125 if the VM could not be set up (the message says why).
#
# Environment knobs (all optional):
#   HL_VM_QEMU     QEMU binary             (default: qemu-system-x86_64)
#   HL_VM_KERNEL   kernel image            (default: newest /boot/vmlinuz-* with modules)
#   HL_VM_KVER     kernel module version   (default: derived from HL_VM_KERNEL)
#   HL_VM_BUSYBOX  static busybox          (default: /bin/busybox)
#   HL_VM_CPU      QEMU -cpu model         (default: max)
#   HL_VM_SMP      vCPUs                   (default: 1; see below)
#   HL_VM_MEM      guest RAM               (default: 2G)
#   HL_VM_CACHE    initramfs cache dir     (default: ${XDG_CACHE_HOME:-/tmp}/hl-vm)
#   HL_VM_DEBUG=1  echo the guest kernel console / init log to stderr
#   HL_VM_KEEP=1   keep the per-run directory (run.sh, console.log, qemu.err)
set -u

prog=run-in-vm
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 125; }
note() { [ "${HL_VM_DEBUG:-0}" = 1 ] && printf '%s: %s\n' "$prog" "$*" >&2; return 0; }

usage() {
	sed -n 's/^# \{0,1\}//; 2,/^set -u/{/^set -u/d;p}' "$0" | sed -n '1,/^Environment/p' | head -n -1 >&2
	exit "${1:-125}"
}

# ---------------------------------------------------------------- arguments
timeout_s=1800
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) [ $# -ge 2 ] || die "--timeout needs a value"; timeout_s=$2; shift 2 ;;
	--timeout=*) timeout_s=${1#--timeout=}; shift ;;
	-h|--help) usage 0 ;;
	--) shift; break ;;
	-*) die "unknown option '$1' (usage: $0 [--timeout SECONDS] -- COMMAND [ARGS...])" ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || die "no COMMAND given (usage: $0 [--timeout SECONDS] -- COMMAND [ARGS...])"
case $timeout_s in ''|*[!0-9]*) die "--timeout must be a whole number of seconds, got '$timeout_s'" ;; esac

# ---------------------------------------------------------------- prerequisites
qemu=${HL_VM_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null 2>&1 ||
	die "QEMU not found: '$qemu' is not on PATH (Debian: apt-get install qemu-system-x86)"
for t in cpio gzip timeout sha256sum mkfifo; do
	command -v "$t" >/dev/null 2>&1 || die "required host tool '$t' not found"
done

busybox=${HL_VM_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "static busybox not found at $busybox (Debian: apt-get install busybox-static)"
if command -v file >/dev/null 2>&1 && ! file -L "$busybox" | grep -q 'statically linked'; then
	die "$busybox is not statically linked (Debian: apt-get install busybox-static)"
fi

if [ -n "${HL_VM_KERNEL:-}" ]; then
	kernel=$HL_VM_KERNEL
	[ -r "$kernel" ] || die "kernel image HL_VM_KERNEL=$kernel not found or unreadable"
	kver=${HL_VM_KVER:-$(basename "$kernel" | sed 's/^vmlinuz-//')}
else
	kernel='' kver=''
	for k in $(printf '%s\n' /boot/vmlinuz-* | sort -V -r); do
		v=${k#/boot/vmlinuz-}
		if [ -r "$k" ] && [ -f "/lib/modules/$v/modules.dep" ]; then kernel=$k kver=${HL_VM_KVER:-$v}; break; fi
	done
	[ -n "$kernel" ] || die "no readable kernel /boot/vmlinuz-VERSION with matching /lib/modules/VERSION/modules.dep found (Debian: apt-get install linux-image-amd64; or set HL_VM_KERNEL)"
fi
moddir=/lib/modules/$kver
[ -f "$moddir/modules.dep" ] ||
	die "kernel modules for $kver not found ($moddir/modules.dep missing; install the linux-image package matching $kernel)"

# ---------------------------------------------------------------- module list
# Resolve NAME to "path-relative-to-moddir" lines in load order (deps first).
# Prints nothing for built-in modules; fails if the module does not exist.
declare -A seen=()
modlist=()
resolve() {
	local want=${1//-/_} line path deps d i
	# modules.builtin lists kernel/…/name.ko for built-ins
	if grep -Eq "/${want//_/[-_]}\.ko$" "$moddir/modules.builtin" 2>/dev/null; then return 0; fi
	line=$(grep -E "(^|/)${want//_/[-_]}\.ko(\.(xz|zst|gz))?:" "$moddir/modules.dep" | head -n 1)
	[ -n "$line" ] || return 1
	path=${line%%:*}
	read -r -a deps <<<"${line#*:}"
	for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
		d=${deps[i]}
		[ -n "${seen[$d]:-}" ] || { seen[$d]=1; modlist+=("$d"); }
	done
	[ -n "${seen[$path]:-}" ] || { seen[$path]=1; modlist+=("$path"); }
}
base_mods=(virtio_pci virtio_console 9pnet_virtio 9p)
for m in "${base_mods[@]}" kvm; do
	resolve "$m" || die "kernel module '$m' not found in $moddir (needed for $([ "$m" = kvm ] && echo /dev/kvm || echo the virtio/9p host share))"
done
n_base=${#modlist[@]}
amd_from=${#modlist[@]}; resolve kvm_amd || die "kernel module 'kvm_amd' not found in $moddir"; amd_mods=("${modlist[@]:amd_from}")
intel_from=${#modlist[@]}; resolve kvm_intel || die "kernel module 'kvm_intel' not found in $moddir"; intel_mods=("${modlist[@]:intel_from}")
for p in "${modlist[@]}"; do [ -r "$moddir/$p" ] || die "kernel module file $moddir/$p missing"; done

# ---------------------------------------------------------------- guest /init
IFS= read -r -d '' guest_init <<'INIT_EOF'
#!/bin/busybox sh
# hl-vm guest init: PID 1 inside the VM.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1

fail() { echo "hl-vm-init: FATAL: $*"; sync; reboot -f; sleep 5; exit 1; }
RUN=
for w in $(cat /proc/cmdline); do
	case $w in hlvm.run=*) RUN=${w#hlvm.run=} ;; esac
done
[ -n "$RUN" ] || fail "no hlvm.run= on the kernel command line"

load() { while read -r m; do [ -n "$m" ] || continue; insmod "/lib/modules/$m" || echo "hl-vm-init: insmod $m failed"; done <"$1"; }
load /modules.base
if grep -qw svm /proc/cpuinfo; then
	load /modules.amd
elif grep -qw vmx /proc/cpuinfo; then
	load /modules.intel
else
	echo "hl-vm-init: WARNING: guest CPU has neither svm nor vmx; no /dev/kvm"
fi
[ -c /dev/kvm ] || mknod /dev/kvm c 10 232 2>/dev/null
[ -e /sys/module/kvm_amd ] || [ -e /sys/module/kvm_intel ] || echo "hl-vm-init: WARNING: no KVM vendor module loaded; /dev/kvm will not work"

mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap,access=client hostroot /newroot ||
	fail "cannot mount host root (9p tag hostroot)"
R=/newroot
mount -t proc proc $R/proc || fail "mount $R/proc"
mount -t sysfs sysfs $R/sys || fail "mount $R/sys"
mount -t devtmpfs devtmpfs $R/dev || fail "mount $R/dev"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
[ -c $R/dev/kvm ] || mknod $R/dev/kvm c 10 232
chmod 666 $R/dev/kvm

# Loopback for the tests that talk to a server on 127.0.0.1 (tests/serve).
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up || echo "hl-vm-init: WARNING: no loopback"

port() { for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name 2>/dev/null)" = "$1" ] && { echo /dev/${p##*/}; return; }; done; echo /dev/console; }
OUT=$(port hlvm.stdout)
ERR=$(port hlvm.stderr)
echo "hl-vm-init: running $RUN/run.sh (stdout=$OUT stderr=$ERR)"
chroot $R /usr/bin/env -i /bin/bash --noprofile --norc "$RUN/run.sh" <$R/dev/null >$OUT 2>$ERR
rc=$?
echo "$rc" >"$R$RUN/rc.tmp" && mv "$R$RUN/rc.tmp" "$R$RUN/rc"
echo "hl-vm-init: command exited with $rc"
sync
reboot -f
sleep 5
INIT_EOF

# ---------------------------------------------------------------- initramfs (cached)
cache=${HL_VM_CACHE:-${XDG_CACHE_HOME:-/tmp}/hl-vm}
mkdir -p "$cache" || die "cannot create cache directory $cache"
key=$({
	printf '%s\n' "$kver" "${modlist[@]}" "$n_base" "${amd_mods[*]}" "${intel_mods[*]}"
	printf '%s' "$guest_init"
	sha256sum "$busybox" | cut -d' ' -f1
	(cd "$moddir" && sha256sum "${modlist[@]}")
} | sha256sum | cut -c1-16)
initrd=$cache/initramfs-$kver-$key.cpio.gz
if [ ! -s "$initrd" ]; then
	note "building $initrd"
	stage=$(mktemp -d "$cache/stage.XXXXXX") || die "mktemp in $cache failed"
	trap 'rm -rf "$stage"' EXIT
	mkdir -p "$stage/bin" "$stage/lib/modules" || die "staging failed"
	cp "$busybox" "$stage/bin/busybox" || die "copying busybox failed"
	printf '%s\n' "$guest_init" >"$stage/init" && chmod 755 "$stage/init"
	for p in "${modlist[@]}"; do
		d=$stage/lib/modules/$p
		mkdir -p "${d%/*}"
		case $p in
		*.ko.xz) xz -dc "$moddir/$p" >"${d%.xz}" ;;
		*.ko.zst) zstd -qdc "$moddir/$p" >"${d%.zst}" ;;
		*.ko.gz) gzip -dc "$moddir/$p" >"${d%.gz}" ;;
		*) cp "$moddir/$p" "$d" ;;
		esac || die "cannot stage module $moddir/$p (decompressor missing?)"
	done
	strip_ext() { sed -E 's/\.(xz|zst|gz)$//'; }
	printf '%s\n' "${modlist[@]:0:n_base}" | strip_ext >"$stage/modules.base"
	printf '%s\n' "${amd_mods[@]}" | strip_ext >"$stage/modules.amd"
	printf '%s\n' "${intel_mods[@]}" | strip_ext >"$stage/modules.intel"
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1 >"$stage.cpio.gz") ||
		die "creating initramfs failed"
	mv -f "$stage.cpio.gz" "$initrd" || die "cannot install $initrd"
	rm -rf "$stage"
	trap - EXIT
	# drop stale images (not in use by a run started in the last hour)
	find "$cache" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${initrd##*/}" -mmin +60 -delete 2>/dev/null
fi

# ---------------------------------------------------------------- per-run directory
# Lives on the host filesystem, which the guest sees at the same path.
rundir=$(mktemp -d "${TMPDIR:-/tmp}/hl-vm-run.XXXXXX") || die "mktemp failed"
case $rundir in *[!A-Za-z0-9/._+-]*) rm -rf "$rundir"; rundir=$(mktemp -d /tmp/hl-vm-run.XXXXXX) || die "mktemp failed" ;; esac
qpid='' opid='' epid=''
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	[ -n "$opid" ] && kill "$opid" 2>/dev/null
	[ -n "$epid" ] && kill "$epid" 2>/dev/null
	[ "${HL_VM_KEEP:-0}" = 1 ] || rm -rf "$rundir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

cwd=$(pwd -P) || die "cannot determine the working directory"
{
	echo '# generated by run-in-vm.sh'
	for v in $(compgen -e); do
		case $v in PWD|OLDPWD|SHLVL|_|BASH_*|HL_VM_*) continue ;; esac
		printf 'export %s=%q\n' "$v" "${!v}"
	done
	printf 'cd -- %q || { echo "run-in-vm: cannot cd to %q inside the VM" >&2; exit 125; }\n' "$cwd" "$cwd"
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$rundir/run.sh"

mkfifo "$rundir/stdout" "$rundir/stderr" || die "mkfifo failed"
cat "$rundir/stdout" &
opid=$!
cat "$rundir/stderr" >&2 &
epid=$!
if [ "${HL_VM_DEBUG:-0}" = 1 ]; then console_dev=/dev/stderr; else console_dev=$rundir/console.log; fi
# QEMU's file chardev opens with O_TRUNC; give it a private path for the log.
if [ "$console_dev" = /dev/stderr ]; then
	mkfifo "$rundir/console" && { cat "$rundir/console" >&2 & }
	console_dev=$rundir/console
fi

qemu_args=(
	# One vCPU: with two, QEMU's emulated nested SVM now and then stops
	# delivering interrupts to the inner kernel while a nested guest runs,
	# and that kernel locks up inside KVM_RUN (seen in 1 of 6 suite runs;
	# none in 36 with one vCPU).
	-accel "tcg,thread=multi"
	-M q35 -cpu "${HL_VM_CPU:-max}" -smp "${HL_VM_SMP:-1}" -m "${HL_VM_MEM:-2G}"
	-nodefaults -no-user-config -display none -no-reboot
	-kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 quiet loglevel=${HL_VM_LOGLEVEL:-3} panic=-1 oops=panic rdinit=/init hlvm.run=$rundir"
	-chardev "file,id=con,path=$console_dev" -serial chardev:con
	-virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap"
	-device "virtio-serial-pci,id=vser"
	-chardev "file,id=out,path=$rundir/stdout" -device "virtserialport,bus=vser.0,chardev=out,name=hlvm.stdout"
	-chardev "file,id=err,path=$rundir/stderr" -device "virtserialport,bus=vser.0,chardev=err,name=hlvm.stderr"
)
note "kernel $kernel, initramfs $initrd, rundir $rundir"
start=$(date +%s%N)
timeout -k 10 "$timeout_s" "$qemu" "${qemu_args[@]}" </dev/null 2>"$rundir/qemu.err" &
qpid=$!
wait "$qpid"
qst=$?
qpid=
# Unblock the forwarders if QEMU never opened the FIFOs, then let them drain.
for f in stdout stderr console; do [ -p "$rundir/$f" ] && { : 1<>"$rundir/$f"; } 2>/dev/null; done
wait "$opid" 2>/dev/null; opid=
wait "$epid" 2>/dev/null; epid=
note "VM ran for $((($(date +%s%N) - start) / 1000000)) ms, QEMU status $qst"

show_log() {
	if [ -s "$rundir/qemu.err" ]; then echo "--- qemu stderr:" >&2; tail -n 20 "$rundir/qemu.err" >&2; fi
	if [ -s "$rundir/console.log" ]; then echo "--- guest console (last lines):" >&2; tail -n 30 "$rundir/console.log" >&2; fi
}
if [ "$qst" = 124 ] || [ "$qst" = 137 ]; then
	printf '%s: timeout: %s s expired, QEMU killed\n' "$prog" "$timeout_s" >&2
	show_log
	exit 124
fi
if [ ! -f "$rundir/rc" ]; then
	printf '%s: the VM exited (QEMU status %s) without reporting the command'"'"'s exit status\n' "$prog" "$qst" >&2
	show_log
	exit 125
fi
rc=$(cat "$rundir/rc")
case $rc in ''|*[!0-9]*) die "bad exit status '$rc' reported by the VM" ;; esac
exit "$rc"
