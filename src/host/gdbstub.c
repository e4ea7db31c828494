/*
 * gdbstub.c - the gdb remote serial protocol for one sandbox, over a
 * loopback TCP socket with one client.
 *
 * The stub runs on the thread that runs the guest, only while the guest is
 * stopped: at the guest's entry point (gdb_before_run, or the first halt
 * when the backend's own code runs before it) and at every debug exit
 * (gdb_stop, gdb_halted), which the run loop calls through the hooks
 * hl_sandbox_debug_listen installs (struct hl__debugger). Everything from the socket is untrusted:
 * packets have a fixed maximum size, every number is range-checked, and
 * memory is reached only through the guest's page tables into the
 * sandbox's own mapping (hl__gva_translate).
 *
 * Software breakpoints are HLT bytes (0xf4) the stub writes into guest
 * memory; reads of memory show the original bytes. HLT exits to the host
 * on every x86 hypervisor without an exception intercept, so breakpoints
 * also work where a nested hypervisor does not intercept INT3 (QEMU's
 * emulated SVM delivers INT3 to the guest whatever KVM asks), and the
 * guest's own INT3 keeps its meaning (a guest fault). A halt at an
 * address without a breakpoint is still the guest's own. Hardware
 * breakpoints and watchpoints use the four debug registers; single steps
 * use the trap flag through the hypervisor. Where the hypervisor cannot
 * report those to the host (backend info no_debug_exits: kvm-pvm), the stub
 * refuses them when gdb asks, with a reason, and the session goes on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "internal.h"

#define PKT_MAX 4096 /* payload bytes, both ways (PacketSize) */
#define MAX_SW_BP 64
#define BP_INSN 0xf4 /* HLT */

struct sw_bp {
	uint64_t addr;
	uint8_t orig;
	bool used;
};

struct hl__gdb {
	int listen_fd;
	int fd;         /* the client, -1 if none */
	bool started;   /* a client has connected once */
	bool no_ack;    /* QStartNoAckMode */
	struct hl_debug_cfg dbg;
	struct sw_bp sw[MAX_SW_BP];
	struct sw_bp entry_bp; /* the stub's own, at the guest's entry (run_to_entry) */
	uint8_t hw_kind[4]; /* 0 free, else the Z type (1 exec, 2 write, 4 access) */
	char stop[64];      /* the last stop reply */
	/* receive buffer */
	char rbuf[1024];
	size_t rpos, rlen;
	char pkt[PKT_MAX + 1];
	char out[PKT_MAX + 1];
};

/* ---- the target description ----------------------------------------------------
 * The registers in the order of the 'g' packet: the amd64 core and SSE
 * features as gdb names them. */
static const char target_xml[] =
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

#define NREGS 57
/* Register sizes in bytes, by number. Registers 0..23 come from get_regs,
 * the x87 and SSE registers (24..56, read-only here) from get_fpu. */
static unsigned reg_size(unsigned n)
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
static uint64_t *reg_ptr(struct hl_regs *r, unsigned n, uint64_t *ro)
{
	/* gdb's amd64 order: rax rbx rcx rdx rsi rdi rbp rsp r8..r15 rip */
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
	if (n < 17)
		return (uint64_t *)((char *)r + gpr[n]);
	if (n == 17)
		return &r->rflags;
	const uint64_t sel[6] = {r->cs, r->ss, r->ds, r->es, r->fs, r->gs};
	*ro = sel[n - 18];
	return NULL;
}

/* ---- the wire ----------------------------------------------------------------- */

static const char hexd[] = "0123456789abcdef";

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses hex digits at *p (at least one, at most 16) up to a non-hex character. */
static bool parse_hex(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int n = 0;
	for (; hexval(*s) >= 0; s++, n++) {
		if (n == 16)
			return false;
		x = x << 4 | (uint64_t)hexval(*s);
	}
	if (n == 0)
		return false;
	*v = x;
	*p = s;
	return true;
}

static void drop_client(struct hl__gdb *g)
{
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
}

