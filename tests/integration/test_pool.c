/* test_pool.c - a pool hands out fresh sandboxes, bounded, from many threads. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static hl_snapshot *snapshot_of(const char *guest, hl_sandbox **keep)
{
	hl_sandbox *sb = hlt_open(guest, NULL, NULL);
	hl_snapshot *snap;
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &snap), 0);
	*keep = sb;
	return snap;
}

static void acquired_sandboxes_start_fresh(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *origin;
	hl_snapshot *snap = snapshot_of("simpleguest", &origin);
	hl_pool *pool;
	assert_int_equal(hl_pool_new(snap, NULL, 2, &pool), 0);
	for (int i = 0; i < 5; i++) {
		hl_sandbox *sb;
		assert_int_equal(hl_pool_acquire(pool, 0, &sb), 0);
		hl_value a = hl_i32(10);
		/* every request sees the static counter at its snapshot value */
		assert_int_equal(hlt_call_ok(sb, "AddToStatic", &a, 1).u.i32, 10);
		assert_int_equal(hl_pool_release(pool, sb), 0);
	}
	hl_pool_free(pool);
	hl_snapshot_free(snap);
	hl_sandbox_free(origin);
}

static void pool_is_bounded_and_reports_busy(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *origin;
	hl_snapshot *snap = snapshot_of("simpleguest", &origin);
	hl_pool *pool;
	assert_int_equal(hl_pool_new(snap, NULL, 2, &pool), 0);
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
	hl_pool_free(pool);
	hl_snapshot_free(snap);
	hl_sandbox_free(origin);
}

static void release_of_a_foreign_sandbox_is_refused(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *origin;
	hl_snapshot *snap = snapshot_of("simpleguest", &origin);
	hl_pool *pool;
	assert_int_equal(hl_pool_new(snap, NULL, 1, &pool), 0);
	assert_int_equal(hl_pool_release(pool, origin), HL_E_INVAL);
	assert_int_equal(hl_pool_release(NULL, origin), HL_E_INVAL);
	hl_pool *none = (hl_pool *)1;
	assert_int_equal(hl_pool_new(snap, NULL, 0, &none), HL_E_INVAL);
	assert_null(none);
	hl_pool_free(pool);
	hl_snapshot_free(snap);
	hl_sandbox_free(origin);
}

static void a_poisoned_sandbox_comes_back_fresh(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *origin;
	hl_snapshot *snap = snapshot_of("simpleguest", &origin);
	hl_pool *pool;
	assert_int_equal(hl_pool_new(snap, NULL, 1, &pool), 0);
	hl_sandbox *sb;
	assert_int_equal(hl_pool_acquire(pool, 0, &sb), 0);
	assert_int_equal(hl_call(sb, "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
	assert_int_equal(hl_pool_release(pool, sb), 0);
	assert_int_equal(hl_pool_acquire(pool, 0, &sb), 0);
	assert_false(hl_sandbox_poisoned(sb));
	hlt_call_ok(sb, "NoOp", NULL, 0);
	assert_int_equal(hl_pool_release(pool, sb), 0);
	hl_pool_free(pool);
	hl_snapshot_free(snap);
	hl_sandbox_free(origin);
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
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *origin;
	hl_snapshot *snap = snapshot_of("simpleguest", &origin);
	hl_pool *pool;
	assert_int_equal(hl_pool_new(snap, NULL, 2, &pool), 0);
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
	hl_pool_free(pool);
	hl_snapshot_free(snap);
	hl_sandbox_free(origin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(acquired_sandboxes_start_fresh),
		cmocka_unit_test(pool_is_bounded_and_reports_busy),
		cmocka_unit_test(release_of_a_foreign_sandbox_is_refused),
		cmocka_unit_test(a_poisoned_sandbox_comes_back_fresh),
		cmocka_unit_test(threads_share_a_small_pool_without_seeing_each_other),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
