/* kvm_state.c - the vCPU state a snapshot holds: what exists (from KVM's own lists), save, restore, and the verifying read-back. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperlight/hyperlight.h"
#include "kvm_vm.h"
#include "pvm_entry.h"

/*
 * The invariant (docs/security.md): after a restore, everything of the vCPU
 * that the guest can observe is what the snapshot holds. The state is
 * therefore derived from what KVM says exists, not from a hand-written
 * list: general and segment registers, control registers and CR8, the
 * whole XSAVE area (x87, SSE, AVX and whatever else XCR0 enables), XCR0,
 * debug registers, pending events, the TSC offset, and every MSR that KVM
 * lists as one to save (KVM_GET_MSR_INDEX_LIST) plus the machine-check
 * banks that MCG_CAP announces, less those KVM cannot read and write back
 * (found by trying, once per process). The TSC itself is not put back as a
 * value, which would stop the guest's clock: its offset from the host's
 * TSC is, so the clock runs on and whatever the guest wrote to it is undone.
 */

#define MSR_TSC 0x10u
#define MSR_MCG_CAP 0x179u
#define MSR_MCG_STATUS 0x17au
#define MSR_MCG_CTL 0x17bu
#define MSR_MC0_CTL 0x400u
#define MSR_MC0_CTL2 0x280u
#define MAX_MSRS 512u
#define SYNC_ALL (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS)

/*
 * MSRs restored in addition to KVM's list wherever KVM can read and write
 * them: a CPL-0 guest can write every one of these, and some KVMs leave
 * some of them out of the list. KVM's paravirtual MSRs are here because a
 * guest that enabled kvmclock or steal time would otherwise have KVM keep
 * writing into the memory of the next request.
 */
/* clang-format off */
static const uint32_t extra_msrs[] = {
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR, LSTAR, CSTAR, SFMASK */
	0xc0000102, 0xc0000103,                         /* KERNEL_GS_BASE, TSC_AUX */
	0x174, 0x175, 0x176,                            /* SYSENTER_CS/ESP/EIP */
	0x277, 0x1d9, 0x1a0, 0x48, 0xda0, 0x2ff,        /* PAT, DEBUGCTL, MISC_ENABLE, SPEC_CTRL, XSS, MTRRdefType */
	0x3b,                                           /* TSC_ADJUST */
	MSR_MCG_STATUS, MSR_MCG_CTL,
	0x11, 0x12, 0x4b564d00, 0x4b564d01, 0x4b564d02, /* kvmclock, async PF */
	0x4b564d03, 0x4b564d04, 0x4b564d05, 0x4b564d06, /* steal time, PV EOI, poll control */
	0xc0010114, 0xc0010117, 0xc0010010,             /* VM_CR, VM_HSAVE_PA, SYSCFG (AMD) */
	0xc0010015, 0x140, 0x1a2,                       /* HWCR, MISC_FEATURES_ENABLES, TEMPERATURE_TARGET */
};
/* clang-format on */

/*
 * HL_CONFIG_MSR_FILTER. The MSRs a guest may write: those its runtime writes (SYSCALL set-up,
 * EFER, the FS/GS bases for TLS) and KERNEL_GS_BASE and TSC_AUX, which a
 * CPL-0 program may use as scratch. Where KVM can filter MSR writes
 * (KVM_X86_SET_MSR_FILTER, with refused writes sent to the host), every
 * other write is refused and fails the call (HL_FAULT_MSR): the guest can
 * change no other MSR, so a restore to the state this vCPU last had puts
 * back only these, and the TSC offset not at all. On kvm-pvm the entry
 * code's write of its feature MSR is allowed only while it runs (pvm.c).
 */
static const uint32_t guest_writable[] = {
	0xc0000080, 0xc0000081, 0xc0000082, 0xc0000083, /* EFER, STAR, LSTAR, CSTAR */
	0xc0000084, 0xc0000100, 0xc0000101, 0xc0000102, /* SFMASK, FS/GS/KERNEL_GS_BASE */
	0xc0000103,                                     /* TSC_AUX */
};

/* The write-filter ranges: every MSR there is refused unless allowed. */
static const struct {
	uint32_t base, n;
} filter_ranges[] = {
	{0x00000000, 0x2000}, /* architectural and model-specific */
	{0x40000000, 0x200},  /* hypervisor (KVM, Hyper-V) */
	{0x4b564d00, 0x100},  /* KVM paravirtual and kvm-pvm */
	{0xc0000000, 0x2000}, /* long mode */
	{0xc0010000, 0x2000}, /* AMD */
};
#define NRANGES (sizeof filter_ranges / sizeof filter_ranges[0])

