/*
 * coredump.c - ELF core files of a guest: its registers and memory, for
 * `gdb GUEST CORE`.
 *
 * The file is an ordinary x86-64 Linux core as gdb reads it: a PT_NOTE with
 * NT_PRSTATUS (the general registers in user_regs_struct order),
 * NT_PRPSINFO and NT_FPREGSET (the vCPU's x87/SSE state), then one PT_LOAD per run of guest pages with the same
 * permissions, at the guest virtual addresses the page tables give them.
 * Pages that hold only zeros are left as holes in the file.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "internal.h"

#define PAGE 4096ull

/* ---- the notes -------------------------------------------------------------- */

/* The x86-64 Linux struct elf_prstatus, written out here so that the file
 * does not depend on the C library's headers. */
struct core_prstatus {
	int32_t si_signo, si_code, si_errno;
	int16_t cursig;
	uint16_t pad0;
	uint64_t sigpend, sighold;
	int32_t pid, ppid, pgrp, sid;
	uint64_t times[8]; /* utime, stime, cutime, cstime: struct timeval each */
	uint64_t reg[27];  /* user_regs_struct */
	int32_t fpvalid;
	int32_t pad1;
};
_Static_assert(sizeof(struct core_prstatus) == 336, "elf_prstatus layout");

/* The x86-64 Linux struct elf_prpsinfo. */
struct core_prpsinfo {
	char state, sname, zomb, nice;
	uint32_t pad0;
	uint64_t flag;
	uint32_t uid, gid;
	int32_t pid, ppid, pgrp, sid;
	char fname[16];
	char psargs[80];
};
_Static_assert(sizeof(struct core_prpsinfo) == 136, "elf_prpsinfo layout");

/* user_regs_struct indices */
/* clang-format off */
enum {
	UR_R15, UR_R14, UR_R13, UR_R12, UR_RBP, UR_RBX, UR_R11, UR_R10, UR_R9, UR_R8,
	UR_RAX, UR_RCX, UR_RDX, UR_RSI, UR_RDI, UR_ORIG_RAX, UR_RIP, UR_CS, UR_EFLAGS,
	UR_RSP, UR_SS, UR_FS_BASE, UR_GS_BASE, UR_DS, UR_ES, UR_FS, UR_GS
};
/* clang-format on */

/* The signal a Linux process would have received for a CPU exception. */
static int vector_signal(uint32_t v)
{
	/* clang-format off */
	switch (v) {
	case 0: case 16: case 19: return 8; /* SIGFPE */
	case 1: case 3: return 5;           /* SIGTRAP */
	case 6: return 4;                   /* SIGILL */
	case 17: return 7;                  /* SIGBUS */
	default: return 11;                 /* SIGSEGV */
	}
	/* clang-format on */
}

/* The registers of the interrupted context, from the exception record the
 * guest wrote (copied and checked by call.c). The values are only written
 * into the file, never used by the host; segment selectors and flags are
 * masked to their architectural widths; CS and SS as the comment below
 * says. The vCPU's registers give the FS and GS bases. */
static void regs_from_exception(const struct hl_exception *e, const struct hl_regs *vcpu,
                                uint64_t *reg)
{
	/* gpr[]: rax rbx rcx rdx rsi rdi rbp r8 .. r15 */
	reg[UR_RAX] = e->gpr[0];
	reg[UR_RBX] = e->gpr[1];
	reg[UR_RCX] = e->gpr[2];
	reg[UR_RDX] = e->gpr[3];
	reg[UR_RSI] = e->gpr[4];
	reg[UR_RDI] = e->gpr[5];
	reg[UR_RBP] = e->gpr[6];
	reg[UR_R8] = e->gpr[7];
	reg[UR_R9] = e->gpr[8];
	reg[UR_R10] = e->gpr[9];
	reg[UR_R11] = e->gpr[10];
	reg[UR_R12] = e->gpr[11];
	reg[UR_R13] = e->gpr[12];
	reg[UR_R14] = e->gpr[13];
	reg[UR_R15] = e->gpr[14];
	reg[UR_RIP] = e->rip;
	reg[UR_RSP] = e->rsp;
	reg[UR_EFLAGS] = e->rflags & 0xffffffffu;
	/* The interrupted context's selectors, from the exception frame (the
	 * vCPU's own SS is NULL after an IST stack switch). The guest runs at
	 * CPL 0: a frame with RPL-3 selectors comes from kvm-pvm, which runs
	 * it on the CPU at CPL 3 with user selectors of its own; the guest's
	 * are the kernel ones its GDT has (docs/platforms.md). */
	reg[UR_CS] = (e->cs & 3) == 3 ? 0x08 : e->cs & 0xffffu;
	reg[UR_SS] = (e->ss & 3) == 3 ? 0x10 : e->ss & 0xffffu;
	reg[UR_FS_BASE] = vcpu ? vcpu->fs_base : 0;
	reg[UR_GS_BASE] = vcpu ? vcpu->gs_base : 0;
}

