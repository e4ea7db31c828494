/*
 * call.c - calls into the guest and everything the guest sends back.
 *
 * A call writes the arguments into the input buffer and runs the vCPU, which
 * is parked on the OUT that ended the previous call: one KVM_RUN resumes it
 * and the next OUT to HL_PORT_DONE ends the call. Host calls, prints and log
 * records are OUTs to their own ports in between. Every record the guest
 * writes is hostile: it is copied out of shared memory with hl__out_copy
 * before any field is looked at, and each field is read once. What a record
 * may contain is decided by the pure decoders in records.c; this file keeps
 * the copies and the side effects (callbacks, replies, faults).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "records.h"

#define GPA_IN(sb) ((sb)->mem + ((sb)->lay.input - (sb)->lay.mem_base))

static uint64_t current_rip(hl_sandbox *sb)
{
	struct hl_regs r;
	struct hl_errbuf eb;
	return hl__backend.get_regs(sb->vm, &r, &eb) == 0 ? r.rip : 0;
}

/* ---- records from the guest ---------------------------------------------------- */

static int protocol(hl_sandbox *sb, const char *what, uint32_t off)
{
	sb->fault = (hl_fault){.kind = HL_FAULT_PROTOCOL, .addr = off};
	return hl__guest_fail(sb, HL_E_GUEST_PROTOCOL, "malformed guest record: %s (offset %u)",
	                      what, off);
}

/* The second copy every record with a payload takes: `bad` is what its
 * decoder found wrong with the header copied first (NULL: nothing), `s` the
 * payload it named, copied into buf; `beyond` says what did not fit. */
static int copy_payload(hl_sandbox *sb, uint32_t off, const char *bad, const struct hl__span *s,
                        void *buf, const char *beyond)
{
	if (bad)
		return protocol(sb, bad, off);
	if (!hl__out_copy(sb, s->off, s->len, buf))
		return protocol(sb, beyond, off);
	return 0;
}

static int handle_exception(hl_sandbox *sb, uint32_t off)
{
	struct hl_exception e;
	if (!hl__out_copy(sb, off, sizeof e, &e))
		return protocol(sb, "exception record outside the output buffer", off);
	const char *bad = hl__rec_exception(&e);
	if (bad)
		return protocol(sb, bad, off);
	sb->exc = e; /* for a core dump: copied once and checked */
	sb->exc_valid = true;
	sb->fault = (hl_fault){.kind = HL_FAULT_EXCEPTION,
	                       .vector = e.vector,
	                       .error_code = e.error_code,
	                       .rip = e.rip,
	                       .rsp = e.rsp,
	                       .addr = e.cr2};
	char msg[384];
	hl__rec_exception_message(&e, &sb->lay, msg, sizeof msg);
	return hl__guest_fail(sb, HL_E_GUEST_FAULT, "%s", msg);
}

/*
 * A triple fault. Where IDT gates cannot switch stacks (kvm-pvm: no IST),
 * a stack overflow ends here instead of in an exception record: the CPU
 * cannot push the #PF frame on the full stack, nor the #DF frame after it.
 * CR2 still names the guard page then, so the host reports the page fault
 * the guest could not, in the same terms as on VMX/SVM.
 */
static int handle_shutdown(hl_sandbox *sb)
{
	struct hl_regs r;
	struct hl_errbuf eb;
	if (hl__backend.get_regs(sb->vm, &r, &eb) < 0)
		memset(&r, 0, sizeof r);
	const struct hl__layout *l = &sb->lay;
	if (r.cr2 >= l->stack_guard && r.cr2 < l->stack_guard + HL_PAGE_SIZE) {
		struct hl_exception e = {.magic = HL_EXCEPTION_MAGIC,
		                         .vector = 14,
		                         .error_code = 0x2,
		                         .rip = r.rip,
		                         .cs = r.cs,
		                         .rflags = r.rflags,
		                         .rsp = r.rsp,
		                         .ss = r.ss,
		                         .cr2 = r.cr2};
		sb->fault = (hl_fault){.kind = HL_FAULT_EXCEPTION,
		                       .vector = 14,
		                       .error_code = 0x2,
		                       .rip = r.rip,
		                       .rsp = r.rsp,
		                       .addr = r.cr2};
		char msg[384];
		hl__rec_exception_message(&e, l, msg, sizeof msg);
		return hl__guest_fail(sb, HL_E_GUEST_FAULT,
		                      "%s (the exception frame did not fit on the stack: the vCPU shut down)",
		                      msg);
	}
	sb->fault = (hl_fault){.kind = HL_FAULT_SHUTDOWN, .rip = r.rip, .rsp = r.rsp};
	return hl__guest_fail(sb, HL_E_GUEST_FAULT,
	                      "guest fault: triple fault (the vCPU shut down), last RIP 0x%llx",
	                      (unsigned long long)r.rip);
}

