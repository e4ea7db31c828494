/* test_wasm.c - wasm modules in sandboxes (KVM): arithmetic, memory growth, host imports, WASI, every trap, fresh state, and a module compiled from C. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "hyperlight/wasm.h"
#include "sample_host.h"

/* ---- helpers -------------------------------------------------------------------- */

/* The path of a wasm guest the build made; $HYPERLIGHT_WASM_GUEST_DIR
 * overrides the build's directory. Static buffer. */
static const char *wasm_guest(const char *name)
{
	static char path[4096];
	const char *dir = getenv("HYPERLIGHT_WASM_GUEST_DIR");
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : HL_WASM_GUEST_DIR, name);
	return path;
}

/* What the test's host functions saw. */
static int32_t last_note = -1;
static int note_calls;

static int host_mul(hl_host_call *hc, const hl_value *a, size_t n, hl_value *ret, void *user)
{
	(void)hc, (void)n, (void)user;
	*ret = hl_i32((int32_t)((uint32_t)a[0].u.i32 * (uint32_t)a[1].u.i32));
	return 0;
}

static int host_scale(hl_host_call *hc, const hl_value *a, size_t n, hl_value *ret, void *user)
{
	(void)hc, (void)n, (void)user;
	*ret = hl_f64(a[0].u.f64 * (double)a[1].u.f32);
	return 0;
}

static int host_big(hl_host_call *hc, const hl_value *a, size_t n, hl_value *ret, void *user)
{
	(void)hc, (void)n, (void)user;
	*ret = hl_i64(a[0].u.i64 * 3 + 1);
	return 0;
}

static int host_note(hl_host_call *hc, const hl_value *a, size_t n, hl_value *ret, void *user)
{
	(void)hc, (void)n, (void)user, (void)ret;
	last_note = a[0].u.i32;
	note_calls++;
	return 0;
}

static void register_test_hosts(hl_sandbox *sb)
{
	static const hl_type ii[] = {HL_TYPE_I32, HL_TYPE_I32};
	static const hl_type df[] = {HL_TYPE_F64, HL_TYPE_F32};
	static const hl_type l[] = {HL_TYPE_I64};
	static const hl_type i[] = {HL_TYPE_I32};
	assert_int_equal(hl_sandbox_register(sb, "host_mul", HL_TYPE_I32, ii, 2, host_mul, NULL), 0);
	assert_int_equal(hl_sandbox_register(sb, "host_scale", HL_TYPE_F64, df, 2, host_scale, NULL), 0);
	assert_int_equal(hl_sandbox_register(sb, "host_big", HL_TYPE_I64, l, 1, host_big, NULL), 0);
	assert_int_equal(hl_sandbox_register(sb, "host_note", HL_TYPE_VOID, i, 1, host_note, NULL), 0);
}

static void capture(int fd, const char *data, size_t len, void *user)
{
	struct hlt_output *o = user;
	size_t room = sizeof o->data - 1 - o->len;
	if (len > room)
		len = room;
	memcpy(o->data + o->len, data, len);
	o->len += len;
	o->data[o->len] = '\0';
	o->fds |= 1 << fd;
}

/* Loads the wasm guest `name` with hl_wasm_config_init's configuration,
 * the sample and test host functions, the WASI lists (w may be NULL) and
 * output captured into *out (may be NULL). Returns the init's result in
 * *rc when rc is not NULL; otherwise a failing init fails the test. */
static hl_sandbox *open_wasm(const char *name, struct hlt_output *out, const hl_wasi *w, int *rc)
{
	hl_config cfg;
	hl_wasm_config_init(&cfg);
	hl_sandbox *sb = NULL;
	assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
	static struct hlt_output sink;
	if (!out)
		out = &sink;
	memset(out, 0, sizeof *out);
	hl_sandbox_set_print(sb, capture, out);
	int r = hl_sandbox_load_file(sb, wasm_guest(name));
	if (r != 0)
		fail_msg("loading %s: %s: %s", wasm_guest(name), hl_strerror(r), hl_errmsg(sb));
	assert_int_equal(hl_sample_host_register(sb), 0);
	register_test_hosts(sb);
	if (w)
		assert_int_equal(hl_wasi_register(sb, w), 0);
	r = hl_sandbox_init(sb);
	if (rc)
		*rc = r;
	else if (r != 0)
		fail_msg("init of %s: %s: %s", name, hl_strerror(r), hl_errmsg(sb));
	return sb;
}

static int32_t call_i32(hl_sandbox *sb, const char *fn, const hl_value *a, size_t n)
{
	hl_value v = hlt_call_ok(sb, fn, a, n);
	assert_int_equal(v.type, HL_TYPE_I32);
	return v.u.i32;
}

static int64_t call_i64(hl_sandbox *sb, const char *fn, const hl_value *a, size_t n)
{
	hl_value v = hlt_call_ok(sb, fn, a, n);
	assert_int_equal(v.type, HL_TYPE_I64);
	return v.u.i64;
}

