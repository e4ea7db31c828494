/* values.c - function arguments from the command line (TYPE:VALUE words) and results back to text. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- from text ------------------------------------------------------------------ */

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

bool hl_cli_parse_value(hl_type t, const char *text, hl_value *out, uint8_t **owned, char *err,
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
			snprintf(err, errlen,
			         "'%s' is out of range for %s [%" PRId64 ", %" PRId64 "]", text,
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
			snprintf(err, errlen,
			         "'%s' is not a number (e.g. 1.5, -2e10, nan, inf, -inf)", text);
			return false;
		}
		/* ERANGE means overflow (an infinity) or underflow; a result that
		 * underflows to a subnormal still says what was meant, zero does not. */
		if (errno == ERANGE) {
			bool inf = t == HL_TYPE_F32 ? isinf(f) : isinf(d);
			bool zero = t == HL_TYPE_F32 ? f == 0 : d == 0;
			if (inf || zero) {
				if (inf)
					snprintf(err, errlen, "'%s' is out of range for %s", text,
					         hl_type_name(t));
				else
					snprintf(err, errlen,
					         "'%s' is too small for %s (it rounds to 0)", text,
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
	case HL_TYPE_STRING: *out = hl_string(text, strlen(text)); return true;
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

void hl_cli_args_free(struct hl_cli_args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->v);
	a->v = NULL;
	a->owned = NULL;
	a->n = 0;
}

int hl_cli_args_parse(int n, char **words, struct hl_cli_args *a)
{
	a->n = 0;
	a->v = calloc((size_t)n + 1, sizeof *a->v);
	a->owned = calloc((size_t)n + 1, sizeof *a->owned);
	if (!a->v || !a->owned) {
		hl_cli_args_free(a);
		fprintf(stderr, HL_CLI_PROG ": out of memory\n");
		return EXIT_HOST;
	}
	for (int i = 0; i < n; i++) {
		const char *w = words[i];
		const char *colon = strchr(w, ':');
		hl_type t;
		char err[512];
		a->n = (size_t)i; /* what hl_cli_args_free must release on failure */
		if (!colon) {
			hl_cli_args_free(a);
			return usage_error("argument %d '%s': expected TYPE:VALUE, e.g. i32:42 or string:hi",
			                   i + 1, w);
		}
		if (!type_from_name(w, (size_t)(colon - w), &t)) {
			hl_cli_args_free(a);
			return usage_error(
				"argument %d '%s': unknown type '%.*s' (i32, u32, i64, u64, "
				"f32, f64, bool, string, bytes)",
				i + 1, w, (int)(colon - w), w);
		}
		if (!hl_cli_parse_value(t, colon + 1, &a->v[i], &a->owned[i], err, sizeof err)) {
			hl_cli_args_free(a);
			return usage_error("argument %d (%s): %s", i + 1, hl_type_name(t), err);
		}
	}
	a->n = (size_t)n;
	return 0;
}

/* ---- to text -------------------------------------------------------------------- */

/* The shortest "%.*g" that reads back to the same bits, as a double or, for
 * `single`, as a float. */
static void print_float(FILE *f, double d, bool single)
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
	float x = (float)d;
	for (int p = 1; p <= (single ? 9 : 17); p++) {
		snprintf(buf, sizeof buf, "%.*g", p, d);
		double back = strtod(buf, NULL);
		float xback = strtof(buf, NULL);
		if (single ? memcmp(&xback, &x, sizeof x) == 0 : memcmp(&back, &d, sizeof d) == 0)
			break;
	}
	fputs(buf, f);
}

void hl_cli_print_value(FILE *f, const hl_value *v)
{
	switch (v->type) {
	case HL_TYPE_VOID: break;
	case HL_TYPE_I32: fprintf(f, "%" PRId32, v->u.i32); break;
	case HL_TYPE_U32: fprintf(f, "%" PRIu32, v->u.u32); break;
	case HL_TYPE_I64: fprintf(f, "%" PRId64, v->u.i64); break;
	case HL_TYPE_U64: fprintf(f, "%" PRIu64, v->u.u64); break;
	case HL_TYPE_F32: print_float(f, v->u.f32, true); break;
	case HL_TYPE_F64: print_float(f, v->u.f64, false); break;
	case HL_TYPE_BOOL: fputs(v->u.b ? "true" : "false", f); break;
	case HL_TYPE_STRING: fwrite(v->u.str.ptr, 1, v->u.str.len, f); break;
	case HL_TYPE_BYTES:
		for (size_t i = 0; i < v->u.bytes.len; i++)
			fprintf(f, "%02x", v->u.bytes.ptr[i]);
		break;
	default: fprintf(f, "<value of unknown type %d>", (int)v->type); break;
	}
}
