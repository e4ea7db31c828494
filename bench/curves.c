/*
 * curves.c - how the costs grow: restore against dirtied pages and against sandbox
 * size, creation against heap size, throughput against threads, resident memory
 * against the number of sandboxes; and the targets measured along them.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

#define MIB (1024.0 * 1024.0)

/* ---- restores ---------------------------------------------------------------------- */

/* Median microseconds of n restores to `snap`, each after a call of
 * fn(pages) that dirtied the pages (the call is timed into *call_us, its
 * median, when call_us is not NULL). A few unmeasured pairs first, so
 * that the library's idea of the pages every request writes has settled. */
static double restore_after(hl_sandbox *sb, hl_snapshot *snap, const char *fn, int pages, int n,
                            double *call_us)
{
	double *t = malloc(sizeof *t * (size_t)n), *c = malloc(sizeof *c * (size_t)n);
	hl_value a = hl_i32(pages);
	double m = -1;
	if (!t || !c)
		goto out;
	for (int i = 0; i < 3; i++)
		if (hl_call(sb, fn, &a, 1, NULL) != 0 || hl_sandbox_restore(sb, snap) != 0)
			goto fail;
	for (int i = 0; i < n; i++) {
		double t0 = timing_now_us();
		if (hl_call(sb, fn, &a, 1, NULL) != 0)
			goto fail;
		double t1 = timing_now_us();
		if (hl_sandbox_restore(sb, snap) != 0)
			goto fail;
		t[i] = timing_now_us() - t1;
		c[i] = t1 - t0;
	}
	m = timing_median(t, n);
	if (call_us)
		*call_us = timing_median(c, n);
	goto out;
fail:
	fprintf(stderr, "hl_bench: %s(%d) + restore: %s\n", fn, pages, hl_errmsg(sb));
out:
	free(t);
	free(c);
	return m;
}

/* A ready benchguest with `heap` bytes of heap, or NULL with the reason in err. */
static hl_sandbox *open_heap(const struct bench_opts *o, uint64_t heap, char *err, size_t len)
{
	char path[4096];
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.heap_size = heap;
	hl_sandbox *sb;
	if (hl_sandbox_new(&cfg, &sb) != 0) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	int rc = hl_sandbox_load_file(sb, bench_guest_path(o, "benchguest", path, sizeof path));
	if (rc == 0)
		rc = hl_sandbox_init(sb);
	if (rc != 0) {
		snprintf(err, len, "%s", hl_errmsg(sb));
		hl_sandbox_free(sb);
		return NULL;
	}
	return sb;
}

static const int size_mib[] = {1, 4, 16, 64, 256, 768, 1024};
#define NSIZES ((int)(sizeof size_mib / sizeof size_mib[0]))

struct sized {
	hl_sandbox *sb;
	hl_snapshot *snap;
	char err[240];
};

/* Restore time against the sandbox's size, 1 and 16 pages dirtied, and the
 * target "restore 256 MiB / 1 MiB, same pages" from the same rounds. */
