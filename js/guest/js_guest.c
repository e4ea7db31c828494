/* js_guest.c - the JavaScript guest: drives QuickJS (a wasm module compiled in beside this file by hyperlight wasm build) through its quickjs-emscripten interface; serves js_limits, js_load and js_call (hyperlight/js_abi.h). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hl_wasm_glue.h"
#include "hyperlight/js_abi.h"
#include "hyperlight/wasm_abi.h"

/* Every export takes the instance first. */
#define I (&hl_wasm_instance)
/* JavaScript values live in the module's memory: the guest holds their
 * addresses (JSValue *), which are 32-bit offsets into it. */
typedef uint32_t wptr;

#define MAX_HANDLERS 256
#define HOST_REF_PRINT 1 /* the host function id of console's print */

/* QuickJS's JS_EVAL_* flags, as quickjs-emscripten passes them through. */
#define EVAL_GLOBAL 0

struct handler {
	char name[HL_MAX_NAME + 1];
	wptr ctx;      /* JSContext *: the handler's own realm */
	wptr fn;       /* JSValue *: the handler function */
	wptr call;     /* JSValue *: the bootstrap's call(fn, json) */
	wptr describe; /* JSValue *: the bootstrap's describe(exception) */
};

static wptr rt; /* JSRuntime * */
static struct handler *handlers;
static unsigned nhandlers;
/* The deadline of the running call in CLOCK_MONOTONIC nanoseconds, 0: none;
 * the engine asks qts_host_interrupt_handler every few thousand steps. */
static uint64_t deadline_ns;
static int timed_out;
static uint32_t timeout_ms_now;

/*
 * Set up in every realm before the handler's source: console (through the
 * print host function), and three functions kept by the guest, made before
 * any user code runs so that a handler that replaces JSON or String cannot
 * break them: call(fn, json), describe(exception), pick(result, name).
 */
static const char bootstrap_js[] =
	"(function (print) {\n"
	"  'use strict';\n"
	"  const P = JSON.parse, S = JSON.stringify, Str = String, isArray = Array.isArray;\n"
	"  const ErrorT = Error;\n"
	"  const fmt = (v) => {\n"
	"    if (typeof v === 'string') return v;\n"
	"    try {\n"
	"      if (v instanceof ErrorT) return Str(v) + (v.stack ? '\\n' + v.stack : '');\n"
	"      if (v !== null && typeof v === 'object') { const j = S(v); if (j !== undefined) return j; }\n"
	"    } catch (e) { /* fall through */ }\n"
	"    try { return Str(v); } catch (e) { return '[value]'; }\n"
	"  };\n"
	"  const out = (fd) => function (...a) { print(fd, a.map(fmt).join(' ') + '\\n'); };\n"
	"  globalThis.console = { log: out(1), info: out(1), debug: out(1), trace: out(1),\n"
	"                         warn: out(2), error: out(2) };\n"
	"  const ser = (v) => { const j = S(v); return j === undefined ? 'null' : j; };\n"
	"  const call = (fn, json) => {\n"
	"    let arg;\n"
	"    try { arg = P(json); } catch (e) { throw new TypeError('the argument is not JSON: ' + e.message); }\n"
	"    const r = fn(arg);\n"
	"    if (r !== null && typeof r === 'object' && typeof r.then === 'function') return r.then(ser);\n"
	"    return ser(r);\n"
	"  };\n"
	"  const clean = (s) => Str(s).split('\\x1e').join(' ');\n"
	"  const trim = (s) => s ? clean(s).split('\\n').filter((l) => l.indexOf('(<hyperlight>') < 0).join('\\n') : '';\n"
	"  const describe = (e) => {\n"
	"    try {\n"
	"      if (e instanceof ErrorT || (e !== null && typeof e === 'object' && 'message' in e))\n"
	"        return [clean(e.name || 'Error'), clean(e.message), trim(e.stack)].join('\\x1e');\n"
	"      return ['Error', 'uncaught ' + (e === null ? 'null' : typeof e) + ': ' + clean(fmt(e)), ''].join('\\x1e');\n"
	"    } catch (x) { return 'Error\\x1ean exception that cannot be described\\x1e'; }\n"
	"  };\n"
	"  const pick = (res, name) => {\n"
	"    if (res !== null && (typeof res === 'object' || typeof res === 'function')) {\n"
	"      if (typeof res[name] === 'function') return res[name];\n"
	"      if (name === 'handler' && typeof res.default === 'function') return res.default;\n"
	"    }\n"
	"    if (typeof globalThis[name] === 'function') return globalThis[name];\n"
	"    throw new TypeError('the source defines no function ' + name + ': declare function ' + name +\n"
	"                        '(event) { ... } or export it');\n"
	"  };\n"
	"  return [call, describe, pick];\n"
	"})\n";

