/*
 * kvm.c - the KVM backend: one VM, one vCPU, one memory slot (two on kvm-pvm).
 *
 * Three kinds of /dev/kvm are told apart at creation (docs/platforms.md):
 * KVM on VMX or SVM, where the guest runs as the core set it up, and
 * kvm-pvm, a software hypervisor that runs guest code at virtual CPL 0 in
 * an instruction emulator without SSE unless the vCPU is in "native kernel
 * mode". On kvm-pvm this backend enters that mode for the guest, through
 * the code of pvm_entry.S in a slot of its own, at boot and whenever the
 * mode may have been lost; everything kvm-pvm specific stays in this file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hyperlight/hyperlight.h"
#include "../alloc.h"
#include "../backend.h"
#include "pvm_entry.h"

#define PAGE 4096u

/* pvm_entry.S: the entry code, copied into the guest (never run by the host). */
extern const uint8_t hl__pvm_entry_begin[], hl__pvm_entry_end[];

struct hl_vm {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint64_t tsc_khz;
	bool has_xcrs;
	bool has_xsave;
	bool has_xsave_ioctl; /* KVM_GET/SET_XSAVE: the whole register file, YMM included */
	int platform;         /* enum hl_platform_kind */
	uint64_t mem_size;   /* the one slot, for the dirty-log bitmap */
	uint64_t mem_gpa;
	/* kvm-pvm only. */
	uint8_t *pvm_mem;      /* HL__PVM_SLOT_PAGES pages at GPA 0 (pvm_entry.h) */
	bool pvm_native;       /* the vCPU is known to be in native kernel mode */
	bool pvm_entering;     /* the run in progress started at the entry code */
	bool pvm_retried;      /* re-entered after an emulation failure, no exit since */
	uint64_t pvm_retry_rip;
	/* The MSRs of saved_msrs that this KVM can read and write, probed at
	 * the first save (a KVM_GET_MSRS stops at the first unknown index). */
	uint32_t msrs[32];
	uint32_t nmsrs;
	bool msrs_probed;
};

/*
 * MSRs a CPL-0 guest can write and that a restore must put back. FS_BASE,
 * GS_BASE and EFER travel in the sregs. KVM's paravirtual MSRs are here
 * because the guest sees KVM's CPUID leaves: a guest that enabled kvmclock
 * or steal time would otherwise have KVM keep writing into the memory of
 * the next request. The TSC is deliberately not restored (see
 * docs/performance.md): putting it back would stop the guest's clock.
 */
static const uint32_t saved_msrs[] = {
	0xc0000081, /* STAR */
	0xc0000082, /* LSTAR */
	0xc0000083, /* CSTAR */
	0xc0000084, /* SFMASK */
	0xc0000102, /* KERNEL_GS_BASE */
	0xc0000103, /* TSC_AUX (RDTSCP/RDPID) */
	0x00000174, /* SYSENTER_CS */
	0x00000175, /* SYSENTER_ESP */
	0x00000176, /* SYSENTER_EIP */
	0x00000277, /* PAT */
	0x000001d9, /* DEBUGCTL */
	0x000001a0, /* MISC_ENABLE */
	0x00000048, /* SPEC_CTRL */
	0x00000da0, /* XSS */
	0x000002ff, /* MTRR default type */
	0x00000011, /* KVM wall clock (old) */
	0x00000012, /* KVM system time (old) */
	0x4b564d00, /* KVM wall clock */
	0x4b564d01, /* KVM system time */
	0x4b564d02, /* KVM async page fault */
	0x4b564d03, /* KVM steal time */
	0x4b564d04, /* KVM PV EOI */
	0x4b564d05, /* KVM poll control */
	0x4b564d06, /* KVM async page fault interrupt */
};
#define NMSRS (sizeof saved_msrs / sizeof saved_msrs[0])
_Static_assert(NMSRS <= 32, "struct hl_vm holds 32 MSR indices");

/* struct kvm_msrs ends in a flexible array: storage for it with room for
 * n entries, used through msr_block(). */
#define MSR_STORAGE(name, n) \
	_Alignas(struct kvm_msrs) unsigned char \
		name[sizeof(struct kvm_msrs) + (n) * sizeof(struct kvm_msr_entry)]
#define msr_block(storage) ((struct kvm_msrs *)(void *)(storage))

struct hl_vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_vcpu_events events;
	MSR_STORAGE(msrs, NMSRS);
	struct kvm_xsave xsave; /* last: newer headers end it in a flexible array */
};

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

static int fail(struct hl_errbuf *err, const char *what)
{
	int e = errno;
	snprintf(err->msg, sizeof err->msg, "KVM: %s failed: %s", what, strerror(e));
	return -1;
}

