/*
 * bench.c - call latencies against the raw KVM floor, measured in one run.
 *
 * The floor is measured here with bare ioctls (a real-mode guest that loops
 * on an OUT), so the ratios printed compare like with like on whatever
 * machine this runs: under nested virtualisation a VM exit costs several
 * microseconds, on bare metal about one.
 *
 * Usage: hl_bench [GUEST_DIR] [--iters N] [--json FILE]
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
#include <time.h>
#include <unistd.h>

#include "hyperlight/hyperlight.h"
#include "sample_host.h"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median of n samples (sorts them). */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return v[n / 2];
}

/* ---- the raw floor ------------------------------------------------------------- */

struct raw_vm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	void *mem;
};

static void raw_close(struct raw_vm *r)
{
	if (r->run)
		munmap(r->run, r->run_size);
	if (r->mem)
		munmap(r->mem, 0x10000);
	if (r->vcpu >= 0)
		close(r->vcpu);
	if (r->vm >= 0)
		close(r->vm);
	if (r->kvm >= 0)
		close(r->kvm);
}

/* VM + 64 KiB memory + vCPU in real mode at 0x1000 running `out 0x10,al; jmp .-2`. */
static int raw_open(struct raw_vm *r)
{
	memset(r, 0, sizeof *r);
	r->kvm = r->vm = r->vcpu = -1;
	if ((r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	if ((r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0)) < 0)
		return -1;
	r->mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->mem == MAP_FAILED) {
		r->mem = NULL;
		return -1;
	}
	static const uint8_t code[] = {0xe6, 0x10, 0xeb, 0xfc};
	memcpy((uint8_t *)r->mem + 0x1000, code, sizeof code);
	struct kvm_userspace_memory_region reg = {.slot = 0, .guest_phys_addr = 0,
	                                          .memory_size = 0x10000,
	                                          .userspace_addr = (uint64_t)(uintptr_t)r->mem};
	if (ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
		return -1;
	if ((r->vcpu = ioctl(r->vm, KVM_CREATE_VCPU, 0)) < 0)
		return -1;
	int sz = ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0)
		return -1;
	r->run_size = (size_t)sz;
	r->run = mmap(NULL, r->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->vcpu, 0);
	if (r->run == MAP_FAILED) {
		r->run = NULL;
		return -1;
	}
	struct kvm_sregs s;
	if (ioctl(r->vcpu, KVM_GET_SREGS, &s) < 0)
		return -1;
	s.cs.base = 0;
	s.cs.selector = 0;
	if (ioctl(r->vcpu, KVM_SET_SREGS, &s) < 0)
		return -1;
	struct kvm_regs g = {.rip = 0x1000, .rflags = 2};
	if (ioctl(r->vcpu, KVM_SET_REGS, &g) < 0)
		return -1;
	return 0;
}

static int raw_round_trip(struct raw_vm *r)
{
	if (ioctl(r->vcpu, KVM_RUN, 0) < 0)
		return -1;
	return r->run->exit_reason == KVM_EXIT_IO ? 0 : -1;
}

/* ---- figures --------------------------------------------------------------------------- */

struct figure {
	const char *name;
	double us;
	double floor_us; /* 0: no ratio */
	const char *target;
	double target_ratio;
};

static struct figure figs[32];
static int nfigs;

static void add(const char *name, double us, double floor_us, const char *target, double tr)
{
	figs[nfigs++] = (struct figure){name, us, floor_us, target, tr};
}

static hl_sandbox *open_guest(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	hl_sandbox *sb;
	if (hl_sandbox_new(NULL, &sb) != 0)
		return NULL;
	if (hl_sandbox_load_file(sb, path) != 0 || hl_sample_host_register(sb) != 0 ||
	    hl_sandbox_init(sb) != 0) {
		fprintf(stderr, "hl_bench: %s: %s\n", name, hl_errmsg(sb));
		hl_sandbox_free(sb);
		return NULL;
	}
	return sb;
}

/* Median microseconds of `iters` calls of fn(args). */
static double time_call(hl_sandbox *sb, const char *fn, const hl_value *args, size_t n, int iters)
{
	double *t = malloc(sizeof *t * (size_t)iters);
	for (int i = 0; i < iters / 10 + 1; i++) /* warm up */
		hl_call(sb, fn, args, n, NULL);
	for (int i = 0; i < iters; i++) {
		double t0 = now_us();
		int r = hl_call(sb, fn, args, n, NULL);
		t[i] = now_us() - t0;
		if (r != 0) {
			fprintf(stderr, "hl_bench: %s: %s\n", fn, hl_errmsg(sb));
			free(t);
			return -1;
		}
	}
	double m = median(t, iters);
	free(t);
	return m;
}

