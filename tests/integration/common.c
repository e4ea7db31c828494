/* common.c - helpers shared by the integration tests. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "sample_host.h"

bool hlt_have_kvm(void)
{
	static int have = -1;
	if (have < 0) {
		int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		have = fd >= 0;
		if (fd >= 0)
			close(fd);
		else
			fprintf(stderr,
			        "\n*** /dev/kvm is not available: SKIPPING every test that needs a VM ***\n\n");
	}
	return have == 1;
}

const char *hlt_guest(const char *name)
{
	static _Thread_local char path[4096]; /* the threaded tests call this at once */
	const char *dir = getenv("HYPERLIGHT_GUEST_DIR");
	snprintf(path, sizeof path, "%s/%s", dir ? dir : HL_GUEST_DIR, name);
	return path;
}

static void discard(int fd, const char *data, size_t len, void *user)
{
	(void)fd, (void)data, (void)len, (void)user;
}

hl_sandbox *hlt_open(const char *name, const hl_config *cfg, struct hlt_output *out)
{
	hl_sandbox *sb = NULL;
	int r = hl_sandbox_new(cfg, &sb);
	if (r != 0)
		fail_msg("hl_sandbox_new: %s", hl_strerror(r));
	if (out) {
		memset(out, 0, sizeof *out);
		hl_sandbox_set_print(sb, hlt_capture, out);
	} else {
		hl_sandbox_set_print(sb, discard, NULL);
	}
	if ((r = hl_sandbox_load_file(sb, hlt_guest(name))) != 0 ||
	    (r = hl_sample_host_register(sb)) != 0 || (r = hl_sandbox_init(sb)) != 0) {
		fprintf(stderr, "setting up %s: %s: %s\n", name, hl_strerror(r), hl_errmsg(sb));
		hl_sandbox_free(sb);
		fail_msg("could not set up a sandbox for %s", name);
	}
	return sb;
}

static int setup_guest(void **state, const char *name)
{
	*state = hlt_have_kvm() ? hlt_open(name, NULL, NULL) : NULL;
	return 0;
}

int hlt_setup_simpleguest(void **state)
{
	return setup_guest(state, "simpleguest");
}

int hlt_setup_callbackguest(void **state)
{
	return setup_guest(state, "callbackguest");
}

int hlt_setup_guest(void **state)
{
	return setup_guest(state, *state);
}

int hlt_teardown_sandbox(void **state)
{
	hl_sandbox_free(*state);
	return 0;
}

hl_sandbox *hlt_sandbox(void **state)
{
	HLT_REQUIRE_KVM();
	return *state;
}

hl_value hlt_call_ok(hl_sandbox *sb, const char *fn, const hl_value *args, size_t n)
{
	hl_value v;
	memset(&v, 0, sizeof v);
	int r = hl_call(sb, fn, args, n, &v);
	if (r != 0)
		fail_msg("hl_call(%s) = %s: %s", fn, hl_strerror(r), hl_errmsg(sb));
	return v;
}

void hlt_probe_leave(hl_sandbox *sb, const struct hlt_probe *p)
{
	hl_value a = hl_u64(p->secret);
	hlt_call_ok(sb, p->leave_fn, &a, 1);
}

int hlt_probe_find(hl_sandbox *sb, const struct hlt_probe *p)
{
	hl_value a = hl_u64(p->secret);
	return hlt_call_ok(sb, p->find_fn, &a, 1).u.i32;
}

void hlt_assert_restores_clear(hl_sandbox *sb, hl_snapshot *snap, const struct hlt_probe *p)
{
	hlt_probe_leave(sb, p);
	HLT_ASSERT_CODE(sb, hl_sandbox_restore(sb, snap), 0);
	assert_int_equal(hlt_probe_find(sb, p), 0);
	hlt_probe_leave(sb, p);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	assert_int_equal(hlt_probe_find(sb, p), 0);
	hlt_probe_leave(sb, p);
	hl_value a = hl_u64(p->secret), r;
	HLT_ASSERT_CODE(sb, hl_call_fresh(sb, snap, p->find_fn, &a, 1, &r), 0);
	assert_int_equal(r.u.i32, 0);
}

hl_config hlt_interruptible(int signo, uint32_t timeout_ms)
{
	assert_int_equal(hl_install_interrupt_handler(signo), 0);
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.interrupt_signal = signo;
	cfg.call_timeout_ms = timeout_ms;
	return cfg;
}

void hlt_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void *cancel_until_stopped(void *p)
{
	struct hlt_canceller *c = p;
	while (!atomic_load(&c->stop)) {
		hlt_sleep_ms(5);
		if (hl_interrupt_cancel(c->h) == 1)
			atomic_fetch_add(&c->hits, 1);
	}
	return NULL;
}

void hlt_canceller_start(struct hlt_canceller *c, hl_sandbox *sb)
{
	memset(c, 0, sizeof *c);
	assert_int_equal(hl_sandbox_interrupt_handle(sb, &c->h), 0);
	assert_int_equal(pthread_create(&c->thread, NULL, cancel_until_stopped, c), 0);
}

int hlt_canceller_stop(struct hlt_canceller *c)
{
	atomic_store(&c->stop, true);
	pthread_join(c->thread, NULL);
	hl_interrupt_free(c->h);
	c->h = NULL;
	return atomic_load(&c->hits);
}
