/* test_hostcalls.c - the guest calling host functions, print and log. */
#include <stdio.h>
#include <string.h>

#include "common.h"

static void guest_method1_returns_what_the_host_returned(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a = hl_string("world", 5);
	hl_value r = hlt_call_ok(sb, "GuestMethod1", &a, 1);
	/* HostMethod1 returns the length of "Hello from GuestMethod1, world" */
	assert_int_equal(r.u.i32, (int)strlen("Hello from GuestMethod1, world"));
}

static void host_add_through_the_guest(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a[2] = {hl_i32(40), hl_i32(2)};
	assert_int_equal(hlt_call_ok(sb, "GuestMethod2", a, 2).u.i32, 42);
}

static void host_string_result_reaches_the_guest(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a = hl_string("round trip", 10);
	assert_string_equal(hlt_call_ok(sb, "GuestMethod3", &a, 1).u.str.ptr, "round trip");
}

static void host_bytes_result_reaches_the_guest(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a = hl_u32(300);
	hl_value r = hlt_call_ok(sb, "GuestMethod4", &a, 1);
	assert_int_equal(r.u.bytes.len, 300);
	for (int i = 0; i < 300; i++)
		assert_int_equal(r.u.bytes.ptr[i], i & 0xff);
}

static void unhandled_host_error_is_a_distinct_error(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	HLT_ASSERT_CODE(sb, hl_call(sb, "CallHostError", NULL, 0, NULL), HL_E_HOST_FUNCTION);
	HLT_ASSERT_MSG(sb, "HostError always fails");
	/* the guest unwound cleanly: the sandbox keeps working */
	hl_value a[2] = {hl_i32(1), hl_i32(2)};
	assert_int_equal(hlt_call_ok(sb, "GuestMethod2", a, 2).u.i32, 3);
}

static void guest_can_inspect_a_host_error(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value r = hlt_call_ok(sb, "CallHostErrorHandled", NULL, 0);
	assert_string_equal(r.u.str.ptr, "handled: HostError always fails");
}

static void unknown_host_function_is_an_error_for_the_guest(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	HLT_ASSERT_CODE(sb, hl_call(sb, "CallUnknownHostFunction", NULL, 0, NULL), HL_E_GUEST_ERROR);
	HLT_ASSERT_MSG(sb, "NoSuchFunction");
	assert_false(hl_sandbox_poisoned(sb));
}

static void many_host_calls_in_one_guest_call(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a = hl_i32(1000);
	/* sum of HostAdd(i, 1) for i in 0..999 */
	assert_int_equal(hlt_call_ok(sb, "HostCallLoop", &a, 1).u.i32, 1000 * 999 / 2 + 1000);
}

/* callbackguest with HostMethod1(string) -> i32 served by fn (and user)
 * instead of the sample host function. */
static hl_sandbox *with_host_method1(hl_host_fn fn, void *user)
{
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("callbackguest")), 0);
	hl_type p[] = {HL_TYPE_STRING};
	assert_int_equal(hl_sandbox_register(sb, "HostMethod1", HL_TYPE_I32, p, 1, fn, user), 0);
	assert_int_equal(hl_sandbox_init(sb), 0);
	return sb;
}

struct counter {
	int calls;
	char last[64];
};

static int counting_method1(hl_host_call *hc, const hl_value *args, size_t n, hl_value *ret,
                            void *user)
{
	(void)hc, (void)n;
	struct counter *c = user;
	c->calls++;
	snprintf(c->last, sizeof c->last, "%s", args[0].u.str.ptr);
	*ret = hl_i32(1234);
	return 0;
}

static void host_function_gets_user_pointer_and_arguments(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	struct counter c = {0};
	hl_sandbox *sb = with_host_method1(counting_method1, &c);
	hl_value a = hl_string("x", 1);
	assert_int_equal(hlt_call_ok(sb, "GuestMethod1", &a, 1).u.i32, 1234);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.last, "Hello from GuestMethod1, x");
	hl_sandbox_free(sb);
}

