/*
 * cancel.c - cancelling a running call from any thread, and the per-call
 * timeout built on it.
 *
 * The handle is shared by the sandbox and every holder of a reference; its
 * mutex orders three events: a call starting (generation + 1, running), a
 * cancel (only if running: request, immediate_exit, signal to the calling
 * thread) and a call ending (not running, request and immediate_exit
 * cleared). A cancel therefore hits the call that was running when it took
 * the lock or nothing at all. immediate_exit covers a vCPU thread that is
 * between two KVM_RUNs (a host function, the run loop); the signal covers
 * one inside the guest. After the sandbox is freed the handle only answers
 * HL_E_STATE: the kvm_run page is forgotten under the lock before the VM is
 * destroyed.
 *
 * The deadline is checked after every exit, whether or not a timer exists:
 * the timer (a POSIX timer, which resource limits may refuse) only kicks a
 * guest that does not exit by itself. The check reads the coarse monotonic
 * clock and the precise one only within a tick of the deadline (see
 * hl__call_cancelled).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct hl_interrupt {
	atomic_long refs;
	pthread_mutex_t mu;
	bool alive;            /* the sandbox exists */
	bool running;          /* a call is in progress */
	atomic_bool requested; /* cancel requested for the running call */
	uint64_t gen;          /* generation of the running (or last) call */
	pthread_t thread;      /* the thread running it */
	int signo;
	volatile uint8_t *immediate_exit; /* NULL until the VM exists and after free */
	hl_sandbox *sb;                   /* to find the VM lazily; only under mu while alive */
	/* The clock the deadline is first compared with at every exit, and how
	 * far it may lag CLOCK_MONOTONIC (its resolution, one kernel tick). */
	clockid_t fast_clock;
	uint64_t fast_slack_ns;
};

static void noop_handler(int sig)
{
	(void)sig;
}

int hl_install_interrupt_handler(int signo)
{
	if (signo <= 0 || signo > SIGRTMAX || signo == SIGKILL || signo == SIGSTOP)
		return HL_E_INVAL;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = noop_handler; /* no SA_RESTART: KVM_RUN must return EINTR */
	sigemptyset(&sa.sa_mask);
	return sigaction(signo, &sa, NULL) < 0 ? HL_E_INVAL : 0;
}

/* Checks the configured signal: valid and with a handler installed. */
int hl__check_signal(hl_sandbox *sb)
{
	const hl_config *c = &sb->cfg;
	if (c->call_timeout_ms && !c->interrupt_signal)
		return hl__fail(sb, HL_E_CONFIG,
		                "config: call_timeout_ms needs interrupt_signal (and a handler for it)");
	if (!c->interrupt_signal)
		return 0;
	int s = c->interrupt_signal;
	struct sigaction old;
	if (s <= 0 || s > SIGRTMAX || s == SIGKILL || s == SIGSTOP || sigaction(s, NULL, &old) < 0)
		return hl__fail(sb, HL_E_CONFIG,
		                "config: interrupt_signal %d is not a usable signal", s);
	if (!(old.sa_flags & SA_SIGINFO) && (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN))
		return hl__fail(sb, HL_E_CONFIG,
		                "config: interrupt_signal %d has no handler; install one first (hl_install_interrupt_handler)",
		                s);
	return 0;
}

int hl__intr_create(hl_sandbox *sb)
{
	struct hl_interrupt *h = hl__calloc(1, sizeof *h);
	if (!h)
		return HL_E_NOMEM;
	atomic_init(&h->refs, 1);
	atomic_init(&h->requested, false);
	pthread_mutex_init(&h->mu, NULL);
	h->alive = true;
	h->sb = sb;
	/* CLOCK_MONOTONIC_COARSE is the time of the last tick, read from the
	 * vDSO without touching the clocksource: 11 ns here against 35 ns for
	 * CLOCK_MONOTONIC (an exit costs about 20 us), and cheap on every
	 * clocksource, also where CLOCK_MONOTONIC falls back to a system call.
	 * Without it, the precise clock is read at every exit. */
	struct timespec res;
	h->fast_clock = CLOCK_MONOTONIC;
	h->fast_slack_ns = 0;
	if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0) {
		h->fast_clock = CLOCK_MONOTONIC_COARSE;
		h->fast_slack_ns = (uint64_t)res.tv_nsec;
	}
	sb->intr = h;
	return 0;
}

static void intr_unref(struct hl_interrupt *h)
{
	if (h && atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) == 1) {
		pthread_mutex_destroy(&h->mu);
		hl__free(h);
	}
}

void hl__intr_detach(hl_sandbox *sb)
{
	struct hl_interrupt *h = sb->intr;
	if (sb->timer) {
		timer_delete(*(timer_t *)sb->timer);
		hl__free(sb->timer);
		sb->timer = NULL;
	}
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->alive = false;
	h->immediate_exit = NULL;
	h->sb = NULL;
	pthread_mutex_unlock(&h->mu);
	sb->intr = NULL;
	intr_unref(h);
}

void hl__intr_forget_vm(hl_sandbox *sb)
{
	struct hl_interrupt *h = sb->intr;
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->immediate_exit = NULL;
	pthread_mutex_unlock(&h->mu);
}

