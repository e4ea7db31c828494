/*
 * alloc.c - every heap allocation of the host library, the application's
 * allocator (hl_set_allocator), and the failure-injection hooks that tests
 * use to make the Nth allocation, hypervisor ioctl or system call fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc.h"
#include "backend.h"
#include "hyperlight/hyperlight.h"

/* ---- the allocator ---------------------------------------------------------- */

static void *libc_malloc(size_t n, void *user)
{
	(void)user;
	return malloc(n);
}

static void *libc_realloc(void *p, size_t n, void *user)
{
	(void)user;
	return realloc(p, n);
}

static void libc_free(void *p, void *user)
{
	(void)user;
	free(p);
}

/* The allocator in use; changed only while the library holds no memory
 * (see hl_set_allocator), so readers need no lock. */
static hl_allocator cur = {sizeof(hl_allocator), libc_malloc, libc_realloc, libc_free, NULL};

/* Allocations outstanding: lets hl_set_allocator refuse to switch while
 * memory from the old allocator is live, and lets tests find leaks. Not on
 * the call path: calls allocate nothing. */
static atomic_long live;

int hl_set_allocator(const hl_allocator *a)
{
	if (a && (a->size != sizeof *a || !a->malloc || !a->realloc || !a->free))
		return HL_E_INVAL;
	if (atomic_load(&live) != 0)
		return HL_E_STATE;
	if (a)
		cur = *a;
	else
		cur = (hl_allocator){sizeof(hl_allocator), libc_malloc, libc_realloc, libc_free,
		                     NULL};
	return 0;
}

long hl__alloc_live(void)
{
	return atomic_load(&live);
}

void *hl__malloc(size_t n)
{
	if (HL__INJECT_HIT(HL__INJECT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = cur.malloc(n ? n : 1, cur.user);
	if (p)
		atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	return p;
}

void *hl__calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	size_t total = n * size;
	void *p = hl__malloc(total);
	if (p)
		memset(p, 0, total ? total : 1);
	return p;
}

void *hl__realloc(void *p, size_t n)
{
	if (!p)
		return hl__malloc(n);
	if (HL__INJECT_HIT(HL__INJECT_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}
	return cur.realloc(p, n ? n : 1, cur.user);
}

void hl__free(void *p)
{
	if (!p)
		return;
	atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
	cur.free(p, cur.user);
}

static char *dup_len(const char *s, size_t len)
{
	char *d = hl__malloc(len + 1);
	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

char *hl__strndup(const char *s, size_t n)
{
	return dup_len(s, strnlen(s, n));
}

char *hl__strdup(const char *s)
{
	return dup_len(s, strlen(s));
}

/* ---- failure injection --------------------------------------------------------- */

volatile int hl__inject_armed;

/* backend.h: the parts of a restore a test may leave out, read by the core
 * and the backend alike, so defined here with the other test hooks. */
volatile int hl__test_restore_skip;

static struct {
	atomic_long target; /* 0: not armed */
	atomic_long uses;
	atomic_bool fired;
} inj[HL__INJECT__COUNT];

void hl__inject_fail(enum hl__inject_kind kind, long n)
{
	if ((unsigned)kind >= HL__INJECT__COUNT)
		return;
	atomic_store(&inj[kind].uses, 0);
	atomic_store(&inj[kind].fired, false);
	atomic_store(&inj[kind].target, n > 0 ? n : 0);
	int any = 0;
	for (int k = 0; k < HL__INJECT__COUNT; k++)
		any |= atomic_load(&inj[k].target) != 0;
	hl__inject_armed = any;
}

bool hl__inject_hit_slow(enum hl__inject_kind kind)
{
	long t = atomic_load(&inj[kind].target);
	if (!t)
		return false;
	long u = atomic_fetch_add(&inj[kind].uses, 1) + 1;
	if (u != t)
		return false;
	/* One shot: later uses succeed, so the code after the failure (cleanup,
	 * retries, the next API call) runs against a working system. */
	atomic_store(&inj[kind].fired, true);
	atomic_store(&inj[kind].target, 0);
	return true;
}

bool hl__inject_fired(enum hl__inject_kind kind)
{
	return (unsigned)kind < HL__INJECT__COUNT && atomic_load(&inj[kind].fired);
}

long hl__inject_uses(enum hl__inject_kind kind)
{
	return (unsigned)kind < HL__INJECT__COUNT ? atomic_load(&inj[kind].uses) : 0;
}

/* ---- system calls that acquire resources ------------------------------------------- */

void *hl__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (HL__INJECT_HIT(HL__INJECT_SYSCALL)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return mmap(addr, len, prot, flags, fd, off);
}

int hl__memfd_create(const char *name, unsigned flags)
{
	if (HL__INJECT_HIT(HL__INJECT_SYSCALL)) {
		errno = ENOMEM;
		return -1;
	}
	return memfd_create(name, flags | MFD_CLOEXEC); /* every host descriptor */
}

int hl__timer_create(clockid_t clock, struct sigevent *ev, timer_t *out)
{
	if (HL__INJECT_HIT(HL__INJECT_SYSCALL)) {
		errno = ENOMEM;
		return -1;
	}
	return timer_create(clock, ev, out);
}
