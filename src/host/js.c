/* js.c - JavaScript handlers (hyperlight/js.h): the JavaScript guest's setup, handler loading and calls on a sandbox, their errors in the JavaScript layer's terms, and the hl_js handle that keeps one sandbox and its snapshot. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperlight/js.h"
#include "hyperlight/wasm_abi.h"
#include "internal.h"

#ifndef HL_JS_DEFAULT_GUEST
#define HL_JS_DEFAULT_GUEST ""
#endif

#define MIB (1024ull * 1024ull)
/* QuickJS's initial memory (256 pages) and the part of the heap that is
 * not linear memory (the guest runtime, the engine's C-side tables). */
#define ENGINE_INITIAL (16 * MIB)
#define DEFAULT_MAX_STACK (1024u * 1024u)
/* The engine's own stack is 5 MiB (emscripten's STACK_SIZE of the build): a limit
 * past it would never trigger. */
#define MAX_MAX_STACK (4u * 1024u * 1024u)

/* ---- Names and defaults ----------------------------------------------------------- */

const char *hl_js_strerror(int code)
{
	switch (code) {
	case HL_JS_E_EXCEPTION: return "HL_JS_E_EXCEPTION: the JavaScript handler threw";
	case HL_JS_E_TIMEOUT: return "HL_JS_E_TIMEOUT: the JavaScript call ran past its timeout";
	case HL_JS_E_MEMORY: return "HL_JS_E_MEMORY: the JavaScript engine ran out of memory";
	case HL_JS_E_STACK: return "HL_JS_E_STACK: the JavaScript stack overflowed";
	case HL_JS_E_RESULT: return "HL_JS_E_RESULT: the result does not fit the output buffer";
	case HL_JS_E_NO_HANDLER: return "HL_JS_E_NO_HANDLER: no JavaScript handler of that name";
	case HL_JS_E_LOAD: return "HL_JS_E_LOAD: the JavaScript source failed to load";
	case HL_JS_E_NOT_SETTLED: return "HL_JS_E_NOT_SETTLED: the handler's promise never settled";
	case HL_JS_E_ENGINE: return "HL_JS_E_ENGINE: the JavaScript engine failed";
	case HL_JS_E_NO_GUEST:
		return "HL_JS_E_NO_GUEST: the JavaScript guest is not built or not found";
	default: return hl_strerror(code);
	}
}

void hl_js_config_init(hl_js_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->size = sizeof *cfg;
	cfg->memory_limit = 64 * MIB;
	cfg->timeout_ms = 1000;
}

/* The sandbox sizes a configuration implies (0 fields derived). */
static void sizes(const hl_js_config *jc, hl_config *cfg)
{
	/* The engine's linear memory is reserved on the heap up front and
	 * grows in place (wasm/runtime/wasm_rt.c): the initial memory, the
	 * limit and half as much again for the allocator's own overhead, plus
	 * the sixteenth of the heap the runtime keeps for malloc. Without a
	 * limit, 512 MiB. */
	uint64_t limit = jc->memory_limit ? jc->memory_limit : 320 * MIB;
	uint64_t heap = ENGINE_INITIAL + limit + limit / 2 + 16 * MIB;
	cfg->heap_size = jc->heap_size ? jc->heap_size : heap + heap / 15;
	cfg->stack_size = jc->stack_size ? jc->stack_size : 8 * MIB;
	cfg->input_size = jc->input_size ? jc->input_size : 1 * MIB;
	cfg->output_size = jc->output_size ? jc->output_size : 1 * MIB;
}

int hl_js_sandbox_config(const hl_js_config *jc, hl_config *cfg)
{
	if (!jc || !cfg || jc->size != sizeof *jc)
		return HL_E_INVAL;
	hl_config_init(cfg);
	sizes(jc, cfg);
	if (jc->interrupt_signal) {
		cfg->interrupt_signal = jc->interrupt_signal;
		if (jc->timeout_ms) {
			/* A backstop for a call stuck outside JavaScript, after the
			 * engine's own deadline had its chance. */
			uint64_t grace = jc->timeout_ms / 4 < 100 ? 100 : jc->timeout_ms / 4;
			uint64_t t = jc->timeout_ms + grace;
			cfg->call_timeout_ms = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
		}
	}
	return 0;
}

static bool usable(const char *path)
{
	return path && *path && access(path, R_OK) == 0;
}

