/*
 * internal.h - the sandbox object and the helpers shared by the host core.
 */
#ifndef HL_INTERNAL_H
#define HL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperlight/hyperlight.h"
#include "alloc.h"
#include "backend.h"

#define HL__HIDDEN __attribute__((visibility("hidden")))

/* At most this many guest pages are left without write protection and
 * copied back at every restore (snapshot.c, "Hot pages"). */
#define HL__HOT_MAX 64

/* Where everything lives in guest memory; computed by hl__layout_compute. */
struct hl__layout {
	uint64_t mem_base, mem_size; /* guest-physical [mem_base, mem_base+mem_size) */
	uint64_t image_lo, image_hi; /* ELF segments */
	uint64_t boot_info;          /* one page */
	uint64_t input, input_size;
	uint64_t output, output_size;
	uint64_t heap, heap_size;
	uint64_t stack_guard; /* one unmapped page below the stack */
	uint64_t stack, stack_size;
	uint64_t ist, ist_size; /* HL_IST_COUNT x (guard page + HL_IST_SIZE) */
	uint64_t pt, pt_size;   /* page tables, not mapped in the guest */
	uint64_t entry;
};

struct hl__host_fn {
	char *name;
	size_t name_len;
	hl_type ret;
	uint8_t nparams;
	hl_type params[HL_MAX_PARAMS];
	hl_host_fn fn;
	void *user;
};

struct hl__guest_fn {
	char *name;
	hl_type ret;
	size_t nparams;
	hl_type params[HL_MAX_PARAMS];
};

enum hl__state {
	HL__EMPTY,  /* created, nothing loaded */
	HL__LOADED, /* VM built, guest not yet run */
	HL__READY,  /* initialised: calls allowed */
	HL__BROKEN, /* init failed: only free is useful */
};

struct hl_host_call {
	hl_sandbox *sb;
	char msg[512];
	bool failed;
};

struct hl_sandbox {
	hl_config cfg;
	enum hl__state state;
	bool poisoned;
	bool verify_restore; /* HL_CONFIG_VERIFY_RESTORE or HYPERLIGHT_VERIFY_RESTORE=1 */
	bool in_call;        /* a guest call is running (host functions may not call in) */
	char errmsg[1024];

	/* VM and memory */
	struct hl_vm *vm;
	uint8_t *mem; /* host mapping of guest memory */
	struct hl__layout lay;
	struct hl_backend_info bk; /* the hypervisor under sb->vm (backend.h) */
	uint64_t image_hash;       /* FNV-1a of the ELF image: snapshot compatibility */
	/* After init, guest memory is a MAP_PRIVATE view of base->fd: pages the
	 * guest never wrote are the snapshot's. `initial` is what reset returns
	 * to (the snapshot init took, or the one the sandbox was made from). */
	struct hl_snapshot *base;
	struct hl_snapshot *initial;
	uint64_t *dirty;     /* pages written since memory last matched base */
	uint64_t *dirty_tmp; /* the hypervisor's log, before it is merged */
	uint64_t *protect;   /* pages to write-protect again (snapshot.c, hot pages) */
	struct {
		uint32_t page; /* page index in guest memory */
		uint8_t age;   /* restores in a row that found it unchanged */
	} hot[HL__HOT_MAX];    /* unprotected pages, copied back at every restore */
	size_t nhot;
	size_t dirty_words;
	uint64_t in_dirty_hi; /* the host wrote [0, in_dirty_hi) of the input buffer */
	bool from_snapshot;   /* made by hl_sandbox_new_from_snapshot */
	bool called;          /* a call has run (host functions are fixed from then on) */

	/* cancellation and the per-call timeout (cancel.c) */
	struct hl_interrupt *intr;
	void *timer; /* timer_t, created lazily on the calling thread */
	bool timer_armed;
	int timer_tid;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
	/* guest output the default sinks dropped in this call because it ended
	 * (deadline or cancel) before the descriptor took it; for the message */
	uint64_t out_dropped;
	int out_dropped_fd;

	/* functions */
	struct hl__host_fn *host_fns;
	size_t n_host_fns, cap_host_fns;
	struct hl__guest_fn *guest_fns;
	size_t n_guest_fns;

	/* callbacks */
	hl_print_fn print_fn;
	void *print_user;
	hl_log_fn log_fn;
	void *log_user;

	/* the call in progress */
	uint64_t in_result_off; /* where host-call results go in the input buffer */
	uint8_t *scratch;       /* a private copy of guest records: output_size + 1 bytes */
	uint8_t *result_buf;    /* the last call's string/bytes result: output_size + 1 */
	hl_value hc_args[HL_MAX_PARAMS];

