/* test_calls.c - typed calls into simpleguest: every type, signatures, state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int setup(void **state)
{
	if (!hlt_have_kvm()) {
		*state = NULL;
		return 0;
	}
	static struct hlt_output out;
	*state = hlt_open("simpleguest", NULL, &out);
	return 0;
}

static int teardown(void **state)
{
	hl_sandbox_free(*state);
	return 0;
}

#define SB(state) ((hl_sandbox *)(*(state)))
#define NEED_SB(state)                     \
	do {                               \
		HLT_REQUIRE_KVM();         \
		assert_non_null(*(state)); \
	} while (0)

static void echo_string_returns_its_argument(void **state)
{
	NEED_SB(state);
	hl_value a = hl_string("hello", 5);
	hl_value r = hlt_call_ok(SB(state), "Echo", &a, 1);
	assert_int_equal(r.type, HL_TYPE_STRING);
	assert_int_equal(r.u.str.len, 5);
	assert_string_equal(r.u.str.ptr, "hello");
}

static void echo_empty_string(void **state)
{
	NEED_SB(state);
	hl_value a = hl_string("", 0);
	hl_value r = hlt_call_ok(SB(state), "Echo", &a, 1);
	assert_int_equal(r.u.str.len, 0);
	assert_string_equal(r.u.str.ptr, "");
}

static void echo_large_string(void **state)
{
	NEED_SB(state);
	size_t n = 12 * 1024;
	char *s = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)('a' + i % 26);
	s[n] = 0;
	hl_value a = hl_string(s, n);
	hl_value r = hlt_call_ok(SB(state), "Echo", &a, 1);
	assert_int_equal(r.u.str.len, n);
	assert_memory_equal(r.u.str.ptr, s, n);
	free(s);
}

static void echo_utf8_string(void **state)
{
	NEED_SB(state);
	const char *s = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93";
	hl_value a = hl_string(s, strlen(s));
	hl_value r = hlt_call_ok(SB(state), "Echo", &a, 1);
	assert_string_equal(r.u.str.ptr, s);
}

static void echo_i32_extremes(void **state)
{
	NEED_SB(state);
	int32_t v[] = {0, -5, 1, INT32_MIN, INT32_MAX};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		hl_value a = hl_i32(v[i]);
		hl_value r = hlt_call_ok(SB(state), "EchoI32", &a, 1);
		assert_int_equal(r.type, HL_TYPE_I32);
		assert_int_equal(r.u.i32, v[i]);
	}
}

static void echo_u32_extremes(void **state)
{
	NEED_SB(state);
	uint32_t v[] = {0, 7, UINT32_MAX};
	for (size_t i = 0; i < 3; i++) {
		hl_value a = hl_u32(v[i]);
		assert_int_equal(hlt_call_ok(SB(state), "EchoU32", &a, 1).u.u32, v[i]);
	}
}

static void echo_i64_extremes(void **state)
{
	NEED_SB(state);
	int64_t v[] = {0, -1, INT64_MIN, INT64_MAX};
	for (size_t i = 0; i < 4; i++) {
		hl_value a = hl_i64(v[i]);
		hl_value r = hlt_call_ok(SB(state), "EchoI64", &a, 1);
		assert_true(r.u.i64 == v[i]);
	}
}

static void echo_u64_extremes(void **state)
{
	NEED_SB(state);
	uint64_t v[] = {0, 1, UINT64_MAX};
	for (size_t i = 0; i < 3; i++) {
		hl_value a = hl_u64(v[i]);
		assert_true(hlt_call_ok(SB(state), "EchoU64", &a, 1).u.u64 == v[i]);
	}
}

static void echo_f32_keeps_bits_including_nan_and_inf(void **state)
{
	NEED_SB(state);
	float v[] = {0.0f, -0.0f, 1.5f, -3.25e-38f, 3.4e38f, INFINITY, -INFINITY, NAN, 1e-45f};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		hl_value a = hl_f32(v[i]);
		hl_value r = hlt_call_ok(SB(state), "EchoF32", &a, 1);
		assert_int_equal(r.type, HL_TYPE_F32);
		assert_memory_equal(&r.u.f32, &v[i], sizeof(float));
	}
}

static void echo_f64_keeps_bits_including_nan_and_inf(void **state)
{
	NEED_SB(state);
	double v[] = {0.0,      -0.0,      1.5, 1e-300,  -1.7976931348623157e308,
	              INFINITY, -INFINITY, NAN, 4.9e-324};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		hl_value a = hl_f64(v[i]);
		hl_value r = hlt_call_ok(SB(state), "EchoF64", &a, 1);
		assert_int_equal(r.type, HL_TYPE_F64);
		assert_memory_equal(&r.u.f64, &v[i], sizeof(double));
	}
}

static void echo_bool_both_values(void **state)
{
	NEED_SB(state);
	for (int i = 0; i < 2; i++) {
		hl_value a = hl_bool(i);
		hl_value r = hlt_call_ok(SB(state), "EchoBool", &a, 1);
		assert_int_equal(r.type, HL_TYPE_BOOL);
		assert_int_equal(r.u.b, i);
	}
}

static void echo_bytes_all_values_and_empty(void **state)
{
	NEED_SB(state);
	uint8_t b[256];
	for (int i = 0; i < 256; i++)
		b[i] = (uint8_t)i;
	hl_value a = hl_bytes(b, sizeof b);
	hl_value r = hlt_call_ok(SB(state), "EchoBytes", &a, 1);
	assert_int_equal(r.type, HL_TYPE_BYTES);
	assert_int_equal(r.u.bytes.len, 256);
	assert_memory_equal(r.u.bytes.ptr, b, 256);
	a = hl_bytes(b, 0);
	r = hlt_call_ok(SB(state), "EchoBytes", &a, 1);
	assert_int_equal(r.u.bytes.len, 0);
}

static void noop_returns_void(void **state)
{
	NEED_SB(state);
	hl_value r = hlt_call_ok(SB(state), "NoOp", NULL, 0);
	assert_int_equal(r.type, HL_TYPE_VOID);
}

static void set_byte_array_to_zero(void **state)
{
	NEED_SB(state);
	uint8_t b[100];
	memset(b, 0xab, sizeof b);
	hl_value a = hl_bytes(b, sizeof b);
	hl_value r = hlt_call_ok(SB(state), "SetByteArrayToZero", &a, 1);
	assert_int_equal(r.u.bytes.len, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(r.u.bytes.ptr[i], 0);
}

static void sixteen_parameters(void **state)
{
	NEED_SB(state);
	hl_value a[16];
	int64_t want = 0;
	for (int i = 0; i < 16; i++) {
		a[i] = hl_i32((i + 1) * 1000003);
		want += (i + 1) * 1000003;
	}
	hl_value r = hlt_call_ok(SB(state), "Sum16", a, 16);
	assert_int_equal(r.type, HL_TYPE_I64);
	assert_true(r.u.i64 == want);
}

static void print_output_reaches_print_callback(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	struct hlt_output out;
	hl_sandbox *sb = hlt_open("simpleguest", NULL, &out);
	hl_value a = hl_string("hello from the guest\n", 21);
	hl_value r = hlt_call_ok(sb, "PrintOutput", &a, 1);
	assert_int_equal(r.u.i32, 21);
	assert_string_equal(out.data, "hello from the guest\n");
	assert_true(out.fds & 2);
	hl_sandbox_free(sb);
}

static void print_with_mixed_arguments(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	struct hlt_output out;
	hl_sandbox *sb = hlt_open("simpleguest", NULL, &out);
	size_t nfn = hl_function_count(sb);
	int seen = 0;
	for (size_t i = 0; i < nfn; i++) {
		hl_function_info fi;
		assert_int_equal(hl_function_get(sb, i, &fi), 0);
		if (strncmp(fi.name, "Print", 5) != 0 || fi.name[5] < '0' || fi.name[5] > '9')
			continue;
		hl_value a[HL_MAX_PARAMS];
		uint8_t bytes[2] = {0xca, 0xfe};
		for (size_t p = 0; p < fi.nparams; p++) {
			switch (fi.params[p]) {
			case HL_TYPE_I32: a[p] = hl_i32(-(int32_t)p); break;
			case HL_TYPE_U32: a[p] = hl_u32((uint32_t)p); break;
			case HL_TYPE_I64: a[p] = hl_i64(-(int64_t)p * 1000000000000LL); break;
			case HL_TYPE_U64: a[p] = hl_u64(p); break;
			case HL_TYPE_F32: a[p] = hl_f32(0.5f); break;
			case HL_TYPE_F64: a[p] = hl_f64(2.25); break;
			case HL_TYPE_BOOL: a[p] = hl_bool(p & 1); break;
			case HL_TYPE_STRING: a[p] = hl_string("str", 3); break;
			case HL_TYPE_BYTES: a[p] = hl_bytes(bytes, 2); break;
			default: fail_msg("unexpected parameter type");
			}
		}
		out.len = 0;
		out.data[0] = 0;
		hl_value r = hlt_call_ok(sb, fi.name, a, fi.nparams);
		assert_int_equal(r.type, HL_TYPE_I32);
		/* The guest returns how many characters it printed. */
		assert_int_equal((size_t)r.u.i32, out.len);
		assert_true(out.len > 0);
		seen++;
	}
	assert_int_equal(seen, 10); /* Print2 .. Print11 */
	hl_sandbox_free(sb);
}

