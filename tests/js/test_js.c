/* test_js.c - JavaScript handlers (hyperlight/js.h) on the QuickJS guest: JSON of every kind, console, exceptions, load failures, timeouts, memory and stack limits, huge strings, isolation, reuse, 1000 fresh calls, and the sandbox-level API with a pool. Exits 77 (skipped) without /dev/kvm or the JavaScript guest. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* For struct hlt_output and hlt_capture only: this test does not link
 * common.c, and it checks for /dev/kvm once in main. */
#include "../integration/common.h"
#include "hyperlight/js.h"

/* ---- helpers -------------------------------------------------------------------- */

static struct hlt_output out;

/* A handle with `cfg` (NULL: defaults), output captured into `out`. */
static hl_js *open_js(const hl_js_config *cfg)
{
	hl_js *js = NULL;
	int rc = hl_js_new(cfg, &js);
	if (rc != 0)
		fail_msg("hl_js_new: %s: %s", hl_js_strerror(rc), hl_js_errmsg(js));
	memset(&out, 0, sizeof out);
	assert_int_equal(hl_js_set_print(js, hlt_capture, &out), 0);
	return js;
}

/* How a test's handle is configured where not by hl_js_config_init: a
 * field left 0 keeps its default. */
struct js_opts {
	uint32_t flags;
	uint32_t timeout_ms;
	uint64_t memory_limit;
};

/*
 * cmocka fixture: a handle made by open_js, with the js_opts of the test's
 * initial state (none: open_js(NULL)), freed after the test. The test
 * takes it from *state.
 */
static int setup_js(void **state)
{
	const struct js_opts *o = *state;
	hl_js_config cfg;
	hl_js_config_init(&cfg);
	if (o && o->flags)
		cfg.flags = o->flags;
	if (o && o->timeout_ms)
		cfg.timeout_ms = o->timeout_ms;
	if (o && o->memory_limit)
		cfg.memory_limit = o->memory_limit;
	*state = open_js(o ? &cfg : NULL);
	return 0;
}

static int teardown_js(void **state)
{
	hl_js_free(*state);
	return 0;
}

#define JS_TEST(test) cmocka_unit_test_setup_teardown(test, setup_js, teardown_js)
#define JS_TEST_WITH(test, opts) \
	cmocka_unit_test_prestate_setup_teardown(test, setup_js, teardown_js, (void *)&(opts))

static void add(hl_js *js, const char *name, const char *src)
{
	int rc = hl_js_add_handler(js, name, src, strlen(src), NULL, NULL);
	if (rc != 0)
		fail_msg("loading %s: %s: %s", name, hl_js_strerror(rc), hl_js_errmsg(js));
}

static const char *call_ok(hl_js *js, const char *name, const char *json)
{
	const char *r = NULL;
	size_t len = 0;
	int rc = hl_js_call(js, name, json, strlen(json), &r, &len);
	if (rc != 0)
		fail_msg("%s(%s): %s: %s", name, json, hl_js_strerror(rc), hl_js_errmsg(js));
	assert_int_equal(strlen(r), len);
	return r;
}

/* The call must fail with `code` and `word` in the handle's message. */
static void call_fails(hl_js *js, const char *name, const char *json, int code, const char *word)
{
	const char *r = NULL;
	int rc = hl_js_call(js, name, json, strlen(json), &r, NULL);
	if (rc != code)
		fail_msg("%s(%.60s): %d (%s), expected %d (%s): %s", name, json, rc,
		         hl_js_strerror(rc), code, hl_js_strerror(code), hl_js_errmsg(js));
	if (word && !strstr(hl_js_errmsg(js), word))
		fail_msg("message '%s' does not mention '%s'", hl_js_errmsg(js), word);
}

/* A handler call and the JSON it must return. */
struct js_call {
	const char *what; /* the behaviour the row checks */
	const char *handler;
	const char *in;
	const char *want;
};

/* Makes the rows' calls in order on one handle. */
static void check_js_calls(hl_js *js, const struct js_call *rows, size_t n)
{
	for (const struct js_call *c = rows; c < rows + n; c++) {
		const char *r = call_ok(js, c->handler, c->in);
		if (strcmp(r, c->want) != 0)
			fail_msg("%s: %s(%s) returned %s, expected %s", c->what, c->handler, c->in,
			         r, c->want);
	}
}

