/* bench_js.c - hl_js_bench: JavaScript handler calls in a sandbox (fresh state per call, and reused) against Node running the same handlers in-process and in a new vm context, measured in one run, with the ratios. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hyperlight/js.h"

#ifndef HL_JS_BENCH_DIR
#define HL_JS_BENCH_DIR "js/bench"
#endif

struct bench_case {
	const char *name, *file, *what;
	char *input;
	int iters;
	/* medians and p99 in nanoseconds */
	double fresh, fresh99, reused, reused99, inproc, vmctx;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

static void die(const char *what, hl_js *js, int rc)
{
	fprintf(stderr, "hl_js_bench: %s: %s: %s\n", what, hl_js_strerror(rc),
	        js ? hl_js_errmsg(js) : "");
	exit(1);
}

/* Times c->iters calls of case c on a new handle with `flags`; median and p99. */
static void run_hyperlight(struct bench_case *c, uint32_t flags, double *med, double *p99)
{
	hl_js_config cfg;
	hl_js_config_init(&cfg);
	cfg.flags = flags;
	cfg.timeout_ms = 10000;
	hl_js *js;
	int rc = hl_js_new(&cfg, &js);
	if (rc < 0)
		die("hl_js_new", js, rc);
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", HL_JS_BENCH_DIR, c->file);
	char *src = slurp(path);
	if (!src) {
		fprintf(stderr, "hl_js_bench: cannot read %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if ((rc = hl_js_add_handler(js, c->name, src, strlen(src), NULL, c->file)) < 0)
		die("loading a handler", js, rc);
	size_t len = strlen(c->input);
	const char *out;
	for (int i = 0; i < 20; i++)
		if ((rc = hl_js_call(js, c->name, c->input, len, &out, NULL)) < 0)
			die(c->name, js, rc);
	uint64_t *t = calloc((size_t)c->iters, sizeof *t);
	for (int i = 0; i < c->iters; i++) {
		uint64_t t0 = now_ns();
		rc = hl_js_call(js, c->name, c->input, len, &out, NULL);
		t[i] = now_ns() - t0;
		if (rc < 0)
			die(c->name, js, rc);
	}
	qsort(t, (size_t)c->iters, sizeof *t, cmp_u64);
	*med = (double)t[c->iters / 2];
	*p99 = (double)t[(size_t)c->iters * 99 / 100];
	free(t);
	free(src);
	hl_js_free(js);
}

/* Cold start: a new handle (sandbox, engine, snapshot), the handler
 * loaded, one call, freed. Median of n. */
static double cold_start(int n)
{
	uint64_t *t = calloc((size_t)n, sizeof *t);
	const char *src = "function handler(e) { return e; }";
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		hl_js *js;
		int rc = hl_js_new(NULL, &js);
		if (rc < 0)
			die("hl_js_new", js, rc);
		const char *out;
		if ((rc = hl_js_add_handler(js, "h", src, strlen(src), NULL, NULL)) < 0 ||
		    (rc = hl_js_call(js, "h", "1", 1, &out, NULL)) < 0)
			die("cold start", js, rc);
		hl_js_free(js);
		t[i] = now_ns() - t0;
	}
	qsort(t, (size_t)n, sizeof *t, cmp_u64);
	double m = (double)t[n / 2];
	free(t);
	return m;
}

/* Appends s to the JSON string being built in buf (escaping quotes and
 * backslashes; the inputs have nothing else to escape). */
static size_t put_json_string(char *buf, size_t at, const char *s)
{
	buf[at++] = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf[at++] = '\\';
		buf[at++] = *s;
	}
	buf[at++] = '"';
	return at;
}

