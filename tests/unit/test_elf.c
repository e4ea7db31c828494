/* test_elf.c - unit tests of the guest ELF loader; `--write-seeds DIR` writes the fuzz seeds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "elf_builder.h"
#include "host/elf.h"
#include "hyperlight/hyperlight.h"

#define PIE_BASE 0x200000u
#define MAX_SPAN (16u << 20)

/*
 * The loader gets a heap copy of exactly len bytes, so that AddressSanitizer
 * reports any read past the end of the file.
 */
static uint8_t *exact_copy(const void *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	memcpy(p, data, len);
	return p;
}

static int parse_span(const struct eb *b, size_t len, uint64_t max_span, struct hl_elf_image *img,
                      char *err, size_t errlen)
{
	uint8_t *p = exact_copy(b->buf, len);
	int rc = hl__elf_parse(p, len, PIE_BASE, max_span, img, err, errlen);
	free(p);
	return rc;
}

static int parse(const struct eb *b, struct hl_elf_image *img, char *err, size_t errlen)
{
	return parse_span(b, b->len, MAX_SPAN, img, err, errlen);
}

/* Parses b expecting `code` and a message containing `word`. */
static void expect_span(const struct eb *b, uint64_t max_span, int code, const char *word)
{
	struct hl_elf_image img;
	char err[512];
	int rc = parse_span(b, b->len, max_span, &img, err, sizeof err);
	if (rc != code || strstr(err, word) == NULL)
		print_error("expected %d with \"%s\", got %d: \"%s\"\n", code, word, rc, err);
	assert_int_equal(rc, code);
	assert_non_null(strstr(err, word));
	assert_int_equal(img.nsegs, 0); /* *out is cleared on failure */
}

static void expect(const struct eb *b, int code, const char *word)
{
	expect_span(b, MAX_SPAN, code, word);
}

static void parse_ok(const struct eb *b, struct hl_elf_image *img)
{
	char err[512];
	int rc = parse(b, img, err, sizeof err);
	if (rc != 0)
		print_error("parse failed: %d \"%s\"\n", rc, err);
	assert_int_equal(rc, 0);
}

/* Builds a valid image into *b and parses it. */
static struct hl_elf_image parse_built(struct eb *b, void (*build)(struct eb *))
{
	struct hl_elf_image img;
	build(b);
	parse_ok(b, &img);
	return img;
}

/* Loads img from b into `size` bytes of memory at img->lo, prefilled with
 * 0xaa, expecting HL_E_ELF with `word` in the message and the byte at guest
 * address `at` left as it was: a refused load writes nothing. */
static void load_refused(const struct eb *b, const struct hl_elf_image *img, uint64_t size,
                         const char *word, uint64_t at)
{
	char err[512];
	uint8_t *mem = malloc(size);
	assert_non_null(mem);
	memset(mem, 0xaa, size);
	assert_int_equal(hl__elf_load(img, b->buf, b->len, mem, img->lo, size, err, sizeof err),
	                 HL_E_ELF);
	assert_non_null(strstr(err, word));
	assert_int_equal(mem[at - img->lo], 0xaa);
	free(mem);
}

/* Loads img into a fresh buffer exactly covering [lo, hi), prefilled with 0xaa. */
static uint8_t *load_ok(const struct eb *b, const struct hl_elf_image *img)
{
	char err[512];
	uint8_t *data = exact_copy(b->buf, b->len);
	uint8_t *mem = malloc(img->hi - img->lo);
	assert_non_null(mem);
	memset(mem, 0xaa, img->hi - img->lo);
	int rc = hl__elf_load(img, data, b->len, mem, img->lo, img->hi - img->lo, err, sizeof err);
	if (rc != 0)
		print_error("load failed: %d \"%s\"\n", rc, err);
	assert_int_equal(rc, 0);
	free(data);
	return mem;
}

static uint64_t read64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static void set_phdr_field(struct eb *b, unsigned i, size_t field_off, uint64_t v)
{
	Elf64_Phdr p = eb_phdr(b, i);
	memcpy((uint8_t *)&p + field_off, &v, sizeof v);
	eb_set_phdr(b, i, &p);
}
#define SET_PHDR(b, i, field, v) set_phdr_field(b, i, offsetof(Elf64_Phdr, field), v)

