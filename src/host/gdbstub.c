/*
 * gdbstub.c - the gdb remote serial protocol for one sandbox, over a
 * loopback TCP socket with one client: the socket, the command loop that
 * answers gdb's packets, and the hooks the run loop calls. The framing is
 * gdb_packet.c's, what is done to the guest gdb_target.c's (gdb.h).
 *
 * The stub runs on the thread that runs the guest, only while the guest is
 * stopped: at the guest's entry point (gdb_before_run, or the first halt
 * when the backend's own code runs before it) and at every debug exit
 * (gdb_stop, gdb_halted), which the run loop calls through the hooks
 * hl_sandbox_debug_listen installs (struct hl__debugger). Everything from
 * the socket is untrusted: packets have a fixed maximum size, every number
 * is range-checked, and memory is reached only through the guest's page
 * tables into the sandbox's own mapping (hl__gva_translate).
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
#include "gdb.h"

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
	hl__gdb_target_clear(sb);
	hl__gdb_drop(&sb->gdb->conn);
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
		if ((a == 'C' || a == 'S') && (!hl__gdb_parse_hex(&p, &v) || v > 0xff))
			return false;
		bool ours = true;
		if (*p == ':') {
			p++;
			if (p[0] == '-' && p[1] == '1')
				p += 2;
			else if (!hl__gdb_parse_hex(&p, &v))
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
	return !rq->has_addr || (hl__gdb_parse_hex(&q, &rq->addr) && *q == '\0');
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
	hl__gdb_console(&g->conn, msg);
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
	snprintf(o, HL__GDB_PKT_MAX,
	         "E.%s cannot report hardware breakpoints or watchpoints to the host (the guest's "
	         "own #DB handler would take them); use break (software breakpoints work)",
	         sb->bk.name);
}

/* qSupported: what this stub does, here. hwbreak+ only where hardware
 * breakpoints can be reported; vContSupported+: vCont? tells the truth about
 * stepping. */
static void supported(const hl_sandbox *sb, char *o)
{
	snprintf(o, HL__GDB_PKT_MAX,
	         "PacketSize=%x;qXfer:features:read+;swbreak+;%s"
	         "QStartNoAckMode+;vContSupported+",
	         HL__GDB_PKT_MAX, sb->bk.no_debug_exits ? "" : "hwbreak+;");
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
	if (!hl__gdb_parse_hex(&p, &off) || *p++ != ',' || !hl__gdb_parse_hex(&p, &len) || *p) {
		snprintf(g->out, sizeof g->out, "E16");
		return;
	}
	size_t total = hl__gdb_target_xml_len;
	if (off >= total) {
		snprintf(g->out, sizeof g->out, "l");
		return;
	}
	size_t n = total - off;
	if (n > len)
		n = len;
	if (n > HL__GDB_PKT_MAX - 1)
		n = HL__GDB_PKT_MAX - 1;
	/* The XML has no '$', '#', '}' or '*': no escaping needed. */
	g->out[0] = off + n < total ? 'm' : 'l';
	memcpy(g->out + 1, hl__gdb_target_xml + off, n);
	g->out[1 + n] = '\0';
}

/* Serves the client until it resumes the guest (SERVE_RESUME), goes away
 * or detaches (SERVE_GONE, debugging off), or kills the guest (an error). */
