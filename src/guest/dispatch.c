/* dispatch.c - the guest's function registry, the call loop, argument accessors and results. */
#define _GNU_SOURCE /* POSIX and Linux names (strnlen, MREMAP_*, clock ids) that strict C11 hides */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Runtime-detected misuse of the API by the guest (wrong accessor, bad
 * registration) aborts with this code, apart from the codes guests choose. */
#define HL__ABORT_MISUSE (-1)
/* hl_return_* of the wrong type: the call fails with this code. */
#define HL__E_TYPE (-4)

struct hl__func {
	char name[HL_MAX_NAME + 1];
	hl_guest_fn fn;
	uint8_t ret;
	uint8_t nparams;
	uint8_t params[HL_MAX_PARAMS];
};

enum hl__outcome { HL__NONE, HL__VALUE, HL__ERROR };

struct hl_call {
	const struct hl__func *func;
	const uint8_t *msg; /* the call message in the input buffer */
	const struct hl_wire_value *args;
	uint32_t argc;
	uint32_t total_len;
	enum hl__outcome outcome;
	int fail_code; /* set when an hl_return_* was refused */
	int host_rc;   /* hl_call_host_or_fail's error, across the longjmp */
	char fail_msg[256];
};

static struct hl__func *hl__funcs;
static unsigned hl__nfuncs, hl__capfuncs;
static int hl__dispatching;
static struct hl_call hl__the_call;
static jmp_buf hl__call_jmp;
hl_call *hl__current;

static const char *const hl__type_names[HL_TYPE__COUNT] = {
	"void", "i32", "u32", "i64", "u64", "f32", "f64", "bool", "string", "bytes",
};

const char *hl__tname(unsigned t)
{
	return t < HL_TYPE__COUNT ? hl__type_names[t] : "invalid type";
}

/* ---- registration ---- */

void hl_register_function(const char *name, hl_guest_fn fn, hl_type ret, const hl_type *params,
                          unsigned nparams)
{
	if (hl__dispatching)
		hl_abort(HL__ABORT_MISUSE, "hl_register_function(%s): called after hl_dispatch",
		         name ? name : "(null)");
	if (!name || !fn)
		hl_abort(HL__ABORT_MISUSE, "hl_register_function: %s is NULL", name ? "fn" : "name");
	size_t len = strnlen(name, HL_MAX_NAME + 1);
	if (len == 0 || len > HL_MAX_NAME)
		hl_abort(HL__ABORT_MISUSE,
		         "hl_register_function: name '%.64s' must have 1 to %u bytes", name,
		         HL_MAX_NAME);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.'))
			hl_abort(HL__ABORT_MISUSE,
			         "hl_register_function(%s): names may only use [A-Za-z0-9_.]", name);
	}
	if ((unsigned)ret >= HL_TYPE__COUNT)
		hl_abort(HL__ABORT_MISUSE, "hl_register_function(%s): invalid return type %u", name,
		         (unsigned)ret);
	if (nparams > HL_MAX_PARAMS)
		hl_abort(HL__ABORT_MISUSE, "hl_register_function(%s): %u parameters, at most %u",
		         name, nparams, HL_MAX_PARAMS);
	if (nparams && !params)
		hl_abort(HL__ABORT_MISUSE, "hl_register_function(%s): params is NULL", name);
	for (unsigned i = 0; i < nparams; i++)
		if (params[i] == HL_TYPE_VOID || (unsigned)params[i] >= HL_TYPE__COUNT)
			hl_abort(HL__ABORT_MISUSE,
			         "hl_register_function(%s): parameter %u has type %s", name, i,
			         hl__tname((unsigned)params[i]));
	for (unsigned i = 0; i < hl__nfuncs; i++)
		if (strcmp(hl__funcs[i].name, name) == 0)
			hl_abort(HL__ABORT_MISUSE, "hl_register_function(%s): registered twice",
			         name);
	if (hl__nfuncs == HL_MAX_FUNCTIONS)
		hl_abort(HL__ABORT_MISUSE, "hl_register_function(%s): more than %u functions", name,
		         HL_MAX_FUNCTIONS);
	if (hl__nfuncs == hl__capfuncs) {
		unsigned cap = hl__capfuncs ? hl__capfuncs * 2 : 32;
		struct hl__func *p = realloc(hl__funcs, cap * sizeof *p);
		if (!p)
			hl_abort(HL__ABORT_MISUSE, "hl_register_function(%s): out of memory", name);
		hl__funcs = p;
		hl__capfuncs = cap;
	}
	struct hl__func *f = &hl__funcs[hl__nfuncs++];
	memset(f, 0, sizeof *f);
	memcpy(f->name, name, len);
	f->fn = fn;
	f->ret = (uint8_t)ret;
	f->nparams = (uint8_t)nparams;
	for (unsigned i = 0; i < nparams; i++)
		f->params[i] = (uint8_t)params[i];
}

