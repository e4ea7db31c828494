/* test_faults.c - every guest failure is a clear error, poisons, and reset recovers. */
#include <stdio.h>
#include <string.h>

#include "common.h"

/*
 * A guest function that fails, and how: calling `fn` with its arguments in
 * simpleguest must return `code`, leave a fault of `kind` (and `vector`,
 * unless -1) and a message containing `word`, and poison the sandbox; a
 * reset then makes it work again. Each row runs as a test of its own,
 * named after the behaviour (main).
 */
struct failure {
	const char *name;
	const char *fn;
	hl_value args[2];
	size_t nargs;
	int code;
	enum hl_fault_kind kind;
	int vector;
	const char *word;
};

/* clang-format off */
#define I32(v) {.type = HL_TYPE_I32, .u.i32 = (v)}
#define STR(s) {.type = HL_TYPE_STRING, .u.str = {(s), sizeof(s) - 1}}

static const struct failure failures[] = {
	{"divide_error", "DivideByZero", {{0}}, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 0, "divide error"},
	{"invalid_opcode", "InvalidOpcode", {{0}}, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 6, "invalid opcode"},
	{"general_protection", "GeneralProtection", {{0}}, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 13, "general protection"},
	{"breakpoint", "Breakpoint", {{0}}, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 3, "breakpoint"},
	/* 1000 KiB of frames in a 64 KiB stack */
	{"stack_overflow_hits_the_guard_page", "StackOverflow", {I32(1000)}, 1, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 14, "stack overflow"},
	{"infinite_recursion_hits_the_guard_page", "InfiniteRecursion", {{0}}, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 14, "stack overflow"},
	{"triple_fault_is_reported", "TripleFault", {{0}}, 0, HL_E_GUEST_FAULT, HL_FAULT_SHUTDOWN, -1, "triple fault"},
	{"unknown_port_is_a_protocol_error", "UnknownPort", {{0}}, 0, HL_E_GUEST_PROTOCOL, HL_FAULT_UNKNOWN_PORT, 0x1234, "unknown port 0x1234"},
	{"abort_with_code", "AbortWithCode", {I32(42)}, 1, HL_E_GUEST_ABORT, HL_FAULT_ABORT, -1, "code 42"},
	{"abort_with_message", "AbortWithMessage", {I32(3), STR("the guest gave up")}, 2, HL_E_GUEST_ABORT, HL_FAULT_ABORT, -1, "the guest gave up"},
	{"libc_abort_is_a_guest_abort", "CallLibcAbort", {{0}}, 0, HL_E_GUEST_ABORT, HL_FAULT_ABORT, -1, "signal 6"},
	{"exit_is_a_guest_abort", "ExitWith", {I32(9)}, 1, HL_E_GUEST_ABORT, HL_FAULT_ABORT, -1, "status 9"},
};
/* clang-format on */

static void failure_is_reported(void **state)
{
	const struct failure *t = *state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, t->fn, t->args, t->nargs, NULL), t->code);
	HLT_ASSERT_MSG(sb, t->word);
	hl_fault f;
	assert_int_equal(hl_sandbox_last_fault(sb, &f), 0);
	if (f.kind != t->kind)
		fail_msg("%s: fault kind %d, expected %d (%s)", t->fn, f.kind, t->kind,
		         hl_errmsg(sb));
	if (t->vector >= 0)
		assert_int_equal(f.vector, t->vector);
	assert_true(hl_sandbox_poisoned(sb));
	HLT_ASSERT_CODE(sb, hl_call(sb, "NoOp", NULL, 0, NULL), HL_E_POISONED);
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	assert_false(hl_sandbox_poisoned(sb));
	hl_value s = hl_string("after reset", 11);
	hl_value r = hlt_call_ok(sb, "Echo", &s, 1);
	assert_string_equal(r.u.str.ptr, "after reset");
	hl_sandbox_free(sb);
}

