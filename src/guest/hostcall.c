/* hostcall.c - calls from the guest to host functions: the request record and the checked reply. */
#define _GNU_SOURCE /* POSIX and Linux names (strnlen, MREMAP_*, clock ids) that strict C11 hides */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The message of the last failed host call; a copy, because the input
 * buffer it came in is overwritten by the next call. */
static char hl__host_err[2048];

const char *hl_host_error(void)
{
	return hl__host_err;
}

static int hl__hc_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int hl__hc_fail(int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hl__host_err, sizeof hl__host_err, fmt, ap);
	va_end(ap);
	return rc;
}

/* The payload of a string or bytes value, or NULL for a scalar. */
static const void *hl__payload(const hl_value *v, size_t *len, int *nul)
{
	*nul = 0;
	switch (v->type) {
	case HL_TYPE_STRING:
		*len = v->u.str.len;
		*nul = 1;
		return v->u.str.ptr ? (const void *)v->u.str.ptr : (const void *)"";
	case HL_TYPE_BYTES:
		*len = v->u.bytes.len;
		return v->u.bytes.ptr ? (const void *)v->u.bytes.ptr : (const void *)"";
	default: *len = 0; return NULL;
	}
}

static uint64_t hl__scalar_bits(const hl_value *v)
{
	uint64_t b = 0;
	uint32_t b32;
	switch (v->type) {
	case HL_TYPE_I32: b = (uint64_t)(int64_t)v->u.i32; break;
	case HL_TYPE_U32: b = v->u.u32; break;
	case HL_TYPE_I64: b = (uint64_t)v->u.i64; break;
	case HL_TYPE_U64: b = v->u.u64; break;
	case HL_TYPE_F32:
		memcpy(&b32, &v->u.f32, sizeof b32);
		b = b32;
		break;
	case HL_TYPE_F64: memcpy(&b, &v->u.f64, sizeof b); break;
	case HL_TYPE_BOOL: b = v->u.b ? 1 : 0; break;
	default: break;
	}
	return b;
}

/* Reads and checks the host's reply; see abi.h for where it lives. */
static int hl__read_reply(const char *name, hl_type ret, hl_value *result)
{
	const uint8_t *in = hl__in();
	uint64_t off = hl__hostcall_result_off();
	struct hl_result r;

	if (off > hl__in_size || hl__in_size - off < sizeof r)
		return hl__hc_fail(HL_GUEST_E_PROTOCOL,
		                   "host call %s: no room for the reply at input offset %llu", name,
		                   (unsigned long long)off);
	const uint8_t *rec = in + off;
	memcpy(&r, rec, sizeof r);
	uint64_t room = hl__in_size - off;
	if (r.magic != HL_RESULT_MAGIC || r.total_len < sizeof r || r.total_len > room)
		return hl__hc_fail(HL_GUEST_E_PROTOCOL,
		                   "host call %s: malformed reply (magic 0x%08x, length %u)", name,
		                   r.magic, r.total_len);

	const struct hl_wire_value *w = &r.value;
	const char *payload = NULL;
	if (w->type == HL_TYPE_STRING || w->type == HL_TYPE_BYTES) {
		uint64_t nul = w->type == HL_TYPE_STRING ? 1 : 0;
		if (w->bits < sizeof r || w->bits > r.total_len ||
		    (uint64_t)w->len + nul > r.total_len - w->bits)
			return hl__hc_fail(HL_GUEST_E_PROTOCOL,
			                   "host call %s: reply payload outside the reply", name);
		payload = (const char *)rec + w->bits;
		if (nul && (payload[w->len] != 0 || memchr(payload, 0, w->len)))
			return hl__hc_fail(HL_GUEST_E_PROTOCOL,
			                   "host call %s: reply string without its NUL", name);
	}

	if (r.status == HL_STATUS_ERROR || r.status == HL_STATUS_HOST_ERROR) {
		if (w->type != HL_TYPE_STRING)
			return hl__hc_fail(HL_GUEST_E_PROTOCOL,
			                   "host call %s: error reply without a message", name);
		return hl__hc_fail(HL_GUEST_E_HOST, "%s", payload);
	}
	if (r.status != HL_STATUS_OK)
		return hl__hc_fail(HL_GUEST_E_PROTOCOL,
		                   "host call %s: reply with unknown status %u", name, r.status);
	if (w->type != (uint32_t)ret)
		return hl__hc_fail(HL_GUEST_E_PROTOCOL,
		                   "host call %s: the host returned %s, the guest expects %s", name,
		                   hl__tname(w->type), hl__tname((unsigned)ret));
	if (w->type == HL_TYPE_BOOL && w->bits > 1)
		return hl__hc_fail(HL_GUEST_E_PROTOCOL,
		                   "host call %s: bool reply other than 0 or 1", name);
	if (!result)
		return 0;

	hl_value v;
	memset(&v, 0, sizeof v);
	v.type = ret;
	uint32_t b32 = (uint32_t)w->bits;
	switch (ret) {
	case HL_TYPE_VOID: break;
	case HL_TYPE_I32: v.u.i32 = (int32_t)b32; break;
	case HL_TYPE_U32: v.u.u32 = b32; break;
	case HL_TYPE_I64: v.u.i64 = (int64_t)w->bits; break;
	case HL_TYPE_U64: v.u.u64 = w->bits; break;
	case HL_TYPE_F32: memcpy(&v.u.f32, &b32, sizeof b32); break;
	case HL_TYPE_F64: memcpy(&v.u.f64, &w->bits, sizeof w->bits); break;
	case HL_TYPE_BOOL: v.u.b = w->bits != 0; break;
	case HL_TYPE_STRING:
		v.u.str.ptr = payload;
		v.u.str.len = w->len;
		break;
	case HL_TYPE_BYTES:
		v.u.bytes.ptr = (const uint8_t *)payload;
		v.u.bytes.len = w->len;
		break;
	default: break;
	}
	*result = v;
	return 0;
}

