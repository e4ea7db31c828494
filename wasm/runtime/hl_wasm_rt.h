/*
 * hl_wasm_rt.h - the wasm runtime of a guest: what the glue that
 * `hyperlight wasm build` generates for one module calls, and what the
 * wasm2c output of the module sees (it is force-included into it).
 *
 * Not an API for guest authors: the glue is generated, and everything here
 * may change with the generator. Names are hl_wasm__ (private) except the
 * wasm_rt_* functions that wasm2c's own header, wasm-rt.h, declares.
 *
 * The build compiles the module with WASM_RT_MEMCHECK_SIGNAL_HANDLER=0 (a
 * guest has no signals: every load and store is bounds-checked in C) and
 * with WASM_RT_MAX_CALL_STACK_DEPTH defined as hl_wasm__depth_limit(), so
 * that the call-depth check of every wasm function also checks how much of
 * the guest's native stack is left.
 */
#ifndef HL_WASM_RT_H
#define HL_WASM_RT_H

#include <stdint.h>
#include <string.h>

#include "hyperlight/guest.h"
#include "wasm-rt.h"

#if WASM_RT_MEMCHECK_SIGNAL_HANDLER || !WASM_RT_USE_STACK_DEPTH_COUNT
#error "wasm guests need WASM_RT_MEMCHECK_SIGNAL_HANDLER=0 (explicit bounds checks, depth counting)"
#endif

/* ---- The call-depth limit ------------------------------------------------
 * wasm2c's prologue traps with WASM_RT_TRAP_EXHAUSTION when
 * ++wasm_rt_call_stack_depth > WASM_RT_MAX_CALL_STACK_DEPTH. The limit below
 * is hl_wasm__max_depth (set by the build, --max-call-depth) while the
 * stack pointer is above hl_wasm__stack_floor, and 0 below it, so deep
 * recursion traps before it reaches the guard page whatever the frame
 * sizes of the generated functions are. */
extern uintptr_t hl_wasm__stack_floor;
extern const uint32_t hl_wasm__max_depth;

static inline uint32_t hl_wasm__depth_limit(void)
{
	uintptr_t sp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	return sp > hl_wasm__stack_floor ? hl_wasm__max_depth : 0u;
}

/* ---- Values as raw bits ---------------------------------------------------
 * Imports travel as 64-bit patterns: i32 in the low half (zero extended),
 * f32 as its bit pattern in the low half, f64 as its bit pattern. */
static inline uint64_t hl_wasm__f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}
static inline uint64_t hl_wasm__f64_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}
static inline float hl_wasm__bits_f32(uint64_t b)
{
	uint32_t u = (uint32_t)b;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}
static inline double hl_wasm__bits_f64(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof d);
	return d;
}

/* ---- Imports from module "env": host functions --------------------------- */
struct hl_wasm_import {
	const char *name; /* the host function's name (the import's field name) */
	hl_type ret;      /* HL_TYPE_VOID, I32, I64, F32 or F64 */
	unsigned nparams;
	hl_type params[HL_MAX_PARAMS];
};

/* Calls the host function `imp->name` with args[0..nparams) and returns the
 * result's bits (0 for void). A failure of the host function ends the wasm
 * call at once and reaches the application as HL_E_HOST_FUNCTION. */
uint64_t hl_wasm__call_import(const struct hl_wasm_import *imp, const uint64_t *args);

/* ---- Imports from module "wasi_snapshot_preview1" ------------------------
 * The supported subset; every function returns a WASI errno (0 = success).
 * They read and write the memory the module exports as "memory". */
