/* main.c - the hyperlight command-line driver: run a guest function, describe a guest, tour the samples. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hyperlight/hyperlight.h"
#include "sample_host.h"
#include "wasm_cmd.h"
#include "js_cmd.h"
#include "doctor.h"
#include "serve/serve.h"

/* Exit statuses; docs/cli.md lists them too. */
enum {
	EXIT_USAGE = 1, /* the command line is wrong */
	EXIT_GUEST = 2, /* the guest failed */
	EXIT_HOST = 3,  /* the host failed, or the guest file is unusable */
	EXIT_DEMO = 4,  /* a demo step did not behave as expected */
};

#define PROG "hyperlight"

static const char usage_text[] =
	"Usage: " PROG " run [OPTIONS] GUEST FUNCTION [TYPE:VALUE ...]\n"
	"       " PROG " info [OPTIONS] GUEST\n"
	"       " PROG " bench [OPTIONS] GUEST FUNCTION [TYPE:VALUE ...]\n"
	"       " PROG " wasm build|run ...  (see '" PROG " wasm help')\n"
	"       " PROG " js run FILE.js HANDLER JSON  (see '" PROG " js help')\n"
	"       " PROG " demo [OPTIONS] [GUEST_DIR]\n"
	"       " PROG " doctor [--quiet]\n"
	"       " PROG " serve [OPTIONS] GUEST_FILE...  (see '" PROG " serve --help')\n"
	"       " PROG " --help | --version\n"
	"\n"
	"Commands:\n"
	"  run    load the guest ELF file GUEST into a new sandbox, call FUNCTION\n"
	"         with the arguments and print its result on stdout\n"
	"  info   print the guest's functions and its memory layout\n"
	"  bench  time the creation of GUEST's sandbox, FUNCTION's call, and the\n"
	"         call on a fresh state (restore + call): median and p99\n"
	"  demo   run the sample guests (simpleguest, callbackguest, dummyguest)\n"
	"         from GUEST_DIR (default: $HYPERLIGHT_GUEST_DIR, then guests/bin\n"
	"         beside this program, then ./guests/bin) as a guided tour\n"
	"  doctor say which hypervisor /dev/kvm is and whether guests run on it\n"
	"         natively (it runs a probe guest); exit 0 only when they do\n"
	"  serve  serve the guests' functions over HTTP, a fresh sandbox per request\n"
	"\n"
	"Arguments, TYPE:VALUE:\n"
	"  i32:-5  u32:7  i64:-9000000000  u64:18446744073709551615  (decimal)\n"
	"  f32:1.5  f64:1e-300  (also nan, inf, -inf)  bool:true  bool:false\n"
	"  string:TEXT  (everything after the first colon; may be empty)\n"
	"  bytes:0a0b0c  (hex digits, an even number of them; may be empty)\n"
	"\n"
	"Options (before GUEST):\n"
	"  --heap SIZE        guest heap (default 128K)\n"
	"  --stack SIZE       guest stack (default 64K)\n"
	"  --input SIZE       host-to-guest buffer (default 16K)\n"
	"  --output SIZE      guest-to-host buffer (default 16K)\n"
	"                     SIZE is a number of bytes with an optional K, M or G\n"
	"  --log-level LEVEL  send guest log records up to LEVEL: error, warn\n"
	"                     (default), info, debug or trace\n"
	"  --timeout-ms N     cancel a call that runs longer than N milliseconds\n"
	"  --stats            (run) print the sandbox's statistics to stderr after\n"
	"                     the call: calls, failures, exits, durations\n"
	"  --debug            print the memory layout and the registers to stderr\n"
	"                     when the guest starts and when it fails\n"
	"  --gdb PORT         (run) stop at the guest's first instruction and wait\n"
	"                     for gdb on 127.0.0.1:PORT (target remote :PORT)\n"
	"  -h, --help         print this help and exit\n"
	"      --version      print the library version and exit\n"
	"\n"
	"Exit status: 0 success, 1 bad command line or arguments, 2 the guest\n"
	"failed, 3 the host failed or the guest file is unusable, 4 a demo step\n"
	"did not behave as expected, 5 (doctor) guests cannot run natively here.\n";

/* Reports a command-line mistake and returns the usage exit status. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\nTry '" PROG " --help' for more information.\n", stderr);
	va_end(ap);
	return EXIT_USAGE;
}

/* ---- Errors from the library ----------------------------------------------- */

