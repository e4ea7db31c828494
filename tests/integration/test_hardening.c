/* test_hardening.c - what the library leaves in the process: no executable
 * mapping of guest memory, every descriptor close-on-exec; and API misuse
 * answered with an error code rather than a crash. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* ---- the process's descriptors and mappings ---------------------------------------- */

#define MAX_FDS 1024

/* Fills `open` (indexed by fd) with the descriptors open now; returns how
 * many. The directory's own descriptor is left out. */
static int open_fds(bool open[MAX_FDS])
{
	memset(open, 0, MAX_FDS * sizeof open[0]);
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0, self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == self || fd < 0 || fd >= MAX_FDS)
			continue;
		open[fd] = true;
		n++;
	}
	closedir(d);
	return n;
}

/* What a descriptor refers to ("anon_inode:kvm-vm", "/memfd:..."). */
static void fd_target(int fd, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

static int print_discard_calls;

static void discard(int fd, const char *data, size_t len, void *user)
{
	(void)fd, (void)data, (void)len, (void)user;
	print_discard_calls++;
}

/* Creates, initialises, calls, snapshots, restores, makes a sandbox from
 * the snapshot and a pool, with a call timeout armed: every path that
 * opens a descriptor or maps guest memory. Returns everything to free. */
struct world {
	hl_sandbox *sb, *copy, *pooled, *loaded;
	hl_snapshot *snap;
	hl_pool *pool;
	hl_interrupt *intr;
};

static int sig(void)
{
	return SIGRTMIN + 5;
}

static void build_world(struct world *w)
{
	memset(w, 0, sizeof *w);
	hl_config cfg = hlt_interruptible(sig(), 60000);
	w->sb = hlt_open("simpleguest", &cfg, NULL);
	hl_sandbox_set_print(w->sb, discard, NULL);
	hl_value s = hl_string("x", 1);
	hlt_call_ok(w->sb, "PrintOutput", &s, 1);
	assert_true(print_discard_calls > 0);
	HLT_ASSERT_CODE(w->sb, hl_sandbox_snapshot(w->sb, &w->snap), 0);
	hlt_call_ok(w->sb, "NoOp", NULL, 0);
	HLT_ASSERT_CODE(w->sb, hl_sandbox_restore(w->sb, w->snap), 0);
	HLT_ASSERT_CODE(w->sb, hl_sandbox_reset(w->sb), 0);
	HLT_ASSERT_CODE(w->sb, hl_sandbox_interrupt_handle(w->sb, &w->intr), 0);
	assert_int_equal(hl_sandbox_new_from_snapshot(w->snap, NULL, &w->copy), 0);
	hlt_call_ok(w->copy, "NoOp", NULL, 0);
	assert_int_equal(hl_pool_new(w->snap, NULL, 2, &w->pool), 0);
	assert_int_equal(hl_pool_acquire(w->pool, 0, &w->pooled), 0);
	hlt_call_ok(w->pooled, "NoOp", NULL, 0);
	/* Loaded, not initialised: guest memory is still its first anonymous
	 * mapping. */
	assert_int_equal(hl_sandbox_new(NULL, &w->loaded), 0);
	HLT_ASSERT_CODE(w->loaded, hl_sandbox_load_file(w->loaded, hlt_guest("simpleguest")), 0);
}

static void free_world(struct world *w)
{
	assert_int_equal(hl_pool_release(w->pool, w->pooled), 0);
	hl_pool_free(w->pool);
	hl_sandbox_free(w->copy);
	hl_sandbox_free(w->loaded);
	hl_interrupt_free(w->intr);
	hl_snapshot_free(w->snap);
	hl_sandbox_free(w->sb);
}

static void every_descriptor_the_library_opens_is_close_on_exec(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	static bool before[MAX_FDS], after[MAX_FDS];
	open_fds(before);
	struct world w;
	build_world(&w);
	open_fds(after);
	int fresh = 0, kvm = 0, memfd = 0;
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (!after[fd] || before[fd])
			continue;
		char target[256];
		fd_target(fd, target, sizeof target);
		fresh++;
		kvm += strstr(target, "kvm") != NULL;
		memfd += strstr(target, "memfd:") != NULL;
		int flags = fcntl(fd, F_GETFD);
		if (flags < 0 || !(flags & FD_CLOEXEC))
			fail_msg("fd %d (%s) is not close-on-exec", fd, target);
	}
	/* Four sandboxes hold a VM and a vCPU each, and the snapshots (init's
	 * and ours) a memfd each: the check above saw them all. */
	if (kvm < 8 || memfd < 2)
		fail_msg("expected at least 8 KVM descriptors and 2 memfds, saw %d and %d of %d new",
		         kvm, memfd, fresh);
	free_world(&w);
	/* And all of them are closed again. */
	open_fds(after);
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (after[fd] && !before[fd])
			fail_msg("fd %d is still open after everything was freed", fd);
}

