/* test_seccomp.c - hl_seccomp_restrict_thread: sandboxes keep working on a
 * restricted thread (calls, host functions, print, snapshots, cancel and
 * timeout) and what the allow-list leaves out is refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* cmocka's assertions jump back to the test's own thread, so the restricted
 * thread records its first failure here and the test asserts after join. */
struct job {
	void (*body)(struct job *);
	unsigned flags;
	int restrict_rc;
	char failure[512];
	hl_sandbox *sb;
	hl_sandbox *printer; /* a simpleguest whose output goes to *out */
	struct hlt_output *out;
};

#define JOB_CHECK(j, cond, ...)                                                              \
	do {                                                                                 \
		if (!(cond) && !(j)->failure[0]) {                                           \
			int n_ = snprintf((j)->failure, sizeof(j)->failure,                  \
			                  "%s:%d: %s: ", __FILE__, __LINE__, #cond);         \
			if (n_ > 0 && (size_t)n_ < sizeof(j)->failure)                       \
				snprintf((j)->failure + n_, sizeof(j)->failure - (size_t)n_, \
				         __VA_ARGS__);                                       \
		}                                                                            \
	} while (0)

#define JOB_CODE(j, expr, code)                                                                    \
	do {                                                                                       \
		int jr_ = (expr);                                                                  \
		JOB_CHECK(j, jr_ == (code), "%s returned %d (%s), expected %s; errmsg: %s", #expr, \
		          jr_, hl_strerror(jr_), hl_strerror(code),                                \
		          (j)->sb ? hl_errmsg((j)->sb) : "");                                      \
	} while (0)

static void *job_thread(void *p)
{
	struct job *j = p;
	j->restrict_rc = hl_seccomp_restrict_thread(j->flags);
	if (j->restrict_rc == 0)
		j->body(j);
	return NULL;
}

/* Runs j->body on a new thread that restricts itself first, then fails the
 * test with whatever the body recorded. */
static void run_restricted(struct job *j)
{
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, job_thread, j), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	if (j->restrict_rc != 0)
		fail_msg("hl_seccomp_restrict_thread: %s", hl_strerror(j->restrict_rc));
	if (j->failure[0])
		fail_msg("on the restricted thread: %s", j->failure);
}

#define REQUIRE_SECCOMP()                                                       \
	do {                                                                    \
		if (!hl_seccomp_supported()) {                                  \
			fprintf(stderr, "built without libseccomp: skipped\n"); \
			skip();                                                 \
		}                                                               \
	} while (0)

/* ---- what keeps working ------------------------------------------------------ */

static void calls_host_functions_and_print(struct job *j)
{
	hl_value a[2] = {hl_i32(20), hl_i32(22)};
	hl_value r;
	JOB_CODE(j, hl_call(j->sb, "GuestMethod2", a, 2, &r), 0);
	JOB_CHECK(j, r.u.i32 == 42, "HostAdd through the guest gave %d", (int)r.u.i32);
	hl_value s = hl_string("restricted", 10);
	JOB_CODE(j, hl_call(j->sb, "GuestMethod1", &s, 1, &r), 0);
	JOB_CODE(j, hl_call(j->printer, "PrintOutput", &s, 1, &r), 0);
	JOB_CHECK(j, strcmp(j->out->data, "restricted") == 0, "print output: '%.200s'",
	          j->out->data);
}

static void a_restricted_thread_calls_the_guest_and_the_host(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	REQUIRE_SECCOMP();
	struct hlt_output out;
	struct job j = {.body = calls_host_functions_and_print, .out = &out};
	j.sb = hlt_open("callbackguest", NULL, NULL);
	j.printer = hlt_open("simpleguest", NULL, &out);
	run_restricted(&j);
	hl_sandbox_free(j.printer);
	hl_sandbox_free(j.sb);
}

static void prints_with_the_default_sink(struct job *j)
{
	hl_value s = hl_string("seccomp default sink\n", 21);
	hl_value r;
	JOB_CODE(j, hl_call(j->sb, "PrintOutput", &s, 1, &r), 0);
	JOB_CHECK(j, r.u.i32 == 21, "PrintOutput returned %d", (int)r.u.i32);
}

