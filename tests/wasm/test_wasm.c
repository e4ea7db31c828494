/* test_wasm.c - wasm modules in sandboxes (KVM): arithmetic, memory growth, host imports, WASI, every trap, fresh state, and a module compiled from C. */
#include <inttypes.h>
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
	assert_int_equal(hl_sandbox_register(sb, "host_scale", HL_TYPE_F64, df, 2, host_scale, NULL),
	                 0);
	assert_int_equal(hl_sandbox_register(sb, "host_big", HL_TYPE_I64, l, 1, host_big, NULL), 0);
	assert_int_equal(hl_sandbox_register(sb, "host_note", HL_TYPE_VOID, i, 1, host_note, NULL),
	                 0);
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
	hl_sandbox_set_print(sb, hlt_capture, out);
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

/*
 * cmocka fixture: a sandbox of the wasm guest named by the test's initial
 * state (open_wasm without output or WASI lists), freed by
 * hlt_teardown_sandbox. The test takes it with hlt_sandbox(state), which
 * skips the test where there is no KVM (the setup then makes nothing).
 */
static int setup_wasm(void **state)
{
	*state = hlt_have_kvm() ? open_wasm(*state, NULL, NULL, NULL) : NULL;
	return 0;
}
#define WASM_TEST(test, guest)                                                           \
	cmocka_unit_test_prestate_setup_teardown(test, setup_wasm, hlt_teardown_sandbox, \
	                                         (void *)(guest))

#define NROWS(rows) (sizeof(rows) / sizeof((rows)[0]))

/* The arguments of a row: those before the first HL_TYPE_VOID (none is an
 * argument type, so a row's unused slots end the list). */
static size_t nargs(const hl_value *args, size_t max)
{
	size_t n = 0;
	while (n < max && args[n].type != HL_TYPE_VOID)
		n++;
	return n;
}

/* Equal type and value; a NaN equals a NaN. */
static bool same_value(hl_value a, hl_value b)
{
	if (a.type != b.type)
		return false;
	switch (a.type) {
	case HL_TYPE_VOID: return true;
	case HL_TYPE_I32: return a.u.i32 == b.u.i32;
	case HL_TYPE_I64: return a.u.i64 == b.u.i64;
	case HL_TYPE_F32: return a.u.f32 == b.u.f32 || (isnan(a.u.f32) && isnan(b.u.f32));
	case HL_TYPE_F64: return a.u.f64 == b.u.f64 || (isnan(a.u.f64) && isnan(b.u.f64));
	default: return false;
	}
}

static const char *show_value(hl_value v, char *buf, size_t size)
{
	switch (v.type) {
	case HL_TYPE_VOID: snprintf(buf, size, "no result"); break;
	case HL_TYPE_I32: snprintf(buf, size, "i32 %" PRId32, v.u.i32); break;
	case HL_TYPE_I64: snprintf(buf, size, "i64 %" PRId64, v.u.i64); break;
	case HL_TYPE_F32: snprintf(buf, size, "f32 %.9g", (double)v.u.f32); break;
	case HL_TYPE_F64: snprintf(buf, size, "f64 %.17g", v.u.f64); break;
	default: snprintf(buf, size, "a value of type %d", (int)v.type); break;
	}
	return buf;
}

/* One call and what it must give: `want`, its type and value (of type
 * HL_TYPE_VOID: no result), or, where `err` is set, that error with `word`
 * in the sandbox's message. */
struct call_row {
	const char *what; /* the behaviour the row checks */
	const char *fn;
	hl_value args[4];
	hl_value want;
	int err;
	const char *word;
};

/* Makes the rows' calls in order on one sandbox. */
static void check_calls(hl_sandbox *sb, const struct call_row *rows, size_t n)
{
	for (const struct call_row *c = rows; c < rows + n; c++) {
		size_t na = nargs(c->args, NROWS(c->args));
		hl_value v;
		memset(&v, 0, sizeof v);
		int r = hl_call(sb, c->fn, na ? c->args : NULL, na, c->err ? NULL : &v);
		if (r != c->err)
			fail_msg("%s: %s returned %d (%s), expected %d (%s); errmsg: %s", c->what,
			         c->fn, r, hl_strerror(r), c->err, hl_strerror(c->err),
			         hl_errmsg(sb));
		if (c->err && !strstr(hl_errmsg(sb), c->word))
			fail_msg("%s: message '%s' does not mention '%s'", c->what, hl_errmsg(sb),
			         c->word);
		char got[64], want[64];
		if (!c->err && !same_value(v, c->want))
			fail_msg("%s: %s gave %s, expected %s", c->what, c->fn,
			         show_value(v, got, sizeof got),
			         show_value(c->want, want, sizeof want));
	}
}