int hl__kvm_msr_filter(struct hl_vm *vm, bool allow_pvm_features, struct hl_errbuf *err)
{
	uint8_t bits[NRANGES][0x2000 / 8]; /* 5 KiB; KVM copies it */
	struct kvm_msr_filter f;
	memset(&f, 0, sizeof f);
	f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
	memset(bits, 0, sizeof bits);
	for (size_t r = 0; r < NRANGES; r++) {
		uint32_t base = filter_ranges[r].base, n = filter_ranges[r].n;
		for (size_t i = 0; i < sizeof guest_writable / sizeof guest_writable[0]; i++) {
			uint32_t bit = guest_writable[i] - base;
			if (guest_writable[i] >= base && bit < n)
				bits[r][bit / 8] |= 1u << (bit % 8);
		}
		uint32_t bit = MSR_PVM_FEATURES - base;
		if (allow_pvm_features && MSR_PVM_FEATURES >= base && bit < n)
			bits[r][bit / 8] |= 1u << (bit % 8);
		f.ranges[r] = (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_WRITE,
		                                            .nmsrs = n,
		                                            .base = base,
		                                            .bitmap = bits[r]};
	}
	if (kvm_ioctl(vm->vm_fd, KVM_X86_SET_MSR_FILTER, &f) < 0)
		return hl__kvm_fail(err, "KVM_X86_SET_MSR_FILTER");
	vm->filter_allows_pvm = allow_pvm_features;
	return 0;
}

/* Turns the filter on where KVM has it (at creation). */
static int msr_filter_init(struct hl_vm *vm, struct hl_errbuf *err)
{
	int um = kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
	                   (void *)(uintptr_t)KVM_CAP_X86_USER_SPACE_MSR);
	int mf = kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
	                   (void *)(uintptr_t)KVM_CAP_X86_MSR_FILTER);
	if (um < 0 || mf < 0)
		return hl__kvm_fail(err, "KVM_CHECK_EXTENSION (MSR filter)");
	if (um <= 0 || mf <= 0)
		return 0; /* no filter: every restore puts every MSR back */
	/* Some kernels answer the capability with 1 rather than the mask of
	 * exit reasons they support: asking is the test. */
	struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR,
	                             .args = {KVM_MSR_EXIT_REASON_FILTER}};
	if (kvm_ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		if (errno == EINVAL)
			return 0;
		return hl__kvm_fail(err, "KVM_ENABLE_CAP (X86_USER_SPACE_MSR)");
	}
	/* kvm-pvm's first run is the entry code, which writes its feature
	 * MSR: allowed from the start, refused after the entry (pvm.c). */
	if (hl__kvm_msr_filter(vm, vm->platform == HL_PLATFORM_KVM_PVM, err) < 0)
		return -1;
	vm->msr_filter = true;
	return 0;
}

/*
 * The MSRs a restore puts back, the same for every VM of the process (they
 * are a property of the KVM module and the CPU): computed at the first
 * snapshot and read-only after it. A cache of the kernel's answer, not
 * state the application can see.
 */
static struct {
	pthread_mutex_t lock;
	bool ready;
	uint32_t n;
	uint32_t idx[MAX_MSRS];
	uint32_t listed;   /* how many KVM_GET_MSR_INDEX_LIST gave */
	uint32_t dropped;  /* listed or extra, but not readable and writable */
	uint32_t counters; /* readable and writable, but counting by themselves */
} msr_set = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* KVM's own list, read at VM creation while the system fd is open. */
static struct {
	pthread_mutex_t lock;
	bool read;
	uint32_t n;
	uint32_t idx[MAX_MSRS];
} kvm_list = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct hl_vcpu_state {
	uint64_t id; /* unique in the process: which state a vCPU last had */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_vcpu_events events;
	uint64_t tsc_offset;
	bool has_tsc_offset;
	struct kvm_msrs *msrs;     /* msrs->nmsrs entries, its own allocation */
	struct kvm_msrs *writable; /* the guest_writable ones among them, the same way */
	struct kvm_xsave xsave;    /* last: newer headers end it in a flexible array */
};

static atomic_ullong next_state_id = 1;

int hl__kvm_state_init(struct hl_vm *vm, bool msr_filter, struct hl_errbuf *err)
{
	if (msr_filter && msr_filter_init(vm, err) < 0)
		return -1;
	struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET};
	vm->has_tsc_offset = kvm_ioctl(vm->vcpu_fd, KVM_HAS_DEVICE_ATTR, &a) == 0;
	int sync = kvm_ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_SYNC_REGS);
	if (sync < 0)
		return hl__kvm_fail(err, "KVM_CHECK_EXTENSION (SYNC_REGS)");
	vm->has_sync_regs = (sync & SYNC_ALL) == SYNC_ALL;
	pthread_mutex_lock(&kvm_list.lock);
	if (!kvm_list.read) {
		MSR_STORAGE(buf, MAX_MSRS);
		/* Zeroed: tools that see only the ioctl's fixed header (Valgrind)
		 * would take the indices KVM writes for uninitialised. */
		memset(buf, 0, sizeof buf);
		struct kvm_msr_list *l = (struct kvm_msr_list *)(void *)buf;
		l->nmsrs = MAX_MSRS;
		if (kvm_ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
			pthread_mutex_unlock(&kvm_list.lock);
			return hl__kvm_fail(err, "KVM_GET_MSR_INDEX_LIST");
		}
		kvm_list.n = l->nmsrs < MAX_MSRS ? l->nmsrs : MAX_MSRS;
		memcpy(kvm_list.idx, l->indices, kvm_list.n * sizeof kvm_list.idx[0]);
		kvm_list.read = true;
	}
	pthread_mutex_unlock(&kvm_list.lock);
	return 0;
}

