/*
 * kvm.c - the KVM backend: one VM, one vCPU, one memory slot (two on kvm-pvm).
 *
 * Three kinds of /dev/kvm are told apart at creation (docs/platforms.md):
 * KVM on VMX or SVM, where the guest runs as the core set it up, and
 * kvm-pvm, a software hypervisor that runs guest code at virtual CPL 0 in
 * an instruction emulator without SSE unless the vCPU is in "native kernel
 * mode". On kvm-pvm this backend enters that mode for the guest (pvm.c),
 * at boot and whenever the mode may have been lost; kvm_vm.h says which
 * file of the backend does what.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hyperlight/hyperlight.h"
#include "kvm_vm.h"
#include "pvm_entry.h"

int hl__kvm_fail(struct hl_errbuf *err, const char *what)
{
	int e = errno;
	snprintf(err->msg, sizeof err->msg, "KVM: %s failed: %s", what, strerror(e));
	return -1;
}

int hl__kvm_get_msr(struct hl_vm *vm, uint32_t index, uint64_t *value)
{
	MSR_STORAGE(one, 1);
	struct kvm_msrs *m = msr_block(one);
	memset(one, 0, sizeof one);
	m->nmsrs = 1;
	m->entries[0].index = index;
	int n = kvm_ioctl(vm->vcpu_fd, KVM_GET_MSRS, m);
	if (n == 1)
		*value = m->entries[0].data;
	return n;
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
		munmap(vm->pvm_mem, HL__PVM_SLOT_PAGES * HL__KVM_PAGE);
	hl__free(vm);
}

/*
 * Gives the guest the CPUID that KVM supports, so that it sees SSE, AVX,
 * XSAVE and RDRAND as the host has them (the default is an empty table),
 * less what it has no use for and should not learn: the hardware
 * virtualisation extensions (VMX, SVM) and KVM's own leaves
 * (0x40000000..0x400000ff: kvmclock, steal time, PV EOI...). With those
 * leaves gone and KVM_CAP_ENFORCE_PV_FEATURE_CPUID on, KVM refuses the
 * paravirtual MSRs too, which leaves a hostile guest less state to write.
 * kvm-pvm shows the guest the host's CPUID whatever this table says
 * (docs/platforms.md).
 */
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
			return hl__kvm_fail(err, "KVM_GET_SUPPORTED_CPUID");
		}
		uint32_t kept = 0;
		for (uint32_t i = 0; i < c->nent; i++) {
			struct kvm_cpuid_entry2 *e = &c->entries[i];
			if (e->function >= 0x40000000u && e->function <= 0x400000ffu)
				continue;
			if (e->function == 1) {
				e->ecx &= ~(1u << 24); /* no TSC deadline timer: there is no LAPIC */
				e->ecx &= ~(1u << 5);  /* no VMX */
				if (e->ecx & (1u << 26))
					vm->has_xsave = true;
			}
			if (e->function == 0x80000001u)
				e->ecx &= ~(1u << 2); /* no SVM */
			c->entries[kept++] = *e;
		}
		c->nent = kept;
		int r = kvm_ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c);
		hl__free(c);
		if (r < 0)
			return hl__kvm_fail(err, "KVM_SET_CPUID2");
		/* Every VM of the process must agree on this: the MSR list a
		 * restore uses is derived once (kvm_state.c). */
		struct kvm_enable_cap cap = {.cap = KVM_CAP_ENFORCE_PV_FEATURE_CPUID, .args = {1}};
		int has = kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
		                    (void *)(uintptr_t)KVM_CAP_ENFORCE_PV_FEATURE_CPUID);
		if (has < 0)
			return hl__kvm_fail(err, "KVM_CHECK_EXTENSION (ENFORCE_PV_FEATURE_CPUID)");
		if (has > 0 && kvm_ioctl(vm->vcpu_fd, KVM_ENABLE_CAP, &cap) < 0)
			return hl__kvm_fail(err, "KVM_ENABLE_CAP (ENFORCE_PV_FEATURE_CPUID)");
		return 0;
	}
}

/*
 * One machine-check bank instead of KVM's default 32: a guest has no use
 * for them, but can write their CTL/STATUS/ADDR/MISC registers, so each
 * bank is four more MSRs every restore puts back (kvm_state.c).
 */
