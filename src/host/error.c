/*
 * error.c - error codes and their names, type names, and the per-sandbox
 * message every part of the library sets (hl__fail) and the application
 * reads (hl_errmsg). It calls nothing else of the library: any file may
 * use it.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *hl_strerror(int code)
{
	switch (code) {
	case HL_OK: return "HL_OK: success";
	case HL_E_INVAL: return "HL_E_INVAL: invalid argument";
	case HL_E_STATE: return "HL_E_STATE: not allowed in the sandbox's current state";
	case HL_E_NO_FUNCTION: return "HL_E_NO_FUNCTION: no such function";
	case HL_E_ARG_COUNT: return "HL_E_ARG_COUNT: wrong number of arguments";
	case HL_E_ARG_TYPE: return "HL_E_ARG_TYPE: argument of the wrong type";
	case HL_E_EXISTS: return "HL_E_EXISTS: already registered";
	case HL_E_CONFIG: return "HL_E_CONFIG: configuration value out of range";
	case HL_E_TOO_LARGE: return "HL_E_TOO_LARGE: does not fit the buffer";
	case HL_E_NOMEM: return "HL_E_NOMEM: out of memory";
	case HL_E_IO: return "HL_E_IO: cannot read the guest file";
	case HL_E_HYPERVISOR: return "HL_E_HYPERVISOR: hypervisor unavailable or failed";
	case HL_E_UNSUPPORTED: return "HL_E_UNSUPPORTED: not supported by this build or kernel";
	case HL_E_ELF: return "HL_E_ELF: malformed or unsupported guest binary";
	case HL_E_VERSION: return "HL_E_VERSION: guest ABI version missing or different";
	case HL_E_GUEST_ERROR: return "HL_E_GUEST_ERROR: the guest function returned an error";
	case HL_E_HOST_FUNCTION:
		return "HL_E_HOST_FUNCTION: a host function failed and the guest did not handle it";
	case HL_E_GUEST_ABORT: return "HL_E_GUEST_ABORT: the guest aborted";
	case HL_E_GUEST_FAULT: return "HL_E_GUEST_FAULT: the guest faulted";
	case HL_E_GUEST_PROTOCOL: return "HL_E_GUEST_PROTOCOL: the guest broke the protocol";
	case HL_E_POISONED: return "HL_E_POISONED: the sandbox needs a reset after a guest failure";
	case HL_E_CANCELLED: return "HL_E_CANCELLED: the call was cancelled or timed out";
	case HL_E_BUSY: return "HL_E_BUSY: no pooled sandbox became free in time";
	default: return "unknown error code";
	}
}

const char *hl_type_name(hl_type t)
{
	static const char *const names[] = {"void", "i32", "u32",  "i64",    "u64",
	                                    "f32",  "f64", "bool", "string", "bytes"};
	return (unsigned)t < HL_TYPE__COUNT ? names[t] : "?";
}

const char *hl_version(void)
{
	return "1.0.0";
}

int hl__vfail(hl_sandbox *sb, int code, const char *fmt, va_list ap)
{
	vsnprintf(sb->errmsg, sizeof sb->errmsg, fmt, ap);
	return code;
}

int hl__fail(hl_sandbox *sb, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hl__vfail(sb, code, fmt, ap);
	va_end(ap);
	return code;
}

void hl__prefix_error(hl_sandbox *sb, const char *prefix)
{
	size_t cap = sizeof sb->errmsg, p = strlen(prefix), m = strlen(sb->errmsg);
	if (p + 2 >= cap)
		return;
	if (p + 2 + m >= cap)
		m = cap - p - 3;
	memmove(sb->errmsg + p + 2, sb->errmsg, m);
	memcpy(sb->errmsg, prefix, p);
	memcpy(sb->errmsg + p, ": ", 2);
	sb->errmsg[p + 2 + m] = '\0';
}

void hl__clear_error(hl_sandbox *sb)
{
	sb->errmsg[0] = '\0';
}

const char *hl_errmsg(const hl_sandbox *sb)
{
	return sb ? sb->errmsg : "no sandbox (NULL)";
}
