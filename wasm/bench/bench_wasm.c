/*
 * bench_wasm.c - wasm guest call latencies against the native guest call
 * (simpleguest NoOp) measured in the same run, and against Node's
 * WebAssembly on the same module when given node_bench.js's figures.
 *
 * Usage: hl_wasm_bench [--iters N] [--node FILE] [--guest-dir DIR] [--wasm-dir DIR]
 *   FILE: the JSON line node_bench.js printed (wasm/bench/run_bench.sh
 *   runs both). Not a test: it prints figures and ratios.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperlight/hyperlight.h"
#include "hyperlight/wasm.h"
#include "timing.h"

static hl_sandbox *open_guest(const char *path, const hl_config *cfg)
{
	hl_sandbox *sb;
	if (hl_sandbox_new(cfg, &sb) != 0)
		return NULL;
	if (hl_sandbox_load_file(sb, path) != 0 || hl_sandbox_init(sb) != 0) {
		fprintf(stderr, "hl_wasm_bench: %s: %s\n", path, hl_errmsg(sb));
		hl_sandbox_free(sb);
		return NULL;
	}
	return sb;
}

/* Median microseconds of one call; snap: a fresh-state call (restore + call). */
static double time_call(hl_sandbox *sb, hl_snapshot *snap, const char *fn, const hl_value *a,
                        size_t n, int iters, double *t)
{
	for (int i = 0; i < iters / 10 + 1; i++)
		snap ? hl_call_fresh(sb, snap, fn, a, n, NULL) : hl_call(sb, fn, a, n, NULL);
	for (int i = 0; i < iters; i++) {
		double t0 = timing_now_us();
		int r = snap ? hl_call_fresh(sb, snap, fn, a, n, NULL) : hl_call(sb, fn, a, n, NULL);
		t[i] = timing_now_us() - t0;
		if (r != 0) {
			fprintf(stderr, "hl_wasm_bench: %s: %s\n", fn, hl_errmsg(sb));
			return -1;
		}
	}
	return timing_median(t, iters);
}

/* Median microseconds of new + load + init + one call + free. */
static double time_cold(const char *path, const hl_config *cfg, const char *fn, int iters, double *t)
{
	for (int i = 0; i < iters; i++) {
		double t0 = timing_now_us();
		hl_sandbox *sb = open_guest(path, cfg);
		if (!sb || hl_call(sb, fn, NULL, 0, NULL) != 0) {
			hl_sandbox_free(sb);
			return -1;
		}
		hl_sandbox_free(sb);
		t[i] = timing_now_us() - t0;
	}
	return timing_median(t, iters);
}

