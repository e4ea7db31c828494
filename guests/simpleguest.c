/* simpleguest.c - the sample guest: echoes, printing, heap and stack use, and one function for each way a guest can fail. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlight/guest.h"

/* ---- echoes ---- */

static int echo(hl_call *c)
{
	size_t n;
	const char *s = hl_arg_string(c, 0, &n);
	return hl_return_string(c, s, n);
}

/* clang-format off */
static int echo_i32(hl_call *c) { return hl_return_i32(c, hl_arg_i32(c, 0)); }
static int echo_u32(hl_call *c) { return hl_return_u32(c, hl_arg_u32(c, 0)); }
static int echo_i64(hl_call *c) { return hl_return_i64(c, hl_arg_i64(c, 0)); }
static int echo_u64(hl_call *c) { return hl_return_u64(c, hl_arg_u64(c, 0)); }
static int echo_f32(hl_call *c) { return hl_return_f32(c, hl_arg_f32(c, 0)); }
static int echo_f64(hl_call *c) { return hl_return_f64(c, hl_arg_f64(c, 0)); }
static int echo_bool(hl_call *c) { return hl_return_bool(c, hl_arg_bool(c, 0)); }
/* clang-format on */

static int echo_bytes(hl_call *c)
{
	size_t n;
	const uint8_t *p = hl_arg_bytes(c, 0, &n);
	return hl_return_bytes(c, p, n);
}

static int noop(hl_call *c)
{
	return hl_return_void(c);
}

/* ---- printing ---- */

static int print_output(hl_call *c)
{
	int n = printf("%s", hl_arg_string(c, 0, NULL));
	return hl_return_i32(c, n);
}

/*
 * Print2 .. Print11: N parameters whose types cycle through string, i32,
 * i64, bool, f64, u32, u64, f32, bytes. Prints them on one line separated by
 * single spaces (floats with %g, bools as true/false, bytes as lowercase
 * hex), then a newline; returns the number of characters printed.
 */
static const hl_type print_cycle[] = {
	HL_TYPE_STRING, HL_TYPE_I32, HL_TYPE_I64, HL_TYPE_BOOL,  HL_TYPE_F64,
	HL_TYPE_U32,    HL_TYPE_U64, HL_TYPE_F32, HL_TYPE_BYTES,
};

static int print_n(hl_call *c)
{
	int total = 0;
	unsigned n = hl_arg_count(c);
	for (unsigned i = 0; i < n; i++) {
		const char *sep = i ? " " : "";
		switch (hl_arg_type(c, i)) {
		case HL_TYPE_STRING: total += printf("%s%s", sep, hl_arg_string(c, i, NULL)); break;
		case HL_TYPE_I32: total += printf("%s%d", sep, (int)hl_arg_i32(c, i)); break;
		case HL_TYPE_I64:
			total += printf("%s%lld", sep, (long long)hl_arg_i64(c, i));
			break;
		case HL_TYPE_BOOL:
			total += printf("%s%s", sep, hl_arg_bool(c, i) ? "true" : "false");
			break;
		case HL_TYPE_F64: total += printf("%s%g", sep, hl_arg_f64(c, i)); break;
		case HL_TYPE_U32: total += printf("%s%u", sep, (unsigned)hl_arg_u32(c, i)); break;
		case HL_TYPE_U64:
			total += printf("%s%llu", sep, (unsigned long long)hl_arg_u64(c, i));
			break;
		case HL_TYPE_F32: total += printf("%s%g", sep, (double)hl_arg_f32(c, i)); break;
		case HL_TYPE_BYTES: {
			size_t len;
			const uint8_t *p = hl_arg_bytes(c, i, &len);
			total += printf("%s", sep);
			for (size_t k = 0; k < len; k++)
				total += printf("%02x", p[k]);
			break;
		}
		default: break;
		}
	}
	total += printf("\n");
	return hl_return_i32(c, total);
}

/* ---- state, heap, stack ---- */

static int32_t counter;

static int add_to_static(hl_call *c)
{
	counter += hl_arg_i32(c, 0);
	return hl_return_i32(c, counter);
}

