/* test_faults.c - every guest failure is a clear error, poisons, and reset recovers. */
#include <stdio.h>
#include <string.h>

#include "common.h"

/* Runs `fn` in a fresh simpleguest and checks the error code, the fault
 * kind/vector and a word of the message; then checks poisoning, reset, and
 * that the same sandbox works again. */
static void expect_failure(const char *fn, const hl_value *args, size_t n, int code,
                           enum hl_fault_kind kind, int vector, const char *word)
{
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, fn, args, n, NULL), code);
	HLT_ASSERT_MSG(sb, word);
	hl_fault f;
	assert_int_equal(hl_sandbox_last_fault(sb, &f), 0);
	if (f.kind != kind)
		fail_msg("%s: fault kind %d, expected %d (%s)", fn, f.kind, kind, hl_errmsg(sb));
	if (vector >= 0)
		assert_int_equal(f.vector, vector);
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
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
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
	hl_sandbox_free(sb);
}

static void divide_error(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	expect_failure("DivideByZero", NULL, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 0, "divide error");
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

static void invalid_opcode(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	expect_failure("InvalidOpcode", NULL, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 6, "invalid opcode");
}

static void general_protection(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	expect_failure("GeneralProtection", NULL, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 13,
	               "general protection");
}

static void breakpoint(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	expect_failure("Breakpoint", NULL, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 3, "breakpoint");
}

static void write_to_code_is_a_protection_fault(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, "WriteToCode", NULL, 0, NULL), HL_E_GUEST_FAULT);
	hl_fault f;
	hl_sandbox_last_fault(sb, &f);
	assert_int_equal(f.vector, 14);
	assert_int_equal(f.error_code & 3, 3); /* present, write */
	HLT_ASSERT_MSG(sb, "write");
	HLT_ASSERT_MSG(sb, "guest image");
	hl_sandbox_free(sb);
}

static void execute_data_is_an_instruction_fetch_fault(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, "ExecuteData", NULL, 0, NULL), HL_E_GUEST_FAULT);
	hl_fault f;
	hl_sandbox_last_fault(sb, &f);
	assert_int_equal(f.vector, 14);
	assert_int_equal(f.error_code & 0x11, 0x11); /* present, instruction fetch */
	HLT_ASSERT_MSG(sb, "instruction fetch");
	hl_sandbox_free(sb);
}

static void stack_overflow_hits_the_guard_page(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_value a = hl_i32(1000); /* 1000 KiB of frames in a 64 KiB stack */
	expect_failure("StackOverflow", &a, 1, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 14,
	               "stack overflow");
}

static void infinite_recursion_hits_the_guard_page(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	expect_failure("InfiniteRecursion", NULL, 0, HL_E_GUEST_FAULT, HL_FAULT_EXCEPTION, 14,
	               "stack overflow");
}

static void triple_fault_is_reported(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	expect_failure("TripleFault", NULL, 0, HL_E_GUEST_FAULT, HL_FAULT_SHUTDOWN, -1, "triple fault");
}

static void access_outside_memory_is_reported(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	HLT_ASSERT_CODE(sb, hl_call(sb, "OutsideMemory", NULL, 0, NULL), HL_E_GUEST_FAULT);
	hl_fault f;
	hl_sandbox_last_fault(sb, &f);
	assert_int_equal(f.kind, HL_FAULT_MMIO);
	assert_true(f.addr == 0x3FE00000ull);
	HLT_ASSERT_MSG(sb, "outside guest memory");
	assert_int_equal(hl_sandbox_reset(sb), 0);
	hlt_call_ok(sb, "NoOp", NULL, 0);
	hl_sandbox_free(sb);
}

static void unknown_port_is_a_protocol_error(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	expect_failure("UnknownPort", NULL, 0, HL_E_GUEST_PROTOCOL, HL_FAULT_UNKNOWN_PORT, 0x1234,
	               "unknown port 0x1234");
}

static void abort_with_code(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_value a = hl_i32(42);
	expect_failure("AbortWithCode", &a, 1, HL_E_GUEST_ABORT, HL_FAULT_ABORT, -1, "code 42");
}

static void abort_with_message(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_value a[2] = {hl_i32(3), hl_string("the guest gave up", 17)};
	expect_failure("AbortWithMessage", a, 2, HL_E_GUEST_ABORT, HL_FAULT_ABORT, -1,
	               "the guest gave up");
}

static void libc_abort_is_a_guest_abort(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	expect_failure("CallLibcAbort", NULL, 0, HL_E_GUEST_ABORT, HL_FAULT_ABORT, -1, "signal 6");
}

static void exit_is_a_guest_abort(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_value a = hl_i32(9);
	expect_failure("ExitWith", &a, 1, HL_E_GUEST_ABORT, HL_FAULT_ABORT, -1, "status 9");
}

static void process_survives_every_fault_and_runs_other_sandboxes(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	const char *faults[] = {"NullDeref", "DivideByZero", "InvalidOpcode", "GeneralProtection",
	                        "Breakpoint", "WriteToCode", "ExecuteData", "InfiniteRecursion",
	                        "TripleFault", "OutsideMemory", "UnknownPort", "CallLibcAbort"};
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
	(void)state;
	HLT_REQUIRE_KVM();
	hl_sandbox *sb = hlt_open("simpleguest", NULL, NULL);
	for (int i = 0; i < 5; i++) {
		HLT_ASSERT_CODE(sb, hl_call(sb, "NullDeref", NULL, 0, NULL), HL_E_GUEST_FAULT);
		HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
		hl_value a = hl_i32(i);
		assert_int_equal(hlt_call_ok(sb, "AddToStatic", &a, 1).u.i32, i);
	}
	hl_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(null_dereference_is_a_page_fault_at_zero),
		cmocka_unit_test(divide_error),
		cmocka_unit_test(invalid_opcode),
		cmocka_unit_test(general_protection),
		cmocka_unit_test(breakpoint),
		cmocka_unit_test(write_to_code_is_a_protection_fault),
		cmocka_unit_test(execute_data_is_an_instruction_fetch_fault),
		cmocka_unit_test(exceptions_are_reported_whatever_the_layout),
		cmocka_unit_test(stack_overflow_hits_the_guard_page),
		cmocka_unit_test(infinite_recursion_hits_the_guard_page),
		cmocka_unit_test(triple_fault_is_reported),
		cmocka_unit_test(access_outside_memory_is_reported),
		cmocka_unit_test(unknown_port_is_a_protocol_error),
		cmocka_unit_test(abort_with_code),
		cmocka_unit_test(abort_with_message),
		cmocka_unit_test(libc_abort_is_a_guest_abort),
		cmocka_unit_test(exit_is_a_guest_abort),
		cmocka_unit_test(process_survives_every_fault_and_runs_other_sandboxes),
		cmocka_unit_test(reset_after_fault_twice_in_a_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
