/* test_parallel.c - many sandboxes used from several threads at once. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define THREADS 4
#define SANDBOXES_PER_THREAD 3
#define CALLS 200

struct worker {
	int id;
	int errors;
	char msg[256];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	hl_sandbox *sbs[SANDBOXES_PER_THREAD];
	for (int s = 0; s < SANDBOXES_PER_THREAD; s++) {
		hl_sandbox *sb;
		if (hl_sandbox_new(NULL, &sb) != 0 ||
		    hl_sandbox_load_file(sb, hlt_guest("simpleguest")) != 0 ||
		    hl_sandbox_init(sb) != 0) {
			snprintf(w->msg, sizeof w->msg, "setup: %s", hl_errmsg(sb));
			w->errors++;
			hl_sandbox_free(sb);
			sbs[s] = NULL;
			continue;
		}
		sbs[s] = sb;
	}
	for (int i = 0; i < CALLS; i++) {
		hl_sandbox *sb = sbs[i % SANDBOXES_PER_THREAD];
		if (!sb)
			continue;
		char buf[64];
		int n = snprintf(buf, sizeof buf, "thread %d call %d", w->id, i);
		hl_value a = hl_string(buf, (size_t)n), r;
		if (hl_call(sb, "Echo", &a, 1, &r) != 0 || strcmp(r.u.str.ptr, buf) != 0) {
			snprintf(w->msg, sizeof w->msg, "Echo: %s", hl_errmsg(sb));
			w->errors++;
		}
		hl_value k = hl_i32(1);
		if (hl_call(sb, "AddToStatic", &k, 1, &r) != 0 ||
		    r.u.i32 != i / SANDBOXES_PER_THREAD + 1) {
			snprintf(w->msg, sizeof w->msg, "AddToStatic: got %d", r.u.i32);
			w->errors++;
		}
	}
	for (int s = 0; s < SANDBOXES_PER_THREAD; s++)
		hl_sandbox_free(sbs[s]);
	return NULL;
}

static void sandboxes_on_several_threads_do_not_interfere(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	pthread_t t[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.id = i};
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].errors)
			fail_msg("thread %d: %d errors, last: %s", i, w[i].errors, w[i].msg);
	}
}

static void faults_on_one_thread_leave_others_alone(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *good = hlt_open("simpleguest", NULL, NULL);
	hl_sandbox *bad = hlt_open("simpleguest", NULL, NULL);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(hl_call(bad, "DivideByZero", NULL, 0, NULL), HL_E_GUEST_FAULT);
		assert_int_equal(hl_sandbox_reset(bad), 0);
		hl_value a = hl_i32(i), r;
		assert_int_equal(hl_call(good, "EchoI32", &a, 1, &r), 0);
		assert_int_equal(r.u.i32, i);
	}
	hl_sandbox_free(good);
	hl_sandbox_free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sandboxes_on_several_threads_do_not_interfere),
		cmocka_unit_test(faults_on_one_thread_leave_others_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
