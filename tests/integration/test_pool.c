/* test_pool.c - a pool hands out fresh sandboxes, bounded, from many threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Every test's fixture: a simpleguest sandbox, its snapshot and a pool made
 * from that snapshot. Set up only where KVM works; the test skips first
 * where it does not. */
struct fixture {
	hl_sandbox *origin;
	hl_snapshot *snap;
	hl_pool *pool;
};

static int setup_pool(void **state, unsigned size)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	*state = f;
	if (!hlt_have_kvm())
		return 0;
	f->origin = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(f->origin, hl_sandbox_snapshot(f->origin, &f->snap), 0);
	assert_int_equal(hl_pool_new(f->snap, NULL, size, &f->pool), 0);
	return 0;
}

static int pool_of_1(void **state)
{
	return setup_pool(state, 1);
}

static int pool_of_2(void **state)
{
	return setup_pool(state, 2);
}

static int teardown_pool(void **state)
{
	struct fixture *f = *state;
	hl_pool_free(f->pool);
	hl_snapshot_free(f->snap);
	hl_sandbox_free(f->origin);
	free(f);
	return 0;
}

#define POOL_TEST(test, setup) cmocka_unit_test_setup_teardown(test, setup, teardown_pool)

static void acquired_sandboxes_start_fresh(void **state)
{
	HLT_REQUIRE_KVM();
	struct fixture *f = *state;
	hl_pool *pool = f->pool;
	for (int i = 0; i < 5; i++) {
		hl_sandbox *sb;
		assert_int_equal(hl_pool_acquire(pool, 0, &sb), 0);
		hl_value a = hl_i32(10);
		/* every request sees the static counter at its snapshot value */
		assert_int_equal(hlt_call_ok(sb, "AddToStatic", &a, 1).u.i32, 10);
		assert_int_equal(hl_pool_release(pool, sb), 0);
	}
}

static void pool_is_bounded_and_reports_busy(void **state)
{
	HLT_REQUIRE_KVM();
	struct fixture *f = *state;
	hl_pool *pool = f->pool;
	hl_sandbox *a, *b, *c;
	assert_int_equal(hl_pool_acquire(pool, 0, &a), 0);
	assert_int_equal(hl_pool_acquire(pool, 0, &b), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(hl_pool_acquire(pool, 0, &c), HL_E_BUSY);
	assert_int_equal(hl_pool_acquire(pool, 50, &c), HL_E_BUSY);
	assert_int_equal(hl_pool_release(pool, a), 0);
	assert_int_equal(hl_pool_acquire(pool, 0, &c), 0);
	assert_ptr_equal(c, a);
	assert_int_equal(hl_pool_release(pool, b), 0);
	assert_int_equal(hl_pool_release(pool, c), 0);
}

static void release_of_a_foreign_sandbox_is_refused(void **state)
{
	HLT_REQUIRE_KVM();
	struct fixture *f = *state;
	hl_pool *pool = f->pool;
	assert_int_equal(hl_pool_release(pool, f->origin), HL_E_INVAL);
	assert_int_equal(hl_pool_release(NULL, f->origin), HL_E_INVAL);
	hl_pool *none = (hl_pool *)1;
	assert_int_equal(hl_pool_new(f->snap, NULL, 0, &none), HL_E_INVAL);
	assert_null(none);
}

static void a_poisoned_sandbox_comes_back_fresh(void **state)
{
	HLT_REQUIRE_KVM();
	struct fixture *f = *state;
	hl_pool *pool = f->pool;
	hl_sandbox *sb;
	assert_int_equal(hl_pool_acquire(pool, 0, &sb), 0);
	assert_int_equal(hl_call(sb, "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
	assert_int_equal(hl_pool_release(pool, sb), 0);
	assert_int_equal(hl_pool_acquire(pool, 0, &sb), 0);
	assert_false(hl_sandbox_poisoned(sb));
	hlt_call_ok(sb, "NoOp", NULL, 0);
	assert_int_equal(hl_pool_release(pool, sb), 0);
}

struct worker {
	hl_pool *pool;
	int id, errors;
	char msg[200];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 30; i++) {
		hl_sandbox *sb;
		int r = hl_pool_acquire(w->pool, UINT32_MAX, &sb);
		if (r != 0) {
			snprintf(w->msg, sizeof w->msg, "acquire: %s", hl_strerror(r));
			w->errors++;
			continue;
		}
		hl_value a = hl_i32(w->id + 1), v;
		if (hl_call(sb, "AddToStatic", &a, 1, &v) != 0 || v.u.i32 != w->id + 1) {
			snprintf(w->msg, sizeof w->msg,
			         "AddToStatic saw state of another request (%d)", v.u.i32);
			w->errors++;
		}
		hl_pool_release(w->pool, sb);
	}
	return NULL;
}

static void threads_share_a_small_pool_without_seeing_each_other(void **state)
{
	HLT_REQUIRE_KVM();
	struct fixture *f = *state;
	hl_pool *pool = f->pool;
	pthread_t t[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.pool = pool, .id = i};
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (w[i].errors)
			fail_msg("thread %d: %d errors: %s", i, w[i].errors, w[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		POOL_TEST(acquired_sandboxes_start_fresh, pool_of_2),
		POOL_TEST(pool_is_bounded_and_reports_busy, pool_of_2),
		POOL_TEST(release_of_a_foreign_sandbox_is_refused, pool_of_1),
		POOL_TEST(a_poisoned_sandbox_comes_back_fresh, pool_of_1),
		POOL_TEST(threads_share_a_small_pool_without_seeing_each_other, pool_of_2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
