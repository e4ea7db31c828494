/* wasi.c - the WASI subset of a wasm guest (wasi_snapshot_preview1): output to the host's print callback, args and environment from the host, clocks, randomness, proc_exit. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>

#include "hl_wasm_rt.h"
#include "hyperlight/wasm_abi.h"

/* WASI errno values (wasi_snapshot_preview1). */
enum {
	WASI_ESUCCESS = 0,
	WASI_EBADF = 8,
	WASI_EFAULT = 21,
	WASI_EINVAL = 28,
	WASI_EIO = 29,
	WASI_ENOSPC = 51,
	WASI_EOVERFLOW = 61,
};

/* The memory the module exports as "memory"; set by the glue after
 * instantiation, NULL when the module exports none. */
wasm_rt_memory_t *hl_wasm__memory;

static uint8_t *mem_range(uint32_t off, uint64_t len)
{
	return hl_wasm__mem_range(off, len);
}

uint8_t *hl_wasm__mem_range(uint32_t off, uint64_t len)
{
	wasm_rt_memory_t *m = hl_wasm__memory;
	if (!m || (uint64_t)off + len > m->size)
		return NULL;
	return m->data + off;
}

static uint32_t load_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v); /* wasm memory is little-endian, like x86 */
	return v;
}

static void store_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof v);
}

static void store_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof v);
}

/* ---- fd_write ---------------------------------------------------------------- */

uint32_t hl_wasm__wasi_fd_write(uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten)
{
	if (fd != 1 && fd != 2)
		return WASI_EBADF;
	const uint8_t *iov = mem_range(iovs, (uint64_t)iovs_len * 8u);
	uint8_t *nw = mem_range(nwritten, 4);
	if (!iov || !nw)
		return WASI_EFAULT;
	/* Every piece is checked before anything is written, so a bad iovec
	 * writes nothing. */
	for (uint32_t i = 0; i < iovs_len; i++)
		if (!mem_range(load_u32(iov + 8u * i), load_u32(iov + 8u * i + 4)))
			return WASI_EFAULT;
	uint64_t total = 0;
	uint32_t i = 0;
	while (i < iovs_len) {
		struct iovec v[64];
		int n = 0;
		size_t want = 0;
		for (; i < iovs_len && n < 64; i++) {
			uint32_t len = load_u32(iov + 8u * i + 4);
			if (len == 0)
				continue;
			v[n].iov_base = mem_range(load_u32(iov + 8u * i), len);
			v[n].iov_len = len;
			want += len;
			n++;
		}
		if (n == 0)
			continue;
		/* The runtime turns this into print records for the host. */
		ssize_t w = writev((int)fd, v, n);
		if (w < 0)
			return errno == ENOSPC ? WASI_ENOSPC : WASI_EIO;
		total += (uint64_t)w;
		if ((size_t)w < want)
			break; /* the output buffer is full: report what went out */
	}
	store_u32(nw, total > UINT32_MAX ? UINT32_MAX : (uint32_t)total);
	return WASI_ESUCCESS;
}

/* ---- args and environ ---------------------------------------------------------
 * Fetched from the host once, in main() (hl_wasm__wasi_load), so they are
 * part of the state that hl_sandbox_reset() returns to. */
struct strlist {
	char *blob;     /* the strings, each followed by a NUL */
	uint32_t len;   /* bytes in blob */
	uint32_t count; /* strings */
};
static struct strlist args, environ_list;

static void load_list(const char *fn, struct strlist *l)
{
	hl_value r;
	memset(&r, 0, sizeof r);
	/* Not registered (or failing): the list stays empty. */
	if (hl_call_host(fn, HL_TYPE_BYTES, &r, NULL, 0) < 0 || r.u.bytes.len == 0)
		return;
	size_t n = r.u.bytes.len;
	if (n > UINT32_MAX / 2 || r.u.bytes.ptr[n - 1] != '\0')
		hl_abort(-1, "wasi: the host's %s is not a list of NUL-terminated strings", fn);
	char *b = malloc(n);
	if (!b)
		hl_abort(HL_WASM_E_NOMEM, "wasi: no heap for the %zu bytes of %s", n, fn);
	memcpy(b, r.u.bytes.ptr, n);
	l->blob = b;
	l->len = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		l->count += b[i] == '\0';
}