static int get_static(hl_call *c)
{
	return hl_return_i32(c, counter);
}

static int set_byte_array_to_zero(hl_call *c)
{
	size_t n;
	hl_arg_bytes(c, 0, &n);
	uint8_t *z = calloc(n ? n : 1, 1);
	if (!z)
		return hl_return_error(c, 1, "out of memory for %zu bytes", n);
	int r = hl_return_bytes(c, z, n);
	free(z);
	return r;
}

static int do_malloc(hl_call *c)
{
	int32_t size = hl_arg_i32(c, 0);
	if (size < 0)
		return hl_return_error(c, 1, "negative size %d", (int)size);
	volatile uint8_t *p = malloc((size_t)size);
	if (!p && size)
		return hl_return_error(c, 2, "malloc(%d) failed", (int)size);
	for (int32_t i = 0; i < size; i++)
		p[i] = (uint8_t)i;
	free((void *)p);
	return hl_return_i32(c, size);
}

static int malloc_too_large(hl_call *c)
{
	size_t size = (size_t)hl_boot_info()->heap_size + (1u << 20);
	void *p = malloc(size);
	if (p) {
		free(p);
		return hl_return_i32(c, 1);
	}
	return hl_return_i32(c, 0);
}

/* Each frame holds 1 KiB and uses it after the recursive call, so the
 * compiler can neither drop the buffer nor turn the recursion into a loop. */
static __attribute__((noinline)) int recurse(int n)
{
	volatile char buf[1024];
	buf[0] = (char)n;
	buf[sizeof buf - 1] = (char)n;
	if (n <= 1)
		return 1;
	int r = recurse(n - 1);
	return r + 1 + (buf[0] != (char)n) + (buf[sizeof buf - 1] != (char)n);
}

static int stack_overflow(hl_call *c)
{
	int32_t depth = hl_arg_i32(c, 0);
	return hl_return_i32(c, depth > 0 ? recurse(depth) : 0);
}

static volatile int keep_going = 1;

static __attribute__((noinline)) int recurse_forever(int n)
{
	volatile char buf[1024];
	buf[0] = (char)n;
	buf[sizeof buf - 1] = (char)n;
	if (!keep_going)
		return n;
	return recurse_forever(n + 1) + buf[0] + buf[sizeof buf - 1];
}

static int infinite_recursion(hl_call *c)
{
	return hl_return_i32(c, recurse_forever(0));
}

/* ---- failing on purpose ---- */

static int abort_with_code(hl_call *c)
{
	int32_t code = hl_arg_i32(c, 0);
	hl_abort(code, "AbortWithCode: aborting with code %d", (int)code);
}

static int abort_with_message(hl_call *c)
{
	hl_abort(hl_arg_i32(c, 0), "%s", hl_arg_string(c, 1, NULL));
}

static int call_libc_abort(hl_call *c)
{
	(void)c;
	abort();
}

static int exit_with(hl_call *c)
{
	exit(hl_arg_i32(c, 0));
}

/* volatile so that the compiler cannot see the NULL and emit a trap instead. */
static volatile int *volatile null_ptr;
static volatile int zero;
static volatile int forty_two = 42;

static int null_deref(hl_call *c)
{
	return hl_return_i32(c, *null_ptr);
}

static int divide_by_zero(hl_call *c)
{
	/* Both operands volatile: gcc turns 1 / x into a compare, not a DIV. */
	return hl_return_i32(c, forty_two / zero);
}

static int invalid_opcode(hl_call *c)
{
	__asm__ volatile("ud2");
	return hl_return_i32(c, 0);
}

static int general_protection(hl_call *c)
{
	/* A non-canonical address: #GP, not #PF. */
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)0x8000000000000000ull;
	return hl_return_i32(c, (int32_t)*p);
}

static int breakpoint(hl_call *c)
{
	__asm__ volatile("int3");
	return hl_return_i32(c, 0);
}

