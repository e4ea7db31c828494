/* heap.c - brk and anonymous mmap over the host's heap region, with a page bitmap. */
#define _GNU_SOURCE /* POSIX and Linux names (strnlen, MREMAP_*, clock ids) that strict C11 hides */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/*
 * The heap region is split into pages. brk owns pages [0, brk_pages) and
 * grows up; mmap takes the highest free run that fits (first fit from the
 * top), so the two meet only when the heap is full. Two bitmaps sit in the
 * heap's last pages, outside the arena:
 *   used  - the page belongs to brk or to a mapping;
 *   dirty - the page was handed out before and may hold old data.
 * The host hands over zeroed memory, so only dirty pages need clearing to
 * keep the promise that new brk and mmap memory reads as zero.
 */
#define PG HL_PAGE_SIZE

static uint64_t hl__base;   /* address of arena page 0 */
static uint64_t hl__npages; /* arena pages */
static uint64_t *hl__used;
static uint64_t *hl__dirty;
static uint64_t hl__brk_cur;   /* the break, a byte address */
static uint64_t hl__brk_pages; /* pages [0, hl__brk_pages) belong to brk */

static int hl__test(const uint64_t *bm, uint64_t i)
{
	return (int)((bm[i >> 6] >> (i & 63)) & 1);
}

void hl__heap_init(void)
{
	uint64_t lo = (hl__bi->heap_addr + PG - 1) & ~(uint64_t)(PG - 1);
	uint64_t hi = (hl__bi->heap_addr + hl__bi->heap_size) & ~(uint64_t)(PG - 1);
	uint64_t total = hi > lo ? (hi - lo) / PG : 0;
	uint64_t words = (total + 63) / 64;
	uint64_t meta_pages = (2 * words * sizeof(uint64_t) + PG - 1) / PG;

	hl__base = lo;
	hl__brk_cur = lo;
	hl__brk_pages = 0;
	if (total <= meta_pages) {
		/* No usable heap: brk stays put and mmap fails with ENOMEM. */
		hl__npages = 0;
		return;
	}
	hl__npages = total - meta_pages;
	hl__used = (uint64_t *)(uintptr_t)(lo + hl__npages * PG);
	hl__dirty = hl__used + words;
	memset(hl__used, 0, 2 * words * sizeof(uint64_t));
}

static int hl__run_free(uint64_t i, uint64_t n)
{
	for (uint64_t k = i; k < i + n; k++)
		if (hl__test(hl__used, k))
			return 0;
	return 1;
}

/* Marks pages [i, i+n) used; clears the dirty ones first if `zero`. */
static void hl__claim(uint64_t i, uint64_t n, int zero)
{
	uint64_t k = i, end = i + n;

	while (zero && k < end) {
		if (!hl__test(hl__dirty, k)) {
			k++;
			continue;
		}
		uint64_t s = k;
		while (k < end && hl__test(hl__dirty, k))
			k++;
		memset((void *)(uintptr_t)(hl__base + s * PG), 0, (k - s) * PG);
	}
	for (k = i; k < end; k++) {
		hl__used[k >> 6] |= 1ull << (k & 63);
		hl__dirty[k >> 6] |= 1ull << (k & 63);
	}
}

static void hl__release(uint64_t i, uint64_t n)
{
	for (uint64_t k = i; k < i + n; k++)
		hl__used[k >> 6] &= ~(1ull << (k & 63));
}

/* The start of the highest run of n free pages, or -1. */
static int64_t hl__find_top(uint64_t n)
{
	uint64_t run = 0;
	for (uint64_t i = hl__npages; i-- > hl__brk_pages;) {
		/* Whole words at a time where they are all used or all free. */
		if ((i & 63) == 63 && i - 63 >= hl__brk_pages) {
			uint64_t w = hl__used[i >> 6];
			if (w == ~0ull) {
				run = 0;
				i -= 63;
				continue;
			}
			if (w == 0) {
				if (run + 64 >= n)
					return (int64_t)(i + run + 1 - n);
				run += 64;
				i -= 63;
				continue;
			}
		}
		if (hl__test(hl__used, i))
			run = 0;
		else if (++run == n)
			return (int64_t)i;
	}
	return -1;
}