static void kvm_destroy(struct hl_vm *vm)
{
	if (!vm)
		return;
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->pvm_mem)
		munmap(vm->pvm_mem, HL__PVM_SLOT_PAGES * PAGE);
	hl__free(vm);
}

/* Gives the guest the CPUID that KVM supports, so that it sees SSE, AVX,
 * XSAVE and RDRAND as the host has them (the default is an empty table). */
static int set_cpuid(struct hl_vm *vm, struct hl_errbuf *err)
{
	int n = 128;
	for (;;) {
		struct kvm_cpuid2 *c = hl__calloc(1, sizeof *c + (size_t)n * sizeof c->entries[0]);
		if (!c) {
			snprintf(err->msg, sizeof err->msg, "KVM: out of memory for CPUID");
			return -1;
		}
		c->nent = (uint32_t)n;
		if (kvm_ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
			hl__free(c);
			if (errno == E2BIG && n < 4096) {
				n *= 2;
				continue;
			}
			return fail(err, "KVM_GET_SUPPORTED_CPUID");
		}
		for (uint32_t i = 0; i < c->nent; i++) {
			struct kvm_cpuid_entry2 *e = &c->entries[i];
			if (e->function == 1) {
				e->ecx &= ~(1u << 24); /* no TSC deadline timer: there is no LAPIC */
				if (e->ecx & (1u << 26))
					vm->has_xsave = true;
			}
		}
		int r = kvm_ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c);
		hl__free(c);
		return r < 0 ? fail(err, "KVM_SET_CPUID2") : 0;
	}
}

/*
 * Which hypervisor this is. kvm-pvm answers a read of its identification
 * MSR (no capability or CPUID leaf tells it apart); other KVMs do not know
 * that MSR and return no entry. VMX or SVM is then whichever extension the
 * host CPU has. A failed ioctl is an error, not a guess.
 */
static int detect_platform(struct hl_vm *vm, struct hl_errbuf *err)
{
	MSR_STORAGE(one, 1);
	struct kvm_msrs *m = msr_block(one);
	memset(one, 0, sizeof one);
	m->nmsrs = 1;
	m->entries[0].index = MSR_PVM_ID;
	int n = kvm_ioctl(vm->vcpu_fd, KVM_GET_MSRS, m);
	if (n < 0)
		return fail(err, "KVM_GET_MSRS (identifying the hypervisor)");
	if (n == 1 && m->entries[0].data == PVM_ID_VALUE) {
		vm->platform = HL_PLATFORM_KVM_PVM;
		return 0;
	}
	unsigned a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (c & (1u << 5)) {
		vm->platform = HL_PLATFORM_KVM_VMX;
		return 0;
	}
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u), "c"(0));
	if (a >= 0x80000001u) {
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u), "c"(0));
		if (c & (1u << 2)) {
			vm->platform = HL_PLATFORM_KVM_SVM;
			return 0;
		}
	}
	vm->platform = HL_PLATFORM_KVM_OTHER;
	return 0;
}