/* ---- Valid images -------------------------------------------------------- */

static void valid_exec_parses(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img = parse_built(&b, eb_exec);
	assert_false(img.pie);
	assert_int_equal(img.bias, 0);
	assert_int_equal(img.entry, EB_EXEC_TEXT_VADDR);
	assert_int_equal(img.lo, 0x401000);
	assert_int_equal(img.hi, 0x403000);
	assert_int_equal(img.abi_version, HL_ABI_VERSION);
	assert_int_equal(img.nsegs, 2);
	assert_int_equal(img.segs[0].vaddr, EB_EXEC_TEXT_VADDR);
	assert_int_equal(img.segs[0].flags, PF_R | PF_X);
	assert_int_equal(img.segs[0].offset, EB_EXEC_TEXT_OFF);
	assert_int_equal(img.segs[1].vaddr, EB_EXEC_DATA_VADDR);
	assert_int_equal(img.segs[1].flags, PF_R | PF_W);
	assert_int_equal(img.segs[1].filesz, EB_DATA_SIZE);
	assert_int_equal(img.segs[1].memsz, EB_EXEC_DATA_MEMSZ);
	assert_int_equal(img.rela_off, 0);
	assert_int_equal(img.rela_count, 0);
}

static void valid_exec_loads_bytes_and_zeroes_bss(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img = parse_built(&b, eb_exec);
	uint8_t *mem = load_ok(&b, &img);
	uint64_t span = img.hi - img.lo;

	assert_memory_equal(mem + (EB_EXEC_TEXT_VADDR - img.lo), b.buf + EB_EXEC_TEXT_OFF,
	                    EB_TEXT_SIZE);
	assert_memory_equal(mem + (EB_EXEC_DATA_VADDR - img.lo), b.buf + EB_EXEC_DATA_OFF,
	                    EB_DATA_SIZE);
	/* Everything else in the span is zero: bss, and the page ends around each segment. */
	for (uint64_t a = img.lo; a < img.lo + span; a++) {
		bool text = a >= EB_EXEC_TEXT_VADDR && a < EB_EXEC_TEXT_VADDR + EB_TEXT_SIZE;
		bool data = a >= EB_EXEC_DATA_VADDR && a < EB_EXEC_DATA_VADDR + EB_DATA_SIZE;
		if (!text && !data && mem[a - img.lo] != 0)
			fail_msg("byte at 0x%llx is 0x%02x, expected 0", (unsigned long long)a,
			         mem[a - img.lo]);
	}
	free(mem);
}

static void load_places_image_relative_to_mem_base(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img = parse_built(&b, eb_exec);
	char err[512];
	/* Memory starts two pages below the image and ends two pages above it. */
	uint64_t base = img.lo - 0x2000, size = img.hi - base + 0x2000;
	uint8_t *mem = malloc(size);
	assert_non_null(mem);
	memset(mem, 0xaa, size);
	assert_int_equal(hl__elf_load(&img, b.buf, b.len, mem, base, size, err, sizeof err), 0);
	assert_memory_equal(mem + (EB_EXEC_TEXT_VADDR - base), b.buf + EB_EXEC_TEXT_OFF,
	                    EB_TEXT_SIZE);
	/* Outside [lo, hi) nothing is written. */
	assert_int_equal(mem[0], 0xaa);
	assert_int_equal(mem[img.lo - base - 1], 0xaa);
	assert_int_equal(mem[img.hi - base], 0xaa);
	assert_int_equal(mem[size - 1], 0xaa);
	free(mem);
}

static void load_rejects_memory_too_small(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img = parse_built(&b, eb_exec);
	load_refused(&b, &img, img.hi - img.lo - 1, "does not fit", EB_EXEC_TEXT_VADDR);
}

static void load_rejects_img_not_matching_file(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img = parse_built(&b, eb_exec);
	img.segs[1].filesz = b.len; /* reaches past the end of the file */
	img.segs[1].memsz = b.len;
	load_refused(&b, &img, img.hi - img.lo, "segment 1 of img does not match the file",
	             EB_EXEC_TEXT_VADDR);
}