static bool in_list(const uint32_t *l, uint32_t n, uint32_t v)
{
	for (uint32_t i = 0; i < n; i++)
		if (l[i] == v)
			return true;
	return false;
}

static void add_candidate(uint32_t *c, uint32_t *n, uint32_t v)
{
	if (v != MSR_TSC && *n < MAX_MSRS && !in_list(c, *n, v))
		c[(*n)++] = v;
}

/*
 * Keeps the MSRs of `c` that KVM reads and then accepts back unchanged.
 * KVM_GET_MSRS and KVM_SET_MSRS stop at the first entry they refuse and
 * return how many they did, so a batch tells which one failed: skip it and
 * go on from the next. Writing back the value just read changes nothing.
 */
static int probe_msrs(struct hl_vm *vm, const uint32_t *c, uint32_t nc, struct hl_errbuf *err)
{
	struct kvm_msrs *m = hl__calloc(1, sizeof *m + nc * sizeof m->entries[0]);
	if (!m) {
		snprintf(err->msg, sizeof err->msg, "KVM: out of memory for the MSR list");
		return -1;
	}
	uint32_t kept = 0;
	for (uint32_t i = 0; i < nc;) {
		uint32_t left = nc - i;
		m->nmsrs = left;
		for (uint32_t k = 0; k < left; k++)
			m->entries[k] = (struct kvm_msr_entry){.index = c[i + k]};
		int g = kvm_ioctl(vm->vcpu_fd, KVM_GET_MSRS, m);
		if (g < 0) {
			hl__free(m);
			return hl__kvm_fail(err, "KVM_GET_MSRS (listing the MSRs to restore)");
		}
		m->nmsrs = (uint32_t)g;
		int s = g ? kvm_ioctl(vm->vcpu_fd, KVM_SET_MSRS, m) : 0;
		if (s < 0) {
			hl__free(m);
			return hl__kvm_fail(err, "KVM_SET_MSRS (listing the MSRs to restore)");
		}
		for (int k = 0; k < s; k++)
			msr_set.idx[kept++] = m->entries[k].index;
		/* Entry i+s is the one refused (by GET if s == g, else by SET). */
		i += (uint32_t)s + 1;
	}
	hl__free(m);
	msr_set.n = kept;
	msr_set.dropped = nc - kept;
	return 0;
}

/*
 * Drops the MSRs that count by themselves (Hyper-V's reference time
 * counter on KVMs that emulate it, for one): their value moves between two
 * reads with no guest running, so it is a clock, not state a guest leaves
 * behind, and putting an old value back would turn the clock back. Read
 * twice, a millisecond apart. (The TSC, never in the set, is handled by
 * its offset.)
 */
static int drop_counters(struct hl_vm *vm, struct hl_errbuf *err)
{
	uint32_t n = msr_set.n;
	struct kvm_msrs *a = hl__calloc(2, sizeof *a + n * sizeof a->entries[0]);
	if (!a) {
		snprintf(err->msg, sizeof err->msg, "KVM: out of memory for the MSR list");
		return -1;
	}
	struct kvm_msrs *b = (struct kvm_msrs *)(void *)((uint8_t *)a + sizeof *a +
	                                                 n * sizeof a->entries[0]);
	a->nmsrs = b->nmsrs = n;
	for (uint32_t i = 0; i < n; i++)
		a->entries[i].index = b->entries[i].index = msr_set.idx[i];
	int ga = kvm_ioctl(vm->vcpu_fd, KVM_GET_MSRS, a);
	struct timespec ms = {0, 1000000};
	nanosleep(&ms, NULL);
	int gb = ga == (int)n ? kvm_ioctl(vm->vcpu_fd, KVM_GET_MSRS, b) : -1;
	if (gb != (int)n) {
		hl__free(a);
		return hl__kvm_fail(err, "KVM_GET_MSRS (finding the counters)");
	}
	uint32_t kept = 0;
	for (uint32_t i = 0; i < n; i++)
		if (a->entries[i].data == b->entries[i].data)
			msr_set.idx[kept++] = msr_set.idx[i];
	msr_set.counters = n - kept;
	msr_set.n = kept;
	hl__free(a);
	return 0;
}