static double call_f64(hl_sandbox *sb, const char *fn, const hl_value *a, size_t n)
{
	hl_value v = hlt_call_ok(sb, fn, a, n);
	assert_int_equal(v.type, HL_TYPE_F64);
	return v.u.f64;
}

/* Looks up a function's signature; NULL if the guest does not have it. */
static bool signature(hl_sandbox *sb, const char *fn, hl_function_info *fi)
{
	for (size_t i = 0, n = hl_function_count(sb); i < n; i++)
		if (hl_function_get(sb, i, fi) == 0 && strcmp(fi->name, fn) == 0)
			return true;
	return false;
}

/* ---- arithmetic and signatures --------------------------------------------------- */

static void exports_have_their_wasm_signatures(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("arith", NULL, NULL, NULL);
	hl_function_info fi;
	assert_true(signature(sb, "mixed", &fi));
	assert_int_equal(fi.ret, HL_TYPE_F64);
	assert_int_equal(fi.nparams, 4);
	assert_int_equal(fi.params[0], HL_TYPE_I32);
	assert_int_equal(fi.params[1], HL_TYPE_I64);
	assert_int_equal(fi.params[2], HL_TYPE_F32);
	assert_int_equal(fi.params[3], HL_TYPE_F64);
	assert_true(signature(sb, "noop", &fi));
	assert_int_equal(fi.ret, HL_TYPE_VOID);
	assert_int_equal(fi.nparams, 0);
	/* Two results and an unregistrable name are skipped. */
	assert_false(signature(sb, "two", &fi));
	assert_false(signature(sb, "bad name!", &fi));
	HLT_ASSERT_CODE(sb, hl_call(sb, "two", NULL, 0, NULL), HL_E_NO_FUNCTION);
	hl_sandbox_free(sb);
}

static void arithmetic_on_every_type(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("arith", NULL, NULL, NULL);
	hl_value a[4];
	a[0] = hl_i32(40), a[1] = hl_i32(2);
	assert_int_equal(call_i32(sb, "add_i32", a, 2), 42);
	a[0] = hl_i32(INT32_MAX), a[1] = hl_i32(1); /* wraps, no trap */
	assert_int_equal(call_i32(sb, "add_i32", a, 2), INT32_MIN);
	a[0] = hl_i32(-7), a[1] = hl_i32(6);
	assert_int_equal(call_i32(sb, "mul_i32", a, 2), -42);
	a[0] = hl_i64(INT64_C(9000000000)), a[1] = hl_i64(INT64_C(-1));
	assert_int_equal(call_i64(sb, "add_i64", a, 2), INT64_C(8999999999));
	a[0] = hl_i64(INT64_C(3000000000)), a[1] = hl_i64(3);
	assert_int_equal(call_i64(sb, "mul_i64", a, 2), INT64_C(9000000000));
	a[0] = hl_f32(1.5f), a[1] = hl_f32(2.25f);
	hl_value v = hlt_call_ok(sb, "add_f32", a, 2);
	assert_int_equal(v.type, HL_TYPE_F32);
	assert_true(v.u.f32 == 3.75f);
	v = hlt_call_ok(sb, "mul_f32", a, 2);
	assert_true(v.u.f32 == 3.375f);
	a[0] = hl_f64(0.1), a[1] = hl_f64(0.2);
	assert_true(call_f64(sb, "add_f64", a, 2) == 0.1 + 0.2);
	a[0] = hl_f64(1e300), a[1] = hl_f64(1e300);
	assert_true(isinf(call_f64(sb, "mul_f64", a, 2)));
	a[0] = hl_f64(2.0);
	assert_true(call_f64(sb, "sqrt_f64", a, 1) == sqrt(2.0));
	a[0] = hl_f64(-1.0);
	assert_true(isnan(call_f64(sb, "sqrt_f64", a, 1)));
	a[0] = hl_i32(1), a[1] = hl_i64(2), a[2] = hl_f32(0.5f), a[3] = hl_f64(0.25);
	assert_true(call_f64(sb, "mixed", a, 4) == 3.75);
	a[0] = hl_i32(20);
	assert_int_equal(call_i32(sb, "fib_i32", a, 1), 6765);
	a[0] = hl_i64(90);
	assert_int_equal(call_i64(sb, "fib_i64", a, 1), INT64_C(2880067194370816120));
	v = hlt_call_ok(sb, "noop", NULL, 0);
	assert_int_equal(v.type, HL_TYPE_VOID);
	hl_sandbox_free(sb);
}

static void arguments_are_checked_before_the_module_runs(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("arith", NULL, NULL, NULL);
	hl_value a[2] = {hl_i64(1), hl_i64(2)};
	HLT_ASSERT_CODE(sb, hl_call(sb, "add_i32", a, 2, NULL), HL_E_ARG_TYPE);
	HLT_ASSERT_CODE(sb, hl_call(sb, "add_i32", a, 1, NULL), HL_E_ARG_COUNT);
	HLT_ASSERT_CODE(sb, hl_call(sb, "nope", a, 1, NULL), HL_E_NO_FUNCTION);
	assert_false(hl_sandbox_poisoned(sb));
	hl_sandbox_free(sb);
}

