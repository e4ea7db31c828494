/*
 * gdb_target.c - what the gdb stub does to the stopped guest: the target
 * description and the registers in gdb's numbering, guest memory through
 * the guest's own page tables, software and hardware breakpoints, and the
 * first stop at the guest's entry point.
 *
 * Memory is reached only through the guest's page tables into the
 * sandbox's own mapping (hl__gva_translate), and a write marks its page
 * dirty so that a restore puts it back. Software breakpoints are HLT bytes
 * (0xf4) written into guest memory; reads of memory show the original
 * bytes (gdbstub.c says why HLT). Hardware breakpoints and watchpoints use
 * the four debug registers, armed at the next resume.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "gdb.h"

#define BP_INSN 0xf4 /* HLT */

/* ---- the target description ----------------------------------------------------
 * The registers in the order of the 'g' packet: the amd64 core and SSE
 * features as gdb names them (HL__GDB_NREGS of them). */
const char hl__gdb_target_xml[] =
	"<?xml version=\"1.0\"?>\n"
	"<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
	"<target version=\"1.0\">\n"
	"<architecture>i386:x86-64</architecture>\n"
	"<feature name=\"org.gnu.gdb.i386.core\">\n"
	"<reg name=\"rax\" bitsize=\"64\" type=\"int64\" regnum=\"0\"/>\n"
	"<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
	"<reg name=\"eflags\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"</feature>\n"
	"<feature name=\"org.gnu.gdb.i386.sse\">\n"
	"<vector id=\"v2u64\" type=\"uint64\" count=\"2\"/>\n"
	"<reg name=\"xmm0\" bitsize=\"128\" type=\"v2u64\" regnum=\"40\"/>\n"
	"<reg name=\"xmm1\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm2\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm3\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm4\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm5\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm6\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm7\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm8\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm9\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm10\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm11\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm12\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm13\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm14\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"xmm15\" bitsize=\"128\" type=\"v2u64\"/>\n"
	"<reg name=\"mxcsr\" bitsize=\"32\" type=\"int\" group=\"vector\"/>\n"
	"</feature>\n"
	"</target>\n";
const size_t hl__gdb_target_xml_len = sizeof hl__gdb_target_xml - 1;

/* Register sizes in bytes, by number. Registers 0..23 come from get_regs,
 * the x87 and SSE registers (24..56, read-only here) from get_fpu. */
unsigned hl__gdb_reg_size(unsigned n)
{
	if (n <= 16)
		return 8;
	if (n <= 23)
		return 4;
	if (n <= 31)
		return 10;
	if (n <= 39)
		return 4;
	if (n <= 55)
		return 16;
	return 4;
}

/* The value of register n (0..23) in r, and a pointer to it for writes
 * (NULL for the selectors, which cannot be set). */
uint64_t *hl__gdb_reg_ptr(struct hl_regs *r, unsigned n, uint64_t *ro)
{
	/* gdb's amd64 order: rax rbx rcx rdx rsi rdi rbp rsp r8..r15 rip */
	/* clang-format off */
	static const size_t gpr[17] = {
		offsetof(struct hl_regs, rax), offsetof(struct hl_regs, rbx),
		offsetof(struct hl_regs, rcx), offsetof(struct hl_regs, rdx),
		offsetof(struct hl_regs, rsi), offsetof(struct hl_regs, rdi),
		offsetof(struct hl_regs, rbp), offsetof(struct hl_regs, rsp),
		offsetof(struct hl_regs, r8),  offsetof(struct hl_regs, r9),
		offsetof(struct hl_regs, r10), offsetof(struct hl_regs, r11),
		offsetof(struct hl_regs, r12), offsetof(struct hl_regs, r13),
		offsetof(struct hl_regs, r14), offsetof(struct hl_regs, r15),
		offsetof(struct hl_regs, rip)};
	/* clang-format on */
	if (n < 17)
		return (uint64_t *)((char *)r + gpr[n]);
	if (n == 17)
		return &r->rflags;
	const uint64_t sel[6] = {r->cs, r->ss, r->ds, r->es, r->fs, r->gs};
	*ro = sel[n - 18];
	return NULL;
}

/* ---- memory ------------------------------------------------------------------- */

uint64_t hl__gdb_current_cr3(hl_sandbox *sb)
{
	struct hl_regs r;
	struct hl_errbuf eb;
	return hl__backend.get_regs(sb->vm, &r, &eb) == 0 ? r.cr3 : sb->lay.pt;
}

/* Copies up to len bytes at guest virtual addr into buf; returns how many
 * (stops at the first unmapped page). Inserted int3 bytes read as the
 * original bytes. */
