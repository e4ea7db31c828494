/*
 * guests.c - per guest: the pool of sandboxes made from its snapshot
 * (load.c makes both), a bounded queue of parsed calls and one worker
 * thread per sandbox; and the watchdog thread that cancels calls past their
 * deadline and answers requests that waited too long for a sandbox.
 *
 * A worker holds its sandbox between requests. It answers a request first
 * and restores the sandbox to the snapshot afterwards (always, or with
 * `reuse` only after a failure), so the restore is off the request's path.
 * A sandbox whose restore fails goes back to the pool, which frees it, and
 * the worker takes a new one made from the snapshot.
 *
 * Deadlines are enforced through interrupt handles: the watchdog calls
 * hl_interrupt_cancel() on the running call (cancel, not abandon: the call
 * returns HL_E_CANCELLED, the worker answers 504 and restores the sandbox).
 * A cancel that finds no call running (the worker is between arming the
 * deadline and entering hl_call, or has just left it) is retried 1 ms later
 * until the worker disarms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "hyperlight/js.h"
#include "hyperlight/wasm.h"
#include "internal.h"
#include "sample_host.h"

uint64_t sv_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- The watchdog -------------------------------------------------------------------- */

/* Wakes the watchdog if `when` comes before its next wake-up. */
static void wd_kick(struct sv_server *srv, uint64_t when)
{
	if (when >= atomic_load(&srv->wd_next))
		return;
	pthread_mutex_lock(&srv->wd_lock);
	srv->wd_kick = true;
	pthread_cond_signal(&srv->wd_cond);
	pthread_mutex_unlock(&srv->wd_lock);
}

static void reject(struct sv_request *r, const char *why)
{
	struct sv_error e = {.status = 503, .code = "HL_E_BUSY"};
	snprintf(e.msg, sizeof e.msg, "%s", why);
	sv_request_fail(r, &e);
}

static void *watchdog_main(void *arg)
{
	struct sv_server *srv = arg;
	pthread_mutex_lock(&srv->wd_lock);
	while (!srv->wd_stop) {
		srv->wd_kick = false;
		/* While scanning, anyone arming a deadline kicks (see wd_kick). */
		atomic_store(&srv->wd_next, 0);
		pthread_mutex_unlock(&srv->wd_lock);
		uint64_t now = sv_now_ns(), next = now + 1000000000u;
		for (size_t i = 0; i < srv->nguests; i++) {
			struct sv_guest *g = &srv->guests[i];
			for (size_t j = 0; j < g->nworkers; j++) {
				struct sv_worker *w = &g->workers[j];
				pthread_mutex_lock(&w->lock);
				if (w->deadline_ns && now >= w->deadline_ns && w->ih) {
					if (hl_interrupt_cancel(w->ih) == 1) {
						if (w->reason == SV_CANCEL_NONE)
							w->reason = SV_CANCEL_TIMEOUT;
						w->deadline_ns = 0;
					} else {
						/* Not in the guest yet: again soon. */
						w->deadline_ns = now + 1000000u;
					}
				}
				if (w->deadline_ns && w->deadline_ns < next)
					next = w->deadline_ns;
				pthread_mutex_unlock(&w->lock);
			}
			/* The queue is in arrival order and every request of a guest
			 * waits as long, so expired requests are at its head. They
			 * are answered after the lock is released: answering resumes
			 * the connection, which takes libmicrohttpd's own lock. */
			struct sv_request *expired = NULL;
			pthread_mutex_lock(&g->lock);
			while (g->count && g->ring[g->head]->expire_ns <= now) {
				struct sv_request *r = g->ring[g->head];
				g->head = (g->head + 1) % g->set.queue;
				g->count--;
				r->next = expired;
				expired = r;
			}
			if (g->count && g->ring[g->head]->expire_ns < next)
				next = g->ring[g->head]->expire_ns;
			pthread_mutex_unlock(&g->lock);
			while (expired) {
				struct sv_request *r = expired;
				expired = r->next; /* read before r is handed back */
				atomic_fetch_add(&g->rej_queue_timeout, 1);
				reject(r,
				       "every sandbox of the guest stayed busy for the queue timeout; retry later");
			}
		}
		pthread_mutex_lock(&srv->wd_lock);
		atomic_store(&srv->wd_next, next);
		if (!srv->wd_kick && !srv->wd_stop) {
			struct timespec ts = {.tv_sec = (time_t)(next / 1000000000u),
			                      .tv_nsec = (long)(next % 1000000000u)};
			pthread_cond_timedwait(&srv->wd_cond, &srv->wd_lock, &ts);
		}
	}
	pthread_mutex_unlock(&srv->wd_lock);
	return NULL;
}