long hl__sys_brk(uint64_t addr)
{
	/* Linux answers a failed brk with the unchanged break, and so do we. */
	if (addr < hl__base || addr - hl__base > hl__npages * PG)
		return (long)hl__brk_cur;
	uint64_t np = (addr - hl__base + PG - 1) / PG;
	if (np > hl__brk_pages) {
		if (!hl__run_free(hl__brk_pages, np - hl__brk_pages))
			return (long)hl__brk_cur;
		hl__claim(hl__brk_pages, np - hl__brk_pages, 1);
	} else if (np < hl__brk_pages) {
		hl__release(np, hl__brk_pages - np);
	}
	hl__brk_pages = np;
	hl__brk_cur = addr;
	return (long)addr;
}

/* Page index of a mapping at addr spanning len bytes, or -1 if it is not
 * page-aligned inside the mmap part of the arena. */
static int64_t hl__map_index(uint64_t addr, uint64_t len)
{
	if (addr & (PG - 1) || addr < hl__base)
		return -1;
	uint64_t i = (addr - hl__base) / PG;
	uint64_t n = (len + PG - 1) / PG;
	if (i < hl__brk_pages || i > hl__npages || n > hl__npages - i)
		return -1;
	return (int64_t)i;
}

long hl__sys_mmap(uint64_t addr, uint64_t len, int prot, int flags, int fd, uint64_t off)
{
	(void)addr, (void)prot, (void)fd, (void)off;
	/* Only what malloc needs: private anonymous memory anywhere. */
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
		return -EINVAL;
	if ((flags & MAP_TYPE) != MAP_PRIVATE || !(flags & MAP_ANONYMOUS))
		return -EINVAL;
	if (len == 0)
		return -EINVAL;
	if (len > hl__npages * PG)
		return -ENOMEM;
	uint64_t n = (len + PG - 1) / PG;
	int64_t i = hl__find_top(n);
	if (i < 0)
		return -ENOMEM;
	hl__claim((uint64_t)i, n, 1);
	return (long)(hl__base + (uint64_t)i * PG);
}

long hl__sys_munmap(uint64_t addr, uint64_t len)
{
	if (len == 0 || len > hl__npages * PG)
		return -EINVAL;
	int64_t i = hl__map_index(addr, len);
	if (i < 0)
		return -EINVAL;
	hl__release((uint64_t)i, (len + PG - 1) / PG);
	return 0;
}

long hl__sys_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, int flags, uint64_t new_addr)
{
	(void)new_addr;
	if (flags & ~MREMAP_MAYMOVE)
		return -EINVAL;
	if (old_len == 0 || new_len == 0)
		return -EINVAL;
	if (new_len > hl__npages * PG)
		return -ENOMEM;
	int64_t si = hl__map_index(old, old_len);
	if (si < 0)
		return -EFAULT;
	uint64_t i = (uint64_t)si;
	uint64_t on = (old_len + PG - 1) / PG, nn = (new_len + PG - 1) / PG;
	for (uint64_t k = i; k < i + on; k++)
		if (!hl__test(hl__used, k))
			return -EFAULT;

	if (nn <= on) {
		hl__release(i + nn, on - nn);
		return (long)old;
	}
	if (i + nn <= hl__npages && hl__run_free(i + on, nn - on)) {
		hl__claim(i + on, nn - on, 1);
		return (long)old;
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	int64_t ni = hl__find_top(nn);
	if (ni < 0)
		return -ENOMEM;
	/* The copied part needs no clearing; only the new tail does. */
	hl__claim((uint64_t)ni, on, 0);
	hl__claim((uint64_t)ni + on, nn - on, 1);
	uint64_t dst = hl__base + (uint64_t)ni * PG;
	memcpy((void *)(uintptr_t)dst, (const void *)(uintptr_t)old, on * PG);
	hl__release(i, on);
	return (long)dst;
}

long hl__sys_madvise(uint64_t addr, uint64_t len, int advice)
{
	/* MADV_DONTNEED promises zeros on the next read; keep that promise
	 * for mapped heap pages. Other advice changes nothing here. */
	if (advice == MADV_DONTNEED && len) {
		int64_t i = hl__map_index(addr, len);
		if (i >= 0)
			memset((void *)(uintptr_t)addr, 0, ((len + PG - 1) / PG) * PG);
	}
	return 0;
}
