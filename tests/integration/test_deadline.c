/*
 * test_deadline.c - the call deadline and a cancel hold whatever the guest
 * does: a print flood into a sink that never drains (a pipe nobody reads as
 * the host's fd 1) ends at the deadline and on a cancel, with or without a
 * signal, and a loop of exits ends at the deadline where the per-call timer
 * could not be created.
 *
 * Linked against the static library: it reaches the hidden failure-injection
 * hook of src/host/alloc.h to make timer_create fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "host/alloc.h"

#define DEADLINE_MS 200

static int sig(void)
{
	return SIGRTMIN + 4;
}

static hl_config config(uint32_t timeout_ms)
{
	return hlt_interruptible(sig(), timeout_ms);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- a sink that never drains: fd 1 is a full pipe nobody reads ---------------- */

struct blocked_stdout {
	int saved; /* the real fd 1 */
	int rd;    /* the pipe's read end, never read */
};

/* Points fd 1 at a pipe that is already full, so that the first write of
 * the default print sink would block for ever. */
static struct blocked_stdout block_stdout(void)
{
	struct blocked_stdout b;
	int pfd[2];
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	/* Fill it without blocking, then make the write end blocking again, as
	 * a terminal or a pipe to a stuck reader is. */
	int fl = fcntl(pfd[1], F_GETFL);
	assert_int_equal(fcntl(pfd[1], F_SETFL, fl | O_NONBLOCK), 0);
	static const char junk[4096];
	while (write(pfd[1], junk, sizeof junk) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(pfd[1], F_SETFL, fl), 0);
	fflush(stdout);
	b.saved = dup(1);
	assert_true(b.saved >= 0);
	assert_int_equal(dup2(pfd[1], 1), 1);
	close(pfd[1]);
	b.rd = pfd[0];
	return b;
}

static void unblock_stdout(struct blocked_stdout *b)
{
	dup2(b->saved, 1);
	close(b->saved);
	close(b->rd);
}

/* ---- cancelling from another thread ---------------------------------------------- */

struct canceller {
	hl_interrupt *h;
	int after_ms;
	int result; /* what hl_interrupt_cancel answered */
};

static void *cancel_later(void *p)
{
	struct canceller *c = p;
	hlt_sleep_ms(c->after_ms);
	c->result = hl_interrupt_cancel(c->h);
	return NULL;
}

/* Runs PrintForever into the blocked stdout while another thread cancels
 * it after DEADLINE_MS; checks that the call ends with HL_E_CANCELLED soon
 * after, says how much output it dropped, and that a reset recovers. */
static void flood_and_cancel(hl_sandbox *sb)
{
	struct canceller c = {.after_ms = DEADLINE_MS};
	assert_int_equal(hl_sandbox_interrupt_handle(sb, &c.h), 0);
	struct blocked_stdout b = block_stdout();
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
	double t0 = now_ms();
	int r = hl_call(sb, "PrintForever", NULL, 0, NULL);
	double ms = now_ms() - t0;
	pthread_join(t, NULL);
	unblock_stdout(&b);
	fprintf(stderr,
	        "PrintForever into a blocked stdout, cancelled after %d ms: returned after %.1f ms\n",
	        DEADLINE_MS, ms);
	HLT_ASSERT_CODE(sb, r, HL_E_CANCELLED);
	assert_int_equal(c.result, 1);
	HLT_ASSERT_MSG(sb, "cancelled");
	HLT_ASSERT_MSG(sb, "bytes of guest output were dropped");
	assert_true(ms < 10.0 * DEADLINE_MS);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hlt_call_ok(sb, "LogAboveMax", NULL, 0);
	hl_interrupt_free(c.h);
}

/* ---- the tests ---------------------------------------------------------------------- */

