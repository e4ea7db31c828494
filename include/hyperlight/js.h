/*
 * js.h - JavaScript handlers in sandboxes (part of libhyperlight).
 *
 * The JavaScript guest is QuickJS, compiled from its WebAssembly build into
 * a guest ELF ahead of time (docs/javascript.md). A handler is a piece of
 * JavaScript loaded under a name; a call passes it one JSON value and gets
 * one JSON value back:
 *
 *     hl_js *js;
 *     hl_js_new(NULL, &js);                                   // NULL: defaults
 *     const char *src = "function handler(e) { return {sum: e.a + e.b}; }";
 *     hl_js_add_handler(js, "add", src, strlen(src), NULL, NULL);
 *     const char *out;
 *     size_t len;
 *     hl_js_call(js, "add", "{\"a\":1,\"b\":2}", 13, &out, &len);  // out: {"sum":3}
 *     hl_js_free(js);
 *
 * Each handler runs in a realm (global object) of its own. The first call
 * after handlers were added takes a snapshot of the sandbox (engine and
 * handlers loaded); by default every call starts from that snapshot, so no
 * call sees what another left behind (globals, prototypes, timers).
 * HL_JS_REUSE keeps the state between calls instead (faster, not isolated).
 *
 * Sources: a script whose function `handler` (or the name given) is a
 * global, or an ES module (it uses import or export) that exports it
 * ("handler" also finds a default export). Imports of other modules fail.
 * A handler may be async; its promise is awaited. console.log, .info and
 * .debug print to stdout, .warn and .error to stderr, through the sandbox's
 * print callback (hl_js_set_print).
 *
 * Errors: every int-returning function returns 0 or a negative code: the
 * HL_E_* of hyperlight.h or the HL_JS_E_* below. hl_js_errmsg() gives the
 * details of the last failure, hl_js_last_error() the JavaScript exception
 * apart (name, message, stack). A failed call never leaves the handle
 * unusable: the next call starts from the snapshot again (with HL_JS_REUSE,
 * a call after a failure other than HL_JS_E_EXCEPTION restores it first).
 *
 * Ownership: as in hyperlight.h. "Borrowed" arguments are read only during
 * the call; results "owned by the handle" stay valid until the event named.
 *
 * Threading: a handle may be used by one thread at a time (any thread);
 * different handles may be used from different threads at once.
 */
#ifndef HYPERLIGHT_JS_H
#define HYPERLIGHT_JS_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlight/hyperlight.h"
#include "hyperlight/js_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Errors of the JavaScript layer, besides the HL_E_* of hyperlight.h. */
enum hl_js_error_code {
	HL_JS_E_EXCEPTION = -70,   /* the handler threw, or its promise was rejected */
	HL_JS_E_TIMEOUT = -71,     /* the call ran past the timeout */
	HL_JS_E_MEMORY = -72,      /* the engine reached its memory limit (or the heap's end) */
	HL_JS_E_STACK = -73,       /* the JavaScript stack overflowed (deep recursion) */
	HL_JS_E_RESULT = -74,      /* the result's JSON does not fit the output buffer */
	HL_JS_E_NO_HANDLER = -75,  /* no handler of that name */
	HL_JS_E_LOAD = -76,        /* the source does not compile, throws, or lacks the function */
	HL_JS_E_NOT_SETTLED = -77, /* the handler's promise never settled */
	HL_JS_E_ENGINE = -78,      /* the engine itself failed (a wasm trap or abort inside it) */
	HL_JS_E_NO_GUEST = -79,    /* the JavaScript guest was not built or not found */
};

/* A static string naming `code` (an HL_JS_E_* or any HL_E_*). */
HL_API const char *hl_js_strerror(int code);

/* ---- Configuration ------------------------------------------------------------ */
typedef struct hl_js_config {
	size_t size; /* sizeof(hl_js_config), set by hl_js_config_init */
	/* The JavaScript guest ELF (borrowed during hl_js_new); NULL: the one
	 * hl_js_find_guest() finds. */
	const char *guest;
	uint64_t memory_limit; /* bytes the engine may allocate; default 64 MiB; 0: only the heap
	                        * bounds it; at most 4 GiB - 1 */
	uint32_t max_stack;    /* bytes of JavaScript stack; 0: the default (1 MiB, about 5000
	                        * levels of a simple recursion); at most 4 MiB */
	uint32_t timeout_ms;   /* per call; default 1000; 0: none */
	/* Sandbox sizes; 0: derived (heap: the engine's initial 16 MiB memory,
	 * the memory limit and half as much again, about 145 MiB for 64 MiB;
	 * stack 8 MiB; input and output 1 MiB each, which bound the JSON in
	 * and out). */
	uint64_t heap_size, stack_size, input_size, output_size;
	/* A signal (as hl_config.interrupt_signal, with a handler installed)
	 * that also cancels a call stuck outside JavaScript: the timeout
	 * plus a grace of a quarter of it (at least 100 ms). 0: the engine's own
	 * check, which runs every few thousand JavaScript steps, is the only
	 * limit. */
	int32_t interrupt_signal;
	uint32_t flags; /* HL_JS_* */
} hl_js_config;