static void the_default_print_sink_writes_on_a_restricted_thread(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	REQUIRE_SECCOMP();
	/* Without hl_sandbox_set_print the library write()s to fd 1: send
	 * fd 1 to a pipe for the call and read back what arrived. */
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	assert_int_equal(hl_sandbox_load_file(sb, hlt_guest("simpleguest")), 0);
	assert_int_equal(hl_sandbox_init(sb), 0);
	int pfd[2];
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	fflush(stdout);
	int saved = dup(1);
	assert_true(saved >= 0);
	assert_int_equal(dup2(pfd[1], 1), 1);
	struct job j = {.body = prints_with_the_default_sink, .sb = sb};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, job_thread, &j), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	dup2(saved, 1);
	close(saved);
	close(pfd[1]);
	char buf[128] = {0};
	ssize_t n = read(pfd[0], buf, sizeof buf - 1);
	close(pfd[0]);
	hl_sandbox_free(sb);
	assert_int_equal(j.restrict_rc, 0);
	if (j.failure[0])
		fail_msg("on the restricted thread: %s", j.failure);
	assert_true(n > 0);
	assert_string_equal(buf, "seccomp default sink\n");
}

static void snapshots_restores_and_resets(struct job *j)
{
	hl_value one = hl_i32(5);
	hl_value r;
	JOB_CODE(j, hl_call(j->sb, "AddToStatic", &one, 1, &r), 0);
	hl_snapshot *snap = NULL;
	JOB_CODE(j, hl_sandbox_snapshot(j->sb, &snap), 0);
	JOB_CODE(j, hl_call(j->sb, "AddToStatic", &one, 1, &r), 0);
	JOB_CHECK(j, r.u.i32 == 10, "static is %d after two adds", (int)r.u.i32);
	JOB_CODE(j, hl_sandbox_restore(j->sb, snap), 0);
	JOB_CODE(j, hl_call(j->sb, "GetStatic", NULL, 0, &r), 0);
	JOB_CHECK(j, r.u.i32 == 5, "static is %d after restore", (int)r.u.i32);
	JOB_CODE(j, hl_call_fresh(j->sb, snap, "AddToStatic", &one, 1, &r), 0);
	JOB_CHECK(j, r.u.i32 == 10, "fresh call gave %d", (int)r.u.i32);
	/* A guest fault poisons; reset brings back the state after init. */
	JOB_CODE(j, hl_call(j->sb, "NullDeref", NULL, 0, &r), HL_E_GUEST_FAULT);
	JOB_CODE(j, hl_sandbox_reset(j->sb), 0);
	JOB_CODE(j, hl_call(j->sb, "GetStatic", NULL, 0, &r), 0);
	JOB_CHECK(j, r.u.i32 == 0, "static is %d after reset", (int)r.u.i32);
	hl_snapshot_free(snap);
}

static void a_restricted_thread_snapshots_restores_and_resets(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	REQUIRE_SECCOMP();
	struct job j = {.body = snapshots_restores_and_resets};
	j.sb = hlt_open("simpleguest", NULL, NULL);
	run_restricted(&j);
	hl_sandbox_free(j.sb);
}

static int sig(void)
{
	return SIGRTMIN + 4;
}

static void times_out_and_recovers(struct job *j)
{
	hl_value r;
	JOB_CODE(j, hl_call(j->sb, "Spin", NULL, 0, &r), HL_E_CANCELLED);
	JOB_CODE(j, hl_sandbox_reset(j->sb), 0);
	JOB_CODE(j, hl_call(j->sb, "NoOp", NULL, 0, &r), 0);
}

static void a_call_on_a_restricted_thread_times_out(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	REQUIRE_SECCOMP();
	hl_config cfg = hlt_interruptible(sig(), 200);
	struct job j = {.body = times_out_and_recovers};
	j.sb = hlt_open("simpleguest", &cfg, NULL);
	run_restricted(&j);
	hl_sandbox_free(j.sb);
}

static void is_cancelled_from_outside(struct job *j)
{
	hl_value r;
	JOB_CODE(j, hl_call(j->sb, "Spin", NULL, 0, &r), HL_E_CANCELLED);
	JOB_CODE(j, hl_sandbox_reset(j->sb), 0);
}

