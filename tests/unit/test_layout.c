/* test_layout.c - memory layout and page-table permissions (no KVM needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <cmocka.h>

#include "host/elf.h"
#include "host/internal.h"

#define PAGE 4096ull

struct fixture {
	hl_sandbox *sb;
	struct hl__layout l;
	struct hl_elf_image img;
	uint8_t *mem;
};

/* A 3-segment image at 0x400000: text (R+X), rodata (R), data (RW), with
 * page tables for a backend that asks for nothing (VMX/SVM) or, in the
 * _pvm fixture, for what kvm-pvm asks (user pages, two entry pages). */
static int setup_with(void **state, const struct hl_backend_info *bk)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_int_equal(hl_sandbox_new(NULL, &f->sb), 0);
	f->img.nsegs = 3;
	f->img.segs[0] =
		(struct hl_elf_segment){.vaddr = 0x400000, .memsz = 0x1800, .flags = PF_R | PF_X};
	f->img.segs[1] = (struct hl_elf_segment){.vaddr = 0x402000, .memsz = 0x1000, .flags = PF_R};
	f->img.segs[2] =
		(struct hl_elf_segment){.vaddr = 0x403000, .memsz = 0x2100, .flags = PF_R | PF_W};
	f->img.lo = 0x400000;
	f->img.hi = 0x406000;
	f->img.entry = 0x400010;
	assert_int_equal(hl__layout_compute(f->sb, f->img.lo, f->img.hi, f->img.entry, &f->l), 0);
	f->mem = calloc(1, f->l.mem_size);
	hl__layout_page_tables(&f->l, &f->img, bk, f->mem);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	static const struct hl_backend_info plain = {.name = "test"};
	return setup_with(state, &plain);
}

static int setup_pvm(void **state)
{
	static const struct hl_backend_info pvm = {.name = "test-pvm",
	                                           .user_pages = true,
	                                           .code_va = 0x1000,
	                                           .data_va = 0x2000};
	return setup_with(state, &pvm);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->mem);
	hl_sandbox_free(f->sb);
	free(f);
	return 0;
}

/* Walks the tables like the MMU: returns the leaf entry or 0 if unmapped;
 * *all_user (if given) says whether U/S was set at every level. */
static uint64_t walk_us(struct fixture *f, uint64_t va, bool *all_user)
{
	uint64_t t = f->l.pt;
	if (all_user)
		*all_user = true;
	for (int shift = 39; shift >= 12; shift -= 9) {
		if (t < f->l.mem_base || t + PAGE > f->l.mem_base + f->l.mem_size)
			fail_msg("table at 0x%llx outside memory", (unsigned long long)t);
		uint64_t e;
		memcpy(&e, f->mem + (t - f->l.mem_base) + ((va >> shift) & 511) * 8, 8);
		if (!(e & 1))
			return 0;
		if (all_user && !(e & 4))
			*all_user = false;
		if (shift == 12)
			return e;
		t = e & 0x000ffffffffff000ull;
	}
	return 0;
}

static uint64_t walk(struct fixture *f, uint64_t va)
{
	return walk_us(f, va, NULL);
}

#define P 1ull
#define RW 2ull
#define NX (1ull << 63)

static void regions_are_ordered_and_page_aligned(void **state)
{
	struct fixture *f = *state;
	struct hl__layout *l = &f->l;
	assert_true(l->mem_base == 0x400000);
	uint64_t seq[] = {l->image_lo, l->boot_info,
	                  l->input,    l->output,
	                  l->heap,     l->stack_guard,
	                  l->stack,    l->ist,
	                  l->pt,       l->mem_base + l->mem_size};
	for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
		assert_int_equal(seq[i] % PAGE, 0);
		if (i)
			assert_true(seq[i] > seq[i - 1]);
	}
	assert_true(l->heap_size == 128 * 1024 && l->stack_size == 64 * 1024);
}

static void text_is_executable_and_read_only(void **state)
{
	struct fixture *f = *state;
	uint64_t e = walk(f, 0x400000);
	assert_true(e & P);
	assert_false(e & RW);
	assert_false(e & NX);
	assert_true((e & 0x000ffffffffff000ull) == 0x400000); /* identity */
}

static void rodata_is_read_only_and_not_executable(void **state)
{
	struct fixture *f = *state;
	uint64_t e = walk(f, 0x402000);
	assert_true(e & P);
	assert_false(e & RW);
	assert_true(e & NX);
}

static void data_is_writable_and_not_executable(void **state)
{
	struct fixture *f = *state;
	for (uint64_t va = 0x403000; va < 0x406000; va += PAGE) {
		uint64_t e = walk(f, va);
		assert_true((e & (P | RW)) == (P | RW));
		assert_true(e & NX);
	}
}