/* ---- The module's memory ------------------------------------------------------ */

/* A pointer to [p, p + n) in the module's memory, or NULL. The memory may
 * move whenever the module runs (it grows by realloc): never keep one
 * across a call into the module. */
static uint8_t *at(wptr p, uint64_t n)
{
	return p ? hl_wasm__mem_range(p, n) : NULL;
}

/* Copies s[0..n) and a NUL into the module's heap; 0 when it is full. */
static wptr wstr(const char *s, size_t n)
{
	if (n >= UINT32_MAX)
		return 0;
	wptr p = Z_hlmodZ_malloc(I, (uint32_t)n + 1);
	uint8_t *d = at(p, (uint64_t)n + 1);
	if (!d)
		return 0;
	memcpy(d, s, n);
	d[n] = '\0';
	return p;
}

/* The length of the NUL-terminated string at p, bounded by the memory;
 * (size_t)-1 if it is not terminated inside it. */
static size_t wlen(wptr p)
{
	wasm_rt_memory_t *m = hl_wasm__memory;
	if (!p || p >= m->size)
		return (size_t)-1;
	const uint8_t *s = m->data + p, *nul = memchr(s, 0, m->size - p);
	return nul ? (size_t)(nul - s) : (size_t)-1;
}

/* ---- Errors ------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Which code an exception deserves, from QuickJS's own messages. */
static int classify(const char *name, const char *msg)
{
	if (timed_out)
		return HL_JS_CODE_TIMEOUT;
	if (strstr(msg, "out of memory") && strcmp(name, "InternalError") == 0)
		return HL_JS_CODE_MEMORY;
	if (strstr(msg, "stack overflow") || strstr(msg, "Maximum call stack size exceeded"))
		return HL_JS_CODE_STACK;
	return HL_JS_CODE_EXCEPTION;
}

/*
 * Fails the call with the exception `exc` (a JSValue * the caller owns) of
 * handler h: describe() gives "name\x1emessage\x1estack". code_override, if
 * not 0, is the code whatever the exception (a failed load). When the engine cannot even
 * describe it (no memory left, or the deadline keeps interrupting), the
 * message says so.
 */
static int fail_exception(hl_call *c, const struct handler *h, wptr exc, int code_override)
{
	if (timed_out)
		return hl_return_error(c, HL_JS_CODE_TIMEOUT,
		                       "InternalError: handler '%s' ran longer than its timeout of %u ms",
		                       h->name, timeout_ms_now);
	deadline_ns = 0;
	wptr argv = Z_hlmodZ_malloc(I, 4);
	uint8_t *a = at(argv, 4);
	char name[128] = "Error",
	     msg[3000] = "an exception that cannot be described (no memory left?)";
	char stack[3000] = "";
	if (a) {
		memcpy(a, &exc, 4);
		wptr d = Z_hlmodZ_QTS_Call(I, h->ctx, h->describe, Z_hlmodZ_QTS_GetUndefined(I), 1,
		                           argv);
		wptr e = Z_hlmodZ_QTS_ResolveException(I, h->ctx, d);
		if (!e) {
			wptr s = Z_hlmodZ_QTS_GetString(I, h->ctx, d);
			size_t n = wlen(s);
			if (n != (size_t)-1) {
				const char *t = (const char *)at(s, n + 1);
				const char *s1 = memchr(t, 0x1e, n),
					   *s2 = s1 ? memchr(s1 + 1, 0x1e, n - (size_t)(s1 + 1 - t))
				                    : NULL;
				if (s1 && s2) {
					snprintf(name, sizeof name, "%.*s", (int)(s1 - t), t);
					snprintf(msg, sizeof msg, "%.*s", (int)(s2 - s1 - 1),
					         s1 + 1);
					snprintf(stack, sizeof stack, "%.*s", (int)(t + n - s2 - 1),
					         s2 + 1);
				}
			}
			if (s)
				Z_hlmodZ_QTS_FreeCString(I, h->ctx, s);
		} else {
			Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, e);
		}
		Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, d);
	}
	Z_hlmodZ_free(I, argv);
	/* With HL_JS_REUSE the engine lives on: nothing of the failure stays. */
	Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, exc);
	int code = code_override ? code_override : classify(name, msg);
	/* Trailing newlines of the stack add nothing. */
	size_t sl = strlen(stack);
	while (sl && stack[sl - 1] == '\n')
		stack[--sl] = '\0';
	return hl_return_error(c, code, "%s: %s%s%s", name, msg, sl ? HL_JS_STACK_MARK : "", stack);
}