static void load_checks_relocations_before_writing(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img = parse_built(&b, eb_pie);
	/* The caller broke the contract: the file changed between parse and load. */
	eb_pie_set_rela(&b, 1, EB_PIE_TEXT_VADDR, R_X86_64_RELATIVE, 0);
	load_refused(&b, &img, img.hi - img.lo, "relocation 1: target", img.entry);
}

static void valid_pie_parses_at_pie_base(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img = parse_built(&b, eb_pie);
	assert_true(img.pie);
	assert_int_equal(img.bias, PIE_BASE);
	assert_int_equal(img.lo, PIE_BASE);
	assert_int_equal(img.hi, PIE_BASE + 0x3000);
	assert_int_equal(img.entry, PIE_BASE + EB_PIE_TEXT_VADDR);
	assert_int_equal(img.nsegs, 3);
	assert_int_equal(img.segs[0].vaddr, PIE_BASE + EB_PIE_RELA_VADDR);
	assert_int_equal(img.segs[1].vaddr, PIE_BASE + EB_PIE_TEXT_VADDR);
	assert_int_equal(img.segs[2].vaddr, PIE_BASE + EB_PIE_DATA_VADDR);
	assert_int_equal(img.rela_off, EB_PIE_RELA_VADDR);
	assert_int_equal(img.rela_count, 2);
}

static void valid_pie_loads_with_relocations_patched(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img = parse_built(&b, eb_pie);
	uint8_t *mem = load_ok(&b, &img);
	assert_int_equal(read64(mem + (img.bias + EB_PIE_SLOT0 - img.lo)),
	                 PIE_BASE + EB_PIE_ADDEND0);
	assert_int_equal(read64(mem + (img.bias + EB_PIE_SLOT1 - img.lo)),
	                 PIE_BASE + EB_PIE_ADDEND1);
	assert_memory_equal(mem + (img.entry - img.lo), b.buf + eb_phdr(&b, 1).p_offset,
	                    EB_TEXT_SIZE);
	free(mem);
}

static void pie_with_none_relocation_loads(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img;
	eb_pie(&b);
	eb_pie_set_rela(&b, 1, 0, R_X86_64_NONE, 0);
	parse_ok(&b, &img);
	uint8_t *mem = load_ok(&b, &img);
	assert_int_equal(read64(mem + (img.bias + EB_PIE_SLOT0 - img.lo)),
	                 PIE_BASE + EB_PIE_ADDEND0);
	assert_int_equal(read64(mem + (img.bias + EB_PIE_SLOT1 - img.lo)), 0);
	free(mem);
}

static void foreign_notes_are_skipped(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img = parse_built(&b, eb_exec_notes);
	assert_int_equal(img.abi_version, HL_ABI_VERSION);
}

static void empty_load_segments_are_skipped(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img;
	eb_exec(&b);
	/* Make the data segment empty: it is not a segment at all then. */
	SET_PHDR(&b, 1, p_filesz, 0);
	SET_PHDR(&b, 1, p_memsz, 0);
	parse_ok(&b, &img);
	assert_int_equal(img.nsegs, 1);
	assert_int_equal(img.hi, 0x402000);
}

static void segments_sharing_a_page_are_accepted(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img;
	eb_exec(&b);
	/* Data right after text in the same page: pages overlap, bytes do not. */
	SET_PHDR(&b, 1, p_vaddr, 0x401000 + EB_EXEC_DATA_OFF);
	parse_ok(&b, &img);
	assert_int_equal(img.hi, 0x402000);
	uint8_t *mem = load_ok(&b, &img);
	assert_memory_equal(mem + EB_EXEC_DATA_OFF, b.buf + EB_EXEC_DATA_OFF, EB_DATA_SIZE);
	free(mem);
}

/* ---- Damaged images, refused ------------------------------------------------ */

/*
 * One way to damage a valid image and the error it must get. The image is
 * built by `build` (eb_exec or eb_pie) and changed by `edit` with `index`,
 * `field` and `value` (what they mean is the editor's); parsing must then
 * fail with `code` and a message containing `word`, with the span limit
 * `max_span`. Each row runs as a test of its own, named
 * after the behaviour (main).
 */
