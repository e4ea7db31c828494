/* pvm_entry.S - the code page the KVM backend gives a guest on kvm-pvm to enter native kernel mode (data, never executed by the host). */
#include "pvm_entry.h"

/*
 * kvm-pvm runs guest code at virtual CPL 0 through an instruction emulator
 * with no SSE, unless the vCPU has entered "native kernel mode": the guest
 * sets bit 0 of MSR_PVM_FEATURES, drops to user mode with SYSRET and comes
 * back with SYSCALL. That mode is hidden vCPU state, lost on a new vCPU and
 * when the guest loads page tables of its own, so the backend re-arms it by
 * starting the vCPU here, at emulated CPL 0, with the registers to resume
 * in the resume block (pvm_entry.h). Everything before `native:` is
 * emulated: integer instructions only. No stack is used before `native:`
 * (SYSRET and SYSCALL push nothing), so the guest's red zone is untouched.
 *
 * The bytes between hl__pvm_entry_begin and hl__pvm_entry_end are copied to
 * guest-physical HL__PVM_CODE_GPA, which the page tables map at the same
 * virtual address; addresses below are computed for that place.
 */
#define AT(label) (HL__PVM_CODE_VA + ((label) - hl__pvm_entry_begin))
#define RB(field) (HL__PVM_DATA_VA + (field))

	.section .rodata
	.balign 16
	.globl hl__pvm_entry_begin
	.globl hl__pvm_entry_end
	.hidden hl__pvm_entry_begin
	.hidden hl__pvm_entry_end
hl__pvm_entry_begin:
	.code64
	/* Keep the guest's STAR and LSTAR: the bounce below needs its own. */
	movl $MSR_STAR, %ecx
	rdmsr
	movl %eax, RB(HL__PVM_RB_STAR)
	movl %edx, RB(HL__PVM_RB_STAR + 4)
	movl $MSR_LSTAR, %ecx
	rdmsr
	movl %eax, RB(HL__PVM_RB_LSTAR)
	movl %edx, RB(HL__PVM_RB_LSTAR + 4)
	/* SYSCALL from user mode enters CPL 0 natively from now on. */
	movl $MSR_PVM_FEATURES, %ecx
	movl $1, %eax
	xorl %edx, %edx
	wrmsr
	/* SYSRET to CS 0x33/SS 0x2b, SYSCALL back to CS 0x08/SS 0x10. */
	movl $MSR_STAR, %ecx
	xorl %eax, %eax
	movl $0x00230008, %edx
	wrmsr
	movl $MSR_LSTAR, %ecx
	movl $AT(native), %eax
	xorl %edx, %edx
	wrmsr
	movl $AT(user), %ecx
	movl $2, %r11d			/* user-mode RFLAGS: IF clear */
	sysretq
user:
	syscall
native:
	/* Native kernel mode: the guest's own STAR and LSTAR back. */
	movl $MSR_STAR, %ecx
	movl RB(HL__PVM_RB_STAR), %eax
	movl RB(HL__PVM_RB_STAR + 4), %edx
	wrmsr
	movl $MSR_LSTAR, %ecx
	movl RB(HL__PVM_RB_LSTAR), %eax
	movl RB(HL__PVM_RB_LSTAR + 4), %edx
	wrmsr
	/* RFLAGS through the resume page's own little stack, then every
	 * general register, and on to the guest's RIP. */
	movl $RB(HL__PVM_RB_STACK_TOP), %esp
	pushq RB(HL__PVM_RB_RFLAGS)
	popfq
	movq RB(HL__PVM_RB_RSP), %rsp
	movq RB(HL__PVM_RB_RAX), %rax
	movq RB(HL__PVM_RB_RBX), %rbx
	movq RB(HL__PVM_RB_RCX), %rcx
	movq RB(HL__PVM_RB_RDX), %rdx
	movq RB(HL__PVM_RB_RSI), %rsi
	movq RB(HL__PVM_RB_RDI), %rdi
	movq RB(HL__PVM_RB_RBP), %rbp
	movq RB(HL__PVM_RB_R8), %r8
	movq RB(HL__PVM_RB_R9), %r9
	movq RB(HL__PVM_RB_R10), %r10
	movq RB(HL__PVM_RB_R11), %r11
	movq RB(HL__PVM_RB_R12), %r12
	movq RB(HL__PVM_RB_R13), %r13
	movq RB(HL__PVM_RB_R14), %r14
	movq RB(HL__PVM_RB_R15), %r15
	jmp *RB(HL__PVM_RB_RIP)
hl__pvm_entry_end:

	.section .note.GNU-stack, "", @progbits