#define HL_JS_REUSE 1u /* keep the engine's state between calls (no restore per call) */

/* Fills *cfg with the defaults, including cfg->size. NULL: no-op. */
HL_API void hl_js_config_init(hl_js_config *cfg);

/*
 * Finds the JavaScript guest: $HYPERLIGHT_JS_GUEST if set, else
 * share/hyperlight/guests/jsguest of the installation this library (or
 * the program it is linked into) belongs to, else the build tree's
 * js/jsguest. Writes its path to buf (len bytes, NUL-terminated).
 * Returns 0, HL_E_INVAL (NULL buf), HL_E_NOMEM (len too small) or
 * HL_JS_E_NO_GUEST (none exists; the JavaScript guest is built only
 * when the QuickJS module was fetched: scripts/fetch-quickjs.sh).
 * Thread-safe.
 */
HL_API int hl_js_find_guest(char *buf, size_t len);

/* ---- Handles ------------------------------------------------------------------------ */
typedef struct hl_js hl_js;

/*
 * Creates a sandbox running the JavaScript guest with the configuration
 * *cfg (copied; NULL: defaults): loads the guest, starts the engine and
 * sets its limits. Sets *out to a handle owned by the caller (free it with
 * hl_js_free() whatever happens) and returns 0, or returns an error with
 * *out still set when the handle itself could be made, so that
 * hl_js_errmsg(*out) says what failed: HL_E_INVAL (out NULL, cfg->size
 * wrong, a limit out of range), HL_JS_E_NO_GUEST, HL_E_NOMEM, and the
 * errors of hl_sandbox_new, hl_sandbox_load_file and hl_sandbox_init.
 * A handle whose creation failed can only be freed.
 */
HL_API int hl_js_new(const hl_js_config *cfg, hl_js **out);

/* Frees the handle, its sandbox and snapshot. NULL: no-op. */
HL_API void hl_js_free(hl_js *js);

/* The print callback for console output (see hl_sandbox_set_print; NULL:
 * the default, the host's fd 1 and 2). `user` stays owned by the caller.
 * Errors: HL_E_INVAL (NULL js), HL_E_STATE (creation failed). */
HL_API int hl_js_set_print(hl_js *js, hl_print_fn fn, void *user);

/*
 * Loads `source` (len bytes, borrowed; UTF-8 without NUL bytes) as the
 * handler `name` (1 to 64 characters of [A-Za-z0-9_.], borrowed): runs it
 * in a new realm and keeps its function `function` (NULL: "handler").
 * `filename` (NULL: the name) is what stack traces show. Any time: a
 * handler added after calls joins the state the next snapshot holds (the
 * sandbox is returned to the last snapshot first, so nothing a call did
 * is kept).
 * Errors: HL_E_INVAL (NULL js, name or source, a bad name, a NUL byte),
 * HL_E_EXISTS (the name is loaded already), HL_E_STATE (creation failed),
 * HL_E_TOO_LARGE (the source does not fit the input buffer), HL_JS_E_LOAD
 * (a syntax error, the source threw, no such function: the exception is in
 * hl_js_last_error), HL_JS_E_MEMORY, HL_JS_E_TIMEOUT (the source ran past
 * the timeout), and the errors of hl_call.
 */
HL_API int hl_js_add_handler(hl_js *js, const char *name, const char *source, size_t len,
                             const char *function, const char *filename);