struct damage {
	const char *name;
	void (*build)(struct eb *);
	void (*edit)(struct eb *b, unsigned index, size_t field, uint64_t value);
	unsigned index;
	size_t field;
	uint64_t value;
	int code;
	const char *word;
	uint64_t max_span;
};

static void damage_is_refused(void **state)
{
	const struct damage *d = *state;
	struct eb b;
	d->build(&b);
	d->edit(&b, d->index, d->field, d->value);
	expect_span(&b, d->max_span, d->code, d->word);
}

/* The editors. The file is cut to `value` bytes. */
static void set_len(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)index, (void)field;
	b->len = (size_t)value;
}

/* Byte `index` of the file. */
static void set_byte(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)field;
	b->buf[index] = (uint8_t)value;
}

/* The ELF header's field at offset `field`, `index` bytes wide (EHDR). */
static void set_ehdr(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	Elf64_Ehdr h = eb_ehdr(b);
	memcpy((uint8_t *)&h + field, &value, index);
	eb_set_ehdr(b, &h);
}
#define EHDR(f) sizeof(((Elf64_Ehdr *)0)->f), offsetof(Elf64_Ehdr, f)

/* Program header `index`'s field at offset `field` (PHDR). */
static void set_phdr(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	set_phdr_field(b, index, field, value);
}
#define PHDR(i, f) (i), offsetof(Elf64_Phdr, f)

static void set_entry(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)index, (void)field;
	eb_set_entry(b, value);
}

/* The field at offset `field` of the note header of the exec image's
 * Hyperlight note (program header 2). */
static void set_note(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)index;
	uint32_t v = (uint32_t)value;
	memcpy(b->buf + eb_phdr(b, 2).p_offset + field, &v, sizeof v);
}

/* PIE relocation `index`: its target `field` and its type `value`. */
static void set_rela(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	eb_pie_set_rela(b, index, field, (uint32_t)value, 0);
}

/* PIE dynamic entry `index`: its tag `field` and its value. */
static void set_dyn(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	eb_pie_set_dyn(b, index, (int64_t)field, value);
}

/* Data starts on the last byte of text (same page offset as its file offset). */
static void overlap_segments(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)index, (void)field, (void)value;
	SET_PHDR(b, 1, p_align, 1);
	SET_PHDR(b, 1, p_vaddr, EB_EXEC_TEXT_VADDR + EB_TEXT_SIZE - 1);
}

/* Text in page 0, at the same page offset, and the entry with it. */
static void text_at_zero(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)index, (void)field, (void)value;
	SET_PHDR(b, 0, p_vaddr, EB_EXEC_TEXT_OFF);
	eb_set_entry(b, EB_EXEC_TEXT_OFF);
}

static void no_load_segment(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)index, (void)field, (void)value;
	SET_PHDR(b, 0, p_type, PT_NULL);
	SET_PHDR(b, 1, p_type, PT_GNU_STACK);
}

/* The PT_NOTE ends inside the note's descriptor. */
static void truncate_note(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)index, (void)field, (void)value;
	SET_PHDR(b, 2, p_filesz, eb_phdr(b, 2).p_filesz - 6);
}

/* The PT_DYNAMIC starts at the end of the file. */
static void dynamic_at_end(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)index, (void)field, (void)value;
	SET_PHDR(b, 3, p_offset, b->len);
}

/* The RELAENT slot and the terminator repurposed: DT_JMPREL + DT_PLTRELSZ, no DT_NULL. */
static void plt_relocations(struct eb *b, unsigned index, size_t field, uint64_t value)
{
	(void)index, (void)field, (void)value;
	eb_pie_set_dyn(b, 2, DT_JMPREL, EB_PIE_RELA_VADDR);
	eb_pie_set_dyn(b, 3, DT_PLTRELSZ, 24);
}