/* kvm-pvm: the slot at GPA 0 with the entry code (pvm_entry.h). */
static int pvm_setup(struct hl_vm *vm, struct hl_errbuf *err)
{
	size_t len = HL__PVM_SLOT_PAGES * PAGE;
	void *p = hl__mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fail(err, "mmap of the kvm-pvm entry pages");
	vm->pvm_mem = p;
	struct kvm_userspace_memory_region r = {
		.slot = 1,
		.guest_phys_addr = 0,
		.memory_size = len,
		.userspace_addr = (uint64_t)(uintptr_t)p,
	};
	if (kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return fail(err, "KVM_SET_USER_MEMORY_REGION (kvm-pvm entry pages)");
	return 0;
}

static int kvm_create(struct hl_vm **out, struct hl_errbuf *err)
{
	struct hl_vm *vm = hl__calloc(1, sizeof *vm);
	if (!vm) {
		snprintf(err->msg, sizeof err->msg, "KVM: out of memory");
		return -1;
	}
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
	if (HL__INJECT_HIT(HL__INJECT_SYSCALL))
		errno = EMFILE; /* a test's injected failure */
	else
		vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		fail(err, "open /dev/kvm");
		goto out;
	}
	int ver = kvm_ioctl(vm->kvm_fd, KVM_GET_API_VERSION, NULL);
	if (ver != KVM_API_VERSION) {
		snprintf(err->msg, sizeof err->msg, "KVM: API version %d, expected %d", ver,
		         KVM_API_VERSION);
		goto out;
	}
	vm->vm_fd = kvm_ioctl(vm->kvm_fd, KVM_CREATE_VM, NULL);
	if (vm->vm_fd < 0) {
		fail(err, "KVM_CREATE_VM");
		goto out;
	}
	vm->vcpu_fd = kvm_ioctl(vm->vm_fd, KVM_CREATE_VCPU, NULL);
	if (vm->vcpu_fd < 0) {
		fail(err, "KVM_CREATE_VCPU");
		goto out;
	}
	int sz = kvm_ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (sz < (int)sizeof(struct kvm_run)) {
		fail(err, "KVM_GET_VCPU_MMAP_SIZE");
		goto out;
	}
	vm->run_size = (size_t)sz;
	vm->run = hl__mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		fail(err, "mmap of kvm_run");
		goto out;
	}
	if (set_cpuid(vm, err) < 0 || detect_platform(vm, err) < 0)
		goto out;
	if (vm->platform == HL_PLATFORM_KVM_PVM && pvm_setup(vm, err) < 0)
		goto out;
	vm->has_xcrs = kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_XCRS) > 0;
	/* kvm-pvm runs AVX natively but reports no XSAVE in CPUID: the XSAVE
	 * ioctls are the only way to put YMM back, so use them wherever KVM
	 * has them, not only where CPUID says XSAVE. */
	vm->has_xsave_ioctl =
		kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_XSAVE) > 0;
	int khz = kvm_ioctl(vm->vcpu_fd, KVM_GET_TSC_KHZ, NULL);
	vm->tsc_khz = khz > 0 ? (uint64_t)khz : 0;
	/* The VM and vCPU keep KVM alive: one descriptor less per sandbox
	 * matters when a process holds a thousand of them. */
	close(vm->kvm_fd);
	vm->kvm_fd = -1;
	*out = vm;
	return 0;
out:
	kvm_destroy(vm);
	return -1;
}

static int kvm_map_memory(struct hl_vm *vm, uint64_t gpa, void *host, uint64_t size,
                          struct hl_errbuf *err)
{
	struct kvm_userspace_memory_region r = {
		.slot = 0,
		/* Dirty logging from the start: a restore drops only the pages
		 * the guest wrote, and the slot never changes afterwards. */
		.flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	if (vm->pvm_mem && gpa < HL__PVM_SLOT_PAGES * PAGE) {
		snprintf(err->msg, sizeof err->msg,
		         "KVM: on kvm-pvm guest memory must start at or above 0x%x (the entry pages live below); this guest starts at 0x%llx",
		         HL__PVM_SLOT_PAGES * PAGE, (unsigned long long)gpa);
		return -1;
	}
	if (kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return fail(err, "KVM_SET_USER_MEMORY_REGION");
	vm->mem_size = size;
	vm->mem_gpa = gpa;
	return 0;
}

static int kvm_get_dirty_log(struct hl_vm *vm, uint64_t *bitmap, struct hl_errbuf *err)
{
	struct kvm_dirty_log d;
	memset(&d, 0, sizeof d);
	d.slot = 0;
	d.dirty_bitmap = bitmap;
	if (kvm_ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &d) < 0)
		return fail(err, "KVM_GET_DIRTY_LOG");
	return 0;
}

static volatile uint8_t *kvm_immediate_exit(struct hl_vm *vm)
{
	return &vm->run->immediate_exit;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof *s);
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->s = 1;
	s->g = 1;
	s->l = code ? 1 : 0;
	s->db = code ? 0 : 1;
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

static int pvm_enter(struct hl_vm *vm, const struct kvm_regs *to, struct kvm_sregs *sr,
                     struct hl_errbuf *err)
{
	if (hl__test_skip_native_entry) {
		if (hl__test_skip_native_entry == 1)
			hl__test_skip_native_entry = 0;
		seg(&sr->cs, 0x08, 0xb, true);
		seg(&sr->ss, 0x10, 0x3, false);
		if (kvm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, sr) < 0)
			return fail(err, "KVM_SET_SREGS");
		if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, to) < 0)
			return fail(err, "KVM_SET_REGS");
		vm->pvm_entering = vm->pvm_native = false;
		return 0;
	}
	uint8_t *code = vm->pvm_mem + HL__PVM_CODE_GPA;
	uint8_t *data = code + PAGE;
	memset(vm->pvm_mem, 0, HL__PVM_SLOT_PAGES * PAGE);
	memcpy(code, hl__pvm_entry_begin, (size_t)(hl__pvm_entry_end - hl__pvm_entry_begin));
	const uint64_t rb[] = {
		[HL__PVM_RB_RIP / 8] = to->rip, [HL__PVM_RB_RSP / 8] = to->rsp,
		[HL__PVM_RB_RFLAGS / 8] = to->rflags,
		[HL__PVM_RB_RAX / 8] = to->rax, [HL__PVM_RB_RBX / 8] = to->rbx,
		[HL__PVM_RB_RCX / 8] = to->rcx, [HL__PVM_RB_RDX / 8] = to->rdx,
		[HL__PVM_RB_RSI / 8] = to->rsi, [HL__PVM_RB_RDI / 8] = to->rdi,
		[HL__PVM_RB_RBP / 8] = to->rbp,
		[HL__PVM_RB_R8 / 8] = to->r8, [HL__PVM_RB_R9 / 8] = to->r9,
		[HL__PVM_RB_R10 / 8] = to->r10, [HL__PVM_RB_R11 / 8] = to->r11,
		[HL__PVM_RB_R12 / 8] = to->r12, [HL__PVM_RB_R13 / 8] = to->r13,
		[HL__PVM_RB_R14 / 8] = to->r14, [HL__PVM_RB_R15 / 8] = to->r15,
	};
	memcpy(data, rb, sizeof rb);
	seg(&sr->cs, 0x08, 0xb, true);
	seg(&sr->ss, 0x10, 0x3, false);
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, sr) < 0)
		return fail(err, "KVM_SET_SREGS (kvm-pvm entry)");
	struct kvm_regs r;
	memset(&r, 0, sizeof r);
	r.rip = HL__PVM_CODE_VA;
	r.rflags = 0x2;
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return fail(err, "KVM_SET_REGS (kvm-pvm entry)");
	vm->pvm_entering = true;
	vm->pvm_native = false;
	return 0;
}