void hl_wasm__wasi_load(void)
{
	load_list(HL_WASI_ARGS_FN, &args);
	load_list(HL_WASI_ENVIRON_FN, &environ_list);
}

static uint32_t list_sizes(const struct strlist *l, uint32_t count_ptr, uint32_t size_ptr)
{
	uint8_t *c = mem_range(count_ptr, 4), *s = mem_range(size_ptr, 4);
	if (!c || !s)
		return WASI_EFAULT;
	store_u32(c, l->count);
	store_u32(s, l->len);
	return WASI_ESUCCESS;
}

static uint32_t list_get(const struct strlist *l, uint32_t ptrs, uint32_t buf)
{
	uint8_t *p = mem_range(ptrs, (uint64_t)l->count * 4u);
	uint8_t *b = mem_range(buf, l->len);
	if (!p || !b)
		return WASI_EFAULT;
	memcpy(b, l->blob, l->len);
	uint32_t off = 0;
	for (uint32_t i = 0; i < l->count; i++) {
		/* buf + off stays inside the memory: the range was checked. */
		store_u32(p + 4u * i, buf + off);
		off += (uint32_t)strlen(l->blob + off) + 1u;
	}
	return WASI_ESUCCESS;
}

uint32_t hl_wasm__wasi_args_sizes_get(uint32_t argc, uint32_t buf_size)
{
	return list_sizes(&args, argc, buf_size);
}

uint32_t hl_wasm__wasi_args_get(uint32_t argv, uint32_t buf)
{
	return list_get(&args, argv, buf);
}

uint32_t hl_wasm__wasi_environ_sizes_get(uint32_t count, uint32_t buf_size)
{
	return list_sizes(&environ_list, count, buf_size);
}

uint32_t hl_wasm__wasi_environ_get(uint32_t environ, uint32_t buf)
{
	return list_get(&environ_list, environ, buf);
}

/* ---- clocks, random, exit ------------------------------------------------------ */

uint32_t hl_wasm__wasi_clock_time_get(uint32_t id, uint64_t precision, uint32_t time_ptr)
{
	(void)precision;
	clockid_t c;
	switch (id) {
	case 0: c = CLOCK_REALTIME; break;
	case 1: c = CLOCK_MONOTONIC; break;
	case 2: c = CLOCK_PROCESS_CPUTIME_ID; break;
	case 3: c = CLOCK_THREAD_CPUTIME_ID; break;
	default: return WASI_EINVAL;
	}
	uint8_t *p = mem_range(time_ptr, 8);
	if (!p)
		return WASI_EFAULT;
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return WASI_EINVAL;
	if (ts.tv_sec < 0 || (uint64_t)ts.tv_sec > UINT64_MAX / 1000000000u - 1u)
		return WASI_EOVERFLOW;
	store_u64(p, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	return WASI_ESUCCESS;
}

uint32_t hl_wasm__wasi_random_get(uint32_t buf, uint32_t len)
{
	uint8_t *p = mem_range(buf, len);
	if (!p)
		return WASI_EFAULT;
	while (len > 0) {
		/* The runtime serves at most 33554431 bytes per getrandom. */
		size_t chunk = len > (1u << 24) ? (1u << 24) : len;
		ssize_t got = getrandom(p, chunk, 0);
		if (got <= 0)
			return WASI_EIO;
		p += got;
		len -= (uint32_t)got;
	}
	return WASI_ESUCCESS;
}

_Noreturn void hl_wasm__wasi_proc_exit(uint32_t code)
{
	hl_abort((int)code, "wasm module called proc_exit(%u)", code);
}
