/* callbackguest.c - a guest whose functions call back into host functions, with and without handling their errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlight/guest.h"

/* GuestMethod1(msg): HostMethod1("Hello from GuestMethod1, " + msg). */
static int guest_method1(hl_call *c)
{
	const char *msg = hl_arg_string(c, 0, NULL);
	static const char prefix[] = "Hello from GuestMethod1, ";
	size_t n = strlen(prefix) + strlen(msg);
	char *s = malloc(n + 1);
	if (!s)
		return hl_return_error(c, 1, "out of memory for %zu bytes", n);
	memcpy(s, prefix, strlen(prefix));
	memcpy(s + strlen(prefix), msg, strlen(msg) + 1);
	hl_value arg = hl_string(s, n);
	hl_value r;
	int rc = hl_call_host("HostMethod1", HL_TYPE_I32, &r, &arg, 1);
	free(s);
	if (rc < 0)
		return hl_return_error(c, 2, "HostMethod1 failed: %s", hl_host_error());
	return hl_return_i32(c, r.u.i32);
}

static int guest_method2(hl_call *c)
{
	hl_value args[2] = {hl_i32(hl_arg_i32(c, 0)), hl_i32(hl_arg_i32(c, 1))};
	hl_value r = hl_call_host_or_fail("HostAdd", HL_TYPE_I32, args, 2);
	return hl_return_i32(c, r.u.i32);
}

static int guest_method3(hl_call *c)
{
	size_t n;
	const char *s = hl_arg_string(c, 0, &n);
	hl_value arg = hl_string(s, n);
	hl_value r = hl_call_host_or_fail("HostEcho", HL_TYPE_STRING, &arg, 1);
	return hl_return_string(c, r.u.str.ptr, r.u.str.len);
}

static int guest_method4(hl_call *c)
{
	hl_value arg = hl_u32(hl_arg_u32(c, 0));
	hl_value r = hl_call_host_or_fail("HostGetBytes", HL_TYPE_BYTES, &arg, 1);
	return hl_return_bytes(c, r.u.bytes.ptr, r.u.bytes.len);
}

/* HostError always fails; hl_call_host_or_fail ends this call there. */
static int call_host_error(hl_call *c)
{
	hl_value r = hl_call_host_or_fail("HostError", HL_TYPE_I32, NULL, 0);
	return hl_return_i32(c, r.u.i32);
}

static int call_host_error_handled(hl_call *c)
{
	hl_value r;
	if (hl_call_host("HostError", HL_TYPE_I32, &r, NULL, 0) == 0)
		return hl_return_error(c, 1, "HostError returned %d instead of failing",
		                       (int)r.u.i32);
	char buf[512];
	int n = snprintf(buf, sizeof buf, "handled: %s", hl_host_error());
	return hl_return_string(c, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
}

static int host_call_loop(hl_call *c)
{
	int32_t n = hl_arg_i32(c, 0), sum = 0;
	for (int32_t i = 0; i < n; i++) {
		hl_value args[2] = {hl_i32(i), hl_i32(1)};
		sum += hl_call_host_or_fail("HostAdd", HL_TYPE_I32, args, 2).u.i32;
	}
	return hl_return_i32(c, sum);
}

static int call_unknown_host_function(hl_call *c)
{
	hl_value r;
	if (hl_call_host("NoSuchFunction", HL_TYPE_I32, &r, NULL, 0) == 0)
		return hl_return_i32(c, r.u.i32);
	return hl_return_error(c, 1, "calling NoSuchFunction failed: %s", hl_host_error());
}

static int print_via_host(hl_call *c)
{
	size_t n;
	const char *s = hl_arg_string(c, 0, &n);
	hl_value arg = hl_string(s, n);
	hl_value r = hl_call_host_or_fail("HostPrint", HL_TYPE_I32, &arg, 1);
	return hl_return_i32(c, r.u.i32);
}

int main(void)
{
	HL_REGISTER("GuestMethod1", guest_method1, HL_TYPE_I32, HL_TYPE_STRING);
	HL_REGISTER("GuestMethod2", guest_method2, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32);
	HL_REGISTER("GuestMethod3", guest_method3, HL_TYPE_STRING, HL_TYPE_STRING);
	HL_REGISTER("GuestMethod4", guest_method4, HL_TYPE_BYTES, HL_TYPE_U32);
	HL_REGISTER("CallHostError", call_host_error, HL_TYPE_I32);
	HL_REGISTER("CallHostErrorHandled", call_host_error_handled, HL_TYPE_STRING);
	HL_REGISTER("HostCallLoop", host_call_loop, HL_TYPE_I32, HL_TYPE_I32);
	HL_REGISTER("CallUnknownHostFunction", call_unknown_host_function, HL_TYPE_I32);
	HL_REGISTER("PrintViaHost", print_via_host, HL_TYPE_I32, HL_TYPE_STRING);
	hl_dispatch();
}