/* ---- arithmetic and signatures --------------------------------------------------- */

static void exports_have_their_wasm_signatures(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
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
}

static void arithmetic_on_every_type(void **state)
{
	const struct call_row rows[] = {
		{"i32 add", "add_i32", {hl_i32(40), hl_i32(2)}, .want = hl_i32(42)},
		{"i32 add wraps, no trap",
	         "add_i32",
	         {hl_i32(INT32_MAX), hl_i32(1)},
	         .want = hl_i32(INT32_MIN)},
		{"i32 multiply", "mul_i32", {hl_i32(-7), hl_i32(6)}, .want = hl_i32(-42)},
		{"i64 add",
	         "add_i64",
	         {hl_i64(INT64_C(9000000000)), hl_i64(INT64_C(-1))},
	         .want = hl_i64(INT64_C(8999999999))},
		{"i64 multiply",
	         "mul_i64",
	         {hl_i64(INT64_C(3000000000)), hl_i64(3)},
	         .want = hl_i64(INT64_C(9000000000))},
		{"f32 add", "add_f32", {hl_f32(1.5f), hl_f32(2.25f)}, .want = hl_f32(3.75f)},
		{"f32 multiply", "mul_f32", {hl_f32(1.5f), hl_f32(2.25f)}, .want = hl_f32(3.375f)},
		{"f64 add rounds as the host does",
	         "add_f64",
	         {hl_f64(0.1), hl_f64(0.2)},
	         .want = hl_f64(0.1 + 0.2)},
		{"f64 overflow is infinity",
	         "mul_f64",
	         {hl_f64(1e300), hl_f64(1e300)},
	         .want = hl_f64(INFINITY)},
		{"f64 square root", "sqrt_f64", {hl_f64(2.0)}, .want = hl_f64(sqrt(2.0))},
		{"square root of -1 is NaN", "sqrt_f64", {hl_f64(-1.0)}, .want = hl_f64(NAN)},
		{"one parameter of each type",
	         "mixed",
	         {hl_i32(1), hl_i64(2), hl_f32(0.5f), hl_f64(0.25)},
	         .want = hl_f64(3.75)},
		{"i32 recursion", "fib_i32", {hl_i32(20)}, .want = hl_i32(6765)},
		{"i64 loop", "fib_i64", {hl_i64(90)}, .want = hl_i64(INT64_C(2880067194370816120))},
		{"no parameters, no result", "noop", .want.type = HL_TYPE_VOID},
	};
	check_calls(hlt_sandbox(state), rows, NROWS(rows));
}

static void arguments_are_checked_before_the_module_runs(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a[2] = {hl_i64(1), hl_i64(2)};
	HLT_ASSERT_CODE(sb, hl_call(sb, "add_i32", a, 2, NULL), HL_E_ARG_TYPE);
	HLT_ASSERT_CODE(sb, hl_call(sb, "add_i32", a, 1, NULL), HL_E_ARG_COUNT);
	HLT_ASSERT_CODE(sb, hl_call(sb, "nope", a, 1, NULL), HL_E_NO_FUNCTION);
	assert_false(hl_sandbox_poisoned(sb));
}

static void state_persists_and_reset_gives_fresh_state(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	for (int32_t want = 1; want <= 3; want++)
		assert_int_equal(call_i32(sb, "bump", NULL, 0), want);
	for (int i = 0; i < 3; i++) {
		HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
		assert_int_equal(call_i32(sb, "bump", NULL, 0), 1);
	}
}

static void snapshots_and_fresh_state_calls(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
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
}

/* ---- memory ---------------------------------------------------------------------- */