static int wrong_type_method1(hl_host_call *hc, const hl_value *args, size_t n, hl_value *ret,
                              void *user)
{
	(void)hc, (void)args, (void)n, (void)user;
	*ret = hl_string("not an i32", 10);
	return 0;
}

static void host_function_returning_the_wrong_type_is_an_error_for_the_guest(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = with_host_method1(wrong_type_method1, NULL);
	hl_value a = hl_string("x", 1);
	int r = hl_call(sb, "GuestMethod1", &a, 1, NULL);
	assert_true(r == HL_E_HOST_FUNCTION || r == HL_E_GUEST_ERROR);
	HLT_ASSERT_MSG(sb, "registered as i32");
	hl_sandbox_free(sb);
}

static void guest_print_via_host_function(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value a = hl_string("", 0);
	assert_int_equal(hlt_call_ok(sb, "PrintViaHost", &a, 1).u.i32, 0);
}

struct logs {
	int n;
	enum hl_log_level level;
	char msg[128];
	char file[128];
	int line;
};

static void capture_log(enum hl_log_level level, const char *file, int line, const char *msg,
                        void *user)
{
	struct logs *l = user;
	l->n++;
	l->level = level;
	l->line = line;
	snprintf(l->msg, sizeof l->msg, "%s", msg);
	snprintf(l->file, sizeof l->file, "%s", file);
}

static void guest_log_respects_the_maximum_level(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	struct logs l = {0};
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.max_log_level = HL_LOG_INFO;
	hl_sandbox *sb = hlt_open("simpleguest", &cfg, NULL);
	assert_int_equal(hl_sandbox_set_log(sb, capture_log, &l), 0);
	hl_value a[2] = {hl_i32(HL_LOG_INFO), hl_string("an info message", 15)};
	hlt_call_ok(sb, "LogMessage", a, 2);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.level, HL_LOG_INFO);
	assert_string_equal(l.msg, "an info message");
	assert_true(l.line > 0);
	assert_non_null(strstr(l.file, "simpleguest"));
	a[0] = hl_i32(HL_LOG_DEBUG);
	hlt_call_ok(sb, "LogMessage", a, 2);
	assert_int_equal(l.n, 1); /* filtered in the guest */
	hl_sandbox_free(sb);
}

static int call_back_in(hl_host_call *hc, const hl_value *args, size_t n, hl_value *ret, void *user)
{
	(void)args, (void)n, (void)user;
	hl_sandbox *sb = hl_host_call_sandbox(hc);
	int r = hl_call(sb, "GuestMethod2", NULL, 0, NULL);
	*ret = hl_i32(r);
	return 0;
}

static void calling_the_guest_from_a_host_function_is_refused(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = with_host_method1(call_back_in, NULL);
	hl_value a = hl_string("x", 1);
	assert_int_equal(hlt_call_ok(sb, "GuestMethod1", &a, 1).u.i32, HL_E_STATE);
	hl_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		HLT_CALLBACKGUEST_TEST(guest_method1_returns_what_the_host_returned),
		HLT_CALLBACKGUEST_TEST(host_add_through_the_guest),
		HLT_CALLBACKGUEST_TEST(host_string_result_reaches_the_guest),
		HLT_CALLBACKGUEST_TEST(host_bytes_result_reaches_the_guest),
		HLT_CALLBACKGUEST_TEST(unhandled_host_error_is_a_distinct_error),
		HLT_CALLBACKGUEST_TEST(guest_can_inspect_a_host_error),
		HLT_CALLBACKGUEST_TEST(unknown_host_function_is_an_error_for_the_guest),
		HLT_CALLBACKGUEST_TEST(many_host_calls_in_one_guest_call),
		cmocka_unit_test(host_function_gets_user_pointer_and_arguments),
		cmocka_unit_test(host_function_returning_the_wrong_type_is_an_error_for_the_guest),
		HLT_CALLBACKGUEST_TEST(guest_print_via_host_function),
		cmocka_unit_test(guest_log_respects_the_maximum_level),
		cmocka_unit_test(calling_the_guest_from_a_host_function_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