static int kvm_set_boot_regs(struct hl_vm *vm, const struct hl_boot_regs *br,
                             struct hl_errbuf *err)
{
	struct kvm_sregs sr = {0};
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		return fail(err, "KVM_GET_SREGS");
	seg(&sr.cs, 0x08, 0xb, true); /* execute/read, accessed */
	seg(&sr.ds, 0x10, 0x3, false); /* read/write, accessed */
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	/* No GDT or IDT yet: the guest runtime builds its own first thing. */
	sr.gdt.base = 0;
	sr.gdt.limit = 0;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	memset(&sr.ldt, 0, sizeof sr.ldt);
	sr.ldt.unusable = 1;
	memset(&sr.tr, 0, sizeof sr.tr);
	sr.tr.type = 0xb; /* busy 64-bit TSS, required by VMX entry checks */
	sr.tr.present = 1;
	sr.tr.limit = 0x67;
	sr.cr0 = 0x80050033;  /* PG | AM | WP | NE | ET | MP | PE */
	sr.cr0 &= ~(1ull << 18); /* no AM */
	sr.cr3 = br->cr3;
	sr.cr4 = (1u << 5) | (1u << 9) | (1u << 10); /* PAE | OSFXSR | OSXMMEXCPT */
	if (vm->has_xsave)
		sr.cr4 |= 1u << 18; /* OSXSAVE */
	sr.efer = (1u << 0) | (1u << 8) | (1u << 10) | (1u << 11); /* SCE | LME | LMA | NXE */
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sr) < 0)
		return fail(err, "KVM_SET_SREGS (long mode)");

	if (vm->has_xsave && vm->has_xcrs) {
		/* Enable x87, SSE and AVX state where the host supports them. */
		struct kvm_xcrs x;
		if (kvm_ioctl(vm->vcpu_fd, KVM_GET_XCRS, &x) < 0)
			return fail(err, "KVM_GET_XCRS");
		uint64_t want = 0x7;
		unsigned a, b, c, d;
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xd), "c"(0));
		want &= ((uint64_t)d << 32) | a;
		memset(&x, 0, sizeof x);
		x.nr_xcrs = 1;
		x.xcrs[0].xcr = 0;
		x.xcrs[0].value = want | 1;
		if (kvm_ioctl(vm->vcpu_fd, KVM_SET_XCRS, &x) < 0)
			return fail(err, "KVM_SET_XCRS");
	}

	struct kvm_regs r;
	memset(&r, 0, sizeof r);
	r.rip = br->rip;
	r.rsp = br->rsp;
	r.rdi = br->rdi;
	r.rflags = 0x2;
	if (vm->platform == HL_PLATFORM_KVM_PVM)
		return pvm_enter(vm, &r, &sr, err);
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return fail(err, "KVM_SET_REGS");
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
static void pvm_after_exit(struct hl_vm *vm, uint32_t reason)
{
	if (vm->pvm_entering) {
		memset(vm->pvm_mem + HL__PVM_CODE_GPA + PAGE, 0, PAGE);
		vm->pvm_entering = false;
		vm->pvm_native = true;
	}
	if (reason == KVM_EXIT_IO) {
		vm->pvm_retried = false;
	} else {
		vm->pvm_native = false;
	}
}