static int derive_msr_set(struct hl_vm *vm, struct hl_errbuf *err)
{
	pthread_mutex_lock(&msr_set.lock);
	int r = 0;
	if (!msr_set.ready) {
		uint32_t *c = hl__malloc(MAX_MSRS * sizeof *c);
		uint32_t nc = 0;
		if (!c) {
			snprintf(err->msg, sizeof err->msg, "KVM: out of memory for the MSR list");
			r = -1;
			goto out;
		}
		for (uint32_t i = 0; i < kvm_list.n; i++)
			add_candidate(c, &nc, kvm_list.idx[i]);
		msr_set.listed = kvm_list.n;
		for (size_t i = 0; i < sizeof extra_msrs / sizeof extra_msrs[0]; i++)
			add_candidate(c, &nc, extra_msrs[i]);
		/* The machine-check banks MCG_CAP announces, and their CMCI
		 * thresholds where it says CMCI exists. */
		uint64_t cap = 0;
		if (hl__kvm_get_msr(vm, MSR_MCG_CAP, &cap) < 0) {
			hl__free(c);
			r = hl__kvm_fail(err, "KVM_GET_MSRS (MCG_CAP)");
			goto out;
		}
		for (uint32_t b = 0; b < (cap & 0xff); b++) {
			for (uint32_t k = 0; k < 4; k++)
				add_candidate(c, &nc, MSR_MC0_CTL + 4 * b + k);
			if (cap & (1u << 10))
				add_candidate(c, &nc, MSR_MC0_CTL2 + b);
		}
		r = probe_msrs(vm, c, nc, err);
		if (r == 0)
			r = drop_counters(vm, err);
		hl__free(c);
		msr_set.ready = r == 0;
	}
out:
	pthread_mutex_unlock(&msr_set.lock);
	return r;
}

/*
 * A restore hands the general and segment registers and the pending events
 * to KVM through kvm_run (KVM_CAP_SYNC_REGS), which applies them at the
 * next KVM_RUN: three ioctls fewer per restore. Anything that reads or
 * writes those registers before that run flushes them first, with a
 * KVM_RUN that applies them and returns at once (immediate_exit).
 */
int hl__kvm_flush_sync(struct hl_vm *vm, struct hl_errbuf *err)
{
	if (!vm->sync_pending)
		return 0;
	vm->run->immediate_exit = 1;
	int r = kvm_ioctl(vm->vcpu_fd, KVM_RUN, NULL);
	int e = errno;
	vm->run->immediate_exit = 0;
	vm->sync_pending = false;
	vm->run->kvm_dirty_regs = 0;
	if (r < 0 && e != EINTR) {
		errno = e;
		return hl__kvm_fail(err, "KVM_RUN (applying the restored registers)");
	}
	return 0;
}

/* Completes the exit in progress (the OUT the guest is parked on, an MMIO
 * access, a string IN) without entering the guest, as the KVM API
 * documents for immediate_exit. A restore calls this before it touches
 * memory: KVM may write guest memory to finish an IN, and that write must
 * land before the dirty log is read, so the restore undoes it. */
int hl__kvm_complete_exit(struct hl_vm *vm, struct hl_errbuf *err)
{
	if (!vm->exit_pending)
		return 0;
	vm->run->immediate_exit = 1;
	int r = kvm_ioctl(vm->vcpu_fd, KVM_RUN, NULL);
	int e = errno;
	vm->run->immediate_exit = 0;
	if (r < 0 && e != EINTR) {
		errno = e;
		return hl__kvm_fail(err, "KVM_RUN (completing the last exit)");
	}
	vm->exit_pending = false;
	return 0;
}

void hl__kvm_free_state(struct hl_vcpu_state *st)
{
	if (st) {
		hl__free(st->writable);
		hl__free(st->msrs);
		hl__free(st);
	}
}

static int get_tsc_offset(struct hl_vm *vm, uint64_t *v)
{
	struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL,
	                            .attr = KVM_VCPU_TSC_OFFSET,
	                            .addr = (uint64_t)(uintptr_t)v};
	return kvm_ioctl(vm->vcpu_fd, KVM_GET_DEVICE_ATTR, &a);
}