/* clang-format off */
static const struct damage damages[] = {
	/* the ELF header */
	{"truncated_header_is_rejected", eb_exec, set_len, 0, 0, sizeof(Elf64_Ehdr) - 1, HL_E_ELF, "truncated", MAX_SPAN},
	{"bad_magic_is_rejected", eb_exec, set_byte, EI_MAG1, 0, 'X', HL_E_ELF, "magic", MAX_SPAN},
	{"class32_is_rejected", eb_exec, set_byte, EI_CLASS, 0, ELFCLASS32, HL_E_ELF, "64-bit", MAX_SPAN},
	{"big_endian_is_rejected", eb_exec, set_byte, EI_DATA, 0, ELFDATA2MSB, HL_E_ELF, "little-endian", MAX_SPAN},
	{"wrong_version_field_is_rejected", eb_exec, set_byte, EI_VERSION, 0, 2, HL_E_ELF, "EV_CURRENT", MAX_SPAN},
	{"wrong_machine_is_rejected", eb_exec, set_ehdr, EHDR(e_machine), EM_AARCH64, HL_E_ELF, "e_machine 183", MAX_SPAN},
	{"et_rel_is_rejected", eb_exec, set_ehdr, EHDR(e_type), ET_REL, HL_E_ELF, "e_type 1 (ET_REL", MAX_SPAN},
	{"wrong_phentsize_is_rejected", eb_exec, set_ehdr, EHDR(e_phentsize), sizeof(Elf32_Phdr), HL_E_ELF, "e_phentsize 32", MAX_SPAN},
	{"phnum_zero_is_rejected", eb_exec, set_ehdr, EHDR(e_phnum), 0, HL_E_ELF, "e_phnum 0", MAX_SPAN},
	{"phnum_above_64_is_rejected", eb_exec, set_ehdr, EHDR(e_phnum), 65, HL_E_ELF, "e_phnum 65", MAX_SPAN},
	/* the program headers */
	{"filesz_above_memsz_is_rejected", eb_exec, set_phdr, PHDR(0, p_memsz), EB_TEXT_SIZE - 1, HL_E_ELF, "segment 0: p_filesz (0x20) > p_memsz (0x1f)", MAX_SPAN},
	{"segment_beyond_file_is_rejected", eb_exec, set_phdr, PHDR(1, p_filesz), 0x80, HL_E_ELF, "segment 1: p_offset+p_filesz (0x1c0) beyond end of file (0x170)", MAX_SPAN},
	{"overflowing_offset_plus_filesz_is_rejected", eb_exec, set_phdr, PHDR(1, p_offset), UINT64_MAX - 4, HL_E_ELF, "segment 1: p_offset (0xfffffffffffffffb) + p_filesz (0x10) overflows", MAX_SPAN},
	{"overflowing_vaddr_plus_memsz_is_rejected", eb_exec, set_phdr, PHDR(1, p_vaddr), UINT64_MAX - 0x40, HL_E_ELF, "segment 1: p_vaddr (0xffffffffffffffbf) + p_memsz (0x100) overflows", MAX_SPAN},
	{"overlapping_segments_are_rejected", eb_exec, overlap_segments, 0, 0, 0, HL_E_ELF, "segments 0 and 1 overlap", MAX_SPAN},
	{"misaligned_offset_and_vaddr_are_rejected", eb_exec, set_phdr, PHDR(1, p_vaddr), EB_EXEC_DATA_VADDR + 8, HL_E_ELF, "segment 1: p_offset (0x140) and p_vaddr (0x402148) differ modulo", MAX_SPAN},
	{"segment_at_address_zero_is_rejected", eb_exec, text_at_zero, 0, 0, 0, HL_E_ELF, "null page", UINT64_MAX},
	{"segment_above_4gib_is_rejected", eb_exec, set_phdr, PHDR(1, p_vaddr), 0x100000000ull + EB_EXEC_DATA_OFF, HL_E_ELF, "4 GiB", UINT64_MAX},
	{"span_above_limit_is_rejected", eb_exec, set_phdr, PHDR(1, p_memsz), MAX_SPAN, HL_E_ELF, "span 0x1002000", MAX_SPAN},
	{"entry_in_non_exec_segment_is_rejected", eb_exec, set_entry, 0, 0, EB_EXEC_DATA_VADDR, HL_E_ELF, "e_entry 0x402140 is in segment 1, which is not executable", MAX_SPAN},
	{"entry_outside_segments_is_rejected", eb_exec, set_entry, 0, 0, EB_EXEC_TEXT_VADDR + EB_TEXT_SIZE, HL_E_ELF, "e_entry 0x401120 is outside every PT_LOAD", MAX_SPAN},
	{"no_load_segment_is_rejected", eb_exec, no_load_segment, 0, 0, 0, HL_E_ELF, "no PT_LOAD", MAX_SPAN},
	{"interp_is_rejected", eb_exec, set_phdr, PHDR(2, p_type), PT_INTERP, HL_E_ELF, "dynamically linked (PT_INTERP): guests must be static", MAX_SPAN},
	/* the Hyperlight note */
	{"missing_note_is_a_version_error", eb_exec, set_phdr, PHDR(2, p_type), PT_NULL, HL_E_VERSION, "no Hyperlight ABI note: not a guest built with libhyperlight_guest", MAX_SPAN},
	{"foreign_note_type_is_not_the_abi_note", eb_exec, set_note, 0, offsetof(Elf64_Nhdr, n_type), NT_GNU_BUILD_ID, HL_E_VERSION, "no Hyperlight ABI note", MAX_SPAN},
	{"truncated_note_is_rejected", eb_exec, truncate_note, 0, 0, 0, HL_E_ELF, "segment 2: note at 0x0 truncated", MAX_SPAN},
	{"short_note_descriptor_is_rejected", eb_exec, set_note, 0, offsetof(Elf64_Nhdr, n_descsz), 4, HL_E_ELF, "Hyperlight ABI note truncated: n_descsz 4", MAX_SPAN},
	{"note_beyond_file_is_rejected", eb_exec, set_phdr, PHDR(2, p_filesz), 0x1000, HL_E_ELF, "segment 2: PT_NOTE", MAX_SPAN},
	/* PIE relocations */
	{"unsupported_relocation_type_is_rejected", eb_pie, set_rela, 1, EB_PIE_SLOT1, R_X86_64_64, HL_E_ELF, "relocation 1: type 1 (R_X86_64_64) unsupported", MAX_SPAN},
	{"relocation_target_outside_writable_segment_is_rejected", eb_pie, set_rela, 0, EB_PIE_TEXT_VADDR, R_X86_64_RELATIVE, HL_E_ELF, "relocation 0: target 0x11c0 is not 8 bytes inside a writable", MAX_SPAN},
	{"relocation_straddling_segment_end_is_rejected", eb_pie, set_rela, 1, EB_PIE_DATA_VADDR + EB_PIE_DATA_MEMSZ - 4, R_X86_64_RELATIVE, HL_E_ELF, "relocation 1: target 0x23fc", MAX_SPAN},
	{"rel_relocations_are_rejected", eb_pie, set_dyn, 3, DT_RELSZ, 16, HL_E_ELF, "DT_RELSZ 0x10", MAX_SPAN},
	{"plt_relocations_are_rejected", eb_pie, plt_relocations, 0, 0, 0, HL_E_ELF, "DT_JMPREL", MAX_SPAN},
	{"wrong_relaent_is_rejected", eb_pie, set_dyn, 2, DT_RELAENT, 16, HL_E_ELF, "DT_RELAENT 16, expected 24", MAX_SPAN},
	{"rela_table_outside_file_backed_segment_is_rejected", eb_pie, set_dyn, 0, DT_RELA, EB_PIE_SLOT1, HL_E_ELF, "DT_RELA 0x2300", MAX_SPAN},
	{"dynamic_beyond_file_is_rejected", eb_pie, dynamic_at_end, 0, 0, 0, HL_E_ELF, "segment 3: PT_DYNAMIC", MAX_SPAN},
};
/* clang-format on */

