/*
 * test_limits.c - the caps on what a guest can make the host take: log
 * messages, prints and host-call arguments exactly as large as the output
 * buffer allows are delivered whole and one byte more is refused; a
 * host-call answer that does not fit the input buffer ends the call
 * cleanly; abort messages are truncated; a function table over
 * HL_MAX_FUNCTIONS fails init; a guest that prints forever is stopped by
 * the call timeout. docs/security.md lists the caps.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sample_host.h"

#define REC_OFF 64u /* where hostileguest writes its records */

static uint64_t output_size(hl_sandbox *sb)
{
	hl_layout l;
	assert_int_equal(hl_sandbox_layout(sb, &l), 0);
	return l.output_size;
}

static int pattern_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (char)('a' + i % 26))
			return 0;
	return 1;
}

/* ---- log messages ------------------------------------------------------------ */

struct got_log {
	int count, line;
	size_t file_len, msg_len;
	int msg_ok;
};

static void on_log(enum hl_log_level level, const char *file, int line, const char *msg, void *user)
{
	struct got_log *g = user;
	(void)level;
	g->count++;
	g->line = line;
	g->file_len = strlen(file);
	g->msg_len = strlen(msg);
	g->msg_ok = pattern_ok(msg, g->msg_len);
}

static void a_log_message_filling_the_output_buffer_is_delivered_whole(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("hostileguest", NULL, NULL);
	struct got_log g = {0};
	hl_sandbox_set_log(sb, on_log, &g);
	hl_value a = hl_u32(0);
	assert_int_equal(hlt_call_ok(sb, "LogFill", &a, 1).u.i32, 0);
	assert_int_equal(g.count, 1);
	assert_int_equal(g.line, 42);
	assert_int_equal(g.file_len, 7);
	assert_int_equal(g.msg_len, output_size(sb) - REC_OFF - sizeof(struct hl_log) - 7);
	assert_true(g.msg_ok);
	hl_sandbox_free(sb);
}

static void a_log_message_one_byte_over_is_refused(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("hostileguest", NULL, NULL);
	struct got_log g = {0};
	hl_sandbox_set_log(sb, on_log, &g);
	hl_value a = hl_u32(1);
	HLT_ASSERT_CODE(sb, hl_call(sb, "LogFill", &a, 1, NULL), HL_E_GUEST_PROTOCOL);
	HLT_ASSERT_MSG(sb, "log text beyond the output buffer");
	assert_int_equal(g.count, 0);
	assert_int_equal(hl_sandbox_reset(sb), 0);
	a = hl_u32(0);
	assert_int_equal(hlt_call_ok(sb, "LogFill", &a, 1).u.i32, 0);
	assert_int_equal(g.count, 1);
	hl_sandbox_free(sb);
}

/* ---- prints -------------------------------------------------------------------- */

struct got_print {
	int count;
	size_t len;
	int ok;
};

static void on_print(int fd, const char *data, size_t len, void *user)
{
	struct got_print *g = user;
	(void)fd;
	g->count++;
	g->len = len;
	g->ok = pattern_ok(data, len);
}

static void a_print_filling_the_output_buffer_is_delivered_whole(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("hostileguest", NULL, NULL);
	struct got_print g = {0};
	hl_sandbox_set_print(sb, on_print, &g);
	hl_value a = hl_u32(0);
	assert_int_equal(hlt_call_ok(sb, "PrintFill", &a, 1).u.i32, 0);
	assert_int_equal(g.count, 1);
	assert_int_equal(g.len, output_size(sb) - REC_OFF - sizeof(struct hl_print));
	assert_true(g.ok);
	a = hl_u32(1);
	HLT_ASSERT_CODE(sb, hl_call(sb, "PrintFill", &a, 1, NULL), HL_E_GUEST_PROTOCOL);
	HLT_ASSERT_MSG(sb, "print data beyond the output buffer");
	assert_int_equal(g.count, 1);
	hl_sandbox_free(sb);
}

/* ---- host-call arguments ------------------------------------------------------------ */

static void host_call_arguments_filling_the_output_buffer_arrive_whole(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("hostileguest", NULL, NULL);
	/* HostMethod1 answers the length of the string it received. */
	uint64_t fixed = sizeof(struct hl_hostcall) + sizeof(struct hl_wire_value);
	uint64_t p_off = HL_ALIGN8(fixed + strlen("HostMethod1"));
	hl_value a = hl_u32(0);
	assert_int_equal(hlt_call_ok(sb, "HostcallFill", &a, 1).u.i32,
	                 (int32_t)(output_size(sb) - REC_OFF - p_off - 1));
	a = hl_u32(1);
	HLT_ASSERT_CODE(sb, hl_call(sb, "HostcallFill", &a, 1, NULL), HL_E_GUEST_PROTOCOL);
	HLT_ASSERT_MSG(sb, "host-call record length does not fit the output buffer");
	hl_sandbox_free(sb);
}

/*
 * The arguments of the call fill the input buffer so that the host call's
 * answer (an i32: a result header and one byte) has exactly `room` bytes
 * after the call message. GuestMethod1(msg) calls HostMethod1 with
 * "Hello from GuestMethod1, " + msg.
 */
