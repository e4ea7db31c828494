/*
 * seccomp.c - hl_seccomp_restrict_thread: an opt-in system-call allow-list
 * for the threads that run vCPUs.
 *
 * The list is what the library itself needs on a thread that calls into
 * sandboxes made beforehand (KVM_RUN and the other KVM requests of calls,
 * reset, restore and snapshots; malloc; the print sink; the timer and
 * signal of cancellation), found by tracing tests/integration/test_seccomp.c with
 * strace -f, plus the few calls glibc makes for a thread's own bookkeeping.
 * Anything that reaches outside the process (open, socket, execve, clone)
 * or makes memory executable is left out. Built without libseccomp, the
 * functions exist and report HL_E_UNSUPPORTED.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>

#include "internal.h"

#ifdef HL_HAVE_SECCOMP
#include <seccomp.h>

/* KVM's ioctl type byte (KVMIO in <linux/kvm.h>, which only kvm.c includes):
 * bits 8..15 of every KVM request number. */
#define HL__KVM_IOCTL_TYPE 0xAEu

/* System calls allowed with any arguments. */
static const int allowed[] = {
	/* I/O on descriptors that are already open: the print sink, stdio, and
	 * the snapshot memfd (restore reads it, snapshots write it). */
	SCMP_SYS(read),
	SCMP_SYS(pread64),
	SCMP_SYS(write),
	SCMP_SYS(pwrite64),
	SCMP_SYS(writev),
	SCMP_SYS(lseek),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(close),
	SCMP_SYS(memfd_create),
	SCMP_SYS(ftruncate),
	SCMP_SYS(fcntl),
	/* The default print and log sinks wait for their descriptor with a
	 * bounded poll (the call's deadline; call.c). */
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	/* Memory: malloc, restore (mmap MAP_FIXED of the snapshot), snapshots
	 * (mincore). mmap and mprotect are below, without PROT_EXEC. */
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	SCMP_SYS(brk),
	SCMP_SYS(mincore),
	/* Locks, time, randomness, the thread's own identity. */
	SCMP_SYS(futex),
	SCMP_SYS(sched_yield),
	SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(getrandom),
	SCMP_SYS(gettid),
	SCMP_SYS(getpid),
	SCMP_SYS(tgkill),
	SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq),
	/* Cancellation: the interrupt signal's handler returns through
	 * rt_sigreturn; the per-call timeout is a POSIX timer aimed at this
	 * thread. */
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(restart_syscall),
	/* The thread's own signal stack (sanitizer runtimes set and unset one
	 * on every thread). */
	SCMP_SYS(sigaltstack),
	SCMP_SYS(timer_create),
	SCMP_SYS(timer_settime),
	SCMP_SYS(timer_gettime),
	SCMP_SYS(timer_delete),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
};

/* Maps a libseccomp error (a negative errno) to the library's codes. */
static int seccomp_error(int r)
{
	return r == -ENOMEM ? HL_E_NOMEM : HL_E_UNSUPPORTED;
}

int hl_seccomp_restrict_thread(unsigned flags)
{
	if (flags & ~HL_SECCOMP_KILL)
		return HL_E_INVAL;
	uint32_t deny = (flags & HL_SECCOMP_KILL) ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO(EPERM);
	scmp_filter_ctx ctx = seccomp_init(deny);
	if (!ctx)
		return HL_E_NOMEM;
	/* Only this thread: a filter synchronised to every thread would
	 * restrict the application behind its back. */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
	for (size_t i = 0; r == 0 && i < sizeof allowed / sizeof allowed[0]; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	/* ioctl only with a KVM request: every other device, terminal or
	 * socket request is refused. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		                     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00u, HL__KVM_IOCTL_TYPE << 8));
	/* Mappings and protections that never make memory executable. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
		                     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
		                     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r == 0 ? 0 : seccomp_error(r);
}

bool hl_seccomp_supported(void)
{
	return true;
}

#else /* !HL_HAVE_SECCOMP */

int hl_seccomp_restrict_thread(unsigned flags)
{
	if (flags & ~HL_SECCOMP_KILL)
		return HL_E_INVAL;
	return HL_E_UNSUPPORTED;
}

bool hl_seccomp_supported(void)
{
	return false;
}

#endif