static void restore_vs_size(struct bench_ctx *cx, struct sized *sz)
{
	const struct bench_opts *o = cx->o;
	int R = o->rounds, n = o->iters / 4 < 10 ? 10 : o->iters / 4;
	double t1[NSIZES][64], t16[NSIZES][64];
	for (int r = 0; r < R; r++)
		for (int s = 0; s < NSIZES; s++) {
			t1[s][r] = t16[s][r] = -1;
			if (!sz[s].sb)
				continue;
			t1[s][r] = restore_after(sz[s].sb, sz[s].snap, "DirtyPages", 1, n, NULL);
			t16[s][r] = restore_after(sz[s].sb, sz[s].snap, "DirtyPages", 16, n, NULL);
		}
	struct bench_curve *c = bench_curve_add(
		"restore_vs_size",
		"Restore against sandbox size (benchguest: heap size; DirtyPages(n), then restore)");
	bench_curve_col(c, "heap MiB", "%.0f");
	bench_curve_col(c, "1 page us", "%.1f");
	bench_curve_col(c, "16 pages us", "%.1f");
	bench_curve_col(c, "1 page x floor", "%.2f");
	bench_curve_col(c, "1p / 1 MiB", "%.2f");
	bench_curve_col(c, "16p / 1 MiB", "%.2f");
	double q[64];
	for (int s = 0; s < NSIZES; s++) {
		int i = bench_curve_row(c);
		c->v[i][0] = size_mib[s];
		if (!sz[s].sb) {
			snprintf(c->note[i], sizeof c->note[i], "refused: %.230s", sz[s].err);
			continue;
		}
		c->v[i][1] = timing_median_of(t1[s], R);
		c->v[i][2] = timing_median_of(t16[s], R);
		c->v[i][3] = c->v[i][1] / cx->floor_us;
		for (int p = 0; p < 2 && sz[0].sb; p++) {
			double(*t)[64] = p ? t16 : t1;
			int k = 0;
			for (int r = 0; r < R; r++)
				if (t[s][r] > 0 && t[0][r] > 0)
					q[k++] = t[s][r] / t[0][r];
			c->v[i][4 + p] = k == R ? timing_median(q, k) : NAN;
		}
	}
	/* The target, from the same rounds: sizes[0] is 1 MiB, sizes[4] 256 MiB. */
	for (int p = 0; p < 2; p++) {
		const char *key = p ? "restore_256_vs_1_16pages" : "restore_256_vs_1_1page";
		const char *name = p ? "restore 256 MiB / 1 MiB sandbox, 16 pages dirtied"
		                     : "restore 256 MiB / 1 MiB sandbox, 1 page dirtied";
		if (!sz[0].sb || !sz[4].sb) {
			bench_missing(BENCH_TARGET, key, name, false, "%s",
			              sz[0].sb ? sz[4].err : sz[0].err);
			continue;
		}
		double(*t)[64] = p ? t16 : t1;
		bench_target_ratio(key, name, timing_median_of(t[4], R), timing_median_of(t[0], R),
		                   "us", c->v[4][4 + p], 1.1, false,
		                   "the two sizes interleaved, round by round");
	}
	snprintf(c->footer, sizeof c->footer,
	         "%d restores per cell per round; 1024 MiB is beyond hl_config's heap limit (768 MiB)",
	         n);
}

/* Restore time against dirtied pages, 1 to 4096, on a 32 MiB heap. */
static void restore_vs_pages(struct bench_ctx *cx)
{
	static const int pages[] = {1, 4, 16, 64, 256, 1024, 4096};
	enum { NP = sizeof pages / sizeof pages[0] };
	const struct bench_opts *o = cx->o;
	int R = o->rounds, k = o->quick ? 3 : 8;
	struct bench_curve *c = bench_curve_add(
		"restore_vs_pages",
		"Restore against dirtied pages (benchguest, 32 MiB heap; DirtyHeapPages(n), then restore)");
	bench_curve_col(c, "pages", "%.0f");
	bench_curve_col(c, "restore us", "%.1f");
	bench_curve_col(c, "x floor", "%.2f");
	bench_curve_col(c, "us per page", "%.2f"); /* above the 1-page restore */
	bench_curve_col(c, "dirtying call us", "%.1f");
	char err[240];
	hl_sandbox *sb = open_heap(o, 32u << 20, err, sizeof err);
	hl_snapshot *snap = NULL;
	if (sb && hl_sandbox_snapshot(sb, &snap) != 0) {
		snprintf(err, sizeof err, "%s", hl_errmsg(sb));
		hl_sandbox_free(sb);
		sb = NULL;
	}
	if (!sb) {
		int i = bench_curve_row(c);
		snprintf(c->note[i], sizeof c->note[i], "not measured: %s", err);
		return;
	}
	double rs[NP][64], call[NP][64];
	for (int r = 0; r < R; r++)
		for (int p = 0; p < NP; p++)
			rs[p][r] = restore_after(sb, snap, "DirtyHeapPages", pages[p], k,
			                         &call[p][r]);
	for (int p = 0; p < NP; p++) {
		int i = bench_curve_row(c);
		c->v[i][0] = pages[p];
		bool ok = true;
		for (int r = 0; r < R; r++)
			ok = ok && rs[p][r] > 0;
		if (!ok) {
			snprintf(c->note[i], sizeof c->note[i], "not measured (see above)");
			continue;
		}
		c->v[i][1] = timing_median_of(rs[p], R);
		c->v[i][2] = c->v[i][1] / cx->floor_us;
		/* The slope from one page: below 64 pages it drowns in the noise. */
		if (pages[p] >= 64 && isfinite(c->v[0][1]))
			c->v[i][3] = (c->v[i][1] - c->v[0][1]) / (pages[p] - pages[0]);
		c->v[i][4] = timing_median_of(call[p], R);
	}
	snprintf(c->footer, sizeof c->footer,
	         "%d restores per cell per round; the allocator writes a few pages beyond n; "
	         "the call's time includes its first write to each page after the restore",
	         k);
	hl_snapshot_free(snap);
	hl_sandbox_free(sb);
}