/* Which exit status a library error deserves. */
static int exit_status_for(const hl_sandbox *sb, int code)
{
	switch (code) {
	case HL_E_GUEST_ERROR:
	case HL_E_HOST_FUNCTION:
	case HL_E_GUEST_ABORT:
	case HL_E_GUEST_FAULT:
	case HL_E_GUEST_PROTOCOL:
	case HL_E_POISONED:
	case HL_E_CANCELLED:
		return EXIT_GUEST;
	/* These reject what the command line asked for: a size option out of
	 * range, a function the guest does not have, arguments that do not
	 * match its signature. */
	case HL_E_CONFIG:
	case HL_E_NO_FUNCTION:
	case HL_E_ARG_COUNT:
	case HL_E_ARG_TYPE:
		return EXIT_USAGE;
	case HL_E_TOO_LARGE:
		/* Either our arguments do not fit the input buffer, or the guest's
		 * result overflowed; only the second poisons the sandbox. */
		return sb && hl_sandbox_poisoned(sb) ? EXIT_GUEST : EXIT_USAGE;
	default:
		return EXIT_HOST;
	}
}

static const char *fault_kind_name(enum hl_fault_kind k)
{
	switch (k) {
	case HL_FAULT_NONE: return "none";
	case HL_FAULT_EXCEPTION: return "exception";
	case HL_FAULT_MMIO: return "mmio";
	case HL_FAULT_SHUTDOWN: return "shutdown";
	case HL_FAULT_UNKNOWN_PORT: return "unknown-port";
	case HL_FAULT_ABORT: return "abort";
	case HL_FAULT_PROTOCOL: return "protocol";
	case HL_FAULT_HALT: return "halt";
	case HL_FAULT_HYPERVISOR: return "hypervisor";
	case HL_FAULT_MSR: return "msr";
	}
	return "?";
}

/* The mnemonic of an x86 exception vector, or NULL for a reserved one. */
static const char *vector_mnemonic(uint32_t v)
{
	static const char *const m[32] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", NULL, "#TS",
		"#NP", "#SS", "#GP", "#PF", NULL, "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
		[28] = "#HV", [29] = "#VC", [30] = "#SX",
	};
	return v < 32 ? m[v] : NULL;
}

/* One line with everything hl_sandbox_last_fault knows. */
static void print_fault(FILE *f, const char *prefix, const hl_sandbox *sb)
{
	hl_fault ft;
	if (hl_sandbox_last_fault(sb, &ft) < 0)
		return;
	const char *mn = ft.kind == HL_FAULT_EXCEPTION ? vector_mnemonic(ft.vector) : NULL;
	fprintf(f, "%sfault: kind=%s vector=%" PRIu32 "%s%s%s rip=0x%" PRIx64 " addr=0x%" PRIx64
	        " error_code=0x%" PRIx64 " rsp=0x%" PRIx64 "\n",
	        prefix, fault_kind_name(ft.kind), ft.vector, mn ? " (" : "", mn ? mn : "",
	        mn ? ")" : "", ft.rip, ft.addr, ft.error_code, ft.rsp);
}

/* Prints a library error as "hyperlight: <code>: <details>" and returns the
 * exit status it deserves. `sb` may be NULL (hl_sandbox_new failed). */
static int api_error(const hl_sandbox *sb, int code)
{
	const char *msg = sb ? hl_errmsg(sb) : "";
	if (msg[0])
		fprintf(stderr, PROG ": %s: %s\n", hl_strerror(code), msg);
	else
		fprintf(stderr, PROG ": %s\n", hl_strerror(code));
	if (code == HL_E_GUEST_FAULT && sb)
		print_fault(stderr, PROG ": ", sb);
	return exit_status_for(sb, code);
}

/* ---- Options ------------------------------------------------------------------ */

/* Parses SIZE: decimal digits with an optional K, M or G (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
	if (s[0] < '0' || s[0] > '9')
		return false; /* strtoull would accept spaces and a sign */
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return false;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return false;
	}
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static bool parse_log_level(const char *s, uint32_t *out)
{
	static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
	static const uint32_t levels[] = {HL_LOG_ERROR, HL_LOG_WARN, HL_LOG_INFO, HL_LOG_DEBUG,
	                                  HL_LOG_TRACE};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = levels[i];
			return true;
		}
	return false;
}

enum { OPT_DONE = 0, OPT_HELP = 1, OPT_ERROR = -1 };

/* --stats: print the statistics table after `run` (not part of hl_config). */
static bool opt_stats;
/* --gdb PORT (0: off). Not a configuration value: the library takes it
 * through hl_sandbox_debug_listen. */
static uint16_t gdb_port;

/* Parses "--gdb PORT" or "--gdb=PORT" at argv[*i]; 1 if it was that
 * option, 0 if not, -1 on a bad value (message printed). */
