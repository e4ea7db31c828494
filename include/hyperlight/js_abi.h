/*
 * js_abi.h - what the JavaScript guest (js/guest/js_guest.c, QuickJS as a
 * wasm module) and its host (src/host/js.c, hyperlight/js.h) agree on: the
 * guest functions and the error codes of their failures. Plain C99,
 * included by both sides. Append-only.
 *
 * The guest functions, called by the host through hl_call:
 *
 *   js_limits(i64 memory_limit, i32 max_stack) -> void
 *       The engine's memory limit in bytes (0: none) and the deepest stack
 *       JavaScript may use, in bytes (0: the engine's default). Before
 *       any handler is loaded.
 *   js_load(string name, string function, string filename, string source) -> void
 *       Evaluates `source` (a script, or an ES module when it uses import
 *       or export) in a new realm of its own and keeps the function named
 *       `function` (its export, or the global of that name; "handler" also
 *       finds a default export) as handler `name`.
 *   js_call(string name, string json, u32 timeout_ms) -> string
 *       Calls handler `name` with JSON.parse(json); returns
 *       JSON.stringify of its result ("null" for undefined), after the
 *       promise settles if it returns one. timeout_ms 0: no limit.
 *
 * A failure is HL_E_GUEST_ERROR with one of the codes below
 * (hl_sandbox_guest_code) or a wasm trap code (hyperlight/wasm_abi.h); the
 * message of an exception is "NAME: MESSAGE" followed by a line holding
 * HL_JS_STACK_MARK and the stack, if it has one.
 */
#ifndef HYPERLIGHT_JS_ABI_H
#define HYPERLIGHT_JS_ABI_H

#define HL_JS_FN_LIMITS "js_limits"
#define HL_JS_FN_LOAD "js_load"
#define HL_JS_FN_CALL "js_call"

/* Guest error codes (hl_sandbox_guest_code), above the wasm trap codes. */
enum hl_js_code {
	HL_JS_CODE_EXCEPTION = 100,   /* the handler threw, or its promise was rejected */
	HL_JS_CODE_TIMEOUT = 101,     /* the call ran past its timeout_ms */
	HL_JS_CODE_MEMORY = 102,      /* the engine ran out of memory (its limit, or the heap) */
	HL_JS_CODE_STACK = 103,       /* the JavaScript stack overflowed */
	HL_JS_CODE_RESULT = 104,      /* the result does not fit the output buffer */
	HL_JS_CODE_NO_HANDLER = 105,  /* no handler of that name */
	HL_JS_CODE_LOAD = 106,        /* compile or evaluation error, or no such function */
	HL_JS_CODE_NOT_SETTLED = 107, /* the handler's promise never settled */
	HL_JS_CODE_STATE = 108,       /* an earlier trap left the engine unusable: restore */
	HL_JS_CODE_USAGE = 109,       /* a bad argument (name, limits, a second load of a name) */
};

/* Separates "NAME: MESSAGE" from the stack in an exception's message. */
#define HL_JS_STACK_MARK "\n--- stack ---\n"

#endif /* HYPERLIGHT_JS_ABI_H */