static void state_persists_and_reset_gives_fresh_state(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("arith", NULL, NULL, NULL);
	assert_int_equal(call_i32(sb, "bump", NULL, 0), 1);
	assert_int_equal(call_i32(sb, "bump", NULL, 0), 2);
	assert_int_equal(call_i32(sb, "bump", NULL, 0), 3);
	for (int i = 0; i < 3; i++) {
		HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
		assert_int_equal(call_i32(sb, "bump", NULL, 0), 1);
	}
	hl_sandbox_free(sb);
}

static void snapshots_and_fresh_state_calls(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("arith", NULL, NULL, NULL);
	assert_int_equal(call_i32(sb, "bump", NULL, 0), 1);
	assert_int_equal(call_i32(sb, "bump", NULL, 0), 2);
	hl_snapshot *snap;
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &snap), 0);
	assert_int_equal(call_i32(sb, "bump", NULL, 0), 3);
	assert_int_equal(call_i32(sb, "bump", NULL, 0), 4);
	HLT_ASSERT_CODE(sb, hl_sandbox_restore(sb, snap), 0);
	assert_int_equal(call_i32(sb, "bump", NULL, 0), 3);
	/* Every fresh-state call starts from the snapshot. */
	for (int i = 0; i < 3; i++) {
		hl_value v;
		HLT_ASSERT_CODE(sb, hl_call_fresh(sb, snap, "bump", NULL, 0, &v), 0);
		assert_int_equal(v.u.i32, 3);
	}
	/* A new sandbox made from the snapshot, without instantiating again. */
	hl_sandbox *sb2;
	HLT_ASSERT_CODE(sb, hl_sandbox_new_from_snapshot(snap, NULL, &sb2), 0);
	assert_int_equal(call_i32(sb2, "bump", NULL, 0), 3);
	hl_value a[2] = {hl_i32(2), hl_i32(3)};
	assert_int_equal(call_i32(sb2, "add_i32", a, 2), 5);
	hl_sandbox_free(sb2);
	hl_snapshot_free(snap);
	hl_sandbox_free(sb);
}

/* ---- memory ---------------------------------------------------------------------- */

static void memory_grows_to_its_maximum(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("memory", NULL, NULL, NULL);
	hl_value a[3];
	assert_int_equal(call_i32(sb, "size", NULL, 0), 1);
	a[0] = hl_i32(3);
	assert_int_equal(call_i32(sb, "grow", a, 1), 1); /* the old size */
	assert_int_equal(call_i32(sb, "size", NULL, 0), 4);
	/* The last word of the new pages is usable, and new memory is zero. */
	a[0] = hl_i32(4 * 65536 - 4);
	assert_int_equal(call_i32(sb, "load", a, 1), 0);
	a[1] = hl_i32(0x12345678);
	hlt_call_ok(sb, "store", a, 2);
	assert_int_equal(call_i32(sb, "load", a, 1), 0x12345678);
	/* One byte further is out of bounds. */
	a[0] = hl_i32(4 * 65536 - 3);
	HLT_ASSERT_CODE(sb, hl_call(sb, "load", a, 1, NULL), HL_E_GUEST_ERROR);
	HLT_ASSERT_MSG(sb, "out of bounds");
	/* Beyond the declared maximum (40 pages): -1, nothing changes. */
	a[0] = hl_i32(37);
	assert_int_equal(call_i32(sb, "grow", a, 1), -1);
	assert_int_equal(call_i32(sb, "size", NULL, 0), 4);
	a[0] = hl_i32(28);
	assert_int_equal(call_i32(sb, "grow", a, 1), 4);
	assert_int_equal(call_i32(sb, "size", NULL, 0), 32);
	/* The data survives the growth (which may move the memory). */
	a[0] = hl_i32(4 * 65536 - 4);
	assert_int_equal(call_i32(sb, "load", a, 1), 0x12345678);
	a[0] = hl_i32(100000), a[1] = hl_i32(1900000), a[2] = hl_i32(7);
	assert_int_equal(call_i64(sb, "fill_sum", a, 3), INT64_C(13300000));
	/* A reset brings back the single page. */
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	assert_int_equal(call_i32(sb, "size", NULL, 0), 1);
	hl_sandbox_free(sb);
}

static void memory_growth_stops_at_the_heap(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("growheap", NULL, NULL, NULL);
	hl_value a[1];
	/* 4 MiB of heap: 64 pages more is too much, 16 pages is fine. */
	a[0] = hl_i32(64);
	assert_int_equal(call_i32(sb, "grow", a, 1), -1);
	assert_int_equal(call_i32(sb, "size", NULL, 0), 1);
	a[0] = hl_i32(16);
	assert_int_equal(call_i32(sb, "grow", a, 1), 1);
	assert_int_equal(call_i32(sb, "touch_last", NULL, 0), 77);
	a[0] = hl_i32(65535); /* past 4 GiB */
	assert_int_equal(call_i32(sb, "grow", a, 1), -1);
	assert_int_equal(call_i32(sb, "size", NULL, 0), 17);
	hl_sandbox_free(sb);
}