/* ---- Running a call ---------------------------------------------------------------------- */

static const char *code_name(int rc)
{
	switch (rc) {
	case HL_E_INVAL: return "HL_E_INVAL";
	case HL_E_STATE: return "HL_E_STATE";
	case HL_E_NO_FUNCTION: return "HL_E_NO_FUNCTION";
	case HL_E_ARG_COUNT: return "HL_E_ARG_COUNT";
	case HL_E_ARG_TYPE: return "HL_E_ARG_TYPE";
	case HL_E_TOO_LARGE: return "HL_E_TOO_LARGE";
	case HL_E_NOMEM: return "HL_E_NOMEM";
	case HL_E_HYPERVISOR: return "HL_E_HYPERVISOR";
	case HL_E_GUEST_ERROR: return "HL_E_GUEST_ERROR";
	case HL_E_HOST_FUNCTION: return "HL_E_HOST_FUNCTION";
	case HL_E_GUEST_ABORT: return "HL_E_GUEST_ABORT";
	case HL_E_GUEST_FAULT: return "HL_E_GUEST_FAULT";
	case HL_E_GUEST_PROTOCOL: return "HL_E_GUEST_PROTOCOL";
	case HL_E_POISONED: return "HL_E_POISONED";
	case HL_E_CANCELLED: return "HL_E_CANCELLED";
	case HL_E_BUSY: return "HL_E_BUSY";
	case HL_JS_E_EXCEPTION: return "HL_JS_E_EXCEPTION";
	case HL_JS_E_TIMEOUT: return "HL_JS_E_TIMEOUT";
	case HL_JS_E_MEMORY: return "HL_JS_E_MEMORY";
	case HL_JS_E_STACK: return "HL_JS_E_STACK";
	case HL_JS_E_RESULT: return "HL_JS_E_RESULT";
	case HL_JS_E_NO_HANDLER: return "HL_JS_E_NO_HANDLER";
	case HL_JS_E_NOT_SETTLED: return "HL_JS_E_NOT_SETTLED";
	case HL_JS_E_ENGINE: return "HL_JS_E_ENGINE";
	default: return "HL_E_INTERNAL";
	}
}

/* Takes a sandbox from the pool for worker w (at start, or after a failed
 * restore). */
static int take_sandbox(struct sv_worker *w)
{
	int r = hl_pool_acquire(w->g->pool, 0, &w->sb);
	if (r == 0 && (r = sv_guest_set_output(w->g, w->sb)) < 0) {
		hl_pool_release(w->g->pool, w->sb);
		w->sb = NULL;
	}
	return r;
}

/* After the answer: a fresh state for the next request (with `reuse`,
 * only after a failure that left the sandbox or the engine unusable:
 * `broken`). */
static void recycle(struct sv_worker *w, bool broken)
{
	struct sv_guest *g = w->g;
	if (g->set.reuse && !broken && !hl_sandbox_poisoned(w->sb))
		return;
	int r = hl_sandbox_restore(w->sb, g->snap);
	if (r == 0) {
		atomic_fetch_add(&g->restores, 1);
		return;
	}
	atomic_fetch_add(&g->restore_failures, 1);
	fprintf(stderr, SV_PROG ": guest '%s': restore failed (%s: %s); replacing the sandbox\n",
	        g->name, hl_strerror(r), hl_errmsg(w->sb));
	hl_pool_release(g->pool, w->sb); /* its restore fails too, and the pool frees it */
	w->sb = NULL;
	if ((r = take_sandbox(w)) < 0)
		fprintf(stderr, SV_PROG ": guest '%s': no new sandbox (%s); will retry\n", g->name,
		        hl_strerror(r));
}