int hl_js_find_guest(char *buf, size_t len)
{
	if (!buf)
		return HL_E_INVAL;
	char cand[PATH_MAX + 64];
	const char *env = getenv("HYPERLIGHT_JS_GUEST");
	if (env && *env) {
		/* Named explicitly: that one or none. */
		if (!usable(env))
			return HL_JS_E_NO_GUEST;
		snprintf(cand, sizeof cand, "%s", env);
	} else {
		/* The installation this code belongs to: lib/ or bin/ beside share/. */
		Dl_info di;
		cand[0] = '\0';
		if (dladdr((void *)hl_js_find_guest, &di) && di.dli_fname) {
			char self[PATH_MAX];
			if (realpath(di.dli_fname, self)) {
				char *slash = strrchr(self, '/');
				if (slash) {
					*slash = '\0';
					snprintf(cand, sizeof cand,
					         "%s/../share/hyperlight/guests/jsguest", self);
				}
			}
		}
		if (!usable(cand)) {
			if (!usable(HL_JS_DEFAULT_GUEST))
				return HL_JS_E_NO_GUEST;
			snprintf(cand, sizeof cand, "%s", HL_JS_DEFAULT_GUEST);
		}
	}
	if (strlen(cand) + 1 > len)
		return HL_E_NOMEM;
	memcpy(buf, cand, strlen(cand) + 1);
	return 0;
}

/* ---- On a sandbox ------------------------------------------------------------------ */

/* True if [p, p + n) holds a NUL byte. */
static bool has_nul(const char *p, size_t n)
{
	return memchr(p, '\0', n) != NULL;
}

/* The guest's own message out of hl_errmsg: what follows "failed with code
 * N: " (the format of call.c's guest errors), else the whole message. */
static const char *guest_text(const char *msg)
{
	const char *p = strstr(msg, "failed with code ");
	const char *colon = p ? strstr(p, ": ") : NULL;
	return colon ? colon + 2 : msg;
}

/*
 * Turns the result of hl_call of a js_* function into the JavaScript
 * layer's code and restates the sandbox message: `what` is "handler 'h'"
 * or "loading handler 'h'".
 */
static int js_result(hl_sandbox *sb, int rc, const char *what)
{
	if (rc == 0)
		return 0;
	int code = rc;
	if (rc == HL_E_GUEST_ERROR) {
		switch (hl_sandbox_guest_code(sb)) {
		case HL_JS_CODE_EXCEPTION: code = HL_JS_E_EXCEPTION; break;
		case HL_JS_CODE_TIMEOUT: code = HL_JS_E_TIMEOUT; break;
		case HL_JS_CODE_MEMORY: code = HL_JS_E_MEMORY; break;
		case HL_JS_CODE_STACK: code = HL_JS_E_STACK; break;
		case HL_JS_CODE_RESULT: code = HL_JS_E_RESULT; break;
		case HL_JS_CODE_NO_HANDLER: code = HL_JS_E_NO_HANDLER; break;
		case HL_JS_CODE_LOAD: code = HL_JS_E_LOAD; break;
		case HL_JS_CODE_NOT_SETTLED: code = HL_JS_E_NOT_SETTLED; break;
		case HL_JS_CODE_STATE: code = HL_JS_E_ENGINE; break;
		case HL_JS_CODE_USAGE: code = HL_E_INVAL; break;
		/* The native stack ran out inside the engine before its own
		 * check did: a stack overflow all the same. */
		case HL_WASM_TRAP_EXHAUSTION: code = HL_JS_E_STACK; break;
		default: code = HL_JS_E_ENGINE; break; /* another wasm trap */
		}
	} else if (rc == HL_E_CANCELLED && sb->cancel_why == 2) {
		code = HL_JS_E_TIMEOUT; /* the backstop timer (hl_js_config.interrupt_signal) */
	} else {
		return rc; /* misuse, host failures, other guest failures: as they are */
	}
	char text[2048];
	snprintf(text, sizeof text, "%s", guest_text(hl_errmsg(sb)));
	if (rc == HL_E_CANCELLED)
		return hl__fail(sb, code,
		                "%s ran past its timeout and was cancelled outside JavaScript",
		                what);
	return hl__fail(sb, code, "%s: %s", what, text);
}