/* ---- host imports ---------------------------------------------------------------- */

static void imports_call_host_functions_with_every_type(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("imports", NULL, NULL, NULL);
	hl_value a[2];
	a[0] = hl_i32(6), a[1] = hl_i32(7);
	assert_int_equal(call_i32(sb, "mul_via_host", a, 2), 42);
	a[0] = hl_f64(1.5), a[1] = hl_f32(4.0f);
	assert_true(call_f64(sb, "scale", a, 2) == 6.0);
	a[0] = hl_i64(INT64_C(5000000000));
	assert_int_equal(call_i64(sb, "big", a, 1), INT64_C(15000000001));
	note_calls = 0;
	a[0] = hl_i32(-99);
	hlt_call_ok(sb, "note", a, 1);
	assert_int_equal(last_note, -99);
	assert_int_equal(note_calls, 1);
	a[0] = hl_i32(100); /* 100 host calls in one guest call */
	assert_int_equal(call_i32(sb, "sum_squares", a, 1), 338350);
	hl_sandbox_free(sb);
}

static void failing_and_missing_host_functions_are_host_errors(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("imports", NULL, NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, "call_failing", NULL, 0, NULL), HL_E_HOST_FUNCTION);
	HLT_ASSERT_MSG(sb, "HostError always fails");
	HLT_ASSERT_CODE(sb, hl_call(sb, "call_missing", NULL, 0, NULL), HL_E_HOST_FUNCTION);
	HLT_ASSERT_MSG(sb, "missing_fn");
	/* The module goes on working. */
	hl_value a[2] = {hl_i32(3), hl_i32(4)};
	assert_int_equal(call_i32(sb, "mul_via_host", a, 2), 12);
	hl_sandbox_free(sb);
}

/* ---- WASI ------------------------------------------------------------------------ */

static void wasi_output_reaches_the_print_callback(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	struct hlt_output out;
	hl_sandbox *sb = open_wasm("wasi", &out, NULL, NULL);
	/* The start function printed during instantiation. */
	assert_string_equal(out.data, "started\n");
	out.len = 0, out.data[0] = '\0', out.fds = 0;
	assert_int_equal(call_i32(sb, "hello", NULL, 0), 16);
	assert_string_equal(out.data, "hello from wasm\n");
	assert_int_equal(out.fds, 1 << 1);
	out.len = 0, out.data[0] = '\0', out.fds = 0;
	assert_int_equal(call_i32(sb, "to_stderr", NULL, 0), 0);
	assert_string_equal(out.data, "to stderr\n");
	assert_int_equal(out.fds, 1 << 2);
	out.len = 0, out.data[0] = '\0';
	assert_int_equal(call_i32(sb, "write_two", NULL, 0), 16);
	assert_string_equal(out.data, "hello from wasm\n");
	/* Other descriptors: EBADF (8); a bad iovec: EFAULT (21), nothing written. */
	out.len = 0, out.data[0] = '\0';
	hl_value a[2] = {hl_i32(3)};
	assert_int_equal(call_i32(sb, "write_fd", a, 1), 8);
	assert_int_equal(call_i32(sb, "write_bad_iov", NULL, 0), 21);
	assert_int_equal(out.len, 0);
	hl_sandbox_free(sb);
}

static void wasi_args_and_environment_come_from_the_host(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	const char *argv[] = {"prog", "one", "two words", NULL};
	const char *envp[] = {"A=1", "PATH=/nowhere", NULL};
	hl_wasi *w;
	assert_int_equal(hl_wasi_new(argv, envp, &w), 0);
	struct hlt_output out;
	hl_sandbox *sb = open_wasm("wasi", &out, w, NULL);
	assert_int_equal(call_i32(sb, "argc", NULL, 0), 3);
	out.len = 0;
	/* argv[2] starts 9 bytes after argv[0] ("prog\0one\0"). */
	assert_int_equal(call_i32(sb, "print_args", NULL, 0), 9);
	assert_int_equal(out.len, 19);
	assert_memory_equal(out.data, "prog\0one\0two words\0", 19);
	out.len = 0;
	assert_int_equal(call_i32(sb, "print_env", NULL, 0), 2);
	assert_memory_equal(out.data, "A=1\0PATH=/nowhere\0", 18);
	/* After a reset the lists are still there (they were read at init). */
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	assert_int_equal(call_i32(sb, "argc", NULL, 0), 3);
	hl_sandbox_free(sb);
	hl_wasi_free(w);

	/* Without hl_wasi_register: empty lists. */
	sb = open_wasm("wasi", &out, NULL, NULL);
	assert_int_equal(call_i32(sb, "argc", NULL, 0), 0);
	assert_int_equal(call_i32(sb, "print_env", NULL, 0), 0);
	hl_sandbox_free(sb);
}

