/*
 * stress_lifecycle.c - K create/load/init/call/free cycles of a sandbox;
 * checks that open file descriptors, mappings, the library's heap blocks
 * and resident memory stay flat.
 *
 * Usage: stress_lifecycle [CYCLES [SAMPLE_EVERY [RSS_BOUND_KIB]]]
 *   CYCLES        default 10000
 *   SAMPLE_EVERY  default 1000 (at most CYCLES / 10)
 *   RSS_BOUND_KIB default 2048: the most VmRSS may grow after warm-up
 * Warm-up is the first sample interval: what libc and the process set up
 * once (stdio buffers, the heap's first arenas) is there by its end.
 * Every sample checks: descriptors equal to those before the first cycle,
 * mappings equal to those at the end of warm-up, no heap block of the
 * library outstanding, VmRSS at most RSS_BOUND_KIB above the warm-up's.
 * Exit status: 0 all checks passed, 1 a check failed, 77 no /dev/kvm.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress.h"

/* AddressSanitizer keeps freed memory in quarantine (up to 256 MiB), so
 * VmRSS grows by design there: only descriptors, mappings and heap blocks
 * are checked in such a build. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED 0
#else
#define RSS_CHECKED 1
#endif

static void discard(int fd, const char *data, size_t len, void *user)
{
	(void)fd, (void)data, (void)len, (void)user;
}

/* One cycle; returns 0 or prints what went wrong and returns -1. */
static int cycle(long i)
{
	hl_sandbox *sb = NULL;
	int r = hl_sandbox_new(NULL, &sb);
	if (r < 0) {
		fprintf(stderr, "cycle %ld: hl_sandbox_new: %s\n", i, hl_strerror(r));
		return -1;
	}
	hl_sandbox_set_print(sb, discard, NULL);
	const char *step = "hl_sandbox_load_file";
	if ((r = hl_sandbox_load_file(sb, stress_guest("simpleguest"))) < 0)
		goto bad;
	step = "hl_sandbox_init";
	if ((r = hl_sandbox_init(sb)) < 0)
		goto bad;
	char msg[32];
	int n = snprintf(msg, sizeof msg, "cycle %ld", i);
	hl_value a = hl_string(msg, (size_t)n), v;
	step = "hl_call(Echo)";
	if ((r = hl_call(sb, "Echo", &a, 1, &v)) < 0)
		goto bad;
	if (v.type != HL_TYPE_STRING || v.u.str.len != (size_t)n ||
	    memcmp(v.u.str.ptr, msg, (size_t)n)) {
		fprintf(stderr, "cycle %ld: Echo returned '%.*s', expected '%s'\n", i,
		        (int)v.u.str.len, v.u.str.ptr, msg);
		hl_sandbox_free(sb);
		return -1;
	}
	/* A new sandbox starts from the guest's initial state. */
	a = hl_i32((int32_t)(i % 1000));
	step = "hl_call(AddToStatic)";
	if ((r = hl_call(sb, "AddToStatic", &a, 1, &v)) < 0)
		goto bad;
	if (v.u.i32 != (int32_t)(i % 1000)) {
		fprintf(stderr, "cycle %ld: AddToStatic(%ld) returned %" PRId32 "\n", i, i % 1000,
		        v.u.i32);
		hl_sandbox_free(sb);
		return -1;
	}
	hl_sandbox_free(sb);
	return 0;
bad:
	fprintf(stderr, "cycle %ld: %s: %s: %s\n", i, step, hl_strerror(r), hl_errmsg(sb));
	hl_sandbox_free(sb);
	return -1;
}

int main(int argc, char **argv)
{
	long cycles = argc > 1 ? atol(argv[1]) : 10000;
	long every = argc > 2 ? atol(argv[2]) : 1000;
	long bound = argc > 3 ? atol(argv[3]) : 2048;
	if (cycles < 2 || every < 1 || bound < 0) {
		fprintf(stderr,
		        "usage: stress_lifecycle [CYCLES>=2 [SAMPLE_EVERY>=1 [RSS_BOUND_KIB]]]\n");
		return 2;
	}
	if (every > cycles / 10 && cycles >= 10)
		every = cycles / 10;
	if (!stress_have_kvm()) {
		fprintf(stderr, "stress_lifecycle: /dev/kvm is not available: skipped\n");
		return STRESS_SKIP;
	}
	if (stress_count_allocations() != 0) {
		fprintf(stderr, "stress_lifecycle: hl_set_allocator failed\n");
		return 1;
	}
	int fds0 = stress_fds(), maps0 = stress_maps(), maps_warm = -1;
	long rss0 = stress_rss_kib(), rss_warm = -1, rss_max = 0;
	printf("stress_lifecycle: %ld cycles of new/load/init/2 calls/free, sampled every %ld; "
	       "VmRSS bound after warm-up %ld KiB%s\n",
	       cycles, every, bound, RSS_CHECKED ? "" : " (not checked: AddressSanitizer build)");
	printf("%8s %5s %6s %9s %6s %10s\n", "cycle", "fds", "maps", "rss_kib", "live", "ms/cycle");
	printf("%8d %5d %6d %9ld %6ld %10s\n", 0, fds0, maps0, rss0,
	       (long)atomic_load(&stress_live), "-");
	int failures = 0;
	double t0 = stress_now(), tl = t0;
	for (long i = 1; i <= cycles; i++) {
		if (cycle(i) < 0 && ++failures >= 10)
			break;
		if (i % every && i != cycles)
			continue;
		int fds = stress_fds(), maps = stress_maps();
		long rss = stress_rss_kib(), live = atomic_load(&stress_live);
		double t = stress_now();
		long done = i % every ? i % every : every;
		printf("%8ld %5d %6d %9ld %6ld %10.3f\n", i, fds, maps, rss, live,
		       (t - tl) * 1e3 / (double)done);
		fflush(stdout);
		tl = t;
		if (maps_warm < 0) {
			maps_warm = maps;
			rss_warm = rss;
		}
		if (rss > rss_max)
			rss_max = rss;
		if (fds != fds0) {
			fprintf(stderr,
			        "FAIL: %d file descriptors after %ld cycles, %d before the first\n",
			        fds, i, fds0);
			failures++;
		}
		if (maps != maps_warm) {
			fprintf(stderr, "FAIL: %d mappings after %ld cycles, %d after warm-up\n",
			        maps, i, maps_warm);
			failures++;
		}
		if (live != 0) {
			fprintf(stderr,
			        "FAIL: %ld heap blocks of the library outstanding after %ld cycles\n",
			        live, i);
			failures++;
		}
		if (RSS_CHECKED && rss > rss_warm + bound) {
			fprintf(stderr,
			        "FAIL: VmRSS %ld KiB after %ld cycles, %ld KiB after warm-up (bound +%ld)\n",
			        rss, i, rss_warm, bound);
			failures++;
		}
	}
	double secs = stress_now() - t0;
	printf("stress_lifecycle: %ld cycles in %.1f s (%.3f ms/cycle); fds %d -> %d; VmRSS %ld KiB "
	       "at start, %ld after warm-up, %ld at most, %ld at the end; %s\n",
	       cycles, secs, secs * 1e3 / (double)cycles, fds0, stress_fds(), rss0, rss_warm,
	       rss_max, stress_rss_kib(), failures ? "FAILED" : "all checks passed");
	return failures ? 1 : 0;
}