static int write_to_code(hl_call *c)
{
	/* Text is mapped read+execute and CR0.WP holds at CPL 0: #PF. */
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)&write_to_code;
	*p = 0xc3;
	return hl_return_i32(c, 0);
}

static int execute_data(hl_call *c)
{
	/* The heap is mapped NX: fetching the `ret` is a #PF. */
	uint8_t *buf = malloc(16);
	if (!buf)
		return hl_return_error(c, 1, "out of memory");
	buf[0] = 0xc3;
	void (*fn)(void) = (void (*)(void))(uintptr_t)buf;
	fn();
	free(buf);
	return hl_return_i32(c, 0);
}

static int triple_fault(hl_call *c)
{
	/* With no IDT entry deliverable, #BP escalates to #GP, then #DF, then
	 * a shutdown. */
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = {0, 0};
	__asm__ volatile("lidt %0; int3" ::"m"(idtr) : "memory");
	return hl_return_i32(c, 0);
}

static int outside_memory(hl_call *c)
{
	/* Our own identity map of [0, 1 GiB) with 2 MiB pages: it maps
	 * addresses the host never backed, so the write below leaves guest
	 * memory and the host sees an MMIO exit. */
	uint64_t *pt = aligned_alloc(4096, 3 * 4096);
	if (!pt)
		return hl_return_error(c, 1, "out of memory");
	memset(pt, 0, 3 * 4096);
	uint64_t *pml4 = pt, *pdpt = pt + 512, *pd = pt + 1024;
	pml4[0] = (uint64_t)(uintptr_t)pdpt | 3; /* present, writable */
	pdpt[0] = (uint64_t)(uintptr_t)pd | 3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
	__asm__ volatile("mov %0, %%cr3" ::"r"((uint64_t)(uintptr_t)pml4) : "memory");
	*(volatile uint32_t *)(uintptr_t)0x3fe00000u = 1;
	return hl_return_i32(c, 0);
}

static int unknown_port(hl_call *c)
{
	__asm__ volatile("outb %0, %1" ::"a"((uint8_t)0), "Nd"((uint16_t)0x1234));
	return hl_return_i32(c, 0);
}

static int spin(hl_call *c)
{
	/* Until the host gives up on the call (keep_going never changes). */
	while (keep_going)
		__asm__ volatile("pause");
	return hl_return_void(c);
}

/* ---- sizes, errors, logging ---- */

static int large_parameters(hl_call *c)
{
	size_t slen, blen;
	const char *s = hl_arg_string(c, 0, &slen);
	hl_arg_bytes(c, 1, &blen);
	return hl_return_i32(c, (int32_t)(strlen(s) + blen));
}

static int return_error(hl_call *c)
{
	return hl_return_error(c, hl_arg_i32(c, 0), "%s", hl_arg_string(c, 1, NULL));
}

static int log_message(hl_call *c)
{
	hl_log((enum hl_log_level)hl_arg_i32(c, 0), "%s", hl_arg_string(c, 1, NULL));
	return hl_return_void(c);
}

static int get_string_of_length(hl_call *c)
{
	int32_t n = hl_arg_i32(c, 0);
	if (n < 0)
		return hl_return_error(c, 1, "negative length %d", (int)n);
	char *s = malloc((size_t)n + 1);
	if (!s)
		return hl_return_error(c, 2, "out of memory for %d bytes", (int)n);
	memset(s, 'x', (size_t)n);
	s[n] = 0;
	int r = hl_return_string(c, s, (size_t)n);
	free(s);
	return r;
}

static int sum16(hl_call *c)
{
	int64_t sum = 0;
	for (unsigned i = 0; i < 16; i++)
		sum += hl_arg_i32(c, i);
	return hl_return_i64(c, sum);
}

/* Mixed32: 32 parameters cycling i32, u32, i64, u64, f32, f64, bool, string;
 * returns their sum as f64 (a bool counts 0 or 1, a string its length). */
static const hl_type mixed_cycle[] = {
	HL_TYPE_I32, HL_TYPE_U32, HL_TYPE_I64,  HL_TYPE_U64,
	HL_TYPE_F32, HL_TYPE_F64, HL_TYPE_BOOL, HL_TYPE_STRING,
};

