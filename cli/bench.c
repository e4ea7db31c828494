/* bench.c - `hyperlight bench`: the median and 99th percentile of a guest's creation, of one of its functions, and of that call on a fresh state. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "timing.h"

static void discard_print(int fd, const char *data, size_t len, void *user)
{
	(void)fd, (void)data, (void)len, (void)user;
}

#define BENCH_ITERS 1000

/* Median and 99th percentile of `t` (sorted in place), on one line. */
static void bench_line(const char *what, double *t, int n)
{
	double p99 = timing_percentile(t, n, 99);
	printf("%-34s median %10.2f us   p99 %10.2f us\n", what, timing_median(t, n), p99);
}

/* Times one guest function the way hl_bench times the sample guests: the
 * cold creation of the sandbox, the call, and the call on a fresh state
 * (restore to the post-init snapshot, then call). */
int hl_cli_bench(int argc, char **argv, const struct hl_cli_opts *o)
{
	const hl_config *cfg = &o->cfg;
	if (argc < 2)
		return usage_error("bench: missing %s",
		                   argc < 1 ? "GUEST and FUNCTION" : "FUNCTION");
	const char *guest = argv[0], *fn = argv[1];
	struct hl_cli_args args;
	int st = hl_cli_args_parse(argc - 2, argv + 2, &args);
	if (st)
		return st;
	static double t[BENCH_ITERS];
	hl_sandbox *sb = NULL;
	hl_snapshot *snap = NULL;
	int r = 0, n = 20;
	for (int i = 0; i < n && r == 0; i++) {
		double t0 = timing_now_us();
		r = hl_cli_open_guest(cfg, guest, discard_print, NULL, &sb);
		t[i] = timing_now_us() - t0;
		if (r == 0 && i + 1 < n) {
			hl_sandbox_free(sb);
			sb = NULL;
		}
	}
	if (r == 0)
		bench_line("create + load + init", t, n);
	if (r == 0)
		r = hl_sandbox_snapshot(sb, &snap);
	for (int i = 0; i < BENCH_ITERS && r == 0; i++) {
		double t0 = timing_now_us();
		r = hl_call(sb, fn, args.v, args.n, NULL);
		t[i] = timing_now_us() - t0;
	}
	if (r == 0)
		bench_line(fn, t, BENCH_ITERS);
	for (int i = 0; i < BENCH_ITERS && r == 0; i++) {
		double t0 = timing_now_us();
		r = hl_call_fresh(sb, snap, fn, args.v, args.n, NULL);
		t[i] = timing_now_us() - t0;
	}
	if (r == 0)
		bench_line("restore + call (fresh state)", t, BENCH_ITERS);
	if (r < 0)
		st = hl_cli_api_error(sb, r);
	hl_snapshot_free(snap);
	hl_sandbox_free(sb);
	hl_cli_args_free(&args);
	return st;
}
