/* common.h - helpers shared by the integration tests (KVM required). */
#ifndef HLT_COMMON_H
#define HLT_COMMON_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hyperlight/hyperlight.h"

/* True if /dev/kvm can be opened; says loudly on stderr (once) when not. */
bool hlt_have_kvm(void);

/* Skips the current test when there is no KVM. */
#define HLT_REQUIRE_KVM()            \
	do {                         \
		if (!hlt_have_kvm()) \
			skip();      \
	} while (0)

/* The path of a guest built by the project ("simpleguest"). Thread-local buffer. */
const char *hlt_guest(const char *name);

/* What the guest printed, captured by hlt_capture. */
struct hlt_output {
	char data[65536];
	size_t len;
	int fds; /* bit 1: fd 1 seen, bit 2: fd 2 seen */
};

/* A print callback (hl_print_fn) that appends to the struct hlt_output
 * `user`, cutting what does not fit and keeping it NUL-terminated. Inline
 * so that tests which do not link common.c (tests/js) can use it too. */
static inline void hlt_capture(int fd, const char *data, size_t len, void *user)
{
	struct hlt_output *o = user;
	size_t room = sizeof o->data - 1 - o->len;
	if (len > room)
		len = room;
	memcpy(o->data + o->len, data, len);
	o->len += len;
	o->data[o->len] = '\0';
	o->fds |= 1 << fd;
}

/* Creates, loads and initialises a sandbox for guest `name` with the sample
 * host functions registered and output captured into *out (may be NULL:
 * output discarded). cfg may be NULL. Fails the test with the library's
 * message if any step fails. */
hl_sandbox *hlt_open(const char *name, const hl_config *cfg, struct hlt_output *out);

/*
 * cmocka fixtures: a sandbox of simpleguest, callbackguest or, with
 * HLT_GUEST_TEST, the guest named by the test's initial state (hlt_open
 * with the default configuration, output discarded) made before the test
 * and freed after it. The test takes it with hlt_sandbox(state), which
 * skips the test where there is no KVM (the setup then makes nothing).
 */
int hlt_setup_simpleguest(void **state);
int hlt_setup_callbackguest(void **state);
int hlt_setup_guest(void **state);
int hlt_teardown_sandbox(void **state);
hl_sandbox *hlt_sandbox(void **state);
#define HLT_SIMPLEGUEST_TEST(test) \
	cmocka_unit_test_setup_teardown(test, hlt_setup_simpleguest, hlt_teardown_sandbox)
#define HLT_CALLBACKGUEST_TEST(test) \
	cmocka_unit_test_setup_teardown(test, hlt_setup_callbackguest, hlt_teardown_sandbox)
#define HLT_GUEST_TEST(test, guest)                                                           \
	cmocka_unit_test_prestate_setup_teardown(test, hlt_setup_guest, hlt_teardown_sandbox, \
	                                         (void *)(guest))

/* A configuration whose calls can be interrupted: hl_config_init's values,
 * with interrupt_signal `signo` (its handler installed) and call_timeout_ms
 * `timeout_ms` (0: none). */
hl_config hlt_interruptible(int signo, uint32_t timeout_ms);

void hlt_sleep_ms(int ms);

/* A thread that cancels through `h` every 5 ms until stopped, counting the
 * cancels that stopped a running call (hl_interrupt_cancel's 1). */
struct hlt_canceller {
	hl_interrupt *h;
	atomic_bool stop;
	atomic_int hits;
	pthread_t thread;
};
/* Takes the sandbox's interrupt handle and starts the thread. */
void hlt_canceller_start(struct hlt_canceller *c, hl_sandbox *sb);
/* Stops and joins the thread, frees the handle; returns the hits. */
int hlt_canceller_stop(struct hlt_canceller *c);

/* Calls and asserts success, printing hl_errmsg on failure. */
hl_value hlt_call_ok(hl_sandbox *sb, const char *fn, const hl_value *args, size_t n);

/* A value that a guest leaves behind in its state and looks for: guest
 * functions `leave_fn` and `find_fn` take `secret` (a u64); find_fn returns
 * an int32 saying where it found it (0: nowhere). */
struct hlt_probe {
	const char *leave_fn;
	const char *find_fn;
	uint64_t secret;
};

/* Calls the probe's leave_fn, asserting success. */
void hlt_probe_leave(hl_sandbox *sb, const struct hlt_probe *p);
/* Calls the probe's find_fn, asserting success; returns what it found. */
int hlt_probe_find(hl_sandbox *sb, const struct hlt_probe *p);
/* Leaves the probe's value before each of hl_sandbox_restore(snap),
 * hl_sandbox_reset and hl_call_fresh(snap, find_fn), and asserts that none
 * of them lets it through. */
void hlt_assert_restores_clear(hl_sandbox *sb, hl_snapshot *snap, const struct hlt_probe *p);

/* Asserts that `expr` (an int result) equals `code`, printing the message. */
#define HLT_ASSERT_CODE(sb, expr, code)                                                      \
	do {                                                                                 \
		int hlt_r_ = (expr);                                                         \
		if (hlt_r_ != (code))                                                        \
			fail_msg("%s returned %d (%s), expected %d (%s); errmsg: %s", #expr, \
			         hlt_r_, hl_strerror(hlt_r_), (code), hl_strerror(code),     \
			         hl_errmsg(sb));                                             \
	} while (0)

/* Asserts the sandbox message contains `needle`. */
#define HLT_ASSERT_MSG(sb, needle)                                                               \
	do {                                                                                     \
		if (!strstr(hl_errmsg(sb), (needle)))                                            \
			fail_msg("message '%s' does not mention '%s'", hl_errmsg(sb), (needle)); \
	} while (0)

#endif