static void run(struct sv_worker *w, struct sv_request *r)
{
	struct sv_guest *g = w->g;
	struct sv_error e = {0};
	hl_interrupt *ih = NULL;
	hl_value res;
	const char *js_out = NULL;
	size_t js_len = 0;
	bool r_json = r->f->json; /* r is not ours once answered */
	int rc;
	if (!w->sb && take_sandbox(w) < 0) {
		e = (struct sv_error){.status = 503, .code = "HL_E_BUSY"};
		snprintf(e.msg, sizeof e.msg, "no sandbox could be made for the guest; retry later");
		sv_request_fail(r, &e);
		if (g->srv->cfg->seccomp) {
			/* The filter refuses what making a sandbox needs: stop taking
			 * requests the other workers can serve. */
			fprintf(stderr,
			        SV_PROG
			        ": guest '%s': a worker stops: it lost its sandbox and "
			        "cannot make one under seccomp\n",
			        g->name);
			w->dead = true;
		}
		return;
	}
	atomic_fetch_add(&g->in_use, 1);
	if ((rc = hl_sandbox_interrupt_handle(w->sb, &ih)) == 0) {
		uint64_t deadline = sv_now_ns() + (uint64_t)g->set.timeout_ms * 1000000u;
		pthread_mutex_lock(&w->lock);
		w->ih = ih;
		w->reason = SV_CANCEL_NONE;
		w->deadline_ns = deadline;
		pthread_mutex_unlock(&w->lock);
		wd_kick(g->srv, deadline);
		if (r->f->json)
			rc = hl_js_sandbox_call(w->sb, r->f->name, r->args[0].u.str.ptr,
			                        r->args[0].u.str.len, g->set.timeout_ms, &js_out,
			                        &js_len);
		else
			rc = hl_call(w->sb, r->f->name, r->args, r->nargs, &res);
	}
	pthread_mutex_lock(&w->lock);
	enum sv_cancel_reason reason = w->reason;
	w->deadline_ns = 0;
	w->ih = NULL;
	w->reason = SV_CANCEL_NONE;
	pthread_mutex_unlock(&w->lock);
	hl_interrupt_free(ih);

	if (rc == 0) {
		size_t len;
		char *body = r->f->json ? sv_json_js_result(js_out, js_len, &len, &e)
		                        : sv_json_result(&res, &len, &e);
		if (body)
			sv_request_finish(r, 200, body, len);
		else
			sv_request_fail(r, &e);
	} else {
		e.code = code_name(rc);
		snprintf(e.msg, sizeof e.msg, "%s", hl_errmsg(w->sb));
		switch (rc) {
		case HL_E_GUEST_ERROR:
		case HL_E_HOST_FUNCTION:
			e.status = 422;
			e.guest_code = hl_sandbox_guest_code(w->sb);
			break;
		case HL_JS_E_EXCEPTION:
		case HL_JS_E_MEMORY:
		case HL_JS_E_STACK:
		case HL_JS_E_NOT_SETTLED:
			e.status = 422; /* the handler failed (a restore follows: see below) */
			break;
		case HL_JS_E_TIMEOUT:
			e.status = 504;
			atomic_fetch_add(&g->timeouts, 1);
			break;
		case HL_JS_E_RESULT:
			e.status = 500; /* as a native guest's result larger than the output buffer */
			break;
		case HL_JS_E_ENGINE:
			e.status = 500;
			atomic_fetch_add(&g->faults, 1);
			break;
		case HL_E_GUEST_ABORT:
		case HL_E_GUEST_FAULT:
		case HL_E_GUEST_PROTOCOL:
			e.status = 500;
			atomic_fetch_add(&g->faults, 1);
			break;
		case HL_E_CANCELLED:
			if (reason == SV_CANCEL_SHUTDOWN) {
				e.status = 503;
				atomic_fetch_add(&g->rej_shutdown, 1);
				snprintf(e.msg, sizeof e.msg,
				         "the server is shutting down: the call was cancelled");
			} else {
				e.status = 504;
				atomic_fetch_add(&g->timeouts, 1);
				snprintf(e.msg, sizeof e.msg,
				         "the call ran longer than %" PRIu32 " ms and was cancelled",
				         g->set.timeout_ms);
			}
			break;
		case HL_E_TOO_LARGE:
			/* The arguments did not fit the input buffer (checked before
			 * the guest ran), or the guest's result overflowed (poisoned). */
			if (hl_sandbox_poisoned(w->sb)) {
				e.status = 500;
				atomic_fetch_add(&g->faults, 1);
			} else {
				e.status = 413;
			}
			break;
		case HL_E_NO_FUNCTION: e.status = 404; break;
		case HL_E_ARG_COUNT:
		case HL_E_ARG_TYPE:
		case HL_E_INVAL: e.status = 400; break;
		default: e.status = 500; break;
		}
		sv_request_fail(r, &e);
	}
	/* r belongs to the HTTP side from here on. A JavaScript failure other
	 * than an exception leaves the engine unusable until a restore. */
	recycle(w, r_json && rc != 0 && rc != HL_JS_E_EXCEPTION);
	atomic_fetch_sub(&g->in_use, 1);
}