static void regs_from_vcpu(const struct hl_regs *r, uint64_t *reg)
{
	reg[UR_RAX] = r->rax;
	reg[UR_RBX] = r->rbx;
	reg[UR_RCX] = r->rcx;
	reg[UR_RDX] = r->rdx;
	reg[UR_RSI] = r->rsi;
	reg[UR_RDI] = r->rdi;
	reg[UR_RBP] = r->rbp;
	reg[UR_RSP] = r->rsp;
	reg[UR_R8] = r->r8;
	reg[UR_R9] = r->r9;
	reg[UR_R10] = r->r10;
	reg[UR_R11] = r->r11;
	reg[UR_R12] = r->r12;
	reg[UR_R13] = r->r13;
	reg[UR_R14] = r->r14;
	reg[UR_R15] = r->r15;
	reg[UR_RIP] = r->rip;
	reg[UR_EFLAGS] = r->rflags & 0xffffffffu;
	reg[UR_CS] = r->cs;
	reg[UR_SS] = r->ss;
	reg[UR_DS] = r->ds;
	reg[UR_ES] = r->es;
	reg[UR_FS] = r->fs;
	reg[UR_GS] = r->gs;
	reg[UR_FS_BASE] = r->fs_base;
	reg[UR_GS_BASE] = r->gs_base;
}

/* Appends one note (name "CORE") to buf at *len; buf has room. */
static void put_note(uint8_t *buf, size_t *len, uint32_t type, const void *desc, uint32_t dsz)
{
	Elf64_Nhdr h = {.n_namesz = 5, .n_descsz = dsz, .n_type = type};
	memcpy(buf + *len, &h, sizeof h);
	*len += sizeof h;
	memcpy(buf + *len, "CORE\0\0\0", 8);
	*len += 8;
	memcpy(buf + *len, desc, dsz);
	*len += (dsz + 3u) & ~3u;
}

/* ---- the file ------------------------------------------------------------------ */

struct run {
	uint64_t va, off, len;
	bool w, x;
};

/* The runs of mapped guest pages, through the page tables the host built
 * (the guest cannot write them). */
static int collect_runs(const hl_sandbox *sb, struct run **out, size_t *n)
{
	const struct hl__layout *l = &sb->lay;
	struct run *runs = NULL;
	size_t cnt = 0, cap = 0;
	for (uint64_t va = l->mem_base; va < l->mem_base + l->mem_size; va += PAGE) {
		uint64_t off, room;
		bool w, x;
		if (!hl__gva_translate(sb, l->pt, va, &off, &room, &w, &x))
			continue;
		if (room < PAGE)
			continue;
		struct run *last = cnt ? &runs[cnt - 1] : NULL;
		if (last && last->va + last->len == va && last->off + last->len == off &&
		    last->w == w && last->x == x) {
			last->len += PAGE;
			continue;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct run *a = hl__realloc(runs, nc * sizeof *a);
			if (!a) {
				hl__free(runs);
				return -1;
			}
			runs = a;
			cap = nc;
		}
		runs[cnt++] = (struct run){.va = va, .off = off, .len = PAGE, .w = w, .x = x};
	}
	*out = runs;
	*n = cnt;
	return 0;
}