static bool send_raw(struct hl__gdb *g, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(g->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* The next byte from the client, or -1 when it is gone. */
static int get_byte(struct hl__gdb *g)
{
	if (g->rpos == g->rlen) {
		ssize_t k;
		do
			k = recv(g->fd, g->rbuf, sizeof g->rbuf, 0);
		while (k < 0 && errno == EINTR);
		if (k <= 0)
			return -1;
		g->rpos = 0;
		g->rlen = (size_t)k;
	}
	return (unsigned char)g->rbuf[g->rpos++];
}

/* Sends one packet (payload NUL-terminated) and waits for its
 * acknowledgement. false if the client is gone. */
static bool put_packet(struct hl__gdb *g, const char *payload)
{
	size_t n = strlen(payload);
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + (uint8_t)payload[i]);
	char tail[3] = {'#', hexd[sum >> 4], hexd[sum & 15]};
	for (int tries = 0; tries < 8; tries++) {
		if (!send_raw(g, "$", 1) || !send_raw(g, payload, n) || !send_raw(g, tail, 3))
			return false;
		if (g->no_ack)
			return true;
		int c = get_byte(g);
		if (c == '+')
			return true;
		if (c < 0)
			return false;
		/* '-' or noise: send again */
	}
	return false;
}

/* Receives one packet into g->pkt (NUL-terminated). false if the client
 * is gone or keeps sending garbage. */
static bool get_packet(struct hl__gdb *g)
{
	for (;;) {
		int c;
		do
			c = get_byte(g);
		while (c >= 0 && c != '$'); /* acks, ^C and noise between packets */
		if (c < 0)
			return false;
		size_t n = 0;
		uint8_t sum = 0;
		bool overflow = false;
		while ((c = get_byte(g)) >= 0 && c != '#') {
			sum = (uint8_t)(sum + (uint8_t)c);
			if (n < PKT_MAX)
				g->pkt[n++] = (char)c;
			else
				overflow = true;
		}
		if (c < 0)
			return false;
		int h = get_byte(g), l = get_byte(g);
		if (h < 0 || l < 0)
			return false;
		bool ok = !overflow && hexval((char)h) >= 0 && hexval((char)l) >= 0 &&
		          (uint8_t)(hexval((char)h) << 4 | hexval((char)l)) == sum;
		if (g->no_ack) {
			if (!ok)
				continue; /* nothing to ask again with: drop it */
		} else if (!send_raw(g, ok ? "+" : "-", 1)) {
			return false;
		} else if (!ok) {
			continue;
		}
		g->pkt[n] = '\0';
		return true;
	}
}

/* ---- memory ------------------------------------------------------------------- */

static uint64_t current_cr3(hl_sandbox *sb)
{
	struct hl_regs r;
	struct hl_errbuf eb;
	return hl__backend.get_regs(sb->vm, &r, &eb) == 0 ? r.cr3 : sb->lay.pt;
}

/* Copies up to len bytes at guest virtual addr into buf; returns how many
 * (stops at the first unmapped page). Inserted int3 bytes read as the
 * original bytes. */
static size_t mem_read(hl_sandbox *sb, uint64_t cr3, uint64_t addr, uint8_t *buf, size_t len)
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
	for (int i = 0; i < MAX_SW_BP; i++)
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
static bool mem_write(hl_sandbox *sb, uint64_t cr3, uint64_t addr, const uint8_t *buf, size_t len)
{
	struct hl__gdb *g = sb->gdb;
	for (size_t i = 0; i < len; i++) {
		bool shadowed = false;
		for (int k = 0; k < MAX_SW_BP; k++)
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

static const char *sw_insert(hl_sandbox *sb, uint64_t addr)
{
	struct hl__gdb *g = sb->gdb;
	int freei = -1;
	for (int i = 0; i < MAX_SW_BP; i++) {
		if (g->sw[i].used && g->sw[i].addr == addr)
			return "OK";
		if (!g->sw[i].used && freei < 0)
			freei = i;
	}
	if (freei < 0)
		return "E28"; /* ENOSPC */
	uint64_t cr3 = current_cr3(sb);
	uint8_t orig;
	if (mem_read(sb, cr3, addr, &orig, 1) != 1 || !poke(sb, cr3, addr, BP_INSN))
		return "E0e"; /* EFAULT */
	g->sw[freei] = (struct sw_bp){.addr = addr, .orig = orig, .used = true};
	return "OK";
}

static const char *sw_remove(hl_sandbox *sb, uint64_t addr)
{
	struct hl__gdb *g = sb->gdb;
	for (int i = 0; i < MAX_SW_BP; i++)
		if (g->sw[i].used && g->sw[i].addr == addr) {
			g->sw[i].used = false;
			poke(sb, current_cr3(sb), addr, g->sw[i].orig);
		}
	return "OK";
}

/* type: 1 execute, 2 write, 4 access (x86 has no read-only watchpoint). */
static const char *hw_set(hl_sandbox *sb, unsigned type, uint64_t addr, uint64_t kind, bool insert)
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
			g->dbg.dr7 = (g->dbg.dr7 & ~field) | ((uint64_t)(rw | lenbits << 2) << (16 + 4 * i));
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
static int run_to_entry(hl_sandbox *sb)
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
	if (mem_read(sb, r.cr3, entry, &orig, 1) != 1 || !poke(sb, r.cr3, entry, BP_INSN))
		return hl__fail(sb, HL_E_ELF, "gdb stub: the guest's entry point 0x%llx is not mapped",
		                (unsigned long long)entry);
	g->entry_bp = (struct sw_bp){.addr = entry, .orig = orig, .used = true};
	return 0;
}

static void entry_bp_remove(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	if (!g->entry_bp.used)
		return;
	g->entry_bp.used = false;
	poke(sb, current_cr3(sb), g->entry_bp.addr, g->entry_bp.orig);
}

/* ---- registers -------------------------------------------------------------------- */

static char *put_le(char *o, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++, v >>= 8) {
		*o++ = hexd[(v >> 4) & 15];
		*o++ = hexd[v & 15];
	}
	return o;
}

/* Little-endian value of `bytes` bytes in hex at p; false if malformed. */
static bool get_le(const char *p, unsigned bytes, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned i = 0; i < bytes; i++) {
		int h = hexval(p[2 * i]), l = hexval(p[2 * i + 1]);
		if (h < 0 || l < 0)
			return false;
		x |= (uint64_t)(h << 4 | l) << (8 * i);
	}
	*v = x;
	return true;
}

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
	}
	unsigned sz = reg_size(n);
	if (src) {
		for (unsigned i = 0; i < sz; i++) {
			*o++ = hexd[src[i] >> 4];
			*o++ = hexd[src[i] & 15];
		}
		*o = '\0';
		return;
	}
	*put_le(o, v, sz) = '\0';
}