int hl_js_sandbox_setup(hl_sandbox *sb, const hl_js_config *jc)
{
	if (!sb || !jc || jc->size != sizeof *jc)
		return HL_E_INVAL;
	if (jc->memory_limit >= UINT32_MAX || jc->max_stack > MAX_MAX_STACK)
		return hl__fail(sb, HL_E_INVAL,
		                "hl_js_sandbox_setup: memory_limit must be below 4 GiB and max_stack at "
		                "most 4 MiB");
	hl_value a[2] = {hl_i64((int64_t)jc->memory_limit),
	                 hl_i32((int32_t)(jc->max_stack ? jc->max_stack : DEFAULT_MAX_STACK))};
	return js_result(sb, hl_call(sb, HL_JS_FN_LIMITS, a, 2, NULL),
	                 "setting the engine's limits");
}

int hl_js_sandbox_load(hl_sandbox *sb, const char *name, const char *source, size_t len,
                       const char *function, const char *filename)
{
	if (!sb)
		return HL_E_INVAL;
	if (!name || !source || !hl__valid_name(name, strlen(name)))
		return hl__fail(sb, HL_E_INVAL,
		                "hl_js_sandbox_load: a handler name of 1 to 64 characters of "
		                "[A-Za-z0-9_.] and a source are required");
	if (has_nul(source, len))
		return hl__fail(sb, HL_E_INVAL,
		                "hl_js_sandbox_load: the source of '%s' has a NUL byte", name);
	const char *fn = function && *function ? function : "handler";
	const char *file = filename && *filename ? filename : name;
	hl_value a[4] = {hl_string(name, strlen(name)), hl_string(fn, strlen(fn)),
	                 hl_string(file, strlen(file)), hl_string(source, len)};
	char what[128];
	snprintf(what, sizeof what, "loading handler '%s'", name);
	return js_result(sb, hl_call(sb, HL_JS_FN_LOAD, a, 4, NULL), what);
}

int hl_js_sandbox_call(hl_sandbox *sb, const char *name, const char *json, size_t len,
                       uint32_t timeout_ms, const char **result, size_t *result_len)
{
	if (!sb)
		return HL_E_INVAL;
	if (!name || !json || !result)
		return hl__fail(sb, HL_E_INVAL, "hl_js_sandbox_call: NULL name, json or result");
	if (has_nul(json, len))
		return hl__fail(sb, HL_E_INVAL, "hl_js_sandbox_call: the JSON has a NUL byte");
	hl_value a[3] = {hl_string(name, strlen(name)), hl_string(json, len), hl_u32(timeout_ms)};
	hl_value r;
	char what[128];
	snprintf(what, sizeof what, "handler '%.64s'", name);
	int rc = js_result(sb, hl_call(sb, HL_JS_FN_CALL, a, 3, &r), what);
	if (rc < 0)
		return rc;
	*result = r.u.str.ptr;
	if (result_len)
		*result_len = r.u.str.len;
	return 0;
}

/* ---- The handle ----------------------------------------------------------------------- */

struct hl_js {
	hl_js_config cfg;
	hl_sandbox *sb;
	hl_snapshot *snap; /* the state with the engine and every handler loaded */
	bool failed;       /* creation failed: only hl_js_free */
	bool dirty;        /* calls ran since the state was last the snapshot's */
	bool restore;      /* HL_JS_REUSE: restore before the next call */
	char **names;      /* the handlers loaded */
	size_t nnames;
	char msg[4096];
	/* The last failure taken apart (hl_js_last_error). */
	int code;
	char ename[128], emessage[2048], estack[4096];
};