/* ---- results ---- */

static uint64_t hl__out_cap(void)
{
	return hl__out_size < HL_MAX_RECORD ? hl__out_size : HL_MAX_RECORD;
}

/* Writes the result record at offset 0; `p` (len bytes) becomes the
 * payload, NUL-terminated if `nul`. Moves the free offset past it. */
static int hl__put_result(uint32_t status, int32_t code, uint32_t type, uint64_t bits,
                          const void *p, size_t len, int nul)
{
	uint8_t *out = hl__out();
	struct hl_result r;
	uint64_t total = sizeof r;

	if (type == HL_TYPE_STRING || type == HL_TYPE_BYTES) {
		if (len > UINT32_MAX || len > hl__out_cap() - sizeof r - (nul ? 1 : 0))
			return HL_GUEST_E_TOO_LARGE;
		/* memmove: the source may be an earlier record in this buffer. */
		if (len)
			memmove(out + sizeof r, p, len);
		if (nul)
			out[sizeof r + len] = 0;
		bits = sizeof r;
		total += len + (nul ? 1 : 0);
	}
	memset(&r, 0, sizeof r);
	r.magic = HL_RESULT_MAGIC;
	r.status = status;
	r.total_len = (uint32_t)total;
	r.code = code;
	r.value.type = type;
	r.value.len = (type == HL_TYPE_STRING || type == HL_TYPE_BYTES) ? (uint32_t)len : 0;
	r.value.bits = bits;
	memcpy(out, &r, sizeof r);
	hl__out_free = HL_ALIGN8(total);
	return 0;
}

/* An error result whose message is formatted straight into the buffer,
 * cut to fit it. */
static void hl__put_verror(uint32_t status, int32_t code, const char *fmt, va_list ap)
{
	uint8_t *out = hl__out();
	size_t room = (size_t)(hl__out_cap() - sizeof(struct hl_result)); /* >= 1: boot.c */
	char *msg = (char *)out + sizeof(struct hl_result);
	int n = vsnprintf(msg, room, fmt, ap);
	size_t len = n < 0 ? 0 : (size_t)n < room ? (size_t)n : room - 1;
	msg[len] = 0;
	hl__put_result(status, code, HL_TYPE_STRING, 0, msg, len, 1);
}

static void hl__put_error(uint32_t status, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void hl__put_error(uint32_t status, int32_t code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hl__put_verror(status, code, fmt, ap);
	va_end(ap);
}

static void hl__check_call(const hl_call *c, const char *what)
{
	if (!c || c != hl__current)
		hl_abort(HL__ABORT_MISUSE, "%s: not inside the guest function it was given to",
		         what);
}

static int hl__ret(hl_call *c, hl_type t, const char *what, uint64_t bits, const void *p, size_t len)
{
	hl__check_call(c, what);
	if (c->func->ret != t) {
		c->fail_code = HL__E_TYPE;
		snprintf(c->fail_msg, sizeof c->fail_msg, "%s: %s returns %s, not %s", what,
		         c->func->name, hl__tname(c->func->ret), hl__tname(t));
		return HL__E_TYPE;
	}
	int r = hl__put_result(HL_STATUS_OK, 0, t, bits, p, len, t == HL_TYPE_STRING);
	if (r < 0) {
		c->fail_code = r;
		snprintf(c->fail_msg, sizeof c->fail_msg,
		         "%s: %s's result of %zu bytes does not fit the output buffer (%llu bytes)",
		         what, c->func->name, len, (unsigned long long)hl__out_size);
		return r;
	}
	c->outcome = HL__VALUE;
	return 0;
}

int hl_return_void(hl_call *c)
{
	return hl__ret(c, HL_TYPE_VOID, "hl_return_void", 0, NULL, 0);
}

int hl_return_i32(hl_call *c, int32_t v)
{
	return hl__ret(c, HL_TYPE_I32, "hl_return_i32", (uint64_t)(int64_t)v, NULL, 0);
}

int hl_return_u32(hl_call *c, uint32_t v)
{
	return hl__ret(c, HL_TYPE_U32, "hl_return_u32", v, NULL, 0);
}

int hl_return_i64(hl_call *c, int64_t v)
{
	return hl__ret(c, HL_TYPE_I64, "hl_return_i64", (uint64_t)v, NULL, 0);
}

int hl_return_u64(hl_call *c, uint64_t v)
{
	return hl__ret(c, HL_TYPE_U64, "hl_return_u64", v, NULL, 0);
}

int hl_return_f32(hl_call *c, float v)
{
	uint32_t b;
	memcpy(&b, &v, sizeof b);
	return hl__ret(c, HL_TYPE_F32, "hl_return_f32", b, NULL, 0);
}

int hl_return_f64(hl_call *c, double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof b);
	return hl__ret(c, HL_TYPE_F64, "hl_return_f64", b, NULL, 0);
}