static void static_state_is_kept_across_calls(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a = hl_i32(5);
	assert_int_equal(hlt_call_ok(sb, "AddToStatic", &a, 1).u.i32, 5);
	assert_int_equal(hlt_call_ok(sb, "AddToStatic", &a, 1).u.i32, 10);
	assert_int_equal(hlt_call_ok(sb, "GetStatic", NULL, 0).u.i32, 10);
}

static void reset_restores_state_after_init(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a = hl_i32(42);
	hlt_call_ok(sb, "AddToStatic", &a, 1);
	assert_int_equal(hl_sandbox_reset(sb), 0);
	assert_int_equal(hlt_call_ok(sb, "GetStatic", NULL, 0).u.i32, 0);
}

static void malloc_in_guest(void **state)
{
	NEED_SB(state);
	hl_value a = hl_i32(64 * 1024);
	assert_int_equal(hlt_call_ok(SB(state), "Malloc", &a, 1).u.i32, 64 * 1024);
	a = hl_i32(100);
	for (int i = 0; i < 200; i++)
		assert_int_equal(hlt_call_ok(SB(state), "Malloc", &a, 1).u.i32, 100);
}

static void malloc_too_large_returns_null(void **state)
{
	NEED_SB(state);
	assert_int_equal(hlt_call_ok(SB(state), "MallocTooLarge", NULL, 0).u.i32, 0);
}