#define NROWS(rows) (sizeof(rows) / sizeof((rows)[0]))

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char echo_js[] = "function handler(e) { return e; }";

/* ---- values ------------------------------------------------------------------------- */

static void json_of_every_kind_round_trips(void **state)
{
	const struct js_call rows[] = {
		{"null", "echo", "null", "null"},
		{"true", "echo", "true", "true"},
		{"false", "echo", "false", "false"},
		{"zero", "echo", "0", "0"},
		{"a negative integer", "echo", "-1", "-1"},
		{"a fraction", "echo", "3.5", "3.5"},
		{"a negative fraction", "echo", "-0.001", "-0.001"},
		{"an exponent", "echo", "1e+300", "1e+300"},
		{"the largest exact integer", "echo", "9007199254740991", "9007199254740991"},
		{"the empty string", "echo", "\"\"", "\"\""},
		{"a string", "echo", "\"text\"", "\"text\""},
		{"escapes that stay escapes", "echo", "\"quotes \\\" and \\\\ and \\n\\t\"",
	         "\"quotes \\\" and \\\\ and \\n\\t\""},
		{"\\u escapes, a surrogate pair among them, come back as UTF-8", "echo",
	         "\"\\u00e9 \\u4e2d \\ud83d\\ude00\"", "\"\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\""},
		{"the empty array", "echo", "[]", "[]"},
		{"the empty object", "echo", "{}", "{}"},
		{"an array of every kind", "echo", "[1,\"a\",null,true,[[]],{\"k\":{}}]",
	         "[1,\"a\",null,true,[[]],{\"k\":{}}]"},
		{"nested objects", "echo", "{\"a\":1,\"b\":[1,2,{\"c\":\"d\"}],\"e\":{\"f\":null}}",
	         "{\"a\":1,\"b\":[1,2,{\"c\":\"d\"}],\"e\":{\"f\":null}}"},
		{"UTF-8 in the text itself, and whitespace around the value", "echo",
	         " \"\xc3\xa9\" ", "\"\xc3\xa9\""},
	};
	hl_js *js = *state;
	add(js, "echo", echo_js);
	check_js_calls(js, rows, NROWS(rows));
}

static void undefined_result_is_null(void **state)
{
	hl_js *js = *state;
	add(js, "nothing", "function handler(e) {}");
	assert_string_equal(call_ok(js, "nothing", "1"), "null");
}

static void async_handler_is_awaited(void **state)
{
	hl_js *js = *state;
	add(js, "later",
	    "async function handler(e) { const v = await Promise.resolve(e.x); "
	    "await null; return {v: v * 2}; }");
	assert_string_equal(call_ok(js, "later", "{\"x\":21}"), "{\"v\":42}");
}

static void module_exports_are_found(void **state)
{
	const struct js_call rows[] = {
		{"an exported function handler", "named", "1", "\"named 1\""},
		{"a default export", "dflt", "2", "\"default 2\""},
		{"an export named when loading", "other", "2", "3"},
	};
	hl_js *js = *state;
	add(js, "named", "export function handler(e) { return 'named ' + e; }");
	add(js, "dflt", "export default function (e) { return 'default ' + e; }");
	const char *other = "export const x = 1; export function go(e) { return e + x; }";
	int rc = hl_js_add_handler(js, "other", other, strlen(other), "go", "other.mjs");
	assert_int_equal(rc, 0);
	check_js_calls(js, rows, NROWS(rows));
}

static void engine_builtins_work(void **state)
{
	hl_js *js = *state;
	add(js, "b",
	    "function handler(e) { return { now: Date.now(), iso: new Date(0).toISOString(),"
	    " re: /a(b+)c/.exec('xabbbc')[1], map: [...new Map([[1, 2]])],"
	    " big: String(2n ** 70n), r: Math.random() < 1, sorted: [3, 1, 2].sort() }; }");
	const char *r = call_ok(js, "b", "null");
	assert_non_null(strstr(r, "\"iso\":\"1970-01-01T00:00:00.000Z\""));
	assert_non_null(strstr(r, "\"re\":\"bbb\""));
	assert_non_null(strstr(r, "\"big\":\"1180591620717411303424\""));
	assert_non_null(strstr(r, "\"sorted\":[1,2,3]"));
	/* Date.now() is the host's time, to within a minute. */
	double now = strtod(strstr(r, "\"now\":") + 6, NULL);
	assert_true(now > (double)time(NULL) * 1000.0 - 60000.0 &&
	            now < (double)time(NULL) * 1000.0 + 60000.0);
}