static int mixed32(hl_call *c)
{
	double sum = 0;
	for (unsigned i = 0; i < hl_arg_count(c); i++) {
		switch (hl_arg_type(c, i)) {
		case HL_TYPE_I32: sum += hl_arg_i32(c, i); break;
		case HL_TYPE_U32: sum += hl_arg_u32(c, i); break;
		case HL_TYPE_I64: sum += (double)hl_arg_i64(c, i); break;
		case HL_TYPE_U64: sum += (double)hl_arg_u64(c, i); break;
		case HL_TYPE_F32: sum += hl_arg_f32(c, i); break;
		case HL_TYPE_F64: sum += hl_arg_f64(c, i); break;
		case HL_TYPE_BOOL: sum += hl_arg_bool(c, i); break;
		case HL_TYPE_STRING: {
			size_t n;
			hl_arg_string(c, i, &n);
			sum += (double)n;
			break;
		}
		default: break;
		}
	}
	return hl_return_f64(c, sum);
}

/* ---- state that must not survive a restore ---- */

static volatile uint64_t secret_static;
static volatile uint64_t *secret_heap;
static uint8_t dirty_area[64 * 4096] __attribute__((aligned(4096)));

/* TSC_AUX can be written where RDTSCP exists, except on kvm-pvm, which
 * advertises RDTSCP (the host's CPUID) but makes the MSR #GP. */
static int have_rdtscp(void)
{
	unsigned a, b, c, d;
	if (hl_boot_info()->platform == HL_BOOT_PLATFORM_KVM_PVM)
		return 0;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u), "c"(0));
	return (d >> 27) & 1;
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

/*
 * LeaveSecret(u64 s): leaves s in a static, on the heap, in xmm8..xmm15,
 * in r8..r10 (caller-saved: nothing restores them on return), in DR0, in
 * KERNEL_GS_BASE and (where RDTSCP exists) in TSC_AUX.
 */
static int leave_secret(hl_call *c)
{
	uint64_t s = hl_arg_u64(c, 0);
	secret_static = s;
	secret_heap = malloc(64);
	if (secret_heap)
		secret_heap[0] = s;
	wrmsr(0xc0000102, s); /* KERNEL_GS_BASE */
	if (have_rdtscp())
		wrmsr(0xc0000103, (uint32_t)s); /* TSC_AUX */
	__asm__ volatile("mov %0, %%dr0" ::"r"(s));
	__asm__ volatile(
		"movq %0, %%xmm8\n\tmovq %0, %%xmm9\n\tmovq %0, %%xmm10\n\t"
		"movq %0, %%xmm11\n\tmovq %0, %%xmm12\n\tmovq %0, %%xmm13\n\t"
		"movq %0, %%xmm14\n\tmovq %0, %%xmm15\n\t"
		"mov %0, %%r8\n\tmov %0, %%r9\n\tmov %0, %%r10" ::"r"(s)
		: "r8", "r9", "r10", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
		  "xmm15");
	return hl_return_void(c);
}

/*
 * FindSecret(u64 s): where s is still found, as a bit mask: 1 the static,
 * 2 the heap (anywhere in the heap region), 4 xmm8..15, 8 r8..r10 at entry,
 * 16 DR0, 32 KERNEL_GS_BASE, 64 TSC_AUX. 0: nothing left.
 */
