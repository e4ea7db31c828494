/* wasm_glue.c - checks a module's imports and exports against what a wasm guest supports, and writes the glue C that binds wasm2c's output of it to the guest's wasm runtime. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm_glue.h"

#define WASI_MODULE "wasi_snapshot_preview1"

/* The WASI functions the runtime implements, with their signatures: one
 * letter per parameter (i = i32, I = i64, f = f32, F = f64) and the result
 * (one of those letters, or 0). */
struct wasi_fn {
	const char *name;
	const char *params;
	char result;
	const char *impl;
};
static const struct wasi_fn wasi_fns[] = {
	{"fd_write", "iiii", 'i', "hl_wasm__wasi_fd_write"},
	{"args_get", "ii", 'i', "hl_wasm__wasi_args_get"},
	{"args_sizes_get", "ii", 'i', "hl_wasm__wasi_args_sizes_get"},
	{"environ_get", "ii", 'i', "hl_wasm__wasi_environ_get"},
	{"environ_sizes_get", "ii", 'i', "hl_wasm__wasi_environ_sizes_get"},
	{"clock_time_get", "iIi", 'i', "hl_wasm__wasi_clock_time_get"},
	{"random_get", "ii", 'i', "hl_wasm__wasi_random_get"},
	{"proc_exit", "i", 0, "hl_wasm__wasi_proc_exit"},
};

/* The "env" functions of emscripten's JavaScript runtime that the guest's
 * runtime implements (wasm/runtime/emscripten.c), same notation. */
static const struct wasi_fn em_fns[] = {
	{"emscripten_date_now", "", 'F', "hl_wasm__em_date_now"},
	{"emscripten_get_now", "", 'F', "hl_wasm__em_get_now"},
	{"emscripten_resize_heap", "i", 'i', "hl_wasm__em_resize_heap"},
	{"emscripten_get_heap_max", "", 'i', "hl_wasm__em_get_heap_max"},
	{"emscripten_notify_memory_growth", "i", 0, "hl_wasm__em_notify_memory_growth"},
	{"_emscripten_runtime_keepalive_clear", "", 0, "hl_wasm__em_keepalive_clear"},
	{"_abort_js", "", 0, "hl_wasm__em_abort"},
	{"abort", "", 0, "hl_wasm__em_abort"},
	{"__assert_fail", "iiii", 0, "hl_wasm__em_assert_fail"},
	{"_tzset_js", "iiii", 0, "hl_wasm__em_tzset"},
	{"_localtime_js", "Ii", 0, "hl_wasm__em_gmtime"},
	{"_gmtime_js", "Ii", 0, "hl_wasm__em_gmtime"},
	{"_setitimer_js", "iF", 'i', "hl_wasm__em_setitimer"},
};

/* Names of emscripten's runtime: an "env" import with such a name is never
 * a host function. Those in em_fns are implemented; the system calls and
 * the file mappings fail with ENOSYS; any other is refused by the build. */
static bool em_reserved(struct hl__wasm_name n)
{
	static const char *const prefixes[] = {"emscripten_", "_emscripten_", "__syscall_",
	                                       "__wasi_"};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		size_t l = strlen(prefixes[i]);
		if (n.len >= l && memcmp(n.p, prefixes[i], l) == 0)
			return true;
	}
	/* _tzset_js, _mmap_js, ...: the JS library functions of emscripten. */
	return n.len > 4 && n.p[0] == '_' && memcmp(n.p + n.len - 3, "_js", 3) == 0;
}

/* Reserved names that return a negative errno: ENOSYS (52 in emscripten's
 * and WASI's numbering) is their clean failure. */
static bool em_enosys(struct hl__wasm_name n)
{
	static const char *const names[] = {"_mmap_js", "_munmap_js", "_msync_js"};
	if (n.len > 10 && memcmp(n.p, "__syscall_", 10) == 0)
		return true;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (hl__wasm_name_is(n, names[i]))
			return true;
	return false;
}

/* A name for messages: printable ASCII as is, other bytes as \xNN, cut
 * after 80 bytes. Returns buf. */