/* fx is NULL when the FPU state could not be read: those registers are
 * then reported unavailable. */
static void reg_hex(struct hl_regs *r, const uint8_t *fx, unsigned n, char *o)
{
	unsigned sz = reg_size(n);
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
	uint64_t *p = reg_ptr(r, n, &ro);
	*put_le(o, p ? *p : ro, sz) = '\0';
}

/* ---- the command loop ---------------------------------------------------------------- */

/* KEEP_SERVING: a command handled within serve() has put its reply in
 * g->out and the loop goes on; serve() itself never returns it. */
enum { SERVE_RESUME = 0, SERVE_GONE = 1, KEEP_SERVING = 2 };

static int resume(hl_sandbox *sb, bool step)
{
	struct hl__gdb *g = sb->gdb;
	struct hl_errbuf eb = {{0}};
	g->dbg.single_step = step;
	if (hl__backend.set_debug(sb->vm, &g->dbg, &eb) < 0) {
		sb->fault = (hl_fault){.kind = HL_FAULT_HYPERVISOR};
		return hl__guest_fail(sb, HL_E_HYPERVISOR, "gdb stub: %s", eb.msg);
	}
	return SERVE_RESUME;
}

/* Stops debugging: breakpoint bytes removed, guest debugging off, client
 * closed. The guest then runs on as if no debugger had been there. */
