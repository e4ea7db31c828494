/* test_hostile.c - malformed records from a hostile guest end in clear errors. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void expect_protocol_error(const char *fn)
{
	hl_sandbox *sb = hlt_open("hostileguest", NULL, NULL);
	int r = hl_call(sb, fn, NULL, 0, NULL);
	if (r != HL_E_GUEST_PROTOCOL)
		fail_msg("%s: returned %d (%s), expected HL_E_GUEST_PROTOCOL; %s", fn, r,
		         hl_strerror(r), hl_errmsg(sb));
	HLT_ASSERT_MSG(sb, "malformed guest record");
	assert_true(hl_sandbox_poisoned(sb));
	assert_int_equal(hl_sandbox_reset(sb), 0);
	hl_sandbox_free(sb);
}

#define HOSTILE(fn)                         \
	static void fn(void **state)        \
	{                                   \
		(void)state;                \
		HLT_REQUIRE_KVM();          \
		expect_protocol_error(#fn); \
	}
HOSTILE(BadResultMagic)
HOSTILE(ResultLengthHuge)
HOSTILE(ResultOffsetOutside)
HOSTILE(BadHostcallOffset)
HOSTILE(HostcallArgcHuge)
HOSTILE(HostcallNameTooLong)
HOSTILE(PrintLenHuge)
HOSTILE(LogLenHuge)
HOSTILE(AbortMsgLenHuge)
HOSTILE(ExceptionRecordGarbage)

static void count_log(enum hl_log_level level, const char *file, int line, const char *msg,
                      void *user)
{
	(void)level, (void)file, (void)line, (void)msg;
	++*(int *)user;
}

/* A guest that skips its runtime's level filter is held to the host's
 * maximum: the record is dropped, the call goes on. */
static void log_above_max_level_is_dropped(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("hostileguest", NULL, NULL);
	int delivered = 0;
	assert_int_equal(hl_sandbox_set_log(sb, count_log, &delivered), 0);
	hl_value ret;
	HLT_ASSERT_CODE(sb, hl_call(sb, "LogAboveMax", NULL, 0, &ret), 0);
	assert_int_equal(delivered, 0);
	assert_false(hl_sandbox_poisoned(sb));
	hl_sandbox_free(sb);

	/* with the maximum raised to trace, the same record is delivered */
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.max_log_level = HL_LOG_TRACE;
	sb = hlt_open("hostileguest", &cfg, NULL);
	assert_int_equal(hl_sandbox_set_log(sb, count_log, &delivered), 0);
	HLT_ASSERT_CODE(sb, hl_call(sb, "LogAboveMax", NULL, 0, &ret), 0);
	assert_int_equal(delivered, 1);
	hl_sandbox_free(sb);
}

/* ---- log records with control characters arrive as one clean line ---- */

/* What LogControlBytes sends (hostileguest.c), cleaned byte for byte: every
 * control character and the byte that is not UTF-8 become '?', "café" stays. */
#define CLEAN_FILE "ev?il?[2J.c"
#define CLEAN_MSG "one?two??[31mred? ??31m ??? caf\xc3\xa9 ?"

struct got_log {
	int count;
	int line;
	char file[64], msg[128];
};

static void keep_log(enum hl_log_level level, const char *file, int line, const char *msg,
                     void *user)
{
	struct got_log *g = user;
	(void)level;
	g->count++;
	g->line = line;
	snprintf(g->file, sizeof g->file, "%s", file);
	snprintf(g->msg, sizeof g->msg, "%s", msg);
}

static void a_log_record_with_control_bytes_reaches_the_callback_cleaned(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("hostileguest", NULL, NULL);
	struct got_log g = {0};
	assert_int_equal(hl_sandbox_set_log(sb, keep_log, &g), 0);
	hl_value ret;
	HLT_ASSERT_CODE(sb, hl_call(sb, "LogControlBytes", NULL, 0, &ret), 0);
	assert_int_equal(g.count, 1);
	assert_int_equal(g.line, 7);
	assert_string_equal(g.file, CLEAN_FILE);
	assert_string_equal(g.msg, CLEAN_MSG);
	hl_sandbox_free(sb);
}

static void a_log_record_with_control_bytes_reaches_the_default_sink_cleaned(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("hostileguest", NULL, NULL);
	/* The default sink writes to fd 2: send it to a pipe for the call. */
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(pfd[1], 2), 2);
	hl_value ret;
	int r = hl_call(sb, "LogControlBytes", NULL, 0, &ret);
	dup2(saved, 2);
	close(saved);
	close(pfd[1]);
	char buf[256] = {0};
	size_t n = 0;
	ssize_t k;
	while (n < sizeof buf - 1 && (k = read(pfd[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)k;
	close(pfd[0]);
	HLT_ASSERT_CODE(sb, r, 0);
	assert_string_equal(buf, "guest ERROR " CLEAN_FILE ":7: " CLEAN_MSG "\n");
	hl_sandbox_free(sb);
}

static void main_returning_without_dispatch_is_an_abort(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("nomainguest")), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_init(sb), HL_E_GUEST_ABORT);
	HLT_ASSERT_MSG(sb, "status 3");
	HLT_ASSERT_MSG(sb, "hl_sandbox_init");
	/* a failed init leaves a sandbox that refuses calls and resets */
	HLT_ASSERT_CODE(sb, hl_call(sb, "Anything", NULL, 0, NULL), HL_E_STATE);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), HL_E_STATE);
	assert_true(hl_sandbox_poisoned(sb));
	hl_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(BadResultMagic),
		cmocka_unit_test(ResultLengthHuge),
		cmocka_unit_test(ResultOffsetOutside),
		cmocka_unit_test(BadHostcallOffset),
		cmocka_unit_test(HostcallArgcHuge),
		cmocka_unit_test(HostcallNameTooLong),
		cmocka_unit_test(PrintLenHuge),
		cmocka_unit_test(LogLenHuge),
		cmocka_unit_test(AbortMsgLenHuge),
		cmocka_unit_test(ExceptionRecordGarbage),
		cmocka_unit_test(log_above_max_level_is_dropped),
		cmocka_unit_test(a_log_record_with_control_bytes_reaches_the_callback_cleaned),
		cmocka_unit_test(a_log_record_with_control_bytes_reaches_the_default_sink_cleaned),
		cmocka_unit_test(main_returning_without_dispatch_is_an_abort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