/* ---- creation ------------------------------------------------------------------------- */

static void creation_vs_heap(struct bench_ctx *cx, struct sized *sz)
{
	const struct bench_opts *o = cx->o;
	int R = o->rounds, k = o->quick ? 1 : 2;
	double cold[NSIZES][128], guest[NSIZES][128], snapc[NSIZES][128];
	int n[NSIZES] = {0};
	char path[4096];
	bench_guest_path(o, "benchguest", path, sizeof path);
	for (int r = 0; r < R; r++)
		for (int s = 0; s < NSIZES; s++)
			for (int i = 0; i < k && sz[s].sb; i++) {
				hl_config cfg;
				hl_config_init(&cfg);
				cfg.heap_size = (uint64_t)size_mib[s] << 20;
				hl_sandbox *sb = NULL;
				hl_value v = {0};
				double t0 = timing_now_us();
				int rc = hl_sandbox_new(&cfg, &sb);
				if (rc == 0)
					rc = hl_sandbox_load_file(sb, path);
				if (rc == 0)
					rc = hl_sandbox_init(sb);
				double t1 = timing_now_us();
				if (rc == 0)
					rc = hl_call(sb, "InitNs", NULL, 0, &v);
				hl_sandbox_free(sb);
				double t2 = timing_now_us();
				if (rc == 0)
					rc = hl_sandbox_new_from_snapshot(sz[s].snap, NULL, &sb);
				if (rc == 0)
					rc = hl_call(sb, "NoOp", NULL, 0, NULL);
				double t3 = timing_now_us();
				hl_sandbox_free(sb);
				if (rc != 0)
					continue;
				cold[s][n[s]] = (t1 - t0) / 1e3;
				guest[s][n[s]] = (double)v.u.i64 / 1e6;
				snapc[s][n[s]++] = (t3 - t2) / 1e3;
			}
	struct bench_curve *c = bench_curve_add("creation_vs_heap",
	                                        "Creation against heap size (benchguest)");
	bench_curve_col(c, "heap MiB", "%.0f");
	bench_curve_col(c, "cold ms", "%.2f");
	bench_curve_col(c, "guest init ms", "%.3f");
	bench_curve_col(c, "snapshot+call ms", "%.2f");
	bench_curve_col(c, "snapshot MiB", "%.2f");
	for (int s = 0; s < NSIZES; s++) {
		int i = bench_curve_row(c);
		c->v[i][0] = size_mib[s];
		if (!sz[s].sb) {
			snprintf(c->note[i], sizeof c->note[i], "refused: %.230s", sz[s].err);
			continue;
		}
		if (!n[s]) {
			snprintf(c->note[i], sizeof c->note[i], "not measured: creation failed");
			continue;
		}
		c->v[i][1] = timing_median(cold[s], n[s]);
		c->v[i][2] = timing_median(guest[s], n[s]);
		c->v[i][3] = timing_median(snapc[s], n[s]);
		c->v[i][4] = (double)hl_snapshot_size(sz[s].snap) / MIB;
	}
	snprintf(c->footer, sizeof c->footer,
	         "cold: new + load + init; guest init: the guest's own, by its clock (InitNs); "
	         "snapshot+call: hl_sandbox_new_from_snapshot to the first NoOp's result; %d each",
	         R * k);
}

/* ---- throughput --------------------------------------------------------------------- */