/* Runs Node on the cases; returns false (and says why) when it cannot. */
static bool run_node(struct bench_case *cs, int n, char *version, size_t vlen, char *why,
                     size_t wlen)
{
	if (system("command -v node >/dev/null 2>&1") != 0) {
		snprintf(why, wlen, "node is not on PATH");
		return false;
	}
	char in[] = "/tmp/hl-js-bench-XXXXXX";
	int fd = mkstemp(in);
	if (fd < 0) {
		snprintf(why, wlen, "mkstemp: %s", strerror(errno));
		return false;
	}
	size_t cap = 1 << 20, at = 0;
	char *spec = malloc(cap);
	spec[at++] = '[';
	for (int i = 0; i < n; i++) {
		at += (size_t)sprintf(spec + at,
		                      "%s{\"name\":\"%s\",\"file\":\"%s/%s\",\"iters\":%d,\"input\":",
		                      i ? "," : "", cs[i].name, HL_JS_BENCH_DIR, cs[i].file,
		                      cs[i].iters);
		at = put_json_string(spec, at, cs[i].input);
		spec[at++] = '}';
	}
	spec[at++] = ']';
	bool ok = write(fd, spec, at) == (ssize_t)at;
	close(fd);
	free(spec);
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "node %s/node_bench.js < %s", HL_JS_BENCH_DIR, in);
	FILE *p = ok ? popen(cmd, "r") : NULL;
	char *line = malloc(1 << 16);
	size_t got = p ? fread(line, 1, (1 << 16) - 1, p) : 0;
	int st = p ? pclose(p) : -1;
	unlink(in);
	line[got] = '\0';
	if (!p || st != 0 || got == 0) {
		snprintf(why, wlen, "node failed (status %d)", st);
		free(line);
		return false;
	}
	const char *v = strstr(line, "\"node\":\"");
	if (v)
		snprintf(version, vlen, "%.*s", (int)strcspn(v + 8, "\""), v + 8);
	for (int i = 0; i < n; i++) {
		char key[128];
		snprintf(key, sizeof key, "\"%s\":{\"inproc_ns\":", cs[i].name);
		const char *k = strstr(line, key);
		if (!k || sscanf(k + strlen(key), "%lf,\"vm_ns\":%lf", &cs[i].inproc,
		                 &cs[i].vmctx) != 2) {
			snprintf(why, wlen, "cannot read node's output: %.200s", line);
			free(line);
			return false;
		}
	}
	free(line);
	return true;
}

static void us(char *buf, size_t len, double ns)
{
	if (ns < 10000)
		snprintf(buf, len, "%.2f us", ns / 1000.0);
	else
		snprintf(buf, len, "%.0f us", ns / 1000.0);
}