/* ---- console ------------------------------------------------------------------------- */

static void console_reaches_the_print_callback(void **state)
{
	hl_js *js = *state;
	add(js, "talk",
	    "function handler(e) { console.log('hello', e, {a: [1]}); "
	    "console.info(1.5, null, undefined); return 0; }");
	add(js, "warn",
	    "function handler(e) { console.error('oops', new TypeError('t')); return 0; }");
	call_ok(js, "talk", "\"you\"");
	assert_string_equal(out.data, "hello you {\"a\":[1]}\n1.5 null undefined\n");
	assert_int_equal(out.fds, 1 << 1);
	memset(&out, 0, sizeof out);
	call_ok(js, "warn", "0");
	assert_non_null(strstr(out.data, "oops TypeError: t"));
	assert_int_equal(out.fds, 1 << 2);
}

/* ---- exceptions and load failures -------------------------------------------------------- */

static void exception_carries_name_message_and_stack(void **state)
{
	hl_js *js = *state;
	const char *src =
		"function inner(x) {\n  throw new RangeError('bad value ' + x);\n}\n"
		"function handler(e) { return inner(e.v); }\n";
	int rc = hl_js_add_handler(js, "thrower", src, strlen(src), NULL, "thrower.js");
	assert_int_equal(rc, 0);
	call_fails(js, "thrower", "{\"v\":7}", HL_JS_E_EXCEPTION, "RangeError: bad value 7");
	hl_js_error e;
	assert_int_equal(hl_js_last_error(js, &e), 0);
	assert_int_equal(e.code, HL_JS_E_EXCEPTION);
	assert_string_equal(e.name, "RangeError");
	assert_string_equal(e.message, "bad value 7");
	assert_non_null(strstr(e.stack, "at inner (thrower.js:2"));
	assert_non_null(strstr(e.stack, "at handler (thrower.js:4"));
	/* The guest's own frames are not shown. */
	assert_null(strstr(e.stack, "<hyperlight>"));
	/* A value that is not an Error, and the handle still works. */
	add(js, "str", "function handler() { throw 'just a string'; }");
	call_fails(js, "str", "0", HL_JS_E_EXCEPTION, "uncaught string: just a string");
	add(js, "echo", echo_js);
	assert_string_equal(call_ok(js, "echo", "5"), "5");
}

static void rejected_promise_is_an_exception(void **state)
{
	hl_js *js = *state;
	add(js, "rej", "async function handler(e) { await null; throw new Error('async ' + e); }");
	call_fails(js, "rej", "1", HL_JS_E_EXCEPTION, "Error: async 1");
	add(js, "never", "function handler() { return new Promise(() => {}); }");
	call_fails(js, "never", "1", HL_JS_E_NOT_SETTLED, "never settled");
}

static void syntax_error_fails_the_load(void **state)
{
	hl_js *js = *state;
	const char *src = "function handler(e) {\n  return e +;\n}\n";
	assert_int_equal(hl_js_add_handler(js, "bad", src, strlen(src), NULL, "bad.js"),
	                 HL_JS_E_LOAD);
	hl_js_error e;
	hl_js_last_error(js, &e);
	assert_string_equal(e.name, "SyntaxError");
	assert_non_null(strstr(e.stack, "bad.js:2"));
	/* Nothing of it stays: the name is free, other handlers work. */
	add(js, "bad", echo_js);
	assert_string_equal(call_ok(js, "bad", "[1]"), "[1]");
}