static int handle_abort(hl_sandbox *sb, uint32_t off)
{
	struct hl_abort a;
	if (!hl__out_copy(sb, off, sizeof a, &a))
		return protocol(sb, "abort record outside the output buffer", off);
	char msg[512];
	struct hl__span m;
	int rc = copy_payload(sb, off,
	                      hl__rec_abort(&a, off, sb->lay.output_size, sizeof msg - 1, &m), &m,
	                      msg, "abort message beyond the output buffer");
	if (rc)
		return rc;
	msg[m.len] = '\0';
	hl__rec_sanitize(msg, m.len); /* the message ends up in logs: no control bytes */
	sb->guest_code = a.code;
	sb->fault = (hl_fault){.kind = HL_FAULT_ABORT, .error_code = (uint64_t)(int64_t)a.code};
	return hl__guest_fail(sb, HL_E_GUEST_ABORT, "guest aborted with code %d: %s", a.code, msg);
}

/* ---- the default sinks ------------------------------------------------------------ */

/* The longest a default sink waits for its descriptor before it looks at
 * the call again: a cancel without a signal is noticed within this. */
#define SINK_WAIT_MS 10

/*
 * Writes guest output to one of the host's descriptors for the default
 * sinks, without holding the call past its deadline or a cancel: it waits
 * with poll() (in slices of at most SINK_WAIT_MS, never past the deadline)
 * and writes at most PIPE_BUF bytes once the descriptor is writable, which
 * a pipe takes without blocking; a signal (the timer, a cancel) also cuts a
 * write short. When the call ends first, the rest is dropped and counted
 * for the call's message, and false is returned. A descriptor that fails
 * (closed, EPIPE) drops the rest as before: guest output is best effort.
 */
static bool sink_write(hl_sandbox *sb, int fd, const char *data, size_t len)
{
	while (len) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int n = poll(&p, 1, 0);
		while (n == 0 || (n < 0 && errno == EINTR)) {
			if (hl__call_cancelled(sb))
				goto drop;
			n = poll(&p, 1, hl__call_wait_ms(sb, SINK_WAIT_MS));
		}
		/* n < 0: poll() itself failed (a seccomp filter of the
		 * application's without it, say): write anyway, as before; a
		 * signal still cuts that write short. */
		ssize_t w = write(fd, data, len < PIPE_BUF ? len : PIPE_BUF);
		int e = errno;
		if (w < 0 && (e == EINTR || e == EAGAIN)) {
			/* A signal, or a non-blocking descriptor that wants more
			 * room than poll() promised: look at the call, then retry
			 * (after a pause, not in a tight loop). */
			if (hl__call_cancelled(sb))
				goto drop;
			if (e == EAGAIN)
				poll(NULL, 0, 1);
			continue;
		}
		if (w <= 0)
			return true;
		data += w;
		len -= (size_t)w;
	}
	return true;
drop:
	sb->out_dropped += len;
	sb->out_dropped_fd = fd;
	return false;
}

static int handle_print(hl_sandbox *sb, uint32_t off)
{
	struct hl_print p;
	struct hl__span d;
	if (!hl__out_copy(sb, off, sizeof p, &p))
		return protocol(sb, "print record with bad magic or outside the buffer", off);
	int rc = copy_payload(sb, off, hl__rec_print(&p, off, sb->lay.output_size, &d), &d,
	                      sb->scratch, "print data beyond the output buffer");
	if (rc)
		return rc;
	if (sb->print_fn)
		sb->print_fn((int)p.fd, (const char *)sb->scratch, d.len, sb->print_user);
	else
		sink_write(sb, (int)p.fd, (const char *)sb->scratch, d.len);
	return 0;
}

