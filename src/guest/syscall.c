/* syscall.c - the Linux system calls musl makes, answered inside the guest (memory calls live in heap.c). */
#define _GNU_SOURCE /* POSIX and Linux names (strnlen, MREMAP_*, clock ids) that strict C11 hides */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include "internal.h"

/* From <asm/prctl.h>, which musl does not ship. */
#define HL__ARCH_SET_GS 0x1001
#define HL__ARCH_SET_FS 0x1002
#define HL__ARCH_GET_FS 0x1003
#define HL__ARCH_GET_GS 0x1004

#define HL__IOV_MAX 1024
#define HL__GETRANDOM_MAX 33554431u /* what Linux returns at most per call */

/* ---- output ---- */

static long hl__sys_write(long fd, uint64_t buf, uint64_t len)
{
	if (fd != 1 && fd != 2)
		return -EBADF;
	if (!hl__range_ok(buf, len))
		return -EFAULT;
	struct iovec iov = {(void *)(uintptr_t)buf, len};
	long n = hl__printv((unsigned)fd, &iov, 1);
	/* No room in the output buffer (a result fills it): stdio drops it. */
	return n < 0 ? -ENOSPC : n;
}

static long hl__sys_writev(long fd, uint64_t iovp, long cnt)
{
	if (fd != 1 && fd != 2)
		return -EBADF;
	if (cnt < 0 || cnt > HL__IOV_MAX)
		return -EINVAL;
	if (!hl__range_ok(iovp, (uint64_t)cnt * sizeof(struct iovec)))
		return -EFAULT;
	/* Check every piece before sending any, as Linux does. */
	const struct iovec *iov = (const struct iovec *)(uintptr_t)iovp;
	for (long i = 0; i < cnt; i++)
		if (!hl__range_ok((uintptr_t)iov[i].iov_base, iov[i].iov_len))
			return -EFAULT;
	long n = hl__printv((unsigned)fd, iov, (size_t)cnt);
	return n < 0 ? -ENOSPC : n;
}

static long hl__sys_ioctl(long fd, unsigned long req, uint64_t arg)
{
	if (fd < 0 || fd > 2)
		return -EBADF;
	/* Saying stdout is an 80x24 terminal makes musl line-buffer it, so
	 * each printed line reaches the host at once. */
	if (fd == 0 || req != TIOCGWINSZ)
		return -ENOTTY;
	if (!hl__range_ok(arg, sizeof(struct winsize)))
		return -EFAULT;
	struct winsize ws = {.ws_row = 24, .ws_col = 80};
	memcpy((void *)(uintptr_t)arg, &ws, sizeof ws);
	return 0;
}

/* ---- process and signals ---- */

static const char *hl__signame(long sig)
{
	static const char *const names[] = {
		NULL,       "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",  "SIGTRAP",   "SIGABRT",
		"SIGBUS",   "SIGFPE",  "SIGKILL",   "SIGUSR1", "SIGSEGV", "SIGUSR2",   "SIGPIPE",
		"SIGALRM",  "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP",   "SIGTSTP",
		"SIGTTIN",  "SIGTTOU", "SIGURG",    "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
		"SIGWINCH", "SIGIO",   "SIGPWR",    "SIGSYS",
	};
	if (sig > 0 && (unsigned long)sig < sizeof names / sizeof names[0])
		return names[sig];
	return "unknown";
}

static long hl__sys_kill(long sig)
{
	/* Signal 0 only asks whether the target exists: it does. */
	if (sig == 0)
		return 0;
	if (sig < 0 || sig >= 65)
		return -EINVAL;
	/* There is no one to deliver a signal to: a signal ends the guest, as
	 * an uncaught one ends a process. musl's abort() arrives here. */
	hl__abort_noflush((int)(128 + sig), "guest raised signal %ld (%s)", sig, hl__signame(sig));
}

static long hl__zero_out(uint64_t p, uint64_t len)
{
	if (!p)
		return 0;
	if (len > 128 || !hl__range_ok(p, len))
		return -EFAULT;
	memset((void *)(uintptr_t)p, 0, len);
	return 0;
}

