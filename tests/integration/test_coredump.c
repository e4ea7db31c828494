/* test_coredump.c - guest crash dumps: written only when enabled, named in the
 * message, and opened by gdb at the faulting function. */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Number of entries in dir other than . and .. */
static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Every test's fixture: a fresh empty directory for the cores, removed
 * afterwards, which a test may also work in (enter_scratch). */
struct scratch {
	char dir[64];
	char cwd[4096]; /* where to go back to, when entered */
};

static int make_scratch(void **state)
{
	struct scratch *s = calloc(1, sizeof *s);
	assert_non_null(s);
	snprintf(s->dir, sizeof s->dir, "/tmp/hl-core-XXXXXX");
	if (!mkdtemp(s->dir))
		fail_msg("mkdtemp failed");
	*state = s;
	return 0;
}

static void enter_scratch(struct scratch *s)
{
	assert_non_null(getcwd(s->cwd, sizeof s->cwd));
	assert_int_equal(chdir(s->dir), 0);
}

static int remove_scratch(void **state)
{
	struct scratch *s = *state;
	char cmd[512];
	if (s->cwd[0] && chdir(s->cwd) != 0)
		fprintf(stderr, "could not go back to %s\n", s->cwd);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", s->dir);
	free(s);
	return 0;
}

/* The core path named in the message ("core written to PATH"), or fails. */
static void core_path_from_msg(hl_sandbox *sb, char *out, size_t len)
{
	const char *m = strstr(hl_errmsg(sb), "core written to ");
	if (!m)
		fail_msg("message does not name a core file: %s", hl_errmsg(sb));
	snprintf(out, len, "%s", m + strlen("core written to "));
}

/* Skips the test without KVM or without gdb. */
static void require_kvm_and_gdb(void)
{
	HLT_REQUIRE_KVM();
	if (system("command -v gdb >/dev/null 2>&1") != 0)
		skip();
}

/* Runs gdb in batch mode on guest + core with `cmds` and returns its output
 * (static buffer). */
static const char *gdb_on_core(const char *core, const char *cmds)
{
	static char out[65536];
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "gdb -batch -nx %s '%s' '%s' 2>&1", cmds,
	         hlt_guest("simpleguest"), core);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

/* Calls fn in simpleguest with dumps enabled by the environment and
 * returns the core's path in path. */
static void crash_with_env(const char *fn, const char *dir, char *path, size_t len)
{
	setenv("HYPERLIGHT_CORE_DIR", dir, 1);
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, fn, NULL, 0, NULL), HL_E_GUEST_FAULT);
	unsetenv("HYPERLIGHT_CORE_DIR");
	core_path_from_msg(sb, path, len);
	hl_sandbox_free(sb);
	if (strncmp(path, dir, strlen(dir)) != 0 || !strstr(path, "/hyperlight-") ||
	    strcmp(path + strlen(path) - 5, ".core") != 0)
		fail_msg("core path '%s' is not dir/hyperlight-...core", path);
	assert_int_equal(access(path, R_OK), 0);
}

static void null_deref_core_shows_the_faulting_function(void **state)
{
	struct scratch *s = *state;
	char path[4096];
	require_kvm_and_gdb();
	crash_with_env("NullDeref", s->dir, path, sizeof path);
	assert_int_equal(count_files(s->dir), 1);
	const char *o = gdb_on_core(path,
	                            "-ex bt -ex 'info registers rip' -ex 'p/x $cs' -ex 'p/x $ss'");
	if (!strstr(o, "#0") || !strstr(o, "null_deref") || !strstr(o, "SIGSEGV"))
		fail_msg("gdb did not show null_deref at frame 0 with SIGSEGV:\n%s", o);
	/* The backtrace goes on past the faulting function into the runtime. */
	if (!strstr(o, "#1"))
		fail_msg("gdb shows no caller of null_deref:\n%s", o);
	/* The guest's own selectors (its GDT's code and data), on every
	 * hypervisor: kvm-pvm's exception frame holds selectors of its own. */
	if (!strstr(o, "$1 = 0x8\n") || !strstr(o, "$2 = 0x10\n"))
		fail_msg("the core does not show the guest's CS 0x8 and SS 0x10:\n%s", o);
}

static void divide_by_zero_core_is_sigfpe_in_divide_by_zero(void **state)
{
	struct scratch *s = *state;
	char path[4096];
	require_kvm_and_gdb();
	crash_with_env("DivideByZero", s->dir, path, sizeof path);
	const char *o = gdb_on_core(path, "-ex bt");
	if (!strstr(o, "divide_by_zero") || !strstr(o, "SIGFPE"))
		fail_msg("gdb did not show divide_by_zero with SIGFPE:\n%s", o);
}