static void stack_use_within_limit(void **state)
{
	NEED_SB(state);
	hl_value a = hl_i32(20); /* 20 KiB of a 64 KiB stack */
	assert_int_equal(hlt_call_ok(SB(state), "StackOverflow", &a, 1).u.i32, 20);
}

static void unknown_function_is_rejected_before_the_guest_runs(void **state)
{
	NEED_SB(state);
	HLT_ASSERT_CODE(SB(state), hl_call(SB(state), "NoSuchFunction", NULL, 0, NULL),
	                HL_E_NO_FUNCTION);
	HLT_ASSERT_MSG(SB(state), "NoSuchFunction");
	assert_false(hl_sandbox_poisoned(SB(state)));
}

static void wrong_argument_count_is_rejected(void **state)
{
	NEED_SB(state);
	hl_value a[2] = {hl_string("a", 1), hl_string("b", 1)};
	HLT_ASSERT_CODE(SB(state), hl_call(SB(state), "Echo", a, 2, NULL), HL_E_ARG_COUNT);
	HLT_ASSERT_MSG(SB(state), "Echo");
	HLT_ASSERT_CODE(SB(state), hl_call(SB(state), "Echo", NULL, 0, NULL), HL_E_ARG_COUNT);
}

static void wrong_argument_type_is_rejected_naming_the_parameter(void **state)
{
	NEED_SB(state);
	hl_value a = hl_i32(1);
	HLT_ASSERT_CODE(SB(state), hl_call(SB(state), "Echo", &a, 1, NULL), HL_E_ARG_TYPE);
	HLT_ASSERT_MSG(SB(state), "parameter 0");
	HLT_ASSERT_MSG(SB(state), "expected string");
	/* and the sandbox is fine afterwards */
	hl_value s = hl_string("ok", 2);
	assert_string_equal(hlt_call_ok(SB(state), "Echo", &s, 1).u.str.ptr, "ok");
}

static void string_with_nul_is_rejected(void **state)
{
	NEED_SB(state);
	hl_value a = hl_string("a\0b", 3);
	HLT_ASSERT_CODE(SB(state), hl_call(SB(state), "Echo", &a, 1, NULL), HL_E_INVAL);
}

static void argument_larger_than_input_buffer_fails_cleanly(void **state)
{
	NEED_SB(state);
	size_t n = 20 * 1024; /* the input buffer is 16 KiB */
	char *s = malloc(n);
	memset(s, 'x', n);
	hl_value a[2] = {hl_string(s, n), hl_bytes(s, 1)};
	HLT_ASSERT_CODE(SB(state), hl_call(SB(state), "LargeParameters", a, 2, NULL),
	                HL_E_TOO_LARGE);
	HLT_ASSERT_MSG(SB(state), "parameter 0");
	assert_false(hl_sandbox_poisoned(SB(state)));
	/* near the limit works: a string and bytes of 7 KiB each */
	a[0] = hl_string(s, 7 * 1024);
	a[1] = hl_bytes(s, 7 * 1024);
	assert_int_equal(hlt_call_ok(SB(state), "LargeParameters", a, 2).u.i32, 14 * 1024);
	free(s);
}