static void detach(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	for (int i = 0; i < MAX_SW_BP; i++)
		if (g->sw[i].used)
			sw_remove(sb, g->sw[i].addr);
	entry_bp_remove(sb);
	memset(&g->dbg, 0, sizeof g->dbg);
	memset(g->hw_kind, 0, sizeof g->hw_kind);
	struct hl_errbuf eb;
	if (sb->vm)
		hl__backend.set_debug(sb->vm, &g->dbg, &eb);
	drop_client(g);
}

/* What a resume packet asks of our one thread. */
struct resume_req {
	bool step;
	bool has_addr; /* c ADDR, s ADDR: resume at addr */
	uint64_t addr;
};

/*
 * vCont;ACTION[:THREAD]...: the first action for thread 1 (no thread, -1,
 * 0 "any", or 1) applies. C and S carry a signal, which a guest has no way
 * to receive: it is dropped, as when gdb resumes a stopped guest without
 * one. `p` points at the first ';'. false if malformed, or no action is
 * for thread 1, or an action other than c, C, s and S.
 */
static bool parse_vcont(const char *p, struct resume_req *rq)
{
	while (*p == ';') {
		char a = *++p;
		if (a != 'c' && a != 'C' && a != 's' && a != 'S')
			return false;
		p++;
		uint64_t v;
		if ((a == 'C' || a == 'S') && (!parse_hex(&p, &v) || v > 0xff))
			return false;
		bool ours = true;
		if (*p == ':') {
			p++;
			if (p[0] == '-' && p[1] == '1')
				p += 2;
			else if (!parse_hex(&p, &v))
				return false;
			else
				ours = v == 0 || v == 1;
		}
		if (*p && *p != ';')
			return false;
		if (ours) {
			*rq = (struct resume_req){.step = a == 's' || a == 'S'};
			return true;
		}
	}
	return false;
}

/* c[ADDR], s[ADDR] or vCont;...: false if malformed. */
static bool parse_resume(const char *p, struct resume_req *rq)
{
	if (strncmp(p, "vCont;", 6) == 0)
		return parse_vcont(p + 5, rq);
	*rq = (struct resume_req){.step = p[0] == 's', .has_addr = p[1] != '\0'};
	const char *q = p + 1;
	return !rq->has_addr || (parse_hex(&q, &rq->addr) && *q == '\0');
}

/* Sends text to gdb's console (an 'O' packet, valid while gdb waits for a
 * resume to end). A client gone shows at the next packet. */
static void console(struct hl__gdb *g, const char *text)
{
	char *o = g->out;
	*o++ = 'O';
	for (const char *t = text; *t && o + 2 < g->out + PKT_MAX; t++) {
		*o++ = hexd[(unsigned char)*t >> 4];
		*o++ = hexd[*t & 15];
	}
	*o = '\0';
	put_packet(g, g->out);
}

/*
 * A step where the hypervisor cannot report one (backend info
 * no_debug_exits): the guest stays where it is and gdb is told why on its
 * console. The reply is a stop without a signal ("S00": stopped, nothing
 * happened), which gdb reports as "Program stopped." at the same place. Not
 * an error reply: gdb 13 keeps the previous stop's reason then, and after a
 * breakpoint stop it takes the error for that breakpoint's trap and steps
 * again, forever. gdb also steps to continue from an address where a
 * breakpoint is inserted, hence the advice.
 */
static void refuse_step(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	char msg[512];
	snprintf(msg, sizeof msg,
	         "hyperlight: %s cannot single-step the guest: the trap would go to the guest's own "
	         "#DB handler, never to the host. Software breakpoints (break) and continue work; "
	         "to continue from a breakpoint's own address, delete or disable it first.\n",
	         sb->bk.name);
	console(g, msg);
	snprintf(g->stop, sizeof g->stop, "S00");
	snprintf(g->out, sizeof g->out, "%s", g->stop);
}

/*
 * c, s and vCont: resumes the guest (SERVE_RESUME, or an error if the
 * hypervisor refused), or puts the reply in g->out (an error, or a refused
 * step's stop) and returns KEEP_SERVING. A refused step changes nothing,
 * not even RIP.
 */
