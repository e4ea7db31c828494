/*
 * records.c - decoding and validation of the records a guest writes (see records.h).
 *
 * Everything here works on the host's private copy of a record and on the
 * limits it is given; nothing touches a sandbox, so the fuzz targets in
 * fuzz/ call these functions directly with arbitrary bytes.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "records.h"

static const char *const vector_names[32] = {
	"divide error (#DE)",
	"debug (#DB)",
	"NMI",
	"breakpoint (#BP)",
	"overflow (#OF)",
	"bound range (#BR)",
	"invalid opcode (#UD)",
	"device not available (#NM)",
	"double fault (#DF)",
	"coprocessor segment overrun",
	"invalid TSS (#TS)",
	"segment not present (#NP)",
	"stack-segment fault (#SS)",
	"general protection (#GP)",
	"page fault (#PF)",
	"reserved (15)",
	"x87 floating point (#MF)",
	"alignment check (#AC)",
	"machine check (#MC)",
	"SIMD floating point (#XM)",
	"virtualization (#VE)",
	"control protection (#CP)",
	"reserved (22)",
	"reserved (23)",
	"reserved (24)",
	"reserved (25)",
	"reserved (26)",
	"reserved (27)",
	"hypervisor injection (#HV)",
	"VMM communication (#VC)",
	"security (#SX)",
	"reserved (31)",
};

bool hl__rec_value(const struct hl_wire_value *w, const uint8_t *rec, uint64_t len,
                   uint64_t min_off, hl_value *out)
{
	out->type = (hl_type)w->type;
	switch (w->type) {
	case HL_TYPE_I32: out->u.i32 = (int32_t)(uint32_t)w->bits; return true;
	case HL_TYPE_U32: out->u.u32 = (uint32_t)w->bits; return true;
	case HL_TYPE_I64: out->u.i64 = (int64_t)w->bits; return true;
	case HL_TYPE_U64: out->u.u64 = w->bits; return true;
	case HL_TYPE_F32: {
		uint32_t b = (uint32_t)w->bits;
		memcpy(&out->u.f32, &b, 4);
		return true;
	}
	case HL_TYPE_F64: memcpy(&out->u.f64, &w->bits, 8); return true;
	case HL_TYPE_BOOL:
		if (w->bits > 1)
			return false;
		out->u.b = w->bits != 0;
		return true;
	case HL_TYPE_STRING:
		/* payload plus its NUL inside the record, after the fixed part */
		if (w->bits < min_off || !hl__in_range(w->bits, (uint64_t)w->len + 1, len) ||
		    rec[w->bits + w->len] != 0 || memchr(rec + w->bits, 0, w->len))
			return false;
		out->u.str.ptr = (const char *)rec + w->bits;
		out->u.str.len = w->len;
		return true;
	case HL_TYPE_BYTES:
		if (w->bits < min_off || !hl__in_range(w->bits, w->len, len))
			return false;
		out->u.bytes.ptr = rec + w->bits;
		out->u.bytes.len = w->len;
		return true;
	default: return false;
	}
}

/* ---- exception --------------------------------------------------------------------- */

const char *hl__rec_exception(const struct hl_exception *e)
{
	if (e->magic != HL_EXCEPTION_MAGIC || e->vector > 255)
		return "exception record with bad magic or vector";
	return NULL;
}

const char *hl__rec_region(const struct hl__layout *l, uint64_t a)
{
	if (a < HL_PAGE_SIZE)
		return " (NULL pointer dereference)";
	if (a >= l->stack_guard && a < l->stack_guard + HL_PAGE_SIZE)
		return " (stack guard page: stack overflow)";
	if (a >= l->image_lo && a < l->image_hi)
		return " (guest image)";
	if (a >= l->heap && a < l->heap + l->heap_size)
		return " (heap)";
	if (a >= l->stack && a < l->stack + l->stack_size)
		return " (stack)";
	if (a >= l->ist && a < l->ist + l->ist_size)
		return " (exception stacks)";
	if (a >= l->pt && a < l->pt + l->pt_size)
		return " (page tables)";
	if (a < l->mem_base || a >= l->mem_base + l->mem_size)
		return " (outside guest memory)";
	return "";
}

