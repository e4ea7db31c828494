/* test_cancel.c - cancelling calls from other threads, timeouts, and the races. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int sig(void)
{
	return SIGRTMIN + 3;
}

static hl_sandbox *open_cancellable(const char *guest, uint32_t timeout_ms)
{
	hl_config cfg = hlt_interruptible(sig(), timeout_ms);
	return hlt_open(guest, &cfg, NULL);
}

static void a_spinning_guest_is_cancelled_from_another_thread(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_cancellable("simpleguest", 0);
	struct hlt_canceller c;
	hlt_canceller_start(&c, sb);
	HLT_ASSERT_CODE(sb, hl_call(sb, "Spin", NULL, 0, NULL), HL_E_CANCELLED);
	hlt_canceller_stop(&c);
	assert_true(hl_sandbox_poisoned(sb));
	HLT_ASSERT_CODE(sb, hl_call(sb, "NoOp", NULL, 0, NULL), HL_E_POISONED);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hlt_call_ok(sb, "NoOp", NULL, 0);
	hl_sandbox_free(sb);
}

static void a_cancel_while_idle_does_not_cancel_the_next_call(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_cancellable("simpleguest", 0);
	hl_interrupt *h;
	assert_int_equal(hl_sandbox_interrupt_handle(sb, &h), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(hl_interrupt_cancel(h), 0);
		hlt_call_ok(sb, "NoOp", NULL, 0);
	}
	hl_interrupt_free(h);
	hl_sandbox_free(sb);
}

static atomic_int host_calls;

static int cancelling_host_add(hl_host_call *hc, const hl_value *a, size_t n, hl_value *r, void *u)
{
	(void)hc, (void)a, (void)n;
	atomic_fetch_add(&host_calls, 1);
	assert_int_equal(hl_interrupt_cancel(u), 1); /* the call is running: it is targeted */
	r->u.i32 = 0;
	return 0;
}

static void a_call_in_a_host_function_ends_when_it_returns(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0); /* no signal needed for this case */
	hl_interrupt *h;
	assert_int_equal(hl_sandbox_interrupt_handle(sb, &h), 0);
	hl_type p[2] = {HL_TYPE_I32, HL_TYPE_I32};
	assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("callbackguest")), 0);
	assert_int_equal(hl_sandbox_register(sb, "HostAdd", HL_TYPE_I32, p, 2, cancelling_host_add,
	                                     h),
	                 0);
	assert_int_equal(hl_sandbox_init(sb), 0);
	hl_value n = hl_i32(100);
	atomic_store(&host_calls, 0);
	HLT_ASSERT_CODE(sb, hl_call(sb, "HostCallLoop", &n, 1, NULL), HL_E_CANCELLED);
	assert_int_equal(atomic_load(&host_calls), 1); /* the guest never ran again */
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hl_interrupt_free(h);
	hl_sandbox_free(sb);
}

static void a_timeout_cancels_a_spinning_call_only(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_cancellable("simpleguest", 200);
	for (int i = 0; i < 20; i++)
		hlt_call_ok(sb, "NoOp", NULL, 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	HLT_ASSERT_CODE(sb, hl_call(sb, "Spin", NULL, 0, NULL), HL_E_CANCELLED);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	HLT_ASSERT_MSG(sb, "timed out");
	double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	fprintf(stderr, "Spin with a 200 ms timeout returned after %.1f ms\n", ms);
	assert_true(ms >= 199);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hlt_call_ok(sb, "NoOp", NULL, 0);
	hl_sandbox_free(sb);
}

static void a_signal_without_a_handler_is_refused(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb;
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.call_timeout_ms = 10;
	assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_load_file(sb, hlt_guest("simpleguest")), HL_E_CONFIG);
	hl_sandbox_free(sb);
	cfg.call_timeout_ms = 0;
	cfg.interrupt_signal = SIGRTMIN + 7; /* default action: terminate */
	assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_load_file(sb, hlt_guest("simpleguest")), HL_E_CONFIG);
	HLT_ASSERT_MSG(sb, "handler");
	hl_sandbox_free(sb);
}

static void a_handle_outlives_its_sandbox(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_cancellable("simpleguest", 0);
	hl_interrupt *h;
	assert_int_equal(hl_sandbox_interrupt_handle(sb, &h), 0);
	hl_sandbox_free(sb);
	assert_int_equal(hl_interrupt_cancel(h), HL_E_STATE);
	hl_interrupt_free(h);
}

/* ---- stress: targets spin and are cancelled, bystanders never are, racers may be ---- */

#define TARGETS 3
#define BYSTANDERS 2
#define SPINS 5
#define BYSTANDER_CALLS 300

struct worker {
	hl_sandbox *sb;
	hl_interrupt *h;
	atomic_bool done;
	int bad;
	int cancelled;
	char msg[256];
};