static int parse_gdb_option(int argc, char **argv, int *i)
{
	const char *a = argv[*i], *val;
	if (strcmp(a, "--gdb") == 0) {
		if (*i + 1 >= argc) {
			usage_error("option --gdb needs a value");
			return -1;
		}
		val = argv[++(*i)];
	} else if (strncmp(a, "--gdb=", 6) == 0) {
		val = a + 6;
	} else {
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long port = strtoul(val, &end, 10);
	if (errno || end == val || *end || val[0] == '-' || port == 0 || port > 65535) {
		usage_error("option --gdb: '%s' is not a TCP port (1 to 65535)", val);
		return -1;
	}
	gdb_port = (uint16_t)port;
	return 1;
}

/*
 * Parses the options that follow the command name into *cfg, from argv[*i]
 * on, and leaves *i at the first operand. Accepts "--opt VALUE" and
 * "--opt=VALUE"; "--" ends the options. Returns OPT_DONE, OPT_HELP (usage
 * printed) or OPT_ERROR (message printed).
 */
static int parse_options(int argc, char **argv, int *i, hl_config *cfg)
{
	for (; *i < argc; (*i)++) {
		const char *a = argv[*i];
		if (strcmp(a, "--") == 0) {
			(*i)++;
			return OPT_DONE;
		}
		if (a[0] != '-' || a[1] == '\0')
			return OPT_DONE; /* an operand ("-" alone counts as one) */
		if (strcmp(a, "--stats") == 0) {
			opt_stats = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return OPT_HELP;
		}
		if (strcmp(a, "--debug") == 0) {
			cfg->flags |= HL_CONFIG_DEBUG;
			continue;
		}
		int g = parse_gdb_option(argc, argv, i);
		if (g < 0)
			return OPT_ERROR;
		if (g > 0)
			continue;

		/* The options that take a value, in the order of the switch below. */
		enum { O_HEAP, O_STACK, O_INPUT, O_OUTPUT, O_LOG_LEVEL, O_TIMEOUT, O_COUNT };
		static const char *const valued[O_COUNT] = {"--heap", "--stack", "--input", "--output",
		                                            "--log-level", "--timeout-ms"};
		int which = O_COUNT;
		const char *val = NULL;
		for (int k = 0; k < O_COUNT; k++) {
			size_t n = strlen(valued[k]);
			if (strncmp(a, valued[k], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
				which = k;
				val = a[n] == '=' ? a + n + 1 : NULL;
				break;
			}
		}
		if (which == O_COUNT) {
			usage_error("unknown option '%s'", a);
			return OPT_ERROR;
		}
		const char *name = valued[which];
		if (!val) {
			if (*i + 1 >= argc) {
				usage_error("option %s needs a value", name);
				return OPT_ERROR;
			}
			val = argv[++(*i)];
		}
		uint64_t *size = NULL;
		switch (which) {
		case O_HEAP: size = &cfg->heap_size; break;
		case O_STACK: size = &cfg->stack_size; break;
		case O_INPUT: size = &cfg->input_size; break;
		case O_OUTPUT: size = &cfg->output_size; break;
		case O_LOG_LEVEL:
			if (!parse_log_level(val, &cfg->max_log_level)) {
				usage_error("option %s: '%s' is not a log level (error, warn, info, debug, trace)",
				            name, val);
				return OPT_ERROR;
			}
			break;
		case O_TIMEOUT: {
			char *end;
			errno = 0;
			unsigned long ms = strtoul(val, &end, 10);
			if (errno || end == val || *end || val[0] == '-' || ms == 0 || ms > UINT32_MAX) {
				usage_error("option %s: '%s' is not a number of milliseconds (1 to %u)",
				            name, val, UINT32_MAX);
				return OPT_ERROR;
			}
			/* The command is the application here: it may pick the signal
			 * that interrupts a running guest and install its no-op handler. */
			cfg->call_timeout_ms = (uint32_t)ms;
			cfg->interrupt_signal = SIGRTMIN + 1;
			if (hl_install_interrupt_handler(cfg->interrupt_signal) < 0) {
				usage_error("option %s: cannot install the interrupt signal handler", name);
				return OPT_ERROR;
			}
			break;
		}
		}
		/* The library checks the size's range when the guest is loaded. */
		if (size && !parse_size(val, size)) {
			usage_error("option %s: '%s' is not a size (a number of bytes with an optional "
			            "K, M or G suffix, e.g. 256K or 4M)",
			            name, val);
			return OPT_ERROR;
		}
	}
	return OPT_DONE;
}

/* ---- Values -------------------------------------------------------------------- */

/* Looks a type up by the name hl_type_name gives it; void is no argument type. */
static bool type_from_name(const char *s, size_t n, hl_type *out)
{
	for (int t = HL_TYPE_VOID + 1; t < HL_TYPE__COUNT; t++) {
		const char *name = hl_type_name((hl_type)t);
		if (strlen(name) == n && memcmp(name, s, n) == 0) {
			*out = (hl_type)t;
			return true;
		}
	}
	return false;
}

static bool parse_signed(const char *s, int64_t lo, int64_t hi, int64_t *out, bool *range)
{
	const char *d = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
	*range = false;
	if (*d < '0' || *d > '9')
		return false; /* also rejects the spaces strtoll would skip */
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end != '\0')
		return false;
	if (errno == ERANGE || v < lo || v > hi) {
		*range = true;
		return false;
	}
	*out = v;
	return true;
}

static bool parse_unsigned(const char *s, uint64_t hi, uint64_t *out, bool *range)
{
	const char *d = s[0] == '+' ? s + 1 : s;
	*range = false;
	if (s[0] == '-') {
		/* strtoull would wrap "-1" around to the largest value. */
		const char *m = s + 1;
		while (*m >= '0' && *m <= '9')
			m++;
		*range = m > s + 1 && *m == '\0';
		return false;
	}
	if (*d < '0' || *d > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end != '\0')
		return false;
	if (errno == ERANGE || v > hi) {
		*range = true;
		return false;
	}
	*out = v;
	return true;
}

/* strtod's words for the non-finite values, which strtod reads itself; the
 * check keeps out the leading spaces it would also skip. */
static bool float_start_ok(const char *s)
{
	const char *d = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
	return (*d >= '0' && *d <= '9') || *d == '.' || *d == 'i' || *d == 'I' || *d == 'n' ||
	       *d == 'N';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parses `text` as a value of type `t` into *out. A bytes value goes into a
 * new buffer stored in *owned for the caller to free (NULL otherwise); a
 * string points into `text`. Returns true, or false with a message in err.
 */
static bool parse_value(hl_type t, const char *text, hl_value *out, uint8_t **owned, char *err,
                        size_t errlen)
{
	*owned = NULL;
	bool range = false;
	switch (t) {
	case HL_TYPE_I32:
	case HL_TYPE_I64: {
		int64_t lo = t == HL_TYPE_I32 ? INT32_MIN : INT64_MIN;
		int64_t hi = t == HL_TYPE_I32 ? INT32_MAX : INT64_MAX;
		int64_t v;
		if (parse_signed(text, lo, hi, &v, &range)) {
			*out = t == HL_TYPE_I32 ? hl_i32((int32_t)v) : hl_i64(v);
			return true;
		}
		if (range)
			snprintf(err, errlen, "'%s' is out of range for %s [%" PRId64 ", %" PRId64 "]", text,
			         hl_type_name(t), lo, hi);
		else
			snprintf(err, errlen, "'%s' is not a decimal integer", text);
		return false;
	}
	case HL_TYPE_U32:
	case HL_TYPE_U64: {
		uint64_t hi = t == HL_TYPE_U32 ? UINT32_MAX : UINT64_MAX;
		uint64_t v;
		if (parse_unsigned(text, hi, &v, &range)) {
			*out = t == HL_TYPE_U32 ? hl_u32((uint32_t)v) : hl_u64(v);
			return true;
		}
		if (range)
			snprintf(err, errlen, "'%s' is out of range for %s [0, %" PRIu64 "]", text,
			         hl_type_name(t), hi);
		else
			snprintf(err, errlen, "'%s' is not a decimal integer", text);
		return false;
	}
	case HL_TYPE_F32:
	case HL_TYPE_F64: {
		char *end = NULL;
		double d = 0;
		float f = 0;
		if (float_start_ok(text)) {
			errno = 0;
			if (t == HL_TYPE_F32)
				f = strtof(text, &end);
			else
				d = strtod(text, &end);
		}
		if (!end || end == text || *end != '\0') {
			snprintf(err, errlen, "'%s' is not a number (e.g. 1.5, -2e10, nan, inf, -inf)",
			         text);
			return false;
		}
		/* ERANGE means overflow (an infinity) or underflow; a result that
		 * underflows to a subnormal still says what was meant, zero does not. */
		if (errno == ERANGE) {
			bool inf = t == HL_TYPE_F32 ? isinf(f) : isinf(d);
			bool zero = t == HL_TYPE_F32 ? f == 0 : d == 0;
			if (inf || zero) {
				if (inf)
					snprintf(err, errlen, "'%s' is out of range for %s", text, hl_type_name(t));
				else
					snprintf(err, errlen, "'%s' is too small for %s (it rounds to 0)", text,
					         hl_type_name(t));
				return false;
			}
		}
		*out = t == HL_TYPE_F32 ? hl_f32(f) : hl_f64(d);
		return true;
	}
	case HL_TYPE_BOOL:
		if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
			*out = hl_bool(text[0] == 't');
			return true;
		}
		snprintf(err, errlen, "'%s' is not a bool (true or false)", text);
		return false;
	case HL_TYPE_STRING:
		*out = hl_string(text, strlen(text));
		return true;
	case HL_TYPE_BYTES: {
		size_t n = strlen(text);
		if (n % 2) {
			snprintf(err, errlen, "'%s' has an odd number of hex digits (%zu)", text, n);
			return false;
		}
		/* One byte more so that even empty bytes have a buffer to point at. */
		uint8_t *buf = malloc(n / 2 + 1);
		if (!buf) {
			snprintf(err, errlen, "out of memory for %zu bytes", n / 2);
			return false;
		}
		for (size_t k = 0; k < n; k += 2) {
			int hi = hex_digit(text[k]), lo = hex_digit(text[k + 1]);
			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "'%s' is not hex: '%c' at offset %zu", text,
				         hi < 0 ? text[k] : text[k + 1], hi < 0 ? k : k + 1);
				free(buf);
				return false;
			}
			buf[k / 2] = (uint8_t)(hi << 4 | lo);
		}
		*owned = buf;
		*out = hl_bytes(buf, n / 2);
		return true;
	}
	default:
		snprintf(err, errlen, "type %s cannot be an argument", hl_type_name(t));
		return false;
	}
}