static void null_dereference_is_a_page_fault_at_zero(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	HLT_ASSERT_CODE(sb, hl_call(sb, "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
	HLT_ASSERT_MSG(sb, "page fault");
	HLT_ASSERT_MSG(sb, "NULL");
	hl_fault f;
	hl_sandbox_last_fault(sb, &f);
	assert_int_equal(f.kind, HL_FAULT_EXCEPTION);
	assert_int_equal(f.vector, 14);
	assert_true(f.addr < 4096);
	assert_true(f.rip != 0);
	assert_int_equal(f.error_code & 1, 0); /* not present */
}

static void write_to_code_is_a_protection_fault(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	HLT_ASSERT_CODE(sb, hl_call(sb, "WriteToCode", NULL, 0, NULL), HL_E_GUEST_FAULT);
	hl_fault f;
	hl_sandbox_last_fault(sb, &f);
	assert_int_equal(f.vector, 14);
	assert_int_equal(f.error_code & 3, 3); /* present, write */
	HLT_ASSERT_MSG(sb, "write");
	HLT_ASSERT_MSG(sb, "guest image");
}

static void execute_data_is_an_instruction_fetch_fault(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	HLT_ASSERT_CODE(sb, hl_call(sb, "ExecuteData", NULL, 0, NULL), HL_E_GUEST_FAULT);
	hl_fault f;
	hl_sandbox_last_fault(sb, &f);
	assert_int_equal(f.vector, 14);
	assert_int_equal(f.error_code & 0x11, 0x11); /* present, instruction fetch */
	HLT_ASSERT_MSG(sb, "instruction fetch");
}

static void access_outside_memory_is_reported(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	HLT_ASSERT_CODE(sb, hl_call(sb, "OutsideMemory", NULL, 0, NULL), HL_E_GUEST_FAULT);
	hl_fault f;
	hl_sandbox_last_fault(sb, &f);
	assert_int_equal(f.kind, HL_FAULT_MMIO);
	assert_true(f.addr == 0x3FE00000ull);
	HLT_ASSERT_MSG(sb, "outside guest memory");
	assert_int_equal(hl_sandbox_reset(sb), 0);
	hlt_call_ok(sb, "NoOp", NULL, 0);
}

/* Every layout, not only the default one: heap sizes a page apart move
 * the page tables and the exception stacks by a page each (on kvm-pvm a
 * PML4 at an odd page once turned every exception into a triple fault). */
static void exceptions_are_reported_whatever_the_layout(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	for (uint64_t heap = 128; heap <= 140; heap += 4) {
		hl_config cfg;
		hl_config_init(&cfg);
		cfg.heap_size = heap * 1024;
		hl_sandbox *sb = hlt_open("simpleguest", &cfg, NULL);
		HLT_ASSERT_CODE(sb, hl_call(sb, "DivideByZero", NULL, 0, NULL), HL_E_GUEST_FAULT);
		hl_fault f;
		assert_int_equal(hl_sandbox_last_fault(sb, &f), 0);
		if (f.kind != HL_FAULT_EXCEPTION || f.vector != 0)
			fail_msg("heap %llu KiB: fault kind %d vector %u, expected #DE: %s",
			         (unsigned long long)heap, f.kind, f.vector, hl_errmsg(sb));
		hl_sandbox_free(sb);
	}
}

static void process_survives_every_fault_and_runs_other_sandboxes(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	const char *faults[] = {"NullDeref",         "DivideByZero",      "InvalidOpcode",
	                        "GeneralProtection", "Breakpoint",        "WriteToCode",
	                        "ExecuteData",       "InfiniteRecursion", "TripleFault",
	                        "OutsideMemory",     "UnknownPort",       "CallLibcAbort"};
	hl_sandbox *other = hlt_open("simpleguest", NULL, NULL);
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
		int r = hl_call(sb, faults[i], NULL, 0, NULL);
		if (r >= 0 || r == HL_E_POISONED)
			fail_msg("%s returned %d", faults[i], r);
		hl_sandbox_free(sb);
		hl_value a = hl_i32((int32_t)i);
		assert_int_equal(hlt_call_ok(other, "EchoI32", &a, 1).u.i32, (int32_t)i);
	}
	hl_sandbox_free(other);
}

static void reset_after_fault_twice_in_a_row(void **state)
{
	hl_sandbox *sb = hlt_sandbox(state);
	for (int i = 0; i < 5; i++) {
		HLT_ASSERT_CODE(sb, hl_call(sb, "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
		HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
		hl_value a = hl_i32(i);
		assert_int_equal(hlt_call_ok(sb, "AddToStatic", &a, 1).u.i32, i);
	}
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		HLT_SIMPLEGUEST_TEST(null_dereference_is_a_page_fault_at_zero),
		HLT_SIMPLEGUEST_TEST(write_to_code_is_a_protection_fault),
		HLT_SIMPLEGUEST_TEST(execute_data_is_an_instruction_fetch_fault),
		cmocka_unit_test(exceptions_are_reported_whatever_the_layout),
		HLT_SIMPLEGUEST_TEST(access_outside_memory_is_reported),
		cmocka_unit_test(process_survives_every_fault_and_runs_other_sandboxes),
		HLT_SIMPLEGUEST_TEST(reset_after_fault_twice_in_a_row),
	};
	/* The tests above, then one per row of failures[]. */
	enum { NFIXED = sizeof fixed / sizeof fixed[0] };
	enum { NFAILURES = sizeof failures / sizeof failures[0] };
	struct CMUnitTest tests[NFIXED + NFAILURES];
	memcpy(tests, fixed, sizeof fixed);
	for (size_t i = 0; i < NFAILURES; i++)
		tests[NFIXED + i] = (struct CMUnitTest){.name = failures[i].name,
		                                        .test_func = failure_is_reported,
		                                        .initial_state = (void *)&failures[i]};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