static void wasi_clocks_random_and_unsupported_calls(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("wasi", NULL, NULL, NULL);
	hl_value a[2];
	a[0] = hl_i32(0); /* realtime: after 2020 */
	assert_true(call_i64(sb, "clock", a, 1) > INT64_C(1577836800) * 1000000000);
	a[0] = hl_i32(1); /* monotonic: does not go back */
	int64_t t0 = call_i64(sb, "clock", a, 1);
	int64_t t1 = call_i64(sb, "clock", a, 1);
	assert_true(t0 > 0 && t1 >= t0);
	a[0] = hl_i32(9); /* no such clock: EINVAL (28) */
	assert_int_equal(call_i64(sb, "clock", a, 1), -28);
	int64_t r0 = call_i64(sb, "random", NULL, 0), r1 = call_i64(sb, "random", NULL, 0);
	assert_true(r0 != r1);
	a[0] = hl_i32(65000), a[1] = hl_i32(1000); /* past the end: EFAULT */
	assert_int_equal(call_i32(sb, "random_errno", a, 2), 21);
	/* Everything else: ENOSYS (52). */
	assert_int_equal(call_i32(sb, "close_stdout", NULL, 0), 52);
	hl_sandbox_free(sb);
}

static void wasi_proc_exit_aborts_with_the_code(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("wasi", NULL, NULL, NULL);
	hl_value a[1] = {hl_i32(3)};
	HLT_ASSERT_CODE(sb, hl_call(sb, "exit", a, 1, NULL), HL_E_GUEST_ABORT);
	HLT_ASSERT_MSG(sb, "proc_exit(3)");
	assert_int_equal(hl_sandbox_guest_code(sb), 3);
	assert_true(hl_sandbox_poisoned(sb));
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	assert_int_equal(call_i32(sb, "hello", NULL, 0), 16);
	hl_sandbox_free(sb);
}

/* ---- traps ----------------------------------------------------------------------- */

/* Calls fn, which must trap with `code` and a message holding `word`; the
 * sandbox stays usable, and works again after a reset too. */
static void expect_trap(hl_sandbox *sb, const char *fn, const hl_value *a, size_t n, int code,
                        const char *word)
{
	HLT_ASSERT_CODE(sb, hl_call(sb, fn, a, n, NULL), HL_E_GUEST_ERROR);
	HLT_ASSERT_MSG(sb, "wasm trap: ");
	HLT_ASSERT_MSG(sb, word);
	HLT_ASSERT_MSG(sb, fn);
	if (hl_sandbox_guest_code(sb) != code)
		fail_msg("%s: guest code %d, expected %d (%s)", fn, hl_sandbox_guest_code(sb), code,
		         hl_errmsg(sb));
	assert_false(hl_sandbox_poisoned(sb));
	assert_int_equal(call_i32(sb, "ok", NULL, 0), 42);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	assert_int_equal(call_i32(sb, "ok", NULL, 0), 42);
}

static void out_of_bounds_access_traps(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("traps", NULL, NULL, NULL);
	hl_value a[1];
	a[0] = hl_i32(65532); /* the last word: fine */
	assert_int_equal(call_i32(sb, "load", a, 1), 0);
	a[0] = hl_i32(65533);
	expect_trap(sb, "load", a, 1, HL_WASM_TRAP_OOB, "out of bounds memory access");
	a[0] = hl_i32(-1); /* 0xffffffff */
	expect_trap(sb, "load", a, 1, HL_WASM_TRAP_OOB, "out of bounds");
	a[0] = hl_i32(1 << 20);
	expect_trap(sb, "store", a, 1, HL_WASM_TRAP_OOB, "out of bounds");
	hl_sandbox_free(sb);
}

static void unreachable_traps(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("traps", NULL, NULL, NULL);
	expect_trap(sb, "unreachable", NULL, 0, HL_WASM_TRAP_UNREACHABLE, "unreachable");
	hl_sandbox_free(sb);
}

static void integer_division_by_zero_traps(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("traps", NULL, NULL, NULL);
	hl_value a[2] = {hl_i32(7), hl_i32(0)};
	expect_trap(sb, "div_s", a, 2, HL_WASM_TRAP_DIV_BY_ZERO, "integer divide by zero");
	expect_trap(sb, "rem_s", a, 2, HL_WASM_TRAP_DIV_BY_ZERO, "divide by zero");
	a[0] = hl_i64(7), a[1] = hl_i64(0);
	expect_trap(sb, "div_u64", a, 2, HL_WASM_TRAP_DIV_BY_ZERO, "divide by zero");
	hl_sandbox_free(sb);
}

