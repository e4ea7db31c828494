/* test_stats.c - per-sandbox statistics: exact counts for known sequences of calls, host calls, prints, logs, failures, cancels and restores. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

static hl_stats stats_of(hl_sandbox *sb)
{
	hl_stats s;
	memset(&s, 0xa5, sizeof s); /* every field must be written */
	s.size = sizeof s;
	int r = hl_sandbox_stats(sb, &s);
	if (r != 0)
		fail_msg("hl_sandbox_stats: %s", hl_strerror(r));
	assert_int_equal(s.size, sizeof s);
	return s;
}

/* The failure families plus the successes add up to the calls. */
static void assert_families_add_up(const hl_stats *s)
{
	uint64_t sum = s->calls_ok + s->guest_errors + s->host_function_errors + s->aborts +
	               s->faults + s->protocol_errors + s->cancelled + s->timeouts + s->other_errors;
	assert_int_equal(sum, s->calls);
	uint64_t hist = 0;
	for (unsigned i = 0; i < HL_STATS_HIST_BUCKETS; i++)
		hist += s->call_ns_hist[i];
	assert_int_equal(hist, s->calls);
}

/* A counter of hl_stats, by name, and the value it must have. */
struct counter {
	const char *name;
	size_t offset;
	uint64_t want;
};
#define COUNTER(field, value)                              \
	{                                                  \
#field, offsetof(hl_stats, field), (value) \
	}

static void assert_counters(const hl_stats *s, const struct counter *c, size_t n)
{
	for (; n--; c++) {
		uint64_t got;
		memcpy(&got, (const char *)s + c->offset, sizeof got);
		if (got != c->want)
			fail_msg("%s is %llu, expected %llu", c->name, (unsigned long long)got,
			         (unsigned long long)c->want);
	}
}

/* Asserts that each COUNTER(field, value) after `s` has its value in *s. */
#define ASSERT_COUNTERS(s, ...)                                     \
	assert_counters((s), (const struct counter[]){__VA_ARGS__}, \
	                sizeof((const struct counter[]){__VA_ARGS__}) / sizeof(struct counter))

/* All zero but the size, which is set. */
static hl_stats zero_stats(void)
{
	hl_stats s;
	memset(&s, 0, sizeof s);
	s.size = sizeof s;
	return s;
}

static void assert_all_zero(const hl_stats *s)
{
	hl_stats zero = zero_stats();
	assert_memory_equal(s, &zero, sizeof zero);
}

struct logs {
	int n;
	enum hl_log_level last;
};

static void count_log(enum hl_log_level level, const char *file, int line, const char *msg,
                      void *user)
{
	(void)file, (void)line, (void)msg;
	struct logs *l = user;
	l->n++;
	l->last = level;
}

static void log_call(hl_sandbox *sb, enum hl_log_level level)
{
	hl_value a[2] = {hl_i32((int32_t)level), hl_string("stats", 5)};
	hlt_call_ok(sb, "LogMessage", a, 2);
}