int hl__kvm_save_state(struct hl_vm *vm, struct hl_vcpu_state **out, struct hl_errbuf *err)
{
	struct hl_vcpu_state *st = hl__calloc(1, sizeof *st);
	if (!st) {
		snprintf(err->msg, sizeof err->msg, "KVM: out of memory for vCPU state");
		return -1;
	}
	const char *what = NULL;
	if (hl__kvm_complete_exit(vm, err) < 0 || hl__kvm_flush_sync(vm, err) < 0 ||
	    derive_msr_set(vm, err) < 0)
		goto bad;
	st->msrs = hl__calloc(1, sizeof *st->msrs + msr_set.n * sizeof st->msrs->entries[0]);
	if (!st->msrs) {
		snprintf(err->msg, sizeof err->msg, "KVM: out of memory for vCPU state");
		goto bad;
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_REGS, &st->regs) < 0)
		what = "KVM_GET_REGS";
	else if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &st->sregs) < 0)
		what = "KVM_GET_SREGS";
	else if (kvm_ioctl(vm->vcpu_fd, KVM_GET_FPU, &st->fpu) < 0)
		what = "KVM_GET_FPU";
	else if (vm->has_xsave_ioctl && kvm_ioctl(vm->vcpu_fd, KVM_GET_XSAVE, &st->xsave) < 0)
		what = "KVM_GET_XSAVE";
	else if (vm->has_xcrs && kvm_ioctl(vm->vcpu_fd, KVM_GET_XCRS, &st->xcrs) < 0)
		what = "KVM_GET_XCRS";
	else if (kvm_ioctl(vm->vcpu_fd, KVM_GET_DEBUGREGS, &st->dregs) < 0)
		what = "KVM_GET_DEBUGREGS";
	else if (kvm_ioctl(vm->vcpu_fd, KVM_GET_VCPU_EVENTS, &st->events) < 0)
		what = "KVM_GET_VCPU_EVENTS";
	else if (vm->has_tsc_offset && get_tsc_offset(vm, &st->tsc_offset) < 0)
		what = "KVM_GET_DEVICE_ATTR (TSC offset)";
	if (what) {
		hl__kvm_fail(err, what);
		goto bad;
	}
	st->has_tsc_offset = vm->has_tsc_offset;
	st->msrs->nmsrs = msr_set.n;
	for (uint32_t i = 0; i < msr_set.n; i++)
		st->msrs->entries[i].index = msr_set.idx[i];
	int n = kvm_ioctl(vm->vcpu_fd, KVM_GET_MSRS, st->msrs);
	if (n < 0 || (uint32_t)n != msr_set.n) {
		hl__kvm_fail(err, "KVM_GET_MSRS");
		goto bad;
	}
	st->writable = hl__calloc(1, sizeof *st->writable +
	                                     sizeof guest_writable / sizeof guest_writable[0] *
	                                             sizeof st->writable->entries[0]);
	if (!st->writable) {
		snprintf(err->msg, sizeof err->msg, "KVM: out of memory for vCPU state");
		goto bad;
	}
	for (uint32_t i = 0; i < st->msrs->nmsrs; i++)
		for (size_t k = 0; k < sizeof guest_writable / sizeof guest_writable[0]; k++)
			if (st->msrs->entries[i].index == guest_writable[k])
				st->writable->entries[st->writable->nmsrs++] = st->msrs->entries[i];
	st->id = atomic_fetch_add(&next_state_id, 1);
	vm->state_id = st->id; /* the vCPU has exactly this state now */
	*out = st;
	return 0;
bad:
	hl__kvm_free_state(st);
	return -1;
}

/* The vCPU-event fields a restore sets: the exception, interrupt and NMI
 * state and the interrupt shadow, and SMM where KVM reported it. */
#define EVENT_FLAGS (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW)