static void memory_grows_to_its_maximum(void **state)
{
	const int32_t last_word = 4 * 65536 - 4;
	const struct call_row rows[] = {
		{"one page to start with", "size", .want = hl_i32(1)},
		{"growth returns the old size", "grow", {hl_i32(3)}, .want = hl_i32(1)},
		{"grown by 3 pages", "size", .want = hl_i32(4)},
		{"new memory is zero", "load", {hl_i32(last_word)}, .want = hl_i32(0)},
		{"the last word of the new pages is usable",
	         "store",
	         {hl_i32(last_word), hl_i32(0x12345678)},
	         .want.type = HL_TYPE_VOID},
		{"what was stored is there", "load", {hl_i32(last_word)}, .want = hl_i32(0x12345678)},
		{"one byte further is out of bounds",
	         "load",
	         {hl_i32(last_word + 1)},
	         .err = HL_E_GUEST_ERROR,
	         .word = "out of bounds"},
		{"beyond the declared maximum (40 pages): -1",
	         "grow",
	         {hl_i32(37)},
	         .want = hl_i32(-1)},
		{"a refused growth changes nothing", "size", .want = hl_i32(4)},
		{"growth up to the maximum", "grow", {hl_i32(28)}, .want = hl_i32(4)},
		{"grown to the maximum", "size", .want = hl_i32(32)},
		{"the data survives the growth (which may move the memory)",
	         "load",
	         {hl_i32(last_word)},
	         .want = hl_i32(0x12345678)},
		{"7 over 1900000 bytes from 100000",
	         "fill_sum",
	         {hl_i32(100000), hl_i32(1900000), hl_i32(7)},
	         .want = hl_i64(INT64_C(13300000))},
	};
	hl_sandbox *sb = hlt_sandbox(state);
	check_calls(sb, rows, NROWS(rows));
	/* A reset brings back the single page. */
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	assert_int_equal(call_i32(sb, "size", NULL, 0), 1);
}

static void memory_growth_stops_at_the_heap(void **state)
{
	/* 4 MiB of heap: 64 pages more is too much, 16 pages is fine. */
	const struct call_row rows[] = {
		{"64 pages more than the heap holds", "grow", {hl_i32(64)}, .want = hl_i32(-1)},
		{"the refused growth changes nothing", "size", .want = hl_i32(1)},
		{"16 pages fit", "grow", {hl_i32(16)}, .want = hl_i32(1)},
		{"the last page is usable", "touch_last", .want = hl_i32(77)},
		{"past 4 GiB", "grow", {hl_i32(65535)}, .want = hl_i32(-1)},
		{"the size after the refusal", "size", .want = hl_i32(17)},
	};
	check_calls(hlt_sandbox(state), rows, NROWS(rows));
}

/* ---- host imports ---------------------------------------------------------------- */

static void imports_call_host_functions_with_every_type(void **state)
{
	const struct call_row rows[] = {
		{"i32 through host_mul", "mul_via_host", {hl_i32(6), hl_i32(7)}, .want = hl_i32(42)},
		{"f64 and f32 through host_scale",
	         "scale",
	         {hl_f64(1.5), hl_f32(4.0f)},
	         .want = hl_f64(6.0)},
		{"i64 through host_big",
	         "big",
	         {hl_i64(INT64_C(5000000000))},
	         .want = hl_i64(INT64_C(15000000001))},
		{"no result from host_note", "note", {hl_i32(-99)}, .want.type = HL_TYPE_VOID},
		{"100 host calls in one guest call",
	         "sum_squares",
	         {hl_i32(100)},
	         .want = hl_i32(338350)},
	};
	note_calls = 0;
	check_calls(hlt_sandbox(state), rows, NROWS(rows));
	/* host_note saw the one call of "note". */
	assert_int_equal(last_note, -99);
	assert_int_equal(note_calls, 1);
}

static void failing_and_missing_host_functions_are_host_errors(void **state)
{
	const struct call_row rows[] = {
		{"a host function that fails", "call_failing", .err = HL_E_HOST_FUNCTION,
	         .word = "HostError always fails"},
		{"a host function that is not registered", "call_missing",
	         .err = HL_E_HOST_FUNCTION, .word = "missing_fn"},
		{"the module goes on working",
	         "mul_via_host",
	         {hl_i32(3), hl_i32(4)},
	         .want = hl_i32(12)},
	};
	check_calls(hlt_sandbox(state), rows, NROWS(rows));
}

/* ---- WASI ------------------------------------------------------------------------ */

static void clear_output(struct hlt_output *out)
{
	out->len = 0, out->data[0] = '\0', out->fds = 0;
}