static void calls_exits_prints_and_logs_are_counted_exactly(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.max_log_level = HL_LOG_INFO;
	struct hlt_output out;
	hl_sandbox *sb = hlt_open("simpleguest", &cfg, &out);
	struct logs l = {0};
	assert_int_equal(hl_sandbox_set_log(sb, count_log, &l), 0);

	hl_stats s = stats_of(sb);
	assert_true(s.vm_exits >= 1); /* init ran the guest's main() */
	assert_int_equal(s.calls, 0);
	assert_int_equal(hl_sandbox_stats_reset(sb), 0);
	s = stats_of(sb);
	assert_all_zero(&s);

	for (int i = 0; i < 3; i++)
		hlt_call_ok(sb, "NoOp", NULL, 0);
	s = stats_of(sb);
	/* vm_exits: one exit per call, for its result. */
	ASSERT_COUNTERS(&s, COUNTER(calls, 3), COUNTER(calls_ok, 3), COUNTER(vm_exits, 3));

	hl_value text = hl_string("hello\n", 6);
	assert_int_equal(hlt_call_ok(sb, "PrintOutput", &text, 1).u.i32, 6);
	assert_string_equal(out.data, "hello\n");
	s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(prints, 1), COUNTER(vm_exits, 5));

	log_call(sb, HL_LOG_INFO); /* at the maximum: sent */
	assert_int_equal(l.n, 1);
	s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(logs, 1), COUNTER(vm_exits, 7));

	log_call(sb, HL_LOG_DEBUG); /* above it: filtered in the guest, no exit */
	log_call(sb, HL_LOG_TRACE);
	assert_int_equal(l.n, 1);
	s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(logs, 1), COUNTER(vm_exits, 9));

	log_call(sb, HL_LOG_ERROR);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.last, HL_LOG_ERROR);
	s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(calls, 8), COUNTER(calls_ok, 8), COUNTER(logs, 2),
	                COUNTER(prints, 1), COUNTER(host_calls, 0), COUNTER(vm_exits, 11),
	                COUNTER(rejected, 0));
	assert_families_add_up(&s);
	assert_true(s.call_ns_min > 0);
	assert_true(s.call_ns_min <= s.call_ns_max);
	assert_true(s.call_ns_total >= s.call_ns_max);
	assert_true(s.call_ns_total <= 8 * s.call_ns_max);
	uint64_t p50 = hl_stats_percentile_ns(&s, 0.5);
	assert_true(p50 >= s.call_ns_min && p50 <= s.call_ns_max);
	hl_sandbox_free(sb);
}

static void the_default_log_level_sends_warnings_and_errors_only(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg;
	hl_config_init(&cfg);
	assert_int_equal(cfg.max_log_level, HL_LOG_WARN);
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	struct logs l = {0};
	assert_int_equal(hl_sandbox_set_log(sb, count_log, &l), 0);
	assert_int_equal(hl_sandbox_stats_reset(sb), 0);
	log_call(sb, HL_LOG_ERROR);
	log_call(sb, HL_LOG_WARN);
	log_call(sb, HL_LOG_INFO);
	log_call(sb, HL_LOG_DEBUG);
	log_call(sb, HL_LOG_TRACE);
	assert_int_equal(l.n, 2);
	hl_stats s = stats_of(sb);
	/* vm_exits: the three filtered ones cost no exit. */
	ASSERT_COUNTERS(&s, COUNTER(logs, 2), COUNTER(vm_exits, 2 * 2 + 3 * 1));
	hl_sandbox_free(sb);
}

