/* stateguest.c - a test guest that writes CPU state a restore must put back (MSRs, CR8, debug registers, x87/SSE control) and leaves a string IN pending. */
#include <stdint.h>
#include <string.h>

#include "hyperlight/guest.h"

/* Each Write* changes one piece of state and returns; each Read* reports
 * it. A WriteMsr of an MSR the CPU refuses is #GP, which fails the call:
 * the host then knows the guest cannot write that MSR. */

static int read_msr(hl_call *c)
{
	uint32_t lo, hi, idx = hl_arg_u32(c, 0);
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(idx));
	return hl_return_u64(c, (uint64_t)hi << 32 | lo);
}

static int write_msr(hl_call *c)
{
	uint32_t idx = hl_arg_u32(c, 0);
	uint64_t v = hl_arg_u64(c, 1);
	__asm__ volatile("wrmsr" ::"c"(idx), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
	return hl_return_void(c);
}

static int read_cr8(hl_call *c)
{
	uint64_t v;
	__asm__ volatile("mov %%cr8, %0" : "=r"(v));
	return hl_return_u64(c, v);
}

static int write_cr8(hl_call *c)
{
	uint64_t v = hl_arg_u64(c, 0);
	__asm__ volatile("mov %0, %%cr8" ::"r"(v) : "memory");
	return hl_return_void(c);
}

/* Debug registers 0-3 and 7 by number. */
static int read_dr(hl_call *c)
{
	uint64_t v = 0;
	switch (hl_arg_i32(c, 0)) {
	case 0: __asm__ volatile("mov %%dr0, %0" : "=r"(v)); break;
	case 1: __asm__ volatile("mov %%dr1, %0" : "=r"(v)); break;
	case 2: __asm__ volatile("mov %%dr2, %0" : "=r"(v)); break;
	case 3: __asm__ volatile("mov %%dr3, %0" : "=r"(v)); break;
	case 7: __asm__ volatile("mov %%dr7, %0" : "=r"(v)); break;
	default: return hl_return_error(c, 1, "debug register number must be 0-3 or 7");
	}
	return hl_return_u64(c, v);
}

static int write_dr(hl_call *c)
{
	uint64_t v = hl_arg_u64(c, 1);
	switch (hl_arg_i32(c, 0)) {
	case 0: __asm__ volatile("mov %0, %%dr0" ::"r"(v)); break;
	case 1: __asm__ volatile("mov %0, %%dr1" ::"r"(v)); break;
	case 2: __asm__ volatile("mov %0, %%dr2" ::"r"(v)); break;
	case 3: __asm__ volatile("mov %0, %%dr3" ::"r"(v)); break;
	case 7: __asm__ volatile("mov %0, %%dr7" ::"r"(v)); break;
	default: return hl_return_error(c, 1, "debug register number must be 0-3 or 7");
	}
	return hl_return_void(c);
}

/* The x87 control word and MXCSR, as one value: cw | mxcsr << 16. */
static int read_fpu_control(hl_call *c)
{
	uint16_t cw;
	uint32_t mx;
	__asm__ volatile("fnstcw %0\n\tstmxcsr %1" : "=m"(cw), "=m"(mx));
	return hl_return_u64(c, (uint64_t)cw | (uint64_t)mx << 16);
}

static int write_fpu_control(hl_call *c)
{
	uint64_t v = hl_arg_u64(c, 0);
	uint16_t cw = (uint16_t)v;
	uint32_t mx = (uint32_t)(v >> 16);
	__asm__ volatile("fldcw %0\n\tldmxcsr %1" ::"m"(cw), "m"(mx));
	return hl_return_void(c);
}

/* PendingIn(port): a string IN of 64 bytes into `pending`; the host does
 * not serve IN, so the call fails with the exit left for KVM to finish. */
static uint8_t pending[64];

static int pending_in(hl_call *c)
{
	uint16_t port = (uint16_t)hl_arg_u32(c, 0);
	void *dst = pending;
	uint64_t n = sizeof pending;
	__asm__ volatile("cld\n\trep insb" : "+D"(dst), "+c"(n) : "d"(port) : "memory");
	return hl_return_void(c);
}

static int pending_buf(hl_call *c)
{
	return hl_return_bytes(c, pending, sizeof pending);
}

int main(void)
{
	HL_REGISTER("ReadMsr", read_msr, HL_TYPE_U64, HL_TYPE_U32);
	HL_REGISTER("WriteMsr", write_msr, HL_TYPE_VOID, HL_TYPE_U32, HL_TYPE_U64);
	HL_REGISTER("ReadCr8", read_cr8, HL_TYPE_U64);
	HL_REGISTER("WriteCr8", write_cr8, HL_TYPE_VOID, HL_TYPE_U64);
	HL_REGISTER("ReadDr", read_dr, HL_TYPE_U64, HL_TYPE_I32);
	HL_REGISTER("WriteDr", write_dr, HL_TYPE_VOID, HL_TYPE_I32, HL_TYPE_U64);
	HL_REGISTER("ReadFpuControl", read_fpu_control, HL_TYPE_U64);
	HL_REGISTER("WriteFpuControl", write_fpu_control, HL_TYPE_VOID, HL_TYPE_U64);
	HL_REGISTER("PendingIn", pending_in, HL_TYPE_VOID, HL_TYPE_U32);
	HL_REGISTER("PendingBuf", pending_buf, HL_TYPE_BYTES);
	hl_dispatch();
}
