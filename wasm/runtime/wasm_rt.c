/* wasm_rt.c - wasm2c's runtime interface (wasm-rt.h) inside a guest: traps by longjmp, linear memory and tables on the guest heap, function types, calls of host imports. */
#define _GNU_SOURCE /* mremap */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hl_wasm_rt.h"
#include "hyperlight/wasm_abi.h"

#define WASM_PAGE 65536u
/* wasm_rt_memory_t keeps the size in bytes in a uint32_t. */
#define MAX_PAGES 65535u
/* A sanity bound on table sizes; a larger table would not fit any heap. */
#define MAX_TABLE_ELEMS (1u << 24)

uint32_t wasm_rt_call_stack_depth;
/* wasm-rt.h has the stack limit work on the main stack: set by main(). */
uintptr_t hl_wasm__stack_floor;

static bool initialized;

/* ---- Traps ------------------------------------------------------------------
 * A trap longjmps to the guard set by the innermost run_guarded(); outside
 * one (it cannot happen: wasm code only runs under a guard) it aborts. The
 * guard is lifted while a host import runs, because a failing host function
 * leaves the guest call through the runtime's own longjmp and the guard
 * would point into a dead frame. */
static jmp_buf trap_jmp;
static volatile wasm_rt_trap_t trap_kind; /* what the longjmp carries */
static bool trap_armed;
static bool in_guest_call; /* inside hl_wasm__invoke, not main() */
static WASM_RT_UNWIND_TARGET *unwind_target;
/* A trap raised by the runtime itself (hl_wasm__trap_msg) carries its own
 * code and message; trap_msg[0] == 0 for wasm2c's traps. */
#define TRAP_MSG_KIND ((wasm_rt_trap_t)254)
static char trap_msg[1024];
static int trap_msg_code;
bool hl_wasm__trapped;

void wasm_rt_trap(wasm_rt_trap_t kind)
{
	if (kind == WASM_RT_TRAP_NONE)
		kind = (wasm_rt_trap_t)255; /* never "no trap": an unknown one */
	if (!trap_armed) {
		if (kind == TRAP_MSG_KIND)
			hl_abort(trap_msg_code, "wasm trap outside a guarded call: %s", trap_msg);
		hl_abort(HL_WASM_TRAP_OTHER, "wasm trap outside a guarded call: %s",
		         wasm_rt_strerror(kind));
	}
	if (kind != TRAP_MSG_KIND)
		trap_msg[0] = '\0';
	trap_armed = false;
	trap_kind = kind;
	hl_wasm__trapped = true;
	longjmp(trap_jmp, 1);
}

void hl_wasm__trap_msg(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(trap_msg, sizeof trap_msg, fmt, ap);
	va_end(ap);
	if (!trap_msg[0])
		snprintf(trap_msg, sizeof trap_msg, "trap %d", code);
	trap_msg_code = code;
	wasm_rt_trap(TRAP_MSG_KIND);
}

const char *wasm_rt_strerror(wasm_rt_trap_t kind)
{
	switch (kind) {
	case WASM_RT_TRAP_NONE: return "no trap";
	case WASM_RT_TRAP_OOB: return "out of bounds memory access";
	case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
	case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
	case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
	case WASM_RT_TRAP_UNREACHABLE: return "unreachable executed";
	case WASM_RT_TRAP_CALL_INDIRECT:
		return "indirect call: table index out of range, null entry or signature mismatch";
	case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return "uncaught exception";
	case WASM_RT_TRAP_EXHAUSTION: return "call stack exhausted";
	}
	if (kind == TRAP_MSG_KIND)
		return trap_msg;
	return "unknown trap";
}

/* The error code the application sees for a trap (hyperlight/wasm_abi.h). */
static int trap_code(wasm_rt_trap_t kind)
{
	switch (kind) {
	case WASM_RT_TRAP_OOB: return HL_WASM_TRAP_OOB;
	case WASM_RT_TRAP_INT_OVERFLOW: return HL_WASM_TRAP_INT_OVERFLOW;
	case WASM_RT_TRAP_DIV_BY_ZERO: return HL_WASM_TRAP_DIV_BY_ZERO;
	case WASM_RT_TRAP_INVALID_CONVERSION: return HL_WASM_TRAP_INVALID_CONVERSION;
	case WASM_RT_TRAP_UNREACHABLE: return HL_WASM_TRAP_UNREACHABLE;
	case WASM_RT_TRAP_CALL_INDIRECT: return HL_WASM_TRAP_CALL_INDIRECT;
	case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return HL_WASM_TRAP_EXCEPTION;
	case WASM_RT_TRAP_EXHAUSTION: return HL_WASM_TRAP_EXHAUSTION;
	default: return kind == TRAP_MSG_KIND ? trap_msg_code : HL_WASM_TRAP_OTHER;
	}
}