/* ---- console: the print host function ------------------------------------------ */

/* quickjs-emscripten calls this for every function made with
 * QTS_NewFunction; the only one here is print(fd, text). Returns a
 * JSValue * or 0 (undefined). */
uint32_t hl_wasm_env_qts_host_call_function(uint32_t ctx, uint32_t this_ptr, uint32_t argc,
                                            uint32_t argv, uint32_t host_ref_id)
{
	(void)this_ptr;
	if (host_ref_id != HOST_REF_PRINT || argc < 2)
		return 0;
	double fd = Z_hlmodZ_QTS_GetFloat64(I, ctx,
	                                    Z_hlmodZ_QTS_ArgvGetJSValueConstPointer(I, argv, 0));
	wptr s = Z_hlmodZ_QTS_GetString(I, ctx, Z_hlmodZ_QTS_ArgvGetJSValueConstPointer(I, argv, 1));
	size_t n = wlen(s);
	if (n != (size_t)-1 && n > 0) {
		const uint8_t *p = at(s, n);
		/* The runtime turns each write into a print record for the host;
		 * a full output buffer drops the rest of the line. */
		ssize_t w = 1;
		for (size_t off = 0; off < n && w > 0; off += (size_t)w)
			w = write(fd == 2.0 ? 2 : 1, p + off, n - off);
	}
	if (s)
		Z_hlmodZ_QTS_FreeCString(I, ctx, s);
	return 0;
}

/* The engine asks whether to interrupt the running JavaScript. */
uint32_t hl_wasm_env_qts_host_interrupt_handler(uint32_t runtime)
{
	(void)runtime;
	if (deadline_ns && now_ns() > deadline_ns) {
		timed_out = 1;
		return 1;
	}
	return 0;
}

/* Module loading is never enabled (QTS_RuntimeEnableModuleLoader is not
 * called), so the engine never asks for these: an import of another module
 * fails to resolve inside the engine. */
uint32_t hl_wasm_env_qts_host_load_module_source(uint32_t runtime, uint32_t ctx, uint32_t name)
{
	(void)runtime, (void)ctx, (void)name;
	return 0;
}

uint32_t hl_wasm_env_qts_host_normalize_module(uint32_t runtime, uint32_t ctx, uint32_t base,
                                               uint32_t name)
{
	(void)runtime, (void)ctx, (void)base, (void)name;
	return 0;
}

void hl_wasm_env_qts_host_ref_free(uint32_t runtime, uint32_t id)
{
	(void)runtime, (void)id;
}

/* ---- Guest functions ------------------------------------------------------------ */

static struct handler *find(const char *name)
{
	for (unsigned i = 0; i < nhandlers; i++)
		if (strcmp(handlers[i].name, name) == 0)
			return &handlers[i];
	return NULL;
}

/* A trap (the native stack ran out inside the engine, an abort) leaves the
 * engine's memory as it was at that moment: refuse to run it again until
 * the host restores the sandbox, which also clears the flag. */