/* The command line's function arguments, parsed. */
struct call_args {
	hl_value *v;
	uint8_t **owned; /* bytes buffers, one slot per argument */
	size_t n;
};

static void call_args_free(struct call_args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->v);
	a->v = NULL;
	a->owned = NULL;
	a->n = 0;
}

/* Parses the TYPE:VALUE words. Returns 0, or an exit status after printing why. */
static int call_args_parse(int n, char **words, struct call_args *a)
{
	a->n = 0;
	a->v = calloc((size_t)n + 1, sizeof *a->v);
	a->owned = calloc((size_t)n + 1, sizeof *a->owned);
	if (!a->v || !a->owned) {
		call_args_free(a);
		fprintf(stderr, PROG ": out of memory\n");
		return EXIT_HOST;
	}
	for (int i = 0; i < n; i++) {
		const char *w = words[i];
		const char *colon = strchr(w, ':');
		hl_type t;
		char err[512];
		a->n = (size_t)i; /* what call_args_free must release on failure */
		if (!colon) {
			call_args_free(a);
			return usage_error("argument %d '%s': expected TYPE:VALUE, e.g. i32:42 or string:hi",
			                   i + 1, w);
		}
		if (!type_from_name(w, (size_t)(colon - w), &t)) {
			call_args_free(a);
			return usage_error("argument %d '%s': unknown type '%.*s' (i32, u32, i64, u64, "
			                   "f32, f64, bool, string, bytes)",
			                   i + 1, w, (int)(colon - w), w);
		}
		if (!parse_value(t, colon + 1, &a->v[i], &a->owned[i], err, sizeof err)) {
			call_args_free(a);
			return usage_error("argument %d (%s): %s", i + 1, hl_type_name(t), err);
		}
	}
	a->n = (size_t)n;
	return 0;
}