int hl__kvm_restore_state(struct hl_vm *vm, const struct hl_vcpu_state *st, struct hl_errbuf *err)
{
	if (hl__kvm_complete_exit(vm, err) < 0)
		return -1;
	/* kvm-pvm: a vCPU not known to be native (new, or its last run ended
	 * in anything but port I/O) starts at the entry code, which re-enters
	 * native kernel mode and resumes the state restored here. */
	bool enter = vm->platform == HL_PLATFORM_KVM_PVM && !vm->pvm_native;
	/* kvm-pvm's feature MSR is the guest's to write and not the host's:
	 * a guest that changed it is entered again, and the entry code writes
	 * it back (measured: a value written there otherwise survives). */
	if (vm->platform == HL_PLATFORM_KVM_PVM && !enter && !vm->msr_filter) {
		uint64_t f = 0;
		if (hl__kvm_get_msr(vm, MSR_PVM_FEATURES, &f) < 0)
			return hl__kvm_fail(err, "KVM_GET_MSRS (kvm-pvm features)");
		enter = f != vm->pvm_features;
	}
	struct kvm_sregs sr = st->sregs;
	struct kvm_vcpu_events ev = st->events;
	ev.flags = EVENT_FLAGS | (st->events.flags & KVM_VCPUEVENT_VALID_SMM);
	bool sync = vm->has_sync_regs && !enter;
	/* sregs first: CR4/EFER decide what the XSAVE and register state mean
	 * (on entry hl__pvm_enter sets them once more, with kernel CS and SS).
	 * Through kvm_run they apply at the next KVM_RUN, before the guest
	 * runs; KVM checks neither XSAVE nor the MSRs against CR4. */
	if (!sync && kvm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sr) < 0)
		return hl__kvm_fail(err, "KVM_SET_SREGS");
	if (vm->has_xcrs && kvm_ioctl(vm->vcpu_fd, KVM_SET_XCRS, &st->xcrs) < 0)
		return hl__kvm_fail(err, "KVM_SET_XCRS");
	if (vm->has_xsave_ioctl) {
		if (kvm_ioctl(vm->vcpu_fd, KVM_SET_XSAVE, &st->xsave) < 0)
			return hl__kvm_fail(err, "KVM_SET_XSAVE");
	} else if (kvm_ioctl(vm->vcpu_fd, KVM_SET_FPU, &st->fpu) < 0) {
		return hl__kvm_fail(err, "KVM_SET_FPU");
	}
	/* With the MSR filter, a vCPU that last had this very state differs
	 * from it at most in the MSRs a guest may write. */
	bool same = vm->msr_filter && vm->state_id == st->id;
	const struct kvm_msrs *m = same ? st->writable : st->msrs;
	vm->state_id = 0; /* unknown until the restore is through */
	if (!(hl__test_restore_skip & HL__TEST_SKIP_MSRS)) {
		int n = kvm_ioctl(vm->vcpu_fd, KVM_SET_MSRS, m);
		if (n < 0)
			return hl__kvm_fail(err, "KVM_SET_MSRS");
		if ((uint32_t)n != m->nmsrs) {
			snprintf(err->msg, sizeof err->msg,
			         "KVM: KVM_SET_MSRS refused MSR 0x%x of the snapshot (%d of %u set)",
			         m->entries[n].index, n, m->nmsrs);
			return -1;
		}
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_DEBUGREGS, &st->dregs) < 0)
		return hl__kvm_fail(err, "KVM_SET_DEBUGREGS");
	if (!sync && kvm_ioctl(vm->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return hl__kvm_fail(err, "KVM_SET_VCPU_EVENTS");
	if (st->has_tsc_offset && vm->has_tsc_offset && !same) {
		uint64_t off = st->tsc_offset;
		struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL,
		                            .attr = KVM_VCPU_TSC_OFFSET,
		                            .addr = (uint64_t)(uintptr_t)&off};
		if (kvm_ioctl(vm->vcpu_fd, KVM_SET_DEVICE_ATTR, &a) < 0)
			return hl__kvm_fail(err, "KVM_SET_DEVICE_ATTR (TSC offset)");
	}
	/* Without an in-kernel LAPIC, KVM_RUN loads CR8 from kvm_run->cr8 on
	 * every entry: the value there is the last run's, so it must be the
	 * snapshot's too, or the next request gets the old one back. */
	if (!(hl__test_restore_skip & HL__TEST_SKIP_CR8))
		vm->run->cr8 = st->sregs.cr8;
	vm->state_id = st->id;
	if (enter)
		return hl__pvm_enter(vm, &st->regs, &sr, err);
	if (sync) {
		struct kvm_run *run = vm->run;
		run->s.regs.regs = st->regs;
		run->s.regs.sregs = sr;
		run->s.regs.events = ev;
		run->kvm_dirty_regs = SYNC_ALL;
		vm->sync_pending = true;
		return 0;
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &st->regs) < 0)
		return hl__kvm_fail(err, "KVM_SET_REGS");
	return 0;
}

/* ---- the verifying read-back ------------------------------------------------ */

struct diff {
	char *buf;
	size_t n;
	int count;
};

static void differs(struct diff *d, const char *what, uint64_t got, uint64_t want)
{
	if (d->count++ == 0)
		snprintf(d->buf, d->n, "%s is 0x%llx after the restore, the snapshot has 0x%llx",
		         what, (unsigned long long)got, (unsigned long long)want);
}

static void cmp(struct diff *d, const char *what, uint64_t got, uint64_t want)
{
	if (got != want)
		differs(d, what, got, want);
}

static void cmp_seg(struct diff *d, const char *name, const struct kvm_segment *a,
                    const struct kvm_segment *b)
{
	char w[32];
	snprintf(w, sizeof w, "%s.selector", name);
	cmp(d, w, a->selector, b->selector);
	snprintf(w, sizeof w, "%s.base", name);
	cmp(d, w, a->base, b->base);
	snprintf(w, sizeof w, "%s.limit", name);
	cmp(d, w, a->limit, b->limit);
	snprintf(w, sizeof w, "%s.attributes", name);
	uint64_t x = (uint64_t)a->type | (uint64_t)a->present << 4 | (uint64_t)a->dpl << 5 |
	             (uint64_t)a->db << 7 | (uint64_t)a->s << 8 | (uint64_t)a->l << 9 |
	             (uint64_t)a->g << 10 | (uint64_t)a->avl << 11;
	uint64_t y = (uint64_t)b->type | (uint64_t)b->present << 4 | (uint64_t)b->dpl << 5 |
	             (uint64_t)b->db << 7 | (uint64_t)b->s << 8 | (uint64_t)b->l << 9 |
	             (uint64_t)b->g << 10 | (uint64_t)b->avl << 11;
	cmp(d, w, x, y);
}