int hl_sandbox_interrupt_handle(hl_sandbox *sb, hl_interrupt **out)
{
	if (!sb || !out || !sb->intr)
		return HL_E_INVAL;
	atomic_fetch_add_explicit(&sb->intr->refs, 1, memory_order_relaxed);
	*out = sb->intr;
	return 0;
}

void hl_interrupt_free(hl_interrupt *h)
{
	intr_unref(h);
}

int hl_interrupt_cancel(hl_interrupt *h)
{
	if (!h)
		return HL_E_INVAL;
	int r;
	pthread_mutex_lock(&h->mu);
	if (!h->alive) {
		r = HL_E_STATE;
	} else if (!h->running) {
		r = 0;
	} else {
		atomic_store(&h->requested, true);
		if (h->immediate_exit)
			*h->immediate_exit = 1;
		if (h->signo)
			pthread_kill(h->thread, h->signo);
		r = 1;
	}
	pthread_mutex_unlock(&h->mu);
	return r;
}

/* ---- the call bracket ----------------------------------------------------------- */

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* Arms the sandbox's timer to signal this thread at the deadline and every
 * millisecond after it, so a signal that lands while the thread is outside
 * KVM_RUN is followed by another. */
static void arm_timer(hl_sandbox *sb)
{
	int tid = (int)syscall(SYS_gettid);
	if (sb->timer && sb->timer_tid != tid) {
		timer_delete(*(timer_t *)sb->timer);
		hl__free(sb->timer);
		sb->timer = NULL;
	}
	if (!sb->timer) {
		timer_t *t = hl__malloc(sizeof *t);
		struct sigevent ev;
		memset(&ev, 0, sizeof ev);
		ev.sigev_notify = SIGEV_THREAD_ID;
		ev.sigev_signo = sb->cfg.interrupt_signal;
		ev._sigev_un._tid = tid;
		if (!t || hl__timer_create(CLOCK_MONOTONIC, &ev, t) < 0) {
			hl__free(t);
			return; /* the deadline is still checked at every exit (call.c) */
		}
		sb->timer = t;
		sb->timer_tid = tid;
	}
	uint64_t ms = sb->cfg.call_timeout_ms;
	struct itimerspec its = {
		.it_value = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000},
		.it_interval = {.tv_sec = 0, .tv_nsec = 1000000},
	};
	sb->timer_armed = timer_settime(*(timer_t *)sb->timer, 0, &its, NULL) == 0;
}

void hl__call_begin(hl_sandbox *sb)
{
	struct hl_interrupt *h = sb->intr;
	pthread_mutex_lock(&h->mu);
	h->immediate_exit = hl__backend.immediate_exit(sb->vm);
	h->gen++;
	h->running = true;
	atomic_store_explicit(&h->requested, false, memory_order_relaxed);
	h->thread = pthread_self();
	h->signo = sb->cfg.interrupt_signal;
	pthread_mutex_unlock(&h->mu);
	sb->out_dropped = 0;
	sb->deadline_ns = 0;
	if (sb->cfg.call_timeout_ms) {
		sb->deadline_ns = mono_ns() + (uint64_t)sb->cfg.call_timeout_ms * 1000000ull;
		arm_timer(sb);
	}
}

void hl__call_end(hl_sandbox *sb)
{
	struct hl_interrupt *h = sb->intr;
	if (sb->timer_armed) {
		struct itimerspec off;
		memset(&off, 0, sizeof off);
		timer_settime(*(timer_t *)sb->timer, 0, &off, NULL);
		sb->timer_armed = false;
	}
	pthread_mutex_lock(&h->mu);
	h->running = false;
	atomic_store_explicit(&h->requested, false, memory_order_relaxed);
	if (h->immediate_exit)
		*h->immediate_exit = 0;
	pthread_mutex_unlock(&h->mu);
}

/*
 * Runs after every exit, so it must cost next to nothing: one relaxed load
 * and, with a deadline, one read of the fast clock. The fast clock lags
 * CLOCK_MONOTONIC by one tick (its slack), so while it reads more than the
 * slack before the deadline the deadline has not passed; only in the last
 * tick is the precise clock read, so the first exit after the deadline
 * ends the call (a tick that comes late delays that by as much).
 */
int hl__call_cancelled(hl_sandbox *sb)
{
	const struct hl_interrupt *h = sb->intr;
	int why = 0;
	if (atomic_load_explicit(&h->requested, memory_order_relaxed))
		why = 1;
	else if (sb->deadline_ns && clock_ns(h->fast_clock) + h->fast_slack_ns >= sb->deadline_ns &&
	         mono_ns() >= sb->deadline_ns)
		why = 2; /* the deadline passed: end the call as a cancel would */
	/* The statistics tell a cancel from a timeout. */
	sb->cancel_why = why;
	return why;
}

int hl__call_wait_ms(hl_sandbox *sb, int cap_ms)
{
	if (!sb->deadline_ns)
		return cap_ms;
	uint64_t now = mono_ns();
	if (now >= sb->deadline_ns)
		return 0;
	uint64_t ms = (sb->deadline_ns - now + 999999) / 1000000; /* round up: never early */
	return ms < (uint64_t)cap_ms ? (int)ms : cap_ms;
}