	/* the last failure */
	hl_fault fault;
	int guest_code;

	/* statistics (stats.c): plain counters, written by the calling thread */
	hl_stats stats;
	int cancel_why; /* hl__call_cancelled's last answer: 1 cancelled, 2 timed out */
	/* debugging (coredump.c, gdbstub.c) */
	struct hl_exception exc; /* the last exception record, copied and checked */
	bool exc_valid;          /* exc is for the failure being reported */
	/* the debugger the run loop reports to, and its own state: both NULL
	 * unless hl_sandbox_debug_listen (gdbstub.c) */
	const struct hl__debugger *debugger;
	struct hl__gdb *gdb;
};

/*
 * A debugger attached to the run loop. gdbstub.c installs its hooks in
 * hl_sandbox_debug_listen; the core reaches the debugger only through them,
 * so that the run loop does not depend on the stub.
 */
struct hl__debugger {
	/* Before the vCPU runs: 0 to run it, or an error (the message is set). */
	int (*before_run)(hl_sandbox *sb);
	/* After HL_EXIT_DEBUG: 0 to run on, or an error (the message is set;
	 * HL_E_CANCELLED if the debugger killed the guest). */
	int (*stop)(hl_sandbox *sb, const struct hl_exit *x);
	/* After HL_EXIT_HLT: 0 if the guest stopped at a breakpoint of the
	 * debugger's (served; run on), 1 if the halt is the guest's own (a
	 * fault), or an error as for stop. */
	int (*halted)(hl_sandbox *sb);
	/* The guest is gone: tells the debugger, releases its state and sets
	 * sb->debugger and sb->gdb to NULL. */
	void (*close)(hl_sandbox *sb);
};

/*
 * The files of src/host form layers: a file calls into its own layer and
 * the ones below it, never above (docs/architecture.md, "Layers", draws
 * them). Inside the second: sandbox.c -> call.c -> snapshot.c.
 *   built on the API   pool.c, js.c
 *   sandboxes, calls   sandbox.c, call.c, snapshot.c
 *   services           gdbstub.c (gdb_target.c, gdb_packet.c), fault.c, coredump.c,
 *                      cancel.c, stats.c
 *   mechanisms         layout.c, records.c, elf.c, platform.c, seccomp.c
 *   foundations        error.c, alloc.c, the backend (kvm/)
 */