static void source_that_throws_or_lacks_the_function_fails_the_load(void **state)
{
	hl_js *js = *state;
	const char *t = "throw new Error('at load time');";
	assert_int_equal(hl_js_add_handler(js, "t", t, strlen(t), NULL, NULL), HL_JS_E_LOAD);
	assert_non_null(strstr(hl_js_errmsg(js), "Error: at load time"));
	const char *n = "function other() {}";
	assert_int_equal(hl_js_add_handler(js, "n", n, strlen(n), NULL, NULL), HL_JS_E_LOAD);
	assert_non_null(strstr(hl_js_errmsg(js), "defines no function handler"));
	/* Another module cannot be imported. */
	const char *imp = "import x from 'fs'; export function handler() { return x; }";
	assert_int_equal(hl_js_add_handler(js, "i", imp, strlen(imp), NULL, NULL), HL_JS_E_LOAD);
}

static void argument_that_is_not_json_is_an_exception(void **state)
{
	hl_js *js = *state;
	add(js, "echo", echo_js);
	call_fails(js, "echo", "{not json", HL_JS_E_EXCEPTION, "the argument is not JSON");
	call_fails(js, "echo", "", HL_JS_E_EXCEPTION, "the argument is not JSON");
}

static void result_json_refuses_is_an_exception(void **state)
{
	hl_js *js = *state;
	add(js, "big", "function handler() { return 1n; }");
	add(js, "cycle", "function handler() { const a = {}; a.a = a; return a; }");
	call_fails(js, "big", "0", HL_JS_E_EXCEPTION, "TypeError");
	call_fails(js, "cycle", "0", HL_JS_E_EXCEPTION, "TypeError");
}

/* ---- limits ------------------------------------------------------------------------------- */

static const struct js_opts timeout_200 = {.timeout_ms = 200};

static void infinite_loop_times_out_and_the_handle_recovers(void **state)
{
	hl_js *js = *state;
	add(js, "spin", "function handler() { for (;;) {} }");
	add(js, "spin_catch",
	    "function handler() { for (;;) { try { for (;;) {} } catch (e) {} } }");
	add(js, "echo", echo_js);
	uint64_t t0 = now_ns();
	call_fails(js, "spin", "0", HL_JS_E_TIMEOUT, "timeout of 200 ms");
	uint64_t ms = (now_ns() - t0) / 1000000u;
	assert_true(ms >= 190 && ms < 2000);
	/* The interrupt cannot be caught. */
	call_fails(js, "spin_catch", "0", HL_JS_E_TIMEOUT, NULL);
	assert_string_equal(call_ok(js, "echo", "\"alive\""), "\"alive\"");
}

static const struct js_opts memory_32m = {.memory_limit = 32u << 20, .timeout_ms = 20000};

static void allocation_bomb_hits_the_memory_limit_and_the_handle_recovers(void **state)
{
	hl_js *js = *state;
	add(js, "bomb",
	    "function handler() { const a = []; for (;;) a.push(new Array(100000).fill(a.length)); }");
	add(js, "strbomb", "function handler() { let s = 'x'; for (;;) s = s + s; }");
	add(js, "echo", echo_js);
	call_fails(js, "bomb", "0", HL_JS_E_MEMORY, "out of memory");
	/* A string that doubles: the memory limit or the engine's string limit. */
	const char *r;
	int rc = hl_js_call(js, "strbomb", "0", 1, &r, NULL);
	assert_true(rc == HL_JS_E_MEMORY || rc == HL_JS_E_EXCEPTION);
	assert_string_equal(call_ok(js, "echo", "[true]"), "[true]");
}

static void deep_recursion_is_a_stack_error_and_the_handle_recovers(void **state)
{
	hl_js *js = *state;
	add(js, "rec",
	    "function f(n) { return n === 0 ? 0 : 1 + f(n - 1); }\n"
	    "function handler(n) { return f(n); }");
	assert_string_equal(call_ok(js, "rec", "1000"), "1000");
	call_fails(js, "rec", "10000000", HL_JS_E_STACK, NULL);
	hl_js_error e;
	hl_js_last_error(js, &e);
	assert_non_null(strstr(e.message, "stack overflow"));
	assert_string_equal(call_ok(js, "rec", "100"), "100");
}