struct tp_arg {
	hl_sandbox *sb;
	pthread_barrier_t *bar;
	double dur_us;
	double rate; /* calls per second of this thread */
	int rc;
};

static void *tp_thread(void *p)
{
	struct tp_arg *a = p;
	long calls = 0;
	pthread_barrier_wait(a->bar);
	double t0 = timing_now_us(), until = t0 + a->dur_us, t1;
	while ((t1 = timing_now_us()) < until) {
		for (int i = 0; i < 20; i++)
			if ((a->rc = hl_call(a->sb, "NoOp", NULL, 0, NULL)) != 0)
				return NULL;
		calls += 20;
	}
	a->rate = (double)calls / ((t1 - t0) / 1e6);
	return NULL;
}

/* Calls per second of `nt` threads, each calling NoOp in its own sandbox. */
static double throughput(hl_sandbox **sbs, int nt, double dur_us)
{
	pthread_t th[2];
	struct tp_arg a[2];
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, (unsigned)nt);
	double total = 0;
	int started = 0;
	for (int i = 0; i < nt; i++) {
		a[i] = (struct tp_arg){.sb = sbs[i], .bar = &bar, .dur_us = dur_us};
		if (pthread_create(&th[i], NULL, tp_thread, &a[i]) != 0)
			break;
		started++;
	}
	if (started < nt) {
		/* The barrier would never open: nothing to measure. */
		fprintf(stderr, "hl_bench: throughput: pthread_create failed\n");
		exit(1);
	}
	for (int i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		if (a[i].rc != 0)
			total = -1e18;
		total += a[i].rate;
	}
	pthread_barrier_destroy(&bar);
	return total > 0 ? total : -1;
}

static void threads_curve(struct bench_ctx *cx)
{
	const struct bench_opts *o = cx->o;
	int R = o->rounds;
	double dur = o->quick ? 150e3 : 500e3, c1[64], c2[64];
	hl_sandbox *sbs[2] = {NULL, NULL};
	const char *name = "calls/s with 2 threads / calls/s with 1 thread";
	for (int i = 0; i < 2; i++)
		if (hl_sandbox_new_from_snapshot(cx->snap, NULL, &sbs[i]) != 0) {
			bench_missing(BENCH_TARGET, "threads_2_vs_1", name, false,
			              "hl_sandbox_new_from_snapshot failed");
			hl_sandbox_free(sbs[0]);
			return;
		}
	throughput(sbs, 2, 50e3); /* warm up both */
	for (int r = 0; r < R; r++) {
		c1[r] = throughput(sbs, 1, dur);
		c2[r] = throughput(sbs, 2, dur);
	}
	struct bench_curve *c =
		bench_curve_add("throughput_vs_threads",
	                        "Throughput against threads (NoOp, a sandbox per thread)");
	bench_curve_col(c, "threads", "%.0f");
	bench_curve_col(c, "calls/s", "%.0f");
	bench_curve_col(c, "per thread", "%.0f");
	bench_curve_col(c, "x 1 thread", "%.2f");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double q[64];
	int k = 0;
	for (int r = 0; r < R; r++)
		if (c1[r] > 0 && c2[r] > 0)
			q[k++] = c2[r] / c1[r];
	double ratio = k == R ? timing_median(q, k) : NAN;
	for (int t = 1; t <= 2; t++) {
		int i = bench_curve_row(c);
		double v = timing_median_of(t == 1 ? c1 : c2, R);
		c->v[i][0] = t;
		c->v[i][1] = v;
		c->v[i][2] = v / t;
		c->v[i][3] = t == 1 ? 1.0 : ratio;
	}
	snprintf(c->footer, sizeof c->footer,
	         "%.0f ms per point per round, %d rounds; %ld CPUs online (shared with whatever else runs)",
	         dur / 1e3, R, ncpu);
	if (k == R)
		bench_target_ratio("threads_2_vs_1", name, c->v[1][1], c->v[0][1], "calls/s", ratio,
		                   1.8, true,
		                   "NoOp in a sandbox per thread, 1 and 2 threads alternating");
	else
		bench_missing(BENCH_TARGET, "threads_2_vs_1", name, false, "a NoOp call failed");
	hl_sandbox_free(sbs[0]);
	hl_sandbox_free(sbs[1]);
}

