/*
 * layout.c - where the image, buffers, heap and stacks go in guest memory,
 * the page tables that give each its permissions, and the walk through a
 * guest's page tables that the debugging code makes (hl__gva_translate).
 *
 * Guest memory is one region starting at the lowest page of the ELF image
 * (so the page at address 0 is never backed, let alone mapped):
 *
 *   image_lo  ELF segments          text R+X, rodata R, data/bss RW
 *   image_hi  boot info (1 page)    R, NX
 *             input buffer          RW, NX   host -> guest
 *             output buffer         RW, NX   guest -> host
 *             heap                  RW, NX   brk/mmap arena
 *             guard page            unmapped: catches stack overflow
 *             stack                 RW, NX   grows down from its top
 *             3 x (guard + 16 KiB)  RW, NX   exception, double-fault and syscall stacks
 *             page tables           not mapped: the guest cannot change them
 *
 * Memory is identity mapped (virtual == physical) with 4 KiB pages so that
 * each page has the permissions of what it holds. A backend may add pages
 * of its own below the image (kvm-pvm's entry code, backend.h), which the
 * tables map too, and may ask for U/S set in every entry (kvm-pvm runs
 * guest code natively only from user-accessible pages).
 */
#include <stdio.h>
#include <string.h>

#include "elf.h"
#include "internal.h"

#define PAGE 4096ull
#define TWO_MB (2ull << 20)
#define ONE_GB (1ull << 30)
#define MAX_END (4ull << 30) /* everything below 4 GiB: one PDPT */

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

static uint64_t up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}
static uint64_t down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

static uint64_t pt_pages_for(uint64_t lo, uint64_t end)
{
	uint64_t pts = (up(end, TWO_MB) - down(lo, TWO_MB)) / TWO_MB;
	uint64_t pds = (up(end, ONE_GB) - down(lo, ONE_GB)) / ONE_GB;
	return 2 + pds + pts; /* PML4 + PDPT + PDs + PTs */
}

int hl__layout_compute(hl_sandbox *sb, uint64_t lo, uint64_t hi, uint64_t entry,
                       struct hl__layout *l)
{
	const hl_config *c = &sb->cfg;
	memset(l, 0, sizeof *l);
	l->image_lo = lo;
	l->image_hi = hi;
	l->entry = entry;
	l->mem_base = lo;
	uint64_t off = hi;
	if (off > MAX_END)
		return hl__fail(sb, HL_E_ELF, "guest image ends at 0x%llx, above 4 GiB",
		                (unsigned long long)off);
	/* Config values were range-checked by the caller, so these sums are small. */
	l->boot_info = off;
	off += PAGE;
	l->input = off;
	l->input_size = c->input_size;
	off += up(c->input_size, PAGE);
	l->output = off;
	l->output_size = c->output_size;
	off += up(c->output_size, PAGE);
	l->heap = off;
	l->heap_size = up(c->heap_size, PAGE);
	off += l->heap_size;
	l->stack_guard = off;
	off += PAGE;
	l->stack = off;
	l->stack_size = up(c->stack_size, PAGE);
	off += l->stack_size;
	l->ist = off;
	l->ist_size = HL_IST_COUNT * (PAGE + HL_IST_SIZE);
	off += l->ist_size;
	/* The PML4 on an 8 KiB boundary: kvm-pvm reads CR3 bit 12 as the
	 * kernel/user half of an 8 KiB page-table pair (as with page-table
	 * isolation), and a PML4 at an odd page turns every guest exception
	 * into a triple fault there (measured). It costs at most a page. */
	off = up(off, 2 * PAGE);
	l->pt = off;
	uint64_t n = pt_pages_for(lo, off);
	n = pt_pages_for(lo, off + n * PAGE); /* the tables need not map themselves, but be safe */
	n += 2; /* a PD and a PT for backend pages in the first 2 MiB (backend.h) */
	l->pt_size = n * PAGE;
	off += l->pt_size;
	if (off > MAX_END)
		return hl__fail(sb, HL_E_CONFIG,
		                "guest memory would end at 0x%llx, above 4 GiB: reduce heap, stack or buffer sizes",
		                (unsigned long long)off);
	l->mem_size = off - lo;
	return 0;
}

struct pt_builder {
	uint8_t *mem;
	uint64_t base; /* guest address of mem[0] */
	uint64_t next; /* next free page-table page (guest address) */
	uint64_t pml4;
	uint64_t us; /* PTE_US where the backend needs it, else 0 */
};

static uint64_t *table(struct pt_builder *b, uint64_t gaddr)
{
	return (uint64_t *)(b->mem + (gaddr - b->base));
}

/* The page-table entry that maps `va`, creating the tables on the way. */
static uint64_t *pte_for(struct pt_builder *b, uint64_t va)
{
	uint64_t t = b->pml4;
	static const int shifts[3] = {39, 30, 21};
	for (int lvl = 0; lvl < 3; lvl++) {
		uint64_t *e = &table(b, t)[(va >> shifts[lvl]) & 511];
		if (!(*e & PTE_P)) {
			/* pt_pages_for counted every table this can need */
			uint64_t page = b->next;
			b->next += PAGE;
			*e = page | PTE_P | PTE_RW | PTE_A | b->us;
		}
		t = *e & PTE_ADDR;
	}
	return &table(b, t)[(va >> 12) & 511];
}