/* "guest LEVEL file:line: msg" and a newline on the host's descriptor 2,
 * in one write when the line fits PIPE_BUF (so that lines from several
 * threads do not interleave), through sink_write like the prints. */
static void default_log(hl_sandbox *sb, enum hl_log_level level, const char *file, int line,
                        const char *msg)
{
	static const char *const lv[] = {"?", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
	const char *name = lv[level <= 5 ? level : 0];
	char buf[PIPE_BUF];
	int n = snprintf(buf, sizeof buf, "guest %s %s:%d: %s\n", name, file, line, msg);
	if (n >= 0 && (size_t)n < sizeof buf) {
		sink_write(sb, 2, buf, (size_t)n);
		return;
	}
	/* A longer line in pieces, and no piece after one was dropped. */
	char num[32];
	n = snprintf(buf, sizeof buf, "guest %s ", name);
	int k = snprintf(num, sizeof num, ":%d: ", line);
	(void)(sink_write(sb, 2, buf, (size_t)n) && sink_write(sb, 2, file, strlen(file)) &&
	       sink_write(sb, 2, num, (size_t)k) && sink_write(sb, 2, msg, strlen(msg)) &&
	       sink_write(sb, 2, "\n", 1));
}

static int handle_log(hl_sandbox *sb, uint32_t off)
{
	struct hl_log g;
	struct hl__span f, m;
	if (!hl__out_copy(sb, off, sizeof g, &g))
		return protocol(sb, "log record with bad magic or outside the buffer", off);
	/* file, NUL, message, NUL in scratch (output_size + 1 bytes) */
	const char *bad = hl__rec_log(&g, off, sb->lay.output_size, sb->lay.output_size + 1, &f, &m);
	if (bad)
		return protocol(sb, bad, off);
	char *file = (char *)sb->scratch, *msg = (char *)sb->scratch + f.len + 1;
	if (!hl__out_copy(sb, f.off, f.len, file) || !hl__out_copy(sb, m.off, m.len, msg))
		return protocol(sb, "log text beyond the output buffer", off);
	file[f.len] = '\0';
	msg[m.len] = '\0';
	/* The guest runtime filters by level before it exits; a guest that does
	 * not is held to the host's maximum anyway. */
	if (g.level > sb->cfg.max_log_level)
		return 0;
	/* Log lines end up in files and terminals: no control characters, and
	 * a record is always one line, whatever sink takes it. */
	hl__rec_sanitize_line(file, f.len);
	hl__rec_sanitize_line(msg, m.len);
	if (sb->log_fn)
		sb->log_fn((enum hl_log_level)g.level, file, (int)g.line, msg, sb->log_user);
	else
		default_log(sb, (enum hl_log_level)g.level, file, (int)g.line, msg);
	return 0;
}

/* ---- host calls ------------------------------------------------------------------ */

/* The wire form of a value (hl_wire_value.bits): the bits of a scalar; for a
 * string or bytes, 0, with the payload in *payload and *len (the bits are
 * then the payload's offset, which the caller knows). */
static uint64_t wire_bits(const hl_value *v, const void **payload, size_t *len)
{
	uint64_t bits = 0;
	*payload = NULL;
	*len = 0;
	switch (v->type) {
	case HL_TYPE_I32: bits = (uint64_t)(int64_t)v->u.i32; break;
	case HL_TYPE_U32: bits = v->u.u32; break;
	case HL_TYPE_I64: bits = (uint64_t)v->u.i64; break;
	case HL_TYPE_U64: bits = v->u.u64; break;
	case HL_TYPE_F32: memcpy(&bits, &v->u.f32, 4); break;
	case HL_TYPE_F64: memcpy(&bits, &v->u.f64, 8); break;
	case HL_TYPE_BOOL: bits = v->u.b ? 1 : 0; break;
	case HL_TYPE_STRING:
		*payload = v->u.str.ptr;
		*len = v->u.str.len;
		break;
	case HL_TYPE_BYTES:
		*payload = v->u.bytes.ptr;
		*len = v->u.bytes.len;
		break;
	default: break;
	}
	return bits;
}

/* Writes a host-call result (or error, when msg != NULL) into the input buffer. */
static int reply(hl_sandbox *sb, const hl_value *v, const char *msg)
{
	uint64_t base = sb->in_result_off, size = sb->lay.input_size;
	uint8_t *in = GPA_IN(sb);
	struct hl_result r;
	memset(&r, 0, sizeof r);
	r.magic = HL_RESULT_MAGIC;
	const void *payload = NULL;
	size_t plen = 0;
	if (msg) {
		r.status = HL_STATUS_ERROR;
		r.code = -1;
		r.value.type = HL_TYPE_STRING;
		payload = msg;
		plen = strlen(msg);
	} else {
		r.status = HL_STATUS_OK;
		r.value.type = v->type;
		r.value.bits = wire_bits(v, &payload, &plen);
	}
	uint64_t need = sizeof r + plen + 1;
	if (!hl__in_range(base, sizeof r, size))
		return hl__guest_fail(sb, HL_E_TOO_LARGE,
		                      "no room in the input buffer for a host-call result at offset %llu",
		                      (unsigned long long)base);
	if (!hl__in_range(base, need, size)) {
		/* An error message that does not fit either ends the call: its
		 * own "does not fit" message would not fit, without end. */
		if (msg)
			return hl__guest_fail(sb, HL_E_TOO_LARGE,
			                      "no room in the input buffer for a host-call error of %zu bytes at offset %llu",
			                      plen, (unsigned long long)base);
		char m[160];
		snprintf(m, sizeof m,
		         "host-call result of %zu bytes does not fit the input buffer (%llu bytes free)",
		         plen, (unsigned long long)(size - base - sizeof r));
		return reply(sb, NULL, m);
	}
	if (payload || plen) {
		r.value.bits = sizeof r;
		r.value.len = (uint32_t)plen;
		if (payload && plen) /* never NULL with a length: handle_hostcall refuses that */
			memcpy(in + base + sizeof r, payload, plen);
		in[base + sizeof r + plen] = 0;
	}
	r.total_len = (uint32_t)HL_ALIGN8(need);
	memcpy(in + base, &r, sizeof r);
	if (base + need > sb->in_dirty_hi)
		sb->in_dirty_hi = base + need; /* a restore drops these pages too */
	return 0;
}

static int reply_error(hl_sandbox *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reply_error(hl_sandbox *sb, const char *fmt, ...)
{
	char m[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	return reply(sb, NULL, m);
}

int hl_host_call_fail(hl_host_call *hc, const char *fmt, ...)
{
	if (!hc)
		return HL_E_HOST_FUNCTION;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hc->msg, sizeof hc->msg, fmt ? fmt : "host function failed", ap);
	va_end(ap);
	hc->failed = true;
	return HL_E_HOST_FUNCTION;
}

hl_sandbox *hl_host_call_sandbox(hl_host_call *hc)
{
	return hc ? hc->sb : NULL;
}

static int handle_hostcall(hl_sandbox *sb, uint32_t off)
{
	struct hl_hostcall h;
	struct hl__span span;
	struct hl__hostcall_req req;
	if (!hl__out_copy(sb, off, sizeof h, &h))
		return protocol(sb, "host-call record with bad magic or outside the buffer", off);
	int rc = copy_payload(sb, off, hl__rec_hostcall_head(&h, off, sb->lay.output_size, &span),
	                      &span, sb->scratch,
	                      "host-call record length does not fit the output buffer");
	if (rc)
		return rc;
	const char *bad = hl__rec_hostcall_name(&h, sb->scratch, &req);
	if (bad)
		return protocol(sb, bad, off);
	const char *name = req.name;
	int nl = (int)req.name_len;

	struct hl__host_fn *fn = NULL;
	for (size_t i = 0; i < sb->n_host_fns; i++)
		if (sb->host_fns[i].name_len == req.name_len &&
		    memcmp(sb->host_fns[i].name, name, req.name_len) == 0) {
			fn = &sb->host_fns[i];
			break;
		}
	if (!fn)
		return reply_error(sb, "no host function named '%.*s'", nl, name);
	if (req.argc != fn->nparams)
		return reply_error(sb, "host function '%s' takes %u arguments, the guest passed %u",
		                   fn->name, fn->nparams, req.argc);
	if (req.ret != (uint32_t)fn->ret)
		return reply_error(sb, "host function '%s' returns %s, the guest expected %s",
		                   fn->name, hl_type_name(fn->ret), hl_type_name((hl_type)req.ret));
	uint32_t bad_arg = 0, bad_type = 0;
	switch (hl__rec_hostcall_args(&req, fn->params, sb->hc_args, &bad_arg, &bad_type)) {
	case HL__ARGS_OK: break;
	case HL__ARGS_TYPE:
		return reply_error(sb,
		                   "host function '%s' parameter %u: expected %s, the guest passed %s",
		                   fn->name, bad_arg, hl_type_name(fn->params[bad_arg]),
		                   hl_type_name((hl_type)bad_type));
	case HL__ARGS_BAD_VALUE:
		return protocol(sb, "host-call argument with a bad value or payload", off);
	}

	hl_host_call hc;
	hc.sb = sb;
	hc.failed = false;
	hc.msg[0] = '\0';
	hl_value ret;
	memset(&ret, 0, sizeof ret);
	ret.type = fn->ret;
	int r = fn->fn(&hc, sb->hc_args, req.argc, &ret, fn->user);
	if (r < 0 || hc.failed)
		return reply_error(sb, "%s", hc.msg[0] ? hc.msg : "host function failed");
	if (ret.type != fn->ret)
		return reply_error(sb, "host function '%s' returned %s, registered as %s", fn->name,
		                   hl_type_name(ret.type), hl_type_name(fn->ret));
	if ((ret.type == HL_TYPE_STRING && !ret.u.str.ptr && ret.u.str.len) ||
	    (ret.type == HL_TYPE_BYTES && !ret.u.bytes.ptr && ret.u.bytes.len))
		return reply_error(sb, "host function '%s' returned a NULL pointer", fn->name);
	return reply(sb, &ret, NULL);
}

/* ---- the run loop --------------------------------------------------------------- */

/* Ends a call whose deadline passed (why 2) or that was cancelled (why 1). */
static int call_stopped(hl_sandbox *sb, int why)
{
	char note[192] = "";
	if (sb->out_dropped)
		snprintf(note, sizeof note,
		         "; %llu bytes of guest output were dropped: host descriptor %d did not take them before the call ended",
		         (unsigned long long)sb->out_dropped, sb->out_dropped_fd);
	sb->fault = (hl_fault){.kind = HL_FAULT_NONE};
	if (why == 2)
		return hl__guest_fail(sb, HL_E_CANCELLED,
		                      "the call timed out after %u ms (call_timeout_ms)%s",
		                      sb->cfg.call_timeout_ms, note);
	return hl__guest_fail(sb, HL_E_CANCELLED,
	                      "the call was cancelled through its interrupt handle%s", note);
}

int hl__run_until_done(hl_sandbox *sb, uint32_t *done_off)
{
	struct hl_errbuf eb; /* written only when the backend fails: not cleared per exit */
	if (sb->debugger) {
		int g = sb->debugger->before_run(sb);
		if (g < 0)
			return g;
	}
	for (;;) {
		struct hl_exit x;
		if (hl__backend.run(sb->vm, &x, &eb) < 0) {
			sb->fault = (hl_fault){.kind = HL_FAULT_HYPERVISOR};
			return hl__guest_fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
		}
		hl__stats_exit(sb, &x);
		int r = 0;
		switch (x.kind) {
		case HL_EXIT_OUT:
			if (x.port < HL_PORT_DONE || x.port > HL_PORT_EXCEPTION) {
				sb->fault = (hl_fault){.kind = HL_FAULT_UNKNOWN_PORT,
				                       .vector = x.port,
				                       .error_code = x.value,
				                       .rip = current_rip(sb)};
				return hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
				                      "guest wrote 0x%x to unknown port 0x%x (%u bytes) at RIP 0x%llx",
				                      x.value, x.port, x.size,
				                      (unsigned long long)sb->fault.rip);
			}
			if (x.size != 4 || x.detail != 1)
				return protocol(sb,
				                "OUT to a protocol port must be a single 32-bit write",
				                x.value);
			switch (x.port) {
			case HL_PORT_DONE: *done_off = x.value; return 0;
			case HL_PORT_HOSTCALL: r = handle_hostcall(sb, x.value); break;
			case HL_PORT_PRINT: r = handle_print(sb, x.value); break;
			case HL_PORT_LOG: r = handle_log(sb, x.value); break;
			case HL_PORT_ABORT: return handle_abort(sb, x.value);
			case HL_PORT_EXCEPTION: return handle_exception(sb, x.value);
			}
			if (r < 0)
				return r;
			break;
		case HL_EXIT_IN:
			sb->fault = (hl_fault){.kind = HL_FAULT_UNKNOWN_PORT,
			                       .vector = x.port,
			                       .rip = current_rip(sb)};
			return hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
			                      "guest read from port 0x%x (%u bytes) at RIP 0x%llx: no port can be read",
			                      x.port, x.size, (unsigned long long)sb->fault.rip);
		case HL_EXIT_MMIO:
			sb->fault = (hl_fault){.kind = HL_FAULT_MMIO,
			                       .addr = x.gpa,
			                       .rip = current_rip(sb)};
			return hl__guest_fail(sb, HL_E_GUEST_FAULT,
			                      "guest fault: %s of %u bytes at guest-physical 0x%llx, outside guest memory [0x%llx, 0x%llx), RIP 0x%llx",
			                      x.write ? "write" : "read", x.size,
			                      (unsigned long long)x.gpa,
			                      (unsigned long long)sb->lay.mem_base,
			                      (unsigned long long)(sb->lay.mem_base +
			                                           sb->lay.mem_size),
			                      (unsigned long long)sb->fault.rip);
		case HL_EXIT_SHUTDOWN: return handle_shutdown(sb);
		case HL_EXIT_HLT:
			if (sb->debugger) { /* a debugger's breakpoint? */
				r = sb->debugger->halted(sb);
				if (r < 0)
					return r;
				if (r == 0)
					break;
			}
			sb->fault = (hl_fault){.kind = HL_FAULT_HALT, .rip = current_rip(sb)};
			return hl__guest_fail(sb, HL_E_GUEST_FAULT,
			                      "guest halted the CPU (hlt) at RIP 0x%llx",
			                      (unsigned long long)sb->fault.rip);
		case HL_EXIT_INTR:
			break; /* a signal or a cancel: decided below; a stray one resumes the guest */
		case HL_EXIT_DEBUG:
			/* Only a debugger turns these exits on; without one (it
			 * was never there) the guest resumes. */
			if (sb->debugger && (r = sb->debugger->stop(sb, &x)) < 0)
				return r;
			break;
		case HL_EXIT_MSR_WRITE:
			sb->fault = (hl_fault){.kind = HL_FAULT_MSR,
			                       .addr = x.value,
			                       .error_code = x.detail,
			                       .rip = current_rip(sb)};
			return hl__guest_fail(sb, HL_E_GUEST_FAULT,
			                      "guest fault: write of 0x%llx to MSR 0x%x at RIP 0x%llx refused: a guest may write only the MSRs its runtime needs (docs/security.md)",
			                      (unsigned long long)x.detail, x.value,
			                      (unsigned long long)sb->fault.rip);
		case HL_EXIT_FAIL: {
			char why[512];
			hl__backend.explain_fail(sb->vm, &x, why, sizeof why);
			sb->fault = (hl_fault){.kind = HL_FAULT_HYPERVISOR,
			                       .rip = current_rip(sb),
			                       .error_code = x.detail};
			return hl__guest_fail(sb, HL_E_GUEST_FAULT,
			                      "%s could not run the guest at RIP 0x%llx: %s",
			                      sb->bk.name, (unsigned long long)sb->fault.rip, why);
		}
		}
		/* The deadline and a cancel are checked after every exit the guest
		 * resumes from, not only when a signal interrupts the run: a guest
		 * that exits in a loop (prints, logs, host calls) is stopped even
		 * where the timer could not be created, and so is one whose exit
		 * took the host past the deadline. */
		int why = hl__call_cancelled(sb);
		if (why)
			return call_stopped(sb, why);
	}
}

