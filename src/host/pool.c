/*
 * pool.c - a bounded, thread-safe pool of sandboxes made from one snapshot.
 *
 * Sandboxes are made on demand up to `max` and kept on a free list. Release
 * restores a sandbox to the snapshot before it is listed as free, so the
 * restore runs on the releasing thread, after its request has its answer,
 * and acquire on the request path is a list pop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

struct hl_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	hl_snapshot *snap;
	hl_config cfg;
	bool has_cfg;
	size_t max;
	size_t count; /* sandboxes in existence (free + acquired + being made) */
	size_t nfree;
	hl_sandbox **free_list; /* max entries */
	hl_sandbox **all;       /* max entries: every sandbox the pool owns */
};

int hl_pool_new(hl_snapshot *snap, const hl_config *cfg, size_t max, hl_pool **out)
{
	if (!out)
		return HL_E_INVAL;
	*out = NULL;
	if (!snap || max == 0 || (cfg && cfg->size != sizeof *cfg))
		return HL_E_INVAL;
	hl_pool *p = hl__calloc(1, sizeof *p);
	if (!p)
		return HL_E_NOMEM;
	p->free_list = hl__calloc(max, sizeof *p->free_list);
	p->all = hl__calloc(max, sizeof *p->all);
	if (!p->free_list || !p->all || pthread_mutex_init(&p->lock, NULL) != 0) {
		hl__free(p->free_list);
		hl__free(p->all);
		hl__free(p);
		return HL_E_NOMEM;
	}
	pthread_cond_init(&p->freed, NULL);
	if (cfg) {
		p->cfg = *cfg;
		p->has_cfg = true;
	}
	p->max = max;
	p->snap = hl__snapshot_ref(snap);
	*out = p;
	return 0;
}

static void deadline_after(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits on the pool's condition with a monotonic deadline (the condition
 * variable uses the realtime clock, so the wait is sliced). */
static int wait_until(hl_pool *p, const struct timespec *deadline)
{
	struct timespec now, rt;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > deadline->tv_sec ||
	    (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec))
		return ETIMEDOUT;
	clock_gettime(CLOCK_REALTIME, &rt);
	rt.tv_nsec += 10 * 1000000L; /* re-check the monotonic deadline every 10 ms */
	if (rt.tv_nsec >= 1000000000L) {
		rt.tv_sec++;
		rt.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->freed, &p->lock, &rt);
	return 0;
}

int hl_pool_acquire(hl_pool *p, uint32_t timeout_ms, hl_sandbox **out)
{
	if (!p || !out)
		return HL_E_INVAL;
	*out = NULL;
	struct timespec deadline;
	deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->nfree) {
			*out = p->free_list[--p->nfree];
			pthread_mutex_unlock(&p->lock);
			return 0;
		}
		if (p->count < p->max)
			break;
		if (timeout_ms == 0) {
			pthread_mutex_unlock(&p->lock);
			return HL_E_BUSY;
		}
		if (timeout_ms == UINT32_MAX)
			pthread_cond_wait(&p->freed, &p->lock);
		else if (wait_until(p, &deadline) == ETIMEDOUT) {
			pthread_mutex_unlock(&p->lock);
			return HL_E_BUSY;
		}
	}
	/* Reserve a place, and make the sandbox outside the lock: it takes a
	 * while and other threads may release or acquire meanwhile. */
	p->count++;
	pthread_mutex_unlock(&p->lock);
	hl_sandbox *sb = NULL;
	int r = hl_sandbox_new_from_snapshot(p->snap, p->has_cfg ? &p->cfg : NULL, &sb);
	pthread_mutex_lock(&p->lock);
	if (r < 0) {
		p->count--;
		pthread_cond_signal(&p->freed);
		pthread_mutex_unlock(&p->lock);
		hl_sandbox_free(sb);
		return r;
	}
	for (size_t i = 0; i < p->max; i++)
		if (!p->all[i]) {
			p->all[i] = sb;
			break;
		}
	pthread_mutex_unlock(&p->lock);
	*out = sb;
	return 0;
}

int hl_pool_release(hl_pool *p, hl_sandbox *sb)
{
	if (!p || !sb)
		return HL_E_INVAL;
	pthread_mutex_lock(&p->lock);
	size_t slot = p->max;
	for (size_t i = 0; i < p->max; i++)
		if (p->all[i] == sb)
			slot = i;
	for (size_t i = 0; i < p->nfree; i++)
		if (p->free_list[i] == sb)
			slot = p->max; /* released already: once in the free list is enough */
	pthread_mutex_unlock(&p->lock);
	if (slot == p->max)
		return HL_E_INVAL;
	/* The restore runs on the releasing thread, outside the lock. */
	int r = hl_sandbox_restore(sb, p->snap);
	pthread_mutex_lock(&p->lock);
	if (r < 0) {
		p->all[slot] = NULL;
		p->count--;
	} else {
		p->free_list[p->nfree++] = sb;
	}
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		hl_sandbox_free(sb); /* a new one is made on a later acquire */
	return 0;
}

void hl_pool_free(hl_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->max; i++)
		hl_sandbox_free(p->all[i]);
	hl__snapshot_unref(p->snap);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	hl__free(p->free_list);
	hl__free(p->all);
	hl__free(p);
}