static int resume_cmd(hl_sandbox *sb, const char *p)
{
	struct hl__gdb *g = sb->gdb;
	struct resume_req rq;
	struct hl_regs r;
	struct hl_errbuf eb = {{0}};
	if (!parse_resume(p, &rq)) {
		snprintf(g->out, sizeof g->out, "E16");
		return KEEP_SERVING;
	}
	if (rq.step && sb->bk.no_debug_exits) {
		refuse_step(sb);
		return KEEP_SERVING;
	}
	if (rq.has_addr) {
		if (hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
			snprintf(g->out, sizeof g->out, "E16");
			return KEEP_SERVING;
		}
		r.rip = rq.addr;
		if (hl__backend.set_regs(sb->vm, &r, &eb) < 0) {
			snprintf(g->out, sizeof g->out, "E05");
			return KEEP_SERVING;
		}
	}
	return resume(sb, rq.step);
}

/*
 * Z1, Z2, Z4 where the hypervisor cannot report debug-register hits
 * (no_debug_exits): nothing is armed. The 'E.' reply carries the reason as
 * text (the protocol's textual error) for clients that show it; gdb 13
 * says only that the breakpoint could not be inserted. No '.' in the text:
 * gdb 13 would show the part of a Z1 reply after one.
 */
static void refuse_hw(hl_sandbox *sb, char *o)
{
	snprintf(o, PKT_MAX,
	         "E.%s cannot report hardware breakpoints or watchpoints to the host (the guest's "
	         "own #DB handler would take them); use break (software breakpoints work)",
	         sb->bk.name);
}

/* qSupported: what this stub does, here. hwbreak+ only where hardware
 * breakpoints can be reported; vContSupported+: vCont? tells the truth about
 * stepping. */
static void supported(const hl_sandbox *sb, char *o)
{
	snprintf(o, PKT_MAX, "PacketSize=%x;qXfer:features:read+;swbreak+;%s"
	                     "QStartNoAckMode+;vContSupported+",
	         PKT_MAX, sb->bk.no_debug_exits ? "" : "hwbreak+;");
}

static void handle_qxfer(struct hl__gdb *g, const char *args)
{
	const char *p = args;
	uint64_t off, len;
	if (strncmp(p, "target.xml:", 11) != 0) {
		snprintf(g->out, sizeof g->out, "E00");
		return;
	}
	p += 11;
	if (!parse_hex(&p, &off) || *p++ != ',' || !parse_hex(&p, &len) || *p) {
		snprintf(g->out, sizeof g->out, "E16");
		return;
	}
	size_t total = sizeof target_xml - 1;
	if (off >= total) {
		snprintf(g->out, sizeof g->out, "l");
		return;
	}
	size_t n = total - off;
	if (n > len)
		n = len;
	if (n > PKT_MAX - 1)
		n = PKT_MAX - 1;
	/* The XML has no '$', '#', '}' or '*': no escaping needed. */
	g->out[0] = off + n < total ? 'm' : 'l';
	memcpy(g->out + 1, target_xml + off, n);
	g->out[1 + n] = '\0';
}

/* Serves the client until it resumes the guest (SERVE_RESUME), goes away
 * or detaches (SERVE_GONE, debugging off), or kills the guest (an error). */
