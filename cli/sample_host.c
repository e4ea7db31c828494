/* sample_host.c - the host functions the sample guests call back: a tour of every way a host function returns. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sample_host.h"

/*
 * HostGetBytes returns up to 1 MiB, and the library copies a bytes result
 * only after the callback has returned, so the result must outlive the
 * callback. A stack buffer would not, a malloc'd one would need somewhere to
 * live until the next call and then leak when the sandbox is freed (the API
 * has no destructor for user data), and a static mutable buffer would be
 * shared by every sandbox in every thread. Byte i of the result is i & 0xff,
 * the same for every call, so the whole answer can be one read-only table:
 * 4096 copies of the bytes 0..255, built by the compiler from string
 * literals (which it handles much faster than a 1 MiB initializer list).
 */
#define BYTES_0_255                                                        \
	"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" \
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f" \
	"\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f" \
	"\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f" \
	"\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f" \
	"\x50\x51\x52\x53\x54\x55\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f" \
	"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f" \
	"\x70\x71\x72\x73\x74\x75\x76\x77\x78\x79\x7a\x7b\x7c\x7d\x7e\x7f" \
	"\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f" \
	"\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f" \
	"\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf" \
	"\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf" \
	"\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf" \
	"\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf" \
	"\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef" \
	"\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff"
#define TIMES4(x) x x x x
static const char byte_pattern[] = TIMES4(TIMES4(TIMES4(TIMES4(TIMES4(TIMES4(BYTES_0_255))))));
_Static_assert(sizeof byte_pattern == HL_SAMPLE_MAX_BYTES + 1,
               "4096 copies of 256 bytes, plus the literal's NUL");

/* The library checks the number and types of the arguments against the
 * registration before it calls a host function, so the callbacks below read
 * their arguments without checking them again. */

static int32_t length_i32(size_t n)
{
	return n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

static int host_method1(hl_host_call *hc, const hl_value *args, size_t nargs, hl_value *ret,
                        void *user)
{
	(void)hc, (void)nargs, (void)user;
	/* The length, not a print: the caller can check the value it gets back. */
	*ret = hl_i32(length_i32(args[0].u.str.len));
	return 0;
}

static int host_add(hl_host_call *hc, const hl_value *args, size_t nargs, hl_value *ret, void *user)
{
	(void)hc, (void)nargs, (void)user;
	/* Signed overflow is undefined; unsigned arithmetic wraps, and gcc and
	 * clang convert the result back to int32_t modulo 2^32. */
	uint32_t sum = (uint32_t)args[0].u.i32 + (uint32_t)args[1].u.i32;
	*ret = hl_i32((int32_t)sum);
	return 0;
}

static int host_echo(hl_host_call *hc, const hl_value *args, size_t nargs, hl_value *ret, void *user)
{
	(void)hc, (void)nargs, (void)user;
	/* The argument stays valid until the callback returns, as long as the
	 * result has to: handing it back as it is needs no copy. */
	*ret = hl_string(args[0].u.str.ptr, args[0].u.str.len);
	return 0;
}

static int host_get_bytes(hl_host_call *hc, const hl_value *args, size_t nargs, hl_value *ret,
                          void *user)
{
	(void)nargs, (void)user;
	uint32_t n = args[0].u.u32;
	if (n > HL_SAMPLE_MAX_BYTES)
		return hl_host_call_fail(hc, "n too large: %u bytes, the most is %u", n,
		                         HL_SAMPLE_MAX_BYTES);
	*ret = hl_bytes(byte_pattern, n);
	return 0;
}

static int host_error(hl_host_call *hc, const hl_value *args, size_t nargs, hl_value *ret,
                      void *user)
{
	(void)args, (void)nargs, (void)ret, (void)user;
	return hl_host_call_fail(hc, "HostError always fails");
}

static int host_print(hl_host_call *hc, const hl_value *args, size_t nargs, hl_value *ret,
                      void *user)
{
	(void)nargs, (void)user;
	size_t n = args[0].u.str.len;
	/* Flushed at once so that the text lands between the guest's own output
	 * and the host's, in the order they happened. */
	if (fwrite(args[0].u.str.ptr, 1, n, stdout) != n || fflush(stdout) != 0)
		return hl_host_call_fail(hc, "HostPrint: writing %zu bytes to stdout failed", n);
	*ret = hl_i32(length_i32(n));
	return 0;
}

int hl_sample_host_register(hl_sandbox *sb)
{
	static const hl_type str1[] = {HL_TYPE_STRING};
	static const hl_type i32x2[] = {HL_TYPE_I32, HL_TYPE_I32};
	static const hl_type u32x1[] = {HL_TYPE_U32};
	static const struct {
		const char *name;
		hl_type ret;
		const hl_type *params;
		size_t nparams;
		hl_host_fn fn;
	} fns[] = {
		{"HostMethod1", HL_TYPE_I32, str1, 1, host_method1},
		{"HostAdd", HL_TYPE_I32, i32x2, 2, host_add},
		{"HostEcho", HL_TYPE_STRING, str1, 1, host_echo},
		{"HostGetBytes", HL_TYPE_BYTES, u32x1, 1, host_get_bytes},
		{"HostError", HL_TYPE_I32, NULL, 0, host_error},
		{"HostPrint", HL_TYPE_I32, str1, 1, host_print},
	};
	for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
		int r = hl_sandbox_register(sb, fns[i].name, fns[i].ret, fns[i].params,
		                            fns[i].nparams, fns[i].fn, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}