/* ---- calls ------------------------------------------------------------------------ */

static struct hl__guest_fn *find_guest_fn(hl_sandbox *sb, const char *name, size_t *index)
{
	for (size_t i = 0; i < sb->n_guest_fns; i++)
		if (strcmp(sb->guest_fns[i].name, name) == 0) {
			*index = i;
			return &sb->guest_fns[i];
		}
	return NULL;
}

static int check_args(hl_sandbox *sb, const struct hl__guest_fn *f, const hl_value *args,
                      size_t nargs)
{
	if (nargs != f->nparams)
		return hl__fail(sb, HL_E_ARG_COUNT, "hl_call('%s'): takes %zu argument%s, got %zu",
		                f->name, f->nparams, f->nparams == 1 ? "" : "s", nargs);
	for (size_t i = 0; i < nargs; i++) {
		const hl_value *a = &args[i];
		if (a->type != f->params[i])
			return hl__fail(sb, HL_E_ARG_TYPE,
			                "hl_call('%s'): parameter %zu: expected %s, got %s", f->name,
			                i, hl_type_name(f->params[i]), hl_type_name(a->type));
		if (a->type == HL_TYPE_STRING) {
			if (!a->u.str.ptr && a->u.str.len)
				return hl__fail(sb, HL_E_INVAL,
				                "hl_call('%s'): parameter %zu: string is NULL",
				                f->name, i);
			if (a->u.str.len && memchr(a->u.str.ptr, 0, a->u.str.len))
				return hl__fail(sb, HL_E_INVAL,
				                "hl_call('%s'): parameter %zu: string contains a NUL byte",
				                f->name, i);
		} else if (a->type == HL_TYPE_BYTES && !a->u.bytes.ptr && a->u.bytes.len) {
			return hl__fail(sb, HL_E_INVAL,
			                "hl_call('%s'): parameter %zu: bytes pointer is NULL",
			                f->name, i);
		}
	}
	return 0;
}