static void core_holds_guest_memory(void **state)
{
	struct scratch *s = *state;
	char path[4096];
	require_kvm_and_gdb();
	/* AddToStatic changes a static variable; the core must hold its value. */
	setenv("HYPERLIGHT_CORE_DIR", s->dir, 1);
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	hl_value a = hl_i32(4242);
	hlt_call_ok(sb, "AddToStatic", &a, 1);
	HLT_ASSERT_CODE(sb, hl_call(sb, "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
	unsetenv("HYPERLIGHT_CORE_DIR");
	core_path_from_msg(sb, path, sizeof path);
	hl_sandbox_free(sb);
	const char *o = gdb_on_core(path, "-ex 'print (int)counter' -ex 'print $mxcsr'");
	if (!strstr(o, "= 4242"))
		fail_msg("the core does not show the guest's static counter = 4242:\n%s", o);
	/* NT_FPREGSET present, with the MXCSR the guest runtime loads at boot
	 * (0x1f80: every exception masked), which gdb shows as flags. kvm-pvm's
	 * KVM_GET_FPU reads it as 0; the backend must not. */
	if (!strstr(o, "$2 = [ IM DM ZM OM UM PM ]") || strstr(o, "unavailable"))
		fail_msg("the core has no SSE state, or not the guest's MXCSR 0x1f80:\n%s", o);
}

static void nothing_is_written_when_disabled(void **state)
{
	struct scratch *s = *state;
	HLT_REQUIRE_KVM();
	enter_scratch(s);
	unsetenv("HYPERLIGHT_CORE_DIR");
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
	if (strstr(hl_errmsg(sb), "core"))
		fail_msg("message mentions a core although dumps are off: %s", hl_errmsg(sb));
	hl_sandbox_free(sb);
	assert_int_equal(count_files(s->dir), 0);
}

static void config_flag_writes_into_the_current_directory(void **state)
{
	struct scratch *s = *state;
	HLT_REQUIRE_KVM();
	enter_scratch(s);
	unsetenv("HYPERLIGHT_CORE_DIR");
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.flags |= HL_CONFIG_CORE_DUMP;
	hl_sandbox *sb = hlt_open("simpleguest", &cfg, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, "AbortWithCode", (hl_value[]){hl_i32(7)}, 1, NULL),
	                HL_E_GUEST_ABORT);
	HLT_ASSERT_MSG(sb, "core written to ./hyperlight-");
	hl_sandbox_free(sb);
	assert_int_equal(count_files(s->dir), 1);
}

static void write_failure_keeps_the_error_code(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	setenv("HYPERLIGHT_CORE_DIR", "/nonexistent/hl-core-dir", 1);
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
	unsetenv("HYPERLIGHT_CORE_DIR");
	HLT_ASSERT_MSG(sb, "page fault");
	HLT_ASSERT_MSG(sb, "core not written: cannot create '/nonexistent/hl-core-dir/");
	hl_sandbox_free(sb);
}

static void core_dump_on_demand(void **state)
{
	struct scratch *s = *state;
	HLT_REQUIRE_KVM();
	char path[128];
	snprintf(path, sizeof path, "%s/now.core", s->dir);
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_sandbox_core_dump(sb, path), 0);
	HLT_ASSERT_CODE(sb, hl_sandbox_core_dump(sb, path), HL_E_IO); /* never overwritten */
	HLT_ASSERT_MSG(sb, "now.core");
	HLT_ASSERT_CODE(sb, hl_sandbox_core_dump(sb, NULL), HL_E_INVAL);
	assert_int_equal(hl_sandbox_core_dump(NULL, path), HL_E_INVAL);
	hl_sandbox_free(sb);

	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	Elf64_Ehdr eh;
	assert_int_equal(fread(&eh, sizeof eh, 1, f), 1);
	assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
	assert_int_equal(eh.e_type, ET_CORE);
	assert_int_equal(eh.e_machine, EM_X86_64);
	assert_true(eh.e_phnum >= 2);
	Elf64_Phdr ph;
	assert_int_equal(fseek(f, (long)eh.e_phoff, SEEK_SET), 0);
	assert_int_equal(fread(&ph, sizeof ph, 1, f), 1);
	assert_int_equal(ph.p_type, PT_NOTE);
	fclose(f);

	hl_sandbox *empty;
	assert_int_equal(hl_sandbox_new(NULL, &empty), 0);
	HLT_ASSERT_CODE(empty, hl_sandbox_core_dump(empty, path), HL_E_STATE);
	hl_sandbox_free(empty);
}

#define IN_SCRATCH(test) cmocka_unit_test_setup_teardown(test, make_scratch, remove_scratch)

int main(void)
{
	const struct CMUnitTest tests[] = {
		IN_SCRATCH(null_deref_core_shows_the_faulting_function),
		IN_SCRATCH(divide_by_zero_core_is_sigfpe_in_divide_by_zero),
		IN_SCRATCH(core_holds_guest_memory),
		IN_SCRATCH(nothing_is_written_when_disabled),
		IN_SCRATCH(config_flag_writes_into_the_current_directory),
		cmocka_unit_test(write_failure_keeps_the_error_code),
		IN_SCRATCH(core_dump_on_demand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