static void failures_are_counted_by_family(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	assert_int_equal(hl_sandbox_stats_reset(sb), 0);

	hl_value err[2] = {hl_i32(5), hl_string("no", 2)};
	HLT_ASSERT_CODE(sb, hl_call(sb, "ReturnError", err, 2, NULL), HL_E_GUEST_ERROR);
	HLT_ASSERT_CODE(sb, hl_call(sb, "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
	HLT_ASSERT_CODE(sb, hl_call(sb, "NoOp", NULL, 0, NULL), HL_E_POISONED);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hl_value code = hl_i32(3);
	HLT_ASSERT_CODE(sb, hl_call(sb, "AbortWithCode", &code, 1, NULL), HL_E_GUEST_ABORT);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	HLT_ASSERT_CODE(sb, hl_call(sb, "UnknownPort", NULL, 0, NULL), HL_E_GUEST_PROTOCOL);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	/* Refused before the guest runs. */
	HLT_ASSERT_CODE(sb, hl_call(sb, "NoSuchFunction", NULL, 0, NULL), HL_E_NO_FUNCTION);
	HLT_ASSERT_CODE(sb, hl_call(sb, "NoOp", &code, 1, NULL), HL_E_ARG_COUNT);
	HLT_ASSERT_CODE(sb, hl_call(sb, "EchoI32", &err[1], 1, NULL), HL_E_ARG_TYPE);
	hlt_call_ok(sb, "NoOp", NULL, 0);

	hl_stats s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(calls, 5), COUNTER(calls_ok, 1), COUNTER(guest_errors, 1),
	                COUNTER(faults, 1), COUNTER(aborts, 1), COUNTER(protocol_errors, 1),
	                COUNTER(host_function_errors, 0), COUNTER(cancelled, 0),
	                COUNTER(timeouts, 0), COUNTER(other_errors, 0), COUNTER(rejected, 4),
	                COUNTER(restores, 3));
	assert_families_add_up(&s);
}

static void host_calls_and_host_function_errors_are_counted(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	assert_int_equal(hl_sandbox_stats_reset(sb), 0);

	hl_value n = hl_i32(5);
	assert_int_equal(hlt_call_ok(sb, "HostCallLoop", &n, 1).u.i32, 0 + 1 + 2 + 3 + 4 + 5);
	hl_stats s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(host_calls, 5), COUNTER(vm_exits, 6));

	HLT_ASSERT_CODE(sb, hl_call(sb, "CallHostError", NULL, 0, NULL), HL_E_HOST_FUNCTION);
	if (hl_sandbox_poisoned(sb))
		HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hlt_call_ok(sb, "CallHostErrorHandled", NULL, 0); /* the guest handles it: a success */

	s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(calls, 3), COUNTER(calls_ok, 2),
	                COUNTER(host_function_errors, 1), COUNTER(host_calls, 7),
	                COUNTER(vm_exits, 10));
	assert_families_add_up(&s);
}

static void cancels_and_timeouts_are_counted_apart(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg = hlt_interruptible(SIGRTMIN + 3, 0);
	hl_sandbox *sb = hlt_open("simpleguest", &cfg, NULL);
	assert_int_equal(hl_sandbox_stats_reset(sb), 0);

	struct hlt_canceller c;
	hlt_canceller_start(&c, sb);
	HLT_ASSERT_CODE(sb, hl_call(sb, "Spin", NULL, 0, NULL), HL_E_CANCELLED);
	hlt_canceller_stop(&c);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hl_stats s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(cancelled, 1), COUNTER(timeouts, 0));
	hl_sandbox_free(sb);

	/* The deadline applies to a sandbox made from a snapshot, so that a
	 * slow (emulated) machine does not time out the guest's main(). */
	sb = hlt_open("simpleguest", &cfg, NULL);
	hl_snapshot *snap;
	assert_int_equal(hl_sandbox_snapshot(sb, &snap), 0);
	hl_sandbox_free(sb);
	cfg.call_timeout_ms = 200;
	assert_int_equal(hl_sandbox_new_from_snapshot(snap, &cfg, &sb), 0);
	hl_snapshot_free(snap);
	HLT_ASSERT_CODE(sb, hl_call(sb, "Spin", NULL, 0, NULL), HL_E_CANCELLED);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(calls, 1), COUNTER(timeouts, 1), COUNTER(cancelled, 0),
	                COUNTER(restores, 1));
	assert_true(s.call_ns_max >= 200ull * 1000000ull); /* the timed-out call */
	assert_families_add_up(&s);
	hl_sandbox_free(sb);
}