/* Writes the call message into the input buffer. */
static int encode_call(hl_sandbox *sb, const struct hl__guest_fn *f, size_t index,
                       const hl_value *args, size_t nargs)
{
	uint8_t *in = GPA_IN(sb);
	uint64_t size = sb->lay.input_size;
	uint64_t off = sizeof(struct hl_call_msg) + nargs * sizeof(struct hl_wire_value);
	if (off > size)
		return hl__fail(sb, HL_E_TOO_LARGE,
		                "hl_call('%s'): %zu arguments do not fit the input buffer", f->name,
		                nargs);
	struct hl_wire_value *wv = (struct hl_wire_value *)(in + sizeof(struct hl_call_msg));
	for (size_t i = 0; i < nargs; i++) {
		const hl_value *a = &args[i];
		struct hl_wire_value w = {.type = (uint32_t)a->type};
		const void *p;
		size_t n;
		bool nul = a->type == HL_TYPE_STRING; /* strings travel with their NUL */
		w.bits = wire_bits(a, &p, &n);
		if (a->type == HL_TYPE_STRING || a->type == HL_TYPE_BYTES) {
			if (n > UINT32_MAX || !hl__in_range(off, (uint64_t)n + nul, size))
				return hl__fail(sb, HL_E_TOO_LARGE,
				                "hl_call('%s'): parameter %zu (%zu bytes) does not fit the input buffer (%llu bytes)",
				                f->name, i, n, (unsigned long long)size);
			if (n)
				memcpy(in + off, p, n);
			if (nul)
				in[off + n] = 0;
			w.bits = off;
			w.len = (uint32_t)n;
			off = HL_ALIGN8(off + n + nul);
		}
		memcpy(&wv[i], &w, sizeof w);
	}
	struct hl_call_msg m = {.magic = HL_CALL_MAGIC,
	                        .func_index = (uint32_t)index,
	                        .argc = (uint32_t)nargs,
	                        .total_len = (uint32_t)off};
	memcpy(in, &m, sizeof m);
	sb->in_result_off = HL_ALIGN8(off);
	if (off > sb->in_dirty_hi)
		sb->in_dirty_hi = off; /* a restore drops these pages too */
	return 0;
}