static int serve(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	for (;;) {
		if (!get_packet(g)) {
			detach(sb);
			return SERVE_GONE;
		}
		const char *p = g->pkt;
		char *o = g->out;
		o[0] = '\0';
		uint64_t a, b;
		struct hl_regs r;
		struct hl_errbuf eb = {{0}};
		switch (p[0]) {
		case '?':
			snprintf(o, PKT_MAX, "%s", g->stop);
			break;
		case 'q':
			if (strncmp(p, "qSupported", 10) == 0)
				supported(sb, o);
			else if (strcmp(p, "qAttached") == 0)
				snprintf(o, PKT_MAX, "1");
			else if (strcmp(p, "qC") == 0)
				snprintf(o, PKT_MAX, "QC1");
			else if (strcmp(p, "qfThreadInfo") == 0)
				snprintf(o, PKT_MAX, "m1");
			else if (strcmp(p, "qsThreadInfo") == 0)
				snprintf(o, PKT_MAX, "l");
			else if (strncmp(p, "qXfer:features:read:", 20) == 0)
				handle_qxfer(g, p + 20);
			break;
		case 'Q':
			if (strcmp(p, "QStartNoAckMode") == 0) {
				if (!put_packet(g, "OK")) {
					detach(sb);
					return SERVE_GONE;
				}
				g->no_ack = true;
				continue;
			}
			break;
		case 'H': /* one thread */
		case 'T': /* thread 1 is alive */
			snprintf(o, PKT_MAX, "OK");
			break;
		case 'g': {
			if (hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
				snprintf(o, PKT_MAX, "E05");
				break;
			}
			uint8_t fx[512];
			bool have_fx = hl__backend.get_fpu(sb->vm, fx, &eb) == 0;
			for (unsigned n = 0; n < NREGS; n++) {
				reg_hex(&r, have_fx ? fx : NULL, n, o);
				o += strlen(o);
			}
			break;
		}
		case 'G': {
			/* The GPRs, RIP and RFLAGS; the rest is not settable here. */
			const char *h = p + 1;
			if (strlen(h) < 2 * (17 * 8 + 4) || hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
				snprintf(o, PKT_MAX, "E16");
				break;
			}
			struct hl_regs nr = r;
			bool ok = true;
			for (unsigned n = 0; n < 18 && ok; n++) {
				uint64_t ro, v;
				ok = get_le(h, reg_size(n), &v);
				if (ok)
					*reg_ptr(&nr, n, &ro) = v;
				h += 2 * reg_size(n);
			}
			if (!ok || hl__backend.set_regs(sb->vm, &nr, &eb) < 0)
				snprintf(o, PKT_MAX, "E16");
			else
				snprintf(o, PKT_MAX, "OK");
			break;
		}
		case 'p': {
			const char *q = p + 1;
			if (!parse_hex(&q, &a) || *q || a >= NREGS ||
			    hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
				snprintf(o, PKT_MAX, "E16");
				break;
			}
			uint8_t fx[512];
			bool have_fx = hl__backend.get_fpu(sb->vm, fx, &eb) == 0;
			reg_hex(&r, have_fx ? fx : NULL, (unsigned)a, o);
			break;
		}
		case 'P': {
			const char *q = p + 1;
			uint64_t v, ro;
			if (!parse_hex(&q, &a) || *q++ != '=' || a > 17 || strlen(q) != 2 * reg_size((unsigned)a) ||
			    !get_le(q, reg_size((unsigned)a), &v) ||
			    hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
				snprintf(o, PKT_MAX, "E16");
				break;
			}
			*reg_ptr(&r, (unsigned)a, &ro) = v;
			snprintf(o, PKT_MAX, hl__backend.set_regs(sb->vm, &r, &eb) < 0 ? "E05" : "OK");
			break;
		}
		case 'm': {
			const char *q = p + 1;
			if (!parse_hex(&q, &a) || *q++ != ',' || !parse_hex(&q, &b) || *q) {
				snprintf(o, PKT_MAX, "E16");
				break;
			}
			uint8_t buf[PKT_MAX / 2];
			size_t want = b < sizeof buf ? (size_t)b : sizeof buf;
			size_t got = mem_read(sb, current_cr3(sb), a, buf, want);
			if (got == 0 && want) {
				snprintf(o, PKT_MAX, "E0e");
				break;
			}
			for (size_t i = 0; i < got; i++) {
				*o++ = hexd[buf[i] >> 4];
				*o++ = hexd[buf[i] & 15];
			}
			*o = '\0';
			break;
		}
		case 'M': {
			const char *q = p + 1;
			if (!parse_hex(&q, &a) || *q++ != ',' || !parse_hex(&q, &b) || *q++ != ':' ||
			    b > PKT_MAX / 2 || strlen(q) != 2 * b) {
				snprintf(o, PKT_MAX, "E16");
				break;
			}
			uint8_t buf[PKT_MAX / 2];
			bool ok = true;
			for (size_t i = 0; i < b && ok; i++) {
				int h = hexval(q[2 * i]), l = hexval(q[2 * i + 1]);
				ok = h >= 0 && l >= 0;
				if (ok)
					buf[i] = (uint8_t)(h << 4 | l);
			}
			if (!ok)
				snprintf(o, PKT_MAX, "E16");
			else if (!mem_write(sb, current_cr3(sb), a, buf, (size_t)b))
				snprintf(o, PKT_MAX, "E0e");
			else
				snprintf(o, PKT_MAX, "OK");
			break;
		}
		case 'c':
		case 's': {
			int rc = resume_cmd(sb, p);
			if (rc != KEEP_SERVING)
				return rc;
			break;
		}
		case 'v':
			if (strcmp(p, "vCont?") == 0) {
				snprintf(o, PKT_MAX, "vCont;c;C%s", sb->bk.no_debug_exits ? "" : ";s;S");
			} else if (strncmp(p, "vCont;", 6) == 0) {
				int rc = resume_cmd(sb, p);
				if (rc != KEEP_SERVING)
					return rc;
			}
			break; /* other v packets: unsupported, empty reply */
		case 'Z':
		case 'z': {
			const char *q = p + 1;
			uint64_t type;
			if (!parse_hex(&q, &type) || *q++ != ',' || !parse_hex(&q, &a) || *q++ != ',' ||
			    !parse_hex(&q, &b) || (*q && *q != ';')) {
				snprintf(o, PKT_MAX, "E16");
				break;
			}
			bool ins = p[0] == 'Z';
			bool hw = type == 1 || type == 2 || type == 4;
			if (type == 0)
				snprintf(o, PKT_MAX, "%s", ins ? sw_insert(sb, a) : sw_remove(sb, a));
			else if (hw && ins && sb->bk.no_debug_exits)
				refuse_hw(sb, o);
			else if (hw)
				snprintf(o, PKT_MAX, "%s", hw_set(sb, (unsigned)type, a, b, ins));
			/* type 3 (read watchpoint): not on x86; empty reply */
			break;
		}
		case 'k':
			detach(sb);
			sb->fault = (hl_fault){.kind = HL_FAULT_NONE};
			return hl__guest_fail(sb, HL_E_CANCELLED, "the debugger killed the guest");
		case 'D':
			put_packet(g, "OK");
			detach(sb);
			return SERVE_GONE;
		default:
			break; /* unsupported: empty reply */
		}
		if (!put_packet(g, g->out)) {
			detach(sb);
			return SERVE_GONE;
		}
	}
}