int main(int argc, char **argv)
{
	const char *dir = getenv("HYPERLIGHT_GUEST_DIR");
	const char *json = NULL;
	int iters = 2000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
			iters = atoi(argv[++i]);
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			json = argv[++i];
		else if (argv[i][0] != '-')
			dir = argv[i];
		else {
			fprintf(stderr, "usage: hl_bench [GUEST_DIR] [--iters N] [--json FILE]\n");
			return 1;
		}
	}
	if (!dir)
		dir = HL_GUEST_DIR;
	if (iters < 10)
		iters = 10;

	/* Raw floor: creation and the port-I/O round trip. */
	double *t = malloc(sizeof *t * (size_t)iters);
	int ncreate = 20;
	for (int i = 0; i < ncreate; i++) {
		struct raw_vm r;
		double t0 = now_us();
		int ok = raw_open(&r) == 0 && raw_round_trip(&r) == 0;
		t[i] = now_us() - t0;
		raw_close(&r);
		if (!ok) {
			fprintf(stderr, "hl_bench: raw KVM failed (%s): is /dev/kvm available?\n",
			        strerror(errno));
			return 1;
		}
	}
	double raw_create = median(t, ncreate);
	struct raw_vm r;
	if (raw_open(&r) != 0) {
		fprintf(stderr, "hl_bench: raw KVM failed: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < 100; i++)
		raw_round_trip(&r);
	for (int i = 0; i < iters; i++) {
		double t0 = now_us();
		raw_round_trip(&r);
		t[i] = now_us() - t0;
	}
	double floor_rt = median(t, iters);
	raw_close(&r);
	add("raw KVM: VM + memory + vCPU + first run", raw_create, 0, NULL, 0);
	add("raw KVM: port-I/O round trip (floor)", floor_rt, 0, NULL, 0);

	/* Sandbox creation from an ELF. */
	char path[4096];
	snprintf(path, sizeof path, "%s/simpleguest", dir);
	for (int i = 0; i < ncreate; i++) {
		hl_sandbox *sb;
		double t0 = now_us();
		hl_sandbox_new(NULL, &sb);
		int rc = hl_sandbox_load_file(sb, path);
		if (rc == 0)
			rc = hl_sandbox_init(sb);
		t[i] = now_us() - t0;
		if (rc != 0) {
			fprintf(stderr, "hl_bench: creating simpleguest: %s\n", hl_errmsg(sb));
			return 1;
		}
		hl_sandbox_free(sb);
	}
	add("sandbox cold creation (load + init)", median(t, ncreate), raw_create,
	    "within 1.5x of raw creation (issue 4)", 1.5);

	hl_sandbox *sb = open_guest(dir, "simpleguest");
	hl_sandbox *cb = open_guest(dir, "callbackguest");
	if (!sb || !cb)
		return 1;
	double noop = time_call(sb, "NoOp", NULL, 0, iters);
	add("guest call, no arguments (NoOp)", noop, floor_rt, "within 1.3x of the floor", 1.3);
	char kib[1024];
	memset(kib, 'k', sizeof kib);
	hl_value s = hl_string(kib, sizeof kib);
	add("guest call, echo a 1 KiB string", time_call(sb, "Echo", &s, 1, iters), floor_rt, NULL, 0);

	/* Host callbacks: one guest call making N host calls, minus the call itself. */
	int n = 1000;
	hl_value a = hl_i32(n);
	double loop = time_call(cb, "HostCallLoop", &a, 1, iters / 20 + 10);
	hl_value z = hl_i32(0);
	double loop0 = time_call(cb, "HostCallLoop", &z, 1, iters);
	add("host callback, per crossing", (loop - loop0) / n, floor_rt, "within 1.3x of the floor",
	    1.3);
	hl_sandbox_free(sb);
	hl_sandbox_free(cb);
	free(t);

	printf("%-45s %12s %10s  %s\n", "measurement", "median us", "x floor", "target");
	int missed = 0;
	for (int i = 0; i < nfigs; i++) {
		struct figure *f = &figs[i];
		if (f->floor_us > 0) {
			double ratio = f->us / f->floor_us;
			const char *verdict = "";
			if (f->target)
				verdict = ratio <= f->target_ratio ? "met" : "MISSED";
			if (f->target && ratio > f->target_ratio)
				missed++;
			printf("%-45s %12.2f %10.2f  %s%s%s\n", f->name, f->us, ratio,
			       f->target ? f->target : "", f->target ? ": " : "", verdict);
		} else {
			printf("%-45s %12.2f %10s\n", f->name, f->us, "-");
		}
	}
	if (json) {
		FILE *jf = fopen(json, "w");
		if (!jf) {
			fprintf(stderr, "hl_bench: cannot write %s: %s\n", json, strerror(errno));
			return 1;
		}
		fprintf(jf, "{\n  \"iterations\": %d,\n  \"figures\": [\n", iters);
		for (int i = 0; i < nfigs; i++)
			fprintf(jf, "    {\"name\": \"%s\", \"median_us\": %.3f, \"ratio_to_floor\": %.3f}%s\n",
			        figs[i].name, figs[i].us,
			        figs[i].floor_us > 0 ? figs[i].us / figs[i].floor_us : 0.0,
			        i + 1 < nfigs ? "," : "");
		fprintf(jf, "  ]\n}\n");
		fclose(jf);
	}
	printf("%d target(s) missed\n", missed);
	return 0;
}