int main(int argc, char **argv)
{
	int iters = 2000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
			iters = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--iters N]  (default 2000 calls per case)\n",
			        argv[0]);
			return 2;
		}
	}
	if (iters < 10)
		iters = 10;
	char guest[4096];
	if (hl_js_find_guest(guest, sizeof guest) != 0) {
		fprintf(stderr,
		        "hl_js_bench: SKIPPED: the JavaScript guest is not built "
		        "(scripts/fetch-quickjs.sh, then cmake --build)\n");
		return 77;
	}

	/* Inputs: null; about 1 KiB of JSON; a key and 1 KiB of claims. */
	char *json1k = malloc(4096);
	size_t at = (size_t)sprintf(json1k, "{\"id\":\"req-42\",\"items\":[");
	for (int i = 0; at < 1000; i++)
		at += (size_t)sprintf(json1k + at, "%s{\"k\":\"item-%03d\",\"v\":%d,\"ok\":%s}",
		                      i ? "," : "", i, i * 7, i % 2 ? "true" : "false");
	sprintf(json1k + at, "]}");
	char *hmac_in = malloc(4096);
	at = (size_t)sprintf(hmac_in,
	                     "{\"key\":\"a secret key\",\"claims\":{\"sub\":\"user-7\",\"data\":\"");
	memset(hmac_in + at, 'z', 1000);
	sprintf(hmac_in + at + 1000, "\"}}");
	struct bench_case cs[] = {
		{.name = "noop",
	         .file = "noop.js",
	         .what = "no-op (null in, null out)",
	         .input = strdup("null"),
	         .iters = iters},
		{.name = "json1k",
	         .file = "json1k.js",
	         .what = "1 KiB of JSON in and out",
	         .input = json1k,
	         .iters = iters},
		{.name = "hmac",
	         .file = "hmac.js",
	         .what = "JWT-like HMAC-SHA256 over 1 KiB in JavaScript",
	         .input = hmac_in,
	         .iters = iters / 4 > 10 ? iters / 4 : 10},
	};
	int n = (int)(sizeof cs / sizeof cs[0]);

	hl_platform_info pi;
	memset(&pi, 0, sizeof pi);
	pi.size = sizeof pi;
	hl_platform_probe(&pi, 0);
	printf("hl_js_bench: JavaScript handlers (QuickJS guest %s)\n", guest);
	printf("platform: %s (%s)\n", pi.name ? pi.name : "?",
	       pi.can_run ? (pi.native ? "guests run natively" : "guests run, not natively")
	                  : pi.reason);
	printf("sizes: %zu bytes json1k input, %zu bytes hmac input; %d calls per case (hmac %d)\n",
	       strlen(json1k), strlen(hmac_in), iters, cs[2].iters);

	double cold = cold_start(10);
	for (int i = 0; i < n; i++) {
		run_hyperlight(&cs[i], 0, &cs[i].fresh, &cs[i].fresh99);
		run_hyperlight(&cs[i], HL_JS_REUSE, &cs[i].reused, &cs[i].reused99);
	}
	char version[64] = "", why[512] = "";
	bool node = run_node(cs, n, version, sizeof version, why, sizeof why);

	printf("\nmedians (p99 in brackets):\n");
	printf("%-8s %-22s %-22s %-16s %-16s\n", "handler", "hyperlight fresh", "hyperlight reused",
	       "node in-process", "node new vm ctx");
	for (int i = 0; i < n; i++) {
		char a[32], a9[32], b[32], b9[32], c[32] = "-", d[32] = "-", fa[80], fb[80];
		us(a, sizeof a, cs[i].fresh);
		us(a9, sizeof a9, cs[i].fresh99);
		us(b, sizeof b, cs[i].reused);
		us(b9, sizeof b9, cs[i].reused99);
		snprintf(fa, sizeof fa, "%s [%s]", a, a9);
		snprintf(fb, sizeof fb, "%s [%s]", b, b9);
		if (node) {
			us(c, sizeof c, cs[i].inproc);
			us(d, sizeof d, cs[i].vmctx);
		}
		printf("%-8s %-22s %-22s %-16s %-16s\n", cs[i].name, fa, fb, c, d);
	}
	printf("\nratios (hyperlight / node; below 1: hyperlight is faster):\n");
	if (node) {
		printf("%-8s %-18s %-18s %-18s %-18s\n", "handler", "fresh/in-process",
		       "fresh/new-ctx", "reused/in-process", "reused/new-ctx");
		for (int i = 0; i < n; i++)
			printf("%-8s %-18.1f %-18.2f %-18.1f %-18.2f\n", cs[i].name,
			       cs[i].fresh / cs[i].inproc, cs[i].fresh / cs[i].vmctx,
			       cs[i].reused / cs[i].inproc, cs[i].reused / cs[i].vmctx);
		printf("(node %s in this process's machine, same handler files)\n", version);
	} else {
		printf("node: SKIPPED: %s\n", why);
	}
	printf("\nfresh/reused: ");
	for (int i = 0; i < n; i++)
		printf("%s %.2f%s", cs[i].name, cs[i].fresh / cs[i].reused, i + 1 < n ? ", " : "\n");
	char cs_buf[32];
	us(cs_buf, sizeof cs_buf, cold);
	printf("cold start (hl_js_new, load a handler, one call, free): %s median of 10\n", cs_buf);
	for (int i = 0; i < n; i++)
		free(cs[i].input);
	return 0;
}