static void result_larger_than_output_buffer_fails_cleanly(void **state)
{
	NEED_SB(state);
	hl_value a = hl_i32(15 * 1024);
	hl_value r = hlt_call_ok(SB(state), "GetStringOfLength", &a, 1);
	assert_int_equal(r.u.str.len, 15 * 1024);
	a = hl_i32(64 * 1024);
	int rc = hl_call(SB(state), "GetStringOfLength", &a, 1, &r);
	assert_int_equal(rc, HL_E_GUEST_ERROR);
	assert_false(hl_sandbox_poisoned(SB(state)));
}

static void guest_error_is_reported_and_does_not_poison(void **state)
{
	NEED_SB(state);
	hl_value a[2] = {hl_i32(7), hl_string("bad input", 9)};
	HLT_ASSERT_CODE(SB(state), hl_call(SB(state), "ReturnError", a, 2, NULL), HL_E_GUEST_ERROR);
	HLT_ASSERT_MSG(SB(state), "bad input");
	assert_int_equal(hl_sandbox_guest_code(SB(state)), 7);
	assert_false(hl_sandbox_poisoned(SB(state)));
	hl_value s = hl_string("still fine", 10);
	assert_string_equal(hlt_call_ok(SB(state), "Echo", &s, 1).u.str.ptr, "still fine");
}

static void thousand_calls_see_no_leftovers_in_the_buffers(void **state)
{
	NEED_SB(state);
	char buf[4096];
	for (int i = 0; i < 1000; i++) {
		/* alternate long and short strings so that stale bytes would show */
		size_t n = (i % 2) ? (size_t)(i % 37) : 4000 - (size_t)i;
		for (size_t k = 0; k < n; k++)
			buf[k] = (char)('A' + (i + k) % 26);
		hl_value a = hl_string(buf, n);
		hl_value r = hlt_call_ok(SB(state), "Echo", &a, 1);
		assert_int_equal(r.u.str.len, n);
		assert_memory_equal(r.u.str.ptr, buf, n);
		assert_int_equal(r.u.str.ptr[n], 0);
	}
}

static void function_list_has_signatures(void **state)
{
	NEED_SB(state);
	size_t n = hl_function_count(SB(state));
	assert_true(n >= 40);
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		hl_function_info fi;
		assert_int_equal(hl_function_get(SB(state), i, &fi), 0);
		if (strcmp(fi.name, "Echo") == 0) {
			found = true;
			assert_int_equal(fi.ret, HL_TYPE_STRING);
			assert_int_equal(fi.nparams, 1);
			assert_int_equal(fi.params[0], HL_TYPE_STRING);
		}
	}
	assert_true(found);
	hl_function_info fi;
	assert_int_equal(hl_function_get(SB(state), n, &fi), HL_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(echo_string_returns_its_argument),
		cmocka_unit_test(echo_empty_string),
		cmocka_unit_test(echo_large_string),
		cmocka_unit_test(echo_utf8_string),
		cmocka_unit_test(echo_i32_extremes),
		cmocka_unit_test(echo_u32_extremes),
		cmocka_unit_test(echo_i64_extremes),
		cmocka_unit_test(echo_u64_extremes),
		cmocka_unit_test(echo_f32_keeps_bits_including_nan_and_inf),
		cmocka_unit_test(echo_f64_keeps_bits_including_nan_and_inf),
		cmocka_unit_test(echo_bool_both_values),
		cmocka_unit_test(echo_bytes_all_values_and_empty),
		cmocka_unit_test(noop_returns_void),
		cmocka_unit_test(set_byte_array_to_zero),
		cmocka_unit_test(sixteen_parameters),
		cmocka_unit_test(print_output_reaches_print_callback),
		cmocka_unit_test(print_with_mixed_arguments),
		HLT_SIMPLEGUEST_TEST(static_state_is_kept_across_calls),
		HLT_SIMPLEGUEST_TEST(reset_restores_state_after_init),
		cmocka_unit_test(malloc_in_guest),
		cmocka_unit_test(malloc_too_large_returns_null),
		cmocka_unit_test(stack_use_within_limit),
		cmocka_unit_test(unknown_function_is_rejected_before_the_guest_runs),
		cmocka_unit_test(wrong_argument_count_is_rejected),
		cmocka_unit_test(wrong_argument_type_is_rejected_naming_the_parameter),
		cmocka_unit_test(string_with_nul_is_rejected),
		cmocka_unit_test(argument_larger_than_input_buffer_fails_cleanly),
		cmocka_unit_test(result_larger_than_output_buffer_fails_cleanly),
		cmocka_unit_test(guest_error_is_reported_and_does_not_poison),
		cmocka_unit_test(thousand_calls_see_no_leftovers_in_the_buffers),
		cmocka_unit_test(function_list_has_signatures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
