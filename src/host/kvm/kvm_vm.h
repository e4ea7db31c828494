/* kvm_vm.h - what the files of the KVM backend share: the VM object, the ioctl wrapper, segment set-up. */
#ifndef HL_KVM_VM_H
#define HL_KVM_VM_H

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "../alloc.h"
#include "../backend.h"

/*
 * The backend in three files, each with one job:
 *   kvm.c        the VM: create (and which hypervisor it is), memory, boot
 *                registers, run and exits, registers for diagnostics,
 *                guest debugging, the ops table
 *   kvm_state.c  the vCPU state a snapshot holds: what exists (derived from
 *                KVM's own lists), save, restore, and the verifying read-back
 *   pvm.c        kvm-pvm's native kernel mode: its slot, the entry, re-entry
 *                after a lost mode (docs/platforms.md)
 */

#define HL__KVM_PAGE 4096u

struct hl_vm {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint64_t tsc_khz;
	bool has_xcrs;
	bool has_xsave;         /* the guest's CPUID has XSAVE (CR4.OSXSAVE may be set) */
	bool has_xsave_ioctl;   /* KVM_GET/SET_XSAVE: the whole register file, YMM included */
	bool has_tsc_offset;    /* the vCPU's TSC offset can be read and set (KVM_VCPU_TSC_CTRL) */
	bool exit_pending;      /* the last run's exit is completed by KVM at the next KVM_RUN */
	bool manual_protect;    /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 is on for the slot */
	bool has_sync_regs;     /* KVM_CAP_SYNC_REGS covers regs, sregs and events */
	bool sync_pending;      /* kvm_run holds registers KVM applies at the next KVM_RUN */
	bool msr_filter;        /* guest MSR writes are filtered (kvm_state.c) */
	bool filter_allows_pvm; /* ... but kvm-pvm's feature MSR may be written (pvm.c) */
	uint64_t state_id;      /* the saved state the vCPU has exactly (MSRs aside from the
	                         * guest-writable ones), 0 if none */
	int platform;           /* enum hl_platform_kind */
	uint64_t mem_size;      /* the one slot, for the dirty-log bitmap */
	uint64_t mem_gpa;
	/* kvm-pvm only (pvm.c). */
	uint8_t *pvm_mem;  /* HL__PVM_SLOT_PAGES pages at GPA 0 (pvm_entry.h) */
	bool pvm_native;   /* the vCPU is known to be in native kernel mode */
	bool pvm_entering; /* the run in progress started at the entry code */
	bool pvm_retried;  /* re-entered after an emulation failure, no exit since */
	uint64_t pvm_retry_rip;
	uint64_t pvm_features; /* MSR 0x4b564d10 as the host read it after the last entry */
};

/* struct kvm_msrs ends in a flexible array: storage for it with room for
 * n entries, used through msr_block(). */
#define MSR_STORAGE(name, n)                    \
	_Alignas(struct kvm_msrs) unsigned char \
		name[sizeof(struct kvm_msrs) + (n) * sizeof(struct kvm_msr_entry)]
#define msr_block(storage) ((struct kvm_msrs *)(void *)(storage))

/*
 * Every ioctl of this backend goes through here: one place for a test to
 * make the Nth hypervisor call fail (HL__INJECT_IOCTL, as EIO) and for
 * tracing. Integer arguments are passed as (void *)(uintptr_t)value, which
 * the kernel reads the same way.
 */
static inline int kvm_ioctl(int fd, unsigned long req, const void *arg)
{
	if (HL__INJECT_HIT(HL__INJECT_IOCTL)) {
		errno = EIO;
		return -1;
	}
	return ioctl(fd, req, arg);
}

/* kvm.c */
/* Writes "KVM: WHAT failed: strerror(errno)" into err; returns -1. */
int hl__kvm_fail(struct hl_errbuf *err, const char *what);
/* A flat 4 GiB segment at DPL 0: 64-bit code or read/write data. */
void hl__kvm_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code);
/* Reads one MSR: 1 read, 0 unknown to KVM, -1 the ioctl failed. */
int hl__kvm_get_msr(struct hl_vm *vm, uint32_t index, uint64_t *value);

/* kvm_state.c: the backend ops of the same names. */
int hl__kvm_complete_exit(struct hl_vm *vm, struct hl_errbuf *err);
/* Applies registers a restore left in kvm_run (no-op when none): before
 * anything reads or sets the vCPU's registers by ioctl. */
int hl__kvm_flush_sync(struct hl_vm *vm, struct hl_errbuf *err);
int hl__kvm_save_state(struct hl_vm *vm, struct hl_vcpu_state **out, struct hl_errbuf *err);
int hl__kvm_restore_state(struct hl_vm *vm, const struct hl_vcpu_state *st, struct hl_errbuf *err);
int hl__kvm_verify_state(struct hl_vm *vm, const struct hl_vcpu_state *st, char *diff, size_t n,
                         struct hl_errbuf *err);
void hl__kvm_free_state(struct hl_vcpu_state *st);
/* Refuses guest writes to every MSR but the runtime's own (and, while
 * kvm-pvm's entry code runs, its feature MSR). */
int hl__kvm_msr_filter(struct hl_vm *vm, bool allow_pvm_features, struct hl_errbuf *err);
/* At creation, while the system fd is open: what the state code needs
 * from KVM itself (its MSR list, the TSC offset attribute). */
int hl__kvm_state_init(struct hl_vm *vm, bool msr_filter, struct hl_errbuf *err);

/* pvm.c */
int hl__pvm_setup(struct hl_vm *vm, struct hl_errbuf *err);
/* Makes the next run start at the entry code, which enters native kernel
 * mode and resumes `to` with the segment state `sr` (CS/SS replaced). */
int hl__pvm_enter(struct hl_vm *vm, const struct kvm_regs *to, struct kvm_sregs *sr,
                  struct hl_errbuf *err);
/* After every exit of a run (any exit reason). */
int hl__pvm_after_exit(struct hl_vm *vm, uint32_t reason, struct hl_errbuf *err);
/* After an emulation failure: 1 run again (re-entered), 0 report it, -1 error. */
int hl__pvm_retry_native(struct hl_vm *vm, struct hl_errbuf *err);
/* Where the entry code left its resume block (verifying restores). */
const uint64_t *hl__pvm_resume_block(const struct hl_vm *vm);

#endif /* HL_KVM_VM_H */