size_t hl__gdb_mem_read(hl_sandbox *sb, uint64_t cr3, uint64_t addr, uint8_t *buf, size_t len)
{
	struct hl__gdb *g = sb->gdb;
	size_t done = 0;
	while (done < len) {
		uint64_t off, room;
		bool w, x;
		if (!hl__gva_translate(sb, cr3, addr + done, &off, &room, &w, &x))
			break;
		size_t n = len - done < room ? len - done : (size_t)room;
		memcpy(buf + done, sb->mem + off, n);
		done += n;
	}
	for (int i = 0; i < HL__GDB_MAX_SW_BP; i++)
		if (g->sw[i].used && g->sw[i].addr - addr < done)
			buf[g->sw[i].addr - addr] = g->sw[i].orig;
	return done;
}

/* Writes one byte of guest memory and marks its page dirty, so that a
 * reset or restore puts it back. */
static bool poke(hl_sandbox *sb, uint64_t cr3, uint64_t addr, uint8_t v)
{
	uint64_t off, room;
	bool w, x;
	if (!hl__gva_translate(sb, cr3, addr, &off, &room, &w, &x))
		return false;
	sb->mem[off] = v;
	if (sb->dirty) {
		uint64_t page = off / HL_PAGE_SIZE;
		sb->dirty[page / 64] |= 1ull << (page % 64);
	}
	return true;
}

/* Writes len bytes; a byte under an inserted int3 changes the saved
 * original instead. Fails (nothing further written) at an unmapped byte. */
bool hl__gdb_mem_write(hl_sandbox *sb, uint64_t cr3, uint64_t addr, const uint8_t *buf, size_t len)
{
	struct hl__gdb *g = sb->gdb;
	for (size_t i = 0; i < len; i++) {
		bool shadowed = false;
		for (int k = 0; k < HL__GDB_MAX_SW_BP; k++)
			if (g->sw[k].used && g->sw[k].addr == addr + i) {
				g->sw[k].orig = buf[i];
				shadowed = true;
			}
		if (!shadowed && !poke(sb, cr3, addr + i, buf[i]))
			return false;
	}
	return true;
}

/* ---- breakpoints ----------------------------------------------------------------- */

const char *hl__gdb_sw_insert(hl_sandbox *sb, uint64_t addr)
{
	struct hl__gdb *g = sb->gdb;
	int freei = -1;
	for (int i = 0; i < HL__GDB_MAX_SW_BP; i++) {
		if (g->sw[i].used && g->sw[i].addr == addr)
			return "OK";
		if (!g->sw[i].used && freei < 0)
			freei = i;
	}
	if (freei < 0)
		return "E28"; /* ENOSPC */
	uint64_t cr3 = hl__gdb_current_cr3(sb);
	uint8_t orig;
	if (hl__gdb_mem_read(sb, cr3, addr, &orig, 1) != 1 || !poke(sb, cr3, addr, BP_INSN))
		return "E0e"; /* EFAULT */
	g->sw[freei] = (struct hl__gdb_bp){.addr = addr, .orig = orig, .used = true};
	return "OK";
}

const char *hl__gdb_sw_remove(hl_sandbox *sb, uint64_t addr)
{
	struct hl__gdb *g = sb->gdb;
	for (int i = 0; i < HL__GDB_MAX_SW_BP; i++)
		if (g->sw[i].used && g->sw[i].addr == addr) {
			g->sw[i].used = false;
			poke(sb, hl__gdb_current_cr3(sb), addr, g->sw[i].orig);
		}
	return "OK";
}

bool hl__gdb_sw_at(const struct hl__gdb *g, uint64_t addr)
{
	for (int i = 0; i < HL__GDB_MAX_SW_BP; i++)
		if (g->sw[i].used && g->sw[i].addr == addr)
			return true;
	return false;
}

/* type: 1 execute, 2 write, 4 access (x86 has no read-only watchpoint). */
const char *hl__gdb_hw_set(hl_sandbox *sb, unsigned type, uint64_t addr, uint64_t kind, bool insert)
{
	struct hl__gdb *g = sb->gdb;
	unsigned rw, lenbits;
	if (type == 1) {
		rw = 0;
		lenbits = 0;
	} else {
		rw = type == 2 ? 1 : 3;
		switch (kind) {
		case 1: lenbits = 0; break;
		case 2: lenbits = 1; break;
		case 4: lenbits = 3; break;
		case 8: lenbits = 2; break;
		default: return "E16"; /* EINVAL */
		}
		if (addr & (kind - 1))
			return "E16";
	}
	for (int i = 0; i < 4; i++) {
		if (insert ? g->hw_kind[i] != 0 : (g->hw_kind[i] != type || g->dbg.dr[i] != addr))
			continue;
		uint64_t field = 0xfull << (16 + 4 * i);
		if (insert) {
			g->hw_kind[i] = (uint8_t)type;
			g->dbg.dr[i] = addr;
			g->dbg.dr7 = (g->dbg.dr7 & ~field) |
			             ((uint64_t)(rw | lenbits << 2) << (16 + 4 * i));
			g->dbg.dr7 |= 1ull << (2 * i);
		} else {
			g->hw_kind[i] = 0;
			g->dbg.dr[i] = 0;
			g->dbg.dr7 &= ~(field | 1ull << (2 * i));
		}
		g->dbg.hw_bp = (g->dbg.dr7 & 0xff) != 0;
		return "OK";
	}
	return insert ? "E28" : "OK";
}