static void a_print_flood_into_a_blocked_sink_ends_at_the_deadline(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg = config(DEADLINE_MS);
	hl_sandbox *sb = hlt_open("hostileguest", &cfg, NULL);
	assert_int_equal(hl_sandbox_set_print(sb, NULL, NULL), 0); /* the library's sink */
	struct blocked_stdout b = block_stdout();
	double t0 = now_ms();
	int r = hl_call(sb, "PrintForever", NULL, 0, NULL);
	double ms = now_ms() - t0;
	unblock_stdout(&b);
	fprintf(stderr,
	        "PrintForever into a blocked stdout, %d ms deadline: returned after %.1f ms\n",
	        DEADLINE_MS, ms);
	HLT_ASSERT_CODE(sb, r, HL_E_CANCELLED);
	HLT_ASSERT_MSG(sb, "timed out");
	HLT_ASSERT_MSG(sb, "bytes of guest output were dropped: host descriptor 1");
	assert_true(ms >= DEADLINE_MS - 1);
	assert_true(ms < 10.0 * DEADLINE_MS);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hlt_call_ok(sb, "LogAboveMax", NULL, 0);
	hl_sandbox_free(sb);
}

static void a_print_flood_into_a_blocked_sink_ends_on_cancel(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg = config(0);
	hl_sandbox *sb = hlt_open("hostileguest", &cfg, NULL);
	assert_int_equal(hl_sandbox_set_print(sb, NULL, NULL), 0);
	flood_and_cancel(sb);
	hl_sandbox_free(sb);
}

/* Without interrupt_signal nothing interrupts a blocked write: the sink's
 * bounded wait alone must notice the cancel. */
static void a_print_flood_into_a_blocked_sink_ends_on_cancel_without_a_signal(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("hostileguest", NULL, NULL);
	assert_int_equal(hl_sandbox_set_print(sb, NULL, NULL), 0);
	flood_and_cancel(sb);
	hl_sandbox_free(sb);
}

static void count_print(int fd, const char *data, size_t len, void *user)
{
	(void)fd, (void)data, (void)len;
	++*(long *)user;
}

/* Resource limits can refuse the per-call timer (timer_create fails; the
 * call runs without it): a guest that does nothing but exit to the host is
 * still stopped at the deadline, which is checked at every exit. */
static void a_loop_of_exits_without_a_timer_ends_at_the_deadline(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg = config(DEADLINE_MS);
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("hostileguest")), 0);
	/* The timer is made at the first run on a thread, init here: its
	 * timer_create is the first system call of the hook's kind init makes. */
	hl__inject_fail(HL__INJECT_SYSCALL, 1);
	int r = hl_sandbox_init(sb);
	assert_true(hl__inject_fired(HL__INJECT_SYSCALL));
	HLT_ASSERT_CODE(sb, r, 0);
	long prints = 0;
	assert_int_equal(hl_sandbox_set_print(sb, count_print, &prints), 0);
	/* A call tries again; make that fail as well. */
	hl__inject_fail(HL__INJECT_SYSCALL, 1);
	double t0 = now_ms();
	r = hl_call(sb, "PrintForever", NULL, 0, NULL);
	double ms = now_ms() - t0;
	bool fired = hl__inject_fired(HL__INJECT_SYSCALL);
	hl__inject_fail(HL__INJECT_SYSCALL, 0);
	fprintf(stderr,
	        "PrintForever without a timer, %d ms deadline: %ld prints, returned after %.1f ms\n",
	        DEADLINE_MS, prints, ms);
	assert_true(fired);
	HLT_ASSERT_CODE(sb, r, HL_E_CANCELLED);
	HLT_ASSERT_MSG(sb, "timed out");
	assert_true(prints > 0);
	assert_true(ms >= DEADLINE_MS - 1);
	assert_true(ms < 10.0 * DEADLINE_MS);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hlt_call_ok(sb, "LogAboveMax", NULL, 0);
	hl_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_print_flood_into_a_blocked_sink_ends_at_the_deadline),
		cmocka_unit_test(a_print_flood_into_a_blocked_sink_ends_on_cancel),
		cmocka_unit_test(a_print_flood_into_a_blocked_sink_ends_on_cancel_without_a_signal),
		cmocka_unit_test(a_loop_of_exits_without_a_timer_ends_at_the_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