/* ---- Printing values ----------------------------------------------------------- */

/* The shortest "%.*g" that strtod reads back to the same bits. */
static void print_f64(FILE *f, double d)
{
	if (isnan(d)) {
		fputs("nan", f);
		return;
	}
	if (isinf(d)) {
		fputs(d < 0 ? "-inf" : "inf", f);
		return;
	}
	char buf[64];
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, sizeof buf, "%.*g", p, d);
		double back = strtod(buf, NULL);
		if (memcmp(&back, &d, sizeof d) == 0)
			break;
	}
	fputs(buf, f);
}

static void print_f32(FILE *f, float x)
{
	if (isnan(x)) {
		fputs("nan", f);
		return;
	}
	if (isinf(x)) {
		fputs(x < 0 ? "-inf" : "inf", f);
		return;
	}
	char buf[64];
	for (int p = 1; p <= 9; p++) {
		snprintf(buf, sizeof buf, "%.*g", p, (double)x);
		float back = strtof(buf, NULL);
		if (memcmp(&back, &x, sizeof x) == 0)
			break;
	}
	fputs(buf, f);
}

/* Writes a value in the CLI's output format, without a newline. */
static void print_value(FILE *f, const hl_value *v)
{
	switch (v->type) {
	case HL_TYPE_VOID: break;
	case HL_TYPE_I32: fprintf(f, "%" PRId32, v->u.i32); break;
	case HL_TYPE_U32: fprintf(f, "%" PRIu32, v->u.u32); break;
	case HL_TYPE_I64: fprintf(f, "%" PRId64, v->u.i64); break;
	case HL_TYPE_U64: fprintf(f, "%" PRIu64, v->u.u64); break;
	case HL_TYPE_F32: print_f32(f, v->u.f32); break;
	case HL_TYPE_F64: print_f64(f, v->u.f64); break;
	case HL_TYPE_BOOL: fputs(v->u.b ? "true" : "false", f); break;
	case HL_TYPE_STRING: fwrite(v->u.str.ptr, 1, v->u.str.len, f); break;
	case HL_TYPE_BYTES:
		for (size_t i = 0; i < v->u.bytes.len; i++)
			fprintf(f, "%02x", v->u.bytes.ptr[i]);
		break;
	default: fprintf(f, "<value of unknown type %d>", (int)v->type); break;
	}
}