static void huge_strings_round_trip_up_to_the_buffers(void **state)
{
	hl_js *js = *state;
	add(js, "len", "function handler(s) { return s.length; }");
	add(js, "make", "function handler(n) { return 'y'.repeat(n); }");
	/* 900 KiB in (the input buffer is 1 MiB) and out. */
	size_t n = 900u << 10;
	char *big = malloc(n + 3);
	big[0] = '"';
	memset(big + 1, 'x', n);
	big[n + 1] = '"';
	big[n + 2] = '\0';
	char want[32];
	snprintf(want, sizeof want, "%zu", n);
	assert_string_equal(call_ok(js, "len", big), want);
	const char *r = call_ok(js, "make", want);
	assert_int_equal(strlen(r), n + 2);
	/* Past the output buffer: refused cleanly, with the sizes. */
	call_fails(js, "make", "2000000", HL_JS_E_RESULT, "does not fit the output buffer");
	/* Past the input buffer: refused before the guest runs. */
	char *huge = malloc(2u << 20);
	memset(huge, ' ', (2u << 20) - 1);
	huge[0] = '1';
	huge[(2u << 20) - 1] = '\0';
	call_fails(js, "len", huge, HL_E_TOO_LARGE, NULL);
	/* A string far past the memory limit: the engine says no. */
	call_fails(js, "make", "1000000000", HL_JS_E_MEMORY, NULL);
	assert_string_equal(call_ok(js, "len", "\"abc\""), "3");
	free(big);
	free(huge);
}

/* ---- state ----------------------------------------------------------------------------------- */

static const char counter_js[] =
	"globalThis.count = 0;\n"
	"function handler(e) { Object.prototype.polluted = true; return ++globalThis.count; }";

static void every_call_starts_from_the_snapshot(void **state)
{
	hl_js *js = *state;
	add(js, "count", counter_js);
	add(js, "probe", "function handler() { return ({}).polluted === undefined; }");
	for (int i = 0; i < 5; i++)
		assert_string_equal(call_ok(js, "count", "0"), "1");
	assert_string_equal(call_ok(js, "probe", "0"), "true");
}

static const struct js_opts reuse = {.flags = HL_JS_REUSE};
static const struct js_opts reuse_timeout_200 = {.flags = HL_JS_REUSE, .timeout_ms = 200};

static void reuse_keeps_state_between_calls(void **state)
{
	hl_js *js = *state;
	add(js, "count", counter_js);
	add(js, "spin", "function handler() { for (;;) {} }");
	assert_string_equal(call_ok(js, "count", "0"), "1");
	assert_string_equal(call_ok(js, "count", "0"), "2");
	/* A timeout starts over from the snapshot. */
	call_fails(js, "spin", "0", HL_JS_E_TIMEOUT, NULL);
	assert_string_equal(call_ok(js, "count", "0"), "1");
}

static void handlers_have_realms_of_their_own(void **state)
{
	hl_js *js = *state;
	add(js, "a",
	    "var shared = 'a'; function handler() { Array.prototype.mine = 1; return shared; }");
	add(js, "b",
	    "var shared = 'b'; function handler() { return [shared, [].mine === undefined]; }");
	assert_string_equal(call_ok(js, "a", "0"), "\"a\"");
	assert_string_equal(call_ok(js, "b", "0"), "[\"b\",true]");
}

static void handler_added_after_calls_sees_no_call_state(void **state)
{
	hl_js *js = *state;
	add(js, "count", counter_js);
	assert_string_equal(call_ok(js, "count", "0"), "1");
	assert_string_equal(call_ok(js, "count", "0"), "2");
	add(js, "echo", echo_js);
	assert_string_equal(call_ok(js, "count", "0"), "1");
	assert_string_equal(call_ok(js, "echo", "7"), "7");
}

static void bad_names_and_unknown_handlers_are_refused(void **state)
{
	hl_js *js = *state;
	add(js, "echo", echo_js);
	assert_int_equal(hl_js_add_handler(js, "echo", echo_js, strlen(echo_js), NULL, NULL),
	                 HL_E_EXISTS);
	assert_int_equal(hl_js_add_handler(js, "bad name", echo_js, strlen(echo_js), NULL, NULL),
	                 HL_E_INVAL);
	assert_int_equal(hl_js_add_handler(js, "", echo_js, strlen(echo_js), NULL, NULL),
	                 HL_E_INVAL);
	assert_int_equal(hl_js_add_handler(js, "nul", "a\0b", 3, NULL, NULL), HL_E_INVAL);
	call_fails(js, "missing", "0", HL_JS_E_NO_HANDLER, "no handler named 'missing'");
	const char *r;
	assert_int_equal(hl_js_call(js, "echo", "1\0", 2, &r, NULL), HL_E_INVAL);
	assert_int_equal(hl_js_call(js, "echo", NULL, 0, &r, NULL), HL_E_INVAL);
	assert_int_equal(hl_js_call(NULL, "echo", "1", 1, &r, NULL), HL_E_INVAL);
	hl_js_free(NULL);
	assert_string_equal(call_ok(js, "echo", "1"), "1");
}