static void integer_overflow_traps(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("traps", NULL, NULL, NULL);
	hl_value a[2] = {hl_i32(INT32_MIN), hl_i32(-1)};
	expect_trap(sb, "div_s", a, 2, HL_WASM_TRAP_INT_OVERFLOW, "integer overflow");
	/* The remainder of the same division is defined: 0. */
	assert_int_equal(call_i32(sb, "rem_s", a, 2), 0);
	a[0] = hl_f32(3e9f);
	expect_trap(sb, "trunc_f32", a, 1, HL_WASM_TRAP_INT_OVERFLOW, "integer overflow");
	a[0] = hl_f64(-1.0);
	expect_trap(sb, "trunc_f64_u", a, 1, HL_WASM_TRAP_INT_OVERFLOW, "integer overflow");
	a[0] = hl_f64(-0.5); /* truncates to 0: fine */
	assert_int_equal(call_i64(sb, "trunc_f64_u", a, 1), 0);
	/* The saturating form never traps. */
	a[0] = hl_f64(1e100);
	assert_int_equal(call_i32(sb, "trunc_sat", a, 1), INT32_MAX);
	hl_sandbox_free(sb);
}

static void conversion_of_nan_traps(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("traps", NULL, NULL, NULL);
	hl_value a[1] = {hl_f32(NAN)};
	expect_trap(sb, "trunc_f32", a, 1, HL_WASM_TRAP_INVALID_CONVERSION,
	            "invalid conversion to integer");
	a[0] = hl_f64(NAN);
	expect_trap(sb, "trunc_f64_u", a, 1, HL_WASM_TRAP_INVALID_CONVERSION, "invalid conversion");
	hl_sandbox_free(sb);
}

static void indirect_call_mismatch_null_and_range_trap(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("traps", NULL, NULL, NULL);
	hl_value a[2] = {hl_i32(5), hl_i32(0)};
	assert_int_equal(call_i32(sb, "call_ind", a, 2), 6);
	a[1] = hl_i32(1); /* $nop: () -> () */
	expect_trap(sb, "call_ind", a, 2, HL_WASM_TRAP_CALL_INDIRECT, "signature mismatch");
	a[1] = hl_i32(2); /* null */
	expect_trap(sb, "call_ind", a, 2, HL_WASM_TRAP_CALL_INDIRECT, "indirect call");
	a[1] = hl_i32(3); /* past the table */
	expect_trap(sb, "call_ind", a, 2, HL_WASM_TRAP_CALL_INDIRECT, "indirect call");
	hl_sandbox_free(sb);
}

static void call_stack_exhaustion_traps(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("traps", NULL, NULL, NULL);
	hl_value a[1] = {hl_i32(0)};
	expect_trap(sb, "recurse", a, 1, HL_WASM_TRAP_EXHAUSTION, "call stack exhausted");
	/* Deep recursion that fits is fine, before and after the trap. */
	a[0] = hl_i32(1000);
	assert_int_equal(call_i32(sb, "depth", a, 1), 1000);
	a[0] = hl_i32(0);
	expect_trap(sb, "recurse", a, 1, HL_WASM_TRAP_EXHAUSTION, "call stack exhausted");
	a[0] = hl_i32(1000);
	assert_int_equal(call_i32(sb, "depth", a, 1), 1000);
	hl_sandbox_free(sb);
}

static void max_call_depth_limits_nesting(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	/* Built with --max-call-depth 100: depth(n) nests n + 1 calls. */
	hl_sandbox *sb = open_wasm("traps_depth100", NULL, NULL, NULL);
	hl_value a[1] = {hl_i32(99)};
	assert_int_equal(call_i32(sb, "depth", a, 1), 99);
	a[0] = hl_i32(100);
	expect_trap(sb, "depth", a, 1, HL_WASM_TRAP_EXHAUSTION, "call stack exhausted");
	hl_sandbox_free(sb);
}

static void small_stack_still_traps_cleanly(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	/* 16 KiB of stack: the limit keeps 4 KiB back; no guard-page fault. */
	hl_config cfg;
	hl_wasm_config_init(&cfg);
	cfg.stack_size = 16 * 1024;
	hl_sandbox *sb = NULL;
	assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, wasm_guest("traps")), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_init(sb), 0);
	hl_value a[1] = {hl_i32(0)};
	HLT_ASSERT_CODE(sb, hl_call(sb, "recurse", a, 1, NULL), HL_E_GUEST_ERROR);
	HLT_ASSERT_MSG(sb, "call stack exhausted");
	hl_sandbox_free(sb);
}

static void trap_during_instantiation_fails_init(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	int rc;
	hl_sandbox *sb = open_wasm("badinit", NULL, NULL, &rc);
	HLT_ASSERT_CODE(sb, rc, HL_E_GUEST_ABORT);
	HLT_ASSERT_MSG(sb, "wasm trap during instantiation: out of bounds");
	assert_int_equal(hl_sandbox_guest_code(sb), HL_WASM_TRAP_OOB);
	hl_sandbox_free(sb);
}

static void memory_larger_than_the_heap_fails_init(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	/* 16 KiB of heap (the smallest) cannot hold growheap's 64 KiB page. */
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.heap_size = 16 * 1024;
	hl_sandbox *sb = NULL;
	assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, wasm_guest("growheap")), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_init(sb), HL_E_GUEST_ABORT);
	HLT_ASSERT_MSG(sb, "larger heap");
	assert_int_equal(hl_sandbox_guest_code(sb), HL_WASM_E_NOMEM);
	hl_sandbox_free(sb);
}