int hl_return_bool(hl_call *c, bool v)
{
	return hl__ret(c, HL_TYPE_BOOL, "hl_return_bool", v ? 1 : 0, NULL, 0);
}

int hl_return_string(hl_call *c, const char *s, size_t len)
{
	if (!s && len)
		hl_abort(HL__ABORT_MISUSE, "hl_return_string: NULL string of %zu bytes", len);
	return hl__ret(c, HL_TYPE_STRING, "hl_return_string", 0, s, len);
}

int hl_return_bytes(hl_call *c, const void *p, size_t len)
{
	if (!p && len)
		hl_abort(HL__ABORT_MISUSE, "hl_return_bytes: NULL pointer for %zu bytes", len);
	return hl__ret(c, HL_TYPE_BYTES, "hl_return_bytes", 0, p, len);
}

int hl_return_error(hl_call *c, int code, const char *fmt, ...)
{
	hl__check_call(c, "hl_return_error");
	va_list ap;
	va_start(ap, fmt);
	hl__put_verror(HL_STATUS_ERROR, code, fmt, ap);
	va_end(ap);
	c->outcome = HL__ERROR;
	return -1;
}

/* ---- arguments ---- */

static const struct hl_wire_value *hl__arg(const hl_call *c, unsigned i, hl_type t, const char *what)
{
	hl__check_call(c, what);
	if (i >= c->argc)
		hl_abort(HL__ABORT_MISUSE, "%s(%u) in %s: the function has %u parameter%s", what, i,
		         c->func->name, c->argc, c->argc == 1 ? "" : "s");
	if (c->func->params[i] != t)
		hl_abort(HL__ABORT_MISUSE, "%s(%u) in %s: parameter %u is %s", what, i,
		         c->func->name, i, hl__tname(c->func->params[i]));
	return &c->args[i];
}

unsigned hl_arg_count(const hl_call *c)
{
	hl__check_call(c, "hl_arg_count");
	return c->argc;
}

hl_type hl_arg_type(const hl_call *c, unsigned i)
{
	hl__check_call(c, "hl_arg_type");
	if (i >= c->argc)
		hl_abort(HL__ABORT_MISUSE, "hl_arg_type(%u) in %s: the function has %u parameters",
		         i, c->func->name, c->argc);
	return (hl_type)c->func->params[i];
}

int32_t hl_arg_i32(const hl_call *c, unsigned i)
{
	return (int32_t)(uint32_t)hl__arg(c, i, HL_TYPE_I32, "hl_arg_i32")->bits;
}

uint32_t hl_arg_u32(const hl_call *c, unsigned i)
{
	return (uint32_t)hl__arg(c, i, HL_TYPE_U32, "hl_arg_u32")->bits;
}

int64_t hl_arg_i64(const hl_call *c, unsigned i)
{
	return (int64_t)hl__arg(c, i, HL_TYPE_I64, "hl_arg_i64")->bits;
}

uint64_t hl_arg_u64(const hl_call *c, unsigned i)
{
	return hl__arg(c, i, HL_TYPE_U64, "hl_arg_u64")->bits;
}

float hl_arg_f32(const hl_call *c, unsigned i)
{
	uint32_t b = (uint32_t)hl__arg(c, i, HL_TYPE_F32, "hl_arg_f32")->bits;
	float v;
	memcpy(&v, &b, sizeof v);
	return v;
}