/* error.c: the sandbox message, which every file may set */
/* Sets the sandbox message and returns code. */
HL__HIDDEN int hl__fail(hl_sandbox *sb, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
HL__HIDDEN int hl__vfail(hl_sandbox *sb, int code, const char *fmt, va_list ap);
HL__HIDDEN void hl__clear_error(hl_sandbox *sb);
/* Puts "prefix: " in front of the sandbox message (truncating its end). */
HL__HIDDEN void hl__prefix_error(hl_sandbox *sb, const char *prefix);

/* fault.c: a guest failure */
/* Like hl__fail, and poisons the sandbox; with HL_CONFIG_DEBUG prints the
 * registers, and writes a core file where dumps are enabled (coredump.c). */
HL__HIDDEN int hl__guest_fail(hl_sandbox *sb, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The vCPU's registers on stderr ("entry": the layout too), for HL_CONFIG_DEBUG. */
HL__HIDDEN void hl__debug_dump(hl_sandbox *sb, const char *when);

/* coredump.c: called by hl__guest_fail after the message is set. Writes a
 * core file if dumps are enabled (HL_CONFIG_CORE_DUMP or
 * HYPERLIGHT_CORE_DIR) and appends its path, or why it could not be
 * written, to the message. Never changes the error code. */
HL__HIDDEN void hl__core_on_failure(hl_sandbox *sb, int code);

/* sandbox.c: a function name the protocol accepts: 1..HL_MAX_NAME bytes of
 * [A-Za-z0-9_.] (host functions, JavaScript handlers). */
HL__HIDDEN bool hl__valid_name(const char *name, size_t n);

/* The backend's creation flags a sandbox's configuration asks for. */
static inline unsigned hl__backend_flags(const hl_sandbox *sb)
{
	return (sb->cfg.flags & HL_CONFIG_MSR_FILTER) ? HL_BACKEND_MSR_FILTER : 0;
}

/* layout.c */
HL__HIDDEN int hl__layout_compute(hl_sandbox *sb, uint64_t image_lo, uint64_t image_hi,
                                  uint64_t entry, struct hl__layout *out);
struct hl_elf_image;
HL__HIDDEN void hl__layout_page_tables(const struct hl__layout *l, const struct hl_elf_image *img,
                                       const struct hl_backend_info *bk, uint8_t *mem);
HL__HIDDEN void hl__layout_print(const struct hl__layout *l, void *file);
/*
 * Translates the guest virtual address `gva` through the 4-level page
 * tables rooted at `cr3`, reading every table from guest memory with a
 * bounds check (the tables may be guest-written when the guest loaded its
 * own CR3). On success stores the offset of the byte in sb->mem, the number
 * of bytes left in its page in *room, and whether the page is writable and
 * executable; returns false if the address is not mapped or the page lies
 * outside guest memory. For the debugging code (coredump.c, gdbstub).
 */
HL__HIDDEN bool hl__gva_translate(const hl_sandbox *sb, uint64_t cr3, uint64_t gva, uint64_t *off,
                                  uint64_t *room, bool *w, bool *x);

/*
 * The one way to read guest-written memory: copies [off, off+len) of the
 * output buffer into dst after an overflow-safe bounds check. Returns false
 * (and copies nothing) if the range is not inside the buffer. Callers copy
 * first and validate the copy, so the guest cannot change a field between
 * the check and the use.
 */
static inline bool hl__out_copy(const hl_sandbox *sb, uint64_t off, uint64_t len, void *dst)
{
	uint64_t size = sb->lay.output_size;
	if (off > size || len > size - off)
		return false;
	__builtin_memcpy(dst, sb->mem + (sb->lay.output - sb->lay.mem_base) + off, len);
	return true;
}

/* true if [off, off+len) lies inside [0, size) */
static inline bool hl__in_range(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* snapshot.c */
HL__HIDDEN int hl__snapshot_after_init(hl_sandbox *sb);
/* The configuration of a sandbox made from snap (cfg may change only
 * flags, the interrupt signal and the timeout): 0, HL_E_INVAL, HL_E_CONFIG. */
HL__HIDDEN int hl__snapshot_config(const struct hl_snapshot *snap, const hl_config *cfg,
                                   hl_config *out);
/* Gives a new, empty sandbox snap's memory, functions and vCPU state, in a
 * VM of its own: the sandbox is then ready. On failure the caller frees it. */
HL__HIDDEN int hl__snapshot_adopt(hl_sandbox *sb, struct hl_snapshot *snap);
HL__HIDDEN void hl__snapshot_release(hl_sandbox *sb);
HL__HIDDEN struct hl_snapshot *hl__snapshot_ref(struct hl_snapshot *s);
HL__HIDDEN void hl__snapshot_unref(struct hl_snapshot *s);

/* cancel.c: the call bracket. begin/end take the handle's lock once each. */
HL__HIDDEN int hl__intr_create(hl_sandbox *sb);
HL__HIDDEN void hl__intr_detach(hl_sandbox *sb);
HL__HIDDEN void hl__intr_forget_vm(hl_sandbox *sb);
HL__HIDDEN void hl__call_begin(hl_sandbox *sb);
HL__HIDDEN void hl__call_end(hl_sandbox *sb);
/* After every exit, and wherever the host waits during a call: 1 if the call
 * was cancelled, 2 if its deadline passed, 0 to go on. Cheap (see cancel.c). */
HL__HIDDEN int hl__call_cancelled(hl_sandbox *sb);
/* How long the host may wait during the call: cap_ms, or less when the
 * deadline is nearer (rounded up to the next millisecond; 0 once it passed). */
HL__HIDDEN int hl__call_wait_ms(hl_sandbox *sb, int cap_ms);
HL__HIDDEN int hl__check_signal(hl_sandbox *sb);

/* call.c */
HL__HIDDEN int hl__run_until_done(hl_sandbox *sb, uint32_t *done_off);

/* stats.c: the clock a call is timed with, and the end of a call: `r` is
 * hl_call's result, `t0` the hl__stats_now() taken just before the guest
 * ran, or 0 for a call refused before that. */
HL__HIDDEN uint64_t hl__stats_now(void);
HL__HIDDEN void hl__stats_call(hl_sandbox *sb, int r, uint64_t t0);

/* Counts one return from the backend's run: every exit, and by port the
 * records the guest sent. Inline: it runs on every exit. */
static inline void hl__stats_exit(hl_sandbox *sb, const struct hl_exit *x)
{
	sb->stats.vm_exits++;
	if (x->kind != HL_EXIT_OUT)
		return;
	if (x->port == HL_PORT_HOSTCALL)
		sb->stats.host_calls++;
	else if (x->port == HL_PORT_PRINT)
		sb->stats.prints++;
	else if (x->port == HL_PORT_LOG)
		sb->stats.logs++;
}

#endif /* HL_INTERNAL_H */