int hl_call_host(const char *name, hl_type ret, hl_value *result, const hl_value *args,
                 unsigned nargs)
{
	hl__host_err[0] = 0;
	if (!name || (nargs && !args))
		hl_abort(-1, "hl_call_host: %s is NULL", name ? "args" : "name");
	if ((unsigned)ret >= HL_TYPE__COUNT)
		hl_abort(-1, "hl_call_host(%s): invalid return type %u", name, (unsigned)ret);
	size_t name_len = strnlen(name, HL_MAX_NAME + 1);
	if (name_len == 0 || name_len > HL_MAX_NAME)
		return hl__hc_fail(HL_GUEST_E_TOO_LARGE,
		                   "hl_call_host: name '%.64s' must have 1 to %u bytes", name,
		                   HL_MAX_NAME);
	if (nargs > HL_MAX_PARAMS)
		return hl__hc_fail(HL_GUEST_E_TOO_LARGE,
		                   "hl_call_host(%s): %u arguments, at most %u", name, nargs,
		                   HL_MAX_PARAMS);

	/* Lay the record out first so nothing is written unless it fits. */
	uint64_t fixed = sizeof(struct hl_hostcall) + (uint64_t)nargs * sizeof(struct hl_wire_value);
	uint64_t size = HL_ALIGN8(fixed + name_len + 1);
	for (unsigned i = 0; i < nargs; i++) {
		if ((unsigned)args[i].type >= HL_TYPE__COUNT || args[i].type == HL_TYPE_VOID)
			hl_abort(-1, "hl_call_host(%s): argument %u has invalid type %u", name, i,
			         (unsigned)args[i].type);
		size_t len;
		int nul;
		if (hl__payload(&args[i], &len, &nul)) {
			if (len > UINT32_MAX)
				return hl__hc_fail(HL_GUEST_E_TOO_LARGE,
				                   "hl_call_host(%s): argument %u has %zu bytes",
				                   name, i, len);
			size = HL_ALIGN8(size + len + (uint64_t)nul);
		}
	}
	uint64_t avail = hl__out_avail();
	if (size > avail)
		return hl__hc_fail(HL_GUEST_E_TOO_LARGE,
		                   "hl_call_host(%s): %llu bytes of arguments do not fit the %llu bytes "
		                   "left in the output buffer",
		                   name, (unsigned long long)size, (unsigned long long)avail);

	uint64_t off = hl__out_free;
	uint8_t *rec = hl__out() + off;
	memcpy(rec + fixed, name, name_len);
	rec[fixed + name_len] = 0;
	uint64_t pos = HL_ALIGN8(fixed + name_len + 1);
	for (unsigned i = 0; i < nargs; i++) {
		struct hl_wire_value w = {(uint32_t)args[i].type, 0, 0};
		size_t len;
		int nul;
		const void *p = hl__payload(&args[i], &len, &nul);
		if (p) {
			/* memmove: an argument may point at an earlier record here. */
			memmove(rec + pos, p, len);
			if (nul)
				rec[pos + len] = 0;
			w.len = (uint32_t)len;
			w.bits = pos;
			pos = HL_ALIGN8(pos + len + (uint64_t)nul);
		} else {
			w.bits = hl__scalar_bits(&args[i]);
		}
		memcpy(rec + sizeof(struct hl_hostcall) + (size_t)i * sizeof w, &w, sizeof w);
	}
	struct hl_hostcall h = {HL_HOSTCALL_MAGIC,  (uint32_t)size, (uint32_t)fixed,
	                        (uint32_t)name_len, nargs,          (uint32_t)ret};
	memcpy(rec, &h, sizeof h);
	hl_outl(HL_PORT_HOSTCALL, (uint32_t)off);

	return hl__read_reply(name, ret, result);
}

hl_value hl_call_host_or_fail(const char *name, hl_type ret, const hl_value *args, unsigned nargs)
{
	hl_value v;
	memset(&v, 0, sizeof v);
	v.type = ret;
	int rc = hl_call_host(name, ret, &v, args, nargs);
	if (rc < 0)
		hl__fail_call_from_host(rc);
	return v;
}
