/* platformguest.c - a test guest for what differs between hypervisors: SSE/AVX state across restores, a guest that reloads its page tables. */
#include <stdint.h>

#include "hyperlight/guest.h"

static void cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid"
	                 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	                 : "a"(leaf), "c"(0));
}

/*
 * AVX usable here. On kvm-pvm the guest runs on the CPU with the host's
 * XCR0, whatever its own CR4 says, so CPUID's AVX bit is enough there;
 * elsewhere CR4.OSXSAVE (CPUID.1:ECX[27]) and XCR0's SSE and AVX bits
 * must be set too.
 */
static int avx_usable(void)
{
	uint32_t r[4];
	cpuid(1, r);
	if (!(r[2] & (1u << 28)))
		return 0;
	if (hl_boot_info()->platform == HL_BOOT_PLATFORM_KVM_PVM)
		return 1;
	if (!(r[2] & (1u << 27)))
		return 0;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

static int has_avx(hl_call *c)
{
	return hl_return_bool(c, avx_usable());
}

/* SseMul(a, b): a * b, computed with SSE (the x86-64 ABI's doubles). */
static int sse_mul(hl_call *c)
{
	return hl_return_f64(c, hl_arg_f64(c, 0) * hl_arg_f64(c, 1));
}

/* LeaveYmm(s): every YMM register holds s in all four quadwords, so the
 * upper halves, which KVM_SET_FPU does not reach, hold it too. */
static int leave_ymm(hl_call *c)
{
	static volatile uint64_t s;
	s = hl_arg_u64(c, 0);
	if (!avx_usable())
		return hl_return_error(c, 1, "no AVX here");
	__asm__ volatile(
		"vbroadcastsd (%0), %%ymm0\n\tvbroadcastsd (%0), %%ymm1\n\t"
		"vbroadcastsd (%0), %%ymm2\n\tvbroadcastsd (%0), %%ymm3\n\t"
		"vbroadcastsd (%0), %%ymm4\n\tvbroadcastsd (%0), %%ymm5\n\t"
		"vbroadcastsd (%0), %%ymm6\n\tvbroadcastsd (%0), %%ymm7\n\t"
		"vbroadcastsd (%0), %%ymm8\n\tvbroadcastsd (%0), %%ymm9\n\t"
		"vbroadcastsd (%0), %%ymm10\n\tvbroadcastsd (%0), %%ymm11\n\t"
		"vbroadcastsd (%0), %%ymm12\n\tvbroadcastsd (%0), %%ymm13\n\t"
		"vbroadcastsd (%0), %%ymm14\n\tvbroadcastsd (%0), %%ymm15" ::"r"(&s)
		: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
		  "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
	return hl_return_void(c);
}

/* FindYmm(s): how many YMM registers hold s in their upper half. Read
 * before anything else runs; the runtime and libc use only legacy SSE
 * encodings, which leave the upper halves alone. */
static __attribute__((noinline)) int find_ymm(hl_call *c)
{
	uint64_t up[16][2];
	if (!avx_usable())
		return hl_return_error(c, 1, "no AVX here");
	__asm__ volatile(
		"vextractf128 $1, %%ymm0, 0(%0)\n\tvextractf128 $1, %%ymm1, 16(%0)\n\t"
		"vextractf128 $1, %%ymm2, 32(%0)\n\tvextractf128 $1, %%ymm3, 48(%0)\n\t"
		"vextractf128 $1, %%ymm4, 64(%0)\n\tvextractf128 $1, %%ymm5, 80(%0)\n\t"
		"vextractf128 $1, %%ymm6, 96(%0)\n\tvextractf128 $1, %%ymm7, 112(%0)\n\t"
		"vextractf128 $1, %%ymm8, 128(%0)\n\tvextractf128 $1, %%ymm9, 144(%0)\n\t"
		"vextractf128 $1, %%ymm10, 160(%0)\n\tvextractf128 $1, %%ymm11, 176(%0)\n\t"
		"vextractf128 $1, %%ymm12, 192(%0)\n\tvextractf128 $1, %%ymm13, 208(%0)\n\t"
		"vextractf128 $1, %%ymm14, 224(%0)\n\tvextractf128 $1, %%ymm15, 240(%0)" ::"r"(up)
		: "memory");
	uint64_t s = hl_arg_u64(c, 0);
	int32_t n = 0;
	for (int i = 0; i < 16; i++)
		n += up[i][0] == s || up[i][1] == s;
	return hl_return_i32(c, n);
}

/* ReloadCr3(a, b): writes CR3 with its own value (on kvm-pvm that alone
 * leaves native kernel mode), then returns a * b computed with SSE. */
static int reload_cr3(hl_call *c)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0\n\tmov %0, %%cr3" : "=r"(cr3)::"memory");
	return hl_return_f64(c, hl_arg_f64(c, 0) * hl_arg_f64(c, 1));
}

/* CpuidVirt(): what CPUID tells the guest about virtualisation: 1 VMX,
 * 2 SVM, 4 KVM's leaves ("KVMKVMKVM" at 0x40000000). */
static int cpuid_virt(hl_call *c)
{
	uint32_t r[4];
	int32_t v = 0;
	cpuid(1, r);
	if (r[2] & (1u << 5))
		v |= 1;
	cpuid(0x80000000u, r);
	if (r[0] >= 0x80000001u) {
		cpuid(0x80000001u, r);
		if (r[2] & (1u << 2))
			v |= 2;
	}
	cpuid(0x40000000u, r);
	if (r[1] == 0x4b4d564bu && r[2] == 0x564b4d56u && r[3] == 0x4du)
		v |= 4;
	return hl_return_i32(c, v);
}

int main(void)
{
	HL_REGISTER("CpuidVirt", cpuid_virt, HL_TYPE_I32);
	HL_REGISTER("HasAvx", has_avx, HL_TYPE_BOOL);
	HL_REGISTER("SseMul", sse_mul, HL_TYPE_F64, HL_TYPE_F64, HL_TYPE_F64);
	HL_REGISTER("LeaveYmm", leave_ymm, HL_TYPE_VOID, HL_TYPE_U64);
	HL_REGISTER("FindYmm", find_ymm, HL_TYPE_I32, HL_TYPE_U64);
	HL_REGISTER("ReloadCr3", reload_cr3, HL_TYPE_F64, HL_TYPE_F64, HL_TYPE_F64);
	hl_dispatch();
}
