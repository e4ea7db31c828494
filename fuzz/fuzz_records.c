/*
 * fuzz_records.c - libFuzzer target: every decoder of guest-written records
 * (src/host/records.c) must survive any bytes, and what it accepts must keep
 * the invariants call.c relies on.
 *
 * Input: byte 0 picks the decoder (low 3 bits) and whether the second copy
 * of a host-call record is tampered with (bit 3: the guest rewrote the
 * record between the host's two copies); byte 1 is the record's offset in
 * the output buffer; byte 2 is a parameter (the expected result type, the
 * signature of the host function); the rest is the output buffer. Copies
 * go into buffers of exactly the copied size, so ASan sees any read past
 * what the host copied.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/internal.h"
#include "host/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness, not the library, aborts when an invariant breaks. */
#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

/* The output buffer the guest wrote, as hl__out_copy sees it. */
struct outbuf {
	const uint8_t *p;
	uint64_t size;
};

static bool out_copy(const struct outbuf *b, uint64_t off, uint64_t len, void *dst)
{
	if (off > b->size || len > b->size - off)
		return false;
	if (len)
		memcpy(dst, b->p + off, len);
	return true;
}

static bool span_inside(const struct hl__span *s, uint64_t size)
{
	return hl__in_range(s->off, s->len, size);
}

/* A layout shaped like a real one, for the page-fault region names. */
static const struct hl__layout fuzz_layout = {
	.mem_base = 0x1000,
	.mem_size = 0x400000,
	.image_lo = 0x200000,
	.image_hi = 0x240000,
	.boot_info = 0x1000,
	.input = 0x2000,
	.input_size = 0x4000,
	.output = 0x6000,
	.output_size = 0x4000,
	.heap = 0x240000,
	.heap_size = 0x20000,
	.stack_guard = 0x260000,
	.stack = 0x261000,
	.stack_size = 0x10000,
	.ist = 0x271000,
	.ist_size = 0xf000,
	.pt = 0x300000,
	.pt_size = 0x6000,
};

static void exception(const struct outbuf *b, uint64_t off)
{
	struct hl_exception e;
	if (!out_copy(b, off, sizeof e, &e))
		return;
	if (hl__rec_exception(&e))
		return;
	CHECK(e.magic == HL_EXCEPTION_MAGIC && e.vector <= 255);
	char msg[384];
	hl__rec_exception_message(&e, &fuzz_layout, msg, sizeof msg);
	CHECK(strnlen(msg, sizeof msg) < sizeof msg);
	CHECK(strncmp(msg, "guest fault: ", 13) == 0);
	const char *region = hl__rec_region(&fuzz_layout, e.cr2);
	CHECK(region[0] == '\0' || strncmp(region, " (", 2) == 0);
}

/*
 * What a sanitizer must leave, checked independently of records.c: valid
 * UTF-8 without C0 controls (but '\n' when keep_newlines), DEL, C1
 * controls, U+2028/U+2029 or bidirectional formatting characters.
 */
static void check_clean(const char *text, uint64_t len, bool keep_newlines)
{
	const unsigned char *t = (const unsigned char *)text;
	for (uint64_t i = 0; i < len;) {
		unsigned char c = t[i];
		if (c < 0x80) {
			CHECK((c >= 0x20 && c != 0x7f) || (keep_newlines && c == '\n'));
			i++;
			continue;
		}
		uint64_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		CHECK(c >= 0xc2 && c <= 0xf4 && i + n <= len);
		uint32_t cp = c & (n == 2 ? 0x1fu : n == 3 ? 0x0fu : 0x07u);
		for (uint64_t k = 1; k < n; k++) {
			CHECK((t[i + k] & 0xc0) == 0x80);
			cp = cp << 6 | (t[i + k] & 0x3fu);
		}
		CHECK(cp >= (n == 2 ? 0x80u : n == 3 ? 0x800u : 0x10000u) && cp <= 0x10ffff);
		CHECK(cp < 0xd800 || cp > 0xdfff);
		CHECK(cp > 0x9f && cp != 0x2028 && cp != 0x2029 &&
		      !(cp >= 0x202a && cp <= 0x202e) && !(cp >= 0x2066 && cp <= 0x2069));
		i += n;
	}
}