void hl__rec_exception_message(const struct hl_exception *e, const struct hl__layout *lay,
                               char *buf, size_t cap)
{
	if (!cap)
		return;
	const char *name = e->vector < 32 ? vector_names[e->vector] : "unexpected interrupt";
	if (e->vector == 14) {
		const char *region = hl__rec_region(lay, e->cr2);
		char detail[96];
		snprintf(detail, sizeof detail, "%s %s, %s",
		         (e->error_code & 16)  ? "instruction fetch"
		         : (e->error_code & 2) ? "write"
		                               : "read",
		         (e->error_code & 1) ? "of a page without that permission"
		                             : "of an unmapped page",
		         region[0] ? region + 1 : "(mapped region)");
		snprintf(buf, cap,
		         "guest fault: %s, vector %u, at RIP 0x%llx: %s at address 0x%llx, error code 0x%llx",
		         name, e->vector, (unsigned long long)e->rip, detail,
		         (unsigned long long)e->cr2, (unsigned long long)e->error_code);
		return;
	}
	snprintf(buf, cap,
	         "guest fault: %s, vector %u, at RIP 0x%llx, RSP 0x%llx, error code 0x%llx", name,
	         e->vector, (unsigned long long)e->rip, (unsigned long long)e->rsp,
	         (unsigned long long)e->error_code);
}

/* ---- abort, print, log ------------------------------------------------------------------ */

const char *hl__rec_abort(const struct hl_abort *a, uint64_t off, uint64_t buf_size,
                          uint64_t max_msg, struct hl__span *msg)
{
	if (a->magic != HL_ABORT_MAGIC)
		return "abort record with bad magic";
	if (off > UINT64_MAX - sizeof *a || !hl__in_range(off + sizeof *a, a->msg_len, buf_size))
		return "abort message beyond the output buffer";
	msg->off = off + sizeof *a;
	msg->len = a->msg_len < max_msg ? a->msg_len : max_msg;
	return NULL;
}

/*
 * The length of the well-formed UTF-8 sequence at t[0] (2 to 4 bytes) whose
 * code point it stores in *cp, or 0 when t[0] does not start one (a stray
 * continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut
 * short by the end of the text).
 */
