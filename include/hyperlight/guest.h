/*
 * guest.h - the API for guest authors.
 *
 * A guest is an ordinary static C program linked against musl libc and
 * libhyperlight_guest. Its main() registers the functions it exports and
 * then calls hl_dispatch(), which never returns: from then on the host calls
 * the registered functions by name.
 *
 *     static int echo(hl_call *c) {
 *         size_t n;
 *         const char *s = hl_arg_string(c, 0, &n);
 *         return hl_return_string(c, s, n);
 *     }
 *     int main(void) {
 *         HL_REGISTER("Echo", echo, HL_TYPE_STRING, HL_TYPE_STRING);
 *         hl_dispatch();
 *     }
 *
 * printf, malloc and the rest of libc work as usual: stdout and stderr go
 * to the host's print callback, the heap is the sandbox's heap.
 *
 * Threading: a guest has one thread of execution; nothing here is
 * reentrant and nothing needs to be.
 */
#ifndef HYPERLIGHT_GUEST_H
#define HYPERLIGHT_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperlight/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* hl_value and its constructors (hl_i32, hl_string, ...) are in abi.h. */

/* ---- Exporting functions ------------------------------------------------ */

/* The context of one call of a guest function; valid until it returns. */
typedef struct hl_call hl_call;

/* A guest function: returns 0 after setting its result with one hl_return_*
 * (a non-void function that sets none fails the call), or the value of
 * hl_return_error(). */
typedef int (*hl_guest_fn)(hl_call *call);

/*
 * Registers a function that the host may call. Only from main(), before
 * hl_dispatch(). `name` is copied (at most HL_MAX_NAME bytes of
 * [A-Za-z0-9_.]); `params` is copied. Returns 0, or aborts the guest with a
 * message naming the problem (bad name, duplicate, too many parameters),
 * since a guest that registers badly cannot do anything useful.
 */
void hl_register_function(const char *name, hl_guest_fn fn, hl_type ret, const hl_type *params,
                          unsigned nparams);

/* HL_REGISTER(name, fn, ret, param types...) */
#define HL_REGISTER(name, fn, ...)                                                         \
	do {                                                                               \
		static const hl_type hl__sig[] = {__VA_ARGS__};                            \
		hl_register_function((name), (fn), hl__sig[0], hl__sig + 1,                \
		                     (unsigned)(sizeof hl__sig / sizeof hl__sig[0]) - 1u); \
	} while (0)

/* Hands the function table to the host and serves calls forever. */
_Noreturn void hl_dispatch(void);

/* ---- Arguments (valid until the function returns) -------------------------
 * The host has already checked every argument against the registered
 * signature, so an accessor of the wrong type or index is a bug in the guest:
 * it aborts the guest with a message naming the function and index. */
unsigned hl_arg_count(const hl_call *call);
hl_type hl_arg_type(const hl_call *call, unsigned i);
int32_t hl_arg_i32(const hl_call *call, unsigned i);
uint32_t hl_arg_u32(const hl_call *call, unsigned i);
int64_t hl_arg_i64(const hl_call *call, unsigned i);
uint64_t hl_arg_u64(const hl_call *call, unsigned i);
float hl_arg_f32(const hl_call *call, unsigned i);
double hl_arg_f64(const hl_call *call, unsigned i);
bool hl_arg_bool(const hl_call *call, unsigned i);
/* NUL-terminated; points into the input buffer; *len (if not NULL) gets the length. */
const char *hl_arg_string(const hl_call *call, unsigned i, size_t *len);
const uint8_t *hl_arg_bytes(const hl_call *call, unsigned i, size_t *len);
/* The name of the function being called. */
const char *hl_call_name(const hl_call *call);

/* ---- Results --------------------------------------------------------------
 * Each copies the value into the output buffer at once, so the source may be
 * freed afterwards. They return 0, or a negative code when the value does
 * not fit the output buffer or does not match the registered return type
 * (the call then fails with that message). */
int hl_return_void(hl_call *call);
int hl_return_i32(hl_call *call, int32_t v);
int hl_return_u32(hl_call *call, uint32_t v);
int hl_return_i64(hl_call *call, int64_t v);
int hl_return_u64(hl_call *call, uint64_t v);
int hl_return_f32(hl_call *call, float v);
int hl_return_f64(hl_call *call, double v);
int hl_return_bool(hl_call *call, bool v);
int hl_return_string(hl_call *call, const char *s, size_t len);
int hl_return_bytes(hl_call *call, const void *p, size_t len);

/* Fails the call with a positive application error code and a formatted
 * message; returns a negative number that the guest function returns. */
int hl_return_error(hl_call *call, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- Calling the host -----------------------------------------------------
 * Calls the host function `name` with `args`; on success stores the result
 * in *result (may be NULL for void) and returns 0. String and bytes results
 * point into the input buffer and stay valid until the next host call or the
 * end of the current guest function.
 * Errors: a negative code; hl_host_error() gives the host's message.
 * HL_GUEST_E_HOST is returned when the host function reported an error. */
#define HL_GUEST_E_HOST (-1)      /* the host function failed */
#define HL_GUEST_E_TOO_LARGE (-2) /* the request does not fit the output buffer */
#define HL_GUEST_E_PROTOCOL (-3)  /* the host's answer was malformed */
int hl_call_host(const char *name, hl_type ret, hl_value *result, const hl_value *args,
                 unsigned nargs);
/* The message of the last failed hl_call_host (empty if none). */
const char *hl_host_error(void);
/* Like hl_call_host, but a failure ends the current guest call at once and
 * reaches the application as a host-function error (the guest does not
 * handle it). Only valid inside a guest function. */
hl_value hl_call_host_or_fail(const char *name, hl_type ret, const hl_value *args, unsigned nargs);

/* ---- Failing, logging -------------------------------------------------- */

/* Stops the guest: the host reports HL_E_GUEST_ABORT with this code and
 * message, and the sandbox stays poisoned until it is reset. */
_Noreturn void hl_abort(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends a log record if `level` is within the host's maximum. */
void hl_log_at(enum hl_log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define hl_log(level, ...) hl_log_at((level), __FILE__, __LINE__, __VA_ARGS__)

/* The layout the host described at boot (read-only). */
const struct hl_boot_info *hl_boot_info(void);

/* Low-level: exit to the host through `port` with a record at `offset` of
 * the output buffer. For test guests that speak the protocol by hand. */
void hl_outl(uint16_t port, uint32_t value);

#ifdef __cplusplus
}
#endif
#endif /* HYPERLIGHT_GUEST_H */