static void missing_guest_is_reported(void **state)
{
	(void)state;
	hl_js_config cfg;
	hl_js_config_init(&cfg);
	cfg.guest = "/nonexistent/jsguest";
	hl_js *js = NULL;
	assert_int_equal(hl_js_new(&cfg, &js), HL_JS_E_NO_GUEST);
	assert_non_null(js);
	assert_non_null(strstr(hl_js_errmsg(js), "/nonexistent/jsguest"));
	assert_int_equal(hl_js_add_handler(js, "a", echo_js, strlen(echo_js), NULL, NULL),
	                 HL_E_STATE);
	assert_null(hl_js_sandbox(js));
	hl_js_free(js);
	/* $HYPERLIGHT_JS_GUEST names the guest or none (the test may run with
	 * it set, e.g. a sanitizer build that uses the main build's guest). */
	const char *was = getenv("HYPERLIGHT_JS_GUEST");
	char *saved = was ? strdup(was) : NULL;
	setenv("HYPERLIGHT_JS_GUEST", "/nonexistent/jsguest", 1);
	char path[4096];
	assert_int_equal(hl_js_find_guest(path, sizeof path), HL_JS_E_NO_GUEST);
	if (saved)
		setenv("HYPERLIGHT_JS_GUEST", saved, 1);
	else
		unsetenv("HYPERLIGHT_JS_GUEST");
	free(saved);
	assert_int_equal(hl_js_find_guest(path, sizeof path), 0);
	assert_int_equal(hl_js_find_guest(path, 2), HL_E_NOMEM);
}

/* ---- many calls ------------------------------------------------------------------------------- */

static void thousand_fresh_calls_are_each_fresh_and_right(void **state)
{
	hl_js *js = *state;
	add(js, "count",
	    "globalThis.n = 0;\n"
	    "function handler(e) { globalThis.n += 1; return {i: e.i, sq: e.i * e.i, n: globalThis.n}; }");
	uint64_t t0 = now_ns();
	for (int i = 0; i < 1000; i++) {
		char in[64], want[96];
		snprintf(in, sizeof in, "{\"i\":%d}", i);
		snprintf(want, sizeof want, "{\"i\":%d,\"sq\":%d,\"n\":1}", i, i * i);
		assert_string_equal(call_ok(js, "count", in), want);
	}
	uint64_t us = (now_ns() - t0) / 1000u;
	hl_stats st;
	st.size = sizeof st;
	assert_int_equal(hl_sandbox_stats(hl_js_sandbox(js), &st), 0);
	assert_true(st.restores >= 999);
	print_message("1000 fresh calls: %llu us each on average\n",
	              (unsigned long long)(us / 1000));
}

/* ---- the sandbox-level API (for an application's own pools) --------------------------------- */

static void sandbox_level_api_serves_a_pool(void **state)
{
	(void)state;
	hl_js_config jc;
	hl_js_config_init(&jc);
	hl_config cfg;
	assert_int_equal(hl_js_sandbox_config(&jc, &cfg), 0);
	char guest[4096];
	assert_int_equal(hl_js_find_guest(guest, sizeof guest), 0);
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, guest), 0);
	assert_int_equal(hl_sandbox_init(sb), 0);
	assert_int_equal(hl_js_sandbox_setup(sb, &jc), 0);
	const char *src = "let seen = 0; function handler(e) { seen++; return [e, seen]; }";
	assert_int_equal(hl_js_sandbox_load(sb, "h", src, strlen(src), NULL, NULL), 0);
	hl_snapshot *snap;
	assert_int_equal(hl_sandbox_snapshot(sb, &snap), 0);
	hl_sandbox_free(sb);
	hl_pool *pool;
	assert_int_equal(hl_pool_new(snap, &cfg, 2, &pool), 0);
	for (int round = 0; round < 3; round++) {
		hl_sandbox *a, *b;
		assert_int_equal(hl_pool_acquire(pool, 0, &a), 0);
		assert_int_equal(hl_pool_acquire(pool, 0, &b), 0);
		const char *r;
		size_t len;
		assert_int_equal(hl_js_sandbox_call(a, "h", "\"a\"", 3, 1000, &r, &len), 0);
		assert_string_equal(r, "[\"a\",1]");
		assert_int_equal(hl_js_sandbox_call(b, "h", "\"b\"", 3, 1000, &r, &len), 0);
		assert_string_equal(r, "[\"b\",1]");
		assert_int_equal(hl_js_sandbox_call(a, "nope", "1", 1, 1000, &r, &len),
		                 HL_JS_E_NO_HANDLER);
		assert_non_null(strstr(hl_errmsg(a), "no handler named 'nope'"));
		hl_pool_release(pool, a);
		hl_pool_release(pool, b);
	}
	hl_pool_free(pool);
	hl_snapshot_free(snap);
}

