/* elf_builder.h - crafts small guest ELF images in memory for the loader's tests and fuzz seeds. */
#ifndef HL_TEST_ELF_BUILDER_H
#define HL_TEST_ELF_BUILDER_H

#include <elf.h>
#include <stdint.h>
#include <string.h>

#include "hyperlight/abi.h"

/*
 * An image is built front to back: the ELF header, a program header table
 * right after it (e_phoff 64), then contents appended with eb_put. Tests
 * start from one of the valid images below and break one field through
 * eb_ehdr/eb_set_ehdr and eb_phdr/eb_set_phdr.
 */
#define EB_CAP 8192u

struct eb {
	uint8_t buf[EB_CAP];
	size_t len;
};

/* Where the pieces of the valid images are, as linked (before any load bias). */
#define EB_EXEC_TEXT_OFF 0x100u
#define EB_EXEC_TEXT_VADDR 0x401100u
#define EB_EXEC_DATA_OFF 0x140u
#define EB_EXEC_DATA_VADDR 0x402140u
#define EB_EXEC_DATA_MEMSZ 0x100u
#define EB_TEXT_SIZE 32u
#define EB_DATA_SIZE 16u

#define EB_PIE_RELA_VADDR 0x160u
#define EB_PIE_TEXT_VADDR 0x11c0u
#define EB_PIE_DATA_VADDR 0x2200u
#define EB_PIE_DATA_MEMSZ 0x200u
#define EB_PIE_SLOT0 0x2240u /* relocated: file-backed data */
#define EB_PIE_SLOT1 0x2300u /* relocated: in bss */
#define EB_PIE_ADDEND0 EB_PIE_TEXT_VADDR
#define EB_PIE_ADDEND1 (EB_PIE_DATA_VADDR + 0x10u)

static inline Elf64_Ehdr eb_ehdr(const struct eb *b)
{
	Elf64_Ehdr h;
	memcpy(&h, b->buf, sizeof h);
	return h;
}

static inline void eb_set_ehdr(struct eb *b, const Elf64_Ehdr *h)
{
	memcpy(b->buf, h, sizeof *h);
}

static inline Elf64_Phdr eb_phdr(const struct eb *b, unsigned i)
{
	Elf64_Phdr p;
	memcpy(&p, b->buf + sizeof(Elf64_Ehdr) + i * sizeof p, sizeof p);
	return p;
}

static inline void eb_set_phdr(struct eb *b, unsigned i, const Elf64_Phdr *p)
{
	memcpy(b->buf + sizeof(Elf64_Ehdr) + i * sizeof *p, p, sizeof *p);
}

/* Starts an image of e_type with room for nph program headers (all PT_NULL). */
static inline void eb_begin(struct eb *b, uint16_t type, unsigned nph)
{
	memset(b, 0, sizeof *b);
	Elf64_Ehdr h = {
		.e_type = type,
		.e_machine = EM_X86_64,
		.e_version = EV_CURRENT,
		.e_phoff = sizeof(Elf64_Ehdr),
		.e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = (uint16_t)nph,
	};
	memcpy(h.e_ident, ELFMAG, SELFMAG);
	h.e_ident[EI_CLASS] = ELFCLASS64;
	h.e_ident[EI_DATA] = ELFDATA2LSB;
	h.e_ident[EI_VERSION] = EV_CURRENT;
	eb_set_ehdr(b, &h);
	b->len = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
}

/* Appends n bytes (zeros if data is NULL) at the next multiple of align; returns their offset. */
static inline size_t eb_put(struct eb *b, const void *data, size_t n, size_t align)
{
	size_t off = (b->len + align - 1) / align * align;
	if (data != NULL)
		memcpy(b->buf + off, data, n);
	b->len = off + n;
	return off;
}

static inline void eb_set_entry(struct eb *b, uint64_t entry)
{
	Elf64_Ehdr h = eb_ehdr(b);
	h.e_entry = entry;
	eb_set_ehdr(b, &h);
}