static long hl__sys_arch_prctl(long code, uint64_t addr)
{
	switch (code) {
	case HL__ARCH_SET_FS:
	case HL__ARCH_SET_GS:
		/* WRMSR of a non-canonical base would #GP. */
		if ((uint64_t)((int64_t)(addr << 16) >> 16) != addr)
			return -EPERM;
		hl__wrmsr(code == HL__ARCH_SET_FS ? HL__MSR_FS_BASE : HL__MSR_GS_BASE, addr);
		return 0;
	case HL__ARCH_GET_FS:
	case HL__ARCH_GET_GS:
		if (!hl__range_ok(addr, 8))
			return -EFAULT;
		uint64_t v = hl__rdmsr(code == HL__ARCH_GET_FS ? HL__MSR_FS_BASE : HL__MSR_GS_BASE);
		memcpy((void *)(uintptr_t)addr, &v, sizeof v);
		return 0;
	default: return -EINVAL;
	}
}

/* ---- time ---- */

/* Nanoseconds since the guest started, from the TSC. */
static uint64_t hl__elapsed_ns(void)
{
	uint64_t khz = hl__bi->tsc_khz ? hl__bi->tsc_khz : 1000000; /* assume 1 GHz */
	uint64_t d = hl__rdtsc() - hl__tsc0;
	/* Split so that d * 10^6 cannot overflow. */
	return d / khz * 1000000u + d % khz * 1000000u / khz;
}

static int hl__now(long clk, struct timespec *ts)
{
	uint64_t ns = hl__elapsed_ns();
	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE: ns += hl__bi->boot_realtime_ns; break;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
	case CLOCK_PROCESS_CPUTIME_ID:
	case CLOCK_THREAD_CPUTIME_ID: break;
	default: return -EINVAL;
	}
	ts->tv_sec = (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
	return 0;
}

static long hl__sys_clock_gettime(long clk, uint64_t tsp)
{
	struct timespec ts;
	int r = hl__now(clk, &ts);
	if (r < 0)
		return r;
	if (!hl__range_ok(tsp, sizeof ts) || !tsp)
		return -EFAULT;
	memcpy((void *)(uintptr_t)tsp, &ts, sizeof ts);
	return 0;
}

static long hl__sys_gettimeofday(uint64_t tvp, uint64_t tzp)
{
	struct timespec ts;
	hl__now(CLOCK_REALTIME, &ts);
	if (tvp) {
		struct {
			long sec, usec;
		} tv = {(long)ts.tv_sec, ts.tv_nsec / 1000};
		if (!hl__range_ok(tvp, sizeof tv))
			return -EFAULT;
		memcpy((void *)(uintptr_t)tvp, &tv, sizeof tv);
	}
	/* The time zone is always UTC. */
	return hl__zero_out(tzp, 2 * sizeof(int));
}

static long hl__sys_time(uint64_t tp)
{
	struct timespec ts;
	hl__now(CLOCK_REALTIME, &ts);
	long t = (long)ts.tv_sec;
	if (tp) {
		if (!hl__range_ok(tp, sizeof t))
			return -EFAULT;
		memcpy((void *)(uintptr_t)tp, &t, sizeof t);
	}
	return t;
}

/* ---- randomness ---- */

static int hl__rdrand_state = -1; /* -1 unknown, 0 absent, 1 present */
static uint64_t hl__prng;
static int hl__prng_seeded;

static int hl__rdrand64(uint64_t *out)
{
	if (hl__rdrand_state < 0) {
		uint32_t r[4];
		hl__cpuid(1, 0, r);
		hl__rdrand_state = (r[2] >> 30) & 1;
	}
	if (!hl__rdrand_state)
		return 0;
	/* RDRAND may fail transiently; Intel advises ten retries. */
	for (int i = 0; i < 10; i++) {
		uint64_t v;
		uint8_t ok;
		__asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok)::"cc");
		if (ok) {
			*out = v;
			return 1;
		}
	}
	return 0;
}

/* splitmix64 over the host's per-sandbox seed and the TSC: not a CSPRNG,
 * only the fallback for CPUs without RDRAND. */