static void backstop_signal_leaves_javascript_timeouts_to_the_engine(void **state)
{
	(void)state;
	int sig = SIGRTMIN + 3;
	assert_int_equal(hl_install_interrupt_handler(sig), 0);
	hl_js_config cfg;
	hl_js_config_init(&cfg);
	cfg.interrupt_signal = sig;
	/* Long enough for the engine's start-up, which the backstop (this
	 * plus a margin) also bounds, under QEMU's emulation in CI. */
	cfg.timeout_ms = 6000;
	hl_js *js = open_js(&cfg);
	add(js, "spin", "function handler() { for (;;) {} }");
	add(js, "echo", echo_js);
	/* The engine's deadline comes first: a clean JavaScript timeout. */
	call_fails(js, "spin", "0", HL_JS_E_TIMEOUT, "timeout of 6000 ms");
	assert_string_equal(call_ok(js, "echo", "1"), "1");
	hl_js_free(js);
}

int main(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "\n*** SKIPPED: /dev/kvm is not available: %s ***\n\n",
		        strerror(errno));
		return 77;
	}
	close(fd);
	char guest[4096];
	if (hl_js_find_guest(guest, sizeof guest) != 0) {
		fprintf(stderr, "\n*** SKIPPED: the JavaScript guest was not built: %s ***\n\n",
		        HL_JS_WHY[0] ? HL_JS_WHY : "it is not where hl_js_find_guest looks");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		JS_TEST(json_of_every_kind_round_trips),
		JS_TEST(undefined_result_is_null),
		JS_TEST(async_handler_is_awaited),
		JS_TEST(module_exports_are_found),
		JS_TEST(engine_builtins_work),
		JS_TEST(console_reaches_the_print_callback),
		JS_TEST(exception_carries_name_message_and_stack),
		JS_TEST(rejected_promise_is_an_exception),
		JS_TEST(syntax_error_fails_the_load),
		JS_TEST(source_that_throws_or_lacks_the_function_fails_the_load),
		JS_TEST(argument_that_is_not_json_is_an_exception),
		JS_TEST(result_json_refuses_is_an_exception),
		JS_TEST_WITH(infinite_loop_times_out_and_the_handle_recovers, timeout_200),
		JS_TEST_WITH(allocation_bomb_hits_the_memory_limit_and_the_handle_recovers,
	                     memory_32m),
		JS_TEST(deep_recursion_is_a_stack_error_and_the_handle_recovers),
		JS_TEST(huge_strings_round_trip_up_to_the_buffers),
		JS_TEST(every_call_starts_from_the_snapshot),
		JS_TEST_WITH(reuse_keeps_state_between_calls, reuse_timeout_200),
		JS_TEST_WITH(handlers_have_realms_of_their_own, reuse),
		JS_TEST_WITH(handler_added_after_calls_sees_no_call_state, reuse),
		JS_TEST(bad_names_and_unknown_handlers_are_refused),
		cmocka_unit_test(missing_guest_is_reported),
		JS_TEST(thousand_fresh_calls_are_each_fresh_and_right),
		cmocka_unit_test(sandbox_level_api_serves_a_pool),
		cmocka_unit_test(backstop_signal_leaves_javascript_timeouts_to_the_engine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