static inline void eb_seg(struct eb *b, unsigned i, uint32_t type, uint32_t flags, uint64_t off,
                          uint64_t vaddr, uint64_t filesz, uint64_t memsz, uint64_t align)
{
	Elf64_Phdr p = {
		.p_type = type,
		.p_flags = flags,
		.p_offset = off,
		.p_vaddr = vaddr,
		.p_paddr = vaddr,
		.p_filesz = filesz,
		.p_memsz = memsz,
		.p_align = align,
	};
	eb_set_phdr(b, i, &p);
}

/* Appends one note, 4-byte aligned; returns its offset and adds its size to *size. */
static inline size_t eb_note(struct eb *b, const char *name, uint32_t namesz, uint32_t type,
                             const void *desc, uint32_t descsz, size_t *size)
{
	Elf64_Nhdr h = {.n_namesz = namesz, .n_descsz = descsz, .n_type = type};
	size_t off = eb_put(b, &h, sizeof h, 4);
	eb_put(b, name, namesz, 1);
	eb_put(b, desc, descsz, 4);
	eb_put(b, NULL, 0, 4);
	*size += b->len - off;
	return off;
}

static inline size_t eb_hl_note(struct eb *b, uint32_t version, size_t *size)
{
	struct hl_note_abi d = {.abi_version = version, .flags = 0};
	return eb_note(b, HL_NOTE_NAME, sizeof(HL_NOTE_NAME), HL_NOTE_TYPE_ABI, &d, sizeof d, size);
}

static inline void eb_text(uint8_t *t)
{
	/* nop; hlt, repeated: harmless code that the tests recognise by its bytes. */
	for (unsigned i = 0; i < EB_TEXT_SIZE; i++)
		t[i] = (i % 2 == 0) ? 0x90 : 0xf4;
}

/*
 * A minimal static executable: [0] text R+X, [1] data R+W with bss,
 * [2] PT_NOTE holding the Hyperlight note of `version`, last in the file.
 */
static inline void eb_exec_version(struct eb *b, uint32_t version)
{
	uint8_t text[EB_TEXT_SIZE], data[EB_DATA_SIZE];
	size_t nsz = 0;
	eb_text(text);
	for (unsigned i = 0; i < EB_DATA_SIZE; i++)
		data[i] = (uint8_t)(0x11 + i);
	eb_begin(b, ET_EXEC, 3);
	size_t t = eb_put(b, text, sizeof text, 0x100);
	size_t d = eb_put(b, data, sizeof data, 0x40);
	size_t n = eb_hl_note(b, version, &nsz);
	eb_seg(b, 0, PT_LOAD, PF_R | PF_X, t, 0x401000u + t, sizeof text, sizeof text, 0x1000);
	eb_seg(b, 1, PT_LOAD, PF_R | PF_W, d, 0x402000u + d, sizeof data, EB_EXEC_DATA_MEMSZ,
	       0x1000);
	eb_seg(b, 2, PT_NOTE, PF_R, n, 0, nsz, nsz, 4);
	eb_set_entry(b, EB_EXEC_TEXT_VADDR);
}

static inline void eb_exec(struct eb *b)
{
	eb_exec_version(b, HL_ABI_VERSION);
}

/* The valid executable with a GNU build-id note before the Hyperlight note. */
static inline void eb_exec_notes(struct eb *b)
{
	uint8_t text[EB_TEXT_SIZE], id[20];
	size_t nsz = 0;
	eb_text(text);
	for (unsigned i = 0; i < sizeof id; i++)
		id[i] = (uint8_t)(0xa0 + i);
	eb_begin(b, ET_EXEC, 2);
	size_t t = eb_put(b, text, sizeof text, 0x100);
	size_t n = eb_note(b, "GNU", 4, NT_GNU_BUILD_ID, id, sizeof id, &nsz);
	eb_hl_note(b, HL_ABI_VERSION, &nsz);
	eb_seg(b, 0, PT_LOAD, PF_R | PF_X, t, 0x401000u + t, sizeof text, sizeof text, 0x1000);
	eb_seg(b, 1, PT_NOTE, PF_R, n, 0, nsz, nsz, 4);
	eb_set_entry(b, EB_EXEC_TEXT_VADDR);
}

