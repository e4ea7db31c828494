/* elf.h - checks an untrusted guest ELF image and copies it into guest memory. */
#ifndef HL_HOST_ELF_H
#define HL_HOST_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * glibc's <elf.h> gives users of this header PF_R, PF_W and PF_X. This file
 * has the same name, so it must be reached as "elf.h" from src/host or as
 * "host/elf.h" with -Isrc: with src/host on the include path, <elf.h> would
 * find this file again instead of glibc's, and the check below says so.
 */
#include <elf.h>
#ifndef ELFMAG
#error "<elf.h> found src/host/elf.h instead of glibc's: do not put src/host on the include path"
#endif

#if defined(__GNUC__)
#define HL__ELF_HIDDEN __attribute__((visibility("hidden")))
#else
#define HL__ELF_HIDDEN
#endif

#define HL_ELF_MAX_SEGMENTS 16

/* One non-empty PT_LOAD segment, in increasing order of vaddr. */
struct hl_elf_segment {
	uint64_t vaddr;                 /* after relocation (load bias applied) */
	uint64_t memsz, filesz, offset; /* offset: in the file */
	uint32_t flags;                 /* PF_R | PF_W | PF_X */
};

struct hl_elf_image {
	uint64_t entry;  /* after relocation */
	uint64_t lo, hi; /* page-aligned span covering every PT_LOAD, after relocation */
	uint64_t bias;   /* load bias: 0 for ET_EXEC, chosen base for ET_DYN */
	bool pie;
	uint32_t abi_version; /* from the Hyperlight note */
	size_t nsegs;
	struct hl_elf_segment segs[HL_ELF_MAX_SEGMENTS];
	uint64_t rela_off, rela_count; /* file offset and count of Elf64_Rela for PIE (0 if none) */
};

/*
 * Checks the image and describes it in *out. Every byte of data is treated
 * as hostile; nothing is written to guest memory.
 *
 * data, len: the whole file (borrowed, read during the call only).
 * pie_base: where the lowest page of an ET_DYN image is placed (page aligned,
 * at least 0x1000 so that the null page stays unmapped).
 * max_span: the largest allowed hi - lo.
 * err, errlen: receives a message naming the field, value and segment
 * (program header index) at fault; may be NULL.
 *
 * Returns 0; HL_E_ELF if the image is malformed or unsupported; HL_E_VERSION
 * if it has no Hyperlight ABI note or its version is not HL_ABI_VERSION;
 * HL_E_INVAL if data or out is NULL or pie_base is out of range. *out is
 * zeroed on failure. Thread-safe: no state outside the arguments.
 */
HL__ELF_HIDDEN int hl__elf_parse(const void *data, size_t len, uint64_t pie_base, uint64_t max_span,
                                 struct hl_elf_image *out, char *err, size_t errlen);

/*
 * Writes the image into guest memory: mem (borrowed) backs guest addresses
 * [mem_base, mem_base + mem_size), and the span [img->lo, img->hi) must lie
 * inside it. The whole span is written: file bytes where segments have them,
 * zeros elsewhere (bss and the padding between segments). For a PIE, every
 * R_X86_64_RELATIVE relocation then stores bias + addend at its target.
 *
 * img, data, len: what hl__elf_parse accepted (borrowed). Everything is
 * checked again before the first byte is written, so a failure leaves mem
 * untouched.
 *
 * Returns 0; HL_E_ELF if the image does not fit mem or img does not match
 * data; HL_E_INVAL for NULL pointers or an impossible img.
 */
HL__ELF_HIDDEN int hl__elf_load(const struct hl_elf_image *img, const void *data, size_t len,
                                uint8_t *mem, uint64_t mem_base, uint64_t mem_size, char *err,
                                size_t errlen);

#endif /* HL_HOST_ELF_H */