/* Checks that everything written to stdout got there (a full disk, a closed pipe). */
static int finish_stdout(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": writing to stdout failed: %s\n", strerror(errno));
		return status ? status : EXIT_HOST;
	}
	return status;
}

/* ---- Sandboxes ------------------------------------------------------------------ */

/* Guest stdout to ours, guest stderr to ours. stdout is flushed before
 * stderr is written so that the two stay in order when they share a pipe. */
static void print_to_stdio(int fd, const char *data, size_t len, void *user)
{
	(void)user;
	if (fd == 2) {
		fflush(stdout);
		fwrite(data, 1, len, stderr);
	} else {
		fwrite(data, 1, len, stdout);
	}
}

/*
 * Creates a sandbox, loads `path`, registers the sample host functions,
 * installs `print` and runs the guest's main(). Returns 0 with *out set, or
 * an error code with *out set to the sandbox for hl_errmsg (NULL only if
 * hl_sandbox_new failed); the caller frees *out in both cases.
 */
static int open_guest(const hl_config *cfg, const char *path, hl_print_fn print, void *user,
                      hl_sandbox **out)
{
	int r = hl_sandbox_new(cfg, out);
	if (r < 0)
		return r;
	if ((r = hl_sandbox_load_file(*out, path)) < 0 || (r = hl_sample_host_register(*out)) < 0 ||
	    (r = hl_sandbox_set_print(*out, print, user)) < 0 || (r = hl_sandbox_init(*out)) < 0)
		return r;
	return 0;
}

/* ---- run ------------------------------------------------------------------------ */

/* The statistics table on stderr, after stdout so the two stay in order. */
static void print_stats(const hl_sandbox *sb)
{
	hl_stats s;
	s.size = sizeof s;
	char buf[2048];
	if (hl_sandbox_stats(sb, &s) < 0 || hl_stats_format(&s, buf, sizeof buf) < 0)
		return;
	fflush(stdout);
	fprintf(stderr, "--- statistics\n%s", buf);
}

static int cmd_run(int argc, char **argv, const hl_config *cfg)
{
	if (argc < 1)
		return usage_error("run: missing GUEST and FUNCTION");
	if (argc < 2)
		return usage_error("run: missing FUNCTION after GUEST '%s'", argv[0]);
	const char *guest = argv[0], *fn = argv[1];

	/* The arguments first: a typo should not cost a VM. */
	struct call_args args;
	int st = call_args_parse(argc - 2, argv + 2, &args);
	if (st)
		return st;

	hl_sandbox *sb = NULL;
	hl_value res = hl_i32(0);
	int r;
	if (gdb_port) {
		/* open_guest, with the debugger's socket between load and init:
		 * init then stops at the guest's first instruction. */
		if ((r = hl_sandbox_new(cfg, &sb)) == 0 && (r = hl_sandbox_load_file(sb, guest)) == 0 &&
		    (r = hl_sample_host_register(sb)) == 0 &&
		    (r = hl_sandbox_set_print(sb, print_to_stdio, NULL)) == 0 &&
		    (r = hl_sandbox_debug_listen(sb, gdb_port)) == 0) {
			fprintf(stderr, "gdb: listening on 127.0.0.1:%u\n", gdb_port);
			r = hl_sandbox_init(sb);
		}
	} else {
		r = open_guest(cfg, guest, print_to_stdio, NULL, &sb);
	}
	if (r == 0)
		r = hl_call(sb, fn, args.v, args.n, &res);
	if (r < 0) {
		fflush(stdout); /* the guest's output before our message */
		st = api_error(sb, r);
	} else if (res.type != HL_TYPE_VOID) {
		print_value(stdout, &res);
		putchar('\n');
	}
	if (opt_stats && sb)
		print_stats(sb);
	/* The result is owned by the sandbox: print it before freeing. */
	hl_sandbox_free(sb);
	call_args_free(&args);
	return finish_stdout(st);
}

/* ---- bench ---------------------------------------------------------------------- */

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void discard_print(int fd, const char *data, size_t len, void *user)
{
	(void)fd, (void)data, (void)len, (void)user;
}

#define BENCH_ITERS 1000

/* Median and 99th percentile of `t` (sorted in place), on one line. */
static void bench_line(const char *what, double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	printf("%-34s median %10.2f us   p99 %10.2f us\n", what, t[n / 2], t[n * 99 / 100]);
}

/* Times one guest function the way hl_bench times the sample guests: the
 * cold creation of the sandbox, the call, and the call on a fresh state
 * (restore to the post-init snapshot, then call). */