/* Tells sv_guests_start that this worker is ready (ok) or cannot run. */
static void report_ready(struct sv_server *srv, bool ok)
{
	pthread_mutex_lock(&srv->ready_lock);
	srv->ready++;
	if (!ok)
		srv->ready_failed++;
	pthread_cond_broadcast(&srv->ready_cond);
	pthread_mutex_unlock(&srv->ready_lock);
}

/* True when the client of a queued request has closed its connection:
 * the request is suspended, so libmicrohttpd does not watch its socket,
 * and running the call would only cost a sandbox's time. End of input
 * counts as closed (a client that only shut down its sending side is
 * taken for gone, as most HTTP servers take it). */
static bool client_gone(struct sv_request *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void *worker_main(void *arg)
{
	struct sv_worker *w = arg;
	struct sv_guest *g = w->g;
	if (g->srv->cfg->seccomp) {
		/* After the sandbox is made (opening /dev/kvm is refused from
		 * here on): from now on this thread can run calls and restores,
		 * not open files or sockets, start processes or map executable
		 * memory. */
		int r = hl_seccomp_restrict_thread(0);
		if (r < 0)
			fprintf(stderr, SV_PROG ": guest '%s': seccomp: %s\n", g->name,
			        hl_strerror(r));
		report_ready(g->srv, r == 0);
		if (r < 0)
			return NULL;
	} else {
		report_ready(g->srv, true);
	}
	while (!w->dead) {
		pthread_mutex_lock(&g->lock);
		while (!g->count && !g->stopping)
			pthread_cond_wait(&g->cond, &g->lock);
		if (!g->count) {
			pthread_mutex_unlock(&g->lock);
			break;
		}
		struct sv_request *r = g->ring[g->head];
		g->head = (g->head + 1) % g->set.queue;
		g->count--;
		pthread_mutex_unlock(&g->lock);
		if (sv_now_ns() >= r->expire_ns) {
			atomic_fetch_add(&g->rej_queue_timeout, 1);
			reject(r,
			       "every sandbox of the guest stayed busy for the queue timeout; retry later");
			continue;
		}
		if (client_gone(r)) {
			atomic_fetch_add(&g->rej_client_gone, 1);
			reject(r, "the client closed the connection while the request waited");
			continue;
		}
		run(w, r);
	}
	return NULL;
}

int sv_guest_enqueue(struct sv_guest *g, struct sv_request *r)
{
	r->expire_ns = sv_now_ns() + (uint64_t)g->set.queue_timeout_ms * 1000000u;
	pthread_mutex_lock(&g->lock);
	if (g->count == g->set.queue || g->stopping) {
		pthread_mutex_unlock(&g->lock);
		atomic_fetch_add(&g->rej_queue_full, 1);
		return HL_E_BUSY;
	}
	/* Suspended before a worker can see it (it may resume the connection
	 * as soon as the lock is released); from the request's own callback. */
	r->queued = true;
	MHD_suspend_connection(r->conn);
	g->ring[(g->head + g->count) % g->set.queue] = r;
	g->count++;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	wd_kick(g->srv, r->expire_ns);
	return 0;
}

/* ---- Start and stop ------------------------------------------------------------------------ */

int sv_guests_start(struct sv_server *srv)
{
	const struct sv_config *cfg = srv->cfg;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&srv->wd_lock, NULL);
	pthread_cond_init(&srv->wd_cond, &ca);
	pthread_mutex_init(&srv->ready_lock, NULL);
	pthread_cond_init(&srv->ready_cond, NULL);
	pthread_condattr_destroy(&ca);
	atomic_store(&srv->wd_next, UINT64_MAX);
	srv->guests = calloc(cfg->nguests, sizeof *srv->guests);
	if (!srv->guests) {
		fprintf(stderr, SV_PROG ": out of memory\n");
		return -1;
	}
	for (size_t i = 0; i < cfg->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		const struct sv_guest_conf *gc = &cfg->guests[i];
		g->srv = srv;
		g->name = gc->name;
		g->path = gc->path;
		g->set = gc->set;
		pthread_mutex_init(&g->lock, NULL);
		pthread_cond_init(&g->cond, NULL);
		srv->nguests = i + 1; /* what sv_guests_stop cleans up */
		g->ring = calloc(g->set.queue, sizeof *g->ring);
		g->workers = calloc(g->set.pool, sizeof *g->workers);
		if (!g->ring || !g->workers) {
			fprintf(stderr, SV_PROG ": out of memory\n");
			return -1;
		}
		if (sv_guest_load(g, gc) < 0)
			return -1;
		/* Every sandbox made now, so that a guest that cannot run fails the
		 * start-up and not the first requests. */
		for (size_t j = 0; j < g->set.pool; j++) {
			struct sv_worker *w = &g->workers[j];
			w->g = g;
			pthread_mutex_init(&w->lock, NULL);
			g->nworkers = j + 1;
			int r = take_sandbox(w);
			if (r < 0) {
				fprintf(stderr, SV_PROG ": guest '%s': sandbox %zu of %u: %s\n",
				        g->name, j + 1, g->set.pool, hl_strerror(r));
				return -1;
			}
		}
	}
	if (cfg->seccomp && !hl_seccomp_supported()) {
		fprintf(stderr, SV_PROG
		        ": --seccomp: this build has no libseccomp (Debian: libseccomp-dev)\n");
		return -1;
	}
	size_t started = 0;
	for (size_t i = 0; i < srv->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		for (size_t j = 0; j < g->nworkers; j++) {
			struct sv_worker *w = &g->workers[j];
			int e = pthread_create(&w->tid, NULL, worker_main, w);
			if (e) {
				fprintf(stderr, SV_PROG ": starting a worker: %s\n", strerror(e));
				return -1;
			}
			w->started = true;
			started++;
		}
	}
	pthread_mutex_lock(&srv->ready_lock);
	while (srv->ready < started)
		pthread_cond_wait(&srv->ready_cond, &srv->ready_lock);
	size_t failed = srv->ready_failed;
	pthread_mutex_unlock(&srv->ready_lock);
	if (failed)
		return -1;
	int e = pthread_create(&srv->wd_tid, NULL, watchdog_main, srv);
	if (e) {
		fprintf(stderr, SV_PROG ": starting the watchdog: %s\n", strerror(e));
		return -1;
	}
	srv->wd_started = true;
	return 0;
}