static int decode_result(hl_sandbox *sb, const struct hl__guest_fn *f, uint32_t off,
                         hl_value *result)
{
	struct hl_result r;
	struct hl__span p;
	struct hl__result_out out;
	if (!hl__out_copy(sb, off, sizeof r, &r))
		return protocol(sb, "result record with bad magic or outside the buffer", off);
	/* sb->result_buf has output_size + 1 bytes: room for the NUL */
	int rc = copy_payload(sb, off, hl__rec_result_head(&r, off, sb->lay.output_size, &p), &p,
	                      sb->result_buf, "result payload outside its record");
	if (rc)
		return rc;
	sb->result_buf[p.len] = 0;
	const char *bad = hl__rec_result(&r, f->ret, sb->result_buf, &out);
	if (bad)
		return protocol(sb, bad, off);
	if (out.status == HL_STATUS_OK) {
		if (result)
			*result = out.value;
		return 0;
	}
	sb->guest_code = out.code;
	if (out.status == HL_STATUS_ERROR)
		return hl__fail(sb, HL_E_GUEST_ERROR,
		                "guest function '%s' failed with code %d: %.900s", f->name,
		                out.code, out.msg);
	return hl__fail(sb, HL_E_HOST_FUNCTION,
	                "guest function '%s' did not handle a host function error: %.900s", f->name,
	                out.msg);
}

