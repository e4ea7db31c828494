/* boot.c - the guest's first C code: CPU tables, system-call MSRs, the heap, and the hand-over to musl's start-up. */
#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "asm-defs.h"
#include "internal.h"

_Static_assert(HL__NOTE_TYPE_ABI == HL_NOTE_TYPE_ABI, "start.S note type differs from abi.h");
_Static_assert(HL__NOTE_ABI_VERSION == HL_ABI_VERSION, "start.S note version differs from abi.h");

const struct hl_boot_info *hl__bi;
uint64_t hl__tsc0;
uint64_t hl__in_size;
uint64_t hl__out_size;
uint64_t hl__syscall_stack_top;
uint64_t hl__syscall_user_rsp;
/* Where hl__isr_common moves to before calling C: 0 when the IDT gates
 * switch stacks themselves (IST), else the exception stack's top. */
uint64_t hl__exc_stack_top;

/* The 64-bit TSS (Intel SDM vol. 3, 8.7). Packed: RSP0 sits at offset 4. */
struct hl__tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7]; /* ist[0] is IST1 */
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct hl__tss) == 0x68, "TSS size");
_Static_assert(offsetof(struct hl__tss, ist) == 0x24, "IST1 offset");

/* A 64-bit interrupt gate (SDM vol. 3, 6.14.1). */
struct hl__gate {
	uint16_t off_lo;
	uint16_t selector;
	uint8_t ist; /* bits 0-2: IST index, 0 = no stack switch */
	uint8_t type_attr;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hl__gate) == 16, "gate size");

/* The operand of LGDT/LIDT. */
struct hl__dtr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

#define HL__GATE_INTR 0x8e /* present, DPL 0, 64-bit interrupt gate: keeps IF clear */
#define HL__IST_EXC 1      /* TSS IST1: IST-area stack 0 */
#define HL__IST_CRIT 2     /* TSS IST2: IST-area stack 1 */
#define HL__IST_SYSCALL 2u /* IST-area stack 2, not in the TSS: the syscall entry switches itself */

/* null, code64 (0x08), data (0x10), TSS (0x18, two slots). The accessed bits
 * are preset so that loading a segment does not write to the table. */
static uint64_t hl__gdt[5] __attribute__((aligned(16))) = {
	0,
	0x00af9b000000ffffull, /* G, L; present, DPL 0, code execute/read, accessed */
	0x00cf93000000ffffull, /* G, D/B; present, DPL 0, data read/write, accessed */
	0,
	0,
};
static struct hl__tss hl__tss __attribute__((aligned(16)));
static struct hl__gate hl__idt[256] __attribute__((aligned(16)));

/* From start.S. */
extern const uint64_t hl__isr_table[256];
void hl__syscall_entry(void);
void hl__load_gdt(const struct hl__dtr *gdtr);
_Noreturn void hl__start_c(const struct hl_boot_info *bi);

/* The ELF header, placed by the linker at the start of the first loaded
 * segment; it gives musl the program headers (PT_TLS) without a loader. */
extern const Elf64_Ehdr __ehdr_start;

/* musl's start-up, called as its own crt1 would. It reaches main through
 * the pointer only, so main's real prototype does not matter. */
int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*ldso)(void));
int main(int argc, char **argv, char **envp);

_Noreturn void hl__halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

static void hl__setup_fpu(void)
{
	/* The reset value of the x87 control word unmasks exceptions; musl's
	 * printf computes with long double, so start from FNINIT's defaults. */
	uint32_t mxcsr = 0x1f80;
	__asm__ volatile("fninit; ldmxcsr %0" ::"m"(mxcsr));
}

