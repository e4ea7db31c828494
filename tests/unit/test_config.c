/* test_config.c - configuration defaults and range checks (no KVM needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hyperlight/hyperlight.h"

static void defaults_match_the_documentation(void **state)
{
	(void)state;
	hl_config c;
	hl_config_init(&c);
	assert_int_equal(c.size, sizeof c);
	assert_int_equal(c.heap_size, 128 * 1024);
	assert_int_equal(c.stack_size, 64 * 1024);
	assert_int_equal(c.input_size, 16 * 1024);
	assert_int_equal(c.output_size, 16 * 1024);
	assert_int_equal(c.max_log_level, HL_LOG_WARN);
	assert_int_equal(c.flags, 0);
}

/* Loading any image with a bad config fails on the config, before the ELF. */
static void expect_config_error(hl_config *c, const char *field)
{
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(c, &sb), 0);
	static const char junk[64] = "not an elf";
	int r = hl_sandbox_load_image(sb, junk, sizeof junk);
	assert_int_equal(r, HL_E_CONFIG);
	if (!strstr(hl_errmsg(sb), field))
		fail_msg("message '%s' does not name %s", hl_errmsg(sb), field);
	hl_sandbox_free(sb);
}

#define RANGE_TEST(name, field, bad)             \
	static void name(void **state)           \
	{                                        \
		(void)state;                     \
		hl_config c;                     \
		hl_config_init(&c);              \
		c.field = (bad);                 \
		expect_config_error(&c, #field); \
	}

RANGE_TEST(heap_too_small, heap_size, 1024)
RANGE_TEST(heap_too_large, heap_size, 1ull << 40)
RANGE_TEST(stack_too_small, stack_size, 4096)
RANGE_TEST(stack_too_large, stack_size, 1ull << 32)
RANGE_TEST(input_too_small, input_size, 100)
RANGE_TEST(input_too_large, input_size, 1ull << 30)
RANGE_TEST(output_too_small, output_size, 0)
RANGE_TEST(output_too_large, output_size, UINT64_MAX)
RANGE_TEST(log_level_unknown, max_log_level, 9)
RANGE_TEST(unknown_flags, flags, 0x80)

static void good_config_reaches_the_elf_check(void **state)
{
	(void)state;
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(NULL, &sb), 0);
	static const char junk[64] = "not an elf";
	assert_int_equal(hl_sandbox_load_image(sb, junk, sizeof junk), HL_E_ELF);
	hl_sandbox_free(sb);
}

static void wrong_config_size_is_rejected(void **state)
{
	(void)state;
	hl_config c;
	hl_config_init(&c);
	c.size = sizeof c + 8;
	hl_sandbox *sb;
	assert_int_equal(hl_sandbox_new(&c, &sb), HL_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_match_the_documentation),
		cmocka_unit_test(heap_too_small),
		cmocka_unit_test(heap_too_large),
		cmocka_unit_test(stack_too_small),
		cmocka_unit_test(stack_too_large),
		cmocka_unit_test(input_too_small),
		cmocka_unit_test(input_too_large),
		cmocka_unit_test(output_too_small),
		cmocka_unit_test(output_too_large),
		cmocka_unit_test(log_level_unknown),
		cmocka_unit_test(unknown_flags),
		cmocka_unit_test(good_config_reaches_the_elf_check),
		cmocka_unit_test(wrong_config_size_is_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