/* hl_call without the statistics; *t0 is set when the guest is about to run. */
static int call_guest(hl_sandbox *sb, const char *name, const hl_value *args, size_t nargs,
                      hl_value *result, uint64_t *t0)
{
	if (!sb)
		return HL_E_INVAL;
	if (sb->in_call)
		return hl__fail(sb, HL_E_STATE,
		                "hl_call: the sandbox is in a call already (from a host function?)");
	hl__clear_error(sb);
	if (!name || (nargs && !args))
		return hl__fail(sb, HL_E_INVAL, "hl_call: %s is NULL", !name ? "name" : "args");
	if (sb->state != HL__READY)
		return hl__fail(sb, HL_E_STATE, "hl_call('%s'): the sandbox is not initialised",
		                name);
	if (sb->poisoned)
		return hl__fail(sb, HL_E_POISONED,
		                "hl_call('%s'): the sandbox is poisoned by an earlier guest failure; call hl_sandbox_reset",
		                name);
	size_t index;
	const struct hl__guest_fn *f = find_guest_fn(sb, name, &index);
	if (!f)
		return hl__fail(sb, HL_E_NO_FUNCTION,
		                "hl_call: the guest has no function named '%.80s'", name);
	int r = check_args(sb, f, args, nargs);
	if (r < 0)
		return r;
	r = encode_call(sb, f, index, args, nargs);
	if (r < 0)
		return r;
	sb->in_call = true;
	sb->called = true;
	*t0 = hl__stats_now();
	hl__call_begin(sb);
	uint32_t off = 0;
	r = hl__run_until_done(sb, &off);
	hl__call_end(sb);
	sb->in_call = false;
	if (r < 0)
		return r;
	return decode_result(sb, f, off, result);
}

int hl_call(hl_sandbox *sb, const char *name, const hl_value *args, size_t nargs, hl_value *result)
{
	uint64_t t0 = 0;
	int r = call_guest(sb, name, args, nargs, result, &t0);
	if (sb)
		hl__stats_call(sb, r, t0);
	return r;
}

int hl_call_fresh(hl_sandbox *sb, hl_snapshot *snap, const char *name, const hl_value *args,
                  size_t nargs, hl_value *result)
{
	int r = hl_sandbox_restore(sb, snap);
	if (r < 0)
		return r;
	return hl_call(sb, name, args, nargs, result);
}
