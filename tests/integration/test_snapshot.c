/* test_snapshot.c - snapshots, restore, fresh-state calls, sandboxes made from a snapshot. */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "sample_host.h"

/* The secret is canonical: it also goes into KERNEL_GS_BASE, where a
 * non-canonical value is #GP on hardware (QEMU's emulation accepts it). */
static const struct hlt_probe secret = {"LeaveSecret", "FindSecret", 0x00005ec7e75ec0deull};

static void a_secret_in_memory_and_registers_does_not_survive_restore(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_snapshot *snap;
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &snap), 0);
	assert_int_equal(hlt_probe_find(sb, &secret), 0);
	/* Without a restore the secret is found: the probe is real. */
	hlt_probe_leave(sb, &secret);
	int seen = hlt_probe_find(sb, &secret);
	fprintf(stderr, "secret found without restore in: 0x%x\n", seen);
	assert_int_equal(seen & (1 | 2 | 4 | 8 | 16), 1 | 2 | 4 | 8 | 16);
	/* With one, nothing is left, through either entry point. */
	hlt_assert_restores_clear(sb, snap, &secret);
	hl_snapshot_free(snap);
}

static void a_thousand_fresh_calls_see_the_same_initial_state(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hlt_call_ok(sb, "AddToStatic", &(hl_value){.type = HL_TYPE_I32, .u.i32 = 10}, 1);
	hl_snapshot *snap;
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &snap), 0);
	for (int i = 0; i < 1000; i++) {
		hl_value one = hl_i32(1), r;
		HLT_ASSERT_CODE(sb, hl_call_fresh(sb, snap, "AddToStatic", &one, 1, &r), 0);
		if (r.u.i32 != 11)
			fail_msg("fresh call %d saw static %d, expected 11", i, r.u.i32 - 1);
		hl_value k = hl_i32(i % 64 + 1);
		hlt_call_ok(sb, "DirtyPages", &k, 1);
		if (i % 10 == 0) {
			HLT_ASSERT_CODE(sb, hl_call_fresh(sb, snap, "SumDirtyArea", NULL, 0, &r), 0);
			if (r.u.i32 != 0)
				fail_msg("fresh call %d saw %d in pages dirtied before", i, r.u.i32);
		}
	}
	hl_snapshot_free(snap);
}

struct failing {
	const char *fn;
	hl_value arg;
	size_t nargs;
};

static void restore_works_after_every_kind_of_guest_failure(void **state)
{
	const struct failing fs[] = {
		{"NullDeref", {0}, 0},
		{"DivideByZero", {0}, 0},
		{"InvalidOpcode", {0}, 0},
		{"GeneralProtection", {0}, 0},
		{"Breakpoint", {0}, 0},
		{"WriteToCode", {0}, 0},
		{"ExecuteData", {0}, 0},
		{"TripleFault", {0}, 0},
		{"OutsideMemory", {0}, 0},
		{"UnknownPort", {0}, 0},
		{"CallLibcAbort", {0}, 0},
		{"InfiniteRecursion", {0}, 0},
		{"AbortWithCode", {.type = HL_TYPE_I32, .u.i32 = 7}, 1},
		{"ExitWith", {.type = HL_TYPE_I32, .u.i32 = 3}, 1},
	};
	hl_sandbox *sb = hlt_sandbox(state);
	hl_snapshot *snap;
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &snap), 0);
	for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
		hl_value five = hl_i32(5), r;
		hlt_call_ok(sb, "AddToStatic", &five, 1);
		hlt_probe_leave(sb, &secret);
		int rc = hl_call(sb, fs[i].fn, &fs[i].arg, fs[i].nargs, NULL);
		if (rc >= 0 || !hl_sandbox_poisoned(sb))
			fail_msg("%s: returned %d and did not poison", fs[i].fn, rc);
		HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &(hl_snapshot *){0}), HL_E_POISONED);
		HLT_ASSERT_CODE(sb, hl_sandbox_restore(sb, snap), 0);
		assert_false(hl_sandbox_poisoned(sb));
		r = hlt_call_ok(sb, "GetStatic", NULL, 0);
		if (r.u.i32 != 0)
			fail_msg("after %s and restore: static is %d", fs[i].fn, r.u.i32);
		if (hlt_probe_find(sb, &secret) != 0)
			fail_msg("after %s and restore: the secret survived", fs[i].fn);
		hl_value s = hl_string("ok", 2);
		r = hlt_call_ok(sb, "Echo", &s, 1);
		assert_string_equal(r.u.str.ptr, "ok");
	}
	hl_snapshot_free(snap);
}