static int js_fail(hl_js *js, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int js_fail(hl_js *js, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(js->msg, sizeof js->msg, fmt, ap);
	va_end(ap);
	js->code = code;
	return code;
}

static void clear_error(hl_js *js)
{
	js->msg[0] = js->ename[0] = js->emessage[0] = js->estack[0] = '\0';
	js->code = 0;
}

/* Records the sandbox's failure `rc` in the handle, and for a JavaScript
 * failure its name, message and stack ("...: NAME: MESSAGE" then the
 * stack after HL_JS_STACK_MARK). */
static int from_sandbox(hl_js *js, int rc)
{
	const char *m = hl_errmsg(js->sb);
	js_fail(js, rc, "%s", m);
	if (rc != HL_JS_E_EXCEPTION && rc != HL_JS_E_LOAD && rc != HL_JS_E_MEMORY &&
	    rc != HL_JS_E_STACK && rc != HL_JS_E_TIMEOUT)
		return rc;
	/* "<what>: NAME: MESSAGE": the name is the word before the second ": ". */
	const char *p = strstr(m, ": ");
	const char *body = p ? p + 2 : m;
	const char *mark = strstr(body, HL_JS_STACK_MARK);
	size_t blen = mark ? (size_t)(mark - body) : strlen(body);
	const char *sep = memmem(body, blen, ": ", 2);
	if (sep && (size_t)(sep - body) < sizeof js->ename &&
	    !memchr(body, ' ', (size_t)(sep - body))) {
		snprintf(js->ename, sizeof js->ename, "%.*s", (int)(sep - body), body);
		snprintf(js->emessage, sizeof js->emessage, "%.*s",
		         (int)(blen - (size_t)(sep + 2 - body)), sep + 2);
	} else {
		snprintf(js->emessage, sizeof js->emessage, "%.*s", (int)blen, body);
	}
	if (mark)
		snprintf(js->estack, sizeof js->estack, "%s", mark + strlen(HL_JS_STACK_MARK));
	return rc;
}

int hl_js_new(const hl_js_config *cfg, hl_js **out)
{
	if (!out)
		return HL_E_INVAL;
	*out = NULL;
	if (cfg && cfg->size != sizeof *cfg)
		return HL_E_INVAL;
	hl_js *js = hl__calloc(1, sizeof *js);
	if (!js)
		return HL_E_NOMEM;
	*out = js;
	js->failed = true;
	if (cfg)
		js->cfg = *cfg;
	else
		hl_js_config_init(&js->cfg);
	if (js->cfg.memory_limit >= UINT32_MAX || js->cfg.max_stack > MAX_MAX_STACK ||
	    (js->cfg.flags & ~HL_JS_REUSE))
		return js_fail(js, HL_E_INVAL,
		               "hl_js_new: memory_limit must be below 4 GiB, max_stack at most 4 MiB, "
		               "flags HL_JS_REUSE or 0");
	char guest[PATH_MAX + 64];
	int rc;
	if (js->cfg.guest) {
		snprintf(guest, sizeof guest, "%s", js->cfg.guest);
	} else if ((rc = hl_js_find_guest(guest, sizeof guest)) < 0) {
		const char *env = getenv("HYPERLIGHT_JS_GUEST");
		return js_fail(js, rc,
		               "no JavaScript guest: %s (it is built when the QuickJS module was fetched: "
		               "scripts/fetch-quickjs.sh, then cmake --build; or set HYPERLIGHT_JS_GUEST)",
		               env && *env ? "$HYPERLIGHT_JS_GUEST names no readable file"
		                           : "none in the installation or the build tree");
	}
	hl_config hc;
	hl_js_sandbox_config(&js->cfg, &hc);
	if ((rc = hl_sandbox_new(&hc, &js->sb)) < 0)
		return js_fail(js, rc, "hl_js_new: %s", hl_strerror(rc));
	const char *step = "loading";
	if ((rc = hl_sandbox_load_file(js->sb, guest)) == 0) {
		step = "starting";
		if ((rc = hl_sandbox_init(js->sb)) == 0) {
			step = "setting up";
			if ((rc = hl_js_sandbox_setup(js->sb, &js->cfg)) == 0) {
				step = "taking a snapshot of";
				rc = hl_sandbox_snapshot(js->sb, &js->snap);
			}
		}
	}
	if (rc < 0) {
		if (rc == HL_E_IO || rc == HL_E_ELF || rc == HL_E_VERSION)
			return js_fail(js, HL_JS_E_NO_GUEST, "%s the JavaScript guest %s: %s: %s",
			               step, guest, hl_strerror(rc), hl_errmsg(js->sb));
		return js_fail(js, rc, "%s the JavaScript guest %s: %s", step, guest,
		               hl_errmsg(js->sb));
	}
	js->failed = false;
	return 0;
}

void hl_js_free(hl_js *js)
{
	if (!js)
		return;
	hl_snapshot_free(js->snap);
	hl_sandbox_free(js->sb);
	for (size_t i = 0; i < js->nnames; i++)
		hl__free(js->names[i]);
	hl__free(js->names);
	hl__free(js);
}

int hl_js_set_print(hl_js *js, hl_print_fn fn, void *user)
{
	if (!js)
		return HL_E_INVAL;
	if (!js->sb)
		return HL_E_STATE;
	return hl_sandbox_set_print(js->sb, fn, user);
}

/* Returns the sandbox to the snapshot's state if calls changed it. */
static int back_to_snapshot(hl_js *js)
{
	if (!js->dirty && !js->restore)
		return 0;
	int rc = hl_sandbox_restore(js->sb, js->snap);
	if (rc < 0)
		return from_sandbox(js, rc);
	js->dirty = js->restore = false;
	return 0;
}

int hl_js_add_handler(hl_js *js, const char *name, const char *source, size_t len,
                      const char *function, const char *filename)
{
	if (!js)
		return HL_E_INVAL;
	clear_error(js);
	if (js->failed)
		return js_fail(js, HL_E_STATE, "hl_js_add_handler: the handle's creation failed");
	if (!name || !source || !hl__valid_name(name, strlen(name)))
		return js_fail(js, HL_E_INVAL,
		               "hl_js_add_handler: a handler name of 1 to 64 characters of [A-Za-z0-9_.] "
		               "and a source are required");
	for (size_t i = 0; i < js->nnames; i++)
		if (strcmp(js->names[i], name) == 0)
			return js_fail(js, HL_E_EXISTS,
			               "hl_js_add_handler: handler '%s' is loaded already", name);
	char *copy = hl__strdup(name);
	char **nn = copy ? hl__realloc(js->names, (js->nnames + 1) * sizeof *nn) : NULL;
	if (!nn) {
		hl__free(copy);
		return js_fail(js, HL_E_NOMEM, "out of memory");
	}
	js->names = nn;
	int rc = back_to_snapshot(js);
	if (rc < 0) {
		hl__free(copy);
		return rc;
	}
	/* What the load does becomes part of the next snapshot; a failed load
	 * is undone by returning to the last one. */
	rc = hl_js_sandbox_load(js->sb, name, source, len, function, filename);
	js->dirty = true;
	if (rc < 0) {
		hl__free(copy);
		return from_sandbox(js, rc);
	}
	js->names[js->nnames++] = copy;
	/* The new state every call starts from. */
	hl_snapshot *snap;
	if ((rc = hl_sandbox_snapshot(js->sb, &snap)) < 0)
		return from_sandbox(js, rc); /* dirty: the next call returns to the old one */
	hl_snapshot_free(js->snap);
	js->snap = snap;
	js->dirty = false;
	return 0;
}

int hl_js_call(hl_js *js, const char *name, const char *json, size_t len, const char **result,
               size_t *result_len)
{
	if (!js)
		return HL_E_INVAL;
	clear_error(js);
	if (js->failed)
		return js_fail(js, HL_E_STATE, "hl_js_call: the handle's creation failed");
	if (!name || !json || !result)
		return js_fail(js, HL_E_INVAL, "hl_js_call: NULL name, json or result");
	int rc;
	bool reuse = (js->cfg.flags & HL_JS_REUSE) != 0;
	if (!reuse || js->restore) {
		if (js->dirty || js->restore) {
			if ((rc = hl_sandbox_restore(js->sb, js->snap)) < 0)
				return from_sandbox(js, rc);
		}
		js->dirty = js->restore = false;
	}
	rc = hl_js_sandbox_call(js->sb, name, json, len, js->cfg.timeout_ms, result, result_len);
	js->dirty = true;
	if (rc < 0) {
		/* With HL_JS_REUSE only an exception leaves the engine as good as
		 * before; anything else starts over from the snapshot. */
		if (rc != HL_JS_E_EXCEPTION && rc != HL_JS_E_NO_HANDLER && rc != HL_E_INVAL &&
		    rc != HL_E_TOO_LARGE)
			js->restore = true;
		return from_sandbox(js, rc);
	}
	return 0;
}

const char *hl_js_errmsg(const hl_js *js)
{
	return js ? js->msg : "hl_js_errmsg: NULL handle";
}

int hl_js_last_error(const hl_js *js, hl_js_error *out)
{
	if (!js || !out)
		return HL_E_INVAL;
	out->code = js->code;
	out->name = js->ename;
	out->message = js->emessage;
	out->stack = js->estack;
	return 0;
}

hl_sandbox *hl_js_sandbox(hl_js *js)
{
	return js && !js->failed ? js->sb : NULL;
}
