/* emscripten.c - the "env" functions that emscripten's JavaScript runtime would give a module (clocks, heap growth, abort and assertions, the time zone), served inside the guest. */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "hl_wasm_rt.h"
#include "hyperlight/wasm_abi.h"

#define WASM_PAGE 65536u

static double now_ms(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return 0.0;
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Date.now(): milliseconds since the epoch (the host's clock at boot plus
 * the TSC since). */
double hl_wasm__em_date_now(void)
{
	return now_ms(CLOCK_REALTIME);
}

/* performance.now(): a monotonic clock in milliseconds. */
double hl_wasm__em_get_now(void)
{
	return now_ms(CLOCK_MONOTONIC);
}

/* The largest memory the module may grow to, in bytes (wasm-rt keeps the
 * size in 32 bits: 65535 pages). */
uint32_t hl_wasm__em_get_heap_max(void)
{
	wasm_rt_memory_t *m = hl_wasm__memory;
	uint64_t pages = m && m->max_pages < 65535u ? m->max_pages : 65535u;
	return (uint32_t)(pages * WASM_PAGE);
}

/*
 * sbrk() past the end of memory asks for `requested` bytes in all. Like
 * emscripten's JavaScript, grow by a quarter more than asked (at most
 * 96 MiB more) so that a growing heap does not copy its memory at every
 * step (memory.grow is a realloc here), and fall back to exactly what was
 * asked when that does not fit. Returns 1 on success, 0 when the memory
 * cannot grow (the sandbox heap is full, or the module's maximum): malloc
 * then returns NULL and the module reports it in its own way.
 */
uint32_t hl_wasm__em_resize_heap(uint32_t requested)
{
	wasm_rt_memory_t *m = hl_wasm__memory;
	if (!m)
		return 0;
	if (requested <= m->size)
		return 1;
	uint64_t want = ((uint64_t)requested + WASM_PAGE - 1) / WASM_PAGE;
	uint64_t extra = m->size / 4 < (96u << 20) ? m->size / 4 : (96u << 20);
	uint64_t generous = ((uint64_t)m->size + extra + WASM_PAGE - 1) / WASM_PAGE;
	uint64_t max = m->max_pages < 65535u ? m->max_pages : 65535u;
	if (generous > max)
		generous = max;
	if (want > max)
		return 0;
	if (generous > want && wasm_rt_grow_memory(m, (uint32_t)(generous - m->pages)) != UINT32_MAX)
		return 1;
	return wasm_rt_grow_memory(m, (uint32_t)(want - m->pages)) != UINT32_MAX;
}

void hl_wasm__em_notify_memory_growth(uint32_t index)
{
	(void)index; /* nothing caches the memory's address here */
}

void hl_wasm__em_keepalive_clear(void)
{
	/* No event loop keeps a guest alive: nothing to clear. */
}

void hl_wasm__em_abort(void)
{
	hl_wasm__trap_msg(HL_WASM_TRAP_ABORT, "the module called abort()");
}

/* A NUL-terminated string in the module's memory, or "?" when the pointer
 * is NULL, outside memory or unterminated (at most `max` bytes are read). */
static const char *mem_str(uint32_t p, size_t max, char *buf, size_t len)
{
	const uint8_t *s = p ? hl_wasm__mem_range(p, 1) : NULL;
	if (!s)
		return "?";
	size_t n = 0;
	while (n + 1 < len && n < max && hl_wasm__mem_range(p + (uint32_t)n, 1) && s[n]) {
		buf[n] = (char)((s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?');
		n++;
	}
	buf[n] = '\0';
	return buf;
}

void hl_wasm__em_assert_fail(uint32_t cond, uint32_t file, uint32_t line, uint32_t func)
{
	char c[256], f[256], fn[128];
	hl_wasm__trap_msg(HL_WASM_TRAP_ABORT, "the module failed an assertion: %s, at %s:%u in %s",
	                  mem_str(cond, 255, c, sizeof c), mem_str(file, 255, f, sizeof f), line,
	                  mem_str(func, 127, fn, sizeof fn));
}

/* tzset(): the guest's time zone is UTC, without daylight saving time. */
void hl_wasm__em_tzset(uint32_t timezone, uint32_t daylight, uint32_t std_name, uint32_t dst_name)
{
	uint8_t *tz = hl_wasm__mem_range(timezone, 4), *dl = hl_wasm__mem_range(daylight, 4);
	uint8_t *sn = hl_wasm__mem_range(std_name, 4), *dn = hl_wasm__mem_range(dst_name, 4);
	if (!tz || !dl || !sn || !dn)
		hl_wasm__trap_msg(HL_WASM_TRAP_OOB, "_tzset_js: a pointer outside memory");
	memset(tz, 0, 4);
	memset(dl, 0, 4);
	memcpy(sn, "UTC", 4);
	memcpy(dn, "UTC", 4);
}

/*
 * localtime_r() and gmtime_r() of emscripten's libc: `t` seconds since the
 * epoch into the struct tm at `tm` (nine i32 fields, then tm_gmtoff), in
 * UTC.
 */
void hl_wasm__em_gmtime(uint64_t t, uint32_t tmp)
{
	uint8_t *p = hl_wasm__mem_range(tmp, 40);
	if (!p)
		hl_wasm__trap_msg(HL_WASM_TRAP_OOB, "_localtime_js: a pointer outside memory");
	time_t tt = (time_t)(int64_t)t;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	gmtime_r(&tt, &tm);
	int32_t v[10] = {tm.tm_sec,  tm.tm_min,  tm.tm_hour, tm.tm_mday, tm.tm_mon,
	                 tm.tm_year, tm.tm_wday, tm.tm_yday, 0,          0};
	memcpy(p, v, sizeof v);
}

/* setitimer()/alarm(): a guest has no timers. Clearing one succeeds;
 * setting one fails with ENOSYS. */
uint32_t hl_wasm__em_setitimer(uint32_t which, double timeout_ms)
{
	(void)which;
	return timeout_ms == 0.0 ? 0u : (uint32_t)(-(int32_t)HL_WASM__WASI_ENOSYS);
}