static void hl__setup_gdt(void)
{
	uint64_t base = (uint64_t)(uintptr_t)&hl__tss;
	uint64_t limit = sizeof hl__tss - 1;

	hl__tss.rsp[0] = hl__ist_top(0);
	hl__tss.ist[HL__IST_EXC - 1] = hl__ist_top(0);
	hl__tss.ist[HL__IST_CRIT - 1] = hl__ist_top(1);
	/* No I/O bitmap: an offset at or past the limit means none. */
	hl__tss.iomap_base = sizeof hl__tss;

	/* 16-byte system descriptor: type 9 = available 64-bit TSS. */
	hl__gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
	             (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	hl__gdt[4] = base >> 32;

	struct hl__dtr gdtr = {sizeof hl__gdt - 1, (uint64_t)(uintptr_t)hl__gdt};
	if (hl__bi->flags & HL_BOOT_F_KEEP_SEGMENTS) {
		/* The host's selectors already match this table (asm-defs.h);
		 * the gates and SYSCALL need the table, not a reload. */
		__asm__ volatile("lgdt %0" ::"m"(gdtr) : "memory");
		return;
	}
	hl__load_gdt(&gdtr);
}

static void hl__set_gate(unsigned v, uint64_t handler, unsigned ist)
{
	struct hl__gate *g = &hl__idt[v];

	g->off_lo = (uint16_t)handler;
	g->selector = HL__SEL_CODE;
	g->ist = (uint8_t)ist;
	g->type_attr = HL__GATE_INTR;
	g->off_mid = (uint16_t)(handler >> 16);
	g->off_hi = (uint32_t)(handler >> 32);
	g->reserved = 0;
}

static void hl__setup_idt(void)
{
	/* Every vector switches to an IST stack: the interrupted code may keep
	 * live data in the red zone below its RSP. #DF, NMI and #MC get their
	 * own stack so that they still work when the exception stack is the
	 * problem. */
	bool no_ist = hl__bi->flags & HL_BOOT_F_NO_IST;
	for (unsigned v = 0; v < 256; v++) {
		unsigned ist = (v == 2 || v == 8 || v == 18) ? HL__IST_CRIT : HL__IST_EXC;
		hl__set_gate(v, hl__isr_table[v], no_ist ? 0 : ist);
	}
	/* Without IST the CPU pushes the frame on the interrupted stack
	 * (every exception is fatal, so its red zone no longer matters); the
	 * C handler still runs on the exception stack. A stack overflow then
	 * ends in a triple fault, which the host reports as the overflow. */
	if (no_ist)
		hl__exc_stack_top = hl__ist_top(0);
	struct hl__dtr idtr = {sizeof hl__idt - 1, (uint64_t)(uintptr_t)hl__idt};
	__asm__ volatile("lidt %0" ::"m"(idtr) : "memory");
}

static void hl__setup_syscall(void)
{
	const uint32_t efer = 0xc0000080u, star = 0xc0000081u, lstar = 0xc0000082u,
		       cstar = 0xc0000083u, sfmask = 0xc0000084u;
	/* The host sets EFER.SCE; setting it again costs nothing and keeps a
	 * host that forgot from turning every libc call into #UD. */
	uint64_t e = hl__rdmsr(efer);
	if (!(e & 1))
		hl__wrmsr(efer, e | 1);
	/* STAR[47:32] is the SYSCALL CS; SS is that plus 8 = 0x10. SYSRET is
	 * never used, so its selector field stays 0. */
	hl__wrmsr(star, (uint64_t)HL__SEL_CODE << 32);
	hl__wrmsr(lstar, (uint64_t)(uintptr_t)hl__syscall_entry);
	hl__wrmsr(cstar, 0);
	/* Clear IF, TF, DF, AC and NT on entry; the entry restores them. */
	hl__wrmsr(sfmask, 0x200u | 0x100u | 0x400u | 0x40000u | 0x4000u);
	hl__syscall_stack_top = hl__ist_top(HL__IST_SYSCALL);
}

/* argv, envp and the aux vector, contiguous as musl expects them on a
 * process's initial stack; static because musl keeps pointers into it. */
static char hl__argv0[] = "guest";
static uint8_t hl__at_random[16];
static uintptr_t hl__start_block[40];

static _Noreturn void hl__enter_libc(void)
{
	const Elf64_Ehdr *eh = &__ehdr_start;
	uintptr_t *b = hl__start_block;
	size_t n = 0;
	uint32_t r[4];

	memcpy(hl__at_random, hl__bi->random, sizeof hl__at_random);
	hl__cpuid(1, 0, r);

	b[n++] = (uintptr_t)hl__argv0; /* argv[0] */
	b[n++] = 0;                    /* argv[1] */
	b[n++] = 0;                    /* envp[0] */
#define HL__AUX(k, v)                    \
	do {                             \
		b[n++] = (k);            \
		b[n++] = (uintptr_t)(v); \
	} while (0)
	HL__AUX(AT_PHDR, (const uint8_t *)eh + eh->e_phoff);
	HL__AUX(AT_PHENT, eh->e_phentsize);
	HL__AUX(AT_PHNUM, eh->e_phnum);
	HL__AUX(AT_PAGESZ, HL_PAGE_SIZE);
	HL__AUX(AT_RANDOM, hl__at_random);
	HL__AUX(AT_HWCAP, r[3]);
	/* Equal ids and AT_SECURE 0 keep musl from poll()ing fds 0-2. */
	HL__AUX(AT_SECURE, 0);
	HL__AUX(AT_UID, 0);
	HL__AUX(AT_EUID, 0);
	HL__AUX(AT_GID, 0);
	HL__AUX(AT_EGID, 0);
	HL__AUX(AT_NULL, 0);
#undef HL__AUX

	/* musl sets up TLS (arch_prctl), the stack protector, stdio and the
	 * constructors, then calls exit(main(...)); exit ends in exit_group,
	 * which becomes an abort record. */
	__libc_start_main(main, 1, (char **)hl__start_block, 0, 0, 0);
	hl__halt_forever();
}

/*
 * Called by _start with the boot info. Runs with the host's cached segment
 * descriptors, no IDT and no TLS, so nothing here may fault or touch %fs
 * (the runtime is built without the stack protector for that reason).
 */
_Noreturn void hl__start_c(const struct hl_boot_info *bi)
{
	hl__tsc0 = hl__rdtsc();
	hl__bi = bi;
	/* A host that speaks another ABI, or gives too little room for the
	 * IST stacks and the records, cannot be told anything reliably. */
	if (bi->magic != HL_BOOT_MAGIC || bi->abi_version != HL_ABI_VERSION ||
	    bi->ist_size < (uint64_t)HL_IST_COUNT * (HL_IST_SIZE + HL_PAGE_SIZE) ||
	    bi->output_size < 256 || bi->input_size < sizeof(struct hl_call_msg))
		hl__halt_forever();
	/* Offsets travel as 32-bit OUT values: never use more than that. */
	hl__in_size = bi->input_size < UINT32_MAX ? bi->input_size : UINT32_MAX;
	hl__out_size = bi->output_size < UINT32_MAX ? bi->output_size : UINT32_MAX;

	hl__setup_fpu();
	hl__setup_gdt();
	hl__setup_idt();
	hl__setup_syscall();
	hl__heap_init();
	hl__enter_libc();
}
