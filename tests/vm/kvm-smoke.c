/*
 * kvm-smoke.c - minimal standalone check that /dev/kvm works.
 *
 *   gcc -O2 -o kvm-smoke tests/vm/kvm-smoke.c && ./kvm-smoke
 *
 * 1. real mode:  mov al,0x42; out 0x10,al; hlt  -> expect KVM_EXIT_IO
 *    (port 0x10, value 0x42), then KVM_EXIT_HLT.
 * 2. long mode:  identity-mapped page tables, CR0=PE|PG, CR4=PAE,
 *    EFER=LME|LMA set via KVM_SET_SREGS; mov rax,imm64; out 0x10,al; hlt.
 * 3. timing: average KVM_RUN -> out exit -> KVM_RUN round trip over
 *    1000 iterations of a guest looping on "out 0x10, al".
 *
 * Prints "kvm-smoke: ok" and exits 0 on success, otherwise says what went
 * wrong and exits 1.  No project headers on purpose.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PORT 0x10
#define ITERS 1000

static int kvm_fd = -1;
static int run_size;

struct vm {
	int fd, vcpu;
	uint8_t *mem;
	size_t mem_size;
	struct kvm_run *run;
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fputs("kvm-smoke: FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (e)
		printf(" (errno %d: %s)", e, strerror(e));
	putchar('\n');
	fflush(stdout);
	exit(1);
}

static const char *exit_name(uint32_t r)
{
	switch (r) {
	case KVM_EXIT_UNKNOWN: return "UNKNOWN";
	case KVM_EXIT_EXCEPTION: return "EXCEPTION";
	case KVM_EXIT_IO: return "IO";
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTR: return "INTR";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	default: return "?";
	}
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void vm_create(struct vm *vm, size_t mem_size)
{
	struct kvm_userspace_memory_region region;

	memset(vm, 0, sizeof(*vm));
	vm->fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		fail("KVM_CREATE_VM");
	vm->mem_size = mem_size;
	vm->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (vm->mem == MAP_FAILED)
		fail("mmap guest memory");
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = mem_size,
		.userspace_addr = (uintptr_t)vm->mem,
	};
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		fail("KVM_SET_USER_MEMORY_REGION");
	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu < 0)
		fail("KVM_CREATE_VCPU");
	vm->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu, 0);
	if (vm->run == MAP_FAILED)
		fail("mmap kvm_run");
}

static void vm_destroy(struct vm *vm)
{
	munmap(vm->run, run_size);
	munmap(vm->mem, vm->mem_size);
	close(vm->vcpu);
	close(vm->fd);
}

static void set_regs(struct vm *vm, uint64_t rip)
{
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 0x2;
	regs.rsp = 0x8000;
	if (ioctl(vm->vcpu, KVM_SET_REGS, &regs) < 0)
		fail("KVM_SET_REGS");
}

static void setup_real_mode(struct vm *vm, uint64_t rip)
{
	struct kvm_sregs sregs;

	if (ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) < 0)
		fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vm->vcpu, KVM_SET_SREGS, &sregs) < 0)
		fail("KVM_SET_SREGS");
	set_regs(vm, rip);
}

static void run_once(struct vm *vm, const char *what)
{
	alarm(30); /* a wedged guest gives EINTR instead of a hang */
	if (ioctl(vm->vcpu, KVM_RUN, 0) < 0)
		fail("%s: KVM_RUN%s", what, errno == EINTR ? " timed out after 30 s" : "");
	alarm(0);
}

static void expect_out(struct vm *vm, const char *what, uint8_t val)
{
	struct kvm_run *r = vm->run;
	uint8_t got;

	run_once(vm, what);
	if (r->exit_reason != KVM_EXIT_IO)
		fail("%s: expected KVM_EXIT_IO, got exit_reason %u (%s), hw reason 0x%llx", what,
		     r->exit_reason, exit_name(r->exit_reason),
		     (unsigned long long)r->hw.hardware_exit_reason);
	got = *((uint8_t *)r + r->io.data_offset);
	if (r->io.direction != KVM_EXIT_IO_OUT || r->io.port != PORT || r->io.size != 1 ||
	    r->io.count != 1 || got != val)
		fail("%s: unexpected I/O exit: dir %u port 0x%x size %u count %u value 0x%x "
		     "(want out port 0x%x size 1 value 0x%x)",
		     what, r->io.direction, r->io.port, r->io.size, r->io.count, got, PORT, val);
}

static void expect_hlt(struct vm *vm, const char *what)
{
	run_once(vm, what);
	if (vm->run->exit_reason != KVM_EXIT_HLT)
		fail("%s: expected KVM_EXIT_HLT, got exit_reason %u (%s)", what,
		     vm->run->exit_reason, exit_name(vm->run->exit_reason));
}

/* Test 1: the brief's real-mode guest, 1 page of memory. */
static void test_real_mode(void)
{
	static const uint8_t code[] = {
		0xb0, 0x42, /* mov al, 0x42 */
		0xe6, PORT, /* out 0x10, al */
		0xf4,       /* hlt */
	};
	struct vm vm;

	vm_create(&vm, 0x1000);
	memcpy(vm.mem, code, sizeof(code));
	setup_real_mode(&vm, 0);
	expect_out(&vm, "real mode", 0x42);
	expect_hlt(&vm, "real mode");
	vm_destroy(&vm);
	printf("kvm-smoke: real mode: out 0x%x <- 0x42, hlt: ok\n", PORT);
}

