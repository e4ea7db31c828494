/* demo.c - `hyperlight demo`: a guided tour of the sample guests, each step checked. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_PATH 4096

struct demo {
	const char *dir;
	hl_config cfg;
	int step, failed;
	int failed_steps[64];
	/* The tail of what the guest printed since the last demo_call, to check
	 * that PrintOutput's text arrived through the print callback. */
	char printed[1024];
	size_t nprinted;
};

static void demo_print(int fd, const char *data, size_t len, void *user)
{
	struct demo *d = user;
	hl_cli_print_to_stdio(fd, data, len, NULL);
	fflush(fd == 2 ? stderr : stdout);
	size_t room = sizeof d->printed - 1 - d->nprinted;
	size_t n = len < room ? len : room;
	memcpy(d->printed + d->nprinted, data, n);
	d->nprinted += n;
	d->printed[d->nprinted] = '\0';
}

static void demo_begin(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void demo_begin(struct demo *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("step %d: ", ++d->step);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
}

static void demo_ok(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void demo_ok(struct demo *d, const char *fmt, ...)
{
	(void)d;
	va_list ap;
	va_start(ap, fmt);
	fputs("  ok: ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
}

static void demo_fail(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void demo_fail(struct demo *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("  FAILED: ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
	if (d->failed < (int)(sizeof d->failed_steps / sizeof d->failed_steps[0]))
		d->failed_steps[d->failed] = d->step;
	d->failed++;
}

/* Prints the sandbox's error as the demo shows it, indented. */
static void demo_show_error(const hl_sandbox *sb, int code)
{
	printf("  error: %s: %s\n", hl_strerror(code), hl_errmsg(sb));
	if (code == HL_E_GUEST_FAULT)
		hl_cli_print_fault(stdout, "  ", sb);
	fflush(stdout);
}

/* A string in double quotes with its control characters escaped, so that a
 * newline in an argument does not break the demo's layout. */
static void print_quoted(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n')
			fputs("\\n", f);
		else if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Loads one sample guest as `run` would. Returns the sandbox, or NULL after
 * reporting the step failed. */
static hl_sandbox *demo_open(struct demo *d, const char *guest)
{
	char path[MAX_PATH];
	demo_begin(d, "load %s, register the sample host functions, run its main()", guest);
	if ((size_t)snprintf(path, sizeof path, "%s/%s", d->dir, guest) >= sizeof path) {
		demo_fail(d, "the path of %s is too long", guest);
		return NULL;
	}
	hl_sandbox *sb = NULL;
	int r = hl_cli_open_guest(&d->cfg, path, demo_print, d, &sb);
	if (r < 0) {
		if (sb)
			demo_show_error(sb, r);
		else
			printf("  error: %s\n", hl_strerror(r));
		demo_fail(d, "could not start %s; skipping its steps", path);
		hl_sandbox_free(sb);
		return NULL;
	}
	size_t n = hl_function_count(sb);
	demo_ok(d, "%s exports %zu function%s", guest, n, n == 1 ? "" : "s");
	return sb;
}

/* The text of a zero value of type t, for the parameters a step leaves out. */
static const char *zero_text(hl_type t)
{
	switch (t) {
	case HL_TYPE_BOOL: return "false";
	case HL_TYPE_STRING:
	case HL_TYPE_BYTES: return "";
	default: return "0";
	}
}

/*
 * Calls `fn` with arguments given as text and converted to the parameter
 * types the guest declared, so the demo reads the same whatever integer
 * width a sample guest chose. Parameters beyond the texts get zero values.
 * Prints the call and its result or error; returns hl_call's code, or
 * HL_E_ARG_TYPE when a text does not fit the type the guest declared.
 */
static int demo_call(struct demo *d, hl_sandbox *sb, const char *fn, const char *const *texts,
                     size_t ntexts, hl_value *res)
{
	hl_function_info fi = {0};
	bool found = hl_cli_find_function(sb, fn, &fi);
	hl_value args[HL_MAX_PARAMS];
	uint8_t *owned[HL_MAX_PARAMS] = {0};
	size_t nargs = 0;
	int r = 0;
	if (found) {
		/* The sandbox refuses a guest declaring more than HL_MAX_PARAMS. */
		nargs = fi.nparams < HL_MAX_PARAMS ? fi.nparams : HL_MAX_PARAMS;
		for (size_t i = 0; i < nargs && r == 0; i++) {
			hl_type t = fi.params[i];
			const char *text = i < ntexts ? texts[i] : zero_text(t);
			char err[512];
			if (!hl_cli_parse_value(t, text, &args[i], &owned[i], err, sizeof err)) {
				printf("  error: %s parameter %zu is %s: %s\n", fn, i + 1,
				       hl_type_name(t), err);
				r = HL_E_ARG_TYPE;
			}
		}
	}
	if (r == 0) {
		printf("  call: %s(", fn);
		for (size_t i = 0; i < nargs; i++) {
			fputs(i ? ", " : "", stdout);
			if (args[i].type == HL_TYPE_STRING)
				print_quoted(stdout, args[i].u.str.ptr, args[i].u.str.len);
			else
				hl_cli_print_value(stdout, &args[i]);
		}
		fputs(")\n", stdout);
		fflush(stdout);
		d->nprinted = 0;
		d->printed[0] = '\0';
		/* When the guest lacks `fn`, hl_call says so in its own words. */
		r = hl_call(sb, fn, args, nargs, res);
		if (r == 0) {
			fputs("  returned: ", stdout);
			if (res->type == HL_TYPE_VOID)
				fputs("(void)", stdout);
			else if (res->type == HL_TYPE_STRING)
				print_quoted(stdout, res->u.str.ptr, res->u.str.len);
			else
				hl_cli_print_value(stdout, res);
			putchar('\n');
		} else {
			demo_show_error(sb, r);
		}
	}
	for (size_t i = 0; i < nargs; i++)
		free(owned[i]);
	return r;
}

/* A call that should succeed and whose result, printed, should be `expect`
 * (NULL: any result will do). Returns true if it did. */
static bool demo_expect(struct demo *d, hl_sandbox *sb, const char *fn, const char *const *texts,
                        size_t ntexts, const char *expect, hl_value *res)
{
	int r = demo_call(d, sb, fn, texts, ntexts, res);
	if (r < 0) {
		demo_fail(d, "%s should have succeeded", fn);
		return false;
	}
	if (!expect)
		return true;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m) {
		demo_fail(d, "cannot format the result: %s", strerror(errno));
		return false;
	}
	hl_cli_print_value(m, res);
	bool same = fclose(m) == 0 && strcmp(buf, expect) == 0;
	if (!same)
		demo_fail(d, "%s returned %s, expected %s", fn, buf ? buf : "?", expect);
	free(buf);
	return same;
}

/* The integer a call returned, whatever its integer type. */
static bool as_int(const hl_value *v, int64_t *out)
{
	switch (v->type) {
	case HL_TYPE_I32: *out = v->u.i32; return true;
	case HL_TYPE_U32: *out = v->u.u32; return true;
	case HL_TYPE_I64: *out = v->u.i64; return true;
	case HL_TYPE_U64: *out = (int64_t)v->u.u64; return true;
	default: return false;
	}
}

static void demo_simpleguest(struct demo *d)
{
	hl_sandbox *sb = demo_open(d, "simpleguest");
	if (!sb)
		return;
	hl_value res;
	const char *const hello[] = {"Hello, World!"};

	demo_begin(d, "Echo: a string goes in and comes back");
	if (demo_expect(d, sb, "Echo", hello, 1, hello[0], &res))
		demo_ok(d, "the same string came back");

	demo_begin(d, "EchoI32: a negative 32-bit integer round-trips");
	const char *const i32[] = {"-42"};
	if (demo_expect(d, sb, "EchoI32", i32, 1, "-42", &res))
		demo_ok(d, "-42 came back");

	demo_begin(d, "EchoF64: a double round-trips bit for bit");
	const char *const pi[] = {"3.141592653589793"};
	if (demo_expect(d, sb, "EchoF64", pi, 1, pi[0], &res))
		demo_ok(d, "pi came back unchanged");

	demo_begin(d, "PrintOutput: the guest's printf reaches the host's print callback");
	const char *const msg[] = {"Hello from the guest's printf\n"};
	if (demo_expect(d, sb, "PrintOutput", msg, 1, NULL, &res)) {
		if (strstr(d->printed, "Hello from the guest's printf"))
			demo_ok(d, "the text arrived through the print callback");
		else
			demo_fail(d, "the print callback did not receive the text");
	}

	/* Guest state lives in guest memory: it persists between calls until a
	 * reset, which step "GetStatic after reset" shows. */
	demo_begin(d, "AddToStatic twice, then GetStatic: state persists between calls");
	int64_t base = 0, got = 0;
	bool ok = demo_expect(d, sb, "GetStatic", NULL, 0, NULL, &res);
	if (ok && !as_int(&res, &base)) {
		demo_fail(d, "GetStatic returned a %s, not an integer", hl_type_name(res.type));
		ok = false;
	}
	const char *const five[] = {"5"}, *const seven[] = {"7"};
	ok = ok && demo_expect(d, sb, "AddToStatic", five, 1, NULL, &res);
	ok = ok && demo_expect(d, sb, "AddToStatic", seven, 1, NULL, &res);
	ok = ok && demo_expect(d, sb, "GetStatic", NULL, 0, NULL, &res);
	if (ok && (!as_int(&res, &got) || got != base + 12))
		demo_fail(d, "GetStatic gave %" PRId64 ", expected %" PRId64, got, base + 12);
	else if (ok)
		demo_ok(d, "the static went from %" PRId64 " to %" PRId64, base, got);

	demo_begin(d, "NullDeref: the guest dereferences NULL and faults");
	int r = demo_call(d, sb, "NullDeref", NULL, 0, &res);
	if (r == HL_E_GUEST_FAULT && hl_sandbox_poisoned(sb))
		demo_ok(d, "the fault was caught, named and the sandbox is poisoned");
	else if (r == HL_E_GUEST_FAULT)
		demo_fail(d, "the guest faulted but the sandbox is not poisoned");
	else if (r == 0)
		demo_fail(d, "NullDeref returned normally: the guest did not fault");
	else
		demo_fail(d, "expected HL_E_GUEST_FAULT, got %s", hl_strerror(r));

	demo_begin(d, "Echo on the poisoned sandbox is refused");
	r = demo_call(d, sb, "Echo", hello, 1, &res);
	if (r == HL_E_POISONED)
		demo_ok(d, "refused until the sandbox is reset");
	else
		demo_fail(d, "expected HL_E_POISONED, got %s", r ? hl_strerror(r) : "success");

	demo_begin(d, "hl_sandbox_reset returns the sandbox to its state after init");
	r = hl_sandbox_reset(sb);
	if (r < 0) {
		demo_show_error(sb, r);
		demo_fail(d, "the reset failed");
	} else if (hl_sandbox_poisoned(sb)) {
		demo_fail(d, "the sandbox is still poisoned after the reset");
	} else {
		demo_ok(d, "reset, and no longer poisoned");
	}

	demo_begin(d, "GetStatic and Echo after the reset");
	char expect[32];
	snprintf(expect, sizeof expect, "%" PRId64, base);
	if (demo_expect(d, sb, "GetStatic", NULL, 0, expect, &res) &&
	    demo_expect(d, sb, "Echo", hello, 1, hello[0], &res))
		demo_ok(d, "the static is back to %" PRId64 " and calls work again", base);

	hl_sandbox_free(sb);
}

static void demo_callbackguest(struct demo *d)
{
	hl_sandbox *sb = demo_open(d, "callbackguest");
	if (!sb)
		return;
	hl_value res;
	int64_t v = 0;

	demo_begin(d, "GuestMethod1: the guest calls the host's HostMethod1");
	const char *const hello[] = {"Hello from the host"};
	if (demo_expect(d, sb, "GuestMethod1", hello, 1, NULL, &res)) {
		/* HostMethod1 returns the length of the message the guest built
		 * around ours, and the guest hands that length back. */
		if (as_int(&res, &v) && v >= (int64_t)strlen(hello[0]))
			demo_ok(d, "HostMethod1 measured a %" PRId64 "-byte message", v);
		else
			demo_fail(d, "expected the length HostMethod1 returned, at least %zu",
			          strlen(hello[0]));
	}

	demo_begin(d, "GuestMethod2: the guest has the host's HostAdd add two numbers");
	const char *const terms[] = {"40", "2"};
	if (demo_expect(d, sb, "GuestMethod2", terms, 2, "42", &res))
		demo_ok(d, "40 + 2 = 42, computed by the host");

	demo_begin(d, "GuestMethod4: the guest fetches bytes from the host's HostGetBytes");
	const char *const sixteen[] = {"16"};
	if (demo_expect(d, sb, "GuestMethod4", sixteen, 1, "000102030405060708090a0b0c0d0e0f", &res))
		demo_ok(d, "16 bytes crossed from the host through the guest and back");

	demo_begin(d, "HostCallLoop(1000): a thousand host calls in one guest call");
	/* The guest sums HostAdd(i, 1) for i < 1000: 1 + 2 + ... + 1000. */
	const char *const thousand[] = {"1000"};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (demo_expect(d, sb, "HostCallLoop", thousand, 1, "500500", &res)) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 +
		            (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
		demo_ok(d, "%.0f us in all, %.2f us per host call", us, us / 1000);
	}

	demo_begin(d, "CallHostError: a host function fails and the guest passes the error on");
	int r = demo_call(d, sb, "CallHostError", NULL, 0, &res);
	if (r == HL_E_HOST_FUNCTION || r == HL_E_GUEST_ERROR) {
		if (strstr(hl_errmsg(sb), "HostError always fails"))
			demo_ok(d, "the host's message reached the application");
		else
			demo_ok(d, "the call failed as it should (the guest reworded the message)");
	} else if (r == 0) {
		demo_fail(d, "CallHostError succeeded: the host error was lost");
	} else {
		demo_fail(d, "expected HL_E_HOST_FUNCTION or HL_E_GUEST_ERROR, got %s",
		          hl_strerror(r));
	}
	hl_sandbox_free(sb);
}

static void demo_dummyguest(struct demo *d)
{
	hl_sandbox *sb = demo_open(d, "dummyguest");
	if (!sb)
		return;
	hl_value res;
	demo_begin(d, "dummyguest exports nothing: calling Echo on it fails cleanly");
	size_t n = hl_function_count(sb);
	int r = demo_call(d, sb, "Echo", NULL, 0, &res);
	if (n == 0 && r == HL_E_NO_FUNCTION)
		demo_ok(d, "no functions, and the call was refused before the guest ran");
	else if (n != 0)
		demo_fail(d, "dummyguest has %zu functions, expected none", n);
	else
		demo_fail(d, "expected HL_E_NO_FUNCTION, got %s", r ? hl_strerror(r) : "success");
	hl_sandbox_free(sb);
}

static bool has_simpleguest(const char *dir)
{
	char path[MAX_PATH];
	return (size_t)snprintf(path, sizeof path, "%s/simpleguest", dir) < sizeof path &&
	       access(path, R_OK) == 0;
}

/* Finds the sample guests: GUEST_DIR, $HYPERLIGHT_GUEST_DIR, guests/bin next
 * to this program (the build tree's layout), ./guests/bin. */
static bool find_guest_dir(const char *arg, char *out, size_t outlen)
{
	const char *env = getenv("HYPERLIGHT_GUEST_DIR");
	const char *given = arg ? arg : env && env[0] ? env : NULL;
	if (given) {
		if ((size_t)snprintf(out, outlen, "%s", given) >= outlen || !has_simpleguest(out)) {
			fprintf(stderr, HL_CLI_PROG ": demo: no readable simpleguest in '%s'%s\n",
			        given, arg ? "" : " (from $HYPERLIGHT_GUEST_DIR)");
			return false;
		}
		return true;
	}
	char exe[MAX_PATH];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = NULL;
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
	}
	if (slash) {
		*slash = '\0';
		if ((size_t)snprintf(out, outlen, "%s/guests/bin", exe) < outlen &&
		    has_simpleguest(out))
			return true;
	}
	snprintf(out, outlen, "./guests/bin");
	if (has_simpleguest(out))
		return true;
	fprintf(stderr,
	        HL_CLI_PROG
	        ": demo: cannot find the sample guests: no simpleguest in %s%s or "
	        "./guests/bin; give GUEST_DIR or set HYPERLIGHT_GUEST_DIR\n",
	        slash ? exe : "the program's directory", slash ? "/guests/bin" : "");
	return false;
}

int hl_cli_demo(int argc, char **argv, const struct hl_cli_opts *o)
{
	if (argc > 1)
		return usage_error("demo: unexpected argument '%s' after GUEST_DIR", argv[1]);
	char dir[MAX_PATH];
	if (!find_guest_dir(argc ? argv[0] : NULL, dir, sizeof dir))
		return EXIT_HOST;
	struct demo *d = calloc(1, sizeof *d);
	if (!d) {
		fprintf(stderr, HL_CLI_PROG ": out of memory\n");
		return EXIT_HOST;
	}
	d->dir = dir;
	d->cfg = o->cfg;
	printf("hyperlight %s demo, guests from %s\n\n", hl_version(), dir);
	puts("== simpleguest: values in and out, guest output, state, faults and reset ==");
	demo_simpleguest(d);
	puts("\n== callbackguest: the guest calls host functions ==");
	demo_callbackguest(d);
	puts("\n== dummyguest: a guest with no functions ==");
	demo_dummyguest(d);
	putchar('\n');
	int st = 0;
	if (d->failed == 0) {
		printf("demo: all %d steps behaved as expected\n", d->step);
	} else {
		fflush(stdout);
		fprintf(stderr,
		        HL_CLI_PROG ": demo: %d of %d steps did not behave as expected:", d->failed,
		        d->step);
		int shown = d->failed < 64 ? d->failed : 64;
		for (int i = 0; i < shown; i++)
			fprintf(stderr, " step %d%s", d->failed_steps[i], i + 1 < shown ? "," : "");
		fputc('\n', stderr);
		st = EXIT_DEMO;
	}
	free(d);
	return st;
}