static bool write_all(int fd, const void *p, size_t len, uint64_t at)
{
	const uint8_t *b = p;
	while (len) {
		ssize_t k = pwrite(fd, b, len, (off_t)at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		b += k;
		len -= (size_t)k;
		at += (uint64_t)k;
	}
	return true;
}

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[256];
	for (size_t i = 0; i < PAGE; i += sizeof zero)
		if (memcmp(p + i, zero, sizeof zero) != 0)
			return false;
	return true;
}

/*
 * Writes the core to `path` (created, never overwritten). `exc` (may be
 * NULL) gives the registers of the interrupted context, `sig` the signal
 * to report. On failure fills why and returns -1 (the file is removed).
 */
static int write_core(hl_sandbox *sb, const char *path, const struct hl_exception *exc, int sig,
                      char *why, size_t whylen)
{
	struct hl_regs vr;
	struct hl_errbuf eb = {{0}};
	bool have_vcpu = hl__backend.get_regs(sb->vm, &vr, &eb) == 0;
	if (!exc && !have_vcpu) {
		snprintf(why, whylen, "%s", eb.msg);
		return -1;
	}
	struct core_prstatus ps;
	memset(&ps, 0, sizeof ps);
	ps.si_signo = sig;
	ps.cursig = (int16_t)sig;
	ps.pid = ps.ppid = ps.pgrp = ps.sid = 1;
	if (exc)
		regs_from_exception(exc, have_vcpu ? &vr : NULL, ps.reg);
	else
		regs_from_vcpu(&vr, ps.reg);
	ps.reg[UR_ORIG_RAX] = (uint64_t)-1;
	struct core_prpsinfo pi;
	memset(&pi, 0, sizeof pi);
	pi.sname = 'R';
	pi.pid = 1;
	snprintf(pi.fname, sizeof pi.fname, "hyperlight");
	snprintf(pi.psargs, sizeof pi.psargs, "hyperlight guest (sandbox memory at 0x%llx)",
	         (unsigned long long)sb->lay.mem_base);

	struct run *runs;
	size_t nruns;
	if (collect_runs(sb, &runs, &nruns) < 0) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	uint8_t fx[512];
	bool have_fpu = hl__backend.get_fpu(sb->vm, fx, &eb) == 0;
	ps.fpvalid = have_fpu;
	uint8_t notes[3 * (sizeof(Elf64_Nhdr) + 8) + sizeof ps + sizeof pi + sizeof fx];
	size_t nlen = 0;
	put_note(notes, &nlen, NT_PRSTATUS, &ps, sizeof ps);
	put_note(notes, &nlen, NT_PRPSINFO, &pi, sizeof pi);
	if (have_fpu)
		put_note(notes, &nlen, NT_FPREGSET, fx, sizeof fx);

	size_t nph = 1 + nruns;
	uint64_t notes_at = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
	uint64_t data_at = (notes_at + nlen + PAGE - 1) & ~(PAGE - 1);
	Elf64_Phdr *ph = hl__calloc(nph, sizeof *ph);
	if (!ph) {
		hl__free(runs);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	ph[0] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = notes_at, .p_filesz = nlen, .p_align = 4};
	uint64_t at = data_at;
	for (size_t i = 0; i < nruns; i++) {
		ph[1 + i] = (Elf64_Phdr){
			.p_type = PT_LOAD,
			.p_flags = PF_R | (runs[i].w ? PF_W : 0) | (runs[i].x ? PF_X : 0),
			.p_offset = at,
			.p_vaddr = runs[i].va,
			.p_paddr = runs[i].off + sb->lay.mem_base,
			.p_filesz = runs[i].len,
			.p_memsz = runs[i].len,
			.p_align = PAGE,
		};
		at += runs[i].len;
	}
	Elf64_Ehdr eh;
	memset(&eh, 0, sizeof eh);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = ET_CORE;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof eh;
	eh.e_ehsize = sizeof eh;
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)(nph < PN_XNUM ? nph : PN_XNUM);

	int rc = -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, whylen, "cannot create '%s': %s", path, strerror(errno));
		goto out;
	}
	if (nph >= PN_XNUM) {
		snprintf(why, whylen, "too many memory segments (%zu)", nph);
		goto out_unlink;
	}
	if (!write_all(fd, &eh, sizeof eh, 0) || !write_all(fd, ph, nph * sizeof *ph, sizeof eh) ||
	    !write_all(fd, notes, nlen, notes_at))
		goto io;
	at = data_at;
	for (size_t i = 0; i < nruns; i++) {
		for (uint64_t p = 0; p < runs[i].len; p += PAGE) {
			const uint8_t *src = sb->mem + runs[i].off + p;
			if (!page_is_zero(src) && !write_all(fd, src, PAGE, at + p))
				goto io;
		}
		at += runs[i].len;
	}
	if (ftruncate(fd, (off_t)at) < 0)
		goto io;
	rc = 0;
	goto out;
