/*
 * bench.c - hl_bench: what a sandbox costs against the hypervisor's own floor, in one run.
 *
 * The floor is one exit round trip in the execution mode guests use
 * (hl_platform_probe's probe guest, on kvm-pvm entered natively as a
 * sandbox's guest is). Ratios to it are what transfer between machines;
 * absolute times do not.
 *
 * How it stays honest on a shared, noisy machine: every ratio is taken in
 * rounds. A round takes a fresh floor sample (or the ratio's other side)
 * and then the figure, each as the median of many samples after a
 * warm-up, and the ratio reported is the median of the rounds' ratios, so
 * slow drift of the load hits both sides of a ratio alike. The floor
 * samples of the whole run are printed with their spread. Figures taken
 * while other programs compete for the CPUs are still noisy: final figures
 * need a quiet machine.
 *
 * Usage: hl_bench [GUEST_DIR] [--quick] [--rounds N] [--iters N]
 *                 [--max-sandboxes N] [--memory-budget S] [--json FILE]
 * Exit status: 0 when it ran (whether or not the targets were met: the
 * figures are the output), 77 when guests cannot run on this machine,
 * 1 for a usage error or a setup that failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "sample_host.h"

/* ---- the floor ------------------------------------------------------------------- */

static double floor_samples[256];
static int nfloor;

double bench_floor_sample(void)
{
	hl_platform_info pi = {.size = sizeof pi};
	if (hl_platform_probe(&pi, HL_PROBE_MEASURE) < 0 || !pi.can_run || pi.exit_us <= 0)
		return -1;
	if (nfloor < (int)(sizeof floor_samples / sizeof floor_samples[0]))
		floor_samples[nfloor++] = pi.exit_us;
	return pi.exit_us;
}

/* ---- sandboxes --------------------------------------------------------------------- */

const char *bench_guest_path(const struct bench_opts *o, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", o->guest_dir, name);
	return buf;
}

hl_sandbox *bench_open(const struct bench_opts *o, const char *name, const hl_config *cfg)
{
	char path[4096];
	hl_sandbox *sb;
	if (hl_sandbox_new(cfg, &sb) != 0) {
		fprintf(stderr, "hl_bench: %s: out of memory\n", name);
		return NULL;
	}
	if (hl_sandbox_load_file(sb, bench_guest_path(o, name, path, sizeof path)) != 0 ||
	    hl_sample_host_register(sb) != 0 || hl_sandbox_init(sb) != 0) {
		fprintf(stderr, "hl_bench: %s: %s\n", path, hl_errmsg(sb));
		hl_sandbox_free(sb);
		return NULL;
	}
	return sb;
}

/* ---- results ------------------------------------------------------------------------ */

static struct bench_row rows[64];
static int nrows;
static struct bench_curve curves[8];
static int ncurves;

struct bench_row *bench_row_add(enum bench_table t, const char *key, const char *name)
{
	if (nrows == (int)(sizeof rows / sizeof rows[0])) {
		fprintf(stderr, "hl_bench: too many rows (%s)\n", key);
		exit(1);
	}
	struct bench_row *r = &rows[nrows++];
	memset(r, 0, sizeof *r);
	r->table = t;
	r->key = key;
	snprintf(r->name, sizeof r->name, "%s", name);
	r->value = r->base = r->ratio = r->limit = NAN;
	r->unit = "us";
	return r;
}

void bench_target_ratio(const char *key, const char *name, double value, double base,
                        const char *unit, double ratio, double limit, bool at_least,
                        const char *detail)
{
	struct bench_row *r = bench_row_add(BENCH_TARGET, key, name);
	r->value = value;
	r->base = base;
	r->unit = unit;
	r->ratio = ratio;
	r->limit = limit;
	r->at_least = at_least;
	if (detail)
		snprintf(r->detail, sizeof r->detail, "%s", detail);
	if (!isfinite(ratio))
		snprintf(r->missing, sizeof r->missing, "no ratio: a side of it was not measured");
}

void bench_reference(const char *key, const char *name, double value, const char *unit,
                     double floor_us)
{
	struct bench_row *r = bench_row_add(BENCH_REFERENCE, key, name);
	r->value = value;
	r->unit = unit;
	if (floor_us > 0 && strcmp(unit, "us") == 0) {
		r->base = floor_us;
		r->ratio = value / floor_us;
	}
	if (!isfinite(value))
		snprintf(r->missing, sizeof r->missing, "not measured");
}