/*
 * A minimal static PIE linked at 0: [0] R holding the RELA table, [1] text
 * R+X, [2] data R+W holding the dynamic section and bss, [3] PT_DYNAMIC,
 * [4] PT_NOTE last in the file. Two R_X86_64_RELATIVE relocations: one into
 * the file-backed data, one into bss.
 */
static inline void eb_pie(struct eb *b)
{
	uint8_t text[EB_TEXT_SIZE], data[0x50];
	Elf64_Rela rela[2] = {
		{.r_offset = EB_PIE_SLOT0,
	         .r_info = ELF64_R_INFO(0, R_X86_64_RELATIVE),
	         .r_addend = EB_PIE_ADDEND0},
		{.r_offset = EB_PIE_SLOT1,
	         .r_info = ELF64_R_INFO(0, R_X86_64_RELATIVE),
	         .r_addend = EB_PIE_ADDEND1},
	};
	Elf64_Dyn dyn[4] = {
		{.d_tag = DT_RELA, .d_un.d_ptr = EB_PIE_RELA_VADDR},
		{.d_tag = DT_RELASZ, .d_un.d_val = sizeof rela},
		{.d_tag = DT_RELAENT, .d_un.d_val = sizeof(Elf64_Rela)},
		{.d_tag = DT_NULL},
	};
	size_t nsz = 0;
	eb_text(text);
	memset(data, 0x5a, sizeof data);
	memcpy(data, dyn, sizeof dyn);
	eb_begin(b, ET_DYN, 5);
	size_t r = eb_put(b, rela, sizeof rela, 0x10);
	size_t t = eb_put(b, text, sizeof text, 0x40);
	size_t d = eb_put(b, data, sizeof data, 0x40);
	size_t n = eb_hl_note(b, HL_ABI_VERSION, &nsz);
	eb_seg(b, 0, PT_LOAD, PF_R, r, r, sizeof rela, sizeof rela, 0x1000);
	eb_seg(b, 1, PT_LOAD, PF_R | PF_X, t, 0x1000u + t, sizeof text, sizeof text, 0x1000);
	eb_seg(b, 2, PT_LOAD, PF_R | PF_W, d, 0x2000u + d, sizeof data, EB_PIE_DATA_MEMSZ, 0x1000);
	eb_seg(b, 3, PT_DYNAMIC, PF_R | PF_W, d, 0x2000u + d, sizeof dyn, sizeof dyn, 8);
	eb_seg(b, 4, PT_NOTE, PF_R, n, 0, nsz, nsz, 4);
	eb_set_entry(b, EB_PIE_TEXT_VADDR);
}

/* Overwrites relocation k of the image built by eb_pie. */
static inline void eb_pie_set_rela(struct eb *b, unsigned k, uint64_t offset, uint32_t type,
                                   int64_t addend)
{
	Elf64_Rela r = {.r_offset = offset, .r_info = ELF64_R_INFO(0, type), .r_addend = addend};
	memcpy(b->buf + eb_phdr(b, 0).p_offset + k * sizeof r, &r, sizeof r);
}

/* Overwrites dynamic entry k (0..3) of the image built by eb_pie. */
static inline void eb_pie_set_dyn(struct eb *b, unsigned k, int64_t tag, uint64_t val)
{
	Elf64_Dyn d = {.d_tag = tag, .d_un.d_val = val};
	memcpy(b->buf + eb_phdr(b, 3).p_offset + k * sizeof d, &d, sizeof d);
}

#endif /* HL_TEST_ELF_BUILDER_H */
