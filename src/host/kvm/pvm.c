/* pvm.c - kvm-pvm's native kernel mode: the backend's slot at GPA 0, the entry, and re-entry after a lost mode. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "hyperlight/hyperlight.h"
#include "kvm_vm.h"
#include "pvm_entry.h"

/*
 * kvm-pvm runs guest code at virtual CPL 0 in an instruction emulator
 * without SSE unless the vCPU is in native kernel mode, hidden state that a
 * new vCPU lacks and that a guest loading page tables of its own loses.
 * This file enters the mode for the guest through the code of pvm_entry.S,
 * which lives in a slot of the backend's own (pvm_entry.h says where), at
 * boot, at a restore when the mode is not known to hold, and after an
 * emulation failure (docs/platforms.md).
 */

/* pvm_entry.S: the entry code, copied into the guest (never run by the host). */
extern const uint8_t hl__pvm_entry_begin[], hl__pvm_entry_end[];

/* kvm-pvm: the slot at GPA 0 with the entry code (pvm_entry.h). */
int hl__pvm_setup(struct hl_vm *vm, struct hl_errbuf *err)
{
	size_t len = HL__PVM_SLOT_PAGES * HL__KVM_PAGE;
	void *p = hl__mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return hl__kvm_fail(err, "mmap of the kvm-pvm entry pages");
	vm->pvm_mem = p;
	struct kvm_userspace_memory_region r = {
		.slot = 1,
		.guest_phys_addr = 0,
		.memory_size = len,
		.userspace_addr = (uint64_t)(uintptr_t)p,
	};
	if (kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return hl__kvm_fail(err, "KVM_SET_USER_MEMORY_REGION (kvm-pvm entry pages)");
	return 0;
}

/*
 * kvm-pvm: makes the next run start at the entry code (pvm_entry.S) at
 * emulated CPL 0, which enters native kernel mode and then resumes `to`.
 * `sr` is the segment and control state to run with; its CS and SS are
 * replaced by the kernel ones (KVM_GET_SREGS shows user selectors while the
 * vCPU is native). The entry pages are rewritten whole, so nothing a guest
 * wrote there (with page tables of its own) survives.
 */
volatile int hl__test_skip_native_entry;

int hl__pvm_enter(struct hl_vm *vm, const struct kvm_regs *to, struct kvm_sregs *sr,
                  struct hl_errbuf *err)
{
	if (hl__test_skip_native_entry) {
		if (hl__test_skip_native_entry == 1)
			hl__test_skip_native_entry = 0;
		hl__kvm_seg(&sr->cs, 0x08, 0xb, true);
		hl__kvm_seg(&sr->ss, 0x10, 0x3, false);
		if (kvm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, sr) < 0)
			return hl__kvm_fail(err, "KVM_SET_SREGS");
		if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, to) < 0)
			return hl__kvm_fail(err, "KVM_SET_REGS");
		vm->pvm_entering = vm->pvm_native = false;
		return 0;
	}
	uint8_t *code = vm->pvm_mem + HL__PVM_CODE_GPA;
	uint8_t *data = code + HL__KVM_PAGE;
	memset(vm->pvm_mem, 0, HL__PVM_SLOT_PAGES * HL__KVM_PAGE);
	/* Two symbols of one assembled block: its length as addresses. */
	size_t len = (size_t)((uintptr_t)hl__pvm_entry_end - (uintptr_t)hl__pvm_entry_begin);
	memcpy(code, hl__pvm_entry_begin, len);
	const uint64_t rb[] = {
		[HL__PVM_RB_RIP / 8] = to->rip,       [HL__PVM_RB_RSP / 8] = to->rsp,
		[HL__PVM_RB_RFLAGS / 8] = to->rflags, [HL__PVM_RB_RAX / 8] = to->rax,
		[HL__PVM_RB_RBX / 8] = to->rbx,       [HL__PVM_RB_RCX / 8] = to->rcx,
		[HL__PVM_RB_RDX / 8] = to->rdx,       [HL__PVM_RB_RSI / 8] = to->rsi,
		[HL__PVM_RB_RDI / 8] = to->rdi,       [HL__PVM_RB_RBP / 8] = to->rbp,
		[HL__PVM_RB_R8 / 8] = to->r8,         [HL__PVM_RB_R9 / 8] = to->r9,
		[HL__PVM_RB_R10 / 8] = to->r10,       [HL__PVM_RB_R11 / 8] = to->r11,
		[HL__PVM_RB_R12 / 8] = to->r12,       [HL__PVM_RB_R13 / 8] = to->r13,
		[HL__PVM_RB_R14 / 8] = to->r14,       [HL__PVM_RB_R15 / 8] = to->r15,
	};
	memcpy(data, rb, sizeof rb);
	hl__kvm_seg(&sr->cs, 0x08, 0xb, true);
	hl__kvm_seg(&sr->ss, 0x10, 0x3, false);
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, sr) < 0)
		return hl__kvm_fail(err, "KVM_SET_SREGS (kvm-pvm entry)");
	struct kvm_regs r;
	memset(&r, 0, sizeof r);
	r.rip = HL__PVM_CODE_VA;
	r.rflags = 0x2;
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return hl__kvm_fail(err, "KVM_SET_REGS (kvm-pvm entry)");
	/* The entry code writes the feature MSR, which the filter refuses
	 * to guests otherwise. */
	if (vm->msr_filter && !vm->filter_allows_pvm && hl__kvm_msr_filter(vm, true, err) < 0)
		return -1;
	vm->pvm_entering = true;
	vm->pvm_native = false;
	return 0;
}