/*
 * Calls handler `name` with the JSON text json[0..len) (borrowed; parsed
 * by the handler's JSON.parse) and sets *result and *result_len to the
 * JSON text of its result: JSON.stringify of what it returned ("null" for
 * undefined), NUL-terminated, owned by the handle and valid until its next
 * call, hl_js_add_handler or free. result_len may be NULL.
 * Errors: HL_E_INVAL (NULL js, name, json or result, a NUL byte),
 * HL_E_STATE (creation failed), HL_E_TOO_LARGE (json does not fit the input
 * buffer), HL_JS_E_NO_HANDLER, HL_JS_E_EXCEPTION (also for JSON that does
 * not parse, and for a result JSON.stringify refuses: a BigInt, a cycle),
 * HL_JS_E_TIMEOUT, HL_JS_E_MEMORY, HL_JS_E_STACK, HL_JS_E_RESULT,
 * HL_JS_E_NOT_SETTLED, HL_JS_E_ENGINE, HL_E_HYPERVISOR and the other guest
 * failures of hl_call (the next call starts from the snapshot again).
 */
HL_API int hl_js_call(hl_js *js, const char *name, const char *json, size_t len,
                      const char **result, size_t *result_len);

/* The details of the handle's last failure, owned by the handle, valid
 * until its next call; "" after a success; a static string for NULL. */
HL_API const char *hl_js_errmsg(const hl_js *js);

/* A JavaScript failure of the last call, taken apart. All strings are
 * owned by the handle and valid until its next call; "" when absent. */
typedef struct hl_js_error {
	int code;            /* the call's result: 0, HL_JS_E_* or HL_E_* */
	const char *name;    /* the exception's name: "TypeError", "InternalError", ... */
	const char *message; /* its message */
	const char *stack;   /* its stack, "    at f (file.js:3:9)" lines, if it had one */
} hl_js_error;

/* Fills *out with the last call's failure. Errors: HL_E_INVAL (NULL). */
HL_API int hl_js_last_error(const hl_js *js, hl_js_error *out);

/* The handle's sandbox, owned by the handle (valid until hl_js_free): for
 * hl_sandbox_stats, hl_sandbox_interrupt_handle and the like. Do not call,
 * restore or free it. NULL for NULL or a failed creation. */
HL_API hl_sandbox *hl_js_sandbox(hl_js *js);

/* ---- The same on a sandbox the application manages ------------------------------
 *
 * For an application that keeps its own sandboxes (pools, a service):
 * configure and load the JavaScript guest like any guest, set it up and
 * load the handlers, take a snapshot, and call handlers on sandboxes made
 * from it. hl_js_call is these on one sandbox and one snapshot.
 *
 *     hl_js_config jc;  hl_js_config_init(&jc);
 *     hl_config cfg;    hl_js_sandbox_config(&jc, &cfg);
 *     char guest[4096]; hl_js_find_guest(guest, sizeof guest);
 *     hl_sandbox_new(&cfg, &sb); hl_sandbox_load_file(sb, guest); hl_sandbox_init(sb);
 *     hl_js_sandbox_setup(sb, &jc);
 *     hl_js_sandbox_load(sb, "add", src, len, NULL, NULL);
 *     hl_sandbox_snapshot(sb, &snap);  ... hl_pool_new(snap, &cfg, n, &pool) ...
 *     hl_js_sandbox_call(pooled, "add", json, jlen, jc.timeout_ms, &out, &olen);
 */

/* Fills *cfg (hl_config_init, then the sizes, interrupt signal and
 * backstop timeout *jc implies). Errors: HL_E_INVAL (NULL, jc->size wrong). */
HL_API int hl_js_sandbox_config(const hl_js_config *jc, hl_config *cfg);

/* Sets the engine limits of jc on an initialised JavaScript guest, before
 * any handler is loaded. Errors: HL_E_INVAL, and those of hl_call. */
HL_API int hl_js_sandbox_setup(hl_sandbox *sb, const hl_js_config *jc);

/* hl_js_add_handler on `sb` (no snapshot taken or restored). Errors: as
 * hl_js_add_handler; details in hl_errmsg(sb). */
HL_API int hl_js_sandbox_load(hl_sandbox *sb, const char *name, const char *source, size_t len,
                              const char *function, const char *filename);

/* Calls the handler on `sb` as it is (no restore). *result (NUL-terminated
 * JSON, *result_len bytes if result_len is not NULL) is owned by the
 * sandbox and valid until its next call, restore or free. Errors: as
 * hl_js_call; details in hl_errmsg(sb). A failure other than
 * HL_JS_E_EXCEPTION, HL_JS_E_NO_HANDLER or a refused argument leaves the
 * engine unusable until the sandbox is restored. */
HL_API int hl_js_sandbox_call(hl_sandbox *sb, const char *name, const char *json, size_t len,
                              uint32_t timeout_ms, const char **result, size_t *result_len);

#ifdef __cplusplus
}
#endif
#endif /* HYPERLIGHT_JS_H */