/* A number from node_bench.js's flat JSON line, or -1. */
static double json_num(const char *json, const char *key)
{
	char pat[128];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = json ? strstr(json, pat) : NULL;
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

static void row(const char *name, double us, double base)
{
	if (us < 0) {
		printf("  %-52s %12s\n", name, "failed");
		return;
	}
	if (base > 0)
		printf("  %-52s %12.3f %10.2fx\n", name, us, us / base);
	else
		printf("  %-52s %12.3f\n", name, us);
}

int main(int argc, char **argv)
{
	int iters = 2000;
	const char *node_file = NULL, *gdir = HL_GUEST_DIR, *wdir = HL_WASM_GUEST_DIR;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
			iters = atoi(argv[++i]);
		else if (strcmp(argv[i], "--node") == 0 && i + 1 < argc)
			node_file = argv[++i];
		else if (strcmp(argv[i], "--guest-dir") == 0 && i + 1 < argc)
			gdir = argv[++i];
		else if (strcmp(argv[i], "--wasm-dir") == 0 && i + 1 < argc)
			wdir = argv[++i];
		else {
			fprintf(stderr,
			        "usage: hl_wasm_bench [--iters N] [--node FILE] [--guest-dir DIR] "
			        "[--wasm-dir DIR]\n");
			return 1;
		}
	}
	if (iters < 10)
		iters = 10;
	char node_json[4096] = "";
	if (node_file) {
		FILE *f = fopen(node_file, "r");
		size_t n = f ? fread(node_json, 1, sizeof node_json - 1, f) : 0;
		node_json[n] = '\0';
		if (f)
			fclose(f);
		if (!n)
			fprintf(stderr, "hl_wasm_bench: cannot read %s: Node figures left out\n",
			        node_file);
	}

	char native_path[4096], wasm_path[4096];
	snprintf(native_path, sizeof native_path, "%s/simpleguest", gdir);
	snprintf(wasm_path, sizeof wasm_path, "%s/bench", wdir);
	hl_config ncfg, wcfg;
	hl_config_init(&ncfg);
	hl_wasm_config_init(&wcfg);
	hl_sandbox *native = open_guest(native_path, &ncfg), *wasm = open_guest(wasm_path, &wcfg);
	double *t = malloc(sizeof *t * (size_t)iters);
	if (!native || !wasm || !t) {
		fprintf(stderr, "hl_wasm_bench: cannot start the guests (is /dev/kvm there?)\n");
		return 1;
	}
	hl_snapshot *nsnap = NULL, *wsnap = NULL;
	if (hl_sandbox_snapshot(native, &nsnap) != 0 || hl_sandbox_snapshot(wasm, &wsnap) != 0) {
		fprintf(stderr, "hl_wasm_bench: snapshot: %s %s\n", hl_errmsg(native),
		        hl_errmsg(wasm));
		return 1;
	}
	hl_value add[2] = {hl_i32(1), hl_i32(2)};

	double native_call = time_call(native, NULL, "NoOp", NULL, 0, iters, t);
	double wasm_noop = time_call(wasm, NULL, "noop", NULL, 0, iters, t);
	double wasm_add = time_call(wasm, NULL, "add", add, 2, iters, t);
	double native_fresh = time_call(native, nsnap, "NoOp", NULL, 0, iters, t);
	double wasm_fresh = time_call(wasm, wsnap, "noop", NULL, 0, iters, t);
	int ncold = iters / 20 < 10 ? 10 : iters / 20;
	double native_cold = time_cold(native_path, &ncfg, "NoOp", ncold, t);
	double wasm_cold = time_cold(wasm_path, &wcfg, "noop", ncold, t);
	hl_layout wl;
	hl_sandbox_layout(wasm, &wl);

	printf("hl_wasm_bench: %d iterations, medians in microseconds; ratio to the native NoOp call\n"
	       "(wasm guest: heap %llu KiB, stack %llu KiB, guest memory %llu KiB)\n\n",
	       iters, (unsigned long long)wcfg.heap_size >> 10,
	       (unsigned long long)wcfg.stack_size >> 10, (unsigned long long)wl.mem_size >> 10);
	printf("  %-52s %12s %11s\n", "", "us", "ratio");
	row("native guest call (simpleguest NoOp)", native_call, native_call);
	row("wasm guest call (noop)", wasm_noop, native_call);
	row("wasm guest call (add 1 2)", wasm_add, native_call);
	row("native fresh-state call (hl_call_fresh NoOp)", native_fresh, native_call);
	row("wasm fresh-state call (hl_call_fresh noop)", wasm_fresh, native_call);
	row("native cold start (new+load+init+call+free)", native_cold, native_call);
	row("wasm cold start (new+load+init+call+free)", wasm_cold, native_call);

	if (node_json[0]) {
		double n_call = json_num(node_json, "call_add_us");
		double n_inst = json_num(node_json, "instantiate_call_us");
		double n_comp = json_num(node_json, "compile_instantiate_call_us");
		char ver[32] = "";
		const char *v = strstr(node_json, "\"node\":\"");
		if (v)
			sscanf(v + 8, "%31[^\"]", ver);
		printf("\nNode %s WebAssembly (V8, in-process) on the same module:\n", ver);
		row("node: call add(1, 2) (mean of batches of 100000)", n_call, 0);
		row("node: new Instance + call (fresh state)", n_inst, 0);
		row("node: compile + instantiate + call", n_comp, 0);
		printf("\n  %-52s %12s\n", "ratio hyperlight / node", "");
		if (n_call > 0)
			printf("  %-52s %11.0fx\n", "wasm call vs node call", wasm_add / n_call);
		if (n_inst > 0)
			printf("  %-52s %11.2fx\n", "fresh-state call vs node instantiate+call",
			       wasm_fresh / n_inst);
		if (n_comp > 0)
			printf("  %-52s %11.2fx\n", "cold start vs node compile+instantiate+call",
			       wasm_cold / n_comp);
	}
	hl_snapshot_free(nsnap);
	hl_snapshot_free(wsnap);
	hl_sandbox_free(native);
	hl_sandbox_free(wasm);
	free(t);
	return 0;
}
