/*
 * stress_calls.c - M calls on one sandbox, interleaved with guest faults of
 * every kind, each followed by a reset; every result is checked.
 *
 * Usage: stress_calls [CALLS [FAULT_EVERY]]
 *   CALLS        default 100000 guest calls in all (faults included)
 *   FAULT_EVERY  default 10: every FAULT_EVERY-th call faults, the kinds in
 *                turn (page fault, #DE, #UD, #GP, #BP, stack overflow,
 *                abort, access outside memory, unknown port, triple fault,
 *                and a guest error, which does not poison)
 * The normal calls rotate through integer, string, bytes and double echoes
 * and a counter in guest memory whose expected value the program tracks
 * (a reset puts it back to 0). After a poisoning fault the program checks
 * the fault's code, kind and vector, that a call is refused with
 * HL_E_POISONED, then resets.
 * Exit status: 0 every result was right, 1 otherwise, 77 no /dev/kvm.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stress.h"

struct fault {
	const char *fn;
	int nargs;   /* 0; 1: an i32; 2: an i32 and a string */
	int32_t arg; /* the i32, or -1: the call's number (a code to check) */
	int code;    /* expected result */
	enum hl_fault_kind kind;
	int vector; /* expected vector/port, -1: not checked */
};

static const struct fault faults[] = {
	{"NullDeref", 0, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 14},
	{"DivideByZero", 0, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 0},
	{"InvalidOpcode", 0, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 6},
	{"GeneralProtection", 0, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 13},
	{"Breakpoint", 0, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 3},
	{"StackOverflow", 1, 100000, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 14},
	{"AbortWithCode", 1, -1, HL_E_GUEST_ABORT, HL_FAULT_ABORT, -1},
	{"OutsideMemory", 0, 0, HL_E_GUEST_FAULT, HL_FAULT_MMIO, -1},
	{"UnknownPort", 0, 0, HL_E_GUEST_PROTOCOL, HL_FAULT_UNKNOWN_PORT, 0x1234},
	{"TripleFault", 0, 0, HL_E_GUEST_FAULT, HL_FAULT_SHUTDOWN, -1},
	{"ReturnError", 2, -1, HL_E_GUEST_ERROR, HL_FAULT_NONE, -1},
};
#define NFAULTS (sizeof faults / sizeof faults[0])

static long errors;

#define CHECK(cond, ...)                                      \
	do {                                                  \
		if (!(cond)) {                                \
			if (errors < 20)                      \
				fprintf(stderr, __VA_ARGS__); \
			errors++;                             \
		}                                             \
	} while (0)

static void discard(int fd, const char *data, size_t len, void *user)
{
	(void)fd, (void)data, (void)len, (void)user;
}

/* One normal call of the rotation; `counter` is the guest's expected counter. */
static void normal_call(hl_sandbox *sb, long i, int32_t *counter)
{
	hl_value v, a;
	int r;
	char s[32];
	uint8_t b[8];
	switch (i % 6) {
	case 0:
		a = hl_i32((int32_t)i);
		r = hl_call(sb, "EchoI32", &a, 1, &v);
		CHECK(r == 0 && v.u.i32 == (int32_t)i,
		      "call %ld: EchoI32 = %d (%s), value %" PRId32 "\n", i, r, hl_errmsg(sb),
		      v.u.i32);
		break;
	case 1: {
		int n = snprintf(s, sizeof s, "call-%ld", i);
		a = hl_string(s, (size_t)n);
		r = hl_call(sb, "Echo", &a, 1, &v);
		CHECK(r == 0 && v.u.str.len == (size_t)n && memcmp(v.u.str.ptr, s, (size_t)n) == 0,
		      "call %ld: Echo = %d (%s)\n", i, r, hl_errmsg(sb));
		break;
	}
	case 2: {
		int32_t k = (int32_t)(i % 7) + 1;
		a = hl_i32(k);
		*counter += k;
		r = hl_call(sb, "AddToStatic", &a, 1, &v);
		CHECK(r == 0 && v.u.i32 == *counter,
		      "call %ld: AddToStatic = %d (%s), %" PRId32 ", expected %" PRId32 "\n", i, r,
		      hl_errmsg(sb), v.u.i32, *counter);
		break;
	}
	case 3:
		for (int k = 0; k < 8; k++)
			b[k] = (uint8_t)(i >> (k * 8)) ^ (uint8_t)k;
		a = hl_bytes(b, sizeof b);
		r = hl_call(sb, "EchoBytes", &a, 1, &v);
		CHECK(r == 0 && v.u.bytes.len == sizeof b && memcmp(v.u.bytes.ptr, b, sizeof b) == 0,
		      "call %ld: EchoBytes = %d (%s)\n", i, r, hl_errmsg(sb));
		break;
	case 4:
		a = hl_f64((double)i * 0.5);
		r = hl_call(sb, "EchoF64", &a, 1, &v);
		CHECK(r == 0 && v.u.f64 == (double)i * 0.5, "call %ld: EchoF64 = %d (%s)\n", i, r,
		      hl_errmsg(sb));
		break;
	default:
		r = hl_call(sb, "GetStatic", NULL, 0, &v);
		CHECK(r == 0 && v.u.i32 == *counter,
		      "call %ld: GetStatic = %d (%s), %" PRId32 ", expected %" PRId32 "\n", i, r,
		      hl_errmsg(sb), v.u.i32, *counter);
		break;
	}
}

