/*
 * test_fuzzguest.c - many seeds of the fuzzing guest (guests/fuzzguest) through
 * the real KVM path: for each, the host survives, the call ends in success or a
 * documented error with a message, and the sandbox still answers Echo (after
 * hl_sandbox_reset when the guest poisoned it). Prints the outcomes by code.
 *
 * HL_FUZZGUEST_ITERS (default 2000) seeds from HL_FUZZGUEST_SEED (default 1),
 * HL_FUZZGUEST_STEPS (default 64) steps each: a long run is
 * HL_FUZZGUEST_ITERS=100000 build/tests/test_fuzzguest.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define FUZZ_E_VALID 99 /* the guest's code for "a valid request was answered wrongly" */

static unsigned long long env_number(const char *name, unsigned long long def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (*end)
		fail_msg("%s=%s is not a number", name, s);
	return v;
}

static void quiet_log(enum hl_log_level level, const char *file, int line, const char *msg,
                      void *user)
{
	(void)level, (void)file, (void)line, (void)msg;
	(*(unsigned long *)user)++;
}

/* Codes a call may end with when the guest misbehaves (hyperlight.h). */
static const int documented[] = {0,
                                 HL_E_TOO_LARGE,
                                 HL_E_GUEST_ERROR,
                                 HL_E_HOST_FUNCTION,
                                 HL_E_GUEST_ABORT,
                                 HL_E_GUEST_FAULT,
                                 HL_E_GUEST_PROTOCOL,
                                 HL_E_CANCELLED};
#define N_CODES (sizeof documented / sizeof documented[0])

static void echo_works(hl_sandbox *sb, unsigned long long seed)
{
	char text[64];
	int n = snprintf(text, sizeof text, "fuzz seed %llu", seed);
	hl_value arg = hl_string(text, (size_t)n), v;
	int r = hl_call(sb, "Echo", &arg, 1, &v);
	if (r != 0)
		fail_msg("seed %llu: Echo afterwards failed: %s: %s", seed, hl_strerror(r),
		         hl_errmsg(sb));
	if (v.type != HL_TYPE_STRING || v.u.str.len != (size_t)n ||
	    memcmp(v.u.str.ptr, text, n) != 0)
		fail_msg("seed %llu: Echo afterwards returned something else", seed);
}

static void random_guests_leave_the_host_intact(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	unsigned long long iters = env_number("HL_FUZZGUEST_ITERS", 2000);
	unsigned long long first = env_number("HL_FUZZGUEST_SEED", 1);
	unsigned long long steps = env_number("HL_FUZZGUEST_STEPS", 64);

	/* A timeout turns a guest that spins into a counted outcome, not a hung test. */
	hl_config cfg = hlt_interruptible(SIGRTMIN + 3, 20000);
	cfg.max_log_level = HL_LOG_TRACE; /* every log record reaches the host */
	hl_sandbox *sb = hlt_open("fuzzguest", &cfg, NULL);
	unsigned long logs = 0;
	assert_int_equal(hl_sandbox_set_log(sb, quiet_log, &logs), 0);

	unsigned long count[N_CODES] = {0}, resets = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long long seed = first; seed < first + iters; seed++) {
		hl_value args[2] = {hl_u64(seed), hl_u32((uint32_t)steps)}, v;
		int r = hl_call(sb, "Fuzz", args, 2, &v);
		size_t k = 0;
		while (k < N_CODES && documented[k] != r)
			k++;
		if (k == N_CODES)
			fail_msg("seed %llu: undocumented result %d (%s): %s", seed, r,
			         hl_strerror(r), hl_errmsg(sb));
		count[k]++;
		if (r != 0 && hl_errmsg(sb)[0] == '\0')
			fail_msg("seed %llu: %s with an empty message", seed, hl_strerror(r));
		if (r == 0 &&
		    (v.type != HL_TYPE_I32 || v.u.i32 < 0 || (unsigned long long)v.u.i32 > steps))
			fail_msg("seed %llu: success with a result that Fuzz cannot return", seed);
		if (r == HL_E_GUEST_ERROR && hl_sandbox_guest_code(sb) == FUZZ_E_VALID)
			fail_msg("seed %llu: a valid request got a wrong answer: %s", seed,
			         hl_errmsg(sb));
		if (hl_sandbox_poisoned(sb)) {
			/* Only guest failures poison; a poisoned sandbox refuses calls. */
			if (r == 0 || r == HL_E_GUEST_ERROR)
				fail_msg("seed %llu: poisoned after %s", seed, hl_strerror(r));
			HLT_ASSERT_CODE(sb, hl_call(sb, "Echo", &args[0], 0, NULL), HL_E_POISONED);
			HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
			resets++;
		}
		echo_works(sb, seed);
		if ((seed - first + 1) % 10000 == 0) { /* progress, for long runs */
			printf("fuzzguest: %llu seeds done\n", seed - first + 1);
			fflush(stdout);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	printf("fuzzguest: %llu seeds (from %llu, %llu steps each) in %.1f s, %lu resets, %lu log records\n",
	       iters, first, steps, secs, resets, logs);
	unsigned long distinct = 0;
	for (size_t k = 0; k < N_CODES; k++) {
		if (count[k])
			distinct++;
		const char *name = documented[k] ? hl_strerror(documented[k]) : "success";
		printf("  %-20.*s %lu\n", (int)strcspn(name, ":"), name, count[k]);
	}
	fflush(stdout);
	/* Enough seeds must see more than one kind of outcome, or the guest is not attacking. */
	if (iters >= 50 && distinct < 3)
		fail_msg("only %lu kinds of outcome over %llu seeds", distinct, iters);
	hl_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_guests_leave_the_host_intact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
