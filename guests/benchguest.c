/* benchguest.c - the guest hl_bench creates, restores and grows: dirtied pages on demand and its own init time. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, which strict C11 hides */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "hyperlight/guest.h"

static int noop(hl_call *c)
{
	return hl_return_void(c);
}

/* DirtyPages(n): writes one byte into each of n (at most 64) pages of a
 * static area, as simpleguest's DirtyPages does. */
static uint8_t dirty_area[64 * 4096] __attribute__((aligned(4096)));

static int dirty_pages(hl_call *c)
{
	int32_t n = hl_arg_i32(c, 0);
	if (n < 0 || n > 64)
		return hl_return_error(c, 1, "DirtyPages: 0..64 pages, not %d", (int)n);
	for (int32_t i = 0; i < n; i++)
		((volatile uint8_t *)dirty_area)[(size_t)i * 4096] += 1;
	return hl_return_i32(c, n);
}

/* DirtyHeapPages(n): writes one byte into each of n pages of a heap buffer
 * allocated (and freed) for the call, for restores of more pages than
 * DirtyPages reaches; the allocator writes a few pages of its own as well
 * (its header, the heap's page bitmaps). Needs a heap of n pages and some. */
static int dirty_heap_pages(hl_call *c)
{
	int32_t n = hl_arg_i32(c, 0);
	if (n < 0)
		return hl_return_error(c, 1, "DirtyHeapPages: negative count %d", (int)n);
	volatile uint8_t *p = aligned_alloc(4096, (size_t)n * 4096 + 4096);
	if (!p)
		return hl_return_error(c, 2, "DirtyHeapPages: no room for %d pages in the heap",
		                       (int)n);
	for (int32_t i = 0; i < n; i++)
		p[(size_t)i * 4096] += 1;
	free((void *)p);
	return hl_return_i32(c, n);
}

/* InitNs(): nanoseconds from the runtime's first instruction (its first TSC
 * reading, in hl__start_c) to the end of main()'s registrations, by the
 * guest's own clock: the guest's own initialisation, which no host can
 * make shorter. */
static int64_t init_ns;

static int get_init_ns(hl_call *c)
{
	return hl_return_i64(c, init_ns);
}

int main(void)
{
	HL_REGISTER("NoOp", noop, HL_TYPE_VOID);
	HL_REGISTER("DirtyPages", dirty_pages, HL_TYPE_I32, HL_TYPE_I32);
	HL_REGISTER("DirtyHeapPages", dirty_heap_pages, HL_TYPE_I32, HL_TYPE_I32);
	HL_REGISTER("InitNs", get_init_ns, HL_TYPE_I64);

	/* Last, so that it covers everything main() does before it serves calls;
	 * the guest's CLOCK_MONOTONIC starts at that first TSC reading. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	init_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	hl_dispatch();
}