static void cmp_regs(struct diff *d, const struct kvm_regs *a, const struct kvm_regs *b)
{
	static const char *const names[18] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi",
	                                      "rsp", "rbp", "r8",  "r9",  "r10", "r11",
	                                      "r12", "r13", "r14", "r15", "rip", "rflags"};
	const uint64_t *x = (const uint64_t *)(const void *)a,
		       *y = (const uint64_t *)(const void *)b;
	for (int i = 0; i < 18; i++)
		cmp(d, names[i], x[i], y[i]);
}

/* The registers kvm-pvm's entry code will load, as a struct kvm_regs. */
static void regs_from_resume_block(const uint64_t *rb, struct kvm_regs *r)
{
	/* clang-format off */
	*r = (struct kvm_regs){
		.rip = rb[0], .rsp = rb[1], .rflags = rb[2], .rax = rb[3], .rbx = rb[4],
		.rcx = rb[5], .rdx = rb[6], .rsi = rb[7], .rdi = rb[8], .rbp = rb[9],
		.r8 = rb[10], .r9 = rb[11], .r10 = rb[12], .r11 = rb[13], .r12 = rb[14],
		.r13 = rb[15], .r14 = rb[16], .r15 = rb[17],
	};
	/* clang-format on */
}

/* An XSAVE component is in its initial state (all zeros for SSE and AVX)
 * when its XSTATE_BV bit is clear, whatever its bytes say. */
static void cmp_xsave(struct diff *d, const struct kvm_xsave *a, const struct kvm_xsave *b)
{
	const uint8_t *x = (const uint8_t *)a->region, *y = (const uint8_t *)b->region;
	uint64_t bva, bvb;
	memcpy(&bva, x + 512, 8);
	memcpy(&bvb, y + 512, 8);
	static const uint8_t zero[256];
	uint32_t mx, my;
	memcpy(&mx, x + 24, 4);
	memcpy(&my, y + 24, 4);
	cmp(d, "MXCSR", mx, my);
	/* x87: control, status, tag, last opcode/pointers, ST0-7 */
	const uint8_t *fx = bva & 1 ? x : zero, *fy = bvb & 1 ? y : zero;
	if (memcmp(fx, fy, 24) != 0 || memcmp(fx + 32, fy + 32, 128) != 0)
		differs(d, "the x87 state (XSAVE component 0)", bva & 1, bvb & 1);
	const uint8_t *sx = bva & 2 ? x + 160 : zero, *sy = bvb & 2 ? y + 160 : zero;
	if (memcmp(sx, sy, 256) != 0)
		differs(d, "an XMM register (XSAVE component 1)", bva, bvb);
	const uint8_t *ax = bva & 4 ? x + 576 : zero, *ay = bvb & 4 ? y + 576 : zero;
	if (memcmp(ax, ay, 256) != 0)
		differs(d, "a YMM upper half (XSAVE component 2)", bva, bvb);
}