static void abort_record(const struct outbuf *b, uint64_t off)
{
	struct hl_abort a;
	struct hl__span m;
	char msg[512];
	if (!out_copy(b, off, sizeof a, &a) || hl__rec_abort(&a, off, b->size, sizeof msg - 1, &m))
		return;
	CHECK(span_inside(&m, b->size) && m.off == off + sizeof a);
	CHECK(m.len <= a.msg_len && m.len <= sizeof msg - 1);
	CHECK(out_copy(b, m.off, m.len, msg));
	msg[m.len] = '\0';
	hl__rec_sanitize(msg, m.len);
	check_clean(msg, m.len, true);
}

static void print(const struct outbuf *b, uint64_t off)
{
	struct hl_print p;
	struct hl__span d;
	if (!out_copy(b, off, sizeof p, &p) || hl__rec_print(&p, off, b->size, &d))
		return;
	CHECK(p.fd == 1 || p.fd == 2);
	CHECK(span_inside(&d, b->size) && d.off == off + sizeof p && d.len == p.len);
}

static void log_record(const struct outbuf *b, uint64_t off)
{
	struct hl_log g;
	struct hl__span f, m;
	uint64_t cap = b->size + 1; /* as call.c: scratch is output_size + 1 bytes */
	if (!out_copy(b, off, sizeof g, &g) || hl__rec_log(&g, off, b->size, cap, &f, &m))
		return;
	CHECK(g.level >= HL_LOG_ERROR && g.level <= HL_LOG_TRACE);
	CHECK(span_inside(&f, b->size) && span_inside(&m, b->size));
	CHECK(f.len == g.file_len && m.len == g.msg_len && f.off + f.len == m.off);
	CHECK(f.len + m.len + 2 <= cap);
	char *text = malloc(f.len + m.len + 2);
	if (!text)
		return;
	CHECK(out_copy(b, f.off, f.len, text) && out_copy(b, m.off, m.len, text + f.len + 1));
	text[f.len] = text[f.len + 1 + m.len] = '\0';
	/* As call.c: both texts cleaned into one line each, lengths kept. */
	hl__rec_sanitize_line(text, f.len);
	hl__rec_sanitize_line(text + f.len + 1, m.len);
	check_clean(text, f.len, false);
	check_clean(text + f.len + 1, m.len, false);
	CHECK(text[f.len] == '\0' && text[f.len + 1 + m.len] == '\0');
	free(text);
}

static void hostcall(const struct outbuf *b, uint64_t off, uint8_t param, bool tamper)
{
	struct hl_hostcall h;
	struct hl__span span;
	struct hl__hostcall_req req;
	if (!out_copy(b, off, sizeof h, &h) || hl__rec_hostcall_head(&h, off, b->size, &span))
		return;
	CHECK(h.argc <= HL_MAX_PARAMS && span_inside(&span, b->size) && span.len == h.total_len);
	uint8_t *rec = malloc(span.len ? span.len : 1);
	if (!rec)
		return;
	CHECK(out_copy(b, span.off, span.len, rec));
	if (tamper) /* the guest rewrote the header between the two copies */
		for (size_t i = 0; i < sizeof h; i++)
			rec[i] ^= (uint8_t)(0xa5 + i);
	if (hl__rec_hostcall_name(&h, rec, &req) == NULL) {
		CHECK(req.name_len >= 1 && req.name_len <= HL_MAX_NAME && req.argc == h.argc);
		CHECK(req.name >= (const char *)rec + req.fixed &&
		      req.name + req.name_len <= (const char *)rec + span.len);
		/* The signature: each parameter as the record says, or (when a
		 * bit of `param` is set) a different type, to reach the mismatch. */
		hl_type params[HL_MAX_PARAMS];
		for (uint32_t i = 0; i < req.argc; i++) {
			struct hl_wire_value w;
			memcpy(&w, rec + sizeof h + (size_t)i * sizeof w, sizeof w);
			params[i] = (hl_type)(w.type % HL_TYPE__COUNT);
			if (param & (1u << (i % 8)))
				params[i] = (hl_type)((params[i] + 1) % HL_TYPE__COUNT);
		}
		hl_value args[HL_MAX_PARAMS];
		uint32_t bad = UINT32_MAX, bad_type = 0;
		enum hl__args_status st = hl__rec_hostcall_args(&req, params, args, &bad, &bad_type);
		uint32_t good = st == HL__ARGS_OK ? req.argc : bad;
		CHECK(st == HL__ARGS_OK || bad < req.argc);
		if (st == HL__ARGS_TYPE)
			CHECK(bad_type != (uint32_t)params[bad]);
		for (uint32_t i = 0; i < good; i++) {
			struct hl_wire_value w;
			memcpy(&w, rec + sizeof h + (size_t)i * sizeof w, sizeof w);
			CHECK(args[i].type == params[i]);
			if (args[i].type == HL_TYPE_STRING) {
				const char *s = args[i].u.str.ptr;
				CHECK(s == (const char *)rec + w.bits && args[i].u.str.len == w.len);
				CHECK(w.bits >= req.fixed && w.bits + w.len < span.len);
				CHECK(s[w.len] == '\0' && strlen(s) == w.len);
			} else if (args[i].type == HL_TYPE_BYTES) {
				CHECK(args[i].u.bytes.ptr == rec + w.bits &&
				      args[i].u.bytes.len == w.len);
				CHECK(w.bits >= req.fixed && w.bits + w.len <= span.len);
			} else if (args[i].type == HL_TYPE_BOOL) {
				CHECK(w.bits == (uint64_t)args[i].u.b);
			} else if (args[i].type == HL_TYPE_I32) {
				CHECK((uint32_t)args[i].u.i32 == (uint32_t)w.bits);
			} else if (args[i].type == HL_TYPE_U64 || args[i].type == HL_TYPE_I64) {
				CHECK(args[i].u.u64 == w.bits);
			}
		}
	}
	free(rec);
}