/*
 * kvm-pvm: the guest hit an instruction the CPL-0 emulator cannot run (SSE
 * most often): it is not in native kernel mode (a new vCPU, or it loaded
 * page tables of its own). Re-enter the mode and retry the same
 * instruction, once per RIP: a second failure there is reported.
 * Returns 1 to run again, 0 to report the exit, -1 on a failed ioctl.
 */
static int pvm_retry_native(struct hl_vm *vm, struct hl_errbuf *err)
{
	struct kvm_regs r;
	struct kvm_sregs sr;
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0)
		return fail(err, "KVM_GET_REGS");
	if (vm->pvm_retried && r.rip == vm->pvm_retry_rip)
		return 0;
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		return fail(err, "KVM_GET_SREGS");
	vm->pvm_retried = true;
	vm->pvm_retry_rip = r.rip;
	return pvm_enter(vm, &r, &sr, err) < 0 ? -1 : 1;
}

static int kvm_run(struct hl_vm *vm, struct hl_exit *x, struct hl_errbuf *err)
{
	struct kvm_run *run = vm->run;
again:
	while (kvm_ioctl(vm->vcpu_fd, KVM_RUN, NULL) < 0) {
		if (errno == EINTR) {
			/* A signal or immediate_exit: the core decides whether the
			 * call was cancelled or the run simply resumes. */
			memset(x, 0, sizeof *x);
			x->kind = HL_EXIT_INTR;
			return 0;
		}
		if (errno == EAGAIN)
			continue;
		return fail(err, "KVM_RUN");
	}
	if (vm->pvm_mem) {
		pvm_after_exit(vm, run->exit_reason);
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
			int t = pvm_retry_native(vm, err);
			if (t < 0)
				return -1;
			if (t > 0)
				goto again;
		}
	}
	memset(x, 0, sizeof *x);
	x->raw = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		x->port = run->io.port;
		x->size = run->io.size;
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			const uint8_t *d = (const uint8_t *)run + run->io.data_offset;
			uint32_t v = 0;
			if (run->io.size <= 4 && run->io.count == 1 &&
			    run->io.data_offset <= vm->run_size - 4)
				memcpy(&v, d, run->io.size);
			x->kind = HL_EXIT_OUT;
			x->value = v;
			/* A string OUT (rep outs) is not part of the protocol. */
			x->detail = run->io.count;
		} else {
			x->kind = HL_EXIT_IN;
		}
		return 0;
	}
	case KVM_EXIT_MMIO:
		x->kind = HL_EXIT_MMIO;
		x->gpa = run->mmio.phys_addr;
		x->write = run->mmio.is_write;
		x->size = (uint8_t)run->mmio.len;
		return 0;
	case KVM_EXIT_SHUTDOWN:
		x->kind = HL_EXIT_SHUTDOWN;
		return 0;
	case KVM_EXIT_HLT:
		x->kind = HL_EXIT_HLT;
		return 0;
	case KVM_EXIT_FAIL_ENTRY:
		x->kind = HL_EXIT_FAIL;
		x->detail = run->fail_entry.hardware_entry_failure_reason;
		return 0;
	case KVM_EXIT_INTR:
		x->kind = HL_EXIT_INTR;
		return 0;
	case KVM_EXIT_DEBUG:
		x->kind = HL_EXIT_DEBUG;
		x->value = run->debug.arch.exception;
		x->gpa = run->debug.arch.pc;
		x->detail = run->debug.arch.dr6;
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		x->kind = HL_EXIT_FAIL;
		x->detail = run->internal.suberror;
		return 0;
	default:
		x->kind = HL_EXIT_FAIL;
		return 0;
	}
}

static int kvm_get_regs(struct hl_vm *vm, struct hl_regs *o, struct hl_errbuf *err)
{
	struct kvm_regs r = {0};
	struct kvm_sregs s;
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0)
		return fail(err, "KVM_GET_REGS");
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return fail(err, "KVM_GET_SREGS");
	*o = (struct hl_regs){
		.rax = r.rax, .rbx = r.rbx, .rcx = r.rcx, .rdx = r.rdx,
		.rsi = r.rsi, .rdi = r.rdi, .rbp = r.rbp, .rsp = r.rsp,
		.r8 = r.r8, .r9 = r.r9, .r10 = r.r10, .r11 = r.r11,
		.r12 = r.r12, .r13 = r.r13, .r14 = r.r14, .r15 = r.r15,
		.rip = r.rip, .rflags = r.rflags,
		.cr0 = s.cr0, .cr2 = s.cr2, .cr3 = s.cr3, .cr4 = s.cr4, .efer = s.efer,
		.fs_base = s.fs.base, .gs_base = s.gs.base,
		.cs = s.cs.selector, .ss = s.ss.selector, .ds = s.ds.selector,
		.es = s.es.selector, .fs = s.fs.selector, .gs = s.gs.selector,
	};
	/* In native kernel mode kvm-pvm shows the user selectors it runs the
	 * guest with; the guest itself is at CPL 0 with its own. */
	if (vm->platform == HL_PLATFORM_KVM_PVM && (s.cs.selector & 3) == 3) {
		o->cs = 0x08;
		o->ss = 0x10;
	}
	return 0;
}