/* ---- a module compiled from C ---------------------------------------------------- */

static void module_compiled_from_c_runs(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	if (!HL_WASM_HAVE_CMOD)
		skip();
	hl_sandbox *sb = open_wasm("cmod", NULL, NULL, NULL);
	hl_value a[2];
	a[0] = hl_i32(25);
	assert_int_equal(call_i32(sb, "fib", a, 1), 75025);
	a[0] = hl_i32(20);
	assert_int_equal(call_i64(sb, "factorial", a, 1), INT64_C(2432902008176640000));
	a[0] = hl_f64(2.0);
	assert_true(call_f64(sb, "poly", a, 1) == 8.5);
	a[0] = hl_f32(3.0f);
	hl_value v = hlt_call_ok(sb, "halve", a, 1);
	assert_true(v.type == HL_TYPE_F32 && v.u.f32 == 1.5f);
	a[0] = hl_i32(1000); /* 3 * (0 + 1 + ... + 999) */
	assert_int_equal(call_i32(sb, "fill_and_sum", a, 1), 1498500);
	assert_int_equal(call_i32(sb, "count_calls", NULL, 0), 1);
	assert_int_equal(call_i32(sb, "count_calls", NULL, 0), 2);
	a[0] = hl_i32(9), a[1] = hl_i32(9);
	assert_int_equal(call_i32(sb, "mul_via_host", a, 2), 81);
	assert_int_equal(last_note, 9);
	a[0] = hl_i32(1 << 30);
	HLT_ASSERT_CODE(sb, hl_call(sb, "peek", a, 1, NULL), HL_E_GUEST_ERROR);
	HLT_ASSERT_MSG(sb, "out of bounds");
	a[0] = hl_i32(1), a[1] = hl_i32(0);
	HLT_ASSERT_CODE(sb, hl_call(sb, "divide", a, 2, NULL), HL_E_GUEST_ERROR);
	HLT_ASSERT_MSG(sb, "divide by zero");
	HLT_ASSERT_CODE(sb, hl_call(sb, "crash", NULL, 0, NULL), HL_E_GUEST_ERROR);
	HLT_ASSERT_MSG(sb, "unreachable");
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	assert_int_equal(call_i32(sb, "count_calls", NULL, 0), 1);
	hl_sandbox_free(sb);
}

/* Many sandboxes of the same wasm guest, each with its own state. */
static void sandboxes_are_independent(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *s[4];
	for (int i = 0; i < 4; i++)
		s[i] = open_wasm("arith", NULL, NULL, NULL);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k <= i; k++)
			call_i32(s[i], "bump", NULL, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(call_i32(s[i], "bump", NULL, 0), i + 2);
		hl_sandbox_free(s[i]);
	}
}

/* ---- emscripten's shape: an imported memory, the runtime's env functions ------------ */

/* Expects the call to fail with HL_E_GUEST_ERROR, `code` and `msg` in the message. */
static void expect_trap_msg(hl_sandbox *sb, const char *fn, const hl_value *a, size_t n, int code,
                        const char *msg)
{
	hl_value r;
	int rc = hl_call(sb, fn, a, n, &r);
	assert_int_equal(rc, HL_E_GUEST_ERROR);
	assert_int_equal(hl_sandbox_guest_code(sb), code);
	if (!strstr(hl_errmsg(sb), msg))
		fail_msg("'%s' not in '%s'", msg, hl_errmsg(sb));
	assert_false(hl_sandbox_poisoned(sb));
}

static void emscripten_module_is_renamed_and_its_constructors_run(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("emscripten", NULL, NULL, NULL);
	hl_function_info fi;
	/* The map's names, not "v" or "u"; __wasm_call_ctors is no guest function. */
	assert_true(signature(sb, "ctors_ran", &fi));
	assert_false(signature(sb, "v", &fi));
	assert_false(signature(sb, "__wasm_call_ctors", &fi));
	assert_int_equal(call_i32(sb, "ctors_ran", NULL, 0), 7);
	hl_sandbox_free(sb);
}

static void emscripten_heap_grows_in_the_imported_memory(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("emscripten", NULL, NULL, NULL);
	/* 2 pages already: nothing to do. */
	hl_value a = hl_i32(100000);
	assert_int_equal(call_i32(sb, "grow", &a, 1), 2);
	/* 3 pages asked: a quarter more if it fits, capped by the maximum (8). */
	a = hl_i32(3 * 65536);
	int32_t pages = call_i32(sb, "grow", &a, 1);
	assert_true(pages >= 3 && pages <= 8);
	a = hl_i32(8 * 65536);
	assert_int_equal(call_i32(sb, "grow", &a, 1), 8);
	/* Past the module's maximum: the allocation fails, the call does not. */
	a = hl_i32(8 * 65536 + 1);
	assert_int_equal(call_i32(sb, "grow", &a, 1), -1);
	hl_sandbox_free(sb);
}