void bench_missing(enum bench_table t, const char *key, const char *name, bool skipped,
                   const char *fmt, ...)
{
	struct bench_row *r = bench_row_add(t, key, name);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->missing, sizeof r->missing, fmt, ap);
	va_end(ap);
	r->skipped = skipped;
}

struct bench_curve *bench_curve_add(const char *key, const char *title)
{
	if (ncurves == (int)(sizeof curves / sizeof curves[0])) {
		fprintf(stderr, "hl_bench: too many curves (%s)\n", key);
		exit(1);
	}
	struct bench_curve *c = &curves[ncurves++];
	memset(c, 0, sizeof *c);
	c->key = key;
	c->title = title;
	return c;
}

void bench_curve_col(struct bench_curve *c, const char *name, const char *fmt)
{
	if (c->ncols < BENCH_CURVE_COLS) {
		c->cols[c->ncols] = name;
		c->fmt[c->ncols++] = fmt;
	}
}

int bench_curve_row(struct bench_curve *c)
{
	if (c->nrows == BENCH_CURVE_ROWS) {
		fprintf(stderr, "hl_bench: too many rows in %s\n", c->key);
		exit(1);
	}
	int i = c->nrows++;
	for (int k = 0; k < BENCH_CURVE_COLS; k++)
		c->v[i][k] = NAN;
	c->note[i][0] = '\0';
	return i;
}

/* ---- the raw floor: bare KVM ioctls ---------------------------------------------------- */

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