static int call_with_answer_room(hl_sandbox *sb, size_t room, hl_value *r)
{
	hl_layout l;
	assert_int_equal(hl_sandbox_layout(sb, &l), 0);
	size_t hdr = sizeof(struct hl_call_msg) + sizeof(struct hl_wire_value);
	/* results go at HL_ALIGN8(hdr + n + 1) */
	size_t n = l.input_size - room - hdr - 1;
	char *s = malloc(n);
	assert_non_null(s);
	memset(s, 'm', n);
	hl_value a = hl_string(s, n);
	int rc = hl_call(sb, "GuestMethod1", &a, 1, r);
	free(s);
	return rc;
}

static void a_host_call_answer_without_room_ends_the_call_cleanly(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.output_size = 64 * 1024; /* room for the guest's copy of the long string */
	hl_sandbox *sb = hlt_open("callbackguest", &cfg, NULL);
	hl_layout l;
	assert_int_equal(hl_sandbox_layout(sb, &l), 0);
	const size_t rsz = sizeof(struct hl_result);
	hl_value r;
	/* a header and 8 bytes: the i32 answer fits */
	assert_int_equal(call_with_answer_room(sb, rsz + 8, &r), 0);
	assert_int_equal(r.u.i32,
	                 (int32_t)(strlen("Hello from GuestMethod1, ") + l.input_size - (rsz + 8) -
	                           sizeof(struct hl_call_msg) - sizeof(struct hl_wire_value) - 1));
	/* a header only: neither the answer nor an error message about it fits */
	HLT_ASSERT_CODE(sb, call_with_answer_room(sb, rsz, &r), HL_E_TOO_LARGE);
	HLT_ASSERT_MSG(sb, "input buffer");
	assert_true(hl_sandbox_poisoned(sb));
	assert_int_equal(hl_sandbox_reset(sb), 0);
	hl_value a = hl_string("ok", 2);
	assert_int_equal(hlt_call_ok(sb, "GuestMethod1", &a, 1).u.i32,
	                 (int32_t)strlen("Hello from GuestMethod1, ok"));
	hl_sandbox_free(sb);
}

/* ---- abort messages ----------------------------------------------------------------- */

static void a_long_abort_message_is_truncated(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	char msg[4000];
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (char)('a' + i % 26);
	hl_value a[2] = {hl_i32(9), hl_string(msg, sizeof msg)};
	HLT_ASSERT_CODE(sb, hl_call(sb, "AbortWithMessage", a, 2, NULL), HL_E_GUEST_ABORT);
	const char *m = strstr(hl_errmsg(sb), "abcdefghij");
	assert_non_null(m);
	/* the host keeps at most 511 bytes of it */
	assert_true(strlen(m) <= 511);
	assert_true(strlen(m) >= 400);
	assert_true(pattern_ok(m, strlen(m)));
}

/* ---- the function table ----------------------------------------------------------- */

static void a_function_table_over_the_limit_fails_init(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("hostiletable")), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_init(sb), HL_E_GUEST_PROTOCOL);
	HLT_ASSERT_MSG(sb, "1025 functions, at most 1024");
	assert_int_equal(hl_function_count(sb), 0);
	assert_true(hl_sandbox_poisoned(sb));
	HLT_ASSERT_CODE(sb, hl_call(sb, "Anything", NULL, 0, NULL), HL_E_STATE);
	hl_sandbox_free(sb);
}

/* ---- loops ------------------------------------------------------------------------ */

static void discard_count(int fd, const char *data, size_t len, void *user)
{
	(void)fd, (void)data, (void)len;
	++*(long *)user;
}

static void a_guest_printing_forever_is_stopped_by_the_call_timeout(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg = hlt_interruptible(SIGRTMIN + 5, 300);
	hl_sandbox *sb = hlt_open("hostileguest", &cfg, NULL);
	long prints = 0;
	hl_sandbox_set_print(sb, discard_count, &prints);
	HLT_ASSERT_CODE(sb, hl_call(sb, "PrintForever", NULL, 0, NULL), HL_E_CANCELLED);
	HLT_ASSERT_MSG(sb, "timed out");
	assert_true(prints > 0);
	printf("PrintForever: %ld prints before the 300 ms timeout\n", prints);
	assert_int_equal(hl_sandbox_reset(sb), 0);
	struct got_log g = {0};
	hl_sandbox_set_log(sb, on_log, &g);
	hl_value a = hl_u32(0);
	assert_int_equal(hlt_call_ok(sb, "LogFill", &a, 1).u.i32, 0);
	assert_int_equal(g.count, 1);
	hl_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_log_message_filling_the_output_buffer_is_delivered_whole),
		cmocka_unit_test(a_log_message_one_byte_over_is_refused),
		cmocka_unit_test(a_print_filling_the_output_buffer_is_delivered_whole),
		cmocka_unit_test(host_call_arguments_filling_the_output_buffer_arrive_whole),
		cmocka_unit_test(a_host_call_answer_without_room_ends_the_call_cleanly),
		HLT_SIMPLEGUEST_TEST(a_long_abort_message_is_truncated),
		cmocka_unit_test(a_function_table_over_the_limit_fails_init),
		cmocka_unit_test(a_guest_printing_forever_is_stopped_by_the_call_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