struct mapping {
	unsigned long lo, hi;
	char perms[8];
	char path[256];
};

/* Reads /proc/self/maps into maps[]; returns the count. */
static size_t read_maps(struct mapping *maps, size_t max)
{
	FILE *f = fopen("/proc/self/maps", "re");
	assert_non_null(f);
	char line[512];
	size_t n = 0;
	while (n < max && fgets(line, sizeof line, f)) {
		struct mapping *m = &maps[n];
		m->path[0] = '\0';
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255[^\n]", &m->lo, &m->hi, m->perms,
		           m->path) >= 3)
			n++;
	}
	fclose(f);
	return n;
}

static bool is_exec(const struct mapping *m)
{
	return strchr(m->perms, 'x') != NULL;
}

static bool was_exec_before(const struct mapping *before, size_t nb, const struct mapping *m)
{
	for (size_t i = 0; i < nb; i++)
		if (is_exec(&before[i]) && before[i].lo <= m->lo && m->hi <= before[i].hi)
			return true;
	return false;
}

static void guest_memory_is_never_executable_in_the_host(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	enum { MAX_MAPS = 8192 };
	struct mapping *before = calloc(MAX_MAPS, sizeof *before);
	struct mapping *after = calloc(MAX_MAPS, sizeof *after);
	assert_non_null(before);
	assert_non_null(after);
	size_t nb = read_maps(before, MAX_MAPS);
	/* Under a binary translator (Valgrind) the process makes executable
	 * mappings of its own: then only the named ones are checked. */
	bool translator = false;
	for (size_t i = 0; i < nb; i++)
		translator |= strstr(before[i].path, "/valgrind/") != NULL;
	struct world w;
	build_world(&w);
	size_t na = read_maps(after, MAX_MAPS);
	/* The guest memory of the three initialised sandboxes (private views
	 * of the snapshot's memfd) and the vCPUs' kvm_run pages are all
	 * there; the loaded one's is anonymous... */
	int guest = 0, run = 0;
	for (size_t i = 0; i < na; i++) {
		const struct mapping *m = &after[i];
		guest += strstr(m->path, "hyperlight-snapshot") != NULL;
		run += strstr(m->path, "kvm-vcpu") != NULL;
		/* ...and no mapping that appeared with them is executable. */
		if (!translator && is_exec(m) && !was_exec_before(before, nb, m))
			fail_msg("new executable mapping %lx-%lx %s %s", m->lo, m->hi, m->perms,
			         m->path);
		if ((strstr(m->path, "hyperlight") || strstr(m->path, "kvm")) && is_exec(m))
			fail_msg("guest memory mapped executable: %lx-%lx %s %s", m->lo, m->hi,
			         m->perms, m->path);
	}
	if (guest < 3 || run < 4)
		fail_msg("expected 3 guest memories and 4 kvm_run pages in /proc/self/maps, saw %d and %d",
		         guest, run);
	free_world(&w);
	free(before);
	free(after);
}

/* ---- misuse: an error code, never a crash --------------------------------------------- */

static int noop_fn(hl_host_call *hc, const hl_value *a, size_t n, hl_value *r, void *u)
{
	(void)hc, (void)a, (void)n, (void)r, (void)u;
	return 0;
}

