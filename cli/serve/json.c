/*
 * json.c - JSON <-> hl_value for `hyperlight serve`, with jansson.
 *
 * The mapping follows protobuf's JSON mapping where JSON itself falls
 * short: 64-bit integers come back as decimal strings (and are accepted as
 * numbers or strings), NaN and the infinities travel as the strings "NaN",
 * "Infinity" and "-Infinity", bytes as standard base64 with padding.
 * Every argument is checked against the function's signature here, before
 * a request is queued, so a bad request never reaches a sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int bad(struct sv_error *e, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad(struct sv_error *e, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	e->status = status;
	e->code = code;
	e->guest_code = 0;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- base64 (RFC 4648, section 4) --------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *sv_base64_encode(const uint8_t *p, size_t n, size_t *outlen)
{
	size_t len = (n + 2) / 3 * 4;
	char *o = malloc(len + 1), *q = o;
	if (!o)
		return NULL;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*q++ = b64[v >> 18];
		*q++ = b64[(v >> 12) & 63];
		*q++ = b64[(v >> 6) & 63];
		*q++ = b64[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*q++ = b64[v >> 18];
		*q++ = b64[(v >> 12) & 63];
		*q++ = '=';
		*q++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*q++ = b64[v >> 18];
		*q++ = b64[(v >> 12) & 63];
		*q++ = b64[(v >> 6) & 63];
		*q++ = '=';
	}
	*q = '\0';
	*outlen = len;
	return o;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict: length a multiple of 4, '=' only as the last one or two
 * characters, no whitespace, and the bits the padding drops are zero (the
 * one canonical encoding of each byte string). */
long sv_base64_decode(const char *s, size_t n, uint8_t *out, size_t *bad_at)
{
	if (n % 4) {
		*bad_at = n;
		return -1;
	}
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)s[i + j];
			if (c == '=' && i + 4 == n && j >= 2 && (j == 3 || s[i + 3] == '=')) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad || (v[j] = b64val(c)) < 0) {
				*bad_at = i + (size_t)j;
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		             (uint32_t)v[3];
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))) {
			*bad_at = i + 3 - (size_t)pad;
			return -1;
		}
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	return (long)o;
}

/* ---- Arguments ------------------------------------------------------------------------ */