double hl_arg_f64(const hl_call *c, unsigned i)
{
	uint64_t b = hl__arg(c, i, HL_TYPE_F64, "hl_arg_f64")->bits;
	double v;
	memcpy(&v, &b, sizeof v);
	return v;
}

bool hl_arg_bool(const hl_call *c, unsigned i)
{
	return hl__arg(c, i, HL_TYPE_BOOL, "hl_arg_bool")->bits != 0;
}

const char *hl_arg_string(const hl_call *c, unsigned i, size_t *len)
{
	const struct hl_wire_value *w = hl__arg(c, i, HL_TYPE_STRING, "hl_arg_string");
	if (len)
		*len = w->len;
	return (const char *)c->msg + w->bits;
}

const uint8_t *hl_arg_bytes(const hl_call *c, unsigned i, size_t *len)
{
	const struct hl_wire_value *w = hl__arg(c, i, HL_TYPE_BYTES, "hl_arg_bytes");
	if (len)
		*len = w->len;
	return c->msg + w->bits;
}

const char *hl_call_name(const hl_call *c)
{
	hl__check_call(c, "hl_call_name");
	return c->func->name;
}

/* ---- the call loop ---- */

uint64_t hl__hostcall_result_off(void)
{
	return hl__current ? HL_ALIGN8((uint64_t)hl__current->total_len) : 0;
}

_Noreturn void hl__fail_call_from_host(int rc)
{
	if (!hl__current)
		hl_abort(rc, "hl_call_host_or_fail outside a guest function: %s", hl_host_error());
	hl__current->host_rc = rc;
	longjmp(hl__call_jmp, 1);
}

/* Checks the call message the host wrote; the host checked it against the
 * same table, so a failure here means a host bug, not a guest crash. */
static const char *hl__parse_call(struct hl_call *c, char *why, size_t whylen)
{
	const uint8_t *in = hl__in();
	struct hl_call_msg m;

	memcpy(&m, in, sizeof m);
	if (m.magic != HL_CALL_MAGIC)
		return "call message with bad magic";
	if (m.total_len < sizeof m || m.total_len > hl__in_size)
		return "call message length outside the input buffer";
	if (m.func_index >= hl__nfuncs)
		return "call of a function index beyond the function table";
	const struct hl__func *f = &hl__funcs[m.func_index];
	if (m.argc != f->nparams) {
		snprintf(why, whylen, "call of %s with %u arguments, it takes %u", f->name, m.argc,
		         f->nparams);
		return why;
	}
	uint64_t fixed = sizeof m + (uint64_t)m.argc * sizeof(struct hl_wire_value);
	if (fixed > m.total_len)
		return "call message shorter than its argument list";
	const struct hl_wire_value *args = (const struct hl_wire_value *)(in + sizeof m);
	for (uint32_t i = 0; i < m.argc; i++) {
		struct hl_wire_value w;
		memcpy(&w, &args[i], sizeof w);
		const char *bad = NULL;
		if (w.type != f->params[i]) {
			bad = "has the wrong type";
		} else if (w.type == HL_TYPE_BOOL && w.bits > 1) {
			bad = "is a bool other than 0 or 1";
		} else if (w.type == HL_TYPE_STRING || w.type == HL_TYPE_BYTES) {
			uint64_t end = w.bits + w.len + (w.type == HL_TYPE_STRING ? 1 : 0);
			if (w.bits < fixed || w.bits > m.total_len || end > m.total_len)
				bad = "has a payload outside the call message";
			else if (w.type == HL_TYPE_STRING &&
			         (in[w.bits + w.len] != 0 || memchr(in + w.bits, 0, w.len)))
				bad = "is a string without its NUL or with an embedded NUL";
		}
		if (bad) {
			snprintf(why, whylen, "call of %s: argument %u %s", f->name, i, bad);
			return why;
		}
	}
	memset(c, 0, sizeof *c);
	c->func = f;
	c->msg = in;
	c->args = args;
	c->argc = m.argc;
	c->total_len = m.total_len;
	return NULL;
}

static void hl__flush_stdio(void)
{
	/* The function's output must reach the host before its result. A
	 * print that did not fit leaves an error flag that would otherwise
	 * stick to the stream for every later call. */
	fflush(stdout);
	fflush(stderr);
	clearerr(stdout);
	clearerr(stderr);
}