static int cmd_bench(int argc, char **argv, const hl_config *cfg)
{
	if (argc < 2)
		return usage_error("bench: missing %s", argc < 1 ? "GUEST and FUNCTION" : "FUNCTION");
	const char *guest = argv[0], *fn = argv[1];
	struct call_args args;
	int st = call_args_parse(argc - 2, argv + 2, &args);
	if (st)
		return st;
	static double t[BENCH_ITERS];
	hl_sandbox *sb = NULL;
	hl_snapshot *snap = NULL;
	int r = 0, n = 20;
	for (int i = 0; i < n && r == 0; i++) {
		double t0 = now_us();
		r = open_guest(cfg, guest, discard_print, NULL, &sb);
		t[i] = now_us() - t0;
		if (r == 0 && i + 1 < n) {
			hl_sandbox_free(sb);
			sb = NULL;
		}
	}
	if (r == 0)
		bench_line("create + load + init", t, n);
	if (r == 0)
		r = hl_sandbox_snapshot(sb, &snap);
	for (int i = 0; i < BENCH_ITERS && r == 0; i++) {
		double t0 = now_us();
		r = hl_call(sb, fn, args.v, args.n, NULL);
		t[i] = now_us() - t0;
	}
	if (r == 0)
		bench_line(fn, t, BENCH_ITERS);
	for (int i = 0; i < BENCH_ITERS && r == 0; i++) {
		double t0 = now_us();
		r = hl_call_fresh(sb, snap, fn, args.v, args.n, NULL);
		t[i] = now_us() - t0;
	}
	if (r == 0)
		bench_line("restore + call (fresh state)", t, BENCH_ITERS);
	if (r < 0)
		st = api_error(sb, r);
	hl_snapshot_free(snap);
	hl_sandbox_free(sb);
	call_args_free(&args);
	return finish_stdout(st);
}

/* ---- info ----------------------------------------------------------------------- */

struct region {
	const char *name;
	uint64_t start, size;
};

static int region_cmp(const void *a, const void *b)
{
	const struct region *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

static void print_size(FILE *f, uint64_t n)
{
	if (n >= (1u << 20) && n % (1u << 20) == 0)
		fprintf(f, "%" PRIu64 " MiB", n >> 20);
	else if (n >= 1024 && n % 1024 == 0)
		fprintf(f, "%" PRIu64 " KiB", n >> 10);
	else
		fprintf(f, "%" PRIu64 " B", n);
}

static void print_layout(FILE *f, const hl_layout *l)
{
	/* The boot info record sits alone in its page (regions are page granular). */
	uint64_t boot_size = HL_ALIGN8(sizeof(struct hl_boot_info));
	boot_size = (boot_size + HL_PAGE_SIZE - 1) / HL_PAGE_SIZE * HL_PAGE_SIZE;
	struct region r[] = {
		{"image", l->image_base, l->image_size},
		{"boot_info", l->boot_info, boot_size},
		{"page_tables", l->page_tables, l->page_tables_size},
		{"input", l->input, l->input_size},
		{"output", l->output, l->output_size},
		{"heap", l->heap, l->heap_size},
		{"stack", l->stack, l->stack_size},
		{"ist", l->ist, l->ist_size},
	};
	size_t n = sizeof r / sizeof r[0];
	qsort(r, n, sizeof r[0], region_cmp);
	fprintf(f, "%-12s %-18s %-18s %s\n", "region", "start", "end", "size");
	fprintf(f, "%-12s 0x%016" PRIx64 " 0x%016" PRIx64 " ", "memory", l->mem_base,
	        l->mem_base + l->mem_size);
	print_size(f, l->mem_size);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%-12s 0x%016" PRIx64 " 0x%016" PRIx64 " ", r[i].name, r[i].start,
		        r[i].start + r[i].size);
		print_size(f, r[i].size);
		fputc('\n', f);
	}
	fprintf(f, "entry point  0x%016" PRIx64 "\n", l->entry);
}

/* "Name(type, type) -> type" */
static void print_signature(FILE *f, const hl_function_info *fi)
{
	fprintf(f, "%s(", fi->name);
	for (size_t p = 0; p < fi->nparams; p++)
		fprintf(f, "%s%s", p ? ", " : "", hl_type_name(fi->params[p]));
	fprintf(f, ") -> %s", hl_type_name(fi->ret));
}

static int cmd_info(int argc, char **argv, const hl_config *cfg)
{
	if (argc < 1)
		return usage_error("info: missing GUEST");
	if (argc > 1)
		return usage_error("info: unexpected argument '%s' after GUEST", argv[1]);
	hl_sandbox *sb = NULL;
	int st = 0;
	int r = open_guest(cfg, argv[0], print_to_stdio, NULL, &sb);
	hl_layout lay;
	if (r == 0)
		r = hl_sandbox_layout(sb, &lay);
	if (r == 0) {
		size_t count = hl_function_count(sb);
		if (count == 0)
			puts("(no functions)");
		for (size_t i = 0; i < count && r == 0; i++) {
			hl_function_info fi;
			r = hl_function_get(sb, i, &fi);
			if (r == 0) {
				print_signature(stdout, &fi);
				putchar('\n');
			}
		}
		putchar('\n');
		if (r == 0) {
			print_layout(stdout, &lay);
			hl_cli_print_platform(stdout);
		}
	}
	if (r < 0) {
		fflush(stdout);
		st = api_error(sb, r);
	}
	hl_sandbox_free(sb);
	return finish_stdout(st);
}