static __attribute__((noinline)) int find_secret(hl_call *c)
{
	uint64_t regs[3], x[8];
	/* Read the registers first, before the compiler uses them. */
	__asm__ volatile("mov %%r8, 0(%0)\n\tmov %%r9, 8(%0)\n\tmov %%r10, 16(%0)" ::"r"(regs)
	                 : "memory");
	__asm__ volatile(
		"movq %%xmm8, 0(%0)\n\tmovq %%xmm9, 8(%0)\n\tmovq %%xmm10, 16(%0)\n\t"
		"movq %%xmm11, 24(%0)\n\tmovq %%xmm12, 32(%0)\n\tmovq %%xmm13, 40(%0)\n\t"
		"movq %%xmm14, 48(%0)\n\tmovq %%xmm15, 56(%0)" ::"r"(x)
		: "memory");
	uint64_t s = hl_arg_u64(c, 0);
	int32_t found = 0;
	if (secret_static == s)
		found |= 1;
	const struct hl_boot_info *bi = hl_boot_info();
	const volatile uint64_t *h = (const volatile uint64_t *)(uintptr_t)bi->heap_addr;
	for (uint64_t i = 0; i < bi->heap_size / 8; i++)
		if (h[i] == s) {
			found |= 2;
			break;
		}
	for (int i = 0; i < 8; i++)
		if (x[i] == s)
			found |= 4;
	for (int i = 0; i < 3; i++)
		if (regs[i] == s)
			found |= 8;
	uint64_t dr0;
	__asm__ volatile("mov %%dr0, %0" : "=r"(dr0));
	if (dr0 == s)
		found |= 16;
	if (rdmsr(0xc0000102) == s)
		found |= 32;
	if (have_rdtscp() && rdmsr(0xc0000103) == (uint32_t)s)
		found |= 64;
	return hl_return_i32(c, found);
}

/* DirtyPages(n): writes one byte into each of n (at most 64) pages. */
static int dirty_pages(hl_call *c)
{
	int32_t n = hl_arg_i32(c, 0);
	if (n < 0 || n > 64)
		return hl_return_error(c, 1, "DirtyPages: 0..64 pages, not %d", (int)n);
	for (int32_t i = 0; i < n; i++)
		((volatile uint8_t *)dirty_area)[(size_t)i * 4096] += 1;
	return hl_return_i32(c, n);
}

/* SumDirtyArea(): the sum of the bytes DirtyPages writes (0 on a fresh state). */
static int sum_dirty_area(hl_call *c)
{
	int32_t sum = 0;
	for (size_t i = 0; i < 64; i++)
		sum += ((volatile uint8_t *)dirty_area)[i * 4096];
	return hl_return_i32(c, sum);
}

/* ---- for the debugger test (tests/debug/test_gdb.sh) ---- */

/* DebugTarget(x) returns x + debug_value. The test stops in debug_add
 * (kept a real function: noinline, noipa), changes debug_value through
 * gdb, and checks that the result shows the change. */
static volatile int32_t debug_value = 7;

__attribute__((noinline, noipa)) int32_t debug_add(int32_t x)
{
	return x + debug_value;
}

static int debug_target(hl_call *c)
{
	return hl_return_i32(c, debug_add(hl_arg_i32(c, 0)));
}

