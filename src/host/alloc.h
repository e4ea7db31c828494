/*
 * alloc.h - the host library's heap allocations and its failure-injection
 * hooks for tests.
 *
 * Every heap allocation of the host library goes through hl__malloc and its
 * siblings (alloc.c), which call the allocator set with hl_set_allocator()
 * (libc's by default) and count the allocations outstanding. The backend
 * includes this header as well, so it stays free of the core's internals.
 *
 * Failure injection (tests only, hidden from applications): hl__inject_fail
 * arms a one-shot failure of the Nth use of one kind of resource from now
 * on. Every site that acquires a resource of that kind asks
 * HL__INJECT_HIT(kind) first and, when it answers true, fails exactly as
 * if the real call had failed (errno set). When nothing is armed the check
 * is one load and a predicted branch.
 */
#ifndef HL_ALLOC_H
#define HL_ALLOC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* As in internal.h (an identical definition), for the backend, which
 * includes this header without internal.h. */
#define HL__HIDDEN __attribute__((visibility("hidden")))

/* Like malloc/calloc/realloc/free/strdup/strndup of libc; a size of 0 is
 * served as 1 byte, so NULL always means "out of memory". calloc checks
 * n * size for overflow. */
HL__HIDDEN void *hl__malloc(size_t n);
HL__HIDDEN void *hl__calloc(size_t n, size_t size);
HL__HIDDEN void *hl__realloc(void *p, size_t n);
HL__HIDDEN void hl__free(void *p);
HL__HIDDEN char *hl__strdup(const char *s);
HL__HIDDEN char *hl__strndup(const char *s, size_t n);

/* The resources whose acquisition a test can make fail. */
enum hl__inject_kind {
	HL__INJECT_ALLOC,   /* hl__malloc, hl__calloc, hl__realloc, hl__strdup, hl__strndup */
	HL__INJECT_IOCTL,   /* every hypervisor ioctl of the backend */
	HL__INJECT_SYSCALL, /* mmap, memfd_create, timer_create, open of the hypervisor */
	HL__INJECT__COUNT
};

/*
 * Makes the nth use (1-based) of `kind` from now on fail, once; n == 0
 * disarms `kind`. Resets the kind's use counter and "fired" flag. Not
 * thread-safe against sandboxes running on other threads: a test arms it
 * while it alone uses the library.
 */
HL__HIDDEN void hl__inject_fail(enum hl__inject_kind kind, long n);
/* True once the armed failure of `kind` has happened. */
HL__HIDDEN bool hl__inject_fired(enum hl__inject_kind kind);
/* Uses of `kind` counted since it was armed (counting stops when it fires). */
HL__HIDDEN long hl__inject_uses(enum hl__inject_kind kind);
/* Allocations the library has made and not freed (every kind of allocator). */
HL__HIDDEN long hl__alloc_live(void);

/* Non-zero while any kind is armed; read by HL__INJECT_HIT only. */
extern HL__HIDDEN volatile int hl__inject_armed;
/* Counts one use of `kind`; true if this use is the one to fail. */
HL__HIDDEN bool hl__inject_hit_slow(enum hl__inject_kind kind);

#define HL__INJECT_HIT(kind) \
	(__builtin_expect(hl__inject_armed != 0, 0) && hl__inject_hit_slow(kind))

/* mmap, memfd_create and timer_create with the HL__INJECT_SYSCALL check
 * (an injected failure sets errno to ENOMEM). */
HL__HIDDEN void *hl__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
HL__HIDDEN int hl__memfd_create(const char *name, unsigned flags);
HL__HIDDEN int hl__timer_create(clockid_t clock, struct sigevent *ev, timer_t *out);

#endif /* HL_ALLOC_H */