static void null_handles_and_outputs_are_invalid_everywhere(void **state)
{
	(void)state;
	hl_fault f;
	hl_layout l;
	hl_function_info fi;
	hl_interrupt *h = NULL;
	hl_pool *p = NULL;
	hl_sandbox *sb = NULL;
	assert_int_equal(hl_sandbox_set_print(NULL, NULL, NULL), HL_E_INVAL);
	assert_int_equal(hl_sandbox_set_log(NULL, NULL, NULL), HL_E_INVAL);
	assert_int_equal(hl_sandbox_last_fault(NULL, &f), HL_E_INVAL);
	assert_int_equal(hl_sandbox_layout(NULL, &l), HL_E_INVAL);
	assert_int_equal(hl_function_get(NULL, 0, &fi), HL_E_INVAL);
	assert_int_equal(hl_function_count(NULL), 0);
	assert_false(hl_sandbox_poisoned(NULL));
	assert_int_equal(hl_sandbox_guest_code(NULL), 0);
	assert_non_null(hl_errmsg(NULL));
	assert_int_equal(hl_sandbox_snapshot(NULL, NULL), HL_E_INVAL);
	assert_int_equal(hl_sandbox_restore(NULL, NULL), HL_E_INVAL);
	assert_int_equal(hl_call_fresh(NULL, NULL, "NoOp", NULL, 0, NULL), HL_E_INVAL);
	assert_int_equal(hl_sandbox_new_from_snapshot(NULL, NULL, &sb), HL_E_INVAL);
	assert_null(sb);
	assert_int_equal(hl_snapshot_size(NULL), 0);
	hl_snapshot_free(NULL);
	assert_int_equal(hl_sandbox_interrupt_handle(NULL, &h), HL_E_INVAL);
	assert_int_equal(hl_interrupt_cancel(NULL), HL_E_INVAL);
	hl_interrupt_free(NULL);
	assert_int_equal(hl_pool_new(NULL, NULL, 1, &p), HL_E_INVAL);
	assert_null(p);
	assert_int_equal(hl_pool_new(NULL, NULL, 1, NULL), HL_E_INVAL);
	assert_int_equal(hl_pool_acquire(NULL, 0, &sb), HL_E_INVAL);
	assert_int_equal(hl_pool_release(NULL, NULL), HL_E_INVAL);
	hl_pool_free(NULL);
	assert_null(hl_host_call_sandbox(NULL));
	assert_int_equal(hl_host_call_fail(NULL, "x"), HL_E_HOST_FUNCTION);
	hl_config_init(NULL);
	assert_string_equal(hl_type_name((hl_type)99), "?");
	assert_string_equal(hl_type_name((hl_type)-1), "?");

	/* A live sandbox with NULL outputs. */
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_last_fault(sb, NULL), HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_layout(sb, NULL), HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_layout(sb, &l), HL_E_STATE);
	HLT_ASSERT_CODE(sb, hl_function_get(sb, 0, NULL), HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_interrupt_handle(sb, NULL), HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, NULL), HL_E_INVAL);
	hl_snapshot *snap = (hl_snapshot *)1;
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &snap), HL_E_STATE);
	assert_null(snap);
	HLT_ASSERT_CODE(sb, hl_call_fresh(sb, NULL, "NoOp", NULL, 0, NULL), HL_E_INVAL);
	HLT_ASSERT_CODE(sb, hl_sandbox_register(sb, "F", HL_TYPE_I32, NULL, 2, noop_fn, NULL),
	                HL_E_INVAL);
	HLT_ASSERT_MSG(sb, "params");
	hl_sandbox_free(sb);
}