static int setup_mce(struct hl_vm *vm, struct hl_errbuf *err)
{
	int has = kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_MCE);
	if (has < 0)
		return hl__kvm_fail(err, "KVM_CHECK_EXTENSION (MCE)");
	uint64_t cap = 1; /* MCG_CAP: one bank, nothing else */
	if (has > 0 && kvm_ioctl(vm->vcpu_fd, KVM_X86_SETUP_MCE, &cap) < 0)
		return hl__kvm_fail(err, "KVM_X86_SETUP_MCE");
	return 0;
}

/*
 * Which hypervisor this is. kvm-pvm answers a read of its identification
 * MSR (no capability or CPUID leaf tells it apart); other KVMs do not know
 * that MSR and return no entry. VMX or SVM is then whichever extension the
 * host CPU has. A failed ioctl is an error, not a guess.
 */
static int detect_platform(struct hl_vm *vm, struct hl_errbuf *err)
{
	uint64_t id = 0;
	int n = hl__kvm_get_msr(vm, MSR_PVM_ID, &id);
	if (n < 0)
		return hl__kvm_fail(err, "KVM_GET_MSRS (identifying the hypervisor)");
	if (n == 1 && id == PVM_ID_VALUE) {
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
		__asm__ volatile("cpuid"
		                 : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
		                 : "a"(0x80000001u), "c"(0));
		if (c & (1u << 2)) {
			vm->platform = HL_PLATFORM_KVM_SVM;
			return 0;
		}
	}
	vm->platform = HL_PLATFORM_KVM_OTHER;
	return 0;
}