/* Completes the exit in progress (the OUT the guest is parked on, an MMIO
 * access) without entering the guest, as the KVM API documents for
 * immediate_exit. Without this, a later KVM_RUN would finish the old
 * instruction on top of the registers a restore just set. */
static int complete_pending(struct hl_vm *vm, struct hl_errbuf *err)
{
	vm->run->immediate_exit = 1;
	int r = kvm_ioctl(vm->vcpu_fd, KVM_RUN, NULL);
	int e = errno;
	vm->run->immediate_exit = 0;
	if (r < 0 && e != EINTR) {
		errno = e;
		return fail(err, "KVM_RUN (completing the last exit)");
	}
	return 0;
}

static int kvm_save_state(struct hl_vm *vm, struct hl_vcpu_state **out, struct hl_errbuf *err)
{
	struct hl_vcpu_state *st = hl__calloc(1, sizeof *st);
	if (!st) {
		snprintf(err->msg, sizeof err->msg, "KVM: out of memory for vCPU state");
		return -1;
	}
	if (complete_pending(vm, err) < 0)
		goto bad;
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_REGS, &st->regs) < 0) {
		fail(err, "KVM_GET_REGS");
		goto bad;
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &st->sregs) < 0) {
		fail(err, "KVM_GET_SREGS");
		goto bad;
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_FPU, &st->fpu) < 0) {
		fail(err, "KVM_GET_FPU");
		goto bad;
	}
	if (vm->has_xsave_ioctl && kvm_ioctl(vm->vcpu_fd, KVM_GET_XSAVE, &st->xsave) < 0) {
		fail(err, "KVM_GET_XSAVE");
		goto bad;
	}
	if (vm->has_xcrs && kvm_ioctl(vm->vcpu_fd, KVM_GET_XCRS, &st->xcrs) < 0) {
		fail(err, "KVM_GET_XCRS");
		goto bad;
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_DEBUGREGS, &st->dregs) < 0) {
		fail(err, "KVM_GET_DEBUGREGS");
		goto bad;
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_VCPU_EVENTS, &st->events) < 0) {
		fail(err, "KVM_GET_VCPU_EVENTS");
		goto bad;
	}
	if (!vm->msrs_probed) {
		/* One at a time: KVM_GET_MSRS stops at the first index it does
		 * not know, and which ones it knows depends on the CPU. */
		for (size_t i = 0; i < NMSRS; i++) {
			MSR_STORAGE(one, 1);
			struct kvm_msrs *m = msr_block(one);
			memset(one, 0, sizeof one);
			m->nmsrs = 1;
			m->entries[0].index = saved_msrs[i];
			/* 0 means "not this MSR"; -1 is a failure of the call,
			 * which must not silently drop an MSR from every
			 * snapshot (a sandbox made from one on a fresh vCPU
			 * would start with that MSR at its reset value). */
			int g = kvm_ioctl(vm->vcpu_fd, KVM_GET_MSRS, m);
			int s = g == 1 ? kvm_ioctl(vm->vcpu_fd, KVM_SET_MSRS, m) : 0;
			if (g < 0 || s < 0) {
				fail(err, g < 0 ? "KVM_GET_MSRS (probing)" : "KVM_SET_MSRS (probing)");
				vm->nmsrs = 0;
				goto bad;
			}
			if (s == 1)
				vm->msrs[vm->nmsrs++] = saved_msrs[i];
		}
		vm->msrs_probed = true;
	}
	struct kvm_msrs *m = msr_block(st->msrs);
	m->nmsrs = vm->nmsrs;
	for (size_t i = 0; i < vm->nmsrs; i++)
		m->entries[i].index = vm->msrs[i];
	int n = kvm_ioctl(vm->vcpu_fd, KVM_GET_MSRS, m);
	if (n < 0 || (uint32_t)n != vm->nmsrs) {
		fail(err, "KVM_GET_MSRS");
		goto bad;
	}
	*out = st;
	return 0;