static void bad_signals_are_refused(void **state)
{
	(void)state;
	assert_int_equal(hl_install_interrupt_handler(0), HL_E_INVAL);
	assert_int_equal(hl_install_interrupt_handler(-3), HL_E_INVAL);
	assert_int_equal(hl_install_interrupt_handler(SIGKILL), HL_E_INVAL);
	assert_int_equal(hl_install_interrupt_handler(SIGSTOP), HL_E_INVAL);
	assert_int_equal(hl_install_interrupt_handler(SIGRTMAX + 1), HL_E_INVAL);
	/* A configured signal without a handler is a configuration error. */
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.interrupt_signal = SIGRTMIN + 6;
	signal(SIGRTMIN + 6, SIG_DFL);
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_load_file(sb, hlt_guest("simpleguest")), HL_E_CONFIG);
	HLT_ASSERT_MSG(sb, "no handler");
	hl_sandbox_free(sb);
	/* A timeout without a signal too. */
	hl_config_init(&cfg);
	cfg.call_timeout_ms = 10;
	assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_load_file(sb, hlt_guest("simpleguest")), HL_E_CONFIG);
	HLT_ASSERT_MSG(sb, "interrupt_signal");
	hl_sandbox_free(sb);
}

static void values_of_unknown_type_or_null_arrays_are_refused(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_value bogus;
	memset(&bogus, 0, sizeof bogus);
	bogus.type = (hl_type)77;
	HLT_ASSERT_CODE(sb, hl_call(sb, "EchoI32", &bogus, 1, NULL), HL_E_ARG_TYPE);
	HLT_ASSERT_MSG(sb, "parameter 0");
	HLT_ASSERT_CODE(sb, hl_call(sb, "EchoI32", NULL, 1, NULL), HL_E_INVAL);
	HLT_ASSERT_MSG(sb, "args");
	hl_value b = hl_bytes(NULL, 5);
	HLT_ASSERT_CODE(sb, hl_call(sb, "EchoBytes", &b, 1, NULL), HL_E_INVAL);
	hl_value s = hl_string(NULL, 3);
	HLT_ASSERT_CODE(sb, hl_call(sb, "Echo", &s, 1, NULL), HL_E_INVAL);
	/* None of that touched the guest: the sandbox still works. */
	assert_false(hl_sandbox_poisoned(sb));
	hl_value i = hl_i32(7);
	assert_int_equal(hlt_call_ok(sb, "EchoI32", &i, 1).u.i32, 7);
}

/* Inside a host function the sandbox is in a call: everything that would
 * change it under the running guest is a state error. */
struct reentry {
	int call, fresh, snapshot, restore, reset, reg, print, log;
	hl_snapshot *snap;
};

static int reenter(hl_host_call *hc, const hl_value *args, size_t n, hl_value *ret, void *user)
{
	(void)args, (void)n;
	struct reentry *r = user;
	hl_sandbox *sb = hl_host_call_sandbox(hc);
	hl_snapshot *s = NULL;
	r->call = hl_call(sb, "GuestMethod1", NULL, 0, NULL);
	r->fresh = hl_call_fresh(sb, r->snap, "GuestMethod1", NULL, 0, NULL);
	r->snapshot = hl_sandbox_snapshot(sb, &s);
	hl_snapshot_free(s);
	r->restore = hl_sandbox_restore(sb, r->snap);
	r->reset = hl_sandbox_reset(sb);
	r->reg = hl_sandbox_register(sb, "Late", HL_TYPE_VOID, NULL, 0, noop_fn, NULL);
	r->print = hl_sandbox_set_print(sb, NULL, NULL);
	r->log = hl_sandbox_set_log(sb, NULL, NULL);
	*ret = hl_i32(1);
	return 0;
}