/* ---- Damage a row cannot say -------------------------------------------------- */

static void phoff_beyond_file_is_rejected(void **state)
{
	(void)state;
	struct eb b;
	eb_exec(&b);
	Elf64_Ehdr h = eb_ehdr(&b);
	h.e_phoff = b.len - sizeof(Elf64_Phdr); /* the table's tail hangs off the end */
	eb_set_ehdr(&b, &h);
	expect(&b, HL_E_ELF, "e_phoff");
	h.e_phoff = UINT64_MAX - 8; /* and an offset that would wrap around */
	eb_set_ehdr(&b, &h);
	expect(&b, HL_E_ELF, "e_phoff");
}

static void pie_placed_above_4gib_is_rejected(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img;
	char err[512];
	eb_pie(&b);
	assert_int_equal(hl__elf_parse(b.buf, b.len, 0xfffff000ull, MAX_SPAN, &img, err, sizeof err),
	                 HL_E_ELF);
	assert_non_null(strstr(err, "4 GiB"));
}

static void too_many_load_segments_are_rejected(void **state)
{
	(void)state;
	struct eb b;
	uint8_t text[EB_TEXT_SIZE];
	size_t nsz = 0;
	eb_text(text);
	eb_begin(&b, ET_EXEC, HL_ELF_MAX_SEGMENTS + 2);
	size_t t = eb_put(&b, text, sizeof text, 0x10);
	size_t n = eb_hl_note(&b, HL_ABI_VERSION, &nsz);
	for (unsigned i = 0; i <= HL_ELF_MAX_SEGMENTS; i++)
		eb_seg(&b, i, PT_LOAD, PF_R | PF_X, t, 0x400000 + 0x1000 * i + t, sizeof text,
		       sizeof text, 0x1000);
	eb_seg(&b, HL_ELF_MAX_SEGMENTS + 1, PT_NOTE, PF_R, n, 0, nsz, nsz, 4);
	eb_set_entry(&b, 0x400000 + t);
	expect(&b, HL_E_ELF, "segment 16: more than 16 PT_LOAD");
}

