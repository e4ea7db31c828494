/*
 * test_failinject.c - out-of-resource paths: for every N, the Nth
 * allocation (then the Nth KVM ioctl, then the Nth mmap/memfd/timer/open)
 * along a whole create/init/call/snapshot/restore/pool/free sequence fails;
 * every API answers with a documented code and a message, a sandbox that
 * failed after init recovers with a reset, and afterwards no allocation,
 * file descriptor or mapping is left behind.
 *
 * Linked against the static library: it reaches the hidden hooks of
 * src/host/alloc.h (hl__inject_fail, hl__alloc_live).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "host/alloc.h"
#include "../stress/stress.h" /* stress_fds, stress_maps */
#include "sample_host.h"

/* ---- an allocator that counts (installed with hl_set_allocator) ------------------ */

static long app_live;  /* blocks the library holds from this allocator */
static long app_total; /* blocks it ever took */

static void *count_malloc(size_t n, void *user)
{
	(void)user;
	void *p = malloc(n);
	if (p) {
		app_live++;
		app_total++;
	}
	return p;
}

static void *count_realloc(void *p, size_t n, void *user)
{
	(void)user;
	return realloc(p, n);
}

static void count_free(void *p, void *user)
{
	(void)user;
	app_live--;
	free(p);
}

static const hl_allocator counting = {sizeof(hl_allocator), count_malloc, count_realloc, count_free,
                                      NULL};

/* ---- what the process holds ----------------------------------------------------------- */

struct held {
	int fds, maps;
	long live, app_live;
};

static struct held now(void)
{
	struct held h = {stress_fds(), stress_maps(), hl__alloc_live(), app_live};
	assert_true(h.fds >= 0 && h.maps >= 0); /* /proc/self could be read */
	return h;
}

/* ---- the sequence ------------------------------------------------------------------- */

static const char *const kind_names[] = {"allocation", "KVM ioctl", "mmap/memfd/timer/open"};

/* Where the sequence stopped, for the messages. */
struct where {
	int kind;
	long n;
	const char *step;
};

static void discard(int fd, const char *data, size_t len, void *user)
{
	(void)fd, (void)data, (void)len, (void)user;
}

/* Fails the test unless `code` is one of the documented codes in `ok`
 * (terminated by 0) and the failure has a message. */
static void check_failure(const struct where *w, int code, const hl_sandbox *sb, const int *ok)
{
	bool documented = false;
	for (const int *c = ok; *c; c++)
		documented |= *c == code;
	if (!documented)
		fail_msg("%s #%ld: %s returned %d (%s), not one of its documented codes; message: %s",
		         kind_names[w->kind], w->n, w->step, code, hl_strerror(code),
		         sb ? hl_errmsg(sb) : "(no sandbox)");
	/* Without a sandbox the code is the whole report: it must be named. */
	const char *msg = sb ? hl_errmsg(sb) : hl_strerror(code);
	if (!msg[0] || strcmp(msg, "unknown error code") == 0)
		fail_msg("%s #%ld: %s failed with %s but left no message", kind_names[w->kind],
		         w->n, w->step, hl_strerror(code));
}

static const int NEW_CODES[] = {HL_E_NOMEM, 0};
static const int LOAD_CODES[] = {HL_E_NOMEM, HL_E_HYPERVISOR, HL_E_IO, 0};
static const int REGISTER_CODES[] = {HL_E_NOMEM, 0};
static const int INIT_CODES[] = {HL_E_NOMEM, HL_E_HYPERVISOR, 0};
static const int CALL_CODES[] = {HL_E_HYPERVISOR, 0};
static const int SNAP_CODES[] = {HL_E_NOMEM, HL_E_HYPERVISOR, 0};
static const int RESTORE_CODES[] = {HL_E_NOMEM, HL_E_HYPERVISOR, 0};
static const int FRESH_CODES[] = {HL_E_NOMEM, HL_E_HYPERVISOR, 0};
static const int POOL_CODES[] = {HL_E_NOMEM, HL_E_HYPERVISOR, 0};

#define HELLO "Hello from GuestMethod1, "

/* GuestMethod1 (a host callback) and GuestMethod3 (a string result through
 * HostEcho), with their results checked. Returns 0 or the failing code. */