static void statistics_survive_restore_and_start_at_zero_from_a_snapshot(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	assert_int_equal(hl_sandbox_stats_reset(sb), 0);
	hl_snapshot *snap;
	assert_int_equal(hl_sandbox_snapshot(sb, &snap), 0);
	hlt_call_ok(sb, "NoOp", NULL, 0);
	hl_value one = hl_i32(1);
	hlt_call_ok(sb, "AddToStatic", &one, 1);
	assert_int_equal(hl_sandbox_restore(sb, snap), 0);
	assert_int_equal(hl_call_fresh(sb, snap, "NoOp", NULL, 0, NULL), 0);
	hl_stats s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(snapshots, 1), COUNTER(restores, 2), COUNTER(calls, 3),
	                COUNTER(vm_exits, 3));

	/* A sandbox made from the snapshot has its own counters, from zero. */
	hl_sandbox *copy;
	assert_int_equal(hl_sandbox_new_from_snapshot(snap, NULL, &copy), 0);
	s = stats_of(copy);
	assert_all_zero(&s);
	hlt_call_ok(copy, "NoOp", NULL, 0);
	s = stats_of(copy);
	assert_int_equal(s.calls, 1);
	s = stats_of(sb);
	assert_int_equal(s.calls, 3);

	/* Only hl_sandbox_stats_reset clears them. */
	assert_int_equal(hl_sandbox_reset(sb), 0);
	s = stats_of(sb);
	assert_int_equal(s.restores, 3);
	assert_int_equal(hl_sandbox_stats_reset(sb), 0);
	s = stats_of(sb);
	assert_all_zero(&s);
	hl_sandbox_free(copy);
	hl_snapshot_free(snap);
}

struct inside {
	int stats_rc, reset_rc;
	uint64_t calls_seen, host_calls_seen;
};

static int read_stats_inside(hl_host_call *hc, const hl_value *args, size_t n, hl_value *ret,
                             void *user)
{
	(void)args, (void)n;
	struct inside *in = user;
	hl_sandbox *sb = hl_host_call_sandbox(hc);
	hl_stats s;
	s.size = sizeof s;
	in->stats_rc = hl_sandbox_stats(sb, &s);
	in->calls_seen = s.calls;
	in->host_calls_seen = s.host_calls;
	in->reset_rc = hl_sandbox_stats_reset(sb);
	*ret = hl_i32(7);
	return 0;
}

static void stats_can_be_read_but_not_reset_inside_a_host_function(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb;
	struct inside in = {0};
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("callbackguest")), 0);
	hl_type p[] = {HL_TYPE_STRING};
	assert_int_equal(hl_sandbox_register(sb, "HostMethod1", HL_TYPE_I32, p, 1,
	                                     read_stats_inside, &in),
	                 0);
	assert_int_equal(hl_sandbox_init(sb), 0);
	assert_int_equal(hl_sandbox_stats_reset(sb), 0);
	hl_value a = hl_string("x", 1);
	assert_int_equal(hlt_call_ok(sb, "GuestMethod1", &a, 1).u.i32, 7);
	assert_int_equal(in.stats_rc, 0);
	assert_int_equal(in.calls_seen, 0); /* the call is counted when it ends */
	assert_int_equal(in.host_calls_seen, 1);
	assert_int_equal(in.reset_rc, HL_E_STATE);
	hl_stats s = stats_of(sb);
	ASSERT_COUNTERS(&s, COUNTER(calls, 1), COUNTER(host_calls, 1));
	hl_sandbox_free(sb);
}

static void bad_arguments_are_refused(void **state)
{
	(void)state;
	hl_stats s = zero_stats();
	assert_int_equal(hl_sandbox_stats(NULL, &s), HL_E_INVAL);
	assert_int_equal(hl_sandbox_stats_reset(NULL), HL_E_INVAL);
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	assert_int_equal(hl_sandbox_stats(sb, NULL), HL_E_INVAL);
	s.size = 0; /* the caller forgot the size */
	assert_int_equal(hl_sandbox_stats(sb, &s), HL_E_INVAL);
	s.size = sizeof s - 8;
	assert_int_equal(hl_sandbox_stats(sb, &s), HL_E_INVAL);

	/* A larger structure, from a newer header: filled up to ours, rest zeroed. */
	struct {
		hl_stats s;
		uint64_t future[4];
	} big;
	memset(&big, 0xff, sizeof big);
	big.s.size = sizeof big;
	assert_int_equal(hl_sandbox_stats(sb, &big.s), 0);
	assert_int_equal(big.s.size, sizeof(hl_stats));
	assert_int_equal(big.s.calls, 0);
	assert_int_equal(big.future[3], 0);

	/* Works before anything is loaded: all zero. */
	s.size = sizeof s;
	assert_int_equal(hl_sandbox_stats(sb, &s), 0);
	assert_all_zero(&s);
	hl_sandbox_free(sb);

	assert_int_equal(hl_stats_format(NULL, NULL, 0), HL_E_INVAL);
	assert_int_equal(hl_stats_format(&s, NULL, 10), HL_E_INVAL);
	assert_int_equal(hl_stats_percentile_ns(NULL, 0.5), 0);
	assert_int_equal(hl_stats_percentile_ns(&s, 0.5), 0); /* no calls */
}

