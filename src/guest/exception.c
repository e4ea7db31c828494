/* exception.c - turns a CPU exception or stray interrupt into an exception record for the host. */
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* The stack hl__isr_common builds, lowest address first. */
struct hl__frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;       /* pushed by the stub (or the CPU, for the error code) */
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct hl__frame) == 22 * 8, "frame layout must match start.S");

static volatile int hl__in_exception;

/* With an IDT limit of 0 no vector can be delivered: the next exception
 * escalates to a triple fault, which the host sees as a shutdown. */
static _Noreturn void hl__triple_fault(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = {0, 0};
	__asm__ volatile("lidt %0; int3" ::"m"(idtr) : "memory");
	hl__halt_forever();
}

_Noreturn void hl__exception(struct hl__frame *f)
{
	/* A fault while reporting a fault (say, the output buffer is not
	 * mapped) would re-enter here on the same IST stack forever. */
	if (hl__in_exception)
		hl__triple_fault();
	hl__in_exception = 1;

	struct hl_exception e;
	uint64_t cr2;
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));

	memset(&e, 0, sizeof e);
	e.magic = HL_EXCEPTION_MAGIC;
	e.vector = (uint32_t)f->vector;
	e.error_code = f->error_code;
	e.rip = f->rip;
	e.cs = f->cs;
	e.rflags = f->rflags;
	e.rsp = f->rsp;
	e.ss = f->ss;
	e.cr2 = cr2;
	const uint64_t gpr[15] = {f->rax, f->rbx, f->rcx, f->rdx, f->rsi, f->rdi, f->rbp, f->r8,
	                          f->r9,  f->r10, f->r11, f->r12, f->r13, f->r14, f->r15};
	memcpy(e.gpr, gpr, sizeof gpr);

	/* Offset 0 is free to reuse: the guest is finished either way. boot.c
	 * made sure the output buffer holds a record this size. */
	memcpy(hl__out(), &e, sizeof e);
	hl_outl(HL_PORT_EXCEPTION, 0);
	hl__halt_forever();
}