static void reentering_the_sandbox_from_a_host_function_is_a_state_error(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	struct reentry r;
	memset(&r, 0, sizeof r);
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("callbackguest")), 0);
	hl_type p[] = {HL_TYPE_STRING};
	assert_int_equal(hl_sandbox_register(sb, "HostMethod1", HL_TYPE_I32, p, 1, reenter, &r), 0);
	assert_int_equal(hl_sandbox_init(sb), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &r.snap), 0);
	hl_value a = hl_string("x", 1);
	assert_int_equal(hlt_call_ok(sb, "GuestMethod1", &a, 1).u.i32, 1);
	assert_int_equal(r.call, HL_E_STATE);
	assert_int_equal(r.fresh, HL_E_STATE);
	assert_int_equal(r.snapshot, HL_E_STATE);
	assert_int_equal(r.restore, HL_E_STATE);
	assert_int_equal(r.reset, HL_E_STATE);
	assert_int_equal(r.reg, HL_E_STATE);
	assert_int_equal(r.print, HL_E_STATE);
	assert_int_equal(r.log, HL_E_STATE);
	/* The call went on undisturbed and the sandbox is fine afterwards. */
	assert_false(hl_sandbox_poisoned(sb));
	assert_int_equal(hlt_call_ok(sb, "GuestMethod1", &a, 1).u.i32, 1);
	hl_snapshot_free(r.snap);
	hl_sandbox_free(sb);
}

static void objects_outlive_the_sandbox_they_came_from(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	hl_snapshot *snap;
	hl_interrupt *h;
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &snap), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_interrupt_handle(sb, &h), 0);
	hl_sandbox_free(sb);
	/* After the sandbox is gone its handle answers, its snapshot works. */
	assert_int_equal(hl_interrupt_cancel(h), HL_E_STATE);
	hl_interrupt_free(h);
	assert_true(hl_snapshot_size(snap) > 0);
	hl_sandbox *copy;
	assert_int_equal(hl_sandbox_new_from_snapshot(snap, NULL, &copy), 0);
	hl_snapshot_free(snap);
	hl_value i = hl_i32(3);
	assert_int_equal(hlt_call_ok(copy, "EchoI32", &i, 1).u.i32, 3);
	hl_sandbox_free(copy);
}

static void a_pool_refuses_sandboxes_it_did_not_hand_out(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	hl_snapshot *snap;
	HLT_ASSERT_CODE(sb, hl_sandbox_snapshot(sb, &snap), 0);
	hl_pool *a, *b;
	assert_int_equal(hl_pool_new(snap, NULL, 1, &a), 0);
	assert_int_equal(hl_pool_new(snap, NULL, 1, &b), 0);
	hl_sandbox *x;
	assert_int_equal(hl_pool_acquire(a, 0, &x), 0);
	hl_sandbox *none = (hl_sandbox *)1;
	assert_int_equal(hl_pool_acquire(a, 0, &none), HL_E_BUSY);
	assert_null(none);
	assert_int_equal(hl_pool_acquire(a, 20, &none), HL_E_BUSY); /* after waiting 20 ms */
	assert_null(none);
	hl_sandbox *y;
	assert_int_equal(hl_pool_acquire(b, 0, &y), 0);
	assert_int_equal(hl_pool_release(a, y), HL_E_INVAL);
	assert_int_equal(hl_pool_release(a, sb), HL_E_INVAL);
	assert_int_equal(hl_pool_release(b, y), 0);
	/* Released twice: refused, or the pool would hand it out twice. */
	assert_int_equal(hl_pool_release(b, y), HL_E_INVAL);
	hl_sandbox *y1, *y2 = NULL;
	assert_int_equal(hl_pool_acquire(b, 0, &y1), 0);
	assert_int_equal(hl_pool_acquire(b, 0, &y2), HL_E_BUSY);
	assert_int_equal(hl_pool_release(b, y1), 0);
	assert_int_equal(hl_pool_release(a, x), 0);
	hl_pool_free(b);
	hl_pool_free(a);
	hl_snapshot_free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_descriptor_the_library_opens_is_close_on_exec),
		cmocka_unit_test(guest_memory_is_never_executable_in_the_host),
		cmocka_unit_test(null_handles_and_outputs_are_invalid_everywhere),
		cmocka_unit_test(bad_signals_are_refused),
		HLT_SIMPLEGUEST_TEST(values_of_unknown_type_or_null_arrays_are_refused),
		cmocka_unit_test(reentering_the_sandbox_from_a_host_function_is_a_state_error),
		cmocka_unit_test(objects_outlive_the_sandbox_they_came_from),
		HLT_SIMPLEGUEST_TEST(a_pool_refuses_sandboxes_it_did_not_hand_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
