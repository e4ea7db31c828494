/* start.S - the guest's entry point, its ABI note, and the CPU-level entries (GDT reload, exceptions, syscall). */
#include "asm-defs.h"

/*
 * The ABI version note. It lives in the same object as _start, which every
 * guest links, so no guest can lose it. The assembler gives a section whose
 * name starts with ".note" the type SHT_NOTE, and the linker puts allocated
 * notes in a PT_NOTE segment.
 */
	.section .note.hyperlight, "a", @note
	.balign 4
	.long 2f - 1f			/* n_namesz, NUL included */
	.long 4f - 3f			/* n_descsz */
	.long HL__NOTE_TYPE_ABI		/* n_type */
1:	.asciz "Hyperlight"
2:	.balign 4
3:	.long HL__NOTE_ABI_VERSION	/* struct hl_note_abi.abi_version */
	.long 0				/* .flags */
4:	.balign 4

	.text

/*
 * _start: the host enters here in long mode at CPL 0 with RDI = boot info
 * and RSP = top of the main stack. There is no return address; clearing
 * RBP ends frame-pointer walks here. The call leaves RSP+8 16-byte aligned
 * at hl__start_c's entry, as the C ABI wants.
 */
	.globl _start
	.type _start, @function
_start:
	xor %ebp, %ebp
	and $-16, %rsp
	call hl__start_c
	ud2
	.size _start, . - _start

/*
 * hl__load_gdt(const struct hl__dtr *gdtr): loads the GDT, reloads every
 * segment register from it and loads the task register. It is a function
 * in assembly, not inline asm, because it pushes: inline asm in C compiled
 * with a red zone must never touch the stack below RSP.
 * 64-bit mode has no far jump with an immediate selector, so CS is reloaded
 * with a far return, which pops RIP and then CS.
 */
	.globl hl__load_gdt
	.type hl__load_gdt, @function
hl__load_gdt:
	lgdt (%rdi)
	pushq $HL__SEL_CODE
	leaq 1f(%rip), %rax
	pushq %rax
	lretq
1:	movl $HL__SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $HL__SEL_TSS, %eax
	ltr %ax
	ret
	.size hl__load_gdt, . - hl__load_gdt

/*
 * Interrupt and exception stubs, one per vector. The CPU pushes an error
 * code only for vectors 8, 10-14, 17, 21, 29 and 30; the others push a
 * dummy 0 so that every stub hands hl__isr_common the same frame:
 * vector, error code, RIP, CS, RFLAGS, RSP, SS.
 */
	.altmacro
	.macro hl__isr_stub v
	.balign 16
hl__isr_\v:
	.if (\v == 8) || (\v == 10) || (\v == 11) || (\v == 12) || (\v == 13) || (\v == 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
	.else
	pushq $0
	.endif
	pushq $\v
	jmp hl__isr_common
	.endm

	.macro hl__isr_ptr v
	.quad hl__isr_\v
	.endm

	.set hl__vec, 0
	.rept 256
	hl__isr_stub %hl__vec
	.set hl__vec, hl__vec + 1
	.endr

/*
 * Every vector runs on an IST stack (see boot.c), never on the interrupted
 * stack, whose red zone may hold live data. The stack top is 16-byte
 * aligned; the CPU's 5 words, the error code, the vector and the 15 pushes
 * below make 22 words, so RSP is 16-byte aligned again at the call.
 * Where the host forbids IST (HL_BOOT_F_NO_IST), the frame is on the
 * interrupted stack and hl__exc_stack_top names the exception stack to
 * call C on. hl__exception never returns: the host does not resume a
 * faulted guest.
 */
	.balign 16
hl__isr_common:
	cld
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	movq hl__exc_stack_top(%rip), %rax
	testq %rax, %rax
	jz 1f
	movq %rax, %rsp
1:	call hl__exception
	ud2

	.section .rodata
	.balign 8
	.globl hl__isr_table
	.type hl__isr_table, @object
hl__isr_table:
	.set hl__vec, 0
	.rept 256
	hl__isr_ptr %hl__vec
	.set hl__vec, hl__vec + 1
	.endr
	.size hl__isr_table, . - hl__isr_table
	.noaltmacro

	.text
/*
 * The SYSCALL entry (LSTAR). SYSCALL at CPL 0 leaves RSP alone, and SYSRET
 * would return to CPL 3, so this entry switches stacks and returns with an
 * indirect jump. RCX holds the return address and R11 the caller's RFLAGS;
 * the Linux ABI lets a system call clobber only RAX, RCX and R11, so every
 * other register the C dispatcher may change is saved, and so is the
 * SSE/x87 state, since callers keep values in XMM registers across calls.
 * Nothing is written on the caller's stack: its red zone may be live.
 */
	.globl hl__syscall_entry
	.type hl__syscall_entry, @function
hl__syscall_entry:
	movq %rsp, hl__syscall_user_rsp(%rip)
	movq hl__syscall_stack_top(%rip), %rsp
	pushq %rcx
	pushq %r11
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %r10
	pushq %r8
	pushq %r9
	/* 8 words pushed on a 16-byte aligned top: aligned for FXSAVE. */
	subq $HL__FXSAVE_SIZE, %rsp
	fxsave64 (%rsp)
	/* hl__syscall(nr, a1, a2, a3, a4, a5, a6): the 7th C argument goes on
	 * the stack; the pad word keeps RSP 16-byte aligned at the call. */
	subq $8, %rsp
	pushq %r9
	movq %r8, %r9
	movq %r10, %r8
	movq %rdx, %rcx
	movq %rsi, %rdx
	movq %rdi, %rsi
	movq %rax, %rdi
	call hl__syscall
	addq $16, %rsp
	fxrstor64 (%rsp)
	addq $HL__FXSAVE_SIZE, %rsp
	popq %r9
	popq %r8
	popq %r10
	popq %rdx
	popq %rsi
	popq %rdi
	popq %r11
	popq %rcx
	/* Restore the caller's RFLAGS while still on this stack (R11 keeps a
	 * copy, as after a Linux SYSRET), then go back with a plain mov. */
	pushq %r11
	popfq
	movq hl__syscall_user_rsp(%rip), %rsp
	jmp *%rcx
	.size hl__syscall_entry, . - hl__syscall_entry

	.section .note.GNU-stack, "", @progbits