static void percentiles_are_upper_bounds_within_a_factor_of_two(void **state)
{
	(void)state;
	/* 100 calls: 90 of 1000 ns (bucket 9), 9 of 40000 ns (bucket 15), one of 3 ms. */
	hl_stats s = zero_stats();
	s.calls = 100;
	s.call_ns_hist[9] = 90;
	s.call_ns_hist[15] = 9;
	s.call_ns_hist[21] = 1;
	s.call_ns_min = 1000;
	s.call_ns_max = 3000000;
	uint64_t p50 = hl_stats_percentile_ns(&s, 0.5);
	assert_int_equal(p50, 1023);
	assert_true(p50 >= 1000 && p50 < 2000);
	assert_int_equal(hl_stats_percentile_ns(&s, 0.9), 1023);   /* rank 90: still bucket 9 */
	assert_int_equal(hl_stats_percentile_ns(&s, 0.91), 65535); /* rank 91 */
	assert_int_equal(hl_stats_percentile_ns(&s, 0.99), 65535);
	assert_int_equal(hl_stats_percentile_ns(&s, 1.0), 3000000); /* clamped to max */
	assert_int_equal(hl_stats_percentile_ns(&s, 0.0), 0);
	assert_int_equal(hl_stats_percentile_ns(&s, 1.5), 0);
	/* The open-ended last bucket is bounded by the maximum. */
	memset(s.call_ns_hist, 0, sizeof s.call_ns_hist);
	s.call_ns_hist[HL_STATS_HIST_BUCKETS - 1] = 1;
	s.call_ns_min = s.call_ns_max = 5000000000000ull;
	assert_int_equal(hl_stats_percentile_ns(&s, 0.5), 5000000000000ull);
}

static void the_table_names_every_counter_and_reports_truncation(void **state)
{
	(void)state;
	hl_stats s = zero_stats();
	s.calls = 2;
	s.calls_ok = 1;
	s.faults = 1;
	s.vm_exits = 17;
	s.call_ns_total = 3000;
	s.call_ns_min = 1000;
	s.call_ns_max = 2000;
	s.call_ns_hist[9] = 1;
	s.call_ns_hist[10] = 1;
	int need = hl_stats_format(&s, NULL, 0);
	assert_true(need > 0);
	char *buf = malloc((size_t)need + 1);
	assert_int_equal(hl_stats_format(&s, buf, (size_t)need + 1), need);
	assert_int_equal((int)strlen(buf), need);
	static const char *const names[] = {"calls ",
	                                    "calls_ok ",
	                                    "rejected ",
	                                    "guest_errors ",
	                                    "host_function_errors ",
	                                    "aborts ",
	                                    "faults ",
	                                    "protocol_errors ",
	                                    "cancelled ",
	                                    "timeouts ",
	                                    "other_errors ",
	                                    "host_calls ",
	                                    "prints ",
	                                    "logs ",
	                                    "vm_exits ",
	                                    "restores ",
	                                    "snapshots ",
	                                    "call_us_mean ",
	                                    "call_us_min ",
	                                    "call_us_p50 ",
	                                    "call_us_p99 ",
	                                    "call_us_max "};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strstr(buf, names[i]))
			fail_msg("the table has no '%s' line:\n%s", names[i], buf);
	assert_non_null(strstr(buf, "vm_exits               17\n"));
	assert_non_null(strstr(buf, "call_us_mean           1.500\n"));
	assert_non_null(strstr(buf, "call_us_p50            1.023\n"));
	assert_non_null(strstr(buf, "call_us_max            2.000\n"));
	/* Cut short: NUL-terminated, and the full length still returned. */
	char small[16];
	assert_int_equal(hl_stats_format(&s, small, sizeof small), need);
	assert_int_equal(strlen(small), sizeof small - 1);
	assert_memory_equal(small, buf, sizeof small - 1);
	free(buf);
	/* No calls: no duration lines. */
	s = zero_stats();
	char none[1024];
	assert_true(hl_stats_format(&s, none, sizeof none) > 0);
	assert_null(strstr(none, "call_us"));
}