static void a_call_on_a_restricted_thread_is_cancelled_by_another(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	REQUIRE_SECCOMP();
	hl_config cfg = hlt_interruptible(sig(), 0);
	struct job j = {.body = is_cancelled_from_outside};
	j.sb = hlt_open("simpleguest", &cfg, NULL);
	struct hlt_canceller c;
	hlt_canceller_start(&c, j.sb);
	run_restricted(&j);
	hlt_canceller_stop(&c);
	hl_sandbox_free(j.sb);
}

/* ---- what is refused ------------------------------------------------------------ */

static void forbidden_calls_fail_with_eperm(struct job *j)
{
	errno = 0;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	JOB_CHECK(j, fd < 0 && errno == EPERM, "open gave %d, errno %d", fd, errno);
	errno = 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	JOB_CHECK(j, fd < 0 && errno == EPERM, "socket gave %d, errno %d", fd, errno);
	char *const argv[] = {"/bin/true", NULL};
	errno = 0;
	int r = execve("/bin/true", argv, NULL);
	JOB_CHECK(j, r < 0 && errno == EPERM, "execve gave %d, errno %d", r, errno);
	errno = 0;
	void *x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	JOB_CHECK(j, x == MAP_FAILED && errno == EPERM, "mmap PROT_EXEC gave %p, errno %d", x,
	          errno);
	void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	JOB_CHECK(j, rw != MAP_FAILED, "mmap PROT_READ|PROT_WRITE failed, errno %d", errno);
	if (rw != MAP_FAILED) {
		errno = 0;
		r = mprotect(rw, 4096, PROT_READ | PROT_EXEC);
		JOB_CHECK(j, r < 0 && errno == EPERM, "mprotect PROT_EXEC gave %d, errno %d", r,
		          errno);
		munmap(rw, 4096);
	}
	struct termios tio;
	errno = 0;
	r = ioctl(0, TCGETS, &tio);
	JOB_CHECK(j, r < 0 && errno == EPERM, "a terminal ioctl gave %d, errno %d", r, errno);
	/* Making a sandbox needs /dev/kvm opened: refused, reported, no crash. */
	hl_sandbox *sb = NULL;
	JOB_CODE(j, hl_sandbox_new(NULL, &sb), 0);
	if (sb) {
		r = hl_sandbox_load_file(sb, hlt_guest("simpleguest"));
		JOB_CHECK(j, r == HL_E_IO, "load on a restricted thread gave %s: %s",
		          hl_strerror(r), hl_errmsg(sb));
		hl_sandbox_free(sb);
	}
}

static void forbidden_system_calls_are_refused(void **state)
{
	(void)state;
	REQUIRE_SECCOMP();
	struct job j = {.body = forbidden_calls_fail_with_eperm};
	run_restricted(&j);
	/* Only that thread was restricted. */
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
}

static void kill_mode_kills_the_process_with_sigsys(void **state)
{
	(void)state;
	REQUIRE_SECCOMP();
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (hl_seccomp_restrict_thread(HL_SECCOMP_KILL) != 0)
			_exit(2);
		socket(AF_UNIX, SOCK_STREAM, 0);
		_exit(3); /* not reached: the socket call kills the process */
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFSIGNALED(st))
		fail_msg("the child exited with %d instead of dying of SIGSYS",
		         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void unknown_flags_are_invalid(void **state)
{
	(void)state;
	assert_int_equal(hl_seccomp_restrict_thread(0x80u), HL_E_INVAL);
	assert_int_equal(hl_seccomp_restrict_thread(~0u), HL_E_INVAL);
	assert_non_null(strstr(hl_strerror(HL_E_UNSUPPORTED), "HL_E_UNSUPPORTED"));
	/* Without libseccomp the function exists and says so (with it,
	 * restricting this thread would restrict the rest of the tests). */
	if (!hl_seccomp_supported())
		assert_int_equal(hl_seccomp_restrict_thread(0), HL_E_UNSUPPORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_restricted_thread_calls_the_guest_and_the_host),
		cmocka_unit_test(the_default_print_sink_writes_on_a_restricted_thread),
		cmocka_unit_test(a_restricted_thread_snapshots_restores_and_resets),
		cmocka_unit_test(a_call_on_a_restricted_thread_times_out),
		cmocka_unit_test(a_call_on_a_restricted_thread_is_cancelled_by_another),
		cmocka_unit_test(forbidden_system_calls_are_refused),
		cmocka_unit_test(kill_mode_kills_the_process_with_sigsys),
		cmocka_unit_test(unknown_flags_are_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