static void wasi_output_reaches_the_print_callback(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	struct hlt_output out;
	hl_sandbox *sb = open_wasm("wasi", &out, NULL, NULL);
	/* The start function printed during instantiation. */
	assert_string_equal(out.data, "started\n");
	clear_output(&out);
	assert_int_equal(call_i32(sb, "hello", NULL, 0), 16);
	assert_string_equal(out.data, "hello from wasm\n");
	assert_int_equal(out.fds, 1 << 1);
	clear_output(&out);
	assert_int_equal(call_i32(sb, "to_stderr", NULL, 0), 0);
	assert_string_equal(out.data, "to stderr\n");
	assert_int_equal(out.fds, 1 << 2);
	clear_output(&out);
	assert_int_equal(call_i32(sb, "write_two", NULL, 0), 16);
	assert_string_equal(out.data, "hello from wasm\n");
	/* Other descriptors: EBADF (8); a bad iovec: EFAULT (21), nothing written. */
	clear_output(&out);
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
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a[2];
	a[0] = hl_i32(0); /* realtime: after 2020 */
	assert_true(call_i64(sb, "clock", a, 1) > INT64_C(1577836800) * 1000000000);
	a[0] = hl_i32(1); /* monotonic: does not go back */
	int64_t t0 = call_i64(sb, "clock", a, 1);
	int64_t t1 = call_i64(sb, "clock", a, 1);
	assert_true(t0 > 0 && t1 >= t0);
	int64_t r0 = call_i64(sb, "random", NULL, 0), r1 = call_i64(sb, "random", NULL, 0);
	assert_true(r0 != r1);
	const struct call_row errnos[] = {
		{"no such clock: EINVAL (28)", "clock", {hl_i32(9)}, .want = hl_i64(-28)},
		{"random past the end of memory: EFAULT (21)",
	         "random_errno",
	         {hl_i32(65000), hl_i32(1000)},
	         .want = hl_i32(21)},
		{"everything else: ENOSYS (52)", "close_stdout", .want = hl_i32(52)},
	};
	check_calls(sb, errnos, NROWS(errnos));
}

static void wasi_proc_exit_aborts_with_the_code(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a[1] = {hl_i32(3)};
	HLT_ASSERT_CODE(sb, hl_call(sb, "exit", a, 1, NULL), HL_E_GUEST_ABORT);
	HLT_ASSERT_MSG(sb, "proc_exit(3)");
	assert_int_equal(hl_sandbox_guest_code(sb), 3);
	assert_true(hl_sandbox_poisoned(sb));
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	assert_int_equal(call_i32(sb, "hello", NULL, 0), 16);
}

/* ---- traps ----------------------------------------------------------------------- */

/* A call of the traps module that must trap with guest code `code` and a
 * message that holds `word`. */
struct trap_row {
	const char *what; /* the behaviour the row checks */
	const char *fn;
	hl_value args[2];
	int code;
	const char *word;
};

/* Makes each row's call, which must trap as the row says, naming the
 * function; the sandbox stays usable, and works again after a reset too. */
static void check_traps(hl_sandbox *sb, const struct trap_row *rows, size_t n)
{
	for (const struct trap_row *t = rows; t < rows + n; t++) {
		size_t na = nargs(t->args, NROWS(t->args));
		int r = hl_call(sb, t->fn, na ? t->args : NULL, na, NULL);
		if (r != HL_E_GUEST_ERROR)
			fail_msg("%s: %s returned %d (%s), expected a trap; errmsg: %s", t->what,
			         t->fn, r, hl_strerror(r), hl_errmsg(sb));
		const char *needles[] = {"wasm trap: ", t->word, t->fn};
		for (size_t i = 0; i < NROWS(needles); i++)
			if (!strstr(hl_errmsg(sb), needles[i]))
				fail_msg("%s: message '%s' does not mention '%s'", t->what,
				         hl_errmsg(sb), needles[i]);
		if (hl_sandbox_guest_code(sb) != t->code)
			fail_msg("%s: guest code %d, expected %d (%s)", t->what,
			         hl_sandbox_guest_code(sb), t->code, hl_errmsg(sb));
		assert_false(hl_sandbox_poisoned(sb));
		assert_int_equal(call_i32(sb, "ok", NULL, 0), 42);
		HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
		assert_int_equal(call_i32(sb, "ok", NULL, 0), 42);
	}
}