static int refuse_if_trapped(hl_call *c)
{
	if (hl_wasm__trapped)
		return hl_return_error(c, HL_JS_CODE_STATE,
		                       "an earlier trap stopped the engine in the middle of an operation: "
		                       "restore the sandbox before calling it again");
	return 0;
}

static int limits_body(hl_call *c)
{
	int64_t mem = hl_arg_i64(c, 0);
	int32_t stack = hl_arg_i32(c, 1);
	if (mem < 0 || (uint64_t)mem >= UINT32_MAX || stack < 0)
		return hl_return_error(c, HL_JS_CODE_USAGE,
		                       "js_limits: a memory limit of 0 to 4 GiB - 1 and a non-negative stack");
	Z_hlmodZ_QTS_RuntimeSetMemoryLimit(I, rt, mem ? (uint32_t)mem : UINT32_MAX);
	if (stack)
		Z_hlmodZ_QTS_RuntimeSetMaxStackSize(I, rt, (uint32_t)stack);
	return hl_return_void(c);
}

static int load_body(hl_call *c)
{
	size_t nlen, flen, filen, slen;
	const char *name = hl_arg_string(c, 0, &nlen);
	const char *fname = hl_arg_string(c, 1, &flen);
	const char *file = hl_arg_string(c, 2, &filen);
	const char *src = hl_arg_string(c, 3, &slen);
	int r = refuse_if_trapped(c);
	if (r)
		return r;
	if (nlen == 0 || nlen > HL_MAX_NAME || flen == 0)
		return hl_return_error(c, HL_JS_CODE_USAGE,
		                       "js_load: a name of 1 to %u bytes and a function name",
		                       HL_MAX_NAME);
	if (find(name))
		return hl_return_error(c, HL_JS_CODE_USAGE,
		                       "js_load: handler '%s' is loaded already", name);
	if (nhandlers == MAX_HANDLERS)
		return hl_return_error(c, HL_JS_CODE_USAGE, "js_load: at most %u handlers",
		                       MAX_HANDLERS);
	struct handler h;
	memset(&h, 0, sizeof h);
	memcpy(h.name, name, nlen);
	timed_out = 0;
	deadline_ns = 0;

	h.ctx = Z_hlmodZ_QTS_NewContext(I, rt, 0); /* every intrinsic */
	if (!h.ctx)
		return hl_return_error(c, HL_JS_CODE_MEMORY,
		                       "js_load: the engine has no memory for a new realm");
	wptr pname = wstr("print", 5), boot_src = wstr(bootstrap_js, sizeof bootstrap_js - 1);
	wptr boot_file = wstr("<hyperlight>", 12), argv = Z_hlmodZ_malloc(I, 8);
	wptr code = wstr(src, slen), filename = wstr(file, filen), fnname = wstr(fname, flen);
	if (!pname || !boot_src || !boot_file || !argv || !code || !filename || !fnname)
		return hl_return_error(c, HL_JS_CODE_MEMORY,
		                       "js_load: the engine has no memory for the source");
	wptr print = Z_hlmodZ_QTS_NewFunction(I, h.ctx, pname, 2, 0, HOST_REF_PRINT);
	wptr boot = Z_hlmodZ_QTS_Eval(I, h.ctx, boot_src, sizeof bootstrap_js - 1, boot_file, 0,
	                              EVAL_GLOBAL);
	wptr e = Z_hlmodZ_QTS_ResolveException(I, h.ctx, boot);
	if (e)
		return hl_return_error(c, HL_JS_CODE_MEMORY,
		                       "js_load: the bootstrap failed to compile");
	memcpy(at(argv, 4), &print, 4);
	wptr helpers = Z_hlmodZ_QTS_Call(I, h.ctx, boot, Z_hlmodZ_QTS_GetUndefined(I), 1, argv);
	if ((e = Z_hlmodZ_QTS_ResolveException(I, h.ctx, helpers)))
		return hl_return_error(c, HL_JS_CODE_MEMORY, "js_load: the bootstrap failed to run");
	h.call = Z_hlmodZ_QTS_GetPropNumber(I, h.ctx, helpers, 0);
	h.describe = Z_hlmodZ_QTS_GetPropNumber(I, h.ctx, helpers, 1);
	wptr pick = Z_hlmodZ_QTS_GetPropNumber(I, h.ctx, helpers, 2);

	/* The source: a module when it imports or exports (its namespace comes
	 * back), else a script (its completion value). */
	wptr res = Z_hlmodZ_QTS_Eval(I, h.ctx, code, (uint32_t)slen, filename, 1, EVAL_GLOBAL);
	if ((e = Z_hlmodZ_QTS_ResolveException(I, h.ctx, res)))
		return fail_exception(c, &h, e, HL_JS_CODE_LOAD);
	/* A module with top-level await gives a promise of its namespace. */
	if ((int32_t)Z_hlmodZ_QTS_PromiseState(I, h.ctx, res) >= 0) {
		wptr lastctx = Z_hlmodZ_malloc(I, 4);
		while (Z_hlmodZ_QTS_PromiseState(I, h.ctx, res) == 0 &&
		       Z_hlmodZ_QTS_IsJobPending(I, rt))
			Z_hlmodZ_QTS_FreeValuePointer(I, h.ctx,
			                              Z_hlmodZ_QTS_ExecutePendingJob(I, rt, 1,
			                                                             lastctx));
		Z_hlmodZ_free(I, lastctx);
		uint32_t st = Z_hlmodZ_QTS_PromiseState(I, h.ctx, res);
		wptr v = Z_hlmodZ_QTS_PromiseResult(I, h.ctx, res);
		if (st != 1)
			return st == 2 ? fail_exception(c, &h, v, HL_JS_CODE_LOAD)
			               : hl_return_error(c, HL_JS_CODE_LOAD,
			                                 "Error: the module's top-level await never settled");
		res = v;
	}
	wptr fnval = Z_hlmodZ_QTS_NewString(I, h.ctx, fnname);
	memcpy(at(argv, 8), &res, 4);
	memcpy(at(argv, 8) + 4, &fnval, 4);
	h.fn = Z_hlmodZ_QTS_Call(I, h.ctx, pick, Z_hlmodZ_QTS_GetUndefined(I), 2, argv);
	if ((e = Z_hlmodZ_QTS_ResolveException(I, h.ctx, h.fn)))
		return fail_exception(c, &h, e, HL_JS_CODE_LOAD);
	/* The rest (sources, the bootstrap, helpers) can go; the realm keeps
	 * what it needs. */
	Z_hlmodZ_free(I, code);
	Z_hlmodZ_free(I, boot_src);
	Z_hlmodZ_free(I, argv);

	struct handler *nh = realloc(handlers, (nhandlers + 1) * sizeof *nh);
	if (!nh)
		return hl_return_error(c, HL_JS_CODE_MEMORY, "js_load: out of guest heap");
	handlers = nh;
	handlers[nhandlers++] = h;
	return hl_return_void(c);
}