static void a_snapshot_restores_into_another_sandbox_of_the_same_guest(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *a = hlt_open("simpleguest", NULL, NULL);
	hl_sandbox *b = hlt_open("simpleguest", NULL, NULL);
	hl_value seven = hl_i32(7), one = hl_i32(1);
	hlt_call_ok(a, "AddToStatic", &seven, 1);
	hl_snapshot *snap;
	HLT_ASSERT_CODE(a, hl_sandbox_snapshot(a, &snap), 0);
	HLT_ASSERT_CODE(b, hl_sandbox_restore(b, snap), 0);
	assert_int_equal(hlt_call_ok(b, "GetStatic", NULL, 0).u.i32, 7);
	assert_int_equal(hlt_call_ok(b, "AddToStatic", &one, 1).u.i32, 8);
	assert_int_equal(hlt_call_ok(a, "GetStatic", NULL, 0).u.i32, 7); /* isolated */
	assert_int_equal(hlt_call_ok(a, "AddToStatic", &one, 1).u.i32, 8);
	HLT_ASSERT_CODE(b, hl_sandbox_restore(b, snap), 0);
	assert_int_equal(hlt_call_ok(b, "GetStatic", NULL, 0).u.i32, 7);
	/* b's reset still goes to b's own initial state */
	HLT_ASSERT_CODE(b, hl_sandbox_reset(b), 0);
	assert_int_equal(hlt_call_ok(b, "GetStatic", NULL, 0).u.i32, 0);

	hl_config cfg;
	hl_config_init(&cfg);
	cfg.heap_size *= 2;
	hl_sandbox *c = hlt_open("simpleguest", &cfg, NULL);
	HLT_ASSERT_CODE(c, hl_sandbox_restore(c, snap), HL_E_INVAL);
	HLT_ASSERT_MSG(c, "layout");
	hl_sandbox *d = hlt_open("callbackguest", NULL, NULL);
	HLT_ASSERT_CODE(d, hl_sandbox_restore(d, snap), HL_E_INVAL);
	HLT_ASSERT_MSG(d, "image");
	assert_int_equal(hlt_call_ok(c, "GetStatic", NULL, 0).u.i32, 0);
	hl_snapshot_free(snap);
	hl_sandbox_free(a);
	hl_sandbox_free(b);
	hl_sandbox_free(c);
	hl_sandbox_free(d);
}

static void a_sandbox_made_from_a_snapshot_skips_init_and_outlives_it(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *a = hlt_open("simpleguest", NULL, NULL);
	hl_value three = hl_i32(3);
	hlt_call_ok(a, "AddToStatic", &three, 1);
	hl_snapshot *snap;
	HLT_ASSERT_CODE(a, hl_sandbox_snapshot(a, &snap), 0);
	assert_true(hl_snapshot_size(snap) > 0);
	size_t nfn = hl_function_count(a);
	hl_sandbox_free(a); /* the snapshot outlives its sandbox */
	hl_sandbox *s[8];
	for (int i = 0; i < 8; i++) {
		assert_int_equal(hl_sandbox_new_from_snapshot(snap, NULL, &s[i]), 0);
		assert_int_equal(hl_function_count(s[i]), nfn);
		assert_int_equal(hlt_call_ok(s[i], "AddToStatic",
		                             &(hl_value){.type = HL_TYPE_I32, .u.i32 = i}, 1)
		                         .u.i32,
		                 3 + i);
	}
	hl_snapshot_free(snap); /* sandboxes keep their own reference */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(hlt_call_ok(s[i], "GetStatic", NULL, 0).u.i32, 3 + i);
		HLT_ASSERT_CODE(s[i], hl_call(s[i], "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
		HLT_ASSERT_CODE(s[i], hl_sandbox_reset(s[i]), 0); /* back to the snapshot */
		assert_int_equal(hlt_call_ok(s[i], "GetStatic", NULL, 0).u.i32, 3);
		hl_sandbox_free(s[i]);
	}
}

static int late_fn(hl_host_call *hc, const hl_value *a, size_t n, hl_value *r, void *u)
{
	(void)hc, (void)a, (void)n, (void)u;
	r->u.i32 = 1;
	return 0;
}

static void host_functions_carry_over_and_may_be_added_before_the_first_call(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *a = hlt_open("callbackguest", NULL, NULL);
	hl_snapshot *snap;
	HLT_ASSERT_CODE(a, hl_sandbox_snapshot(a, &snap), 0);
	hl_sandbox *b;
	assert_int_equal(hl_sandbox_new_from_snapshot(snap, NULL, &b), 0);
	HLT_ASSERT_CODE(b, hl_sandbox_register(b, "Late", HL_TYPE_I32, NULL, 0, late_fn, NULL), 0);
	HLT_ASSERT_CODE(b, hl_sandbox_register(b, "HostAdd", HL_TYPE_I32, NULL, 0, late_fn, NULL),
	                HL_E_EXISTS);
	hl_value args[2] = {hl_i32(2), hl_i32(40)};
	assert_int_equal(hlt_call_ok(b, "GuestMethod2", args, 2).u.i32, 42); /* HostAdd inherited */
	HLT_ASSERT_CODE(b, hl_sandbox_register(b, "Later", HL_TYPE_I32, NULL, 0, late_fn, NULL),
	                HL_E_STATE);
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.stack_size *= 2;
	hl_sandbox *c = NULL;
	assert_int_equal(hl_sandbox_new_from_snapshot(snap, &cfg, &c), HL_E_CONFIG);
	assert_null(c);
	hl_snapshot_free(snap);
	hl_sandbox_free(a);
	hl_sandbox_free(b);
}

static void misuse_is_reported(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	hl_snapshot *snap = NULL;
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &snap), HL_E_STATE);
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, NULL), HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_restore(sb, NULL), HL_E_INVAL);
	hl_sandbox *other;
	assert_int_equal(hl_sandbox_new_from_snapshot(NULL, NULL, &other), HL_E_INVAL);
	hl_snapshot_free(NULL);
	hl_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HLT_SIMPLEGUEST_TEST(a_secret_in_memory_and_registers_does_not_survive_restore),
		HLT_SIMPLEGUEST_TEST(a_thousand_fresh_calls_see_the_same_initial_state),
		HLT_SIMPLEGUEST_TEST(restore_works_after_every_kind_of_guest_failure),
		cmocka_unit_test(a_snapshot_restores_into_another_sandbox_of_the_same_guest),
		cmocka_unit_test(a_sandbox_made_from_a_snapshot_skips_init_and_outlives_it),
		cmocka_unit_test(host_functions_carry_over_and_may_be_added_before_the_first_call),
		cmocka_unit_test(misuse_is_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