static void out_of_bounds_access_traps(void **state)
{
	const struct call_row fine[] = {
		{"a load of the last word", "load", {hl_i32(65532)}, .want = hl_i32(0)},
	};
	const struct trap_row traps[] = {
		{"a load one byte past the end",
	         "load",
	         {hl_i32(65533)},
	         HL_WASM_TRAP_OOB,
	         "out of bounds memory access"},
		{"a load at 0xffffffff", "load", {hl_i32(-1)}, HL_WASM_TRAP_OOB, "out of bounds"},
		{"a store past the end",
	         "store",
	         {hl_i32(1 << 20)},
	         HL_WASM_TRAP_OOB,
	         "out of bounds"},
	};
	hl_sandbox *sb = hlt_sandbox(state);
	check_calls(sb, fine, NROWS(fine));
	check_traps(sb, traps, NROWS(traps));
}

static void unreachable_traps(void **state)
{
	const struct trap_row traps[] = {
		{"the unreachable instruction", "unreachable", .code = HL_WASM_TRAP_UNREACHABLE,
	         .word = "unreachable"},
	};
	check_traps(hlt_sandbox(state), traps, NROWS(traps));
}

static void integer_division_by_zero_traps(void **state)
{
	const struct trap_row traps[] = {
		{"i32 division",
	         "div_s",
	         {hl_i32(7), hl_i32(0)},
	         HL_WASM_TRAP_DIV_BY_ZERO,
	         "integer divide by zero"},
		{"i32 remainder",
	         "rem_s",
	         {hl_i32(7), hl_i32(0)},
	         HL_WASM_TRAP_DIV_BY_ZERO,
	         "divide by zero"},
		{"i64 unsigned division",
	         "div_u64",
	         {hl_i64(7), hl_i64(0)},
	         HL_WASM_TRAP_DIV_BY_ZERO,
	         "divide by zero"},
	};
	check_traps(hlt_sandbox(state), traps, NROWS(traps));
}

static void integer_overflow_traps(void **state)
{
	const struct trap_row traps[] = {
		{"INT32_MIN / -1",
	         "div_s",
	         {hl_i32(INT32_MIN), hl_i32(-1)},
	         HL_WASM_TRAP_INT_OVERFLOW,
	         "integer overflow"},
		{"3e9 to i32",
	         "trunc_f32",
	         {hl_f32(3e9f)},
	         HL_WASM_TRAP_INT_OVERFLOW,
	         "integer overflow"},
		{"-1.0 to u64",
	         "trunc_f64_u",
	         {hl_f64(-1.0)},
	         HL_WASM_TRAP_INT_OVERFLOW,
	         "integer overflow"},
	};
	const struct call_row fine[] = {
		{"the remainder of INT32_MIN / -1 is defined",
	         "rem_s",
	         {hl_i32(INT32_MIN), hl_i32(-1)},
	         .want = hl_i32(0)},
		{"-0.5 to u64 truncates to 0", "trunc_f64_u", {hl_f64(-0.5)}, .want = hl_i64(0)},
		{"the saturating form never traps",
	         "trunc_sat",
	         {hl_f64(1e100)},
	         .want = hl_i32(INT32_MAX)},
	};
	hl_sandbox *sb = hlt_sandbox(state);
	check_traps(sb, traps, NROWS(traps));
	check_calls(sb, fine, NROWS(fine));
}

static void conversion_of_nan_traps(void **state)
{
	const struct trap_row traps[] = {
		{"f32 NaN to i32",
	         "trunc_f32",
	         {hl_f32(NAN)},
	         HL_WASM_TRAP_INVALID_CONVERSION,
	         "invalid conversion to integer"},
		{"f64 NaN to u64",
	         "trunc_f64_u",
	         {hl_f64(NAN)},
	         HL_WASM_TRAP_INVALID_CONVERSION,
	         "invalid conversion"},
	};
	check_traps(hlt_sandbox(state), traps, NROWS(traps));
}

static void indirect_call_mismatch_null_and_range_trap(void **state)
{
	/* call_ind(arg, index) calls table[index](arg) as (i32) -> i32. */
	const struct call_row fine[] = {
		{"$inc, of the right type", "call_ind", {hl_i32(5), hl_i32(0)}, .want = hl_i32(6)},
	};
	const struct trap_row traps[] = {
		{"$nop: () -> ()",
	         "call_ind",
	         {hl_i32(5), hl_i32(1)},
	         HL_WASM_TRAP_CALL_INDIRECT,
	         "signature mismatch"},
		{"a null entry",
	         "call_ind",
	         {hl_i32(5), hl_i32(2)},
	         HL_WASM_TRAP_CALL_INDIRECT,
	         "indirect call"},
		{"past the table",
	         "call_ind",
	         {hl_i32(5), hl_i32(3)},
	         HL_WASM_TRAP_CALL_INDIRECT,
	         "indirect call"},
	};
	hl_sandbox *sb = hlt_sandbox(state);
	check_calls(sb, fine, NROWS(fine));
	check_traps(sb, traps, NROWS(traps));
}