static int call_body(hl_call *c)
{
	size_t nlen, jlen;
	const char *name = hl_arg_string(c, 0, &nlen);
	const char *json = hl_arg_string(c, 1, &jlen);
	uint32_t timeout_ms = hl_arg_u32(c, 2);
	int r = refuse_if_trapped(c);
	if (r)
		return r;
	struct handler *h = find(name);
	if (!h)
		return hl_return_error(c, HL_JS_CODE_NO_HANDLER,
		                       "no handler named '%.64s' is loaded", name);
	timed_out = 0;
	timeout_ms_now = timeout_ms;
	deadline_ns = timeout_ms ? now_ns() + (uint64_t)timeout_ms * 1000000u : 0;

	wptr argv = Z_hlmodZ_malloc(I, 8), js = wstr(json, jlen);
	if (!argv || !js)
		return hl_return_error(c, HL_JS_CODE_MEMORY,
		                       "the engine has no memory for the argument's %zu bytes",
		                       jlen);
	wptr jv = Z_hlmodZ_QTS_NewString(I, h->ctx, js);
	Z_hlmodZ_free(I, js);
	memcpy(at(argv, 8), &h->fn, 4);
	memcpy(at(argv, 8) + 4, &jv, 4);
	wptr res = Z_hlmodZ_QTS_Call(I, h->ctx, h->call, Z_hlmodZ_QTS_GetUndefined(I), 2, argv);
	Z_hlmodZ_free(I, argv);
	Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, jv);
	wptr e = Z_hlmodZ_QTS_ResolveException(I, h->ctx, res);
	if (e) {
		Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, res);
		return fail_exception(c, h, e, 0);
	}

	/* An async handler: run the engine's jobs until its promise settles. */
	if ((int32_t)Z_hlmodZ_QTS_PromiseState(I, h->ctx, res) >= 0) {
		wptr lastctx = Z_hlmodZ_malloc(I, 4);
		while (Z_hlmodZ_QTS_PromiseState(I, h->ctx, res) == 0 &&
		       Z_hlmodZ_QTS_IsJobPending(I, rt)) {
			wptr v = Z_hlmodZ_QTS_ExecutePendingJob(I, rt, 1, lastctx);
			if (timed_out) { /* the interrupt ended a job: the promise stays pending */
				Z_hlmodZ_free(I, lastctx);
				Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, res);
				return fail_exception(c, h, v, 0);
			}
			Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, v);
		}
		Z_hlmodZ_free(I, lastctx);
		uint32_t st = Z_hlmodZ_QTS_PromiseState(I, h->ctx, res);
		if (st == 0) {
			Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, res);
			return hl_return_error(c, HL_JS_CODE_NOT_SETTLED,
			                       "Error: handler '%s' returned a promise that never settled (no "
			                       "job is left that could settle it)",
			                       h->name);
		}
		wptr v = Z_hlmodZ_QTS_PromiseResult(I, h->ctx, res);
		Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, res);
		if (st == 2)
			return fail_exception(c, h, v, 0);
		res = v;
	}
	deadline_ns = 0;
	wptr s = Z_hlmodZ_QTS_GetString(I, h->ctx, res);
	size_t n = wlen(s);
	if (n == (size_t)-1)
		return hl_return_error(c, HL_JS_CODE_MEMORY,
		                       "the engine has no memory for the result");
	/* Copied out of the module's memory before anything else runs there. */
	const struct hl_boot_info *bi = hl_boot_info();
	if (n + 256 > bi->output_size)
		return hl_return_error(c, HL_JS_CODE_RESULT,
		                       "the result of %zu bytes of JSON does not fit the output buffer of "
		                       "%llu bytes",
		                       n, (unsigned long long)bi->output_size);
	r = hl_return_string(c, (const char *)at(s, n + 1), n);
	Z_hlmodZ_QTS_FreeCString(I, h->ctx, s);
	Z_hlmodZ_QTS_FreeValuePointer(I, h->ctx, res);
	return r;
}