/* ---- resident memory -------------------------------------------------------------------- */

static long kib_field(const char *file, const char *key)
{
	FILE *f = fopen(file, "r");
	char line[256];
	long v = -1;
	size_t k = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, k) == 0)
			v = atol(line + k);
	if (f)
		fclose(f);
	return v;
}

/*
 * Kernel memory: a VM's structures, its vCPU, the hypervisor's page tables
 * for the guest live in the kernel, not in the process's RSS, yet they are
 * what idle sandboxes cost as much as their pages. The only per-process
 * account of them is the memory cgroup the bench runs in (cgroup v1:
 * memory.kmem.usage_in_bytes; v2: memory.stat's kernel memory). It counts
 * every process of that cgroup; the bench is meant to run alone in it.
 */
static char kmem_file[600];
static int kmem_kind; /* 0 none, 1 v1 usage file, 2 v2 memory.stat */
static char kmem_source[300] = "kernel memory not measurable here (no memory cgroup)";

static void kmem_find(void)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrl = c1 + 1, *path = c2 + 1;
		char probe[600];
		if (strstr(ctrl, "memory")) {
			snprintf(probe, sizeof probe,
			         "/sys/fs/cgroup/memory%s/memory.kmem.usage_in_bytes", path);
			if (access(probe, R_OK) == 0) {
				snprintf(kmem_file, sizeof kmem_file, "%s", probe);
				kmem_kind = 1;
				snprintf(kmem_source, sizeof kmem_source,
				         "kernel: memory cgroup %s (v1 kmem), which counts every process in it",
				         path);
				break;
			}
		} else if (!ctrl[0] && !kmem_kind) {
			snprintf(probe, sizeof probe, "/sys/fs/cgroup%s/memory.stat", path);
			if (access(probe, R_OK) == 0) {
				snprintf(kmem_file, sizeof kmem_file, "%s", probe);
				kmem_kind = 2;
				snprintf(kmem_source, sizeof kmem_source,
				         "kernel: memory cgroup %s (v2 memory.stat), which counts every process in it",
				         path);
			}
		}
	}
	if (f)
		fclose(f);
}

/* KiB of kernel memory charged to the bench's cgroup, or -1. */
static long kmem_kib(void)
{
	FILE *f = kmem_kind ? fopen(kmem_file, "r") : NULL;
	if (!f)
		return -1;
	long long v = -1;
	if (kmem_kind == 1) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
	} else {
		char key[64];
		long long x, kernel = -1, sum = 0;
		while (fscanf(f, "%63s %lld", key, &x) == 2) {
			if (strcmp(key, "kernel") == 0)
				kernel = x;
			else if (!strcmp(key, "slab") || !strcmp(key, "kernel_stack") ||
			         !strcmp(key, "pagetables") || !strcmp(key, "sec_pagetables") ||
			         !strcmp(key, "percpu"))
				sum += x;
		}
		v = kernel >= 0 ? kernel : sum;
	}
	fclose(f);
	return v >= 0 ? (long)(v / 1024) : -1;
}

struct mem {
	long rss, pss, kern, avail; /* KiB */
};

static struct mem mem_now(void)
{
	return (struct mem){kib_field("/proc/self/status", "VmRSS:"),
	                    kib_field("/proc/self/smaps_rollup", "Pss:"), kmem_kib(),
	                    kib_field("/proc/meminfo", "MemAvailable:")};
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, ch;
	while (f && (ch = fgetc(f)) != EOF)
		n += ch == '\n';
	if (f)
		fclose(f);
	return n;
}