/* Decides the call's outcome after the function returned `rc`. */
static void hl__finish(struct hl_call *c, int rc)
{
	if (c->fail_code) {
		hl__put_error(HL_STATUS_ERROR, c->fail_code, "%s", c->fail_msg);
	} else if (c->outcome == HL__ERROR) {
		/* the record hl_return_error wrote stands */
	} else if (rc != 0) {
		hl__put_error(HL_STATUS_ERROR, rc, "%s returned %d without an error message",
		              c->func->name, rc);
	} else if (c->outcome == HL__VALUE) {
		/* the result stands */
	} else if (c->func->ret == HL_TYPE_VOID) {
		hl__put_result(HL_STATUS_OK, 0, HL_TYPE_VOID, 0, NULL, 0, 0);
	} else {
		hl__put_error(HL_STATUS_ERROR, HL_GUEST_E_PROTOCOL, "%s returned without a result",
		              c->func->name);
	}
}

/* Kept apart from hl__serve so that no local lives across setjmp. */
static int hl__invoke(struct hl_call *c)
{
	if (setjmp(hl__call_jmp) != 0)
		return 1;
	int rc = c->func->fn(c);
	hl__flush_stdio();
	hl__finish(c, rc);
	return 0;
}

static void hl__serve(void)
{
	struct hl_call *c = &hl__the_call;
	char why[200];

	/* Until the function sets a result, other records go after an empty
	 * result header. */
	hl__out_free = HL_ALIGN8(sizeof(struct hl_result));
	const char *err = hl__parse_call(c, why, sizeof why);
	if (err) {
		hl__put_error(HL_STATUS_ERROR, HL_GUEST_E_PROTOCOL, "guest runtime: %s", err);
	} else {
		hl__current = c;
		if (hl__invoke(c) != 0) {
			/* hl_call_host_or_fail unwound the function. */
			hl__flush_stdio();
			if (c->host_rc == HL_GUEST_E_HOST)
				hl__put_error(HL_STATUS_HOST_ERROR, c->host_rc, "%s",
				              hl_host_error());
			else
				hl__put_error(HL_STATUS_ERROR, c->host_rc, "%s", hl_host_error());
		}
		hl__current = NULL;
	}
	hl__out_free = 0;
}

_Noreturn void hl_dispatch(void)
{
	if (hl__dispatching)
		hl_abort(HL__ABORT_MISUSE, "hl_dispatch called again (from a guest function?)");
	hl__dispatching = 1;
	/* Whatever main() printed goes out before the table. */
	fflush(stdout);
	fflush(stderr);

	uint64_t size = sizeof(struct hl_func_table) +
	                (uint64_t)hl__nfuncs * sizeof(struct hl_func_desc);
	for (unsigned i = 0; i < hl__nfuncs; i++)
		size += strlen(hl__funcs[i].name) + 1;
	if (size > hl__out_cap())
		hl_abort(HL__ABORT_MISUSE,
		         "the function table (%u functions, %llu bytes) does not fit "
		         "the output buffer (%llu bytes)",
		         hl__nfuncs, (unsigned long long)size, (unsigned long long)hl__out_size);

	uint8_t *out = hl__out();
	uint64_t name_off = sizeof(struct hl_func_table) +
	                    (uint64_t)hl__nfuncs * sizeof(struct hl_func_desc);
	for (unsigned i = 0; i < hl__nfuncs; i++) {
		const struct hl__func *f = &hl__funcs[i];
		struct hl_func_desc d;
		size_t n = strlen(f->name);
		memset(&d, 0, sizeof d);
		d.name_off = (uint32_t)name_off;
		d.name_len = (uint16_t)n;
		d.ret = f->ret;
		d.nparams = f->nparams;
		memcpy(d.params, f->params, sizeof d.params);
		memcpy(out + sizeof(struct hl_func_table) + (size_t)i * sizeof d, &d, sizeof d);
		memcpy(out + name_off, f->name, n + 1);
		name_off += n + 1;
	}
	struct hl_func_table t = {HL_FUNC_TABLE_MAGIC, hl__nfuncs, (uint32_t)size, 0};
	memcpy(out, &t, sizeof t);
	hl_outl(HL_PORT_DONE, 0);

	/* The host resumes here with a call message at input offset 0. */
	for (;;) {
		hl__serve();
		hl_outl(HL_PORT_DONE, 0);
	}
}