static void map_range(struct pt_builder *b, uint64_t start, uint64_t len, bool w, bool x)
{
	for (uint64_t va = down(start, PAGE); va < up(start + len, PAGE); va += PAGE) {
		uint64_t *e = pte_for(b, va);
		if (!(*e & PTE_P))
			*e = va | PTE_P | PTE_A | PTE_D | PTE_NX | b->us;
		/* Pages shared by two segments get the union of their rights. */
		if (w)
			*e |= PTE_RW;
		if (x)
			*e &= ~PTE_NX;
	}
}

void hl__layout_page_tables(const struct hl__layout *l, const struct hl_elf_image *img,
                            const struct hl_backend_info *bk, uint8_t *mem)
{
	struct pt_builder b = {
		.mem = mem,
		.base = l->mem_base,
		.pml4 = l->pt,
		.next = l->pt + PAGE,
		.us = bk->user_pages ? PTE_US : 0,
	};
	memset(mem + (l->pt - l->mem_base), 0, l->pt_size);
	for (size_t i = 0; i < img->nsegs; i++) {
		const struct hl_elf_segment *s = &img->segs[i];
		map_range(&b, s->vaddr, s->memsz, s->flags & PF_W, s->flags & PF_X);
	}
	map_range(&b, l->boot_info, PAGE, false, false);
	map_range(&b, l->input, l->input_size, true, false);
	map_range(&b, l->output, l->output_size, true, false);
	map_range(&b, l->heap, l->heap_size, true, false);
	map_range(&b, l->stack, l->stack_size, true, false);
	for (unsigned k = 0; k < HL_IST_COUNT; k++)
		map_range(&b, l->ist + k * (PAGE + HL_IST_SIZE) + PAGE, HL_IST_SIZE, true, false);
	/* hl__load checked that these lie below mem_base. */
	if (bk->code_va)
		map_range(&b, bk->code_va, PAGE, false, true);
	if (bk->data_va)
		map_range(&b, bk->data_va, PAGE, true, false);
}

void hl__layout_print(const struct hl__layout *l, void *file)
{
	FILE *f = file;
#define ROW(name, a, sz, perm)                                                                   \
	fprintf(f, "  %-12s 0x%010llx-0x%010llx %8llu KiB  %s\n", name, (unsigned long long)(a), \
	        (unsigned long long)((a) + (sz)), (unsigned long long)((sz) / 1024), perm)
	fprintf(f, "guest memory layout (base 0x%llx, %llu KiB, entry 0x%llx):\n",
	        (unsigned long long)l->mem_base, (unsigned long long)(l->mem_size / 1024),
	        (unsigned long long)l->entry);
	ROW("image", l->image_lo, l->image_hi - l->image_lo, "per ELF segment");
	ROW("boot info", l->boot_info, PAGE, "r--");
	ROW("input", l->input, l->input_size, "rw-");
	ROW("output", l->output, l->output_size, "rw-");
	ROW("heap", l->heap, l->heap_size, "rw-");
	ROW("guard", l->stack_guard, PAGE, "unmapped");
	ROW("stack", l->stack, l->stack_size, "rw-");
	ROW("ist stacks", l->ist, l->ist_size, "rw- (guard pages between)");
	ROW("page tables", l->pt, l->pt_size, "unmapped");
#undef ROW
}

/* ---- the walk the debugging code makes -------------------------------------- */

bool hl__gva_translate(const hl_sandbox *sb, uint64_t cr3, uint64_t gva, uint64_t *off,
                       uint64_t *room, bool *w, bool *x)
{
	/* Canonical addresses only: bits 63..47 all equal. */
	uint64_t top = gva >> 47;
	if (top != 0 && top != 0x1ffff)
		return false;
	uint64_t base = sb->lay.mem_base, size = sb->lay.mem_size;
	uint64_t t = cr3 & PTE_ADDR;
	bool writable = true, exec = true;
	for (int lvl = 0; lvl < 4; lvl++) {
		int shift = 39 - 9 * lvl;
		if (t < base || !hl__in_range(t - base, PAGE, size))
			return false;
		uint64_t e;
		memcpy(&e, sb->mem + (t - base) + ((gva >> shift) & 511) * 8, sizeof e);
		if (!(e & PTE_P))
			return false;
		writable = writable && (e & PTE_RW);
		exec = exec && !(e & PTE_NX);
		if (lvl == 3 || ((lvl == 1 || lvl == 2) && (e & PTE_PS))) {
			uint64_t psize = 1ull << shift;
			uint64_t pa = (e & PTE_ADDR & ~(psize - 1)) | (gva & (psize - 1));
			if (pa < base || pa - base >= size)
				return false;
			*off = pa - base;
			*room = psize - (gva & (psize - 1));
			if (*room > size - *off)
				*room = size - *off;
			*w = writable;
			*x = exec;
			return true;
		}
		t = e & PTE_ADDR;
	}
	return false;
}
