/* elf.c - checks an untrusted guest ELF image and copies it into guest memory. */
#include "elf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hyperlight/hyperlight.h"

/*
 * Offsets and sizes from the file are 64-bit and end up as host sizes, and
 * the file's little-endian fields are copied straight into glibc's
 * structures: both hold on the x86-64 hosts that KVM runs this on.
 */
_Static_assert(SIZE_MAX >= UINT64_MAX, "a 64-bit host is required");
_Static_assert(sizeof(struct hl_note_abi) == 8, "the note descriptor is 8 bytes");

#define HL__ELF_PAGE ((uint64_t)HL_PAGE_SIZE)
#define HL__ELF_MAX_PHNUM 64u
#define HL__ELF_MIN_VADDR 0x1000ull    /* the null page stays unmapped */
#define HL__ELF_MAX_END 0x100000000ull /* the guest's page tables cover 4 GiB */

/* Older glibc headers lack the RELR tags; their values are fixed by the gABI. */
#ifndef DT_RELRSZ
#define DT_RELRSZ 35
#endif
#ifndef DT_RELR
#define DT_RELR 36
#endif

/* Where a message goes; err may be NULL. */
struct hl__elf_err {
	char *buf;
	size_t len;
};

/* A PT_LOAD as linked (vaddr before relocation), with its program header index. */
struct hl__elf_seg {
	uint64_t vaddr, memsz, filesz, offset;
	uint32_t flags;
	unsigned index;
};

/* What the walk over the program headers found. */
struct hl__elf_scan {
	struct hl__elf_seg load[HL_ELF_MAX_SEGMENTS];
	size_t nload;
	bool have_dyn;
	unsigned dyn_index;
	uint64_t dyn_off, dyn_size;
	bool have_note;
	uint32_t abi_version;
};