static void emscripten_clocks_and_time_zone_are_utc(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("emscripten", NULL, NULL, NULL);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	double host_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
	double guest_ms = call_f64(sb, "date_now", NULL, 0);
	assert_true(fabs(guest_ms - host_ms) < 60000.0);
	double t0 = call_f64(sb, "get_now", NULL, 0), t1 = call_f64(sb, "get_now", NULL, 0);
	assert_true(t1 >= t0);
	/* timezone 0, no daylight saving, both names "UTC". */
	assert_int_equal(call_i32(sb, "tz", NULL, 0), 'U' + 'U');
	/* 2024-03-01T00:00:00Z: year 2024, day 60 of the year (0-based, leap year). */
	hl_value t = hl_i64(1709251200);
	assert_int_equal(call_i32(sb, "year", &t, 1), 2024 * 1000 + 60);
	hl_sandbox_free(sb);
}

static void emscripten_abort_and_assertions_trap_with_their_message(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("emscripten", NULL, NULL, NULL);
	expect_trap_msg(sb, "abort", NULL, 0, HL_WASM_TRAP_ABORT, "wasm trap: the module called abort()");
	expect_trap_msg(sb, "assert", NULL, 0, HL_WASM_TRAP_ABORT,
	            "failed an assertion: cond, at file.c:42 in fn");
	/* The sandbox still serves calls. */
	assert_int_equal(call_i32(sb, "ctors_ran", NULL, 0), 7);
	hl_sandbox_free(sb);
}

static void emscripten_system_calls_fail_with_enosys_and_output_is_printed(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	struct hlt_output out;
	hl_sandbox *sb = open_wasm("emscripten", &out, NULL, NULL);
	assert_int_equal(call_i32(sb, "openat", NULL, 0), -52);
	/* fd_write reads the imported memory. */
	assert_int_equal(call_i32(sb, "hello", NULL, 0), 0);
	assert_string_equal(out.data, "hello from emscripten\n");
	hl_sandbox_free(sb);
}

static void embedder_in_c_serves_its_own_function(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = open_wasm("embedder", NULL, NULL, NULL);
	hl_function_info fi;
	/* --no-exports: only the embedder's function. */
	assert_int_equal(hl_function_count(sb), 1);
	assert_true(signature(sb, "compute", &fi));
	assert_false(signature(sb, "add_twice", &fi));
	/* add_twice(3, 4) = 3 + twice(4) = 11, times 100, plus one init. */
	hl_value a[2] = {hl_i32(3), hl_i32(4)};
	assert_int_equal(call_i32(sb, "compute", a, 2), 1101);
	hl_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exports_have_their_wasm_signatures),
		cmocka_unit_test(arithmetic_on_every_type),
		cmocka_unit_test(arguments_are_checked_before_the_module_runs),
		cmocka_unit_test(state_persists_and_reset_gives_fresh_state),
		cmocka_unit_test(snapshots_and_fresh_state_calls),
		cmocka_unit_test(memory_grows_to_its_maximum),
		cmocka_unit_test(memory_growth_stops_at_the_heap),
		cmocka_unit_test(imports_call_host_functions_with_every_type),
		cmocka_unit_test(failing_and_missing_host_functions_are_host_errors),
		cmocka_unit_test(wasi_output_reaches_the_print_callback),
		cmocka_unit_test(wasi_args_and_environment_come_from_the_host),
		cmocka_unit_test(wasi_clocks_random_and_unsupported_calls),
		cmocka_unit_test(wasi_proc_exit_aborts_with_the_code),
		cmocka_unit_test(out_of_bounds_access_traps),
		cmocka_unit_test(unreachable_traps),
		cmocka_unit_test(integer_division_by_zero_traps),
		cmocka_unit_test(integer_overflow_traps),
		cmocka_unit_test(conversion_of_nan_traps),
		cmocka_unit_test(indirect_call_mismatch_null_and_range_trap),
		cmocka_unit_test(call_stack_exhaustion_traps),
		cmocka_unit_test(max_call_depth_limits_nesting),
		cmocka_unit_test(small_stack_still_traps_cleanly),
		cmocka_unit_test(trap_during_instantiation_fails_init),
		cmocka_unit_test(memory_larger_than_the_heap_fails_init),
		cmocka_unit_test(module_compiled_from_c_runs),
		cmocka_unit_test(sandboxes_are_independent),
		cmocka_unit_test(emscripten_module_is_renamed_and_its_constructors_run),
		cmocka_unit_test(emscripten_heap_grows_in_the_imported_memory),
		cmocka_unit_test(emscripten_clocks_and_time_zone_are_utc),
		cmocka_unit_test(emscripten_abort_and_assertions_trap_with_their_message),
		cmocka_unit_test(emscripten_system_calls_fail_with_enosys_and_output_is_printed),
		cmocka_unit_test(embedder_in_c_serves_its_own_function),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