static void null_page_and_guards_are_unmapped(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(walk(f, 0), 0);
	assert_int_equal(walk(f, f->l.stack_guard), 0);
	for (unsigned k = 0; k < HL_IST_COUNT; k++)
		assert_int_equal(walk(f, f->l.ist + k * (PAGE + HL_IST_SIZE)), 0);
	/* the guest cannot reach its own page tables */
	for (uint64_t a = f->l.pt; a < f->l.pt + f->l.pt_size; a += PAGE)
		assert_int_equal(walk(f, a), 0);
}

static void buffers_heap_and_stack_are_rw_nx(void **state)
{
	struct fixture *f = *state;
	uint64_t starts[] = {f->l.input,
	                     f->l.output,
	                     f->l.heap,
	                     f->l.stack,
	                     f->l.stack + f->l.stack_size - PAGE,
	                     f->l.ist + PAGE};
	for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
		uint64_t e = walk(f, starts[i]);
		assert_true((e & (P | RW)) == (P | RW));
		assert_true(e & NX);
	}
	uint64_t bi = walk(f, f->l.boot_info);
	assert_true(bi & P);
	assert_false(bi & RW);
}

static void nothing_beyond_memory_is_mapped(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(walk(f, f->l.mem_base + f->l.mem_size), 0);
	assert_int_equal(walk(f, 0x3ff000), 0);
}

static void image_above_4g_is_rejected(void **state)
{
	struct fixture *f = *state;
	struct hl__layout l;
	assert_int_equal(hl__layout_compute(f->sb, 0x100000000ull, 0x100010000ull, 0x100000000ull,
	                                    &l),
	                 HL_E_ELF);
}

static void page_tables_start_on_an_8k_boundary(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(f->l.pt % (2 * PAGE), 0);
	/* and stay so whatever the heap: a page more moves everything else */
	for (uint64_t heap = 128; heap <= 140; heap += 4) {
		hl_config cfg;
		hl_config_init(&cfg);
		cfg.heap_size = heap * 1024;
		hl_sandbox *sb;
		assert_int_equal(hl_sandbox_new(&cfg, &sb), 0);
		struct hl__layout l;
		assert_int_equal(hl__layout_compute(sb, f->img.lo, f->img.hi, f->img.entry, &l), 0);
		assert_int_equal(l.pt % (2 * PAGE), 0);
		hl_sandbox_free(sb);
	}
}

static void user_bit_only_where_the_backend_asks(void **state)
{
	struct fixture *f = *state;
	bool user;
	assert_true(walk_us(f, 0x400000, &user) & P);
	assert_false(user);
}

static void pvm_every_page_is_user_at_every_level(void **state)
{
	struct fixture *f = *state;
	uint64_t vas[] = {0x400000,  0x402000,   0x403000,        f->l.boot_info, f->l.input,
	                  f->l.heap, f->l.stack, f->l.ist + PAGE, 0x1000,         0x2000};
	for (size_t i = 0; i < sizeof vas / sizeof vas[0]; i++) {
		bool user;
		assert_true(walk_us(f, vas[i], &user) & P);
		assert_true(user);
	}
}

static void pvm_entry_pages_are_rx_and_rw_and_page_zero_stays_unmapped(void **state)
{
	struct fixture *f = *state;
	uint64_t code = walk(f, 0x1000), data = walk(f, 0x2000);
	assert_true(code & P);
	assert_false(code & (RW | NX));
	assert_true((data & (P | RW | NX)) == (P | RW | NX));
	assert_int_equal(walk(f, 0), 0);
	assert_int_equal(walk(f, 0x3000), 0);
	assert_int_equal(walk(f, f->l.stack_guard), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(regions_are_ordered_and_page_aligned, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(text_is_executable_and_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(rodata_is_read_only_and_not_executable, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(data_is_writable_and_not_executable, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(null_page_and_guards_are_unmapped, setup, teardown),
		cmocka_unit_test_setup_teardown(buffers_heap_and_stack_are_rw_nx, setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_beyond_memory_is_mapped, setup, teardown),
		cmocka_unit_test_setup_teardown(image_above_4g_is_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(page_tables_start_on_an_8k_boundary, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(user_bit_only_where_the_backend_asks, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(pvm_every_page_is_user_at_every_level, setup_pvm,
	                                        teardown),
		cmocka_unit_test_setup_teardown(pvm_entry_pages_are_rx_and_rw_and_page_zero_stays_unmapped,
	                                        setup_pvm, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