__attribute__((format(printf, 3, 4))) static int hl__elf_fail(const struct hl__elf_err *e, int code,
                                                              const char *fmt, ...)
{
	if (e->buf == NULL || e->len == 0)
		return code;
	int n = snprintf(e->buf, e->len, "ELF: ");
	if (n >= 0 && (size_t)n < e->len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* true if [addr, addr+size) lies inside [base, base+limit), without overflow */
static bool hl__elf_inside(uint64_t addr, uint64_t size, uint64_t base, uint64_t limit)
{
	return addr >= base && addr - base <= limit && size <= limit - (addr - base);
}

static bool hl__elf_add(uint64_t a, uint64_t b, uint64_t *sum)
{
	if (a > UINT64_MAX - b)
		return false;
	*sum = a + b;
	return true;
}

/* Rounds v up to a multiple of the power of two a; false on overflow. */
static bool hl__elf_align_up(uint64_t v, uint64_t a, uint64_t *out)
{
	uint64_t t;
	if (!hl__elf_add(v, a - 1, &t))
		return false;
	*out = t & ~(a - 1);
	return true;
}

static const char *hl__elf_type_name(unsigned t)
{
	switch (t) {
	case ET_NONE: return "ET_NONE";
	case ET_REL: return "ET_REL, a relocatable object";
	case ET_EXEC: return "ET_EXEC";
	case ET_DYN: return "ET_DYN";
	case ET_CORE: return "ET_CORE, a core dump";
	default: return "unknown";
	}
}

static const char *hl__elf_reloc_name(uint32_t t)
{
	switch (t) {
	case R_X86_64_NONE: return "R_X86_64_NONE";
	case R_X86_64_64: return "R_X86_64_64";
	case R_X86_64_PC32: return "R_X86_64_PC32";
	case R_X86_64_COPY: return "R_X86_64_COPY";
	case R_X86_64_GLOB_DAT: return "R_X86_64_GLOB_DAT";
	case R_X86_64_JUMP_SLOT: return "R_X86_64_JUMP_SLOT";
	case R_X86_64_RELATIVE: return "R_X86_64_RELATIVE";
	case R_X86_64_DTPMOD64: return "R_X86_64_DTPMOD64";
	case R_X86_64_DTPOFF64: return "R_X86_64_DTPOFF64";
	case R_X86_64_TPOFF64: return "R_X86_64_TPOFF64";
	case R_X86_64_IRELATIVE: return "R_X86_64_IRELATIVE";
	default: return "unknown";
	}
}

static int hl__elf_check_header(const struct hl__elf_err *e, const uint8_t *p, size_t len,
                                Elf64_Ehdr *eh)
{
	if (len < sizeof *eh)
		return hl__elf_fail(e, HL_E_ELF,
		                    "file truncated: %zu bytes, shorter than an ELF header (%zu bytes)",
		                    len, sizeof *eh);
	memcpy(eh, p, sizeof *eh);
	const unsigned char *id = eh->e_ident;
	if (memcmp(id, ELFMAG, SELFMAG) != 0)
		return hl__elf_fail(e, HL_E_ELF,
		                    "bad magic %02x %02x %02x %02x (expected 7f 45 4c 46): not an ELF file",
		                    id[0], id[1], id[2], id[3]);
	if (id[EI_CLASS] != ELFCLASS64)
		return hl__elf_fail(e, HL_E_ELF, "EI_CLASS %u: not a 64-bit ELF (ELFCLASS64)",
		                    id[EI_CLASS]);
	if (id[EI_DATA] != ELFDATA2LSB)
		return hl__elf_fail(e, HL_E_ELF, "EI_DATA %u: not little-endian (ELFDATA2LSB)",
		                    id[EI_DATA]);
	if (id[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		return hl__elf_fail(e, HL_E_ELF,
		                    "EI_VERSION %u, e_version %" PRIu32 ": not EV_CURRENT",
		                    id[EI_VERSION], eh->e_version);
	if (eh->e_machine != EM_X86_64)
		return hl__elf_fail(e, HL_E_ELF, "e_machine %u: not x86-64 (EM_X86_64)",
		                    eh->e_machine);
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return hl__elf_fail(e, HL_E_ELF,
		                    "e_type %u (%s): only ET_EXEC and ET_DYN can be loaded",
		                    eh->e_type, hl__elf_type_name(eh->e_type));
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return hl__elf_fail(e, HL_E_ELF, "e_phentsize %u, expected %zu", eh->e_phentsize,
		                    sizeof(Elf64_Phdr));
	if (eh->e_phnum < 1 || eh->e_phnum > HL__ELF_MAX_PHNUM)
		return hl__elf_fail(e, HL_E_ELF, "e_phnum %u: must be 1 to %u", eh->e_phnum,
		                    HL__ELF_MAX_PHNUM);
	/* e_phnum <= 64 keeps the table size far from overflowing. */
	uint64_t table = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (!hl__elf_inside(eh->e_phoff, table, 0, len))
		return hl__elf_fail(e, HL_E_ELF,
		                    "e_phoff 0x%" PRIx64 ": program header table (0x%" PRIx64
		                    " bytes) beyond end of file (0x%zx)",
		                    eh->e_phoff, table, len);
	return 0;
}

/*
 * Walks the notes of one PT_NOTE segment, p[0..size), and records the first
 * Hyperlight ABI note. Notes are 4-byte aligned except in segments aligned to
 * 8 (.note.gnu.property on x86-64), which is how glibc and Linux read them.
 */
static int hl__elf_walk_notes(const struct hl__elf_err *e, const uint8_t *p, uint64_t size,
                              uint64_t align, unsigned index, struct hl__elf_scan *s)
{
	uint64_t pos = 0;
	while (pos < size) {
		Elf64_Nhdr nh;
		if (size - pos < sizeof nh)
			return hl__elf_fail(e, HL_E_ELF,
			                    "segment %u: note header at 0x%" PRIx64
			                    " truncated (0x%" PRIx64 " bytes left in the PT_NOTE)",
			                    index, pos, size - pos);
		memcpy(&nh, p + pos, sizeof nh);
		uint64_t name = pos + sizeof nh;
		uint64_t desc, end, next;
		/* name + namesz <= size, so the rounding below cannot overflow. */
		if (nh.n_namesz > size - name ||
		    !hl__elf_align_up(name + nh.n_namesz, align, &desc) || desc > size ||
		    nh.n_descsz > size - desc)
			return hl__elf_fail(e, HL_E_ELF,
			                    "segment %u: note at 0x%" PRIx64
			                    " truncated (n_namesz %" PRIu32 ", n_descsz %" PRIu32
			                    ", 0x%" PRIx64 " bytes left in the PT_NOTE)",
			                    index, pos, nh.n_namesz, nh.n_descsz, size - pos);
		end = desc + nh.n_descsz;
		/* The padding after the last descriptor may be missing; that is harmless. */
		if (!hl__elf_align_up(end, align, &next) || next > size)
			next = size;

		if (nh.n_type == HL_NOTE_TYPE_ABI && nh.n_namesz == sizeof(HL_NOTE_NAME) &&
		    memcmp(p + name, HL_NOTE_NAME, sizeof(HL_NOTE_NAME)) == 0) {
			if (nh.n_descsz < sizeof(struct hl_note_abi))
				return hl__elf_fail(e, HL_E_ELF,
				                    "segment %u: Hyperlight ABI note truncated: n_descsz %" PRIu32
				                    ", expected at least %zu",
				                    index, nh.n_descsz, sizeof(struct hl_note_abi));
			if (!s->have_note) {
				struct hl_note_abi abi;
				memcpy(&abi, p + desc, sizeof abi);
				s->have_note = true;
				s->abi_version = abi.abi_version;
			}
		}
		pos = next;
	}
	return 0;
}

static int hl__elf_add_load(const struct hl__elf_err *e, const Elf64_Phdr *ph, unsigned i,
                            size_t len, struct hl__elf_scan *s)
{
	uint64_t end;
	if (ph->p_filesz > ph->p_memsz)
		return hl__elf_fail(e, HL_E_ELF,
		                    "segment %u: p_filesz (0x%" PRIx64 ") > p_memsz (0x%" PRIx64 ")",
		                    i, ph->p_filesz, ph->p_memsz);
	if (!hl__elf_add(ph->p_offset, ph->p_filesz, &end))
		return hl__elf_fail(e, HL_E_ELF,
		                    "segment %u: p_offset (0x%" PRIx64 ") + p_filesz (0x%" PRIx64
		                    ") overflows",
		                    i, ph->p_offset, ph->p_filesz);
	if (end > len)
		return hl__elf_fail(e, HL_E_ELF,
		                    "segment %u: p_offset+p_filesz (0x%" PRIx64
		                    ") beyond end of file (0x%zx)",
		                    i, end, len);
	if (!hl__elf_add(ph->p_vaddr, ph->p_memsz, &end))
		return hl__elf_fail(e, HL_E_ELF,
		                    "segment %u: p_vaddr (0x%" PRIx64 ") + p_memsz (0x%" PRIx64
		                    ") overflows",
		                    i, ph->p_vaddr, ph->p_memsz);
	/* Linkers sometimes emit empty segments; they load nothing. */
	if (ph->p_memsz == 0)
		return 0;
	if (ph->p_align >= HL__ELF_PAGE && ph->p_offset % HL__ELF_PAGE != ph->p_vaddr % HL__ELF_PAGE)
		return hl__elf_fail(e, HL_E_ELF,
		                    "segment %u: p_offset (0x%" PRIx64 ") and p_vaddr (0x%" PRIx64
		                    ") differ modulo the page size, with p_align 0x%" PRIx64,
		                    i, ph->p_offset, ph->p_vaddr, ph->p_align);
	if (s->nload == HL_ELF_MAX_SEGMENTS)
		return hl__elf_fail(e, HL_E_ELF, "segment %u: more than %d PT_LOAD segments", i,
		                    HL_ELF_MAX_SEGMENTS);
	s->load[s->nload++] = (struct hl__elf_seg){
		.vaddr = ph->p_vaddr,
		.memsz = ph->p_memsz,
		.filesz = ph->p_filesz,
		.offset = ph->p_offset,
		.flags = ph->p_flags & (PF_R | PF_W | PF_X),
		.index = i,
	};
	return 0;
}

static int hl__elf_scan_phdrs(const struct hl__elf_err *e, const uint8_t *p, size_t len,
                              const Elf64_Ehdr *eh, struct hl__elf_scan *s)
{
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		int rc = 0;
		memcpy(&ph, p + eh->e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
		switch (ph.p_type) {
		case PT_INTERP:
			return hl__elf_fail(e, HL_E_ELF,
			                    "segment %u: dynamically linked (PT_INTERP): guests must be static",
			                    i);
		case PT_LOAD: rc = hl__elf_add_load(e, &ph, i, len, s); break;
		case PT_NOTE:
			if (!hl__elf_inside(ph.p_offset, ph.p_filesz, 0, len))
				return hl__elf_fail(e, HL_E_ELF,
				                    "segment %u: PT_NOTE at p_offset 0x%" PRIx64
				                    ", p_filesz 0x%" PRIx64
				                    " beyond end of file (0x%zx)",
				                    i, ph.p_offset, ph.p_filesz, len);
			rc = hl__elf_walk_notes(e, p + ph.p_offset, ph.p_filesz,
			                        ph.p_align == 8 ? 8 : 4, i, s);
			break;
		case PT_DYNAMIC:
			if (s->have_dyn)
				return hl__elf_fail(e, HL_E_ELF,
				                    "segment %u: a second PT_DYNAMIC (the first is segment %u)",
				                    i, s->dyn_index);
			if (!hl__elf_inside(ph.p_offset, ph.p_filesz, 0, len))
				return hl__elf_fail(e, HL_E_ELF,
				                    "segment %u: PT_DYNAMIC at p_offset 0x%" PRIx64
				                    ", p_filesz 0x%" PRIx64
				                    " beyond end of file (0x%zx)",
				                    i, ph.p_offset, ph.p_filesz, len);
			s->have_dyn = true;
			s->dyn_index = i;
			s->dyn_off = ph.p_offset;
			s->dyn_size = ph.p_filesz;
			break;
		default:
			/* PT_GNU_STACK, PT_TLS and the like need nothing from the loader. */
			break;
		}
		if (rc != 0)
			return rc;
	}
	if (s->nload == 0)
		return hl__elf_fail(e, HL_E_ELF,
		                    "no PT_LOAD segment with p_memsz > 0: nothing to load");
	return 0;
}

/* Sorts the segments by address, rejects overlaps and places the image. */
static int hl__elf_place(const struct hl__elf_err *e, const Elf64_Ehdr *eh, uint64_t pie_base,
                         uint64_t max_span, struct hl__elf_scan *s, struct hl_elf_image *out)
{
	/* At most HL_ELF_MAX_SEGMENTS entries: insertion sort is plenty. */
	for (size_t i = 1; i < s->nload; i++) {
		struct hl__elf_seg t = s->load[i];
		size_t j = i;
		for (; j > 0 && s->load[j - 1].vaddr > t.vaddr; j--)
			s->load[j] = s->load[j - 1];
		s->load[j] = t;
	}
	for (size_t i = 1; i < s->nload; i++) {
		const struct hl__elf_seg *a = &s->load[i - 1], *b = &s->load[i];
		if (b->vaddr - a->vaddr < a->memsz)
			return hl__elf_fail(e, HL_E_ELF,
			                    "segments %u and %u overlap: [0x%" PRIx64 ", 0x%" PRIx64
			                    ") and [0x%" PRIx64 ", 0x%" PRIx64 ")",
			                    a->index, b->index, a->vaddr, a->vaddr + a->memsz,
			                    b->vaddr, b->vaddr + b->memsz);
	}

	/* Sorted and disjoint: the last segment ends highest. */
	const struct hl__elf_seg *first = &s->load[0], *last = &s->load[s->nload - 1];
	uint64_t raw_lo = first->vaddr & ~(HL__ELF_PAGE - 1), raw_hi;
	if (!hl__elf_align_up(last->vaddr + last->memsz, HL__ELF_PAGE, &raw_hi))
		return hl__elf_fail(e, HL_E_ELF,
		                    "segment %u: end 0x%" PRIx64
		                    " leaves no room to round up to a page",
		                    last->index, last->vaddr + last->memsz);
	uint64_t span = raw_hi - raw_lo;

	if (eh->e_type == ET_EXEC) {
		if (first->vaddr < HL__ELF_MIN_VADDR)
			return hl__elf_fail(e, HL_E_ELF,
			                    "segment %u: p_vaddr 0x%" PRIx64
			                    " lies in the null page (below 0x%llx), which stays unmapped",
			                    first->index, first->vaddr, HL__ELF_MIN_VADDR);
		if (raw_hi > HL__ELF_MAX_END)
			return hl__elf_fail(e, HL_E_ELF,
			                    "segment %u: ends at 0x%" PRIx64
			                    ", above 4 GiB (0x%llx)",
			                    last->index, last->vaddr + last->memsz, HL__ELF_MAX_END);
		out->bias = 0;
		out->lo = raw_lo;
		out->hi = raw_hi;
	} else {
		/* The same limits apply once the image is placed at pie_base. */
		if (pie_base > HL__ELF_MAX_END || span > HL__ELF_MAX_END - pie_base)
			return hl__elf_fail(e, HL_E_ELF,
			                    "span 0x%" PRIx64 " placed at pie_base 0x%" PRIx64
			                    " would end above 4 GiB (0x%llx)",
			                    span, pie_base, HL__ELF_MAX_END);
		/* Unsigned wrap-around is intended: vaddr + bias == vaddr - raw_lo + pie_base. */
		out->bias = pie_base - raw_lo;
		out->lo = pie_base;
		out->hi = pie_base + span;
	}
	if (span > max_span)
		return hl__elf_fail(e, HL_E_ELF,
		                    "span 0x%" PRIx64 " (hi 0x%" PRIx64 " - lo 0x%" PRIx64
		                    ") exceeds the limit 0x%" PRIx64,
		                    span, out->hi, out->lo, max_span);

	/* The entry must be code: checked before relocation, which keeps membership. */
	const struct hl__elf_seg *code = NULL;
	for (size_t i = 0; i < s->nload; i++)
		if (hl__elf_inside(eh->e_entry, 1, s->load[i].vaddr, s->load[i].memsz))
			code = &s->load[i];
	if (code == NULL)
		return hl__elf_fail(e, HL_E_ELF,
		                    "e_entry 0x%" PRIx64 " is outside every PT_LOAD segment",
		                    eh->e_entry);
	if (!(code->flags & PF_X))
		return hl__elf_fail(e, HL_E_ELF,
		                    "e_entry 0x%" PRIx64
		                    " is in segment %u, which is not executable (no PF_X)",
		                    eh->e_entry, code->index);
	out->entry = eh->e_entry + out->bias;
	return 0;
}

/* Checks one relocation against the link-time segments: type and target. */
static int hl__elf_check_rela(const struct hl__elf_err *e, const Elf64_Rela *r, uint64_t k,
                              const struct hl__elf_seg *segs, size_t nsegs)
{
	uint32_t type = ELF64_R_TYPE(r->r_info);
	if (type == R_X86_64_NONE)
		return 0;
	if (type != R_X86_64_RELATIVE)
		return hl__elf_fail(e, HL_E_ELF,
		                    "relocation %" PRIu64 ": type %" PRIu32
		                    " (%s) unsupported: only R_X86_64_RELATIVE and R_X86_64_NONE",
		                    k, type, hl__elf_reloc_name(type));
	for (size_t i = 0; i < nsegs; i++)
		if ((segs[i].flags & PF_W) &&
		    hl__elf_inside(r->r_offset, 8, segs[i].vaddr, segs[i].memsz))
			return 0;
	return hl__elf_fail(e, HL_E_ELF,
	                    "relocation %" PRIu64 ": target 0x%" PRIx64
	                    " is not 8 bytes inside a writable (PF_W) PT_LOAD segment",
	                    k, r->r_offset);
}

/* Reads a PIE's PT_DYNAMIC, finds its RELA table and checks every entry. */
static int hl__elf_relocs(const struct hl__elf_err *e, const uint8_t *p,
                          const struct hl__elf_scan *s, struct hl_elf_image *out)
{
	uint64_t rela = 0, relasz = 0, relaent = 0, relsz = 0, pltrelsz = 0, relrsz = 0;
	bool have_rela = false, have_jmprel = false;
	uint64_t n = s->dyn_size / sizeof(Elf64_Dyn);
	for (uint64_t i = 0; i < n; i++) {
		Elf64_Dyn d;
		memcpy(&d, p + s->dyn_off + i * sizeof d, sizeof d);
		if (d.d_tag == DT_NULL)
			break;
		switch (d.d_tag) {
		case DT_RELA:
			rela = d.d_un.d_ptr;
			have_rela = true;
			break;
		case DT_RELASZ: relasz = d.d_un.d_val; break;
		case DT_RELAENT: relaent = d.d_un.d_val; break;
		case DT_RELSZ: relsz = d.d_un.d_val; break;
		case DT_JMPREL: have_jmprel = true; break;
		case DT_PLTRELSZ: pltrelsz = d.d_un.d_val; break;
		case DT_RELRSZ: relrsz = d.d_un.d_val; break;
		default: break;
		}
	}
	if (relsz != 0)
		return hl__elf_fail(e, HL_E_ELF,
		                    "PT_DYNAMIC: DT_RELSZ 0x%" PRIx64
		                    ": DT_REL relocations are unsupported (only DT_RELA)",
		                    relsz);
	if (have_jmprel && pltrelsz != 0)
		return hl__elf_fail(e, HL_E_ELF,
		                    "PT_DYNAMIC: DT_JMPREL with DT_PLTRELSZ 0x%" PRIx64
		                    ": PLT relocations are unsupported (static guests have no PLT)",
		                    pltrelsz);
	if (relrsz != 0)
		return hl__elf_fail(e, HL_E_ELF,
		                    "PT_DYNAMIC: DT_RELRSZ 0x%" PRIx64
		                    ": DT_RELR relocations are unsupported (link without "
		                    "-z pack-relative-relocs)",
		                    relrsz);
	if (relasz == 0)
		return 0;
	if (!have_rela)
		return hl__elf_fail(e, HL_E_ELF,
		                    "PT_DYNAMIC: DT_RELASZ 0x%" PRIx64 " without DT_RELA", relasz);
	if (relaent != sizeof(Elf64_Rela))
		return hl__elf_fail(e, HL_E_ELF, "PT_DYNAMIC: DT_RELAENT %" PRIu64 ", expected %zu",
		                    relaent, sizeof(Elf64_Rela));
	if (relasz % sizeof(Elf64_Rela) != 0)
		return hl__elf_fail(e, HL_E_ELF,
		                    "PT_DYNAMIC: DT_RELASZ 0x%" PRIx64 " is not a multiple of %zu",
		                    relasz, sizeof(Elf64_Rela));

	/* DT_RELA is an address: the table must be file bytes of one PT_LOAD. */
	const struct hl__elf_seg *home = NULL;
	for (size_t i = 0; i < s->nload; i++)
		if (hl__elf_inside(rela, relasz, s->load[i].vaddr, s->load[i].filesz))
			home = &s->load[i];
	if (home == NULL)
		return hl__elf_fail(e, HL_E_ELF,
		                    "PT_DYNAMIC: DT_RELA 0x%" PRIx64 " (DT_RELASZ 0x%" PRIx64
		                    ") is not inside the file-backed part of a PT_LOAD segment",
		                    rela, relasz);
	out->rela_off = home->offset + (rela - home->vaddr);
	out->rela_count = relasz / sizeof(Elf64_Rela);

	/* Types and targets are checked here so that loading cannot fail half-way. */
	for (uint64_t k = 0; k < out->rela_count; k++) {
		Elf64_Rela r;
		memcpy(&r, p + out->rela_off + k * sizeof r, sizeof r);
		int rc = hl__elf_check_rela(e, &r, k, s->load, s->nload);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int hl__elf_parse(const void *data, size_t len, uint64_t pie_base, uint64_t max_span,
                  struct hl_elf_image *out, char *err, size_t errlen)
{
	const struct hl__elf_err e = {err, errlen};
	const uint8_t *p = data;
	Elf64_Ehdr eh;
	struct hl__elf_scan s;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL || data == NULL)
		return hl__elf_fail(&e, HL_E_INVAL, "%s is NULL", out == NULL ? "out" : "data");
	memset(out, 0, sizeof *out);
	if (pie_base % HL__ELF_PAGE != 0 || pie_base < HL__ELF_MIN_VADDR)
		return hl__elf_fail(&e, HL_E_INVAL,
		                    "pie_base 0x%" PRIx64
		                    " must be page aligned and at least 0x%llx",
		                    pie_base, HL__ELF_MIN_VADDR);

	memset(&s, 0, sizeof s);
	memset(&eh, 0, sizeof eh);
	if ((rc = hl__elf_check_header(&e, p, len, &eh)) != 0 ||
	    (rc = hl__elf_scan_phdrs(&e, p, len, &eh, &s)) != 0 ||
	    (rc = hl__elf_place(&e, &eh, pie_base, max_span, &s, out)) != 0)
		goto fail;
	out->pie = eh.e_type == ET_DYN;
	if (out->pie && s.have_dyn && (rc = hl__elf_relocs(&e, p, &s, out)) != 0)
		goto fail;

	/* Last, so that HL_E_VERSION means "well formed, but not for this host". */
	if (!s.have_note) {
		rc = hl__elf_fail(&e, HL_E_VERSION,
		                  "no Hyperlight ABI note: not a guest built with libhyperlight_guest");
		goto fail;
	}
	if (s.abi_version != HL_ABI_VERSION) {
		rc = hl__elf_fail(&e, HL_E_VERSION,
		                  "guest ABI version %" PRIu32
		                  " (its Hyperlight note), host ABI version %u",
		                  s.abi_version, HL_ABI_VERSION);
		goto fail;
	}
	out->abi_version = s.abi_version;

	out->nsegs = s.nload;
	for (size_t i = 0; i < s.nload; i++)
		out->segs[i] = (struct hl_elf_segment){
			.vaddr = s.load[i].vaddr + out->bias,
			.memsz = s.load[i].memsz,
			.filesz = s.load[i].filesz,
			.offset = s.load[i].offset,
			.flags = s.load[i].flags,
		};
	return 0;

fail:
	memset(out, 0, sizeof *out);
	return rc;
}

/* Checks relocation k of img (table already bounds-checked) against the placed segments. */
static int hl__elf_check_placed_rela(const struct hl__elf_err *e, const struct hl_elf_image *img,
                                     const uint8_t *p, uint64_t k)
{
	Elf64_Rela r;
	memcpy(&r, p + img->rela_off + k * sizeof r, sizeof r);
	uint32_t type = ELF64_R_TYPE(r.r_info);
	if (type == R_X86_64_NONE)
		return 0;
	if (type != R_X86_64_RELATIVE)
		return hl__elf_fail(e, HL_E_ELF,
		                    "relocation %" PRIu64 ": type %" PRIu32 " unsupported", k, type);
	uint64_t target = r.r_offset + img->bias;
	for (size_t i = 0; i < img->nsegs; i++)
		if ((img->segs[i].flags & PF_W) &&
		    hl__elf_inside(target, 8, img->segs[i].vaddr, img->segs[i].memsz))
			return 0;
	return hl__elf_fail(e, HL_E_ELF,
	                    "relocation %" PRIu64 ": target 0x%" PRIx64
	                    " is not 8 bytes inside a writable (PF_W) segment",
	                    k, target);
}

int hl__elf_load(const struct hl_elf_image *img, const void *data, size_t len, uint8_t *mem,
                 uint64_t mem_base, uint64_t mem_size, char *err, size_t errlen)
{
	const struct hl__elf_err e = {err, errlen};
	const uint8_t *p = data;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (img == NULL || data == NULL || mem == NULL)
		return hl__elf_fail(&e, HL_E_INVAL, "%s is NULL",
		                    img == NULL    ? "img"
		                    : data == NULL ? "data"
		                                   : "mem");
	if (img->nsegs == 0 || img->nsegs > HL_ELF_MAX_SEGMENTS || img->lo > img->hi ||
	    img->lo % HL__ELF_PAGE != 0 || img->hi % HL__ELF_PAGE != 0)
		return hl__elf_fail(&e, HL_E_INVAL,
		                    "img is not from hl__elf_parse (nsegs %zu, lo 0x%" PRIx64
		                    ", hi 0x%" PRIx64 ")",
		                    img->nsegs, img->lo, img->hi);
	if (mem_base > UINT64_MAX - mem_size)
		return hl__elf_fail(&e, HL_E_INVAL,
		                    "guest memory 0x%" PRIx64 " + 0x%" PRIx64 " overflows",
		                    mem_base, mem_size);
	if (!hl__elf_inside(img->lo, img->hi - img->lo, mem_base, mem_size))
		return hl__elf_fail(&e, HL_E_ELF,
		                    "image [0x%" PRIx64 ", 0x%" PRIx64
		                    ") does not fit guest memory [0x%" PRIx64 ", 0x%" PRIx64 ")",
		                    img->lo, img->hi, mem_base, mem_base + mem_size);

	/* Check everything again before writing, so a failure leaves mem untouched. */
	for (size_t i = 0; i < img->nsegs; i++) {
		const struct hl_elf_segment *sg = &img->segs[i];
		if (sg->filesz > sg->memsz ||
		    !hl__elf_inside(sg->vaddr, sg->memsz, img->lo, img->hi - img->lo) ||
		    !hl__elf_inside(sg->offset, sg->filesz, 0, len))
			return hl__elf_fail(&e, HL_E_ELF,
			                    "segment %zu of img does not match the file (vaddr 0x%" PRIx64
			                    ", memsz 0x%" PRIx64 ", offset 0x%" PRIx64
			                    ", filesz 0x%" PRIx64 ", file 0x%zx)",
			                    i, sg->vaddr, sg->memsz, sg->offset, sg->filesz, len);
	}
	if (img->rela_count > len / sizeof(Elf64_Rela) ||
	    !hl__elf_inside(img->rela_off, img->rela_count * sizeof(Elf64_Rela), 0, len))
		return hl__elf_fail(&e, HL_E_ELF,
		                    "relocation table (offset 0x%" PRIx64 ", %" PRIu64
		                    " entries) beyond end of file (0x%zx)",
		                    img->rela_off, img->rela_count, len);
	for (uint64_t k = 0; k < img->rela_count; k++) {
		int rc = hl__elf_check_placed_rela(&e, img, p, k);
		if (rc != 0)
			return rc;
	}

	/* Zero the whole span first: bss, and the page ends around each segment. */
	memset(mem + (img->lo - mem_base), 0, img->hi - img->lo);
	for (size_t i = 0; i < img->nsegs; i++) {
		const struct hl_elf_segment *sg = &img->segs[i];
		memcpy(mem + (sg->vaddr - mem_base), p + sg->offset, sg->filesz);
	}
	/* Every target was checked above. */
	for (uint64_t k = 0; k < img->rela_count; k++) {
		Elf64_Rela r;
		memcpy(&r, p + img->rela_off + k * sizeof r, sizeof r);
		if (ELF64_R_TYPE(r.r_info) != R_X86_64_RELATIVE)
			continue;
		/* Wraps like the CPU's arithmetic would: the guest gets bias + addend. */
		uint64_t target = r.r_offset + img->bias, v = img->bias + (uint64_t)r.r_addend;
		memcpy(mem + (target - mem_base), &v, sizeof v);
	}
	return 0;
}