static const char *show(struct hl__wasm_name n, char *buf, size_t len)
{
	size_t k = 0;
	for (uint32_t i = 0; i < n.len && k + 5 < len; i++) {
		uint8_t c = n.p[i];
		if (i == 80) {
			k += (size_t)snprintf(buf + k, len - k, "...");
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
			buf[k++] = (char)c;
		else
			k += (size_t)snprintf(buf + k, len - k, "\\x%02x", c);
	}
	buf[k < len ? k : len - 1] = '\0';
	return buf;
}

static bool numeric(uint8_t t)
{
	return t == HL__WASM_I32 || t == HL__WASM_I64 || t == HL__WASM_F32 || t == HL__WASM_F64;
}

/* Why a function type cannot cross the host boundary, or NULL if it can. */
static const char *type_problem(const struct hl__wasm_functype *t)
{
	if (t->nresults > 1)
		return "it has more than one result";
	if (t->nparams > HL_MAX_PARAMS)
		return "it has more than 32 parameters";
	for (uint32_t i = 0; i < t->nparams; i++)
		if (!numeric(t->params[i]))
			return "a parameter is not i32, i64, f32 or f64";
	if (t->nresults && !numeric(t->results[0]))
		return "the result is not i32, i64, f32 or f64";
	return NULL;
}

static const char *c_type(uint8_t t)
{
	switch (t) {
	case HL__WASM_I32: return "u32";
	case HL__WASM_I64: return "u64";
	case HL__WASM_F32: return "f32";
	default: return "f64";
	}
}

static const char *hl_type_macro(uint8_t t)
{
	switch (t) {
	case HL__WASM_I32: return "HL_TYPE_I32";
	case HL__WASM_I64: return "HL_TYPE_I64";
	case HL__WASM_F32: return "HL_TYPE_F32";
	default: return "HL_TYPE_F64";
	}
}

static const struct wasi_fn *wasi_lookup(struct hl__wasm_name n)
{
	for (size_t i = 0; i < sizeof wasi_fns / sizeof wasi_fns[0]; i++)
		if (hl__wasm_name_is(n, wasi_fns[i].name))
			return &wasi_fns[i];
	return NULL;
}

static const struct wasi_fn *em_lookup(struct hl__wasm_name n)
{
	for (size_t i = 0; i < sizeof em_fns / sizeof em_fns[0]; i++)
		if (hl__wasm_name_is(n, em_fns[i].name))
			return &em_fns[i];
	return NULL;
}

static uint8_t letter_type(char c)
{
	switch (c) {
	case 'I': return HL__WASM_I64;
	case 'f': return HL__WASM_F32;
	case 'F': return HL__WASM_F64;
	default: return HL__WASM_I32;
	}
}

static bool wasi_sig_matches(const struct wasi_fn *w, const struct hl__wasm_functype *t)
{
	if (t->nparams != strlen(w->params) || t->nresults != (w->result ? 1u : 0u))
		return false;
	for (uint32_t i = 0; i < t->nparams; i++)
		if (t->params[i] != letter_type(w->params[i]))
			return false;
	return !w->result || t->results[0] == letter_type(w->result);
}

/* True if `n` is in the NULL-terminated list (which may be NULL). */
static bool in_list(const char *const *list, struct hl__wasm_name n)
{
	for (; list && *list; list++)
		if (hl__wasm_name_is(n, *list))
			return true;
	return false;
}

/* How an "env" function import is served. */
enum env_kind { ENV_HOST, ENV_GUEST, ENV_RUNTIME, ENV_ENOSYS };

static enum env_kind env_kind(struct hl__wasm_name n, const struct hl__wasm_glue_opts *o,
                              const struct wasi_fn **fn)
{
	*fn = NULL;
	if (o && in_list(o->guest_imports, n))
		return ENV_GUEST;
	if ((*fn = em_lookup(n)))
		return ENV_RUNTIME;
	if (em_enosys(n))
		return ENV_ENOSYS;
	return ENV_HOST;
}

static bool same_type(const struct hl__wasm_functype *a, const struct hl__wasm_functype *b)
{
	return a->nparams == b->nparams && a->nresults == b->nresults &&
	       memcmp(a->params, b->params, a->nparams) == 0 &&
	       memcmp(a->results, b->results, a->nresults) == 0;
}

int hl__wasm_check_imports(const struct hl__wasm_module *m, const struct hl__wasm_glue_opts *o,
                           char *err, size_t errlen)
{
	char a[400], b[400];
	/* The checks below compare every pair of imports. */
	if (m->nimports > HL__WASM_MAX_IMPORTS) {
		hl__wasm_say(err, errlen, "%u imports: a wasm guest supports at most %u",
		             m->nimports, HL__WASM_MAX_IMPORTS);
		return -EINVAL;
	}
	uint32_t nmem = 0;
	for (uint32_t i = 0; i < m->nimports; i++) {
		const struct hl__wasm_import *im = &m->imports[i];
		show(im->module, a, sizeof a);
		show(im->name, b, sizeof b);
		if (im->kind == HL__WASM_MEMORY) {
			/* emscripten's IMPORTED_MEMORY: the guest allocates it. */
			const char *why = NULL;
			if (!hl__wasm_name_is(im->module, "env"))
				why = "a wasm guest can import a memory only from module 'env'";
			else if (im->mem64)
				why = "memory64 is not supported";
			else if (m->nmemories || nmem)
				why = "the module has more than one memory (multi-memory is not supported)";
			else if (im->min > 65535)
				why = "its initial size is more than 65535 pages";
			if (why) {
				hl__wasm_say(err, errlen, "import '%s' '%s' is a memory: %s", a, b,
				             why);
				return -EINVAL;
			}
			nmem++;
			continue;
		}
		if (im->kind != HL__WASM_FUNC) {
			static const char *const kinds[] = {"function", "table", "memory", "global",
			                                    "tag"};
			hl__wasm_say(err, errlen,
			             "import '%s' '%s' is a %s: a wasm guest can import only functions and an 'env' "
			             "memory (tables and globals must be defined by the module)",
			             a, b, im->kind < 5 ? kinds[im->kind] : "?");
			return -EINVAL;
		}
		const struct hl__wasm_functype *t = &m->types[im->type];
		for (uint32_t j = 0; j < i; j++) {
			const struct hl__wasm_import *p = &m->imports[j];
			if (p->module.len == im->module.len && p->name.len == im->name.len &&
			    memcmp(p->module.p, im->module.p, im->module.len) == 0 &&
			    memcmp(p->name.p, im->name.p, im->name.len) == 0 &&
			    (p->kind != im->kind || !same_type(&m->types[p->type], t))) {
				hl__wasm_say(err, errlen,
				             "import '%s' '%s' appears twice with different types",
				             a, b);
				return -EINVAL;
			}
		}
		if (hl__wasm_name_is(im->module, "env")) {
			const char *why = type_problem(t);
			const struct wasi_fn *fn;
			switch (env_kind(im->name, o, &fn)) {
			case ENV_RUNTIME:
				if (!wasi_sig_matches(fn, t)) {
					hl__wasm_say(err, errlen,
					             "import 'env' '%s' does not have the signature of emscripten's %s",
					             b, fn->name);
					return -EINVAL;
				}
				continue;
			case ENV_ENOSYS:
				if (t->nresults != 1 || t->results[0] != HL__WASM_I32 || why) {
					hl__wasm_say(err, errlen,
					             "import 'env' '%s' is an emscripten system call that is not "
					             "supported, and it does not return an errno (i32) that could say so",
					             b);
					return -EINVAL;
				}
				continue;
			case ENV_GUEST:
				if (why) {
					hl__wasm_say(err, errlen,
					             "import 'env' '%s' cannot be a guest import: %s",
					             b, why);
					return -EINVAL;
				}
				if (!hl__wasm_valid_hl_name(im->name)) {
					hl__wasm_say(err, errlen,
					             "import 'env' '%s': a guest import's name must be 1 to 64 characters "
					             "of [A-Za-z0-9_.]",
					             b);
					return -EINVAL;
				}
				continue;
			case ENV_HOST: break;
			}
			if (em_reserved(im->name)) {
				hl__wasm_say(err, errlen,
				             "import 'env' '%s' is a function of emscripten's JavaScript runtime that "
				             "the wasm guest runtime does not implement (it implements the clocks, heap "
				             "growth, abort, assertions, the time zone (UTC), and ENOSYS for system "
				             "calls and file mappings; docs/wasm.md lists them)",
				             b);
				return -EINVAL;
			}
			if (!hl__wasm_valid_hl_name(im->name)) {
				hl__wasm_say(err, errlen,
				             "import 'env' '%s': a host function name must be 1 to 64 characters of "
				             "[A-Za-z0-9_.]",
				             b);
				return -EINVAL;
			}
			if (why) {
				hl__wasm_say(err, errlen,
				             "import 'env' '%s' cannot be a host function: %s", b,
				             why);
				return -EINVAL;
			}
		} else if (hl__wasm_name_is(im->module, WASI_MODULE)) {
			const struct wasi_fn *w = wasi_lookup(im->name);
			if (w && !wasi_sig_matches(w, t)) {
				hl__wasm_say(err, errlen,
				             "import '" WASI_MODULE
				             "' '%s' does not have WASI's signature",
				             b);
				return -EINVAL;
			}
			if (!w && (t->nresults != 1 || t->results[0] != HL__WASM_I32 ||
			           type_problem(t))) {
				hl__wasm_say(err, errlen,
				             "import '" WASI_MODULE
				             "' '%s' is not supported and does not return an "
				             "errno (i32) that could say so",
				             b);
				return -EINVAL;
			}
		} else {
			hl__wasm_say(err, errlen,
			             "import '%s' '%s': a wasm guest can import functions only from module 'env' "
			             "(host functions, guest imports, emscripten's runtime) and '" WASI_MODULE
			             "' (WASI)",
			             a, b);
			return -EINVAL;
		}
	}
	/* Every guest import must be imported, so that a misspelt name is caught. */
	for (const char *const *g = o ? o->guest_imports : NULL; g && *g; g++) {
		bool found = false;
		for (uint32_t i = 0; i < m->nimports && !found; i++)
			found = m->imports[i].kind == HL__WASM_FUNC &&
			        hl__wasm_name_is(m->imports[i].module, "env") &&
			        hl__wasm_name_is(m->imports[i].name, *g);
		if (!found) {
			hl__wasm_say(err, errlen,
			             "guest import '%.80s' is not an 'env' function import of the module",
			             *g);
			return -EINVAL;
		}
	}
	return 0;
}

/* True if wasm2c's header declares `decl` (a prefix of a prototype). */
static bool declared(const char *header, const char *decl)
{
	return strstr(header, decl) != NULL;
}

/* The C name of export or import pieces: "Z_" + mangled a + "Z_" + mangled b. */
static char *c_name(struct hl__wasm_name mod, const char *modname, struct hl__wasm_name n)
{
	size_t la = modname ? strlen(modname) : hl__wasm_mangle(mod.p, mod.len, NULL, 0);
	size_t lb = hl__wasm_mangle(n.p, n.len, NULL, 0);
	char *s = malloc(la + lb + 5);
	if (!s)
		return NULL;
	memcpy(s, "Z_", 2);
	if (modname)
		memcpy(s + 2, modname, la + 1);
	else
		hl__wasm_mangle(mod.p, mod.len, s + 2, la + 1);
	memcpy(s + 2 + la, "Z_", 2);
	hl__wasm_mangle(n.p, n.len, s + 4 + la, lb + 1);
	return s;
}

/* The C name of an import module's instance struct: "Z_" + mangled + "_instance_t". */
static char *instance_name(struct hl__wasm_name mod)
{
	size_t l = hl__wasm_mangle(mod.p, mod.len, NULL, 0);
	char *s = malloc(l + 14);
	if (!s)
		return NULL;
	memcpy(s, "Z_", 2);
	hl__wasm_mangle(mod.p, mod.len, s + 2, l + 1);
	memcpy(s + 2 + l, "_instance_t", 12);
	return s;
}

static void note(const struct hl__wasm_glue_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(const struct hl__wasm_glue_opts *o, const char *fmt, ...)
{
	if (!o->note)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	o->note(msg, o->note_user);
}

/* Writes the parameter types as HL_TYPE_* for an initializer's braces
 * (HL_TYPE_VOID alone for none: C11 has no empty initializer). */
static void write_type_list(FILE *f, const struct hl__wasm_functype *t)
{
	if (!t->nparams)
		fputs("HL_TYPE_VOID", f);
	for (uint32_t k = 0; k < t->nparams; k++)
		fprintf(f, "%s%s", k ? ", " : "", hl_type_macro(t->params[k]));
}

/* Writes the parameter list "(struct X *ctx, u32 p0, u64 p1)" of an import. */
static void write_import_params(FILE *f, const char *inst, const struct hl__wasm_functype *t)
{
	fprintf(f, "(struct %s *ctx", inst);
	for (uint32_t k = 0; k < t->nparams; k++)
		fprintf(f, ", %s p%u", c_type(t->params[k]), k);
	fputc(')', f);
}

/* Writes "(p0, p1, ...)" */
static void write_call_args(FILE *f, const struct hl__wasm_functype *t)
{
	fputc('(', f);
	for (uint32_t k = 0; k < t->nparams; k++)
		fprintf(f, "%sp%u", k ? ", " : "", k);
	fputc(')', f);
}

/* The prototype of a guest import's C function, "u32 hl_wasm_env_name(u32 p0, ...)". */
static void write_guest_import_proto(FILE *f, const struct hl__wasm_import *im,
                                     const struct hl__wasm_functype *t)
{
	fprintf(f, "%s hl_wasm_env_%.*s(", t->nresults ? c_type(t->results[0]) : "void",
	        (int)im->name.len, (const char *)im->name.p);
	if (!t->nparams)
		fputs("void", f);
	for (uint32_t k = 0; k < t->nparams; k++)
		fprintf(f, "%s%s p%u", k ? ", " : "", c_type(t->params[k]), k);
	fputc(')', f);
}

static int write_imports(FILE *f, const struct hl__wasm_module *m, const char *header,
                         const struct hl__wasm_glue_opts *o, char *err, size_t errlen)
{
	char shown[400];
	for (uint32_t i = 0; i < m->nimports; i++) {
		const struct hl__wasm_import *im = &m->imports[i];
		bool dup = false;
		for (uint32_t j = 0; j < i && !dup; j++)
			dup = m->imports[j].module.len == im->module.len &&
			      m->imports[j].name.len == im->name.len &&
			      memcmp(m->imports[j].module.p, im->module.p, im->module.len) == 0 &&
			      memcmp(m->imports[j].name.p, im->name.p, im->name.len) == 0;
		if (dup)
			continue; /* one C function serves both (the types are the same) */
		char *fn = c_name(im->module, NULL, im->name), *inst = instance_name(im->module);
		char *decl = fn && inst ? malloc(strlen(fn) + strlen(inst) + 16) : NULL;
		if (!decl) {
			free(fn);
			free(inst);
			hl__wasm_say(err, errlen, "out of memory");
			return -ENOMEM;
		}
		sprintf(decl, "%s(struct %s*", fn, inst);
		if (!declared(header, decl)) {
			hl__wasm_say(err, errlen,
			             "wasm2c's header does not declare the import '%s' as %s...): this wasm2c "
			             "names things differently from wasm2c 1.0.32, which hyperlight expects",
			             show(im->name, shown, sizeof shown), decl);
			free(fn);
			free(inst);
			free(decl);
			return -EINVAL;
		}
		if (im->kind == HL__WASM_MEMORY) {
			/* The imported memory lives in the glue; the module asks for it
			 * through this function. */
			fprintf(f,
			        "\n/* imported memory %.*s */\nstatic wasm_rt_memory_t hlw_memory;\n"
			        "wasm_rt_memory_t *%s(struct %s *ctx)\n{\n\t(void)ctx;\n\treturn "
			        "&hlw_memory;\n}\n",
			        (int)im->name.len, im->name.p, fn, inst);
			free(fn);
			free(inst);
			free(decl);
			continue;
		}
		const struct hl__wasm_functype *t = &m->types[im->type];
		const char *ret = t->nresults ? c_type(t->results[0]) : "void";
		const struct wasi_fn *w = NULL;
		enum env_kind kind = hl__wasm_name_is(im->module, "env") ? env_kind(im->name, o, &w)
		                                                         : ENV_HOST;
		if (hl__wasm_name_is(im->module, "env") && kind == ENV_HOST) {
			fprintf(f, "\n/* host function %.*s */\n", (int)im->name.len, im->name.p);
			fprintf(f,
			        "static const struct hl_wasm_import hlw_import%u = {\"%.*s\", %s, %u, {",
			        i, (int)im->name.len, im->name.p,
			        t->nresults ? hl_type_macro(t->results[0]) : "HL_TYPE_VOID",
			        t->nparams);
			write_type_list(f, t);
			fprintf(f, "}};\n%s %s", ret, fn);
			write_import_params(f, inst, t);
			fprintf(f, "\n{\n\t(void)ctx;\n");
			if (t->nparams) {
				fprintf(f, "\tuint64_t a[%u] = {", t->nparams);
				for (uint32_t k = 0; k < t->nparams; k++) {
					const char *conv = t->params[k] == HL__WASM_F32
					                           ? "hl_wasm__f32_bits"
					                   : t->params[k] == HL__WASM_F64
					                           ? "hl_wasm__f64_bits"
					                           : "(uint64_t)";
					fprintf(f, "%s%s(p%u)", k ? ", " : "", conv, k);
				}
				fprintf(f, "};\n");
			}
			const char *args = t->nparams ? "a" : "NULL";
			if (!t->nresults)
				fprintf(f, "\thl_wasm__call_import(&hlw_import%u, %s);\n", i, args);
			else if (t->results[0] == HL__WASM_F32)
				fprintf(f,
				        "\treturn hl_wasm__bits_f32(hl_wasm__call_import(&hlw_import%u, %s));\n",
				        i, args);
			else if (t->results[0] == HL__WASM_F64)
				fprintf(f,
				        "\treturn hl_wasm__bits_f64(hl_wasm__call_import(&hlw_import%u, %s));\n",
				        i, args);
			else
				fprintf(f, "\treturn (%s)hl_wasm__call_import(&hlw_import%u, %s);\n",
				        ret, i, args);
			fprintf(f, "}\n");
		} else if (hl__wasm_name_is(im->module, "env")) {
			fprintf(f, "\n/* %s %.*s */\n%s %s",
			        kind == ENV_GUEST ? "guest import"
			        : kind == ENV_RUNTIME
			                ? "emscripten runtime function"
			                : "emscripten system call: not supported, -ENOSYS",
			        (int)im->name.len, im->name.p, ret, fn);
			write_import_params(f, inst, t);
			fprintf(f, "\n{\n\t(void)ctx;\n");
			if (kind == ENV_ENOSYS) {
				for (uint32_t k = 0; k < t->nparams; k++)
					fprintf(f, "\t(void)p%u;\n", k);
				fprintf(f, "\treturn (u32)-(int32_t)HL_WASM__WASI_ENOSYS;\n");
				note(o,
				     "emscripten system call '%s' is not supported: it returns -ENOSYS",
				     show(im->name, shown, sizeof shown));
			} else {
				fprintf(f, "\t%s", t->nresults ? "return " : "");
				if (kind == ENV_GUEST)
					fprintf(f, "hl_wasm_env_%.*s", (int)im->name.len,
					        im->name.p);
				else
					fputs(w->impl, f);
				write_call_args(f, t);
				fprintf(f, ";\n");
			}
			fprintf(f, "}\n");
		} else {
			w = wasi_lookup(im->name);
			/* The name goes into a comment only if it cannot end it. */
			bool plain = hl__wasm_valid_hl_name(im->name);
			fprintf(f, "\n/* WASI %.*s%s */\n%s %s", plain ? (int)im->name.len : 1,
			        plain ? (const char *)im->name.p : "?",
			        w ? "" : ": not supported, ENOSYS", ret, fn);
			write_import_params(f, inst, t);
			fprintf(f, "\n{\n\t(void)ctx;\n");
			if (w) {
				fprintf(f, "\t%s%s", w->result ? "return " : "", w->impl);
				write_call_args(f, t);
				fprintf(f, ";\n");
			} else {
				for (uint32_t k = 0; k < t->nparams; k++)
					fprintf(f, "\t(void)p%u;\n", k);
				fprintf(f, "\treturn HL_WASM__WASI_ENOSYS;\n");
				note(o, "WASI function '%s' is not supported: it returns ENOSYS",
				     show(im->name, shown, sizeof shown));
			}
			fprintf(f, "}\n");
		}
		free(fn);
		free(inst);
		free(decl);
	}
	return 0;
}

int hl__wasm_write_glue_header(FILE *f, const struct hl__wasm_module *m,
                               const struct hl__wasm_glue_opts *o, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	fprintf(f,
	        "/* hl_wasm_glue.h - generated by hyperlight wasm build: what the guest's own C "
	        "sources see of the module. Do not edit. */\n"
	        "#ifndef HL_WASM_GLUE_H_GENERATED\n#define HL_WASM_GLUE_H_GENERATED\n"
	        "#include \"hl_wasm_rt.h\"\n#include \"module.h\"\n\n"
	        "/* The module's instance: pass &hl_wasm_instance to its exports "
	        "(Z_" HL__WASM_MODNAME
	        "Z_<name>). */\n"
	        "extern " HL__WASM_MODNAME_T " hl_wasm_instance;\n");
	for (uint32_t i = 0; i < m->nimports; i++) {
		const struct hl__wasm_import *im = &m->imports[i];
		bool dup = false;
		for (uint32_t j = 0; j < i && !dup; j++)
			dup = hl__wasm_name_is(m->imports[j].module, "env") &&
			      m->imports[j].kind == HL__WASM_FUNC &&
			      m->imports[j].name.len == im->name.len &&
			      memcmp(m->imports[j].name.p, im->name.p, im->name.len) == 0;
		if (dup || im->kind != HL__WASM_FUNC || !hl__wasm_name_is(im->module, "env") ||
		    !in_list(o->guest_imports, im->name))
			continue;
		fprintf(f, "\n/* guest import 'env' '%.*s': defined by the guest's C sources */\n",
		        (int)im->name.len, im->name.p);
		write_guest_import_proto(f, im, &m->types[im->type]);
		fprintf(f, ";\n");
	}
	fprintf(f, "\n#endif\n");
	return 0;
}

/* Writes the body and wrapper of export i; returns false if it is skipped. */
static bool write_export(FILE *f, const struct hl__wasm_module *m, uint32_t i, const char *header,
                         const struct hl__wasm_glue_opts *o, char **cname)
{
	const struct hl__wasm_export *e = &m->exports[i];
	char shown[400];
	*cname = NULL;
	if (e->kind != HL__WASM_FUNC)
		return false;
	const struct hl__wasm_functype *t = hl__wasm_func_type(m, e->index);
	const char *why = type_problem(t);
	if (!hl__wasm_valid_hl_name(e->name))
		why = "its name is not 1 to 64 characters of [A-Za-z0-9_.]";
	if (why) {
		note(o, "export '%s' is not callable from the host: %s",
		     show(e->name, shown, sizeof shown), why);
		return false;
	}
	struct hl__wasm_name none = {NULL, 0};
	char *fn = c_name(none, HL__WASM_MODNAME, e->name);
	if (!fn)
		return false;
	char decl[400];
	snprintf(decl, sizeof decl, " %s(" HL__WASM_MODNAME_T "*", fn);
	if (!declared(header, decl)) {
		note(o,
		     "export '%s' is not callable from the host: wasm2c's header does not declare %s",
		     show(e->name, shown, sizeof shown), fn);
		free(fn);
		return false;
	}
	fprintf(f, "\n/* export %.*s */\nstatic int hlw_body%u(hl_call *c)\n{\n\t",
	        (int)e->name.len, e->name.p, i);
	if (t->nresults)
		fprintf(f, "%s r = ", c_type(t->results[0]));
	fprintf(f, "%s(&hl_wasm_instance", fn);
	for (uint32_t k = 0; k < t->nparams; k++) {
		switch (t->params[k]) {
		case HL__WASM_I32: fprintf(f, ", (u32)hl_arg_i32(c, %u)", k); break;
		case HL__WASM_I64: fprintf(f, ", (u64)hl_arg_i64(c, %u)", k); break;
		case HL__WASM_F32: fprintf(f, ", hl_arg_f32(c, %u)", k); break;
		default: fprintf(f, ", hl_arg_f64(c, %u)", k); break;
		}
	}
	fprintf(f, ");\n");
	if (!t->nresults)
		fprintf(f, "\treturn hl_return_void(c);\n");
	else if (t->results[0] == HL__WASM_I32)
		fprintf(f, "\treturn hl_return_i32(c, (int32_t)r);\n");
	else if (t->results[0] == HL__WASM_I64)
		fprintf(f, "\treturn hl_return_i64(c, (int64_t)r);\n");
	else if (t->results[0] == HL__WASM_F32)
		fprintf(f, "\treturn hl_return_f32(c, r);\n");
	else
		fprintf(f, "\treturn hl_return_f64(c, r);\n");
	fprintf(f,
	        "}\nstatic int hlw_export%u(hl_call *c)\n{\n\treturn hl_wasm__invoke(c, hlw_body%u);\n}\n",
	        i, i);
	*cname = fn;
	return true;
}

int hl__wasm_write_glue(FILE *f, const struct hl__wasm_module *m, const char *header,
                        const struct hl__wasm_glue_opts *o, char *err, size_t errlen)
{
	/* The instance takes one pointer per imported module; ours are NULL
	 * (the import functions keep no per-module state). */
	uint32_t nmods = 0;
	for (uint32_t i = 0; i < m->nimports; i++) {
		bool seen = false;
		for (uint32_t j = 0; j < i && !seen; j++)
			seen = m->imports[j].module.len == m->imports[i].module.len &&
			       memcmp(m->imports[j].module.p, m->imports[i].module.p,
			              m->imports[i].module.len) == 0;
		nmods += !seen;
	}
	const char *inst_decl = "void Z_" HL__WASM_MODNAME "_instantiate(" HL__WASM_MODNAME_T "*";
	const char *line = strstr(header, inst_decl);
	uint32_t commas = 0;
	for (const char *p = line; p && *p && *p != ';'; p++)
		commas += *p == ',';
	if (!line || commas != nmods) {
		hl__wasm_say(err, errlen,
		             "wasm2c's header does not declare %s...) with %u import instance%s: this wasm2c "
		             "differs from wasm2c 1.0.32, which hyperlight expects",
		             inst_decl, nmods, nmods == 1 ? "" : "s");
		return -EINVAL;
	}

	fprintf(f,
	        "/* glue.c - generated by hyperlight wasm build: binds the module to the guest's "
	        "wasm runtime. Do not edit. */\n"
	        "#include \"hl_wasm_glue.h\"\n\n"
	        "const uint32_t hl_wasm__max_depth = %uu;\n" HL__WASM_MODNAME_T
	        " hl_wasm_instance;\n",
	        o->max_call_depth ? o->max_call_depth : UINT32_MAX);
	int r = write_imports(f, m, header, o, err, errlen);
	if (r < 0)
		return r;

	char **names = calloc(m->nexports ? m->nexports : 1, sizeof *names);
	if (!names) {
		hl__wasm_say(err, errlen, "out of memory");
		return -ENOMEM;
	}
	uint32_t nreg = 0;
	int initialize = -1;
	/* A reactor's "_initialize" (WASI), else emscripten's
	 * "__wasm_call_ctors" (the C constructors, which emscripten's JavaScript
	 * calls before anything else), runs once at init and is never called by
	 * the host. */
	for (int pass = 0; pass < 2 && initialize < 0; pass++)
		for (uint32_t i = 0; i < m->nexports && initialize < 0; i++) {
			const struct hl__wasm_export *e = &m->exports[i];
			if (e->kind == HL__WASM_FUNC &&
			    hl__wasm_name_is(e->name,
			                     pass == 0 ? "_initialize" : "__wasm_call_ctors")) {
				const struct hl__wasm_functype *t = hl__wasm_func_type(m, e->index);
				if (t->nparams == 0 && t->nresults == 0)
					initialize = (int)i;
			}
		}
	for (uint32_t i = 0; i < m->nexports; i++) {
		const struct hl__wasm_export *e = &m->exports[i];
		if ((int)i == initialize || o->no_exports)
			continue;
		if (nreg == HL_MAX_FUNCTIONS) {
			if (e->kind == HL__WASM_FUNC)
				note(o,
				     "export %u is not callable from the host: a guest has at most %u "
				     "functions",
				     i, HL_MAX_FUNCTIONS);
			continue;
		}
		if (write_export(f, m, i, header, o, &names[i]))
			nreg++;
	}

	if (nreg) {
		fprintf(f, "\nstatic const struct hl_wasm_export exports[] = {\n");
		for (uint32_t i = 0; i < m->nexports; i++) {
			if (!names[i])
				continue;
			const struct hl__wasm_export *e = &m->exports[i];
			const struct hl__wasm_functype *t = hl__wasm_func_type(m, e->index);
			fprintf(f, "\t{\"%.*s\", hlw_export%u, %s, %u, {", (int)e->name.len,
			        e->name.p, i,
			        t->nresults ? hl_type_macro(t->results[0]) : "HL_TYPE_VOID",
			        t->nparams);
			write_type_list(f, t);
			fprintf(f, "}},\n");
		}
		fprintf(f, "};\n");
	}

	/* The exported memory's struct lives in the instance, so its address is
	 * known before instantiation, when the start function may use WASI. An
	 * imported memory is the glue's own, allocated here with the import's
	 * limits (an emscripten module grows it through emscripten_resize_heap). */
	char *mem = NULL;
	const struct hl__wasm_import *mem_import = NULL;
	for (uint32_t i = 0; i < m->nimports; i++)
		if (m->imports[i].kind == HL__WASM_MEMORY)
			mem_import = &m->imports[i];
	for (uint32_t i = 0; i < m->nexports && !mem && !mem_import; i++)
		if (m->exports[i].kind == HL__WASM_MEMORY &&
		    hl__wasm_name_is(m->exports[i].name, "memory")) {
			struct hl__wasm_name none = {NULL, 0};
			mem = c_name(none, HL__WASM_MODNAME, m->exports[i].name);
		}
	fprintf(f, "\nstatic void instantiate(void)\n{\n");
	if (mem_import)
		fprintf(f,
		        "\twasm_rt_allocate_memory(&hlw_memory, %lluu, %lluu);\n"
		        "\thl_wasm__memory = &hlw_memory;\n",
		        (unsigned long long)mem_import->min,
		        (unsigned long long)(mem_import->max > 65536 ? 65536 : mem_import->max));
	else if (mem)
		fprintf(f, "\thl_wasm__memory = %s(&hl_wasm_instance);\n", mem);
	fprintf(f, "\tZ_" HL__WASM_MODNAME "_init_module();\n\tZ_" HL__WASM_MODNAME
	           "_instantiate(&hl_wasm_instance");
	for (uint32_t k = 0; k < nmods; k++)
		fprintf(f, ", NULL");
	fprintf(f, ");\n}\n");
	if (initialize >= 0) {
		struct hl__wasm_name none = {NULL, 0};
		char *init = c_name(none, HL__WASM_MODNAME, m->exports[initialize].name);
		if (!init) {
			hl__wasm_say(err, errlen, "out of memory");
			r = -ENOMEM;
		} else {
			fprintf(f,
			        "\nstatic void initialize(void)\n{\n\t%s(&hl_wasm_instance);\n}\n",
			        init);
			free(init);
		}
	}
	fprintf(f, "\nconst struct hl_wasm_module hl_wasm_module = {instantiate, %s, %s, %uu};\n",
	        initialize >= 0 ? "initialize" : "NULL", nreg ? "exports" : "NULL", nreg);
	free(mem);
	for (uint32_t i = 0; i < m->nexports; i++)
		free(names[i]);
	free(names);
	return r;
}