/* VM + 64 KiB memory + vCPU in real mode at 0x1000 running `out 0x10,al; jmp .-2`:
 * the least a VM that runs anything costs. */
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
	struct kvm_userspace_memory_region reg = {.slot = 0,
	                                          .guest_phys_addr = 0,
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

/* Microseconds for VM + memory + vCPU + the first run to its first exit
 * (closing it is not counted); negative when KVM fails. */
static double raw_create_us(void)
{
	struct raw_vm r;
	double t0 = timing_now_us();
	int ok = raw_open(&r) == 0 && raw_round_trip(&r) == 0;
	double t = timing_now_us() - t0;
	raw_close(&r);
	return ok ? t : -1;
}

/* ---- call-level figures ------------------------------------------------------------------ */

static char first_error[512];

static void note_error(const char *what, hl_sandbox *sb)
{
	if (!first_error[0])
		snprintf(first_error, sizeof first_error, "%s: %s", what,
		         sb ? hl_errmsg(sb) : "failed");
}

/* Median microseconds of n calls of fn(args) after a warm-up; -1 on error. */
static double time_calls(hl_sandbox *sb, const char *fn, const hl_value *args, size_t nargs, int n,
                         double *t)
{
	for (int i = 0; i < n / 10 + 2; i++)
		hl_call(sb, fn, args, nargs, NULL);
	for (int i = 0; i < n; i++) {
		double t0 = timing_now_us();
		int r = hl_call(sb, fn, args, nargs, NULL);
		t[i] = timing_now_us() - t0;
		if (r != 0) {
			note_error(fn, sb);
			return -1;
		}
	}
	return timing_median(t, n);
}

/* Median microseconds of n fresh-state calls: restore to `snap`, then
 * DirtyPages(8). With the stack, input and output pages the previous
 * call wrote, the restore puts back at most 16 pages. */
static double time_fresh(hl_sandbox *sb, hl_snapshot *snap, int n, double *t)
{
	hl_value eight = hl_i32(8);
	for (int i = 0; i < n / 10 + 2; i++)
		hl_call_fresh(sb, snap, "DirtyPages", &eight, 1, NULL);
	for (int i = 0; i < n; i++) {
		double t0 = timing_now_us();
		int r = hl_call_fresh(sb, snap, "DirtyPages", &eight, 1, NULL);
		t[i] = timing_now_us() - t0;
		if (r != 0) {
			note_error("fresh-state call", sb);
			return -1;
		}
	}
	return timing_median(t, n);
}

/* One host callback: HostCallLoop(K) makes K host calls in one guest call;
 * the difference to HostCallLoop(0), divided by K, is one crossing (guest
 * to host and back, with the argument and result records). K is small so
 * that a sample (~K exits) is short: long samples on a shared machine are
 * the ones a preemption lands in, and the median cannot shed what most
 * samples contain. */
#define CALLBACK_LOOP 16

static double per_crossing(hl_sandbox *cb, int n, double *t)
{
	hl_value k = hl_i32(CALLBACK_LOOP), z = hl_i32(0);
	double loop = time_calls(cb, "HostCallLoop", &k, 1, n, t);
	double loop0 = time_calls(cb, "HostCallLoop", &z, 1, n, t);
	if (loop < 0 || loop0 < 0)
		return -1;
	return (loop - loop0) / CALLBACK_LOOP;
}

struct spin_arg {
	hl_sandbox *sb;
	atomic_int phase; /* 1: calling, 2: returned */
	int rc;
	double returned;
};

static void *spin_thread(void *p)
{
	struct spin_arg *a = p;
	atomic_store(&a->phase, 1);
	a->rc = hl_call(a->sb, "Spin", NULL, 0, NULL);
	a->returned = timing_now_us();
	atomic_store(&a->phase, 2);
	return NULL;
}

/* Median microseconds from hl_interrupt_cancel (the one that found the
 * call running) to hl_call returning HL_E_CANCELLED on the calling thread,
 * over n calls of Spin, a guest loop that never exits on its own. */
static double cancel_latency(hl_sandbox *cs, hl_interrupt *h, int n, double *t)
{
	for (int i = 0; i < n; i++) {
		struct spin_arg a = {.sb = cs};
		pthread_t th;
		if (pthread_create(&th, NULL, spin_thread, &a) != 0) {
			note_error("cancel: pthread_create", NULL);
			return -1;
		}
		while (atomic_load(&a.phase) == 0)
			usleep(100);
		usleep(2000); /* in the guest's loop by now */
		double t0;
		int c;
		do {
			t0 = timing_now_us();
			c = hl_interrupt_cancel(h);
		} while (c == 0 && atomic_load(&a.phase) != 2);
		pthread_join(th, NULL);
		if (c != 1 || a.rc != HL_E_CANCELLED) {
			note_error("cancel: the call was not cancelled", cs);
			return -1;
		}
		t[i] = a.returned - t0;
		if (hl_sandbox_reset(cs) != 0) {
			note_error("cancel: reset", cs);
			return -1;
		}
	}
	return timing_median(t, n);
}

/* Median of the rounds' a[r] / b[r] over the rounds where both were measured. */
static double ratio_of_rounds(const double *a, const double *b, int rounds)
{
	double q[256];
	int n = 0;
	for (int r = 0; r < rounds && n < 256; r++)
		if (a[r] > 0 && b[r] > 0)
			q[n++] = a[r] / b[r];
	return n == rounds ? timing_median(q, n) : NAN;
}

/* The median of the rounds' values, NAN if a round failed. */
static double rounds_median(const double *v, int rounds)
{
	for (int r = 0; r < rounds; r++)
		if (!(v[r] >= 0))
			return NAN;
	return timing_median_of(v, rounds);
}

static void target_vs_floor(const char *key, const char *name, const double *v, const double *fl,
                            int rounds, double limit, const char *why)
{
	const char *err = first_error[0] ? first_error : "not measured";
	double m = rounds_median(v, rounds), f = rounds_median(fl, rounds);
	if (!isfinite(m)) {
		bench_missing(BENCH_TARGET, key, name, false, "%s", err);
		return;
	}
	bench_target_ratio(key, name, m, f, "us", ratio_of_rounds(v, fl, rounds), limit, false, why);
}

static void call_figures(struct bench_ctx *cx, hl_sandbox *sb, hl_sandbox *cb)
{
	const struct bench_opts *o = cx->o;
	int R = o->rounds, n = o->iters, ncancel = o->quick ? 3 : 10;
	double fl[R], noop[R], echo[R], cbk[R], fresh[R], can[R];
	double *t = malloc(sizeof *t * (size_t)(n > 64 ? n : 64));
	char kib[1024];
	memset(kib, 'k', sizeof kib);
	hl_value s = hl_string(kib, sizeof kib);

	/* Cancel needs a signal to kick the vCPU out of the guest. */
	int signo = SIGRTMIN + 2;
	hl_install_interrupt_handler(signo);
	hl_config cc;
	hl_config_init(&cc);
	cc.interrupt_signal = signo;
	hl_sandbox *cs = bench_open(o, "simpleguest", &cc);
	hl_interrupt *h = NULL;
	if (cs && hl_sandbox_interrupt_handle(cs, &h) != 0)
		h = NULL;

	for (int r = 0; r < R; r++) {
		fl[r] = bench_floor_sample();
		noop[r] = time_calls(sb, "NoOp", NULL, 0, n, t);
		echo[r] = time_calls(sb, "Echo", &s, 1, n, t);
		cbk[r] = per_crossing(cb, n, t);
		fresh[r] = time_fresh(sb, cx->snap, n, t);
		can[r] = h ? cancel_latency(cs, h, ncancel, t) : -1;
	}
	target_vs_floor("call_noop", "guest call, no arguments / floor", noop, fl, R, 1.2,
	                "NoOp: one exit round trip, the call encoded and its result checked");
	target_vs_floor("host_callback", "host callback, per crossing / floor", cbk, fl, R, 1.2,
	                "(HostCallLoop(16) - HostCallLoop(0)) / 16");
	target_vs_floor("fresh_call", "fresh-state call (restore <= 16 pages + call) / floor",
	                fresh, fl, R, 2.0, "hl_call_fresh of DirtyPages(8) after the same call");
	if (!h)
		bench_missing(BENCH_TARGET, "cancel",
		              "cancel latency (cancel -> the call returns) / floor", false,
		              "no sandbox with an interrupt signal: %s",
		              cs ? hl_errmsg(cs) : "load failed");
	else
		target_vs_floor("cancel", "cancel latency (cancel -> the call returns) / floor",
		                can, fl, R, 2.0, "a guest loop cancelled from another thread");
	bench_reference("call_echo_1k", "guest call, echo a 1 KiB string", rounds_median(echo, R),
	                "us", rounds_median(fl, R));
	cx->fresh_us = rounds_median(fresh, R);
	cx->floor_us = rounds_median(fl, R);
	hl_interrupt_free(h);
	hl_sandbox_free(cs);
	free(t);
}

/* ---- creation ------------------------------------------------------------------------ */

/* Microseconds of new + load + init of benchguest (free not counted), and
 * the parts: *init_us the init call, *guest_us the guest's own
 * initialisation by its clock (InitNs: from its first instruction to the
 * end of main()'s registrations). Negative on failure. */
static double cold_create_us(const struct bench_opts *o, const hl_config *cfg, double *init_us,
                             double *guest_us)
{
	char path[4096];
	hl_sandbox *sb;
	bench_guest_path(o, "benchguest", path, sizeof path);
	double t0 = timing_now_us();
	if (hl_sandbox_new(cfg, &sb) != 0)
		return -1;
	int rc = hl_sandbox_load_file(sb, path);
	double t1 = timing_now_us();
	if (rc == 0)
		rc = hl_sandbox_init(sb);
	double t2 = timing_now_us();
	hl_value v;
	if (rc == 0)
		rc = hl_call(sb, "InitNs", NULL, 0, &v);
	if (rc != 0) {
		note_error("cold creation", sb);
		hl_sandbox_free(sb);
		return -1;
	}
	*init_us = t2 - t1;
	*guest_us = (double)v.u.i64 / 1e3;
	hl_sandbox_free(sb);
	return t2 - t0;
}

/* Microseconds from hl_sandbox_new_from_snapshot to the first NoOp's result. */
static double from_snapshot_us(hl_snapshot *snap)
{
	hl_sandbox *sb;
	double t0 = timing_now_us();
	int rc = hl_sandbox_new_from_snapshot(snap, NULL, &sb);
	if (rc == 0)
		rc = hl_call(sb, "NoOp", NULL, 0, NULL);
	double t = timing_now_us() - t0;
	if (rc != 0)
		note_error("sandbox from a snapshot", sb);
	hl_sandbox_free(sb);
	return rc == 0 ? t : -1;
}

/* Microseconds of hl_platform_probe without measuring: open /dev/kvm, a VM
 * made as a sandbox's is, the entry into the guests' execution mode and a
 * first run of a few instructions. */
static double probe_create_us(void)
{
	hl_platform_info pi = {.size = sizeof pi};
	double t0 = timing_now_us();
	int rc = hl_platform_probe(&pi, 0);
	double t = timing_now_us() - t0;
	return rc == 0 && pi.can_run ? t : -1;
}

static void creation_figures(struct bench_ctx *cx)
{
	const struct bench_opts *o = cx->o;
	int R = o->rounds, k = o->quick ? 2 : 6;
	double raw[R], snapc[R], cold[R], denom[R], init[R], guest[R], probe[R];
	double tr[16], ts[16], tc[16], ti[16], tg[16], tp[16];
	bool clock_ok = true;

	for (int r = 0; r < R; r++) {
		/* Interleaved sample by sample: the four see the same load. */
		for (int i = 0; i < k; i++) {
			tr[i] = raw_create_us();
			ts[i] = from_snapshot_us(cx->bsnap);
			tc[i] = cold_create_us(o, NULL, &ti[i], &tg[i]);
			tp[i] = probe_create_us();
			/* The guest's clock runs from its TSC at KVM's rate: if it
			 * says init took longer than the host saw, it is wrong. */
			if (tc[i] > 0 && tg[i] > ti[i])
				clock_ok = false;
		}
		raw[r] = rounds_median(tr, k);
		snapc[r] = rounds_median(ts, k);
		cold[r] = rounds_median(tc, k);
		init[r] = rounds_median(ti, k);
		guest[r] = rounds_median(tg, k);
		probe[r] = rounds_median(tp, k);
		denom[r] = raw[r] + guest[r];
		if (!isfinite(raw[r]) || !isfinite(snapc[r]))
			raw[r] = snapc[r] = -1;
		if (!isfinite(cold[r]) || !isfinite(denom[r]))
			cold[r] = denom[r] = -1;
	}
	double mraw = rounds_median(raw, R);
	char detail[160];
	if (isfinite(mraw))
		bench_target_ratio("from_snapshot",
		                   "sandbox from a snapshot to its first result / raw VM + first run",
		                   rounds_median(snapc, R), mraw, "us",
		                   ratio_of_rounds(snapc, raw, R), 1.5, false,
		                   "benchguest: hl_sandbox_new_from_snapshot + NoOp; raw: bare KVM ioctls");
	else
		bench_missing(BENCH_TARGET, "from_snapshot",
		              "sandbox from a snapshot to its first result / raw VM + first run",
		              false, "%s", first_error[0] ? first_error : "raw KVM failed");
	snprintf(detail, sizeof detail,
	         "benchguest; raw VM %.0f us + the guest's own init %.0f us%s", mraw,
	         rounds_median(guest, R), clock_ok ? "" : " (GUEST CLOCK IMPLAUSIBLE)");
	if (isfinite(rounds_median(cold, R)))
		bench_target_ratio("cold_creation",
		                   "cold creation (load + init) / raw VM + the guest's own init",
		                   rounds_median(cold, R), rounds_median(denom, R), "us",
		                   ratio_of_rounds(cold, denom, R), 1.5, false, detail);
	else
		bench_missing(BENCH_TARGET, "cold_creation",
		              "cold creation (load + init) / raw VM + the guest's own init", false,
		              "%s", first_error[0] ? first_error : "not measured");
	bench_reference("raw_create", "raw KVM: VM + 64 KiB + vCPU + first run (real mode)", mraw,
	                "us", 0);
	bench_reference("probe_create", "VM + entry into the guests' mode + first run (probe)",
	                rounds_median(probe, R), "us", 0);
	bench_reference("cold_init", "  cold creation: hl_sandbox_init as the host sees it",
	                rounds_median(init, R), "us", 0);
	bench_reference("guest_init", "  cold creation: the guest's own init, by its clock",
	                rounds_median(guest, R), "us", 0);
}

/* The exit round trip of a real-mode guest driven by bare ioctls: on
 * kvm-pvm it runs in the CPL-0 emulator, a different (cheaper) path than
 * the guests' native mode, so it is a reference, not the floor. */
static void raw_round_trip_figure(int n)
{
	struct raw_vm r;
	double *t = malloc(sizeof *t * (size_t)n);
	if (!t || raw_open(&r) != 0) {
		bench_reference("raw_round_trip", "raw KVM: exit round trip, real-mode guest", NAN,
		                "us", 0);
		free(t);
		return;
	}
	for (int i = 0; i < n / 10 + 10; i++)
		raw_round_trip(&r);
	for (int i = 0; i < n; i++) {
		double t0 = timing_now_us();
		raw_round_trip(&r);
		t[i] = timing_now_us() - t0;
	}
	raw_close(&r);
	bench_reference("raw_round_trip", "raw KVM: exit round trip, real-mode guest",
	                timing_median(t, n), "us", 0);
	free(t);
}

/* ---- output ------------------------------------------------------------------------------- */

static const char *fmt_value(double v, const char *unit, char *buf, size_t len)
{
	if (!isfinite(v))
		snprintf(buf, len, "-");
	else if (strcmp(unit, "us") == 0 && v >= 10000)
		snprintf(buf, len, "%.2f ms", v / 1000);
	else if (strcmp(unit, "us") == 0)
		snprintf(buf, len, "%.1f us", v);
	else if (strcmp(unit, "calls/s") == 0)
		snprintf(buf, len, "%.0f/s", v);
	else if (strcmp(unit, "x") == 0)
		snprintf(buf, len, "%.2fx", v);
	else
		snprintf(buf, len, "%.1f %s", v, unit);
	return buf;
}

/* 1 met, 0 missed, -1 no verdict. */
static int verdict(const struct bench_row *r)
{
	if (r->table != BENCH_TARGET || r->missing[0])
		return -1;
	double x = r->amount ? r->value : r->ratio;
	return r->at_least ? x >= r->limit : x <= r->limit;
}

static double missed_by(const struct bench_row *r)
{
	double x = r->amount ? r->value : r->ratio;
	return r->at_least ? r->limit / x : x / r->limit;
}

static void print_rows(enum bench_table t)
{
	char a[32], b[32], m[80], tg[32];
	for (int i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];
		if (r->table != t)
			continue;
		if (r->missing[0]) {
			printf("  %-68s %s: %s\n", r->name, r->skipped ? "skipped" : "not measured",
			       r->missing);
			continue;
		}
		fmt_value(r->value, r->unit, a, sizeof a);
		if (t == BENCH_TARGET) {
			if (isfinite(r->base))
				snprintf(m, sizeof m, "%s / %s", a,
				         fmt_value(r->base, r->unit, b, sizeof b));
			else
				snprintf(m, sizeof m, "%s", a);
			if (r->amount)
				snprintf(tg, sizeof tg, "%s %s", r->at_least ? ">=" : "<=",
				         fmt_value(r->limit, r->unit, b, sizeof b));
			else
				snprintf(tg, sizeof tg, "%s %.1fx",
				         r->at_least ? ">=" : "<=", r->limit);
			char ratio[16] = "-";
			if (!r->amount)
				snprintf(ratio, sizeof ratio, "%.2fx", r->ratio);
			printf("  %-68s %-24s %8s  %-11s ", r->name, m, ratio, tg);
			if (verdict(r))
				printf("met\n");
			else
				printf("MISSED by %.2fx\n", missed_by(r));
			if (r->detail[0])
				printf("  %-68s   %s\n", "", r->detail);
		} else {
			char ratio[24] = "";
			if (isfinite(r->ratio))
				snprintf(ratio, sizeof ratio, "%.2fx", r->ratio);
			printf("  %-68s %-24s %8s\n", r->name, a, ratio);
		}
	}
}