bad:
	hl__free(st);
	return -1;
}

static int kvm_restore_state(struct hl_vm *vm, const struct hl_vcpu_state *st,
                             struct hl_errbuf *err)
{
	if (complete_pending(vm, err) < 0)
		return -1;
	/* kvm-pvm: a vCPU not known to be native (new, or its last run ended
	 * in anything but port I/O) starts at the entry code, which re-enters
	 * native kernel mode and resumes the state restored here. */
	bool enter = vm->platform == HL_PLATFORM_KVM_PVM && !vm->pvm_native;
	struct kvm_sregs sr = st->sregs;
	/* sregs first: CR4/EFER decide what the XSAVE and register state mean
	 * (on entry pvm_enter sets them once more, with kernel CS and SS). */
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sr) < 0)
		return fail(err, "KVM_SET_SREGS");
	if (vm->has_xcrs && kvm_ioctl(vm->vcpu_fd, KVM_SET_XCRS, &st->xcrs) < 0)
		return fail(err, "KVM_SET_XCRS");
	if (vm->has_xsave_ioctl) {
		if (kvm_ioctl(vm->vcpu_fd, KVM_SET_XSAVE, &st->xsave) < 0)
			return fail(err, "KVM_SET_XSAVE");
	} else if (kvm_ioctl(vm->vcpu_fd, KVM_SET_FPU, &st->fpu) < 0) {
		return fail(err, "KVM_SET_FPU");
	}
	const struct kvm_msrs *m = msr_block(st->msrs);
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_MSRS, m) != (int)m->nmsrs)
		return fail(err, "KVM_SET_MSRS");
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_DEBUGREGS, &st->dregs) < 0)
		return fail(err, "KVM_SET_DEBUGREGS");
	struct kvm_vcpu_events ev = st->events;
	ev.flags = 0; /* leave the NMI/SIPI/SMM bookkeeping fields alone */
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return fail(err, "KVM_SET_VCPU_EVENTS");
	if (enter)
		return pvm_enter(vm, &st->regs, &sr, err);
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &st->regs) < 0)
		return fail(err, "KVM_SET_REGS");
	return 0;
}

static int kvm_set_regs(struct hl_vm *vm, const struct hl_regs *i, struct hl_errbuf *err)
{
	struct kvm_regs r = {
		.rax = i->rax, .rbx = i->rbx, .rcx = i->rcx, .rdx = i->rdx,
		.rsi = i->rsi, .rdi = i->rdi, .rbp = i->rbp, .rsp = i->rsp,
		.r8 = i->r8, .r9 = i->r9, .r10 = i->r10, .r11 = i->r11,
		.r12 = i->r12, .r13 = i->r13, .r14 = i->r14, .r15 = i->r15,
		.rip = i->rip, .rflags = i->rflags,
	};
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return fail(err, "KVM_SET_REGS");
	return 0;
}

static int kvm_set_debug(struct hl_vm *vm, const struct hl_debug_cfg *d, struct hl_errbuf *err)
{
	if (vm->platform == HL_PLATFORM_KVM_PVM && d->enable && (d->single_step || d->hw_bp)) {
		/* Measured: kvm-pvm delivers single-step and debug-register
		 * events to the guest's own #DB handler, never to the host. */
		snprintf(err->msg, sizeof err->msg,
		         "KVM: kvm-pvm cannot report %s to the host (the guest would take the #DB itself); software breakpoints work",
		         d->single_step ? "single steps" : "hardware breakpoints or watchpoints");
		return -1;
	}
	struct kvm_guest_debug g;
	memset(&g, 0, sizeof g);
	if (d->enable) {
		g.control = KVM_GUESTDBG_ENABLE;
		if (d->sw_bp)
			g.control |= KVM_GUESTDBG_USE_SW_BP;
		if (d->single_step)
			g.control |= KVM_GUESTDBG_SINGLESTEP;
		if (d->hw_bp) {
			g.control |= KVM_GUESTDBG_USE_HW_BP;
			for (int k = 0; k < 4; k++)
				g.arch.debugreg[k] = d->dr[k];
			g.arch.debugreg[7] = d->dr7;
		}
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_GUEST_DEBUG, &g) < 0)
		return fail(err, "KVM_SET_GUEST_DEBUG");
	return 0;
}