static void call_stack_exhaustion_traps(void **state)
{
	const struct trap_row traps[] = {
		{"endless recursion",
	         "recurse",
	         {hl_i32(0)},
	         HL_WASM_TRAP_EXHAUSTION,
	         "call stack exhausted"},
	};
	const struct call_row fine[] = {
		{"recursion 1000 deep", "depth", {hl_i32(1000)}, .want = hl_i32(1000)},
	};
	/* Deep recursion that fits is fine after a trap, and after another. */
	hl_sandbox *sb = hlt_sandbox(state);
	for (int round = 0; round < 2; round++) {
		check_traps(sb, traps, NROWS(traps));
		check_calls(sb, fine, NROWS(fine));
	}
}

static void max_call_depth_limits_nesting(void **state)
{
	/* Built with --max-call-depth 100: depth(n) nests n + 1 calls. */
	const struct call_row fine[] = {
		{"100 calls nested", "depth", {hl_i32(99)}, .want = hl_i32(99)},
	};
	const struct trap_row traps[] = {
		{"101 calls nested",
	         "depth",
	         {hl_i32(100)},
	         HL_WASM_TRAP_EXHAUSTION,
	         "call stack exhausted"},
	};
	hl_sandbox *sb = hlt_sandbox(state);
	check_calls(sb, fine, NROWS(fine));
	check_traps(sb, traps, NROWS(traps));
}

/* A sandbox of wasm guest `name` with `cfg`, whose init must return `want`. */
static hl_sandbox *init_with(const hl_config *cfg, const char *name, int want)
{
	hl_sandbox *sb = NULL;
	assert_int_equal(hl_sandbox_new(cfg, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, wasm_guest(name)), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_init(sb), want);
	return sb;
}

static void small_stack_still_traps_cleanly(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	/* 16 KiB of stack: the limit keeps 4 KiB back; no guard-page fault. */
	hl_config cfg;
	hl_wasm_config_init(&cfg);
	cfg.stack_size = 16 * 1024;
	const struct call_row rows[] = {
		{"endless recursion",
	         "recurse",
	         {hl_i32(0)},
	         .err = HL_E_GUEST_ERROR,
	         .word = "call stack exhausted"},
	};
	hl_sandbox *sb = init_with(&cfg, "traps", 0);
	check_calls(sb, rows, NROWS(rows));
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
	hl_sandbox *sb = init_with(&cfg, "growheap", HL_E_GUEST_ABORT);
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
	const struct call_row rows[] = {
		{"recursion", "fib", {hl_i32(25)}, .want = hl_i32(75025)},
		{"a long long result",
	         "factorial",
	         {hl_i32(20)},
	         .want = hl_i64(INT64_C(2432902008176640000))},
		{"double arithmetic", "poly", {hl_f64(2.0)}, .want = hl_f64(8.5)},
		{"float arithmetic", "halve", {hl_f32(3.0f)}, .want = hl_f32(1.5f)},
		{"an array in linear memory: 3 * (0 + 1 + ... + 999)",
	         "fill_and_sum",
	         {hl_i32(1000)},
	         .want = hl_i32(1498500)},
		{"a static counter", "count_calls", .want = hl_i32(1)},
		{"the counter kept between calls", "count_calls", .want = hl_i32(2)},
		{"undefined functions are host imports",
	         "mul_via_host",
	         {hl_i32(9), hl_i32(9)},
	         .want = hl_i32(81)},
	};
	const struct call_row traps[] = {
		{"a wild pointer",
	         "peek",
	         {hl_i32(1 << 30)},
	         .err = HL_E_GUEST_ERROR,
	         .word = "out of bounds"},
		{"division by zero",
	         "divide",
	         {hl_i32(1), hl_i32(0)},
	         .err = HL_E_GUEST_ERROR,
	         .word = "divide by zero"},
		{"__builtin_trap", "crash", .err = HL_E_GUEST_ERROR, .word = "unreachable"},
	};
	hl_sandbox *sb = open_wasm("cmod", NULL, NULL, NULL);
	check_calls(sb, rows, NROWS(rows));
	assert_int_equal(last_note, 9);
	check_calls(sb, traps, NROWS(traps));
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
	hl_sandbox *sb = hlt_sandbox(state);
	hl_function_info fi;
	/* The map's names, not "v" or "u"; __wasm_call_ctors is no guest function. */
	assert_true(signature(sb, "ctors_ran", &fi));
	assert_false(signature(sb, "v", &fi));
	assert_false(signature(sb, "__wasm_call_ctors", &fi));
	assert_int_equal(call_i32(sb, "ctors_ran", NULL, 0), 7);
}