extern wasm_rt_memory_t *hl_wasm__memory;
uint32_t hl_wasm__wasi_fd_write(uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten);
uint32_t hl_wasm__wasi_args_get(uint32_t argv, uint32_t buf);
uint32_t hl_wasm__wasi_args_sizes_get(uint32_t argc, uint32_t buf_size);
uint32_t hl_wasm__wasi_environ_get(uint32_t environ, uint32_t buf);
uint32_t hl_wasm__wasi_environ_sizes_get(uint32_t count, uint32_t buf_size);
uint32_t hl_wasm__wasi_clock_time_get(uint32_t id, uint64_t precision, uint32_t time);
uint32_t hl_wasm__wasi_random_get(uint32_t buf, uint32_t len);
_Noreturn void hl_wasm__wasi_proc_exit(uint32_t code);
#define HL_WASM__WASI_ENOSYS 52u /* what every other WASI function returns */
/* Fetches args and environ from the host (HL_WASI_ARGS_FN, ..._ENVIRON_FN);
 * from main(), before instantiation (which runs the start function). */
void hl_wasm__wasi_load(void);
/* [off, off + len) inside hl_wasm__memory, or NULL (no memory, or outside it). */
uint8_t *hl_wasm__mem_range(uint32_t off, uint64_t len);

/* ---- Imports from "env" that emscripten's JavaScript runtime would serve ----
 * (emscripten.c). Time is UTC; heap growth grows hl_wasm__memory. */
double hl_wasm__em_date_now(void);
double hl_wasm__em_get_now(void);
uint32_t hl_wasm__em_resize_heap(uint32_t requested_bytes);
uint32_t hl_wasm__em_get_heap_max(void);
void hl_wasm__em_notify_memory_growth(uint32_t index);
void hl_wasm__em_keepalive_clear(void);
_Noreturn void hl_wasm__em_abort(void);
_Noreturn void hl_wasm__em_assert_fail(uint32_t cond, uint32_t file, uint32_t line, uint32_t func);
void hl_wasm__em_tzset(uint32_t timezone, uint32_t daylight, uint32_t std_name, uint32_t dst_name);
void hl_wasm__em_gmtime(uint64_t t, uint32_t tm);
uint32_t hl_wasm__em_setitimer(uint32_t which, double timeout_ms);

/* Ends the running wasm call like a trap of kind `code` (HL_WASM_TRAP_*),
 * with `fmt` as the message after "wasm trap: ". */
_Noreturn void hl_wasm__trap_msg(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True once a trap has ended a call: the module's memory and globals are as
 * the trap left them, which an embedder whose state lives there (an engine
 * in the middle of an operation) must not trust until the sandbox is
 * restored. Restores return the flag to false with the rest of memory. */
extern bool hl_wasm__trapped;

/* ---- The embedder (the guest's own C sources, hl_wasm_build's c_sources) ---
 * Called once by main() after instantiation and _initialize, before the
 * exports are registered, if the guest defines it. */
void hl_wasm_guest_init(void) __attribute__((weak));

/* ---- Exports: the guest functions ------------------------------------------ */
struct hl_wasm_export {
	const char *name;
	hl_guest_fn fn; /* a wrapper that calls hl_wasm__invoke(call, body) */
	hl_type ret;
	unsigned nparams;
	hl_type params[HL_MAX_PARAMS];
};

/* Runs `body` (which reads the arguments, calls the wasm export and sets
 * the result) with a trap handler: a trap fails the call with
 * hl_return_error, code HL_WASM_TRAP_* and "wasm trap: <kind>". */
int hl_wasm__invoke(hl_call *call, int (*body)(hl_call *call));

/* For main(): runs fn (instantiation, "_initialize") under the trap guard;
 * a trap aborts the guest with the trap's code and "wasm trap during
 * <what>: <kind>", since a module that cannot start cannot serve calls. */
void hl_wasm__run_init(void (*fn)(void), const char *what);

/* ---- The module ------------------------------------------------------------ */
struct hl_wasm_module {
	void (*instantiate)(void); /* hl_wasm__memory, then init_module and instantiate */
	void (*initialize)(void);  /* the reactor's "_initialize" export, or NULL */
	const struct hl_wasm_export *exports;
	unsigned nexports;
};

/* Defined by the generated glue; wasm_guest.c's main() serves it. */
extern const struct hl_wasm_module hl_wasm_module;

#endif /* HL_WASM_RT_H */