static void totals_add_counters_and_combine_durations(void **state)
{
	(void)state;
	hl_stats sum = zero_stats(), a = zero_stats(), b = zero_stats();
	a.calls = 2, a.calls_ok = 1, a.faults = 1, a.vm_exits = 5, a.snapshots = 1;
	a.call_ns_total = 3000, a.call_ns_min = 1000, a.call_ns_max = 2000;
	a.call_ns_hist[9] = 1, a.call_ns_hist[10] = 1;
	b.calls = 1, b.calls_ok = 1, b.vm_exits = 1, b.restores = 4;
	b.call_ns_total = 500, b.call_ns_min = 500, b.call_ns_max = 500;
	b.call_ns_hist[8] = 1;
	assert_int_equal(hl_stats_add(&sum, &a), 0);
	assert_int_equal(sum.call_ns_min, 1000); /* an empty total takes the first minimum */
	assert_int_equal(hl_stats_add(&sum, &b), 0);
	hl_stats empty = zero_stats();
	assert_int_equal(hl_stats_add(&sum, &empty), 0); /* no calls: durations unchanged */
	ASSERT_COUNTERS(&sum, COUNTER(calls, 3), COUNTER(calls_ok, 2), COUNTER(faults, 1),
	                COUNTER(vm_exits, 6), COUNTER(snapshots, 1), COUNTER(restores, 4),
	                COUNTER(call_ns_total, 3500), COUNTER(call_ns_min, 500),
	                COUNTER(call_ns_max, 2000));
	assert_int_equal(sum.call_ns_hist[8] + sum.call_ns_hist[9] + sum.call_ns_hist[10], 3);
	assert_int_equal(sum.size, sizeof(hl_stats));
	assert_families_add_up(&sum);
	a.size = 0;
	assert_int_equal(hl_stats_add(&sum, &a), HL_E_INVAL);
	assert_int_equal(hl_stats_add(NULL, &b), HL_E_INVAL);
	assert_int_equal(hl_stats_add(&sum, NULL), HL_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(calls_exits_prints_and_logs_are_counted_exactly),
		cmocka_unit_test(the_default_log_level_sends_warnings_and_errors_only),
		HLT_SIMPLEGUEST_TEST(failures_are_counted_by_family),
		HLT_CALLBACKGUEST_TEST(host_calls_and_host_function_errors_are_counted),
		cmocka_unit_test(cancels_and_timeouts_are_counted_apart),
		HLT_SIMPLEGUEST_TEST(statistics_survive_restore_and_start_at_zero_from_a_snapshot),
		cmocka_unit_test(stats_can_be_read_but_not_reset_inside_a_host_function),
		cmocka_unit_test(bad_arguments_are_refused),
		cmocka_unit_test(percentiles_are_upper_bounds_within_a_factor_of_two),
		cmocka_unit_test(the_table_names_every_counter_and_reports_truncation),
		cmocka_unit_test(totals_add_counters_and_combine_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