int hl__kvm_verify_state(struct hl_vm *vm, const struct hl_vcpu_state *st, char *buf, size_t n,
                         struct hl_errbuf *err)
{
	struct diff d = {buf, n, 0};
	buf[0] = '\0';
	if (hl__kvm_flush_sync(vm, err) < 0)
		return -1;
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_debugregs dr;
	struct kvm_vcpu_events ev;
	memset(&r, 0, sizeof r);
	memset(&s, 0, sizeof s);
	memset(&dr, 0, sizeof dr);
	memset(&ev, 0, sizeof ev);
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) < 0)
		return hl__kvm_fail(err, "KVM_GET_REGS (verifying the restore)");
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return hl__kvm_fail(err, "KVM_GET_SREGS (verifying the restore)");
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_DEBUGREGS, &dr) < 0)
		return hl__kvm_fail(err, "KVM_GET_DEBUGREGS (verifying the restore)");
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return hl__kvm_fail(err, "KVM_GET_VCPU_EVENTS (verifying the restore)");
	/* kvm-pvm, about to run its entry code: the registers to resume are in
	 * the resume block, and CS/SS are the kernel's until the entry ends. */
	if (vm->pvm_entering) {
		cmp(&d, "rip (kvm-pvm entry code)", r.rip, HL__PVM_CODE_VA);
		regs_from_resume_block(hl__pvm_resume_block(vm), &r);
	} else {
		if (vm->platform == HL_PLATFORM_KVM_PVM) {
			uint64_t f = 0;
			if (hl__kvm_get_msr(vm, MSR_PVM_FEATURES, &f) < 0)
				return hl__kvm_fail(err, "KVM_GET_MSRS (verifying the restore)");
			cmp(&d, "kvm-pvm's feature MSR 0x4b564d10", f, vm->pvm_features);
		}
		cmp_seg(&d, "cs", &s.cs, &st->sregs.cs);
		cmp_seg(&d, "ss", &s.ss, &st->sregs.ss);
	}
	cmp_regs(&d, &r, &st->regs);
	cmp_seg(&d, "ds", &s.ds, &st->sregs.ds);
	cmp_seg(&d, "es", &s.es, &st->sregs.es);
	cmp_seg(&d, "fs", &s.fs, &st->sregs.fs);
	cmp_seg(&d, "gs", &s.gs, &st->sregs.gs);
	cmp_seg(&d, "tr", &s.tr, &st->sregs.tr);
	cmp(&d, "gdt.base", s.gdt.base, st->sregs.gdt.base);
	cmp(&d, "gdt.limit", s.gdt.limit, st->sregs.gdt.limit);
	cmp(&d, "idt.base", s.idt.base, st->sregs.idt.base);
	cmp(&d, "idt.limit", s.idt.limit, st->sregs.idt.limit);
	cmp(&d, "cr0", s.cr0, st->sregs.cr0);
	cmp(&d, "cr2", s.cr2, st->sregs.cr2);
	cmp(&d, "cr3", s.cr3, st->sregs.cr3);
	cmp(&d, "cr4", s.cr4, st->sregs.cr4);
	cmp(&d, "cr8", s.cr8, st->sregs.cr8);
	cmp(&d, "cr8 in kvm_run (loaded at the next entry)", vm->run->cr8, st->sregs.cr8);
	cmp(&d, "efer", s.efer, st->sregs.efer);
	for (int i = 0; i < 4; i++)
		cmp(&d, "a debug address register (DR0-DR3)", dr.db[i], st->dregs.db[i]);
	cmp(&d, "dr6", dr.dr6, st->dregs.dr6);
	cmp(&d, "dr7", dr.dr7, st->dregs.dr7);
	cmp(&d, "a pending exception",
	    ev.exception.injected | ev.exception.pending << 8 | (uint64_t)ev.exception.nr << 16,
	    st->events.exception.injected | st->events.exception.pending << 8 |
	            (uint64_t)st->events.exception.nr << 16);
	cmp(&d, "a pending interrupt", ev.interrupt.injected | (uint64_t)ev.interrupt.nr << 8,
	    st->events.interrupt.injected | (uint64_t)st->events.interrupt.nr << 8);
	cmp(&d, "the NMI state", ev.nmi.injected | ev.nmi.pending << 8 | ev.nmi.masked << 16,
	    st->events.nmi.injected | st->events.nmi.pending << 8 | st->events.nmi.masked << 16);
	if (vm->has_xcrs) {
		struct kvm_xcrs x;
		memset(&x, 0, sizeof x);
		if (kvm_ioctl(vm->vcpu_fd, KVM_GET_XCRS, &x) < 0)
			return hl__kvm_fail(err, "KVM_GET_XCRS (verifying the restore)");
		cmp(&d, "XCR0", x.nr_xcrs ? x.xcrs[0].value : 0,
		    st->xcrs.nr_xcrs ? st->xcrs.xcrs[0].value : 0);
	}
	if (vm->has_xsave_ioctl) {
		struct kvm_xsave *x = hl__calloc(1, sizeof *x);
		if (!x) {
			snprintf(err->msg, sizeof err->msg,
			         "KVM: out of memory (verifying the restore)");
			return -1;
		}
		if (kvm_ioctl(vm->vcpu_fd, KVM_GET_XSAVE, x) < 0) {
			hl__free(x);
			return hl__kvm_fail(err, "KVM_GET_XSAVE (verifying the restore)");
		}
		cmp_xsave(&d, x, &st->xsave);
		hl__free(x);
	}
	if (st->has_tsc_offset && vm->has_tsc_offset) {
		uint64_t off = 0;
		if (get_tsc_offset(vm, &off) < 0)
			return hl__kvm_fail(err, "KVM_GET_DEVICE_ATTR (verifying the restore)");
		cmp(&d, "the TSC offset", off, st->tsc_offset);
	}
	uint32_t nm = st->msrs->nmsrs;
	struct kvm_msrs *m = hl__calloc(1, sizeof *m + nm * sizeof m->entries[0]);
	if (!m) {
		snprintf(err->msg, sizeof err->msg, "KVM: out of memory (verifying the restore)");
		return -1;
	}
	m->nmsrs = nm;
	for (uint32_t i = 0; i < nm; i++)
		m->entries[i].index = st->msrs->entries[i].index;
	int got = kvm_ioctl(vm->vcpu_fd, KVM_GET_MSRS, m);
	if (got != (int)nm) {
		hl__free(m);
		return hl__kvm_fail(err, "KVM_GET_MSRS (verifying the restore)");
	}
	for (uint32_t i = 0; i < nm && d.count == 0; i++) {
		char w[48];
		snprintf(w, sizeof w, "MSR 0x%x", m->entries[i].index);
		cmp(&d, w, m->entries[i].data, st->msrs->entries[i].data);
	}
	hl__free(m);
	if (d.count > 1) {
		size_t len = strlen(buf);
		snprintf(buf + len, n - len, " (and %d more differences)", d.count - 1);
	}
	return d.count ? 1 : 0;
}