static void print_curve(const struct bench_curve *c)
{
	printf("\n%s\n ", c->title);
	for (int k = 0; k < c->ncols; k++)
		printf(" %14s", c->cols[k]);
	printf("\n");
	for (int i = 0; i < c->nrows; i++) {
		printf(" ");
		for (int k = 0; k < c->ncols; k++) {
			char cell[32] = "-";
			if (isfinite(c->v[i][k]))
				snprintf(cell, sizeof cell, c->fmt[k], c->v[i][k]);
			printf(" %14s", cell);
		}
		if (c->note[i][0])
			printf("  %s", c->note[i]);
		printf("\n");
	}
	if (c->footer[0])
		printf("  %s\n", c->footer);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fprintf(f, "null");
}

static int write_json(const char *path, const struct bench_opts *o, const hl_platform_info *pi)
{
	static const char *tables[] = {"target", "reference", "alternative"};
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "hl_bench: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\n  \"platform\": ");
	json_str(f, pi->name);
	fprintf(f, ",\n  \"mode\": ");
	json_str(f, pi->mode);
	fprintf(f, ",\n  \"quick\": %s,\n  \"rounds\": %d,\n  \"iterations\": %d,\n",
	        o->quick ? "true" : "false", o->rounds, o->iters);
	fprintf(f, "  \"floor_us\": ");
	json_num(f, timing_median_of(floor_samples, nfloor));
	fprintf(f, ",\n  \"floor_samples_us\": [");
	for (int i = 0; i < nfloor; i++) {
		fprintf(f, i ? ", " : "");
		json_num(f, floor_samples[i]);
	}
	fprintf(f, "],\n  \"figures\": [\n");
	for (int i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];
		int v = verdict(r);
		fprintf(f, "    {\"table\": \"%s\", \"key\": ", tables[r->table]);
		json_str(f, r->key);
		fprintf(f, ", \"name\": ");
		json_str(f, r->name);
		fprintf(f, ", \"value\": ");
		json_num(f, r->missing[0] ? NAN : r->value);
		fprintf(f, ", \"unit\": ");
		json_str(f, r->unit);
		fprintf(f, ", \"base\": ");
		json_num(f, r->missing[0] ? NAN : r->base);
		fprintf(f, ", \"ratio\": ");
		json_num(f, r->missing[0] ? NAN : r->ratio);
		if (r->table == BENCH_TARGET) {
			fprintf(f, ", \"target\": \"%s %g%s%s\", \"met\": %s",
			        r->at_least ? ">=" : "<=", r->limit, r->amount ? " " : "",
			        r->amount ? r->unit : "x",
			        v < 0 ? "null"
			        : v   ? "true"
			              : "false");
		}
		if (r->detail[0]) {
			fprintf(f, ", \"detail\": ");
			json_str(f, r->detail);
		}
		if (r->missing[0]) {
			fprintf(f, ", \"%s\": ", r->skipped ? "skipped" : "not_measured");
			json_str(f, r->missing);
		}
		fprintf(f, "}%s\n", i + 1 < nrows ? "," : "");
	}
	fprintf(f, "  ],\n  \"curves\": {\n");
	for (int i = 0; i < ncurves; i++) {
		const struct bench_curve *c = &curves[i];
		fprintf(f, "    ");
		json_str(f, c->key);
		fprintf(f, ": {\"title\": ");
		json_str(f, c->title);
		fprintf(f, ", \"columns\": [");
		for (int k = 0; k < c->ncols; k++) {
			fprintf(f, k ? ", " : "");
			json_str(f, c->cols[k]);
		}
		fprintf(f, "],\n      \"rows\": [");
		for (int j = 0; j < c->nrows; j++) {
			fprintf(f, "%s[", j ? ", " : "");
			for (int k = 0; k < c->ncols; k++) {
				fprintf(f, k ? ", " : "");
				json_num(f, c->v[j][k]);
			}
			fprintf(f, "]");
		}
		fprintf(f, "],\n      \"notes\": [");
		for (int j = 0; j < c->nrows; j++) {
			fprintf(f, j ? ", " : "");
			json_str(f, c->note[j]);
		}
		fprintf(f, "], \"footer\": ");
		json_str(f, c->footer);
		fprintf(f, "}%s\n", i + 1 < ncurves ? "," : "");
	}
	fprintf(f, "  }\n}\n");
	if (fclose(f) != 0) {
		fprintf(stderr, "hl_bench: writing %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void summary(void)
{
	int targets = 0, met = 0, missed = 0, absent = 0, skipped = 0;
	char names[1024] = "";
	size_t off = 0;
	for (int i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];
		if (r->missing[0]) {
			if (r->skipped)
				skipped++;
			else
				absent++;
		}
		if (r->table != BENCH_TARGET)
			continue;
		targets++;
		int v = verdict(r);
		if (v == 1)
			met++;
		if (v == 0) {
			missed++;
			if (off < sizeof names)
				off += (size_t)snprintf(names + off, sizeof names - off, "%s%s",
				                        off ? "; " : "", r->key);
		}
	}
	printf("\nhl_bench summary: %d targets: %d met, %d MISSED%s%s%s; ", targets, met, missed,
	       missed ? " (" : "", names, missed ? ")" : "");
	if (absent)
		printf("%d figure(s) NOT MEASURED", absent);
	else
		printf("every figure measured");
	if (skipped)
		printf(", %d skipped with the reason", skipped);
	printf("\n");
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
	        "usage: hl_bench [GUEST_DIR] [--quick] [--rounds N] [--iters N] [--max-sandboxes N]\n"
	        "                [--memory-budget S] [--json FILE]\n"
	        "  GUEST_DIR         the sample guests (default: $HYPERLIGHT_GUEST_DIR, then the build's)\n"
	        "  --quick           the same figures with fewer samples (CI: ~30 s)\n"
	        "  --rounds N        interleaved rounds behind each ratio (default 5, quick 3)\n"
	        "  --iters N         samples per round of a call-level figure (default 400, quick 60)\n"
	        "  --max-sandboxes N the memory curve's last point (default 10000, quick 1000)\n"
	        "  --memory-budget S ... unless making them takes longer (default 60 s, quick 20 s;\n"
	        "                    freeing them takes about as long again)\n"
	        "  --json FILE       also write every figure and curve as JSON\n");
}