struct guarded {
	void (*fn)(void);           /* main(): instantiate, _initialize */
	int (*body)(hl_call *call); /* a guest call */
	hl_call *call;
	int rc;
};

/* Runs g's function under the trap guard; returns the trap or
 * WASM_RT_TRAP_NONE. Kept apart from its callers so that no local of
 * theirs lives across the setjmp; `g` itself is never modified here. */
static __attribute__((noinline)) wasm_rt_trap_t run_guarded(struct guarded *g)
{
	if (setjmp(trap_jmp) != 0)
		return trap_kind;
	wasm_rt_call_stack_depth = 0;
	unwind_target = NULL;
	trap_armed = true;
	if (g->body)
		g->rc = g->body(g->call);
	else
		g->fn();
	trap_armed = false;
	return WASM_RT_TRAP_NONE;
}

int hl_wasm__invoke(hl_call *call, int (*body)(hl_call *call))
{
	struct guarded g = {.body = body, .call = call};
	in_guest_call = true;
	wasm_rt_trap_t t = run_guarded(&g);
	in_guest_call = false;
	if (t == WASM_RT_TRAP_NONE)
		return g.rc;
	/* The host's message names the function already. */
	return hl_return_error(call, trap_code(t), "wasm trap: %s", wasm_rt_strerror(t));
}

void hl_wasm__run_init(void (*fn)(void), const char *what)
{
	struct guarded g = {.fn = fn};
	wasm_rt_trap_t t = run_guarded(&g);
	if (t != WASM_RT_TRAP_NONE)
		hl_abort(trap_code(t), "wasm trap during %s: %s", what, wasm_rt_strerror(t));
}

/* ---- Host imports ---------------------------------------------------------------- */

uint64_t hl_wasm__call_import(const struct hl_wasm_import *imp, const uint64_t *args)
{
	hl_value v[HL_MAX_PARAMS];
	for (unsigned i = 0; i < imp->nparams; i++) {
		switch (imp->params[i]) {
		case HL_TYPE_I32: v[i] = hl_i32((int32_t)(uint32_t)args[i]); break;
		case HL_TYPE_I64: v[i] = hl_i64((int64_t)args[i]); break;
		case HL_TYPE_F32: v[i] = hl_f32(hl_wasm__bits_f32(args[i])); break;
		case HL_TYPE_F64: v[i] = hl_f64(hl_wasm__bits_f64(args[i])); break;
		default:
			hl_abort(-1, "wasm import %s: parameter %u has type %d", imp->name, i,
			         imp->params[i]);
		}
	}
	hl_value r;
	if (in_guest_call) {
		/* A failure leaves the guest call from inside hl_call_host_or_fail,
		 * so the trap guard is lifted around it. */
		trap_armed = false;
		r = hl_call_host_or_fail(imp->name, imp->ret, v, imp->nparams);
		trap_armed = true;
	} else {
		memset(&r, 0, sizeof r);
		if (hl_call_host(imp->name, imp->ret, &r, v, imp->nparams) < 0)
			hl_abort(-1, "host function %s failed while the module was initialised: %s",
			         imp->name, hl_host_error());
	}
	switch (imp->ret) {
	case HL_TYPE_I32: return (uint32_t)r.u.i32;
	case HL_TYPE_I64: return (uint64_t)r.u.i64;
	case HL_TYPE_F32: return hl_wasm__f32_bits(r.u.f32);
	case HL_TYPE_F64: return hl_wasm__f64_bits(r.u.f64);
	default: return 0;
	}
}

/* ---- Initialisation --------------------------------------------------------------- */

void wasm_rt_init(void)
{
	initialized = true;
}

bool wasm_rt_is_initialized(void)
{
	return initialized;
}

void wasm_rt_free(void)
{
	initialized = false;
}

/* ---- Function types ---------------------------------------------------------------
 * Indices start at 1 so that a null funcref (type 0) never matches. */
struct func_type {
	uint32_t params, results;
	uint8_t *types;
};
static struct func_type *types;
static uint32_t ntypes;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...)
{
	uint32_t n = params + results;
	if (n < params || n > 4096)
		hl_abort(HL_WASM_TRAP_OTHER,
		         "wasm: a function type with %u parameters and %u results", params, results);
	uint8_t t[4096];
	va_list ap;
	va_start(ap, results);
	for (uint32_t i = 0; i < n; i++)
		t[i] = (uint8_t)va_arg(ap, int); /* wasm_rt_type_t, promoted */
	va_end(ap);
	for (uint32_t i = 0; i < ntypes; i++)
		if (types[i].params == params && types[i].results == results &&
		    memcmp(types[i].types, t, n) == 0)
			return i + 1;
	struct func_type *nt = realloc(types, (ntypes + 1) * sizeof *nt);
	uint8_t *copy = malloc(n ? n : 1);
	if (!nt || !copy)
		hl_abort(HL_WASM_E_NOMEM, "wasm: out of heap for function types");
	memcpy(copy, t, n);
	types = nt;
	types[ntypes] = (struct func_type){params, results, copy};
	return ++ntypes;
}