/* A decimal string, as protobuf's mapping allows for 64-bit integers. */
static bool str_i64(const char *s, bool is_signed, int64_t *i, uint64_t *u)
{
	const char *d = s;
	if (is_signed && *d == '-')
		d++;
	if (*d < '0' || *d > '9' || strlen(d) > 20)
		return false;
	for (const char *p = d; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	errno = 0;
	char *end;
	if (is_signed)
		*i = strtoll(s, &end, 10);
	else
		*u = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static int arg(const struct sv_func *f, size_t idx, json_t *v, struct sv_request *r,
               struct sv_error *e)
{
	hl_type t = f->params[idx];
	hl_value *out = &r->args[idx];
	const char *tn = hl_type_name(t);
	size_t pos = idx + 1;
	out->type = t;
	switch (t) {
	case HL_TYPE_I32:
	case HL_TYPE_U32:
	case HL_TYPE_I64:
	case HL_TYPE_U64: {
		int64_t i = 0;
		uint64_t u = 0;
		bool sgn = t == HL_TYPE_I32 || t == HL_TYPE_I64;
		bool wide = t == HL_TYPE_I64 || t == HL_TYPE_U64;
		if (json_is_integer(v)) {
			i = json_integer_value(v);
			if (!sgn && i < 0)
				return bad(e, 400, "HL_E_ARG_TYPE",
				           "argument %zu (%s): %" PRId64 " is negative", pos, tn, i);
			u = (uint64_t)i;
		} else if (wide && json_is_string(v)) {
			if (!str_i64(json_string_value(v), sgn, &i, &u))
				return bad(e, 400, "HL_E_ARG_TYPE",
				           "argument %zu (%s): the string is not a decimal %s", pos,
				           tn, tn);
		} else {
			return bad(e, 400, "HL_E_ARG_TYPE",
			           "argument %zu (%s): expected an integer%s", pos, tn,
			           wide ? " or a decimal string" : "");
		}
		if (t == HL_TYPE_I32 && (i < INT32_MIN || i > INT32_MAX))
			return bad(e, 400, "HL_E_ARG_TYPE",
			           "argument %zu (i32): %" PRId64
			           " is out of range [-2147483648, 2147483647]",
			           pos, i);
		if (t == HL_TYPE_U32 && u > UINT32_MAX)
			return bad(e, 400, "HL_E_ARG_TYPE",
			           "argument %zu (u32): %" PRIu64 " is out of range [0, 4294967295]",
			           pos, u);
		switch (t) {
		case HL_TYPE_I32: out->u.i32 = (int32_t)i; break;
		case HL_TYPE_U32: out->u.u32 = (uint32_t)u; break;
		case HL_TYPE_I64: out->u.i64 = i; break;
		default: out->u.u64 = u; break;
		}
		return 0;
	}
	case HL_TYPE_F32:
	case HL_TYPE_F64: {
		double d;
		if (json_is_number(v)) {
			d = json_number_value(v);
		} else if (json_is_string(v) && strcmp(json_string_value(v), "NaN") == 0) {
			d = NAN;
		} else if (json_is_string(v) && strcmp(json_string_value(v), "Infinity") == 0) {
			d = INFINITY;
		} else if (json_is_string(v) && strcmp(json_string_value(v), "-Infinity") == 0) {
			d = -INFINITY;
		} else {
			return bad(e, 400, "HL_E_ARG_TYPE",
			           "argument %zu (%s): expected a number, \"NaN\", \"Infinity\" or "
			           "\"-Infinity\"",
			           pos, tn);
		}
		if (t == HL_TYPE_F64) {
			out->u.f64 = d;
			return 0;
		}
		if (isfinite(d) && fabs(d) > FLT_MAX)
			return bad(e, 400, "HL_E_ARG_TYPE",
			           "argument %zu (f32): %g is out of range", pos, d);
		if (d != 0 && (float)d == 0)
			return bad(e, 400, "HL_E_ARG_TYPE", "argument %zu (f32): %g rounds to 0",
			           pos, d);
		out->u.f32 = (float)d;
		return 0;
	}
	case HL_TYPE_BOOL:
		if (!json_is_boolean(v))
			return bad(e, 400, "HL_E_ARG_TYPE",
			           "argument %zu (bool): expected true or false", pos);
		out->u.b = json_is_true(v);
		return 0;
	case HL_TYPE_STRING:
		if (!json_is_string(v))
			return bad(e, 400, "HL_E_ARG_TYPE",
			           "argument %zu (string): expected a string", pos);
		/* jansson has checked the UTF-8 and, without JSON_ALLOW_NUL,
		 * refused \u0000, which a guest string cannot hold. */
		out->u.str.ptr = json_string_value(v);
		out->u.str.len = json_string_length(v);
		return 0;
	case HL_TYPE_BYTES: {
		if (!json_is_string(v))
			return bad(e, 400, "HL_E_ARG_TYPE",
			           "argument %zu (bytes): expected a base64 string", pos);
		size_t n = json_string_length(v), at = 0;
		uint8_t *buf = malloc(n / 4 * 3 + 1);
		if (!buf)
			return bad(e, 500, "HL_E_NOMEM", "out of memory");
		r->owned[idx] = buf;
		long len = sv_base64_decode(json_string_value(v), n, buf, &at);
		if (len < 0)
			return bad(e, 400, "HL_E_ARG_TYPE",
			           "argument %zu (bytes): invalid base64 at offset %zu (standard alphabet, "
			           "'=' padding, no whitespace)",
			           pos, at);
		out->u.bytes.ptr = buf;
		out->u.bytes.len = (size_t)len;
		return 0;
	}
	default:
		return bad(e, 400, "HL_E_ARG_TYPE",
		           "argument %zu: a parameter of type %s cannot be sent", pos, tn);
	}
}

/* The JSON a JavaScript handler takes or gives: one value of any type;
 * integers read as reals, so that any number JavaScript would read is
 * taken (and none beyond a double's range). Only checked: the text itself
 * is passed on. */
static bool js_json_ok(const char *text, size_t len, json_error_t *jerr)
{
	json_t *v = json_loadb(text, len,
	                       JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, jerr);
	json_decref(v);
	return v != NULL;
}

/* A JavaScript handler's argument: the body as it is, once it is JSON. */
static int js_arg(struct sv_request *r, struct sv_error *e)
{
	json_error_t jerr;
	if (r->len == 0)
		r->args[0] = hl_string("null", 4); /* no body: null */
	else if (js_json_ok(r->body, r->len, &jerr))
		r->args[0] = hl_string(r->body, r->len);
	else
		return bad(e, 400, "HL_E_JSON", "malformed JSON at line %d, column %d: %s",
		           jerr.line, jerr.column, jerr.text);
	r->nargs = 1;
	return 0;
}

int sv_json_args(const struct sv_func *f, struct sv_request *r, struct sv_error *e)
{
	if (f->json)
		return js_arg(r, e);
	json_t *root;
	if (r->len == 0) {
		root = json_array(); /* no body: no arguments */
	} else {
		json_error_t jerr;
		root = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
		if (!root)
			return bad(e, 400, "HL_E_JSON", "malformed JSON at line %d, column %d: %s",
			           jerr.line, jerr.column, jerr.text);
	}
	if (!root)
		return bad(e, 500, "HL_E_NOMEM", "out of memory");
	r->json = root;
	if (!json_is_array(root))
		return bad(e, 400, "HL_E_JSON", "the body must be a JSON array of the arguments");
	size_t n = json_array_size(root);
	if (n != f->nparams) {
		char sig[HL_MAX_PARAMS * 8 + 1] = "";
		for (size_t i = 0; i < f->nparams; i++) {
			strcat(sig, i ? ", " : "");
			strcat(sig, hl_type_name(f->params[i]));
		}
		return bad(e, 400, "HL_E_ARG_COUNT", "%s takes %zu argument%s (%s), got %zu",
		           f->name, f->nparams, f->nparams == 1 ? "" : "s", sig, n);
	}
	for (size_t i = 0; i < n; i++)
		if (arg(f, i, json_array_get(root, i), r, e) < 0)
			return -1;
	r->nargs = n;
	return 0;
}

void sv_json_args_free(struct sv_request *r)
{
	for (size_t i = 0; i < HL_MAX_PARAMS; i++) {
		free(r->owned[i]);
		r->owned[i] = NULL;
	}
	json_decref(r->json);
	r->json = NULL;
}

/* ---- Results and errors ---------------------------------------------------------------- */

static char *dump_flags(json_t *v, size_t flags, size_t *len)
{
	if (!v)
		return NULL;
	char *s = json_dumps(v, JSON_COMPACT | flags);
	json_decref(v);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *o = realloc(s, n + 2);
	if (!o) {
		free(s);
		return NULL;
	}
	o[n] = '\n';
	o[n + 1] = '\0';
	*len = n + 1;
	return o;
}

char *sv_json_dump(json_t *v, size_t *len)
{
	return dump_flags(v, 0, len);
}

/* The fewest significant digits (1..max) that read back as the same value. */
static int shortest_digits(double d, bool f32)
{
	char buf[64];
	int max = f32 ? 9 : 17;
	for (int p = 1; p < max; p++) {
		int n = snprintf(buf, sizeof buf, "%.*g", p, d);
		if (n < 0 || (size_t)n >= sizeof buf)
			continue; /* cannot happen for p <= 17, but the compiler cannot know */
		if (f32 ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
			return p;
	}
	return max;
}

json_t *sv_json_string_lossy(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	/* Not UTF-8 (a guest's message is untrusted bytes): keep ASCII. */
	char *c = malloc(n + 1);
	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	j = json_stringn(c, n);
	free(c);
	return j;
}

char *sv_json_result(const hl_value *v, size_t *len, struct sv_error *e)
{
	json_t *x = NULL;
	size_t flags = 0;
	char num[32];
	switch (v->type) {
	case HL_TYPE_VOID: x = json_null(); break;
	case HL_TYPE_I32: x = json_integer(v->u.i32); break;
	case HL_TYPE_U32: x = json_integer(v->u.u32); break;
	case HL_TYPE_I64:
		snprintf(num, sizeof num, "%" PRId64, v->u.i64);
		x = json_string(num);
		break;
	case HL_TYPE_U64:
		snprintf(num, sizeof num, "%" PRIu64, v->u.u64);
		x = json_string(num);
		break;
	case HL_TYPE_F32:
	case HL_TYPE_F64: {
		bool f32 = v->type == HL_TYPE_F32;
		double d = f32 ? (double)v->u.f32 : v->u.f64;
		if (isnan(d))
			x = json_string("NaN");
		else if (isinf(d))
			x = json_string(d > 0 ? "Infinity" : "-Infinity");
		else {
			x = json_real(d);
			flags = JSON_REAL_PRECISION(shortest_digits(d, f32));
		}
		break;
	}
	case HL_TYPE_BOOL: x = json_boolean(v->u.b); break;
	case HL_TYPE_STRING:
		x = json_stringn(v->u.str.ptr, v->u.str.len);
		if (!x) {
			bad(e, 500, "HL_E_GUEST_PROTOCOL",
			    "the guest returned a string that is not valid UTF-8 (%zu bytes)",
			    v->u.str.len);
			return NULL;
		}
		break;
	case HL_TYPE_BYTES: {
		size_t n;
		char *s = sv_base64_encode(v->u.bytes.ptr, v->u.bytes.len, &n);
		if (s)
			x = json_stringn_nocheck(s, n);
		free(s);
		break;
	}
	default:
		bad(e, 500, "HL_E_GUEST_PROTOCOL", "the guest returned a value of unknown type %d",
		    (int)v->type);
		return NULL;
	}
	json_t *o = json_object();
	if (!x || !o || json_object_set_new(o, "result", x) < 0) {
		json_decref(o);
		bad(e, 500, "HL_E_NOMEM", "out of memory");
		return NULL;
	}
	char *s = dump_flags(o, flags, len);
	if (!s)
		bad(e, 500, "HL_E_NOMEM", "out of memory");
	return s;
}

char *sv_json_js_result(const char *json, size_t json_len, size_t *len, struct sv_error *e)
{
	static const char head[] = "{\"result\":", tail[] = "}\n";
	json_error_t jerr;
	if (!js_json_ok(json, json_len, &jerr)) {
		bad(e, 500, "HL_E_GUEST_PROTOCOL",
		    "the handler's result is not JSON (%zu bytes; line %d, column %d: %s)",
		    json_len, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	size_t n = sizeof head - 1 + json_len + sizeof tail - 1;
	char *s = malloc(n + 1);
	if (!s) {
		bad(e, 500, "HL_E_NOMEM", "out of memory");
		return NULL;
	}
	memcpy(s, head, sizeof head - 1);
	memcpy(s + sizeof head - 1, json, json_len);
	memcpy(s + sizeof head - 1 + json_len, tail, sizeof tail);
	*len = n;
	return s;
}

char *sv_json_error(const struct sv_error *e, size_t *len)
{
	json_t *in = json_object(), *o = json_object();
	if (!in || !o) {
		json_decref(in);
		json_decref(o);
		return NULL;
	}
	json_object_set_new(in, "code", json_string(e->code));
	json_object_set_new(in, "message", sv_json_string_lossy(e->msg, strlen(e->msg)));
	if (e->status == 422 && e->guest_code)
		json_object_set_new(in, "guest_code", json_integer(e->guest_code));
	json_object_set_new(o, "error", in);
	return dump_flags(o, 0, len);
}