static void result(const struct outbuf *b, uint64_t off, uint8_t param)
{
	struct hl_result r;
	struct hl__span p;
	struct hl__result_out out;
	if (!out_copy(b, off, sizeof r, &r) || hl__rec_result_head(&r, off, b->size, &p))
		return;
	CHECK(span_inside(&p, b->size));
	bool has_payload = r.value.type == HL_TYPE_STRING || r.value.type == HL_TYPE_BYTES;
	CHECK(has_payload ? p.len == r.value.len && p.off == off + r.value.bits : p.len == 0);
	CHECK(p.off + p.len <= off + r.total_len);
	uint8_t *payload = malloc(p.len + 1);
	if (!payload)
		return;
	CHECK(out_copy(b, p.off, p.len, payload));
	payload[p.len] = 0;
	hl_type expected = (hl_type)(param % HL_TYPE__COUNT);
	if (hl__rec_result(&r, expected, payload, &out) == NULL) {
		CHECK(out.status == r.status);
		if (out.status == HL_STATUS_OK) {
			CHECK(out.value.type == expected);
			if (expected == HL_TYPE_STRING) {
				CHECK(out.value.u.str.ptr == (const char *)payload &&
				      out.value.u.str.len == p.len);
				CHECK(strlen(out.value.u.str.ptr) == p.len);
			} else if (expected == HL_TYPE_BYTES) {
				CHECK(out.value.u.bytes.ptr == payload &&
				      out.value.u.bytes.len == p.len);
			} else if (expected == HL_TYPE_U64) {
				CHECK(out.value.u.u64 == r.value.bits);
			}
		} else {
			CHECK(out.status == HL_STATUS_ERROR || out.status == HL_STATUS_HOST_ERROR);
			CHECK(out.msg == (const char *)payload && out.msg_len == p.len &&
			      out.code == r.code);
			check_clean(out.msg, out.msg_len, true);
		}
	}
	free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint8_t sel = data[0], param = data[2];
	uint64_t off = data[1];
	struct outbuf b = {data + 3, size - 3};
	switch (sel & 7) {
	case 0: result(&b, off, param); break;
	case 1: hostcall(&b, off, param, (sel & 8) != 0); break;
	case 2: print(&b, off); break;
	case 3: log_record(&b, off); break;
	case 4: abort_record(&b, off); break;
	case 5: exception(&b, off); break;
	default: { /* a lone wire value against the whole buffer */
		struct hl_wire_value w;
		hl_value v;
		if (out_copy(&b, off, sizeof w, &w) && hl__rec_value(&w, b.p, b.size, 0, &v))
			CHECK(v.type == (hl_type)w.type && w.type < HL_TYPE__COUNT &&
			      w.type != HL_TYPE_VOID);
		break;
	}
	}
	return 0;
}