static int kvm_create(struct hl_vm **out, unsigned flags, struct hl_errbuf *err)
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
		hl__kvm_fail(err, "open /dev/kvm");
		goto out;
	}
	int ver = kvm_ioctl(vm->kvm_fd, KVM_GET_API_VERSION, NULL);
	if (ver < 0) {
		hl__kvm_fail(err, "KVM_GET_API_VERSION on /dev/kvm (is it a KVM device?)");
		goto out;
	}
	if (ver != KVM_API_VERSION) {
		snprintf(err->msg, sizeof err->msg, "KVM: API version %d, expected %d", ver,
		         KVM_API_VERSION);
		goto out;
	}
	vm->vm_fd = kvm_ioctl(vm->kvm_fd, KVM_CREATE_VM, NULL);
	if (vm->vm_fd < 0) {
		hl__kvm_fail(err, "KVM_CREATE_VM");
		goto out;
	}
	vm->vcpu_fd = kvm_ioctl(vm->vm_fd, KVM_CREATE_VCPU, NULL);
	if (vm->vcpu_fd < 0) {
		hl__kvm_fail(err, "KVM_CREATE_VCPU");
		goto out;
	}
	int sz = kvm_ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (sz < (int)sizeof(struct kvm_run)) {
		hl__kvm_fail(err, "KVM_GET_VCPU_MMAP_SIZE");
		goto out;
	}
	vm->run_size = (size_t)sz;
	vm->run = hl__mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		hl__kvm_fail(err, "mmap of kvm_run");
		goto out;
	}
	if (set_cpuid(vm, err) < 0 || setup_mce(vm, err) < 0 || detect_platform(vm, err) < 0)
		goto out;
	if (vm->platform == HL_PLATFORM_KVM_PVM && hl__pvm_setup(vm, err) < 0)
		goto out;
	vm->has_xcrs = (kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
	                          (void *)(uintptr_t)KVM_CAP_XCRS) > 0);
	/* kvm-pvm runs AVX natively but reports no XSAVE in CPUID: the XSAVE
	 * ioctls are the only way to put YMM back, so use them wherever KVM
	 * has them, not only where CPUID says XSAVE. */
	vm->has_xsave_ioctl = kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
	                                (void *)(uintptr_t)KVM_CAP_XSAVE) > 0;
	int khz = kvm_ioctl(vm->vcpu_fd, KVM_GET_TSC_KHZ, NULL);
	vm->tsc_khz = khz > 0 ? (uint64_t)khz : 0;
	if (hl__kvm_state_init(vm, flags & HL_BACKEND_MSR_FILTER, err) < 0)
		goto out;
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
	/* Manual protection: reading the dirty log does not write-protect the
	 * pages again; the core chooses which to protect (protect_pages) and
	 * keeps the pages every request writes unprotected, sparing each of
	 * them a write-protection fault per request (docs/performance.md). */
	int mp = kvm_ioctl(vm->vm_fd, KVM_CHECK_EXTENSION,
	                   (void *)(uintptr_t)KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (mp < 0)
		return hl__kvm_fail(err, "KVM_CHECK_EXTENSION (MANUAL_DIRTY_LOG_PROTECT2)");
	if (mp & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		                             .args = {KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE}};
		if (kvm_ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			return hl__kvm_fail(err, "KVM_ENABLE_CAP (MANUAL_DIRTY_LOG_PROTECT2)");
		vm->manual_protect = true;
	}
	struct kvm_userspace_memory_region r = {
		.slot = 0,
		/* Dirty logging from the start: a restore drops only the pages
		 * the guest wrote, and the slot never changes afterwards. */
		.flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	if (vm->pvm_mem && gpa < HL__PVM_SLOT_PAGES * HL__KVM_PAGE) {
		snprintf(err->msg, sizeof err->msg,
		         "KVM: on kvm-pvm guest memory must start at or above 0x%x (the entry pages live below); this guest starts at 0x%llx",
		         HL__PVM_SLOT_PAGES * HL__KVM_PAGE, (unsigned long long)gpa);
		return -1;
	}
	if (kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return hl__kvm_fail(err, "KVM_SET_USER_MEMORY_REGION");
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
		return hl__kvm_fail(err, "KVM_GET_DIRTY_LOG");
	return 0;
}

static int kvm_protect_pages(struct hl_vm *vm, uint64_t *bitmap, struct hl_errbuf *err)
{
	if (!vm->manual_protect)
		return 0; /* KVM_GET_DIRTY_LOG protected every page it reported */
	struct kvm_clear_dirty_log c;
	memset(&c, 0, sizeof c);
	c.slot = 0;
	c.first_page = 0;
	c.num_pages = (uint32_t)(vm->mem_size / HL__KVM_PAGE);
	c.dirty_bitmap = bitmap;
	if (kvm_ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) < 0)
		return hl__kvm_fail(err, "KVM_CLEAR_DIRTY_LOG");
	return 0;
}

static volatile uint8_t *kvm_immediate_exit(struct hl_vm *vm)
{
	return &vm->run->immediate_exit;
}

void hl__kvm_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
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

static int kvm_set_boot_regs(struct hl_vm *vm, const struct hl_boot_regs *br, struct hl_errbuf *err)
{
	struct kvm_sregs sr = {0};
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sr) < 0)
		return hl__kvm_fail(err, "KVM_GET_SREGS");
	hl__kvm_seg(&sr.cs, 0x08, 0xb, true);  /* execute/read, accessed */
	hl__kvm_seg(&sr.ds, 0x10, 0x3, false); /* read/write, accessed */
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
	sr.cr0 = 0x80050033;     /* PG | AM | WP | NE | ET | MP | PE */
	sr.cr0 &= ~(1ull << 18); /* no AM */
	sr.cr3 = br->cr3;
	sr.efer = (1u << 0) | (1u << 8) | (1u << 10) | (1u << 11); /* SCE | LME | LMA | NXE */
	sr.cr4 = (1u << 5) | (1u << 9) | (1u << 10);               /* PAE | OSFXSR | OSXMMEXCPT */
	if (vm->has_xsave)
		sr.cr4 |= 1u << 18; /* OSXSAVE */
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sr) < 0)
		return hl__kvm_fail(err, "KVM_SET_SREGS (long mode)");

	if (vm->has_xsave && vm->has_xcrs) {
		/* Enable x87, SSE and AVX state where the host supports them. */
		struct kvm_xcrs x;
		if (kvm_ioctl(vm->vcpu_fd, KVM_GET_XCRS, &x) < 0)
			return hl__kvm_fail(err, "KVM_GET_XCRS");
		uint64_t want = 0x7;
		unsigned a, b, c, d;
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xd), "c"(0));
		want &= ((uint64_t)d << 32) | a;
		memset(&x, 0, sizeof x);
		x.nr_xcrs = 1;
		x.xcrs[0].xcr = 0;
		x.xcrs[0].value = want | 1;
		if (kvm_ioctl(vm->vcpu_fd, KVM_SET_XCRS, &x) < 0)
			return hl__kvm_fail(err, "KVM_SET_XCRS");
	}

	struct kvm_regs r;
	memset(&r, 0, sizeof r);
	r.rip = br->rip;
	r.rsp = br->rsp;
	r.rdi = br->rdi;
	r.rflags = 0x2;
	if (vm->platform == HL_PLATFORM_KVM_PVM)
		return hl__pvm_enter(vm, &r, &sr, err);
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return hl__kvm_fail(err, "KVM_SET_REGS");
	return 0;
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
		return hl__kvm_fail(err, "KVM_RUN");
	}
	if (vm->pvm_mem) {
		if (hl__pvm_after_exit(vm, run->exit_reason, err) < 0)
			return -1;
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
			int t = hl__pvm_retry_native(vm, err);
			if (t < 0)
				return -1;
			if (t > 0)
				goto again;
		}
	}
	/* KVM finishes these at the next KVM_RUN (hl__kvm_complete_exit). */
	vm->exit_pending = run->exit_reason == KVM_EXIT_IO || run->exit_reason == KVM_EXIT_MMIO ||
	                   run->exit_reason == KVM_EXIT_X86_WRMSR;
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
	case KVM_EXIT_SHUTDOWN: x->kind = HL_EXIT_SHUTDOWN; return 0;
	case KVM_EXIT_HLT: x->kind = HL_EXIT_HLT; return 0;
	case KVM_EXIT_FAIL_ENTRY:
		x->kind = HL_EXIT_FAIL;
		x->detail = run->fail_entry.hardware_entry_failure_reason;
		return 0;
	case KVM_EXIT_INTR: x->kind = HL_EXIT_INTR; return 0;
	case KVM_EXIT_DEBUG:
		x->kind = HL_EXIT_DEBUG;
		x->value = run->debug.arch.exception;
		x->gpa = run->debug.arch.pc;
		x->detail = run->debug.arch.dr6;
		return 0;
	case KVM_EXIT_X86_WRMSR:
		/* Only the MSR filter sends these (kvm_state.c): refuse the
		 * write, which KVM turns into #GP should the guest ever run on. */
		vm->run->msr.error = 1;
		x->kind = HL_EXIT_MSR_WRITE;
		x->value = run->msr.index;
		x->detail = run->msr.data;
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		x->kind = HL_EXIT_FAIL;
		x->detail = run->internal.suberror;
		return 0;
	default: x->kind = HL_EXIT_FAIL; return 0;
	}
}