static int call_both(hl_sandbox *sb, struct where *w, const char *tag)
{
	hl_value a = hl_string(tag, strlen(tag)), r;
	w->step = "hl_call(GuestMethod1)";
	int rc = hl_call(sb, "GuestMethod1", &a, 1, &r);
	if (rc < 0)
		return rc;
	assert_int_equal(r.u.i32, (int)(strlen(HELLO) + strlen(tag)));
	w->step = "hl_call(GuestMethod3)";
	rc = hl_call(sb, "GuestMethod3", &a, 1, &r);
	if (rc < 0)
		return rc;
	assert_int_equal(r.type, HL_TYPE_STRING);
	assert_int_equal(r.u.str.len, strlen(tag));
	assert_memory_equal(r.u.str.ptr, tag, strlen(tag));
	return 0;
}

/* After a failure of an initialised sandbox: a reset must make it work. */
static void must_recover(hl_sandbox *sb, struct where *w)
{
	const char *failed = w->step;
	int rc = hl_sandbox_reset(sb);
	if (rc != 0)
		fail_msg("%s #%ld: after %s failed, hl_sandbox_reset = %s: %s", kind_names[w->kind],
		         w->n, failed, hl_strerror(rc), hl_errmsg(sb));
	rc = call_both(sb, w, "recovered");
	if (rc != 0)
		fail_msg("%s #%ld: after %s failed and a reset, %s = %s: %s", kind_names[w->kind],
		         w->n, failed, w->step, hl_strerror(rc), hl_errmsg(sb));
}

static int signo(void)
{
	return SIGRTMIN + 4;
}

/*
 * The whole life of a sandbox, a snapshot and a pool. Returns true if every
 * step succeeded (then every result was checked), false if one failed with
 * a documented code and a message. Frees everything either way.
 */
