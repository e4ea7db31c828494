/* test_lifecycle.c - create/load/init/free order, misuse, bad guests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int dummy_fn(hl_host_call *hc, const hl_value *a, size_t n, hl_value *r, void *u)
{
	(void)hc, (void)a, (void)n, (void)r, (void)u;
	return 0;
}

static void dummyguest_has_no_functions(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("dummyguest", NULL, NULL);
	assert_int_equal(hl_function_count(sb), 0);
	HLT_ASSERT_CODE(sb, hl_call(sb, "Echo", NULL, 0, NULL), HL_E_NO_FUNCTION);
	hl_sandbox_free(sb);
}

static void call_before_init_is_a_state_error(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	HLT_ASSERT_CODE(sb, hl_call(sb, "Echo", NULL, 0, NULL), HL_E_STATE);
	assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("simpleguest")), 0);
	HLT_ASSERT_CODE(sb, hl_call(sb, "Echo", NULL, 0, NULL), HL_E_STATE);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), HL_E_STATE);
	HLT_ASSERT_CODE(sb, hl_sandbox_load_file(sb, hlt_guest("simpleguest")), HL_E_STATE);
	assert_int_equal(hl_sandbox_init(sb), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_init(sb), HL_E_STATE);
	hl_sandbox_free(sb);
}

static void register_after_init_is_a_state_error(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	HLT_ASSERT_CODE(sb, hl_sandbox_register(sb, "Late", HL_TYPE_VOID, NULL, 0, dummy_fn, NULL),
	                HL_E_STATE);
}

static void loading_a_missing_file_names_it(void **state)
{
	(void)state;
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_load_file(sb, "/nonexistent/guest"), HL_E_IO);
	HLT_ASSERT_MSG(sb, "/nonexistent/guest");
	hl_sandbox_free(sb);
}

static void loading_garbage_is_an_elf_error_and_leaves_nothing(void **state)
{
	(void)state;
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	char junk[512];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)(i * 7);
	HLT_ASSERT_CODE(sb, hl_sandbox_load_image(sb, junk, sizeof junk), HL_E_ELF);
	assert_true(strlen(hl_errmsg(sb)) > 0);
	HLT_ASSERT_CODE(sb, hl_call(sb, "Echo", NULL, 0, NULL), HL_E_STATE);
	if (hlt_have_kvm()) {
		/* the same sandbox can still load a good guest */
		assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("simpleguest")), 0);
		assert_int_equal(hl_sandbox_init(sb), 0);
	}
	hl_sandbox_free(sb);
}

static void loading_a_host_program_is_a_version_error(void **state)
{
	(void)state;
	/* /proc/self/exe is a real x86-64 ELF without our note (or dynamic) */
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	int r = hl_sandbox_load_file(sb, "/proc/self/exe");
	assert_true(r == HL_E_VERSION || r == HL_E_ELF);
	hl_sandbox_free(sb);
}

static void null_arguments_are_invalid(void **state)
{
	(void)state;
	assert_int_equal(hl_sandbox_new(NULL, NULL), HL_E_INVAL);
	hl_config bad;
	hl_config_init(&bad);
	bad.size = 3;
	hl_sandbox *sb = (hl_sandbox *)1;
	assert_int_equal(hl_sandbox_new(&bad, &sb), HL_E_INVAL);
	assert_null(sb);
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_load_file(sb, NULL), HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_load_image(sb, NULL, 10), HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_register(sb, NULL, HL_TYPE_VOID, NULL, 0, dummy_fn, NULL),
	                HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_register(sb, "X", HL_TYPE_VOID, NULL, 0, NULL, NULL),
	                HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_call(sb, NULL, NULL, 0, NULL), HL_E_INVAL);
	assert_int_equal(hl_call(NULL, "x", NULL, 0, NULL), HL_E_INVAL);
	assert_int_equal(hl_sandbox_init(NULL), HL_E_INVAL);
	assert_int_equal(hl_sandbox_reset(NULL), HL_E_INVAL);
	hl_sandbox_free(NULL);
	hl_sandbox_free(sb);
}