static int kvm_get_regs(struct hl_vm *vm, struct hl_regs *o, struct hl_errbuf *err)
{
	if (hl__kvm_flush_sync(vm, err) < 0)
		return -1;
	struct kvm_regs r = {0};
	struct kvm_sregs s;
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0)
		return hl__kvm_fail(err, "KVM_GET_REGS");
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return hl__kvm_fail(err, "KVM_GET_SREGS");
	/* clang-format off */
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
	/* clang-format on */
	/* In native kernel mode kvm-pvm shows the user selectors it runs the
	 * guest with, each on its own: CS 0x33 and SS 0x2b, but after an
	 * exception CS 0x08 while SS still reads 0x2b (measured). The guest
	 * itself is at CPL 0 with its own, 0x08 and 0x10, all along. */
	if (vm->platform == HL_PLATFORM_KVM_PVM) {
		if ((s.cs.selector & 3) == 3)
			o->cs = 0x08;
		if ((s.ss.selector & 3) == 3)
			o->ss = 0x10;
	}
	return 0;
}

static int kvm_set_regs(struct hl_vm *vm, const struct hl_regs *i, struct hl_errbuf *err)
{
	if (hl__kvm_flush_sync(vm, err) < 0)
		return -1;
	/* clang-format off */
	struct kvm_regs r = {
		.rax = i->rax, .rbx = i->rbx, .rcx = i->rcx, .rdx = i->rdx,
		.rsi = i->rsi, .rdi = i->rdi, .rbp = i->rbp, .rsp = i->rsp,
		.r8 = i->r8, .r9 = i->r9, .r10 = i->r10, .r11 = i->r11,
		.r12 = i->r12, .r13 = i->r13, .r14 = i->r14, .r15 = i->r15,
		.rip = i->rip, .rflags = i->rflags,
	};
	/* clang-format on */
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return hl__kvm_fail(err, "KVM_SET_REGS");
	return 0;
}