static int positive(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return *end || v <= 0 || v > 1000000 ? -1 : (int)v;
}

int main(int argc, char **argv)
{
	struct bench_opts o = {.guest_dir = getenv("HYPERLIGHT_GUEST_DIR")};
	int rounds = 0, iters = 0, maxsb = 0, budget = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int *num = strcmp(a, "--rounds") == 0          ? &rounds
		           : strcmp(a, "--iters") == 0         ? &iters
		           : strcmp(a, "--max-sandboxes") == 0 ? &maxsb
		           : strcmp(a, "--memory-budget") == 0 ? &budget
		                                               : NULL;
		if (num && i + 1 < argc && (*num = positive(argv[i + 1])) > 0)
			i++;
		else if (strcmp(a, "--json") == 0 && i + 1 < argc)
			o.json = argv[++i];
		else if (strcmp(a, "--quick") == 0)
			o.quick = true;
		else if (a[0] != '-' && !num)
			o.guest_dir = a;
		else {
			usage();
			return 1;
		}
	}
	if (!o.guest_dir)
		o.guest_dir = HL_GUEST_DIR;
	o.rounds = rounds ? rounds : o.quick ? 3 : 5;
	if (o.rounds > 64)
		o.rounds = 64;
	o.iters = iters ? iters : o.quick ? 60 : 400;
	if (o.iters < 10)
		o.iters = 10;
	o.max_sandboxes = maxsb ? maxsb : o.quick ? 1000 : 10000;
	o.memory_budget = budget ? budget : o.quick ? 20 : 60;
	setvbuf(stdout, NULL, _IOLBF, 0);

	hl_platform_info pi = {.size = sizeof pi};
	if (hl_platform_probe(&pi, 0) < 0 || !pi.can_run) {
		fprintf(stderr, "hl_bench: guests cannot run here: %s\n", pi.reason);
		return 77;
	}
	if (raw_create_us() < 0) {
		fprintf(stderr, "hl_bench: bare KVM ioctls fail here: %s\n", strerror(errno));
		return 77;
	}
	printf("hl_bench: %s: %s\n", pi.name, pi.mode);
	printf("%s run: %d rounds, %d samples per round for call figures; medians throughout.\n"
	       "A ratio is the median over the rounds of each round's ratio; its two sides were\n"
	       "measured in the same round. Taken on a busy machine, figures are noisy.\n",
	       o.quick ? "quick" : "default", o.rounds, o.iters);
	double t_start = timing_now_us();

	/* simpleguest and callbackguest for calls, benchguest for creation,
	 * restores and growth (docs/performance.md says which figure uses which). */
	hl_sandbox *sb = bench_open(&o, "simpleguest", NULL);
	hl_sandbox *cb = bench_open(&o, "callbackguest", NULL);
	hl_sandbox *bg = bench_open(&o, "benchguest", NULL);
	struct bench_ctx cx = {.o = &o};
	if (!sb || !cb || !bg || hl_sandbox_snapshot(sb, &cx.snap) != 0 ||
	    hl_sandbox_snapshot(bg, &cx.bsnap) != 0) {
		fprintf(stderr, "hl_bench: cannot set up the guests in %s\n", o.guest_dir);
		return 1;
	}
	hl_sandbox_free(bg);
	call_figures(&cx, sb, cb);
	hl_sandbox_free(cb);
	creation_figures(&cx);
	raw_round_trip_figure(o.iters * 2);
	bench_alternatives(&cx, sb);
	hl_sandbox_free(sb);
	bench_curves(&cx);
	hl_snapshot_free(cx.snap);
	hl_snapshot_free(cx.bsnap);

	double fmin = INFINITY, fmax = 0;
	for (int i = 0; i < nfloor; i++) {
		fmin = fmin < floor_samples[i] ? fmin : floor_samples[i];
		fmax = fmax > floor_samples[i] ? fmax : floor_samples[i];
	}
	printf("\nfloor: %.2f us per exit round trip in the guests' mode (median of %d probes of "
	       "2000 exits each, spread %.2f .. %.2f us)\n",
	       timing_median_of(floor_samples, nfloor), nfloor, fmin, fmax);
	printf("\nTargets (issue 12)\n  %-68s %-24s %8s  %-11s %s\n", "figure", "measured", "ratio",
	       "target", "verdict");
	print_rows(BENCH_TARGET);
	printf("\nReference (no target; x: ratio to the floor)\n");
	print_rows(BENCH_REFERENCE);
	printf("\nAlternatives (x: the alternative's time / our fresh-state call's)\n");
	print_rows(BENCH_ALTERNATIVE);
	for (int i = 0; i < ncurves; i++)
		print_curve(&curves[i]);
	printf("\nrun time: %.1f s\n", (timing_now_us() - t_start) / 1e6);
	summary();
	if (o.json && write_json(o.json, &o, &pi) != 0)
		return 1;
	return 0;
}