static uint64_t hl__prng_next(void)
{
	if (!hl__prng_seeded) {
		hl__prng = hl__bi->random[0] ^ (hl__bi->random[1] << 1 | hl__bi->random[1] >> 63);
		hl__prng_seeded = 1;
	}
	hl__prng += 0x9e3779b97f4a7c15ull ^ (hl__rdtsc() << 32);
	uint64_t z = hl__prng;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static long hl__sys_getrandom(uint64_t buf, uint64_t len)
{
	if (len > HL__GETRANDOM_MAX)
		len = HL__GETRANDOM_MAX;
	if (!hl__range_ok(buf, len))
		return -EFAULT;
	uint8_t *p = (uint8_t *)(uintptr_t)buf;
	for (uint64_t i = 0; i < len; i += 8) {
		uint64_t v;
		if (!hl__rdrand64(&v))
			v = hl__prng_next();
		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
	return (long)len;
}

/* ---- the dispatcher, called from hl__syscall_entry in start.S ---- */

long hl__syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	switch (nr) {
	case SYS_read:
		/* stdin is empty; nothing else is open. */
		return a1 == 0 ? 0 : -EBADF;
	case SYS_write: return hl__sys_write(a1, (uint64_t)a2, (uint64_t)a3);
	case SYS_writev: return hl__sys_writev(a1, (uint64_t)a2, a3);
	case SYS_close: return a1 >= 0 && a1 <= 2 ? 0 : -EBADF;
	case SYS_ioctl: return hl__sys_ioctl(a1, (unsigned long)a2, (uint64_t)a3);

	case SYS_brk: return hl__sys_brk((uint64_t)a1);
	case SYS_mmap:
		return hl__sys_mmap((uint64_t)a1, (uint64_t)a2, (int)a3, (int)a4, (int)a5,
		                    (uint64_t)a6);
	case SYS_munmap: return hl__sys_munmap((uint64_t)a1, (uint64_t)a2);
	case SYS_mremap:
		return hl__sys_mremap((uint64_t)a1, (uint64_t)a2, (uint64_t)a3, (int)a4,
		                      (uint64_t)a5);
	case SYS_madvise: return hl__sys_madvise((uint64_t)a1, (uint64_t)a2, (int)a3);
	case SYS_mprotect:
		/* Every heap page is read/write already; there is nothing to change. */
		return 0;

	case SYS_exit:
	case SYS_exit_group:
		/* musl's exit() has flushed stdio already. */
		hl__abort_noflush((int)(a1 & 0xff), "guest exited with status %d", (int)(a1 & 0xff));
	case SYS_kill:
	case SYS_tkill: return hl__sys_kill(a2);
	case SYS_tgkill: return hl__sys_kill(a3);
	case SYS_rt_sigprocmask:
		/* No signals are ever delivered, so every mask is as good as any. */
		return hl__zero_out((uint64_t)a3, (uint64_t)a4);
	case SYS_rt_sigaction:
		/* struct k_sigaction: handler, flags, restorer, mask. */
		return hl__zero_out((uint64_t)a3,
		                    3 * sizeof(long) + (uint64_t)(a4 > 0 && a4 <= 64 ? a4 : 0));
	case SYS_set_tid_address:
	case SYS_gettid:
	case SYS_getpid: return 1;
	case SYS_getppid:
	case SYS_getuid:
	case SYS_geteuid:
	case SYS_getgid:
	case SYS_getegid: return 0;
	case SYS_sched_yield: return 0;
	case SYS_arch_prctl: return hl__sys_arch_prctl(a1, (uint64_t)a2);

	case SYS_clock_gettime: return hl__sys_clock_gettime(a1, (uint64_t)a2);
	case SYS_gettimeofday: return hl__sys_gettimeofday((uint64_t)a1, (uint64_t)a2);
	case SYS_time: return hl__sys_time((uint64_t)a1);
	case SYS_getrandom: return hl__sys_getrandom((uint64_t)a1, (uint64_t)a2);

	default: return -ENOSYS;
	}
}