static void emscripten_heap_grows_in_the_imported_memory(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
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
}

static void emscripten_clocks_and_time_zone_are_utc(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
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
}

static void emscripten_abort_and_assertions_trap_with_their_message(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	expect_trap_msg(sb, "abort", NULL, 0, HL_WASM_TRAP_ABORT,
	                "wasm trap: the module called abort()");
	expect_trap_msg(sb, "assert", NULL, 0, HL_WASM_TRAP_ABORT,
	                "failed an assertion: cond, at file.c:42 in fn");
	/* The sandbox still serves calls. */
	assert_int_equal(call_i32(sb, "ctors_ran", NULL, 0), 7);
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
	hl_sandbox *sb = hlt_sandbox(state);
	hl_function_info fi;
	/* --no-exports: only the embedder's function. */
	assert_int_equal(hl_function_count(sb), 1);
	assert_true(signature(sb, "compute", &fi));
	assert_false(signature(sb, "add_twice", &fi));
	/* add_twice(3, 4) = 3 + twice(4) = 11, times 100, plus one init. */
	hl_value a[2] = {hl_i32(3), hl_i32(4)};
	assert_int_equal(call_i32(sb, "compute", a, 2), 1101);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		WASM_TEST(exports_have_their_wasm_signatures, "arith"),
		WASM_TEST(arithmetic_on_every_type, "arith"),
		WASM_TEST(arguments_are_checked_before_the_module_runs, "arith"),
		WASM_TEST(state_persists_and_reset_gives_fresh_state, "arith"),
		WASM_TEST(snapshots_and_fresh_state_calls, "arith"),
		WASM_TEST(memory_grows_to_its_maximum, "memory"),
		WASM_TEST(memory_growth_stops_at_the_heap, "growheap"),
		WASM_TEST(imports_call_host_functions_with_every_type, "imports"),
		WASM_TEST(failing_and_missing_host_functions_are_host_errors, "imports"),
		cmocka_unit_test(wasi_output_reaches_the_print_callback),
		cmocka_unit_test(wasi_args_and_environment_come_from_the_host),
		WASM_TEST(wasi_clocks_random_and_unsupported_calls, "wasi"),
		WASM_TEST(wasi_proc_exit_aborts_with_the_code, "wasi"),
		WASM_TEST(out_of_bounds_access_traps, "traps"),
		WASM_TEST(unreachable_traps, "traps"),
		WASM_TEST(integer_division_by_zero_traps, "traps"),
		WASM_TEST(integer_overflow_traps, "traps"),
		WASM_TEST(conversion_of_nan_traps, "traps"),
		WASM_TEST(indirect_call_mismatch_null_and_range_trap, "traps"),
		WASM_TEST(call_stack_exhaustion_traps, "traps"),
		WASM_TEST(max_call_depth_limits_nesting, "traps_depth100"),
		cmocka_unit_test(small_stack_still_traps_cleanly),
		cmocka_unit_test(trap_during_instantiation_fails_init),
		cmocka_unit_test(memory_larger_than_the_heap_fails_init),
		cmocka_unit_test(module_compiled_from_c_runs),
		cmocka_unit_test(sandboxes_are_independent),
		WASM_TEST(emscripten_module_is_renamed_and_its_constructors_run, "emscripten"),
		WASM_TEST(emscripten_heap_grows_in_the_imported_memory, "emscripten"),
		WASM_TEST(emscripten_clocks_and_time_zone_are_utc, "emscripten"),
		WASM_TEST(emscripten_abort_and_assertions_trap_with_their_message, "emscripten"),
		cmocka_unit_test(emscripten_system_calls_fail_with_enosys_and_output_is_printed),
		WASM_TEST(embedder_in_c_serves_its_own_function, "embedder"),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