static void wrong_note_version_is_a_version_error(void **state)
{
	(void)state;
	struct eb b;
	char want[128];
	eb_exec_version(&b, HL_ABI_VERSION + 1);
	snprintf(want, sizeof want,
	         "guest ABI version %u (its Hyperlight note), host ABI version %u",
	         HL_ABI_VERSION + 1, HL_ABI_VERSION);
	expect(&b, HL_E_VERSION, want);
}

/* ---- The API's own arguments --------------------------------------------- */

static void misaligned_pie_base_is_invalid(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img;
	char err[512];
	eb_pie(&b);
	assert_int_equal(hl__elf_parse(b.buf, b.len, PIE_BASE + 1, MAX_SPAN, &img, err, sizeof err),
	                 HL_E_INVAL);
	assert_non_null(strstr(err, "pie_base"));
}

static void null_and_tiny_err_buffers_are_fine(void **state)
{
	(void)state;
	struct eb b;
	struct hl_elf_image img;
	char err[4] = "xyz";
	eb_exec(&b);
	b.buf[0] = 0;
	assert_int_equal(hl__elf_parse(b.buf, b.len, PIE_BASE, MAX_SPAN, &img, NULL, 0), HL_E_ELF);
	assert_int_equal(hl__elf_parse(b.buf, b.len, PIE_BASE, MAX_SPAN, &img, err, sizeof err),
	                 HL_E_ELF);
	assert_string_equal(err, "ELF");
}

/* ---- Sweeps over damaged images ------------------------------------------ */

static void truncation_sweep(void (*build)(struct eb *))
{
	struct eb b;
	struct hl_elf_image img;
	char err[512];
	build(&b);
	for (size_t n = 0; n < b.len; n++) {
		int rc = parse_span(&b, n, MAX_SPAN, &img, err, sizeof err);
		if (rc == 0)
			fail_msg("prefix of %zu bytes (of %zu) was accepted", n, b.len);
		assert_true(rc == HL_E_ELF || rc == HL_E_VERSION);
		assert_true(strncmp(err, "ELF: ", 5) == 0);
	}
}

static void every_prefix_of_exec_is_rejected(void **state)
{
	(void)state;
	truncation_sweep(eb_exec);
}

static void every_prefix_of_pie_is_rejected(void **state)
{
	(void)state;
	truncation_sweep(eb_pie);
}