/* Test 2: 64-bit long mode straight from KVM_SET_SREGS. */
#define PML4 0x2000
#define PDPT 0x3000
#define PD 0x4000
#define CODE 0x1000

static void setup_long_mode(struct vm *vm, uint64_t rip)
{
	struct kvm_sregs s;
	uint64_t *pml4 = (void *)(vm->mem + PML4);
	uint64_t *pdpt = (void *)(vm->mem + PDPT);
	uint64_t *pd = (void *)(vm->mem + PD);
	struct kvm_segment seg = {
		.base = 0,
		.limit = 0xffffffff,
		.present = 1,
		.dpl = 0,
		.s = 1,
		.g = 1,
	};

	/* identity map the first 2 MiB with one large page */
	pml4[0] = PDPT | 0x3; /* P | RW */
	pdpt[0] = PD | 0x3;
	pd[0] = 0x0 | 0x83; /* P | RW | PS */

	if (ioctl(vm->vcpu, KVM_GET_SREGS, &s) < 0)
		fail("KVM_GET_SREGS");
	s.cr3 = PML4;
	s.cr4 = 1u << 5;                 /* PAE */
	s.cr0 = (1u << 0) | (1u << 31);  /* PE | PG */
	s.efer = (1u << 8) | (1u << 10); /* LME | LMA */

	seg.selector = 0x8;
	seg.type = 11; /* code: execute/read, accessed */
	seg.l = 1;
	seg.db = 0;
	s.cs = seg;

	seg.selector = 0x10;
	seg.type = 3; /* data: read/write, accessed */
	seg.l = 0;
	seg.db = 1;
	s.ds = s.es = s.fs = s.gs = s.ss = seg;

	if (ioctl(vm->vcpu, KVM_SET_SREGS, &s) < 0)
		fail("long mode: KVM_SET_SREGS");
	set_regs(vm, rip);
}

static void test_long_mode(void)
{
	static const uint8_t code[] = {
		0x48, 0xb8, 0x42, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
		/* mov rax, 0x1122334455667742 */
		0xe6, PORT, /* out 0x10, al */
		0xf4,       /* hlt */
	};
	struct kvm_regs regs;
	struct kvm_sregs s;
	struct vm vm;

	vm_create(&vm, 0x10000);
	memcpy(vm.mem + CODE, code, sizeof(code));
	setup_long_mode(&vm, CODE);
	expect_out(&vm, "long mode", 0x42);
	if (ioctl(vm.vcpu, KVM_GET_REGS, &regs) < 0)
		fail("KVM_GET_REGS");
	/* in 32-bit mode 0x48 would be "dec eax" and rax would differ */
	if (regs.rax != 0x1122334455667742ull)
		fail("long mode: rax = 0x%llx after mov rax, imm64 (not in 64-bit mode?)",
		     (unsigned long long)regs.rax);
	if (ioctl(vm.vcpu, KVM_GET_SREGS, &s) < 0)
		fail("KVM_GET_SREGS");
	if (!(s.efer & (1u << 10)) || !s.cs.l)
		fail("long mode: EFER=0x%llx cs.l=%u, LMA not active", (unsigned long long)s.efer,
		     s.cs.l);
	expect_hlt(&vm, "long mode");
	vm_destroy(&vm);
	printf("kvm-smoke: long mode: rax=0x%llx, out 0x%x <- 0x42, hlt: ok\n",
	       (unsigned long long)regs.rax, PORT);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Test 3: time ITERS out-exit round trips of a looping guest. */
static double time_loop(int long_mode)
{
	static const uint8_t code[] = {
		0xb0, 0x42, /* 0: mov al, 0x42 */
		0xe6, PORT, /* 2: out 0x10, al */
		0xeb, 0xfc, /* 4: jmp 2 */
	};
	double t0, t1;
	struct vm vm;
	int i;

	vm_create(&vm, long_mode ? 0x10000 : 0x1000);
	if (long_mode) {
		memcpy(vm.mem + CODE, code, sizeof(code));
		setup_long_mode(&vm, CODE);
	} else {
		memcpy(vm.mem, code, sizeof(code));
		setup_real_mode(&vm, 0);
	}
	expect_out(&vm, "timing warm-up", 0x42);
	t0 = now_us();
	for (i = 0; i < ITERS; i++) {
		if (ioctl(vm.vcpu, KVM_RUN, 0) < 0)
			fail("timing: KVM_RUN");
		if (vm.run->exit_reason != KVM_EXIT_IO || vm.run->io.port != PORT)
			fail("timing: iteration %d: exit_reason %u (%s)", i, vm.run->exit_reason,
			     exit_name(vm.run->exit_reason));
	}
	t1 = now_us();
	vm_destroy(&vm);
	return (t1 - t0) / ITERS;
}

int main(void)
{
	struct sigaction sa;
	int v;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
	sigaction(SIGALRM, &sa, NULL);

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		fail("open /dev/kvm");
	v = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION)
		fail("KVM_GET_API_VERSION = %d, want %d", v, KVM_API_VERSION);
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0)
		fail("KVM_CAP_USER_MEMORY not supported");
	run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(struct kvm_run))
		fail("KVM_GET_VCPU_MMAP_SIZE = %d", run_size);

	test_real_mode();
	test_long_mode();
	printf("kvm-smoke: out round trip (real mode): %.2f us avg over %d\n", time_loop(0), ITERS);
	printf("kvm-smoke: out round trip (long mode): %.2f us avg over %d\n", time_loop(1), ITERS);
	printf("kvm-smoke: ok\n");
	return 0;
}