/* One faulting call, its checks, and the reset; returns 1 if it reset. */
static int fault_call(hl_sandbox *sb, long i, const struct fault *f, int32_t *counter)
{
	hl_value args[2] = {hl_i32(f->arg >= 0 ? f->arg : (int32_t)(i & 0x7fff)),
	                    hl_string("stress", 6)};
	int r = hl_call(sb, f->fn, args, (size_t)f->nargs, NULL);
	CHECK(r == f->code, "call %ld: %s = %d (%s), expected %d (%s)\n", i, f->fn, r,
	      hl_strerror(r), f->code, hl_strerror(f->code));
	hl_fault ft;
	hl_sandbox_last_fault(sb, &ft);
	if (f->code == HL_E_GUEST_ERROR) {
		/* A guest error is an answer, not a failure: no poisoning, no reset. */
		CHECK(!hl_sandbox_poisoned(sb), "call %ld: a guest error poisoned the sandbox\n", i);
		CHECK(hl_sandbox_guest_code(sb) == (int)(i & 0x7fff), "call %ld: guest code %d\n",
		      i, hl_sandbox_guest_code(sb));
		return 0;
	}
	CHECK(ft.kind == f->kind, "call %ld: %s fault kind %d, expected %d (%s)\n", i, f->fn,
	      ft.kind, f->kind, hl_errmsg(sb));
	if (f->vector >= 0)
		CHECK(ft.vector == (uint32_t)f->vector, "call %ld: %s vector %u, expected %d\n", i,
		      f->fn, ft.vector, f->vector);
	if (f->kind == HL_FAULT_ABORT)
		CHECK(hl_sandbox_guest_code(sb) == (int)(i & 0x7fff), "call %ld: abort code %d\n",
		      i, hl_sandbox_guest_code(sb));
	CHECK(hl_sandbox_poisoned(sb), "call %ld: %s did not poison the sandbox\n", i, f->fn);
	hl_value a = hl_i32(1);
	r = hl_call(sb, "EchoI32", &a, 1, NULL);
	CHECK(r == HL_E_POISONED, "call %ld: a call after %s = %d, expected HL_E_POISONED\n", i,
	      f->fn, r);
	r = hl_sandbox_reset(sb);
	CHECK(r == 0, "call %ld: reset after %s = %d (%s)\n", i, f->fn, r, hl_errmsg(sb));
	*counter = 0;
	return 1;
}

int main(int argc, char **argv)
{
	long calls = argc > 1 ? atol(argv[1]) : 100000;
	long every = argc > 2 ? atol(argv[2]) : 10;
	if (calls < 1 || every < 2) {
		fprintf(stderr, "usage: stress_calls [CALLS>=1 [FAULT_EVERY>=2]]\n");
		return 2;
	}
	if (!stress_have_kvm()) {
		fprintf(stderr, "stress_calls: /dev/kvm is not available: skipped\n");
		return STRESS_SKIP;
	}
	if (stress_count_allocations() != 0) {
		fprintf(stderr, "stress_calls: hl_set_allocator failed\n");
		return 1;
	}
	int fds0 = stress_fds();
	long rss0 = stress_rss_kib();
	hl_sandbox *sb = NULL;
	int r = hl_sandbox_new(NULL, &sb);
	if (r == 0) {
		hl_sandbox_set_print(sb, discard, NULL);
		r = hl_sandbox_load_file(sb, stress_guest("simpleguest"));
	}
	if (r == 0)
		r = hl_sandbox_init(sb);
	if (r < 0) {
		fprintf(stderr, "stress_calls: setting up: %s: %s\n", hl_strerror(r), hl_errmsg(sb));
		hl_sandbox_free(sb);
		return 1;
	}
	int fds1 = stress_fds();
	long rss1 = stress_rss_kib();
	long per_kind[NFAULTS] = {0}, nfaults = 0, resets = 0;
	int32_t counter = 0;
	double t0 = stress_now();
	for (long i = 0; i < calls; i++) {
		if (i % every == every - 1) {
			const struct fault *f = &faults[nfaults % NFAULTS];
			per_kind[nfaults % NFAULTS]++;
			nfaults++;
			resets += fault_call(sb, i, f, &counter);
		} else {
			normal_call(sb, i, &counter);
		}
		if (errors >= 1000)
			break;
	}
	double secs = stress_now() - t0;
	int fds2 = stress_fds();
	long rss2 = stress_rss_kib();
	hl_sandbox_free(sb);
	long live = atomic_load(&stress_live);
	CHECK(live == 0, "%ld heap blocks of the library outstanding after free\n", live);
	CHECK(stress_fds() == fds0, "%d file descriptors after free, %d before\n", stress_fds(),
	      fds0);
	CHECK(fds2 == fds1, "%d file descriptors after the calls, %d before them\n", fds2, fds1);
	printf("stress_calls: %ld calls (%ld normal, %ld faults, %ld resets) in %.1f s, %.1f us per call "
	       "on average\n",
	       calls, calls - nfaults, nfaults, resets, secs, secs * 1e6 / (double)calls);
	printf("  faults by kind:");
	for (size_t k = 0; k < NFAULTS; k++)
		printf(" %s %ld%s", faults[k].fn, per_kind[k], k + 1 < NFAULTS ? "," : "\n");
	printf("  fds %d before the sandbox, %d with it, %d after the calls, %d after free; VmRSS %ld KiB "
	       "before, %ld after init, %ld after the calls; heap blocks outstanding after free %ld\n",
	       fds0, fds1, fds2, stress_fds(), rss0, rss1, rss2, live);
	printf("stress_calls: %s (%ld wrong results)\n", errors ? "FAILED" : "every result right",
	       errors);
	return errors ? 1 : 0;
}