void sv_guests_abort_all(struct sv_server *srv)
{
	atomic_store(&srv->refusing, true);
	for (size_t i = 0; i < srv->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		struct sv_request *queued = NULL;
		pthread_mutex_lock(&g->lock);
		while (g->count) {
			struct sv_request *r = g->ring[g->head];
			g->head = (g->head + 1) % g->set.queue;
			g->count--;
			r->next = queued;
			queued = r;
		}
		pthread_mutex_unlock(&g->lock);
		while (queued) {
			struct sv_request *r = queued;
			queued = r->next;
			atomic_fetch_add(&g->rej_shutdown, 1);
			reject(r, "the server is shutting down");
		}
		for (size_t j = 0; j < g->nworkers; j++) {
			struct sv_worker *w = &g->workers[j];
			pthread_mutex_lock(&w->lock);
			if (w->ih) {
				w->reason = SV_CANCEL_SHUTDOWN;
				w->deadline_ns = 1; /* now: the watchdog cancels it */
			}
			pthread_mutex_unlock(&w->lock);
		}
	}
	wd_kick(srv, 0);
}

void sv_guests_stop(struct sv_server *srv)
{
	for (size_t i = 0; i < srv->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		pthread_mutex_lock(&g->lock);
		g->stopping = true;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
	}
	for (size_t i = 0; i < srv->nguests; i++)
		for (size_t j = 0; j < srv->guests[i].nworkers; j++)
			if (srv->guests[i].workers[j].started)
				pthread_join(srv->guests[i].workers[j].tid, NULL);
	if (srv->wd_started) {
		pthread_mutex_lock(&srv->wd_lock);
		srv->wd_stop = true;
		pthread_cond_signal(&srv->wd_cond);
		pthread_mutex_unlock(&srv->wd_lock);
		pthread_join(srv->wd_tid, NULL);
	}
	for (size_t i = 0; i < srv->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		for (size_t j = 0; j < g->nworkers; j++) {
			if (g->workers[j].sb)
				hl_pool_release(g->pool, g->workers[j].sb);
			pthread_mutex_destroy(&g->workers[j].lock);
		}
		hl_pool_free(g->pool);
		hl_snapshot_free(g->snap);
		hl_wasi_free(g->wasi);
		for (size_t j = 0; j < g->nfuncs; j++)
			free(g->funcs[j].name);
		free(g->funcs);
		free(g->ring);
		free(g->workers);
		pthread_mutex_destroy(&g->lock);
		pthread_cond_destroy(&g->cond);
	}
	free(srv->guests);
	srv->guests = NULL;
	srv->nguests = 0;
	pthread_mutex_destroy(&srv->wd_lock);
	pthread_cond_destroy(&srv->wd_cond);
	pthread_mutex_destroy(&srv->ready_lock);
	pthread_cond_destroy(&srv->ready_cond);
}