/* ---- Exceptions (only with wasm2c --enable-exceptions) ---------------------------- */
static uint32_t ntags;
static uint32_t exc_tag, exc_size;
static uint8_t exc_data[256];

uint32_t wasm_rt_register_tag(uint32_t size)
{
	if (size > sizeof exc_data)
		hl_abort(HL_WASM_TRAP_OTHER, "wasm: exception tag of %u bytes (at most %zu)", size,
		         sizeof exc_data);
	return ntags++;
}

void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void *values)
{
	if (size > sizeof exc_data)
		wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
	exc_tag = tag;
	exc_size = size;
	if (size)
		memcpy(exc_data, values, size);
}

void wasm_rt_throw(void)
{
	if (!unwind_target)
		wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
	longjmp(*unwind_target, 1);
}

WASM_RT_UNWIND_TARGET *wasm_rt_get_unwind_target(void)
{
	return unwind_target;
}

void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET *target)
{
	unwind_target = target;
}

uint32_t wasm_rt_exception_tag(void)
{
	return exc_tag;
}

uint32_t wasm_rt_exception_size(void)
{
	return exc_size;
}

void *wasm_rt_exception(void)
{
	return exc_data;
}

/* ---- Linear memory -----------------------------------------------------------------
 * An anonymous mapping on the guest heap, reserved at instantiation for as
 * much as the memory may ever grow to here: its maximum, or the heap less
 * some room for everything else (HEAP_SLACK), whichever is smaller. The
 * heap hands out zeroed pages and a page costs nothing until it is
 * touched, so the reservation is free; memory.grow within it only moves
 * `size` (the pages past the old size were never written: wasm2c checks
 * every access against `size`, WASM_RT_MEMCHECK_SIGNAL_HANDLER=0), with no
 * copy and no pages touched. Past the reservation it falls back to
 * mremap, which may copy. */

/* Heap left to malloc (tables, function types, WASI lists, an embedder's
 * own data) when the memory's reservation is sized from the heap. */
static uint64_t heap_slack(void)
{
	uint64_t heap = hl_boot_info()->heap_size, s = heap / 16;
	return s < (256u << 10) ? (256u << 10) : s;
}

/* The reservations of the memories (a module has at most one; its
 * embedder might make a few). */
static struct {
	const wasm_rt_memory_t *mem;
	size_t reserved;
} reservations[4];

static size_t *reservation_of(const wasm_rt_memory_t *mem, bool add)
{
	for (size_t i = 0; i < sizeof reservations / sizeof reservations[0]; i++)
		if (reservations[i].mem == mem || (add && !reservations[i].mem)) {
			reservations[i].mem = mem;
			return &reservations[i].reserved;
		}
	return NULL;
}

static _Noreturn void out_of_heap(const char *what, uint64_t bytes)
{
	hl_abort(HL_WASM_E_NOMEM,
	         "wasm: cannot allocate %s of %llu bytes: the sandbox heap is %llu bytes; give the "
	         "sandbox a larger heap (hl_config.heap_size, --heap)",
	         what, (unsigned long long)bytes, (unsigned long long)hl_boot_info()->heap_size);
}