static bool sequence(struct where *w)
{
	hl_sandbox *sb = NULL, *psb = NULL;
	hl_snapshot *snap = NULL;
	hl_pool *pool = NULL;
	hl_interrupt *intr = NULL;
	bool ok = false;
	int rc;
	hl_config cfg;
	hl_config_init(&cfg);
	/* A timeout that never fires, so every call arms the sandbox's timer
	 * (timer_create on the first call, an allocation). */
	cfg.interrupt_signal = signo();
	cfg.call_timeout_ms = 600000;

	w->step = "hl_sandbox_new";
	if ((rc = hl_sandbox_new(&cfg, &sb)) < 0) {
		check_failure(w, rc, NULL, NEW_CODES);
		goto out;
	}
	hl_sandbox_set_print(sb, discard, NULL);
	w->step = "hl_sandbox_interrupt_handle";
	assert_int_equal(hl_sandbox_interrupt_handle(sb, &intr), 0);
	w->step = "hl_sandbox_load_file";
	if ((rc = hl_sandbox_load_file(sb, hlt_guest("callbackguest"))) < 0) {
		check_failure(w, rc, sb, LOAD_CODES);
		goto out;
	}
	w->step = "hl_sample_host_register";
	if ((rc = hl_sample_host_register(sb)) < 0) {
		check_failure(w, rc, sb, REGISTER_CODES);
		goto out;
	}
	w->step = "hl_sandbox_init";
	if ((rc = hl_sandbox_init(sb)) < 0) {
		check_failure(w, rc, sb, INIT_CODES);
		goto out;
	}
	/* From here on a failure must leave a sandbox that a reset repairs. */
	if ((rc = call_both(sb, w, "first")) < 0) {
		check_failure(w, rc, sb, CALL_CODES);
		must_recover(sb, w);
		goto out;
	}
	w->step = "hl_sandbox_snapshot";
	if ((rc = hl_sandbox_snapshot(sb, &snap)) < 0) {
		check_failure(w, rc, sb, SNAP_CODES);
		must_recover(sb, w);
		goto out;
	}
	if ((rc = call_both(sb, w, "second")) < 0) {
		check_failure(w, rc, sb, CALL_CODES);
		must_recover(sb, w);
		goto out;
	}
	/* reset: back to the init snapshot (a remap); restore: to `snap`
	 * (a remap), and again (the dirty-page copy-back). */
	w->step = "hl_sandbox_reset";
	if ((rc = hl_sandbox_reset(sb)) < 0) {
		check_failure(w, rc, sb, RESTORE_CODES);
		must_recover(sb, w);
		goto out;
	}
	w->step = "hl_sandbox_restore (remap)";
	if ((rc = hl_sandbox_restore(sb, snap)) < 0) {
		check_failure(w, rc, sb, RESTORE_CODES);
		must_recover(sb, w);
		goto out;
	}
	if ((rc = call_both(sb, w, "third")) < 0) {
		check_failure(w, rc, sb, CALL_CODES);
		must_recover(sb, w);
		goto out;
	}
	w->step = "hl_sandbox_restore (copy-back)";
	if ((rc = hl_sandbox_restore(sb, snap)) < 0) {
		check_failure(w, rc, sb, RESTORE_CODES);
		must_recover(sb, w);
		goto out;
	}
	w->step = "hl_call_fresh(GuestMethod3)";
	hl_value a = hl_string("fresh", 5), r;
	if ((rc = hl_call_fresh(sb, snap, "GuestMethod3", &a, 1, &r)) < 0) {
		check_failure(w, rc, sb, FRESH_CODES);
		must_recover(sb, w);
		goto out;
	}
	assert_int_equal(r.u.str.len, 5);
	assert_memory_equal(r.u.str.ptr, "fresh", 5);

	w->step = "hl_pool_new";
	if ((rc = hl_pool_new(snap, NULL, 1, &pool)) < 0) {
		check_failure(w, rc, NULL, NEW_CODES);
		goto out;
	}
	w->step = "hl_pool_acquire";
	if ((rc = hl_pool_acquire(pool, 0, &psb)) < 0) {
		check_failure(w, rc, NULL, POOL_CODES);
		goto out;
	}
	if ((rc = call_both(psb, w, "pooled")) < 0) {
		check_failure(w, rc, psb, CALL_CODES);
		/* a poisoned sandbox goes back too: release restores it */
	}
	w->step = "hl_pool_release";
	assert_int_equal(hl_pool_release(pool, psb), 0);
	psb = NULL;
	if (rc < 0)
		goto out;
	/* The released sandbox (or, if its restore failed, a new one) serves again. */
	w->step = "hl_pool_acquire (again)";
	if ((rc = hl_pool_acquire(pool, 0, &psb)) < 0) {
		check_failure(w, rc, NULL, POOL_CODES);
		goto out;
	}
	if ((rc = call_both(psb, w, "pooled again")) < 0)
		check_failure(w, rc, psb, CALL_CODES);
	assert_int_equal(hl_pool_release(pool, psb), 0);
	psb = NULL;
	ok = rc == 0;
out:
	hl_pool_free(pool);
	hl_snapshot_free(snap);
	hl_sandbox_free(sb);
	if (intr) {
		assert_int_equal(hl_interrupt_cancel(intr), HL_E_STATE); /* the sandbox is gone */
		hl_interrupt_free(intr);
	}
	return ok;
}

/* AddressSanitizer maps regions of its own (allocator size classes, shadow)
 * the first time the process needs them, on whatever path that is: in such
 * a build the count of mappings is not the library's, and only the build
 * without sanitizers (run by the same CI) checks it. */
#if defined(__SANITIZE_ADDRESS__)
#define MAPS_CHECKED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MAPS_CHECKED 0
#endif
#endif
#ifndef MAPS_CHECKED
#define MAPS_CHECKED 1
#endif

static void assert_nothing_held(const struct held *before, const struct where *w)
{
	struct held after = now();
	if (after.live != before->live || after.app_live != before->app_live ||
	    after.fds != before->fds || (MAPS_CHECKED && after.maps != before->maps))
		fail_msg(
			"%s #%ld (failed at %s): leaked: allocations %ld -> %ld (allocator %ld -> %ld), "
			"fds %d -> %d, mappings %d -> %d",
			kind_names[w->kind], w->n, w->step, before->live, after.live,
			before->app_live, after.app_live, before->fds, after.fds, before->maps,
			after.maps);
}