static int js_limits(hl_call *c)
{
	return hl_wasm__invoke(c, limits_body);
}
static int js_load(hl_call *c)
{
	return hl_wasm__invoke(c, load_body);
}
static int js_call(hl_call *c)
{
	return hl_wasm__invoke(c, call_body);
}

/* After the module is instantiated (its constructors ran): the runtime,
 * whose state every later snapshot holds, and the guest functions. */
void hl_wasm_guest_init(void)
{
	rt = Z_hlmodZ_QTS_NewRuntime(I);
	if (!rt)
		hl_abort(HL_WASM_E_NOMEM, "js: QuickJS cannot create its runtime (heap too small?)");
	Z_hlmodZ_QTS_RuntimeEnableInterruptHandler(I, rt);
	HL_REGISTER(HL_JS_FN_LIMITS, js_limits, HL_TYPE_VOID, HL_TYPE_I64, HL_TYPE_I32);
	HL_REGISTER(HL_JS_FN_LOAD, js_load, HL_TYPE_VOID, HL_TYPE_STRING, HL_TYPE_STRING,
	            HL_TYPE_STRING, HL_TYPE_STRING);
	HL_REGISTER(HL_JS_FN_CALL, js_call, HL_TYPE_STRING, HL_TYPE_STRING, HL_TYPE_STRING,
	            HL_TYPE_U32);
}