/* ---- the stop at the guest's entry -------------------------------------------------- */

/*
 * gdb's first stop is at the guest's entry point, whatever runs before it.
 * A backend may start the vCPU in code of its own that then jumps there
 * (kvm-pvm's entry code, backend.h code_va): registers seen there are not
 * yet the guest's, and a RIP gdb set there would be lost. The stub then
 * plants a breakpoint of its own at the entry and lets the run loop go;
 * gdb_halted removes it and serves gdb there. Returns 1 when the vCPU
 * is at the entry already, 0 when the breakpoint is planted, or an error
 * (the message is set).
 */
int hl__gdb_run_to_entry(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	struct hl_regs r;
	struct hl_errbuf eb = {{0}};
	if (hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
		sb->fault = (hl_fault){.kind = HL_FAULT_HYPERVISOR};
		return hl__guest_fail(sb, HL_E_HYPERVISOR, "gdb stub: %s", eb.msg);
	}
	uint64_t entry = sb->lay.entry;
	if (r.rip == entry)
		return 1;
	uint8_t orig;
	if (hl__gdb_mem_read(sb, r.cr3, entry, &orig, 1) != 1 || !poke(sb, r.cr3, entry, BP_INSN))
		return hl__fail(sb, HL_E_ELF,
		                "gdb stub: the guest's entry point 0x%llx is not mapped",
		                (unsigned long long)entry);
	g->entry_bp = (struct hl__gdb_bp){.addr = entry, .orig = orig, .used = true};
	return 0;
}

void hl__gdb_entry_bp_remove(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	if (!g->entry_bp.used)
		return;
	g->entry_bp.used = false;
	poke(sb, hl__gdb_current_cr3(sb), g->entry_bp.addr, g->entry_bp.orig);
}

/* ---- registers -------------------------------------------------------------------- */

/* Register n (24..56) from the FXSAVE image, in gdb's terms. */
static void fpu_reg_hex(const uint8_t *fx, unsigned n, char *o)
{
	uint16_t w16;
	uint32_t w32;
	uint64_t w64;
	const uint8_t *src = NULL;
	uint64_t v = 0;
	if (n <= 31) {
		src = fx + 32 + (n - 24) * 16;
	} else if (n >= 40 && n <= 55) {
		src = fx + 160 + (n - 40) * 16;
	} else {
		/* clang-format off */
		switch (n) {
		case 32: memcpy(&w16, fx + 0, 2); v = w16; break; /* fctrl */
		case 33: memcpy(&w16, fx + 2, 2); v = w16; break; /* fstat */
		case 34: /* ftag: the full tag word from the abridged one (empty = 3) */
			for (int i = 0; i < 8; i++)
				if (!(fx[4] >> i & 1))
					v |= 3ull << (2 * i);
			break;
		case 36: memcpy(&w64, fx + 8, 8); v = (uint32_t)w64; break;  /* fioff */
		case 38: memcpy(&w64, fx + 16, 8); v = (uint32_t)w64; break; /* fooff */
		case 39: memcpy(&w16, fx + 6, 2); v = w16; break;            /* fop */
		case 56: memcpy(&w32, fx + 24, 4); v = w32; break;           /* mxcsr */
		default: break;                                             /* fiseg, foseg */
		}
		/* clang-format on */
	}
	unsigned sz = hl__gdb_reg_size(n);
	if (src)
		hl__gdb_put_hex(o, src, sz);
	else
		*hl__gdb_put_le(o, v, sz) = '\0';
}

/* fx is NULL when the FPU state could not be read: those registers are
 * then reported unavailable. */
void hl__gdb_reg_hex(struct hl_regs *r, const uint8_t *fx, unsigned n, char *o)
{
	unsigned sz = hl__gdb_reg_size(n);
	if (n > 23) {
		if (fx) {
			fpu_reg_hex(fx, n, o);
			return;
		}
		memset(o, 'x', 2 * sz);
		o[2 * sz] = '\0';
		return;
	}
	uint64_t ro = 0;
	uint64_t *p = hl__gdb_reg_ptr(r, n, &ro);
	*hl__gdb_put_le(o, p ? *p : ro, sz) = '\0';
}

/* ---- leaving ---------------------------------------------------------------------- */

void hl__gdb_target_clear(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	for (int i = 0; i < HL__GDB_MAX_SW_BP; i++)
		if (g->sw[i].used)
			hl__gdb_sw_remove(sb, g->sw[i].addr);
	hl__gdb_entry_bp_remove(sb);
	memset(&g->dbg, 0, sizeof g->dbg);
	memset(g->hw_kind, 0, sizeof g->hw_kind);
	struct hl_errbuf eb;
	if (sb->vm)
		hl__backend.set_debug(sb->vm, &g->dbg, &eb);
}