static void register_rejects_bad_names_types_and_duplicates(void **state)
{
	(void)state;
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	HLT_ASSERT_CODE(sb,
	                hl_sandbox_register(sb, "bad name", HL_TYPE_VOID, NULL, 0, dummy_fn, NULL),
	                HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_register(sb, "", HL_TYPE_VOID, NULL, 0, dummy_fn, NULL),
	                HL_E_INVAL);
	hl_type v[] = {HL_TYPE_VOID};
	HLT_ASSERT_CODE(sb, hl_sandbox_register(sb, "F", HL_TYPE_VOID, v, 1, dummy_fn, NULL),
	                HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_register(sb, "F", (hl_type)99, NULL, 0, dummy_fn, NULL),
	                HL_E_INVAL);
	hl_type many[HL_MAX_PARAMS + 1];
	for (size_t i = 0; i <= HL_MAX_PARAMS; i++)
		many[i] = HL_TYPE_I32;
	HLT_ASSERT_CODE(sb,
	                hl_sandbox_register(sb, "F", HL_TYPE_VOID, many, HL_MAX_PARAMS + 1,
	                                    dummy_fn, NULL),
	                HL_E_INVAL);
	assert_int_equal(hl_sandbox_register(sb, "F", HL_TYPE_VOID, many, HL_MAX_PARAMS, dummy_fn,
	                                     NULL),
	                 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_register(sb, "F", HL_TYPE_VOID, NULL, 0, dummy_fn, NULL),
	                HL_E_EXISTS);
	hl_sandbox_free(sb);
}

static void strerror_names_every_code(void **state)
{
	(void)state;
	int codes[] = {HL_OK,
	               HL_E_INVAL,
	               HL_E_STATE,
	               HL_E_NO_FUNCTION,
	               HL_E_ARG_COUNT,
	               HL_E_ARG_TYPE,
	               HL_E_EXISTS,
	               HL_E_CONFIG,
	               HL_E_TOO_LARGE,
	               HL_E_NOMEM,
	               HL_E_IO,
	               HL_E_HYPERVISOR,
	               HL_E_ELF,
	               HL_E_VERSION,
	               HL_E_GUEST_ERROR,
	               HL_E_HOST_FUNCTION,
	               HL_E_GUEST_ABORT,
	               HL_E_GUEST_FAULT,
	               HL_E_GUEST_PROTOCOL,
	               HL_E_POISONED};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		assert_null(strstr(hl_strerror(codes[i]), "unknown"));
	assert_non_null(strstr(hl_strerror(-999), "unknown"));
}

static void bigger_buffers_and_heap_work(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.heap_size = 8 << 20;
	cfg.stack_size = 1 << 20;
	cfg.input_size = 1 << 20;
	cfg.output_size = 1 << 20;
	hl_sandbox *sb = hlt_open("simpleguest", &cfg, NULL);
	size_t n = 900 * 1024;
	char *s = malloc(n);
	memset(s, 'q', n);
	hl_value a = hl_string(s, n);
	hl_value r = hlt_call_ok(sb, "Echo", &a, 1);
	assert_int_equal(r.u.str.len, n);
	hl_value m = hl_i32(4 << 20);
	assert_int_equal(hlt_call_ok(sb, "Malloc", &m, 1).u.i32, 4 << 20);
	free(s);
	hl_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dummyguest_has_no_functions),
		cmocka_unit_test(call_before_init_is_a_state_error),
		HLT_SIMPLEGUEST_TEST(register_after_init_is_a_state_error),
		cmocka_unit_test(loading_a_missing_file_names_it),
		cmocka_unit_test(loading_garbage_is_an_elf_error_and_leaves_nothing),
		cmocka_unit_test(loading_a_host_program_is_a_version_error),
		cmocka_unit_test(null_arguments_are_invalid),
		cmocka_unit_test(register_rejects_bad_names_types_and_duplicates),
		cmocka_unit_test(strerror_names_every_code),
		cmocka_unit_test(bigger_buffers_and_heap_work),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