static size_t utf8_seq(const unsigned char *t, size_t left, uint32_t *cp)
{
	unsigned char c = t[0];
	size_t n;
	uint32_t v, min;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, v = c & 0x1fu, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, v = c & 0x0fu, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, v = c & 0x07u, min = 0x10000;
	else
		return 0;
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((t[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (t[i] & 0x3fu);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Code points above ASCII that a terminal or a log viewer acts on instead
 * of showing: C1 controls (U+0085 is a line break, U+009B starts an escape
 * sequence), the line and paragraph separators, and the bidirectional
 * embeddings, overrides and isolates, which reorder what follows them. */
static bool is_control_cp(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Replaces every control character of text with '?', byte for byte (the
 * length stays), and every byte that is not part of well-formed UTF-8: the
 * result is valid UTF-8 with nothing a terminal would act on. */
static void clean_text(char *text, size_t len, bool keep_newlines)
{
	unsigned char *t = (unsigned char *)text;
	for (size_t i = 0; i < len;) {
		if (t[i] < 0x80) {
			if ((t[i] < 0x20 && !(keep_newlines && t[i] == '\n')) || t[i] == 0x7f)
				t[i] = '?';
			i++;
			continue;
		}
		uint32_t cp = 0;
		size_t n = utf8_seq(t + i, len - i, &cp);
		if (n == 0) {
			t[i++] = '?';
			continue;
		}
		if (is_control_cp(cp))
			memset(t + i, '?', n);
		i += n;
	}
}

void hl__rec_sanitize(char *text, size_t len)
{
	clean_text(text, len, true);
}

void hl__rec_sanitize_line(char *text, size_t len)
{
	clean_text(text, len, false);
}

const char *hl__rec_print(const struct hl_print *p, uint64_t off, uint64_t buf_size,
                          struct hl__span *data)
{
	if (p->magic != HL_PRINT_MAGIC)
		return "print record with bad magic or outside the buffer";
	if (p->fd != 1 && p->fd != 2)
		return "print record for a file descriptor other than 1 and 2";
	if (off > UINT64_MAX - sizeof *p || !hl__in_range(off + sizeof *p, p->len, buf_size))
		return "print data beyond the output buffer";
	data->off = off + sizeof *p;
	data->len = p->len;
	return NULL;
}

const char *hl__rec_log(const struct hl_log *g, uint64_t off, uint64_t buf_size, uint64_t cap,
                        struct hl__span *file, struct hl__span *msg)
{
	if (g->magic != HL_LOG_MAGIC)
		return "log record with bad magic or outside the buffer";
	if (g->level < HL_LOG_ERROR || g->level > HL_LOG_TRACE)
		return "log record with an unknown level";
	uint64_t fl = g->file_len, ml = g->msg_len; /* 32-bit each: the sums cannot wrap */
	if (fl + ml + 2 > cap || off > UINT64_MAX - sizeof *g - fl - ml ||
	    !hl__in_range(off + sizeof *g, fl + ml, buf_size))
		return "log text beyond the output buffer";
	file->off = off + sizeof *g;
	file->len = fl;
	msg->off = off + sizeof *g + fl;
	msg->len = ml;
	return NULL;
}

/* ---- host call ------------------------------------------------------------------------------ */

const char *hl__rec_hostcall_head(const struct hl_hostcall *h, uint64_t off, uint64_t buf_size,
                                  struct hl__span *rec)
{
	if (h->magic != HL_HOSTCALL_MAGIC)
		return "host-call record with bad magic or outside the buffer";
	if (h->argc > HL_MAX_PARAMS)
		return "host-call record with more than HL_MAX_PARAMS arguments";
	uint64_t fixed = sizeof *h + (uint64_t)h->argc * sizeof(struct hl_wire_value);
	if (h->total_len < fixed || !hl__in_range(off, h->total_len, buf_size))
		return "host-call record length does not fit the output buffer";
	rec->off = off;
	rec->len = h->total_len;
	return NULL;
}

const char *hl__rec_hostcall_name(const struct hl_hostcall *h, const uint8_t *rec,
                                  struct hl__hostcall_req *req)
{
	uint64_t fixed = sizeof *h + (uint64_t)h->argc * sizeof(struct hl_wire_value);
	if (h->name_len == 0 || h->name_len > HL_MAX_NAME || h->name_off < fixed ||
	    !hl__in_range(h->name_off, h->name_len, h->total_len))
		return "host-call record with a bad function name";
	req->name = (const char *)rec + h->name_off;
	req->name_len = h->name_len;
	req->argc = h->argc;
	req->ret = h->ret;
	req->fixed = fixed;
	req->len = h->total_len;
	req->rec = rec;
	return NULL;
}

enum hl__args_status hl__rec_hostcall_args(const struct hl__hostcall_req *req, const hl_type *params,
                                           hl_value *args, uint32_t *bad, uint32_t *bad_type)
{
	for (uint32_t i = 0; i < req->argc; i++) {
		struct hl_wire_value w;
		memcpy(&w, req->rec + sizeof(struct hl_hostcall) + (size_t)i * sizeof w, sizeof w);
		*bad = i;
		*bad_type = w.type;
		if (w.type != (uint32_t)params[i])
			return HL__ARGS_TYPE;
		if (!hl__rec_value(&w, req->rec, req->len, req->fixed, &args[i]))
			return HL__ARGS_BAD_VALUE;
	}
	return HL__ARGS_OK;
}

/* ---- result ---------------------------------------------------------------------------------- */

const char *hl__rec_result_head(const struct hl_result *r, uint64_t off, uint64_t buf_size,
                                struct hl__span *payload)
{
	if (r->magic != HL_RESULT_MAGIC)
		return "result record with bad magic or outside the buffer";
	if (r->total_len < sizeof *r || !hl__in_range(off, r->total_len, buf_size))
		return "result record length does not fit the output buffer";
	const struct hl_wire_value *w = &r->value;
	payload->off = off;
	payload->len = 0;
	if (w->type == HL_TYPE_STRING || w->type == HL_TYPE_BYTES) {
		if (w->bits < sizeof *r || !hl__in_range(w->bits, w->len, r->total_len))
			return "result payload outside its record";
		payload->off = off + w->bits;
		payload->len = w->len;
	}
	return NULL;
}

const char *hl__rec_result(const struct hl_result *r, hl_type expected, uint8_t *payload,
                           struct hl__result_out *out)
{
	const struct hl_wire_value *w = &r->value;
	bool has_payload = w->type == HL_TYPE_STRING || w->type == HL_TYPE_BYTES;
	memset(out, 0, sizeof *out);
	out->status = r->status;
	switch (r->status) {
	case HL_STATUS_OK: {
		if (w->type != (uint32_t)expected)
			return "result of the wrong type";
		struct hl_wire_value local = *w;
		if (has_payload)
			local.bits = 0; /* the payload was copied to the start of `payload` */
		out->value.type = HL_TYPE_VOID;
		if (w->type != HL_TYPE_VOID &&
		    !hl__rec_value(&local, payload, (uint64_t)w->len + 1, 0, &out->value))
			return "result with an invalid value";
		return NULL;
	}
	case HL_STATUS_ERROR:
	case HL_STATUS_HOST_ERROR:
		if (w->type != HL_TYPE_STRING)
			return "error result without a message";
		hl__rec_sanitize((char *)payload, w->len);
		out->code = r->code;
		out->msg = (const char *)payload;
		out->msg_len = w->len;
		return NULL;
	default: return "result with an unknown status";
	}
}