void wasm_rt_allocate_memory(wasm_rt_memory_t *mem, uint32_t initial_pages, uint32_t max_pages)
{
	if (initial_pages > MAX_PAGES)
		out_of_heap("the linear memory", (uint64_t)initial_pages * WASM_PAGE);
	size_t bytes = (size_t)initial_pages * WASM_PAGE;
	uint64_t cap = (uint64_t)(max_pages < MAX_PAGES ? max_pages : MAX_PAGES) * WASM_PAGE;
	uint64_t heap = hl_boot_info()->heap_size, slack = heap_slack();
	uint64_t budget = heap > slack ? (heap - slack) & ~(uint64_t)(WASM_PAGE - 1) : 0;
	size_t reserve = (size_t)(cap < budget ? cap : budget);
	if (reserve < bytes)
		reserve = bytes;
	size_t *slot = reservation_of(mem, true);
	mem->data = NULL;
	if (reserve) {
		void *p = mmap(NULL, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		               -1, 0);
		if (p == MAP_FAILED && reserve > bytes) {
			reserve = bytes; /* no room for the reservation: the memory alone */
			p = bytes ? mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
			          : NULL;
		}
		if (p == MAP_FAILED || !slot)
			out_of_heap("the linear memory", bytes);
		mem->data = p;
	}
	if (slot)
		*slot = mem->data ? reserve : 0;
	mem->pages = initial_pages;
	mem->max_pages = max_pages;
	mem->size = (uint32_t)bytes;
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *mem, uint32_t delta)
{
	uint32_t old = mem->pages;
	if (delta == 0)
		return old;
	uint64_t pages = (uint64_t)old + delta;
	if (pages > mem->max_pages || pages > MAX_PAGES)
		return UINT32_MAX;
	size_t bytes = (size_t)pages * WASM_PAGE;
	size_t *reserved = reservation_of(mem, false);
	if (!reserved || bytes > *reserved) {
		/* Past the reservation: a bigger mapping (the heap is full when
		 * this fails, and memory.grow returns -1). */
		void *p = mem->data && reserved && *reserved
		                  ? mremap(mem->data, *reserved, bytes, MREMAP_MAYMOVE)
		                  : mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return UINT32_MAX;
		/* mremap's new tail is zero; so is a new mapping, into which the
		 * old contents (none: no mapping) would have gone. */
		mem->data = p;
		if (reserved)
			*reserved = bytes;
	}
	mem->pages = (uint32_t)pages;
	mem->size = (uint32_t)bytes;
	return old;
}

void wasm_rt_free_memory(wasm_rt_memory_t *mem)
{
	size_t *reserved = reservation_of(mem, false);
	if (mem->data && reserved && *reserved)
		munmap(mem->data, *reserved);
	if (reserved) {
		*reserved = 0;
		for (size_t i = 0; i < sizeof reservations / sizeof reservations[0]; i++)
			if (reservations[i].mem == mem)
				reservations[i].mem = NULL;
	}
	mem->data = NULL;
	mem->pages = 0;
	mem->size = 0;
}

/* ---- Tables --------------------------------------------------------------------- */

/* Grows `*data` (elem bytes each) from `size` to `size + delta` elements
 * filled with `init`; returns the old size or UINT32_MAX. */
static uint32_t grow_table(void **data, uint32_t *size, uint32_t max, size_t elem, uint32_t delta,
                           const void *init)
{
	uint32_t old = *size;
	uint64_t n = (uint64_t)old + delta;
	if (delta == 0)
		return old;
	if (n > max || n > MAX_TABLE_ELEMS)
		return UINT32_MAX;
	uint8_t *p = realloc(*data, (size_t)n * elem);
	if (!p)
		return UINT32_MAX;
	for (uint64_t i = old; i < n; i++)
		memcpy(p + i * elem, init, elem);
	*data = p;
	*size = (uint32_t)n;
	return old;
}

static void *alloc_table(uint32_t elements, size_t elem)
{
	if (elements > MAX_TABLE_ELEMS)
		out_of_heap("a table", (uint64_t)elements * elem);
	void *p = calloc(elements ? elements : 1, elem);
	if (!p)
		out_of_heap("a table", (uint64_t)elements * elem);
	return p;
}

/* Allocate, free and grow, alike for both kinds of table. calloc's zero
 * bytes are the null element of each: the funcref {0, NULL, NULL} and the
 * NULL externref. */
#define TABLE_OPS(kind)                                                                            \
	void wasm_rt_allocate_##kind##_table(wasm_rt_##kind##_table_t *t, uint32_t elements,       \
	                                     uint32_t max_elements)                                \
	{                                                                                          \
		t->data = alloc_table(elements, sizeof *t->data);                                  \
		t->size = elements;                                                                \
		t->max_size = max_elements;                                                        \
	}                                                                                          \
                                                                                                   \
	void wasm_rt_free_##kind##_table(wasm_rt_##kind##_table_t *t)                              \
	{                                                                                          \
		free(t->data);                                                                     \
		t->data = NULL;                                                                    \
		t->size = 0;                                                                       \
	}                                                                                          \
                                                                                                   \
	uint32_t wasm_rt_grow_##kind##_table(wasm_rt_##kind##_table_t *t, uint32_t delta,          \
	                                     wasm_rt_##kind##_t init)                              \
	{                                                                                          \
		void *d = t->data;                                                                 \
		uint32_t r = grow_table(&d, &t->size, t->max_size, sizeof *t->data, delta, &init); \
		t->data = d;                                                                       \
		return r;                                                                          \
	}

TABLE_OPS(funcref)
TABLE_OPS(externref)