/* Why the n+1-th sandbox could not be made, as far as the machine tells. */
static void describe_limit(char *buf, size_t len, int n, int rc)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	long maxmap = -1;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		if (fscanf(f, "%ld", &maxmap) != 1)
			maxmap = -1;
		fclose(f);
	}
	int fds = count_fds(), maps = count_maps();
	const char *which = (rlim_t)fds + 8 >= rl.rlim_cur      ? "file descriptors"
	                    : maxmap > 0 && maps + 16 >= maxmap ? "memory maps"
	                    : kib_field("/proc/meminfo", "MemAvailable:") < 262144 ? "memory"
	                                                                           : "unknown";
	snprintf(buf, len,
	         "limit at %d: %s (the library gives no message for a sandbox it could not make); "
	         "open fds %d of RLIMIT_NOFILE %llu, memory maps %d of vm.max_map_count %ld, "
	         "MemAvailable %ld MiB: %s",
	         n, hl_strerror(rc), fds, (unsigned long long)rl.rlim_cur, maps, maxmap,
	         kib_field("/proc/meminfo", "MemAvailable:") / 1024, which);
}

static double mib_of(long after, long before)
{
	return after >= 0 && before >= 0 ? (double)(after - before) / 1024.0 : NAN;
}

static void memory_curve(struct bench_ctx *cx)
{
	const struct bench_opts *o = cx->o;
	int maxn = o->max_sandboxes;
	int points[8], np = 0;
	static const int std_points[] = {10, 100, 1000, 10000};
	for (int i = 0; i < 4; i++)
		if (std_points[i] <= maxn)
			points[np++] = std_points[i];
	if (!np || points[np - 1] != maxn)
		points[np++] = maxn;

	/* Each sandbox holds a VM and a vCPU descriptor: let it have as many
	 * as the hard limit allows, and report the limit it meets. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	kmem_find();
	struct bench_curve *c =
		bench_curve_add("memory_vs_sandboxes",
	                        "Resident memory against idle sandboxes made from one snapshot (growth)");
	bench_curve_col(c, "sandboxes", "%.0f");
	bench_curve_col(c, "ms each", "%.2f");
	bench_curve_col(c, "VmRSS MiB", "%.1f");
	bench_curve_col(c, "Pss MiB", "%.1f");
	bench_curve_col(c, "kernel MiB", "%.1f");
	bench_curve_col(c, "Pss+kern MiB", "%.1f");
	bench_curve_col(c, "KiB each", "%.0f");
	bench_curve_col(c, "MemAvail drop", "%.0f");

	hl_sandbox **v = calloc((size_t)maxn, sizeof *v);
	if (!v) {
		bench_missing(BENCH_TARGET, "memory_1000", "resident memory of 1000 idle sandboxes",
		              false, "out of memory");
		return;
	}
	struct mem m0 = mem_now();
	int made = 0, rc = 0;
	double target_total = NAN, target_pss = NAN, target_kern = NAN;
	/* Making a sandbox gets slower as VMs accumulate (on kvm-pvm markedly):
	 * past the time budget the curve ends where it got, and says so. */
	double deadline = timing_now_us() + o->memory_budget * 1e6;
	bool out_of_time = false;
	for (int p = 0; p < np && rc == 0 && !out_of_time; p++) {
		double t0 = timing_now_us();
		int from = made;
		while (made < points[p] && !(out_of_time = timing_now_us() > deadline) &&
		       (rc = hl_sandbox_new_from_snapshot(cx->snap, NULL, &v[made])) == 0)
			made++;
		double dt = timing_now_us() - t0;
		struct mem m = mem_now();
		int i = bench_curve_row(c);
		c->v[i][0] = made;
		c->v[i][1] = made > from ? dt / 1e3 / (made - from) : NAN;
		c->v[i][2] = mib_of(m.rss, m0.rss);
		c->v[i][3] = mib_of(m.pss, m0.pss);
		c->v[i][4] = mib_of(m.kern, m0.kern);
		c->v[i][5] = isfinite(c->v[i][4]) ? c->v[i][3] + c->v[i][4] : c->v[i][3];
		c->v[i][6] = made ? c->v[i][5] * 1024 / made : NAN;
		c->v[i][7] = mib_of(m0.avail, m.avail);
		if (rc != 0)
			describe_limit(c->note[i], sizeof c->note[i], made, rc);
		else if (out_of_time)
			snprintf(c->note[i], sizeof c->note[i],
			         "stopped by the time budget (%d s; --memory-budget) before %d",
			         o->memory_budget, points[p]);
		if (made == 1000 && points[p] == 1000) {
			target_total = c->v[i][5];
			target_pss = c->v[i][3];
			target_kern = c->v[i][4];
		}
	}
	double t0 = timing_now_us();
	for (int i = 0; i < made; i++)
		hl_sandbox_free(v[i]);
	double t_free = timing_now_us() - t0;
	snprintf(c->footer, sizeof c->footer,
	         "growth over the process before the first one (the snapshot already resident); "
	         "%s; MemAvail drop: system-wide, MiB; freeing took %.2f ms each",
	         kmem_source, made ? t_free / 1e3 / made : 0.0);

	const char *name = "resident memory of 1000 idle sandboxes from one snapshot, beyond it";
	if (isfinite(target_total)) {
		struct bench_row *r = bench_row_add(BENCH_TARGET, "memory_1000", name);
		r->value = target_total;
		r->unit = "MiB";
		r->limit = 256;
		r->amount = true;
		if (isfinite(target_kern))
			snprintf(r->detail, sizeof r->detail, "Pss %.1f MiB + kernel %.1f MiB (%s)",
			         target_pss, target_kern, "memory cgroup");
		else
			snprintf(r->detail, sizeof r->detail,
			         "Pss only: kernel memory not measurable here (no memory cgroup)");
	} else {
		int last = c->nrows - 1;
		if (made < 1000 && made > 0 && last >= 0 && isfinite(c->v[last][6]))
			bench_missing(BENCH_TARGET, "memory_1000", name, false,
			              "the machine's limit or the time budget came at %d (see the memory "
			              "curve); at %.0f KiB each, 1000 would hold about %.0f MiB",
			              made, c->v[last][6], c->v[last][6] * 1000 / 1024);
		else
			bench_missing(BENCH_TARGET, "memory_1000", name, false, "not measured");
	}

	/* The same after one NoOp each: what a pool of used sandboxes holds. */
	int n2 = o->quick ? 100 : 1000;
	if (n2 > made)
		n2 = made;
	struct mem a0 = mem_now();
	int k = 0;
	for (; k < n2; k++)
		if (hl_sandbox_new_from_snapshot(cx->snap, NULL, &v[k]) != 0 ||
		    hl_call(v[k], "NoOp", NULL, 0, NULL) != 0) {
			hl_sandbox_free(v[k]);
			break;
		}
	struct mem a1 = mem_now();
	for (int i = 0; i < k; i++)
		hl_sandbox_free(v[i]);
	free(v);
	char label[96];
	snprintf(label, sizeof label, "after one NoOp call each, %d sandboxes: Pss per 1000", k);
	bench_reference("memory_called_pss", label, k ? mib_of(a1.pss, a0.pss) * 1000 / k : NAN,
	                "MiB", 0);
	snprintf(label, sizeof label, "after one NoOp call each, %d sandboxes: kernel per 1000", k);
	bench_reference("memory_called_kernel", label,
	                k ? mib_of(a1.kern, a0.kern) * 1000 / k : NAN, "MiB", 0);
	bench_reference("snapshot_size", "snapshot memory (shared by all of them)",
	                (double)hl_snapshot_size(cx->snap) / MIB, "MiB", 0);
}

void bench_curves(struct bench_ctx *cx)
{
	struct sized sz[NSIZES];
	memset(sz, 0, sizeof sz);
	for (int s = 0; s < NSIZES; s++) {
		sz[s].sb = open_heap(cx->o, (uint64_t)size_mib[s] << 20, sz[s].err,
		                     sizeof sz[s].err);
		if (sz[s].sb && hl_sandbox_snapshot(sz[s].sb, &sz[s].snap) != 0) {
			snprintf(sz[s].err, sizeof sz[s].err, "%s", hl_errmsg(sz[s].sb));
			hl_sandbox_free(sz[s].sb);
			sz[s].sb = NULL;
		}
	}
	restore_vs_size(cx, sz);
	restore_vs_pages(cx);
	creation_vs_heap(cx, sz);
	for (int s = 0; s < NSIZES; s++) {
		hl_snapshot_free(sz[s].snap);
		hl_sandbox_free(sz[s].sb);
	}
	threads_curve(cx);
	memory_curve(cx);
}