/* ---- demo ----------------------------------------------------------------------- */

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
	print_to_stdio(fd, data, len, NULL);
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
		print_fault(stdout, "  ", sb);
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
	int r = open_guest(&d->cfg, path, demo_print, d, &sb);
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
	bool found = false;
	for (size_t i = 0, n = hl_function_count(sb); i < n && !found; i++)
		found = hl_function_get(sb, i, &fi) == 0 && strcmp(fi.name, fn) == 0;
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
			if (!parse_value(t, text, &args[i], &owned[i], err, sizeof err)) {
				printf("  error: %s parameter %zu is %s: %s\n", fn, i + 1, hl_type_name(t), err);
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
				print_value(stdout, &args[i]);
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
				print_value(stdout, res);
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
	print_value(m, res);
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
		double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
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
		demo_fail(d, "expected HL_E_HOST_FUNCTION or HL_E_GUEST_ERROR, got %s", hl_strerror(r));
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
			fprintf(stderr, PROG ": demo: no readable simpleguest in '%s'%s\n", given,
			        arg ? "" : " (from $HYPERLIGHT_GUEST_DIR)");
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
		if ((size_t)snprintf(out, outlen, "%s/guests/bin", exe) < outlen && has_simpleguest(out))
			return true;
	}
	snprintf(out, outlen, "./guests/bin");
	if (has_simpleguest(out))
		return true;
	fprintf(stderr,
	        PROG ": demo: cannot find the sample guests: no simpleguest in %s%s or "
	        "./guests/bin; give GUEST_DIR or set HYPERLIGHT_GUEST_DIR\n",
	        slash ? exe : "the program's directory", slash ? "/guests/bin" : "");
	return false;
}

static int cmd_demo(int argc, char **argv, const hl_config *cfg)
{
	if (argc > 1)
		return usage_error("demo: unexpected argument '%s' after GUEST_DIR", argv[1]);
	char dir[MAX_PATH];
	if (!find_guest_dir(argc ? argv[0] : NULL, dir, sizeof dir))
		return EXIT_HOST;
	struct demo *d = calloc(1, sizeof *d);
	if (!d) {
		fprintf(stderr, PROG ": out of memory\n");
		return EXIT_HOST;
	}
	d->dir = dir;
	d->cfg = *cfg;
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
		fprintf(stderr, PROG ": demo: %d of %d steps did not behave as expected:", d->failed,
		        d->step);
		int shown = d->failed < 64 ? d->failed : 64;
		for (int i = 0; i < shown; i++)
			fprintf(stderr, " step %d%s", d->failed_steps[i], i + 1 < shown ? "," : "");
		fputc('\n', stderr);
		st = EXIT_DEMO;
	}
	free(d);
	return finish_stdout(st);
}

/* ---- main ----------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return finish_stdout(0);
	}
	if (strcmp(cmd, "--version") == 0) {
		printf(PROG " %s\n", hl_version());
		return finish_stdout(0);
	}
	if (strcmp(cmd, "wasm") == 0)
		return hl_cli_wasm(argc - 1, argv + 1);
	if (strcmp(cmd, "js") == 0)
		return hl_cli_js(argc - 1, argv + 1);
	if (strcmp(cmd, "doctor") == 0)
		return finish_stdout(hl_cli_doctor(argc - 1, argv + 1));
	if (strcmp(cmd, "serve") == 0)
		return finish_stdout(hl_cli_serve(argc - 1, argv + 1));
	int (*run)(int, char **, const hl_config *) = NULL;
	if (strcmp(cmd, "run") == 0)
		run = cmd_run;
	else if (strcmp(cmd, "info") == 0)
		run = cmd_info;
	else if (strcmp(cmd, "demo") == 0)
		run = cmd_demo;
	else if (strcmp(cmd, "bench") == 0)
		run = cmd_bench;
	else if (cmd[0] == '-')
		return usage_error("unknown option '%s' (options go after the command)", cmd);
	else
		return usage_error("unknown command '%s' (run, info, bench, demo, doctor, serve, wasm or js)", cmd);

	hl_config cfg;
	hl_config_init(&cfg);
	int i = 2;
	switch (parse_options(argc, argv, &i, &cfg)) {
	case OPT_HELP: return finish_stdout(0);
	case OPT_ERROR: return EXIT_USAGE;
	default: break;
	}
	if (opt_stats && run != cmd_run)
		return usage_error("option --stats: only for the run command");
	if (gdb_port && run != cmd_run)
		return usage_error("option --gdb: only with '%s run'", PROG);
	return run(argc - i, argv + i, &cfg);
}