/*
 * kvm-pvm, after every exit of a run: once the vCPU has come back from the
 * entry code, clear the resume block (it held registers of this guest's
 * state, which a later request must not read), and keep track of whether
 * the vCPU is still known to be native. Only port I/O keeps that belief:
 * any other exit (a fault, a shutdown, MMIO, a halt, an emulation failure)
 * may come from a guest that left the mode, so the next restore re-enters.
 */
int hl__pvm_after_exit(struct hl_vm *vm, uint32_t reason, struct hl_errbuf *err)
{
	if (vm->pvm_entering) {
		memset(vm->pvm_mem + HL__PVM_CODE_GPA + HL__KVM_PAGE, 0, HL__KVM_PAGE);
		vm->pvm_entering = false;
		if (vm->filter_allows_pvm && hl__kvm_msr_filter(vm, false, err) < 0)
			return -1;
		/* What the host reads back after the entry code's write (kvm-pvm
		 * adds bits of its own): a restore compares with it. An unread
		 * value leaves the mode unknown, so the next restore enters. */
		vm->pvm_native = hl__kvm_get_msr(vm, MSR_PVM_FEATURES, &vm->pvm_features) == 1;
	}
	if (reason == KVM_EXIT_IO) {
		vm->pvm_retried = false;
	} else {
		vm->pvm_native = false;
	}
	return 0;
}

/*
 * kvm-pvm: the guest hit an instruction the CPL-0 emulator cannot run (SSE
 * most often): it is not in native kernel mode (a new vCPU, or it loaded
 * page tables of its own). Re-enter the mode and retry the same
 * instruction, once per RIP: a second failure there is reported.
 * Returns 1 to run again, 0 to report the exit, -1 on a failed ioctl.
 */
int hl__pvm_retry_native(struct hl_vm *vm, struct hl_errbuf *err)
{
	/* Zeroed: KVM fills them, but the compiler cannot see the ioctl. */
	struct kvm_regs r;
	struct kvm_sregs sr;
	memset(&r, 0, sizeof r);
	memset(&sr, 0, sizeof sr);
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0)
		return hl__kvm_fail(err, "KVM_GET_REGS");
	if (vm->pvm_retried && r.rip == vm->pvm_retry_rip)
		return 0;
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		return hl__kvm_fail(err, "KVM_GET_SREGS");
	vm->pvm_retried = true;
	vm->pvm_retry_rip = r.rip;
	return hl__pvm_enter(vm, &r, &sr, err) < 0 ? -1 : 1;
}

const uint64_t *hl__pvm_resume_block(const struct hl_vm *vm)
{
	return (const uint64_t *)(const void *)(vm->pvm_mem + HL__PVM_CODE_GPA + HL__KVM_PAGE);
}
