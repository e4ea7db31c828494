/* wasm_module.c - reads the type, import, function, memory and export sections of a wasm module, and wasm2c's name mangling. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm_module.h"

/* A cursor over untrusted bytes: every read checks the end first, and
 * the first error sticks (later reads return zeros). */
struct rd {
	const uint8_t *p, *end;
	const uint8_t *base;
	char *err;
	size_t errlen;
	bool failed;
	bool oom;
};

static void fail(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct rd *r, const char *fmt, ...)
{
	if (r->failed)
		return;
	r->failed = true;
	if (!r->err || !r->errlen)
		return;
	int n = snprintf(r->err, r->errlen, "at byte %zu: ", (size_t)(r->p - r->base));
	if (n < 0 || (size_t)n >= r->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void fail_oom(struct rd *r)
{
	fail(r, "out of memory");
	r->oom = true;
}

static uint8_t rd_byte(struct rd *r)
{
	if (r->failed || r->p >= r->end) {
		fail(r, "unexpected end of section");
		return 0;
	}
	return *r->p++;
}

/* Unsigned LEB128 of at most `bits` bits. */
static uint64_t rd_leb(struct rd *r, unsigned bits)
{
	uint64_t v = 0;
	for (unsigned shift = 0;; shift += 7) {
		uint8_t b = rd_byte(r);
		if (r->failed)
			return 0;
		if (shift >= bits || (shift + 7 > bits && (b & 0x7f) >> (bits - shift)) != 0) {
			fail(r, "integer too large for %u bits", bits);
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
}

static uint32_t rd_u32(struct rd *r)
{
	return (uint32_t)rd_leb(r, 32);
}

/* A vector count, each element at least `min_size` bytes: bounding it by
 * the bytes left keeps a forged count from allocating gigabytes. */
static uint32_t rd_count(struct rd *r, size_t min_size, const char *what)
{
	uint32_t n = rd_u32(r);
	if (!r->failed && (uint64_t)n * min_size > (size_t)(r->end - r->p)) {
		fail(r, "%u %s do not fit in the section", n, what);
		return 0;
	}
	return n;
}

static struct hl__wasm_name rd_name(struct rd *r)
{
	struct hl__wasm_name n = {NULL, 0};
	uint32_t len = rd_u32(r);
	if (r->failed)
		return n;
	if (len > (size_t)(r->end - r->p)) {
		fail(r, "a name of %u bytes runs past the section", len);
		return n;
	}
	n.p = r->p;
	n.len = len;
	r->p += len;
	return n;
}

static bool valtype_ok(uint8_t t)
{
	switch (t) {
	case HL__WASM_I32:
	case HL__WASM_I64:
	case HL__WASM_F32:
	case HL__WASM_F64:
	case HL__WASM_V128:
	case HL__WASM_FUNCREF:
	case HL__WASM_EXTERNREF: return true;
	default: return false;
	}
}

static const uint8_t *rd_valtypes(struct rd *r, uint32_t *n)
{
	*n = rd_count(r, 1, "value types");
	const uint8_t *p = r->p;
	for (uint32_t i = 0; i < *n && !r->failed; i++) {
		uint8_t t = rd_byte(r);
		if (!r->failed && !valtype_ok(t))
			fail(r, "unsupported value type 0x%02x", t);
	}
	return p;
}

/* Limits of a table or memory: returns min, sets *max (UINT64_MAX if none). */
static uint64_t rd_limits(struct rd *r, uint64_t *max)
{
	uint8_t flags = rd_byte(r);
	if (flags > 7) {
		fail(r, "unknown limits flags 0x%02x", flags);
		return 0;
	}
	unsigned bits = flags & 4 ? 64 : 32; /* memory64 */
	uint64_t min = rd_leb(r, bits);
	*max = flags & 1 ? rd_leb(r, bits) : UINT64_MAX;
	return min;
}

static void parse_types(struct rd *r, struct hl__wasm_module *m)
{
	m->ntypes = rd_count(r, 3, "types");
	if (r->failed || !m->ntypes)
		return;
	m->types = calloc(m->ntypes, sizeof *m->types);
	if (!m->types) {
		fail_oom(r);
		return;
	}
	for (uint32_t i = 0; i < m->ntypes && !r->failed; i++) {
		uint8_t form = rd_byte(r);
		if (!r->failed && form != 0x60) {
			fail(r, "type %u: unsupported type form 0x%02x (only function types)", i,
			     form);
			return;
		}
		m->types[i].params = rd_valtypes(r, &m->types[i].nparams);
		m->types[i].results = rd_valtypes(r, &m->types[i].nresults);
	}
}

static void parse_imports(struct rd *r, struct hl__wasm_module *m)
{
	m->nimports = rd_count(r, 4, "imports");
	if (r->failed || !m->nimports)
		return;
	m->imports = calloc(m->nimports, sizeof *m->imports);
	if (!m->imports) {
		fail_oom(r);
		return;
	}
	for (uint32_t i = 0; i < m->nimports && !r->failed; i++) {
		struct hl__wasm_import *im = &m->imports[i];
		uint64_t max;
		im->module = rd_name(r);
		im->name = rd_name(r);
		im->desc = r->p;
		im->kind = rd_byte(r);
		im->max = UINT64_MAX;
		switch (im->kind) {
		case HL__WASM_FUNC:
			im->type = rd_u32(r);
			if (!r->failed && im->type >= m->ntypes)
				fail(r, "import %u: type index %u out of range", i, im->type);
			m->nfunc_imports++;
			break;
		case HL__WASM_TABLE:
			rd_byte(r);
			im->min = rd_limits(r, &max);
			im->max = max;
			break;
		case HL__WASM_MEMORY:
			im->mem64 = r->p < r->end && (*r->p & 4);
			im->min = rd_limits(r, &max);
			im->max = max;
			break;
		case HL__WASM_GLOBAL:
			rd_byte(r);
			rd_byte(r);
			break;
		case HL__WASM_TAG:
			rd_byte(r);
			im->type = rd_u32(r);
			break;
		default:
			if (!r->failed)
				fail(r, "import %u: unknown kind %u", i, im->kind);
		}
		im->desc_len = (uint32_t)(r->p - im->desc);
	}
}

static void parse_functions(struct rd *r, struct hl__wasm_module *m)
{
	m->nfuncs = rd_count(r, 1, "functions");
	if (r->failed || !m->nfuncs)
		return;
	m->funcs = calloc(m->nfuncs, sizeof *m->funcs);
	if (!m->funcs) {
		fail_oom(r);
		return;
	}
	for (uint32_t i = 0; i < m->nfuncs && !r->failed; i++) {
		m->funcs[i] = rd_u32(r);
		if (!r->failed && m->funcs[i] >= m->ntypes)
			fail(r, "function %u: type index %u out of range", i, m->funcs[i]);
	}
}

static void parse_memories(struct rd *r, struct hl__wasm_module *m)
{
	m->nmemories = rd_count(r, 2, "memories");
	for (uint32_t i = 0; i < m->nmemories && !r->failed; i++) {
		uint64_t max, min = rd_limits(r, &max);
		if (i == 0) {
			m->mem_initial_pages = min;
			m->mem_max_pages = max;
		}
	}
}

static void parse_exports(struct rd *r, struct hl__wasm_module *m)
{
	m->nexports = rd_count(r, 3, "exports");
	if (r->failed || !m->nexports)
		return;
	m->exports = calloc(m->nexports, sizeof *m->exports);
	if (!m->exports) {
		fail_oom(r);
		return;
	}
	for (uint32_t i = 0; i < m->nexports && !r->failed; i++) {
		m->exports[i].name = rd_name(r);
		m->exports[i].kind = rd_byte(r);
		m->exports[i].index = rd_u32(r);
	}
}

int hl__wasm_parse(const uint8_t *buf, size_t len, struct hl__wasm_module *m, char *err,
                   size_t errlen)
{
	static const uint8_t header[8] = {0, 'a', 's', 'm', 1, 0, 0, 0};
	memset(m, 0, sizeof *m);
	m->mem_max_pages = UINT64_MAX;
	struct rd r = {buf, buf + len, buf, err, errlen, false, false};
	if (len < 8 || memcmp(buf, header, 4) != 0) {
		fail(&r, "not a wasm module (no \"\\0asm\" magic)");
		return -EINVAL;
	}
	if (memcmp(buf + 4, header + 4, 4) != 0) {
		fail(&r, "unsupported wasm binary version %u",
		     buf[4] | buf[5] << 8 | buf[6] << 16 | (unsigned)buf[7] << 24);
		return -EINVAL;
	}
	r.p += 8;
	uint32_t seen = 0;
	while (r.p < r.end && !r.failed) {
		size_t sec_off = (size_t)(r.p - buf);
		uint8_t id = rd_byte(&r);
		uint32_t size = rd_u32(&r);
		if (r.failed)
			break;
		if (size > (size_t)(r.end - r.p)) {
			fail(&r, "section %u of %u bytes runs past the end of the module", id, size);
			break;
		}
		struct rd s = {r.p, r.p + size, buf, err, errlen, false, false};
		if (id != 0 && id < 32) {
			if (seen & (1u << id)) {
				fail(&s, "section %u appears twice", id);
				r.failed = true;
				break;
			}
			seen |= 1u << id;
		}
		switch (id) {
		case 1: parse_types(&s, m); break;
		case 2:
			parse_imports(&s, m);
			m->import_sec_off = sec_off;
			m->import_sec_len = (size_t)(r.p + size - buf) - sec_off;
			break;
		case 3: parse_functions(&s, m); break;
		case 5: parse_memories(&s, m); break;
		case 7:
			parse_exports(&s, m);
			m->export_sec_off = sec_off;
			m->export_sec_len = (size_t)(r.p + size - buf) - sec_off;
			break;
		default: break; /* custom, table, global, start, element, code, data, ... */
		}
		if (s.failed) {
			r.failed = true;
			r.oom = s.oom;
			break;
		}
		r.p += size;
	}
	if (!r.failed) {
		for (uint32_t i = 0; i < m->nexports; i++)
			if (m->exports[i].kind == HL__WASM_FUNC &&
			    !hl__wasm_func_type(m, m->exports[i].index)) {
				fail(&r, "export %u: function index %u out of range", i,
				     m->exports[i].index);
				break;
			}
	}
	if (r.failed) {
		hl__wasm_module_free(m);
		return r.oom ? -ENOMEM : -EINVAL;
	}
	return 0;
}

void hl__wasm_module_free(struct hl__wasm_module *m)
{
	free(m->types);
	free(m->imports);
	free(m->funcs);
	free(m->exports);
	memset(m, 0, sizeof *m);
}

const struct hl__wasm_functype *hl__wasm_func_type(const struct hl__wasm_module *m, uint32_t index)
{
	uint32_t t;
	if (index < m->nfunc_imports) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < m->nimports; i++)
			if (m->imports[i].kind == HL__WASM_FUNC && k++ == index) {
				t = m->imports[i].type;
				return t < m->ntypes ? &m->types[t] : NULL;
			}
		return NULL;
	}
	index -= m->nfunc_imports;
	if (index >= m->nfuncs)
		return NULL;
	t = m->funcs[index];
	return t < m->ntypes ? &m->types[t] : NULL;
}

size_t hl__wasm_mangle(const uint8_t *p, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		char piece[3];
		size_t k = 0;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '_';
		if (plain && c != 'Z') {
			piece[k++] = (char)c;
		} else {
			piece[k++] = 'Z';
			piece[k++] = hex[c >> 4];
			piece[k++] = hex[c & 15];
		}
		for (size_t j = 0; j < k; j++, n++)
			if (n + 1 < outlen)
				out[n] = piece[j];
	}
	if (outlen)
		out[n < outlen ? n : outlen - 1] = '\0';
	return n;
}

bool hl__wasm_valid_hl_name(struct hl__wasm_name n)
{
	if (n.len == 0 || n.len > 64)
		return false;
	for (uint32_t i = 0; i < n.len; i++) {
		uint8_t c = n.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

bool hl__wasm_name_is(struct hl__wasm_name n, const char *s)
{
	return n.len == strlen(s) && memcmp(n.p, s, n.len) == 0;
}

void hl__wasm_say(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- Renaming imports and exports -------------------------------------------- */

/* The next word of line [*p, end): printable ASCII without spaces. */
static struct hl__wasm_name next_word(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	const char *s = *p;
	while (*p < end && (unsigned char)**p > ' ' && (unsigned char)**p < 0x7f)
		(*p)++;
	struct hl__wasm_name n = {(const uint8_t *)s, (uint32_t)(*p - s)};
	return n;
}

static bool names_equal(struct hl__wasm_name a, struct hl__wasm_name b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int hl__wasm_parse_rename_map(const char *text, size_t len, struct hl__wasm_rename_map *map,
                              char *err, size_t errlen)
{
	memset(map, 0, sizeof *map);
	uint32_t cap = 0, lineno = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *hash = memchr(p, '#', (size_t)(eol - p));
		const char *stop = hash ? hash : eol;
		lineno++;
		struct hl__wasm_name kind = next_word(&p, stop);
		if (kind.len) {
			struct hl__wasm_rename_rule r;
			memset(&r, 0, sizeof r);
			r.is_import = hl__wasm_name_is(kind, "import");
			if (!r.is_import && !hl__wasm_name_is(kind, "export")) {
				hl__wasm_say(err, errlen,
				             "line %u: a rule starts with 'import' or 'export'",
				             lineno);
				goto bad;
			}
			if (r.is_import)
				r.module = next_word(&p, stop);
			r.name = next_word(&p, stop);
			if (r.is_import)
				r.new_module = next_word(&p, stop);
			r.new_name = next_word(&p, stop);
			struct hl__wasm_name extra = next_word(&p, stop);
			bool short_rule = !r.name.len || !r.new_name.len ||
			                  (r.is_import && (!r.module.len || !r.new_module.len));
			if (short_rule || extra.len || p < stop) {
				hl__wasm_say(err, errlen,
				             "line %u: expected 'import MODULE NAME NEWMODULE NEWNAME' or 'export NAME "
				             "NEWNAME' (printable ASCII names without spaces)",
				             lineno);
				goto bad;
			}
			if (map->nrules == cap) {
				uint32_t ncap = cap ? cap * 2 : 32;
				void *nr = ncap > 100000
				                   ? NULL
				                   : realloc(map->rules, ncap * sizeof *map->rules);
				if (!nr) {
					hl__wasm_say(err, errlen,
					             ncap > 100000 ? "more than 100000 rules"
					                           : "out of memory");
					hl__wasm_rename_map_free(map);
					return ncap > 100000 ? -EINVAL : -ENOMEM;
				}
				map->rules = nr;
				cap = ncap;
			}
			map->rules[map->nrules++] = r;
		}
		p = eol + 1;
	}
	return 0;
bad:
	hl__wasm_rename_map_free(map);
	return -EINVAL;
}

void hl__wasm_rename_map_free(struct hl__wasm_rename_map *map)
{
	free(map->rules);
	memset(map, 0, sizeof *map);
}

/* A growing output buffer; `failed` sticks. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool failed;
};

static void put(struct wbuf *w, const void *data, size_t n)
{
	if (w->failed || n == 0)
		return;
	if (w->len + n > w->cap) {
		size_t ncap = w->cap ? w->cap : 4096;
		while (ncap < w->len + n)
			ncap *= 2;
		uint8_t *np = realloc(w->p, ncap);
		if (!np) {
			w->failed = true;
			return;
		}
		w->p = np;
		w->cap = ncap;
	}
	memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void put_leb(struct wbuf *w, uint64_t v)
{
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		if (v)
			b |= 0x80;
		put(w, &b, 1);
	} while (v);
}

static void put_name(struct wbuf *w, struct hl__wasm_name n)
{
	put_leb(w, n.len);
	put(w, n.p, n.len);
}

/* Appends section `id` with the contents body[0..len). */
static void put_section(struct wbuf *w, uint8_t id, const struct wbuf *body)
{
	put(w, &id, 1);
	put_leb(w, body->len);
	put(w, body->p, body->len);
}

int hl__wasm_rename(const uint8_t *buf, size_t len, const struct hl__wasm_module *m,
                    const struct hl__wasm_rename_map *map, uint8_t **out, size_t *outlen, char *err,
                    size_t errlen)
{
	/* Which rule applies to each import and export; every rule must apply
	 * exactly once. */
	int64_t *imp_rule = calloc(m->nimports ? m->nimports : 1, sizeof *imp_rule);
	int64_t *exp_rule = calloc(m->nexports ? m->nexports : 1, sizeof *exp_rule);
	struct wbuf o = {0}, sec = {0};
	int rc = -EINVAL;
	if (!imp_rule || !exp_rule) {
		rc = -ENOMEM;
		hl__wasm_say(err, errlen, "out of memory");
		goto done;
	}
	for (uint32_t i = 0; i < m->nimports; i++)
		imp_rule[i] = -1;
	for (uint32_t i = 0; i < m->nexports; i++)
		exp_rule[i] = -1;
	for (uint32_t k = 0; k < map->nrules; k++) {
		const struct hl__wasm_rename_rule *r = &map->rules[k];
		uint32_t hits = 0;
		if (r->is_import) {
			for (uint32_t i = 0; i < m->nimports; i++)
				if (names_equal(m->imports[i].module, r->module) &&
				    names_equal(m->imports[i].name, r->name)) {
					if (imp_rule[i] >= 0)
						hits = 2; /* two rules for one import */
					imp_rule[i] = k;
					hits++;
				}
		} else {
			for (uint32_t i = 0; i < m->nexports; i++)
				if (names_equal(m->exports[i].name, r->name)) {
					if (exp_rule[i] >= 0)
						hits = 2;
					exp_rule[i] = k;
					hits++;
				}
		}
		if (hits != 1) {
			if (r->is_import)
				hl__wasm_say(err, errlen, "rename rule %u: import '%.*s' '%.*s' %s",
				             k + 1, (int)r->module.len, (const char *)r->module.p,
				             (int)r->name.len, (const char *)r->name.p,
				             hits ? "is named by more than one rule (or imported twice)"
				                  : "is not in the module: the map was made for another module");
			else
				hl__wasm_say(err, errlen, "rename rule %u: export '%.*s' %s", k + 1,
				             (int)r->name.len, (const char *)r->name.p,
				             hits ? "is named by more than one rule"
				                  : "is not in the module: the map was made for another module");
			goto done;
		}
	}
	/* Export names must stay unique (the module is invalid otherwise). */
	for (uint32_t i = 0; i < m->nexports; i++) {
		struct hl__wasm_name a = exp_rule[i] >= 0 ? map->rules[exp_rule[i]].new_name
		                                          : m->exports[i].name;
		for (uint32_t j = 0; j < i; j++) {
			struct hl__wasm_name b = exp_rule[j] >= 0 ? map->rules[exp_rule[j]].new_name
			                                          : m->exports[j].name;
			if (names_equal(a, b)) {
				hl__wasm_say(err, errlen, "renaming leaves two exports named '%.*s'",
				             (int)a.len, (const char *)a.p);
				goto done;
			}
		}
	}

	/* The header and everything up to the import section, the new import
	 * section, everything between, the new export section, the rest. Custom
	 * sections (debug names) are copied as they are. */
	size_t pos = 0;
	struct span {
		size_t off, len;
		bool imports;
	} secs[2];
	int nsecs = 0;
	if (m->import_sec_len)
		secs[nsecs++] = (struct span){m->import_sec_off, m->import_sec_len, true};
	if (m->export_sec_len)
		secs[nsecs++] = (struct span){m->export_sec_off, m->export_sec_len, false};
	for (int s = 0; s < nsecs; s++) {
		put(&o, buf + pos, secs[s].off - pos);
		sec.len = 0;
		if (secs[s].imports) {
			put_leb(&sec, m->nimports);
			for (uint32_t i = 0; i < m->nimports; i++) {
				const struct hl__wasm_import *im = &m->imports[i];
				const struct hl__wasm_rename_rule *r =
					imp_rule[i] >= 0 ? &map->rules[imp_rule[i]] : NULL;
				put_name(&sec, r ? r->new_module : im->module);
				put_name(&sec, r ? r->new_name : im->name);
				put(&sec, im->desc, im->desc_len);
			}
			put_section(&o, 2, &sec);
		} else {
			put_leb(&sec, m->nexports);
			for (uint32_t i = 0; i < m->nexports; i++) {
				const struct hl__wasm_export *e = &m->exports[i];
				put_name(&sec, exp_rule[i] >= 0 ? map->rules[exp_rule[i]].new_name
				                                : e->name);
				put(&sec, &e->kind, 1);
				put_leb(&sec, e->index);
			}
			put_section(&o, 7, &sec);
		}
		pos = secs[s].off + secs[s].len;
	}
	put(&o, buf + pos, len - pos);
	if (o.failed || sec.failed) {
		rc = -ENOMEM;
		hl__wasm_say(err, errlen, "out of memory");
		goto done;
	}
	*out = o.p;
	*outlen = o.len;
	o.p = NULL;
	rc = 0;
done:
	free(o.p);
	free(sec.p);
	free(imp_rule);
	free(exp_rule);
	return rc;
}