int main(void)
{
	HL_REGISTER("Echo", echo, HL_TYPE_STRING, HL_TYPE_STRING);
	HL_REGISTER("EchoI32", echo_i32, HL_TYPE_I32, HL_TYPE_I32);
	HL_REGISTER("EchoU32", echo_u32, HL_TYPE_U32, HL_TYPE_U32);
	HL_REGISTER("EchoI64", echo_i64, HL_TYPE_I64, HL_TYPE_I64);
	HL_REGISTER("EchoU64", echo_u64, HL_TYPE_U64, HL_TYPE_U64);
	HL_REGISTER("EchoF32", echo_f32, HL_TYPE_F32, HL_TYPE_F32);
	HL_REGISTER("EchoF64", echo_f64, HL_TYPE_F64, HL_TYPE_F64);
	HL_REGISTER("EchoBool", echo_bool, HL_TYPE_BOOL, HL_TYPE_BOOL);
	HL_REGISTER("EchoBytes", echo_bytes, HL_TYPE_BYTES, HL_TYPE_BYTES);
	HL_REGISTER("NoOp", noop, HL_TYPE_VOID);
	HL_REGISTER("DebugTarget", debug_target, HL_TYPE_I32, HL_TYPE_I32);

	HL_REGISTER("PrintOutput", print_output, HL_TYPE_I32, HL_TYPE_STRING);
	for (unsigned n = 2; n <= 11; n++) {
		hl_type params[11];
		char name[16];
		for (unsigned i = 0; i < n; i++)
			params[i] = print_cycle[i % (sizeof print_cycle / sizeof print_cycle[0])];
		snprintf(name, sizeof name, "Print%u", n);
		hl_register_function(name, print_n, HL_TYPE_I32, params, n);
	}

	HL_REGISTER("SetByteArrayToZero", set_byte_array_to_zero, HL_TYPE_BYTES, HL_TYPE_BYTES);
	HL_REGISTER("AddToStatic", add_to_static, HL_TYPE_I32, HL_TYPE_I32);
	HL_REGISTER("GetStatic", get_static, HL_TYPE_I32);
	HL_REGISTER("Malloc", do_malloc, HL_TYPE_I32, HL_TYPE_I32);
	HL_REGISTER("MallocTooLarge", malloc_too_large, HL_TYPE_I32);
	HL_REGISTER("StackOverflow", stack_overflow, HL_TYPE_I32, HL_TYPE_I32);
	HL_REGISTER("InfiniteRecursion", infinite_recursion, HL_TYPE_I32);

	HL_REGISTER("AbortWithCode", abort_with_code, HL_TYPE_VOID, HL_TYPE_I32);
	HL_REGISTER("AbortWithMessage", abort_with_message, HL_TYPE_VOID, HL_TYPE_I32,
	            HL_TYPE_STRING);
	HL_REGISTER("CallLibcAbort", call_libc_abort, HL_TYPE_VOID);
	HL_REGISTER("ExitWith", exit_with, HL_TYPE_VOID, HL_TYPE_I32);
	HL_REGISTER("NullDeref", null_deref, HL_TYPE_I32);
	HL_REGISTER("DivideByZero", divide_by_zero, HL_TYPE_I32);
	HL_REGISTER("InvalidOpcode", invalid_opcode, HL_TYPE_I32);
	HL_REGISTER("GeneralProtection", general_protection, HL_TYPE_I32);
	HL_REGISTER("Breakpoint", breakpoint, HL_TYPE_I32);
	HL_REGISTER("WriteToCode", write_to_code, HL_TYPE_I32);
	HL_REGISTER("ExecuteData", execute_data, HL_TYPE_I32);
	HL_REGISTER("TripleFault", triple_fault, HL_TYPE_I32);
	HL_REGISTER("OutsideMemory", outside_memory, HL_TYPE_I32);
	HL_REGISTER("UnknownPort", unknown_port, HL_TYPE_I32);
	HL_REGISTER("Spin", spin, HL_TYPE_VOID);
	HL_REGISTER("LeaveSecret", leave_secret, HL_TYPE_VOID, HL_TYPE_U64);
	HL_REGISTER("FindSecret", find_secret, HL_TYPE_I32, HL_TYPE_U64);
	HL_REGISTER("DirtyPages", dirty_pages, HL_TYPE_I32, HL_TYPE_I32);
	HL_REGISTER("SumDirtyArea", sum_dirty_area, HL_TYPE_I32);

	HL_REGISTER("LargeParameters", large_parameters, HL_TYPE_I32, HL_TYPE_STRING, HL_TYPE_BYTES);
	HL_REGISTER("ReturnError", return_error, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_STRING);
	HL_REGISTER("LogMessage", log_message, HL_TYPE_VOID, HL_TYPE_I32, HL_TYPE_STRING);
	HL_REGISTER("GetStringOfLength", get_string_of_length, HL_TYPE_STRING, HL_TYPE_I32);
	HL_REGISTER("Sum16", sum16, HL_TYPE_I64, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32,
	            HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32,
	            HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32);
	{
		hl_type params[32];
		for (unsigned i = 0; i < 32; i++)
			params[i] = mixed_cycle[i % (sizeof mixed_cycle / sizeof mixed_cycle[0])];
		hl_register_function("Mixed32", mixed32, HL_TYPE_F64, params, 32);
	}

	hl_dispatch();
}