static int kvm_set_debug(struct hl_vm *vm, const struct hl_debug_cfg *d, struct hl_errbuf *err)
{
	if (hl__kvm_flush_sync(vm, err) < 0)
		return -1;
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
		return hl__kvm_fail(err, "KVM_SET_GUEST_DEBUG");
	return 0;
}

/* The FXSAVE image is the first 512 bytes of the XSAVE area, which
 * KVM_GET_XSAVE always returns in the standard (not compacted) form. */
static int fpu_from_xsave(struct hl_vm *vm, uint8_t *fx, struct hl_errbuf *err)
{
	struct kvm_xsave x;
	memset(&x, 0, sizeof x);
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_XSAVE, &x) < 0)
		return hl__kvm_fail(err, "KVM_GET_XSAVE");
	memcpy(fx, x.region, 512);
	return 0;
}

/* The x87/SSE state in the FXSAVE layout. Where KVM has the XSAVE ioctls
 * they are the source: kvm-pvm's KVM_GET_FPU reports MXCSR as 0 (measured:
 * the guest had loaded 0x1f80, which KVM_GET_XSAVE shows); elsewhere KVM
 * fills both from the same saved state. */
static int kvm_get_fpu(struct hl_vm *vm, uint8_t *fx, struct hl_errbuf *err)
{
	if (hl__kvm_flush_sync(vm, err) < 0)
		return -1;
	if (vm->has_xsave_ioctl)
		return fpu_from_xsave(vm, fx, err);
	struct kvm_fpu f = {0};
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_FPU, &f) < 0)
		return hl__kvm_fail(err, "KVM_GET_FPU");
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
		info->no_debug_exits = true; /* see kvm_set_debug */
		break;
	default: info->name = "kvm"; break;
	}
}

static const char *internal_suberror(uint32_t sub)
{
	switch (sub) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "the instruction emulator could not run an instruction";
	case KVM_INTERNAL_ERROR_SIMUL_EX: return "an exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV: return "an exit while delivering an event";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: return "an exit reason KVM did not expect";
	default: return "an internal error";
	}
}

/* Appends to buf (length *k so far, capacity n) as snprintf would. */
static void append(char *buf, size_t n, size_t *k, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t n, size_t *k, const char *fmt, ...)
{
	if (*k >= n)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(buf + *k, n - *k, fmt, ap);
	va_end(ap);
	*k = w < 0 ? n : *k + (size_t)w;
}

static void kvm_explain_fail(struct hl_vm *vm, const struct hl_exit *x, char *buf, size_t n)
{
	const struct kvm_run *run = vm->run;
	buf[0] = '\0';
	if (x->raw == KVM_EXIT_INTERNAL_ERROR) {
		size_t k = 0;
		append(buf, n, &k, "KVM internal error, suberror %u: %s", run->internal.suberror,
		       internal_suberror(run->internal.suberror));
		for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
			append(buf, n, &k, "%s0x%llx", i ? " " : "; data ",
			       (unsigned long long)run->internal.data[i]);
		if (vm->platform == HL_PLATFORM_KVM_PVM &&
		    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
			append(buf, n, &k, "%s",
			       "; on kvm-pvm this means guest code ran at emulated CPL 0 (no SSE there) and could not be brought back to native kernel mode: did the guest load page tables of its own? (`hyperlight doctor` checks the platform)");
	} else if (x->raw == KVM_EXIT_FAIL_ENTRY) {
		snprintf(buf, n,
		         "KVM could not enter the guest: hardware entry failure reason 0x%llx",
		         (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	} else {
		snprintf(buf, n, "KVM exit reason %llu, which this backend does not handle",
		         (unsigned long long)x->raw);
	}
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
	.protect_pages = kvm_protect_pages,
	.immediate_exit = kvm_immediate_exit,
	.complete_exit = hl__kvm_complete_exit,
	.save_state = hl__kvm_save_state,
	.restore_state = hl__kvm_restore_state,
	.verify_state = hl__kvm_verify_state,
	.free_state = hl__kvm_free_state,
	.set_regs = kvm_set_regs,
	.set_debug = kvm_set_debug,
	.get_fpu = kvm_get_fpu,
	.tsc_khz = kvm_tsc_khz,
	.destroy = kvm_destroy,
};
