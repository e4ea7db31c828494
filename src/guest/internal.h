/* internal.h - declarations shared by the guest runtime's files; nothing here is part of the guest API. */
#ifndef HL_GUEST_INTERNAL_H
#define HL_GUEST_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperlight/guest.h"

/* ---- boot.c ---- */

/* The boot info the host passed in RDI; set before anything else runs. */
extern const struct hl_boot_info *hl__bi;
/* The TSC value read first thing at entry: the origin of the monotonic clock. */
extern uint64_t hl__tsc0;
/* input_size and output_size, clamped to what a 32-bit offset can reach. */
extern uint64_t hl__in_size;
extern uint64_t hl__out_size;

/* Top (one past the highest byte) of IST-area stack k. */
static inline uint64_t hl__ist_top(unsigned k)
{
	return hl__bi->ist_addr + (uint64_t)k * (HL_IST_SIZE + HL_PAGE_SIZE) + HL_PAGE_SIZE +
	       HL_IST_SIZE;
}

/* Stops the vCPU for good. The host never resumes a guest that aborted or
 * faulted, but if it did, halting again is the only safe thing to do. */
_Noreturn void hl__halt_forever(void);

/* ---- output.c: records in the output buffer ---- */

static inline uint8_t *hl__out(void)
{
	return (uint8_t *)(uintptr_t)hl__bi->output_addr;
}
static inline uint8_t *hl__in(void)
{
	return (uint8_t *)(uintptr_t)hl__bi->input_addr;
}

/* Offset where the next host-call, print or log record goes: 0 outside a
 * call, HL_ALIGN8(end of the result so far) during one, so that such a
 * record never overwrites a result the guest function has already set. */
extern uint64_t hl__out_free;

/* Bytes a record may take at hl__out_free (bounded by HL_MAX_RECORD). */
uint64_t hl__out_avail(void);

/* Sends the n pieces as print records for fd 1 or 2, gathered into as few
 * records as fit the free space. Returns the bytes sent, or -1 when there is
 * data but not even one byte of it fits. */
struct iovec;
long hl__printv(unsigned fd, const struct iovec *iov, size_t n);

/* Writes an abort record at offset 0 and stops; the message is formatted
 * straight into the output buffer and cut to fit it. */
_Noreturn void hl__vabort(int code, const char *fmt, va_list ap);
/* Like hl__vabort without flushing stdio first (used from exit paths,
 * where libc has flushed already or must not be re-entered). */
_Noreturn void hl__abort_noflush(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Is [p, p+len) inside guest memory as the host described it? Catches
 * wrapped and wild lengths; an unmapped hole inside memory still faults. */
int hl__range_ok(uint64_t p, uint64_t len);

/* ---- heap.c: the brk/mmap arena ---- */
void hl__heap_init(void);
long hl__sys_brk(uint64_t addr);
long hl__sys_mmap(uint64_t addr, uint64_t len, int prot, int flags, int fd, uint64_t off);
long hl__sys_munmap(uint64_t addr, uint64_t len);
long hl__sys_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, int flags, uint64_t new_addr);
long hl__sys_madvise(uint64_t addr, uint64_t len, int advice);

/* ---- dispatch.c / hostcall.c ---- */

/* "i32", "string", ... for messages. */
const char *hl__tname(unsigned type);

/* The call being served, or NULL (in main(), or between calls). */
extern hl_call *hl__current;
/* Offset in the input buffer where the host writes host-call results. */
uint64_t hl__hostcall_result_off(void);
/* hl_call_host_or_fail ends the current call through this. */
_Noreturn void hl__fail_call_from_host(int rc);

/* ---- exception.c / syscall.c (called from start.S) ---- */
struct hl__frame;
_Noreturn void hl__exception(struct hl__frame *f);
long hl__syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
extern uint64_t hl__syscall_stack_top;
extern uint64_t hl__syscall_user_rsp;
extern uint64_t hl__exc_stack_top; /* start.S: 0, or the stack to run hl__exception on */

/* ---- small CPU helpers ---- */
static inline uint64_t hl__rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void hl__wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline uint64_t hl__rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void hl__cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
	                 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	                 : "a"(leaf), "c"(sub));
}

#define HL__MSR_FS_BASE 0xC0000100u
#define HL__MSR_GS_BASE 0xC0000101u

#endif