/* For N = 1, 2, ... until the sequence runs without reaching the Nth use. */
static void every_nth_fails_cleanly(enum hl__inject_kind kind)
{
	HLT_REQUIRE_KVM();
	struct where w = {kind, 0, ""};
	/* One clean run first: lazy one-time allocations of libc (stdio,
	 * timers, dynamic mmap thresholds) happen before the baseline. */
	assert_true(sequence(&w));
	struct held before = now();
	assert_int_equal(before.live, 0);
	long failed = 0, absorbed = 0;
	for (long n = 1;; n++) {
		w.n = n;
		hl__inject_fail(kind, n);
		bool ok = sequence(&w);
		bool fired = hl__inject_fired(kind);
		long uses = hl__inject_uses(kind);
		hl__inject_fail(kind, 0);
		assert_nothing_held(&before, &w);
		if (!fired) {
			assert_true(ok); /* nothing failed: everything must have worked */
			printf("%s failures: N = 1..%ld exercised (%ld uses in the sequence): %ld made an API "
			       "call fail cleanly, %ld were absorbed (the sequence still succeeded)\n",
			       kind_names[kind], n - 1, uses, failed, absorbed);
			assert_true(n > 1);
			break;
		}
		if (ok)
			absorbed++;
		else
			failed++;
		if (n > 100000)
			fail_msg("%s: the sequence never ends", kind_names[kind]);
	}
	assert_true(failed > 0);
}

static void every_allocation_failure_is_clean(void **state)
{
	(void)state;
	every_nth_fails_cleanly(HL__INJECT_ALLOC);
}

static void every_kvm_ioctl_failure_is_clean(void **state)
{
	(void)state;
	every_nth_fails_cleanly(HL__INJECT_IOCTL);
}

static void every_mapping_memfd_timer_failure_is_clean(void **state)
{
	(void)state;
	every_nth_fails_cleanly(HL__INJECT_SYSCALL);
}

/* ---- hl_set_allocator ------------------------------------------------------------------ */

static void the_allocator_serves_every_allocation(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	long total = app_total;
	hl_sandbox *sb = hlt_open("callbackguest", NULL, NULL);
	assert_true(app_total > total);
	assert_true(app_live > 0);
	assert_int_equal(app_live, hl__alloc_live());
	hl_sandbox_free(sb);
	assert_int_equal(app_live, 0);
	assert_int_equal(hl__alloc_live(), 0);
}

static void the_allocator_cannot_change_while_memory_is_held(void **state)
{
	(void)state;
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	assert_int_equal(hl_set_allocator(NULL), HL_E_STATE);
	hl_allocator bad = counting;
	bad.size = 8;
	assert_int_equal(hl_set_allocator(&bad), HL_E_INVAL);
	bad = counting;
	bad.free = NULL;
	assert_int_equal(hl_set_allocator(&bad), HL_E_INVAL);
	hl_sandbox_free(sb);
	assert_int_equal(hl__alloc_live(), 0);
	/* free again: a switch back and forth works */
	assert_int_equal(hl_set_allocator(NULL), 0);
	assert_int_equal(hl_set_allocator(&counting), 0);
}

static void *never(size_t n, void *user)
{
	(void)n, (void)user;
	return NULL;
}

static void an_allocator_returning_null_gives_nomem(void **state)
{
	(void)state;
	hl_allocator a = counting;
	a.malloc = never;
	assert_int_equal(hl_set_allocator(&a), 0);
	hl_sandbox *sb = (hl_sandbox *)1;
	assert_int_equal(hl_sandbox_new(NULL, &sb), HL_E_NOMEM);
	assert_null(sb);
	assert_int_equal(hl_set_allocator(&counting), 0);
}

static int setup(void **state)
{
	(void)state;
	if (hl_set_allocator(&counting) != 0)
		return -1;
	if (hl_install_interrupt_handler(signo()) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return hl_set_allocator(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_allocator_cannot_change_while_memory_is_held),
		cmocka_unit_test(an_allocator_returning_null_gives_nomem),
		cmocka_unit_test(the_allocator_serves_every_allocation),
		cmocka_unit_test(every_allocation_failure_is_clean),
		cmocka_unit_test(every_kvm_ioctl_failure_is_clean),
		cmocka_unit_test(every_mapping_memfd_timer_failure_is_clean),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