/* Parses the damaged image and, if it is accepted, loads it into an exact buffer. */
static int parse_and_load(const struct eb *b)
{
	struct hl_elf_image img;
	char err[512];
	uint8_t *data = exact_copy(b->buf, b->len);
	int rc = hl__elf_parse(data, b->len, PIE_BASE, MAX_SPAN, &img, err, sizeof err);
	if (rc == 0) {
		uint8_t *mem = malloc(img.hi - img.lo);
		assert_non_null(mem);
		rc = hl__elf_load(&img, data, b->len, mem, img.lo, img.hi - img.lo, err, sizeof err);
		if (rc != 0)
			fail_msg("load of an accepted image failed: %s", err);
		free(mem);
	} else {
		assert_true(rc == HL_E_ELF || rc == HL_E_VERSION);
	}
	free(data);
	return rc;
}

static void flip_sweep(void (*build)(struct eb *))
{
	static const uint8_t xors[] = {0x01, 0x02, 0x10, 0x80, 0xff};
	struct eb b;
	build(&b);
	/* Headers, notes, dynamic section, relocations: every byte of these small images. */
	for (size_t i = 0; i < b.len; i++) {
		for (size_t k = 0; k < sizeof xors; k++) {
			b.buf[i] ^= xors[k];
			parse_and_load(&b);
			b.buf[i] ^= xors[k];
		}
	}
}

static void flipped_bytes_of_exec_never_crash(void **state)
{
	(void)state;
	flip_sweep(eb_exec);
}

static void flipped_bytes_of_pie_never_crash(void **state)
{
	(void)state;
	flip_sweep(eb_pie);
}

/* ---- Fuzz seeds ---------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const struct eb *b)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(b->buf, 1, b->len, f) != b->len) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return 1;
	}
	return fclose(f) != 0;
}

static int write_seeds(const char *dir)
{
	struct eb b;
	int bad = 0;
	eb_exec(&b);
	bad |= write_file(dir, "exec.elf", &b);
	eb_pie(&b);
	bad |= write_file(dir, "pie.elf", &b);
	eb_exec_notes(&b);
	bad |= write_file(dir, "notes.elf", &b);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return write_seeds(argv[2]);

	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(valid_exec_parses),
		cmocka_unit_test(valid_exec_loads_bytes_and_zeroes_bss),
		cmocka_unit_test(load_places_image_relative_to_mem_base),
		cmocka_unit_test(load_rejects_memory_too_small),
		cmocka_unit_test(load_rejects_img_not_matching_file),
		cmocka_unit_test(load_checks_relocations_before_writing),
		cmocka_unit_test(valid_pie_parses_at_pie_base),
		cmocka_unit_test(valid_pie_loads_with_relocations_patched),
		cmocka_unit_test(pie_with_none_relocation_loads),
		cmocka_unit_test(foreign_notes_are_skipped),
		cmocka_unit_test(empty_load_segments_are_skipped),
		cmocka_unit_test(segments_sharing_a_page_are_accepted),
		cmocka_unit_test(phoff_beyond_file_is_rejected),
		cmocka_unit_test(pie_placed_above_4gib_is_rejected),
		cmocka_unit_test(too_many_load_segments_are_rejected),
		cmocka_unit_test(wrong_note_version_is_a_version_error),
		cmocka_unit_test(misaligned_pie_base_is_invalid),
		cmocka_unit_test(null_and_tiny_err_buffers_are_fine),
		cmocka_unit_test(every_prefix_of_exec_is_rejected),
		cmocka_unit_test(every_prefix_of_pie_is_rejected),
		cmocka_unit_test(flipped_bytes_of_exec_never_crash),
		cmocka_unit_test(flipped_bytes_of_pie_never_crash),
	};
	/* The tests above, then one per row of damages[]. */
	enum {
		NFIXED = sizeof fixed / sizeof fixed[0],
		NDAMAGES = sizeof damages / sizeof damages[0]
	};
	struct CMUnitTest tests[NFIXED + NDAMAGES];
	memcpy(tests, fixed, sizeof fixed);
	for (size_t i = 0; i < NDAMAGES; i++)
		tests[NFIXED + i] = (struct CMUnitTest){.name = damages[i].name,
		                                        .test_func = damage_is_refused,
		                                        .initial_state = (void *)&damages[i]};
	return cmocka_run_group_tests_name("elf", tests, NULL, NULL);
}