io:
	snprintf(why, whylen, "writing '%s': %s", path, strerror(errno ? errno : EIO));
out_unlink:
	unlink(path);
out:
	if (fd >= 0 && close(fd) < 0 && rc == 0) {
		snprintf(why, whylen, "writing '%s': %s", path, strerror(errno));
		unlink(path);
		rc = -1;
	}
	hl__free(ph);
	hl__free(runs);
	return rc;
}

/* ---- when a guest fails ------------------------------------------------------- */

static void append_msg(hl_sandbox *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append_msg(hl_sandbox *sb, const char *fmt, ...)
{
	size_t n = strlen(sb->errmsg);
	if (n + 1 >= sizeof sb->errmsg)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sb->errmsg + n, sizeof sb->errmsg - n, fmt, ap);
	va_end(ap);
}

void hl__core_on_failure(hl_sandbox *sb, int code)
{
	bool have_exc = sb->exc_valid;
	sb->exc_valid = false;
	if (code != HL_E_GUEST_FAULT && code != HL_E_GUEST_ABORT && code != HL_E_GUEST_PROTOCOL)
		return;
	const char *dir = getenv("HYPERLIGHT_CORE_DIR");
	if (!(sb->cfg.flags & HL_CONFIG_CORE_DUMP) && !(dir && dir[0]))
		return;
	if (!sb->vm || !sb->mem)
		return;
	if (!dir || !dir[0])
		dir = ".";
	/* A process-wide sequence number: two sandboxes failing in the same
	 * second get different names. */
	static atomic_uint seq;
	unsigned n = atomic_fetch_add(&seq, 1) + 1;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm) || !strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm))
		snprintf(stamp, sizeof stamp, "%lld", (long long)now);
	char path[4096];
	int len = snprintf(path, sizeof path, "%s/hyperlight-%ld-%u-%s.core", dir, (long)getpid(),
	                   n, stamp);
	char why[512];
	if (len < 0 || (size_t)len >= sizeof path) {
		append_msg(sb, "; core not written: HYPERLIGHT_CORE_DIR is too long");
		return;
	}
	int sig = 6; /* SIGABRT for an abort or a protocol error */
	if (have_exc)
		sig = vector_signal(sb->exc.vector);
	else if (code == HL_E_GUEST_FAULT)
		sig = 11;
	if (write_core(sb, path, have_exc ? &sb->exc : NULL, sig, why, sizeof why) < 0)
		append_msg(sb, "; core not written: %s", why);
	else
		append_msg(sb, "; core written to %s", path);
}

int hl_sandbox_core_dump(hl_sandbox *sb, const char *path)
{
	if (!sb)
		return HL_E_INVAL;
	if (!path)
		return hl__fail(sb, HL_E_INVAL, "hl_sandbox_core_dump: path is NULL");
	if (sb->in_call)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_core_dump: not during a call");
	if (!sb->vm || !sb->mem || sb->state == HL__EMPTY)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_core_dump: no guest loaded");
	char why[512];
	if (write_core(sb, path, NULL, 0, why, sizeof why) < 0)
		return hl__fail(sb, HL_E_IO, "hl_sandbox_core_dump: %s", why);
	return 0;
}