static void *target(void *p)
{
	struct worker *w = p;
	for (int i = 0; i < SPINS; i++) {
		int r = hl_call(w->sb, "Spin", NULL, 0, NULL);
		if (r != HL_E_CANCELLED) {
			w->bad++;
			snprintf(w->msg, sizeof w->msg, "Spin returned %d", r);
		}
		hl_sandbox_reset(w->sb);
	}
	atomic_store(&w->done, true);
	return NULL;
}

static void *bystander(void *p)
{
	struct worker *w = p;
	for (int i = 0; i < BYSTANDER_CALLS; i++) {
		hl_value a = hl_string("x", 1);
		int r = hl_call(w->sb, i % 2 ? "Echo" : "NoOp", &a, i % 2, NULL);
		if (r != 0) {
			w->bad++;
			snprintf(w->msg, sizeof w->msg, "bystander call %d returned %d: %s", i, r,
			         hl_errmsg(w->sb));
		}
	}
	atomic_store(&w->done, true);
	return NULL;
}

/* Short calls under random cancels: each ends OK or CANCELLED, never anything else. */
static void *racer(void *p)
{
	struct worker *w = p;
	while (!atomic_load(&w->done)) {
		int r = hl_call(w->sb, "NoOp", NULL, 0, NULL);
		if (r == HL_E_CANCELLED) {
			w->cancelled++;
			hl_sandbox_reset(w->sb);
		} else if (r != 0) {
			w->bad++;
			snprintf(w->msg, sizeof w->msg, "racer call returned %d", r);
		}
	}
	return NULL;
}

static void random_cancels_hit_only_their_targets(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	struct worker t[TARGETS], b[BYSTANDERS], rc;
	memset(t, 0, sizeof t);
	memset(b, 0, sizeof b);
	memset(&rc, 0, sizeof rc);
	pthread_t tt[TARGETS], bt[BYSTANDERS], rt;
	for (int i = 0; i < TARGETS; i++) {
		t[i].sb = open_cancellable("simpleguest", 0);
		hl_sandbox_interrupt_handle(t[i].sb, &t[i].h);
		pthread_create(&tt[i], NULL, target, &t[i]);
	}
	for (int i = 0; i < BYSTANDERS; i++) {
		b[i].sb = open_cancellable("simpleguest", 0);
		pthread_create(&bt[i], NULL, bystander, &b[i]);
	}
	rc.sb = open_cancellable("simpleguest", 0);
	hl_sandbox_interrupt_handle(rc.sb, &rc.h);
	pthread_create(&rt, NULL, racer, &rc);
	unsigned seed = 12345;
	for (;;) {
		bool all = true;
		for (int i = 0; i < TARGETS; i++)
			all &= atomic_load(&t[i].done);
		for (int i = 0; i < BYSTANDERS; i++)
			all &= atomic_load(&b[i].done);
		if (all)
			break;
		usleep((useconds_t)(rand_r(&seed) % 3000));
		hl_interrupt_cancel(t[rand_r(&seed) % TARGETS].h);
		if (rand_r(&seed) % 2)
			hl_interrupt_cancel(rc.h);
	}
	atomic_store(&rc.done, true);
	for (int i = 0; i < TARGETS; i++)
		pthread_join(tt[i], NULL);
	for (int i = 0; i < BYSTANDERS; i++)
		pthread_join(bt[i], NULL);
	pthread_join(rt, NULL);
	fprintf(stderr, "racer: %d calls cancelled\n", rc.cancelled);
	/* No cancel is pending anywhere: the next calls all succeed. */
	for (int i = 0; i < 50; i++)
		hlt_call_ok(rc.sb, "NoOp", NULL, 0);
	for (int i = 0; i < TARGETS; i++) {
		if (t[i].bad)
			fail_msg("target %d: %s", i, t[i].msg);
		hl_interrupt_free(t[i].h);
		hl_sandbox_free(t[i].sb);
	}
	for (int i = 0; i < BYSTANDERS; i++) {
		if (b[i].bad)
			fail_msg("bystander %d: %s", i, b[i].msg);
		hl_sandbox_free(b[i].sb);
	}
	if (rc.bad)
		fail_msg("racer: %s", rc.msg);
	hl_interrupt_free(rc.h);
	hl_sandbox_free(rc.sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_spinning_guest_is_cancelled_from_another_thread),
		cmocka_unit_test(a_cancel_while_idle_does_not_cancel_the_next_call),
		cmocka_unit_test(a_call_in_a_host_function_ends_when_it_returns),
		cmocka_unit_test(a_timeout_cancels_a_spinning_call_only),
		cmocka_unit_test(a_signal_without_a_handler_is_refused),
		cmocka_unit_test(a_handle_outlives_its_sandbox),
		cmocka_unit_test(random_cancels_hit_only_their_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
