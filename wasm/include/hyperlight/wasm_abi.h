/*
 * wasm_abi.h - what a wasm guest and its host agree on: the error codes of
 * wasm traps and the names of the host functions behind WASI's arguments
 * and environment. Plain C99, included by both sides.
 */
#ifndef HYPERLIGHT_WASM_ABI_H
#define HYPERLIGHT_WASM_ABI_H

/*
 * A wasm trap fails the call with HL_E_GUEST_ERROR (the sandbox is not
 * poisoned); hl_sandbox_guest_code() gives one of these codes and
 * hl_errmsg() reads "wasm trap: <kind>".
 */
enum hl_wasm_trap {
	HL_WASM_TRAP_OOB = 1,                /* out of bounds memory or table access */
	HL_WASM_TRAP_INT_OVERFLOW = 2,       /* i32.div_s INT_MIN/-1, float-to-int out of range */
	HL_WASM_TRAP_DIV_BY_ZERO = 3,        /* integer divide or remainder by zero */
	HL_WASM_TRAP_INVALID_CONVERSION = 4, /* float-to-int of NaN */
	HL_WASM_TRAP_UNREACHABLE = 5,        /* the unreachable instruction */
	HL_WASM_TRAP_CALL_INDIRECT = 6,      /* call_indirect: bad index, null entry, wrong type */
	HL_WASM_TRAP_EXCEPTION = 7,          /* an uncaught wasm exception */
	HL_WASM_TRAP_EXHAUSTION = 8,         /* call stack exhausted */
	HL_WASM_TRAP_OTHER = 9,              /* any other trap */
	/* 10 is HL_WASM_E_NOMEM, an abort code (below). */
	HL_WASM_TRAP_ABORT = 11, /* the module called abort() or failed an assertion
	                          * (emscripten's _abort_js, __assert_fail) */
};

/* The abort code (HL_E_GUEST_ABORT, hl_sandbox_guest_code) when the linear
 * memory or a table does not fit the sandbox heap at instantiation. */
#define HL_WASM_E_NOMEM 10

/*
 * WASI args and environment: at init the guest calls these host functions
 * (ret bytes, no parameters) if the application registered them
 * (hl_wasi_register does); each returns the strings one after the other,
 * each followed by a NUL. Without them the lists are empty.
 */
#define HL_WASI_ARGS_FN "wasi.args"
#define HL_WASI_ENVIRON_FN "wasi.environ"

#endif /* HYPERLIGHT_WASM_ABI_H */