/* ---- the hooks ----------------------------------------------------------------------- */

static int gdb_before_run(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	if (g->started)
		return 0;
	g->started = true;
	int fd;
	do
		fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	close(g->listen_fd); /* one client, ever */
	g->listen_fd = -1;
	if (fd < 0) {
		sb->fault = (hl_fault){.kind = HL_FAULT_NONE};
		return hl__fail(sb, HL_E_IO, "gdb stub: accept failed: %s", strerror(errno));
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	g->fd = fd;
	g->dbg = (struct hl_debug_cfg){.enable = true};
	snprintf(g->stop, sizeof g->stop, "S05");
	int at = run_to_entry(sb);
	if (at <= 0)
		return at; /* the stop comes at the first halt, or an error */
	int r = serve(sb);
	return r < 0 ? r : 0;
}

static int gdb_stop(hl_sandbox *sb, const struct hl_exit *x)
{
	struct hl__gdb *g = sb->gdb;
	if (!g || g->fd < 0) {
		/* No debugger (it left): nothing should stop the guest any more. */
		struct hl_debug_cfg off = {0};
		struct hl_errbuf eb;
		if (hl__backend.set_debug(sb->vm, &off, &eb) < 0)
			return hl__guest_fail(sb, HL_E_HYPERVISOR, "gdb stub: %s", eb.msg);
		return 0;
	}
	const char *why = "";
	char watch[48] = "";
	if (x->value == 3) {
		why = "swbreak:;";
	} else if (x->value == 1) {
		for (int i = 0; i < 4; i++)
			if ((x->detail >> i) & 1 && g->hw_kind[i]) {
				if (g->hw_kind[i] == 1) {
					why = "hwbreak:;";
				} else {
					snprintf(watch, sizeof watch, "%swatch:%llx;",
					         g->hw_kind[i] == 4 ? "a" : "",
					         (unsigned long long)g->dbg.dr[i]);
					why = watch;
				}
				break;
			}
	}
	snprintf(g->stop, sizeof g->stop, "T05%s", why);
	if (!put_packet(g, g->stop)) {
		detach(sb);
		return 0;
	}
	int r = serve(sb);
	return r < 0 ? r : 0;
}

static int gdb_halted(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	struct hl_regs r;
	struct hl_errbuf eb = {{0}};
	if (!g || g->fd < 0 || hl__backend.get_regs(sb->vm, &r, &eb) < 0)
		return 1;
	/* The vCPU has executed the HLT: RIP is one past the breakpoint. */
	bool entry = g->entry_bp.used && g->entry_bp.addr == r.rip - 1;
	bool ours = entry;
	for (int i = 0; i < MAX_SW_BP; i++)
		if (g->sw[i].used && g->sw[i].addr == r.rip - 1)
			ours = true;
	if (!ours)
		return 1;
	r.rip -= 1;
	if (hl__backend.set_regs(sb->vm, &r, &eb) < 0) {
		sb->fault = (hl_fault){.kind = HL_FAULT_HYPERVISOR};
		return hl__guest_fail(sb, HL_E_HYPERVISOR, "gdb stub: %s", eb.msg);
	}
	if (entry) {
		/* The first stop (run_to_entry): gdb asks for it with '?'. */
		entry_bp_remove(sb);
	} else {
		snprintf(g->stop, sizeof g->stop, "T05swbreak:;");
		if (!put_packet(g, g->stop)) {
			detach(sb);
			return 0;
		}
	}
	int s = serve(sb);
	return s < 0 ? s : 0;
}

static void gdb_close(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	if (!g)
		return;
	/* The guest is gone: killed by a signal (in gdb's numbering, which
	 * matches Linux for these) if it failed, else exited normally. */
	if (g->fd >= 0)
		put_packet(g, !sb->poisoned ? "W00"
		              : sb->fault.kind == HL_FAULT_ABORT ? "X06"
		              : sb->fault.kind == HL_FAULT_EXCEPTION && sb->fault.vector == 0 ? "X08"
		                                                                               : "X0b");
	drop_client(g);
	if (g->listen_fd >= 0)
		close(g->listen_fd);
	hl__free(g);
	sb->gdb = NULL;
	sb->debugger = NULL;
}

/* What the run loop calls (internal.h, struct hl__debugger). */
static const struct hl__debugger gdb_hooks = {
	.before_run = gdb_before_run,
	.stop = gdb_stop,
	.halted = gdb_halted,
	.close = gdb_close,
};

int hl_sandbox_debug_listen(hl_sandbox *sb, uint16_t port)
{
	if (!sb)
		return HL_E_INVAL;
	hl__clear_error(sb);
	if (port == 0)
		return hl__fail(sb, HL_E_INVAL, "hl_sandbox_debug_listen: port 0 (give 1..65535)");
	if (sb->state != HL__LOADED)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_debug_listen: %s",
		                sb->state == HL__EMPTY ? "no guest loaded"
		                                       : "only before hl_sandbox_init");
	if (sb->gdb)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_debug_listen: already listening");
	struct hl__gdb *g = hl__calloc(1, sizeof *g);
	if (!g)
		return hl__fail(sb, HL_E_NOMEM, "hl_sandbox_debug_listen: out of memory");
	g->fd = -1;
	g->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g->listen_fd < 0) {
		int e = errno;
		hl__free(g);
		return hl__fail(sb, HL_E_IO, "hl_sandbox_debug_listen: socket: %s", strerror(e));
	}
	int one = 1;
	setsockopt(g->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(g->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(g->listen_fd, 1) < 0) {
		int e = errno;
		close(g->listen_fd);
		hl__free(g);
		return hl__fail(sb, HL_E_IO, "hl_sandbox_debug_listen: 127.0.0.1:%u: %s", port,
		                strerror(e));
	}
	sb->gdb = g;
	sb->debugger = &gdb_hooks;
	return 0;
}