static int kvm_get_fpu(struct hl_vm *vm, uint8_t *fx, struct hl_errbuf *err)
{
	struct kvm_fpu f = {0};
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_FPU, &f) < 0)
		return fail(err, "KVM_GET_FPU");
	/* struct kvm_fpu field by field into the FXSAVE image. */
	memset(fx, 0, 512);
	memcpy(fx + 0, &f.fcw, 2);
	memcpy(fx + 2, &f.fsw, 2);
	fx[4] = f.ftwx;
	memcpy(fx + 6, &f.last_opcode, 2);
	memcpy(fx + 8, &f.last_ip, 8);
	memcpy(fx + 16, &f.last_dp, 8);
	memcpy(fx + 24, &f.mxcsr, 4);
	uint32_t mask = 0xffff;
	memcpy(fx + 28, &mask, 4);
	memcpy(fx + 32, f.fpr, sizeof f.fpr);  /* 8 x 16 */
	memcpy(fx + 160, f.xmm, sizeof f.xmm); /* 16 x 16 */
	return 0;
}

static void kvm_info(struct hl_vm *vm, struct hl_backend_info *info)
{
	memset(info, 0, sizeof *info);
	info->platform = vm->platform;
	switch (vm->platform) {
	case HL_PLATFORM_KVM_VMX:
		info->name = "kvm (VMX)";
		info->boot_platform = HL_BOOT_PLATFORM_KVM_VMX;
		break;
	case HL_PLATFORM_KVM_SVM:
		info->name = "kvm (SVM)";
		info->boot_platform = HL_BOOT_PLATFORM_KVM_SVM;
		break;
	case HL_PLATFORM_KVM_PVM:
		info->name = "kvm-pvm";
		info->boot_platform = HL_BOOT_PLATFORM_KVM_PVM;
		info->boot_flags = HL_BOOT_F_NO_IST | HL_BOOT_F_KEEP_SEGMENTS;
		info->user_pages = true;
		info->code_va = HL__PVM_CODE_VA;
		info->data_va = HL__PVM_DATA_VA;
		break;
	default:
		info->name = "kvm";
		break;
	}
}

static const char *internal_suberror(uint32_t sub)
{
	switch (sub) {
	case KVM_INTERNAL_ERROR_EMULATION: return "the instruction emulator could not run an instruction";
	case KVM_INTERNAL_ERROR_SIMUL_EX: return "an exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV: return "an exit while delivering an event";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: return "an exit reason KVM did not expect";
	default: return "an internal error";
	}
}

static void kvm_explain_fail(struct hl_vm *vm, const struct hl_exit *x, char *buf, size_t n)
{
	const struct kvm_run *run = vm->run;
	int k;
	if (x->raw == KVM_EXIT_INTERNAL_ERROR) {
		uint32_t nd = run->internal.ndata < 16 ? run->internal.ndata : 16;
		k = snprintf(buf, n, "KVM internal error, suberror %u: %s", run->internal.suberror,
		             internal_suberror(run->internal.suberror));
		for (uint32_t i = 0; i < nd && k > 0 && (size_t)k < n; i++)
			k += snprintf(buf + k, n - (size_t)k, "%s0x%llx", i ? " " : "; data ",
			              (unsigned long long)run->internal.data[i]);
		if (vm->platform == HL_PLATFORM_KVM_PVM &&
		    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && k > 0 && (size_t)k < n)
			snprintf(buf + k, n - (size_t)k,
			         "; on kvm-pvm this means guest code ran at emulated CPL 0 (no SSE there) and could not be brought back to native kernel mode: did the guest load page tables of its own? (`hyperlight doctor` checks the platform)");
	} else if (x->raw == KVM_EXIT_FAIL_ENTRY) {
		snprintf(buf, n, "KVM could not enter the guest: hardware entry failure reason 0x%llx",
		         (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	} else {
		snprintf(buf, n, "KVM exit reason %llu, which this backend does not handle",
		         (unsigned long long)x->raw);
	}
}

static void kvm_free_state(struct hl_vcpu_state *st)
{
	hl__free(st);
}

static uint64_t kvm_tsc_khz(struct hl_vm *vm)
{
	return vm->tsc_khz;
}

const struct hl_backend_ops hl__backend = {
	.name = "kvm",
	.info = kvm_info,
	.explain_fail = kvm_explain_fail,
	.create = kvm_create,
	.map_memory = kvm_map_memory,
	.set_boot_regs = kvm_set_boot_regs,
	.run = kvm_run,
	.get_regs = kvm_get_regs,
	.get_dirty_log = kvm_get_dirty_log,
	.immediate_exit = kvm_immediate_exit,
	.save_state = kvm_save_state,
	.restore_state = kvm_restore_state,
	.free_state = kvm_free_state,
	.set_regs = kvm_set_regs,
	.set_debug = kvm_set_debug,
	.get_fpu = kvm_get_fpu,
	.tsc_khz = kvm_tsc_khz,
	.destroy = kvm_destroy,
};