static int serve(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	for (;;) {
		if (!hl__gdb_get_packet(&g->conn)) {
			detach(sb);
			return SERVE_GONE;
		}
		const char *p = g->conn.pkt;
		char *o = g->out;
		o[0] = '\0';
		uint64_t a, b;
		struct hl_regs r;
		struct hl_errbuf eb = {{0}};
		switch (p[0]) {
		case '?': snprintf(o, HL__GDB_PKT_MAX, "%s", g->stop); break;
		case 'q':
			if (strncmp(p, "qSupported", 10) == 0)
				supported(sb, o);
			else if (strcmp(p, "qAttached") == 0)
				snprintf(o, HL__GDB_PKT_MAX, "1");
			else if (strcmp(p, "qC") == 0)
				snprintf(o, HL__GDB_PKT_MAX, "QC1");
			else if (strcmp(p, "qfThreadInfo") == 0)
				snprintf(o, HL__GDB_PKT_MAX, "m1");
			else if (strcmp(p, "qsThreadInfo") == 0)
				snprintf(o, HL__GDB_PKT_MAX, "l");
			else if (strncmp(p, "qXfer:features:read:", 20) == 0)
				handle_qxfer(g, p + 20);
			break;
		case 'Q':
			if (strcmp(p, "QStartNoAckMode") == 0) {
				if (!hl__gdb_put_packet(&g->conn, "OK")) {
					detach(sb);
					return SERVE_GONE;
				}
				g->conn.no_ack = true;
				continue;
			}
			break;
		case 'H': /* Hg, Hc: the one thread; T1: it is alive */
		case 'T': snprintf(o, HL__GDB_PKT_MAX, "OK"); break;
		case 'g': {
			if (hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
				snprintf(o, HL__GDB_PKT_MAX, "E05");
				break;
			}
			uint8_t fx[512];
			bool have_fx = hl__backend.get_fpu(sb->vm, fx, &eb) == 0;
			for (unsigned n = 0; n < HL__GDB_NREGS; n++) {
				hl__gdb_reg_hex(&r, have_fx ? fx : NULL, n, o);
				o += strlen(o);
			}
			break;
		}
		case 'G': {
			/* The GPRs, RIP and RFLAGS; the rest is not settable here. */
			const char *h = p + 1;
			if (strlen(h) < 2 * (17 * 8 + 4) ||
			    hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
				snprintf(o, HL__GDB_PKT_MAX, "E16");
				break;
			}
			struct hl_regs nr = r;
			bool ok = true;
			for (unsigned n = 0; n < 18 && ok; n++) {
				uint64_t ro, v;
				ok = hl__gdb_get_le(h, hl__gdb_reg_size(n), &v);
				if (ok)
					*hl__gdb_reg_ptr(&nr, n, &ro) = v;
				h += 2 * hl__gdb_reg_size(n);
			}
			if (!ok || hl__backend.set_regs(sb->vm, &nr, &eb) < 0)
				snprintf(o, HL__GDB_PKT_MAX, "E16");
			else
				snprintf(o, HL__GDB_PKT_MAX, "OK");
			break;
		}
		case 'p': {
			const char *q = p + 1;
			if (!hl__gdb_parse_hex(&q, &a) || *q || a >= HL__GDB_NREGS ||
			    hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
				snprintf(o, HL__GDB_PKT_MAX, "E16");
				break;
			}
			uint8_t fx[512];
			bool have_fx = hl__backend.get_fpu(sb->vm, fx, &eb) == 0;
			hl__gdb_reg_hex(&r, have_fx ? fx : NULL, (unsigned)a, o);
			break;
		}
		case 'P': {
			const char *q = p + 1;
			uint64_t v, ro;
			if (!hl__gdb_parse_hex(&q, &a) || *q++ != '=' || a > 17 ||
			    strlen(q) != 2 * hl__gdb_reg_size((unsigned)a) ||
			    !hl__gdb_get_le(q, hl__gdb_reg_size((unsigned)a), &v) ||
			    hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
				snprintf(o, HL__GDB_PKT_MAX, "E16");
				break;
			}
			*hl__gdb_reg_ptr(&r, (unsigned)a, &ro) = v;
			snprintf(o, HL__GDB_PKT_MAX,
			         hl__backend.set_regs(sb->vm, &r, &eb) < 0 ? "E05" : "OK");
			break;
		}
		case 'm': {
			const char *q = p + 1;
			if (!hl__gdb_parse_hex(&q, &a) || *q++ != ',' ||
			    !hl__gdb_parse_hex(&q, &b) || *q) {
				snprintf(o, HL__GDB_PKT_MAX, "E16");
				break;
			}
			uint8_t buf[HL__GDB_PKT_MAX / 2];
			size_t want = b < sizeof buf ? (size_t)b : sizeof buf;
			size_t got = hl__gdb_mem_read(sb, hl__gdb_current_cr3(sb), a, buf, want);
			if (got == 0 && want) {
				snprintf(o, HL__GDB_PKT_MAX, "E0e");
				break;
			}
			hl__gdb_put_hex(o, buf, got);
			break;
		}
		case 'M': {
			const char *q = p + 1;
			if (!hl__gdb_parse_hex(&q, &a) || *q++ != ',' ||
			    !hl__gdb_parse_hex(&q, &b) || *q++ != ':' || b > HL__GDB_PKT_MAX / 2 ||
			    strlen(q) != 2 * b) {
				snprintf(o, HL__GDB_PKT_MAX, "E16");
				break;
			}
			uint8_t buf[HL__GDB_PKT_MAX / 2];
			if (!hl__gdb_get_hex(q, (size_t)b, buf))
				snprintf(o, HL__GDB_PKT_MAX, "E16");
			else if (!hl__gdb_mem_write(sb, hl__gdb_current_cr3(sb), a, buf, (size_t)b))
				snprintf(o, HL__GDB_PKT_MAX, "E0e");
			else
				snprintf(o, HL__GDB_PKT_MAX, "OK");
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
				snprintf(o, HL__GDB_PKT_MAX, "vCont;c;C%s",
				         sb->bk.no_debug_exits ? "" : ";s;S");
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
			if (!hl__gdb_parse_hex(&q, &type) || *q++ != ',' ||
			    !hl__gdb_parse_hex(&q, &a) || *q++ != ',' ||
			    !hl__gdb_parse_hex(&q, &b) || (*q && *q != ';')) {
				snprintf(o, HL__GDB_PKT_MAX, "E16");
				break;
			}
			bool ins = p[0] == 'Z';
			bool hw = type == 1 || type == 2 || type == 4;
			if (type == 0)
				snprintf(o, HL__GDB_PKT_MAX, "%s",
				         ins ? hl__gdb_sw_insert(sb, a) : hl__gdb_sw_remove(sb, a));
			else if (hw && ins && sb->bk.no_debug_exits)
				refuse_hw(sb, o);
			else if (hw)
				snprintf(o, HL__GDB_PKT_MAX, "%s",
				         hl__gdb_hw_set(sb, (unsigned)type, a, b, ins));
			/* type 3 (read watchpoint): not on x86; empty reply */
			break;
		}
		case 'k':
			detach(sb);
			sb->fault = (hl_fault){.kind = HL_FAULT_NONE};
			return hl__guest_fail(sb, HL_E_CANCELLED, "the debugger killed the guest");
		case 'D':
			hl__gdb_put_packet(&g->conn, "OK");
			detach(sb);
			return SERVE_GONE;
		default: break; /* unsupported: empty reply */
		}
		if (!hl__gdb_put_packet(&g->conn, g->out)) {
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
	g->conn.fd = fd;
	g->dbg = (struct hl_debug_cfg){.enable = true};
	snprintf(g->stop, sizeof g->stop, "S05");
	int at = hl__gdb_run_to_entry(sb);
	if (at <= 0)
		return at; /* the stop comes at the first halt, or an error */
	int r = serve(sb);
	return r < 0 ? r : 0;
}

static int gdb_stop(hl_sandbox *sb, const struct hl_exit *x)
{
	struct hl__gdb *g = sb->gdb;
	if (!g || g->conn.fd < 0) {
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
	if (!hl__gdb_put_packet(&g->conn, g->stop)) {
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
	if (!g || g->conn.fd < 0 || hl__backend.get_regs(sb->vm, &r, &eb) < 0)
		return 1;
	/* The vCPU has executed the HLT: RIP is one past the breakpoint. */
	bool entry = g->entry_bp.used && g->entry_bp.addr == r.rip - 1;
	if (!entry && !hl__gdb_sw_at(g, r.rip - 1))
		return 1;
	r.rip -= 1;
	if (hl__backend.set_regs(sb->vm, &r, &eb) < 0) {
		sb->fault = (hl_fault){.kind = HL_FAULT_HYPERVISOR};
		return hl__guest_fail(sb, HL_E_HYPERVISOR, "gdb stub: %s", eb.msg);
	}
	if (entry) {
		/* The first stop (run_to_entry): gdb asks for it with '?'. */
		hl__gdb_entry_bp_remove(sb);
	} else {
		snprintf(g->stop, sizeof g->stop, "T05swbreak:;");
		if (!hl__gdb_put_packet(&g->conn, g->stop)) {
			detach(sb);
			return 0;
		}
	}
	int s = serve(sb);
	return s < 0 ? s : 0;
}

/* The guest is gone: killed by a signal (in gdb's numbering, which matches
 * Linux for these) if it failed, else exited normally. */
static const char *exit_packet(const hl_sandbox *sb)
{
	if (!sb->poisoned)
		return "W00";
	if (sb->fault.kind == HL_FAULT_ABORT)
		return "X06";
	if (sb->fault.kind == HL_FAULT_EXCEPTION && sb->fault.vector == 0)
		return "X08";
	return "X0b";
}

static void gdb_close(hl_sandbox *sb)
{
	struct hl__gdb *g = sb->gdb;
	if (!g)
		return;
	if (g->conn.fd >= 0)
		hl__gdb_put_packet(&g->conn, exit_packet(sb));
	hl__gdb_drop(&g->conn);
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
	g->conn.fd = -1;
	g->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g->listen_fd < 0) {
		int e = errno;
		hl__free(g);
		return hl__fail(sb, HL_E_IO, "hl_sandbox_debug_listen: socket: %s", strerror(e));
	}
	int one = 1;
	setsockopt(g->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(g->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(g->listen_fd, 1) < 0) {
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
