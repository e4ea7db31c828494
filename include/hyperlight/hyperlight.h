/*
 * hyperlight.h - the host API: run guest code in micro-VM sandboxes.
 *
 * Life of a sandbox:
 *
 *     hl_sandbox *sb;
 *     hl_sandbox_new(NULL, &sb);                   // NULL: default configuration
 *     hl_sandbox_load_file(sb, "simpleguest");     // a static guest ELF
 *     hl_sandbox_register(sb, "HostAdd", ...);     // host functions, optional
 *     hl_sandbox_init(sb);                         // runs the guest's main()
 *     hl_value r;
 *     hl_value a = hl_string("hi", 2);
 *     hl_call(sb, "Echo", &a, 1, &r);              // r.u.str.ptr == "hi"
 *     hl_sandbox_free(sb);
 *
 * Errors: every int-returning function returns 0 or a negative HL_E_* code.
 * hl_strerror() names the code; hl_errmsg() gives the sandbox's details of
 * the last failure (which function, which parameter, which guest address).
 * A call has three kinds of failure, kept apart by their codes: the
 * application misused the API (HL_E_INVAL, HL_E_STATE, HL_E_NO_FUNCTION,
 * HL_E_ARG_*), the host failed (HL_E_NOMEM, HL_E_HYPERVISOR, ...), or the
 * guest failed (HL_E_GUEST_*). After a guest failure other than
 * HL_E_GUEST_ERROR the sandbox is poisoned until hl_sandbox_reset().
 *
 * Ownership: "borrowed" means the library reads the pointer only during the
 * call; "owned by the sandbox" means the memory stays valid until the event
 * named and must not be freed by the application.
 *
 * Threading: a sandbox may be used by one thread at a time (any thread);
 * different sandboxes may be used from different threads at once. The
 * library keeps no global mutable state other than the allocator set
 * with hl_set_allocator().
 *
 * The library never exits or aborts, and installs a signal handler only when
 * the application calls hl_install_interrupt_handler().
 */
#ifndef HYPERLIGHT_HYPERLIGHT_H
#define HYPERLIGHT_HYPERLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperlight/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HL_API __attribute__((visibility("default")))
#else
#define HL_API
#endif

/* ---- Errors --------------------------------------------------------------- */
enum hl_error {
	HL_OK = 0,
	/* The application misused the API. */
	HL_E_INVAL = -1,       /* a NULL or out-of-range argument */
	HL_E_STATE = -2,       /* wrong point in the lifecycle (call before init, ...) */
	HL_E_NO_FUNCTION = -3, /* no guest function of that name */
	HL_E_ARG_COUNT = -4,   /* wrong number of arguments */
	HL_E_ARG_TYPE = -5,    /* an argument of the wrong type */
	HL_E_EXISTS = -6,      /* a host function of that name is registered already */
	HL_E_CONFIG = -7,      /* a configuration value too small or too large */
	HL_E_TOO_LARGE = -8,   /* the arguments do not fit the input buffer */
	/* The host failed. */
	HL_E_NOMEM = -20,       /* out of host memory */
	HL_E_IO = -21,          /* reading the guest file failed */
	HL_E_HYPERVISOR = -22,  /* /dev/kvm missing or a KVM call failed */
	HL_E_UNSUPPORTED = -23, /* this build or this kernel lacks the feature */
	/* The guest binary is unusable. */
	HL_E_ELF = -30,     /* malformed or unsupported ELF */
	HL_E_VERSION = -31, /* ABI version note missing or different */
	/* The guest failed. */
	HL_E_GUEST_ERROR = -40,    /* the guest function returned an error (not poisoned) */
	HL_E_HOST_FUNCTION = -41,  /* a host function failed and the guest did not handle it */
	HL_E_GUEST_ABORT = -42,    /* the guest aborted or exited (poisoned) */
	HL_E_GUEST_FAULT = -43,    /* CPU exception, access outside RAM, triple fault (poisoned) */
	HL_E_GUEST_PROTOCOL = -44, /* unknown port or malformed data from the guest (poisoned) */
	HL_E_POISONED = -45,       /* an earlier failure left the sandbox unusable: reset it */
	HL_E_CANCELLED = -46,      /* the call was cancelled or timed out (poisoned) */
	HL_E_BUSY = -47,           /* no pooled sandbox free within the timeout */
};

/* A static string naming `code` ("HL_E_ARG_TYPE: argument of the wrong type"). */
HL_API const char *hl_strerror(int code);

/* ---- Values ----------------------------------------------------------------- */
/* hl_value and its constructors (hl_i32, hl_string, ...) are in abi.h. */

/* "i32", "string", ... or "?" for an unknown type. Static string. */
HL_API const char *hl_type_name(hl_type t);

/* ---- Configuration -------------------------------------------------------- */
typedef struct hl_config {
	size_t size;          /* sizeof(hl_config), set by hl_config_init */
	uint64_t heap_size;   /* default 128 KiB; 16 KiB .. 768 MiB */
	uint64_t stack_size;  /* default 64 KiB; 16 KiB .. 64 MiB */
	uint64_t input_size;  /* default 16 KiB; 4 KiB .. 64 MiB */
	uint64_t output_size; /* default 16 KiB; 4 KiB .. 64 MiB */
	uint32_t max_log_level; /* guest log records above this level are not sent; default HL_LOG_WARN */
	uint32_t flags;         /* HL_CONFIG_* */
	/* Appended in 1.1 (a size of offsetof(hl_config, interrupt_signal) is
	 * still accepted and means 0 for both): */
	int32_t interrupt_signal; /* signal that kicks a running vCPU out of the guest, 0: none.
	                           * The application owns it: a handler must be installed
	                           * (hl_install_interrupt_handler) before load. */
	uint32_t call_timeout_ms; /* cancel every call that runs longer; 0: no limit.
	                           * Needs interrupt_signal. Checked at every exit
	                           * as well, so it holds for a guest that exits in
	                           * a loop even where the timer behind the signal
	                           * cannot be created; see "Callbacks and the
	                           * deadline" for what callbacks must do. */
} hl_config;

/* Print the memory layout and registers to stderr at entry and failure. */
#define HL_CONFIG_DEBUG 1u
/* Write an ELF core file when the guest faults, aborts or breaks the
 * protocol (see hl_sandbox_core_dump); also enabled for every sandbox by
 * the environment variable HYPERLIGHT_CORE_DIR=dir, which also names the
 * directory (default: the current directory). */
#define HL_CONFIG_CORE_DUMP 2u
/* After every restore (hl_sandbox_restore, hl_sandbox_reset, hl_call_fresh,
 * a pool's release), read back every piece of vCPU state the hypervisor
 * exposes and all of guest memory, and compare them with the snapshot; a
 * difference fails the restore with HL_E_HYPERVISOR naming the first one
 * ("MSR 0x... is ... after the restore, the snapshot has ...") and leaves
 * the sandbox poisoned. Slow (a full memory compare): for tests and the
 * paranoid. Also enabled for every sandbox by the environment variable
 * HYPERLIGHT_VERIFY_RESTORE=1. docs/security.md states the invariant. */
#define HL_CONFIG_VERIFY_RESTORE 4u
/* Refuse the guest's writes to every MSR its runtime does not need (EFER,
 * STAR, LSTAR, CSTAR, SFMASK, FS_BASE, GS_BASE, KERNEL_GS_BASE, TSC_AUX),
 * where the hypervisor can filter MSR writes: a refused write fails the
 * call (HL_FAULT_MSR). Less state a guest can set, and a cheaper restore
 * (only those MSRs are put back: about 10 us less per restore on kvm-pvm),
 * but installing the filter makes KVM wait for an RCU grace period: about
 * 10-20 ms more per sandbox created (measured on kvm-pvm). For long-lived
 * sandboxes restored per request. Ignored where KVM has no MSR filter. */
#define HL_CONFIG_MSR_FILTER 8u

/* Fills *cfg with the defaults, including cfg->size. NULL: no-op. */
HL_API void hl_config_init(hl_config *cfg);

/* ---- Sandboxes ------------------------------------------------------------ */
typedef struct hl_sandbox hl_sandbox;

/*
 * Creates an empty sandbox with a copy of *cfg (NULL: defaults). The
 * configuration is checked when a guest is loaded.
 * Returns 0 and sets *out, or HL_E_INVAL (out is NULL, cfg->size wrong) or
 * HL_E_NOMEM. The sandbox is owned by the caller: free it with
 * hl_sandbox_free() whatever happens afterwards.
 */
HL_API int hl_sandbox_new(const hl_config *cfg, hl_sandbox **out);

/* Frees the sandbox, its VM and every string the sandbox owns. NULL: no-op. */
HL_API void hl_sandbox_free(hl_sandbox *sb);

/*
 * Loads a guest: checks the configuration and the ELF image, builds the VM
 * and its memory. `path` / `image` are borrowed. Once per sandbox.
 * Errors: HL_E_INVAL (NULL sb, path or image), HL_E_CONFIG, HL_E_IO,
 * HL_E_ELF, HL_E_VERSION, HL_E_HYPERVISOR, HL_E_NOMEM, HL_E_STATE (already
 * loaded). On error nothing is left behind: the sandbox is as it was and
 * may load again.
 */
HL_API int hl_sandbox_load_file(hl_sandbox *sb, const char *path);
HL_API int hl_sandbox_load_image(hl_sandbox *sb, const void *image, size_t len);

/* The per-invocation context of a host function; valid during the callback. */
typedef struct hl_host_call hl_host_call;

/*
 * Callbacks and the deadline. Host functions and the print and log
 * callbacks run on the calling thread in the middle of a call, and the
 * library cannot interrupt them: a call whose deadline (call_timeout_ms)
 * passes or that is cancelled (hl_interrupt_cancel) while a callback runs
 * ends with HL_E_CANCELLED as soon as the callback returns, before the
 * guest runs again, and not before. The deadline and cancels hold only as
 * well as the callbacks: a callback that may wait (a pipe, a socket, a
 * lock, the network, a slow disk) must bound that wait itself, by the time
 * left of the call's deadline (the application knows call_timeout_ms and
 * when it called) or by its own cancellation, and give up (drop, truncate,
 * or fail the host call) rather than block. The library's own sinks do
 * this: the default print and log sinks wait for their descriptor with
 * poll() at most until the deadline or a cancel, then drop the rest of the
 * record; the call's message (hl_errmsg) says how many bytes were dropped.
 */

/*
 * A host function. `args` (nargs of them, types as registered; strings and
 * bytes owned by the sandbox, valid until the callback returns). Set *ret
 * (type as registered; a string or bytes result is borrowed: it must stay
 * valid until the callback returns, the library copies it) and return 0,
 * or return hl_host_call_fail(...). It must not block past the call's
 * deadline (see "Callbacks and the deadline" above).
 */
typedef int (*hl_host_fn)(hl_host_call *hc, const hl_value *args, size_t nargs, hl_value *ret,
                          void *user);

/* Fails the host call with a formatted message, which the guest receives.
 * Returns HL_E_HOST_FUNCTION for the callback to return. */
HL_API int hl_host_call_fail(hl_host_call *hc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The sandbox the host call came from (for hl_errmsg and user data lookup);
 * NULL for NULL. Valid during the callback. */
HL_API hl_sandbox *hl_host_call_sandbox(hl_host_call *hc);

/*
 * Registers a host function that the guest may call by `name`. Before
 * hl_sandbox_init() (for a sandbox made from a snapshot: before its first
 * call). `name` and `params` are copied; `user` is passed to
 * every invocation and stays owned by the caller.
 * Errors: HL_E_INVAL (bad name, NULL fn, bad types, too many parameters),
 * HL_E_EXISTS, HL_E_STATE (after init), HL_E_NOMEM.
 */
HL_API int hl_sandbox_register(hl_sandbox *sb, const char *name, hl_type ret, const hl_type *params,
                               size_t nparams, hl_host_fn fn, void *user);

/* Receives what the guest writes to stdout (fd 1) and stderr (fd 2): `len`
 * bytes at `data`, not NUL-terminated, any bytes (the guest's, untrusted:
 * not cleaned, may hold escape sequences). `data` is owned by the sandbox
 * and valid during the callback, which runs on the thread that called
 * hl_call or hl_sandbox_init and must not block past the call's deadline
 * (see "Callbacks and the deadline"). */
typedef void (*hl_print_fn)(int fd, const char *data, size_t len, void *user);
/* Replaces the print callback (default: write to the host's fd 1 or 2,
 * waiting for the descriptor with poll() at most until the call's deadline
 * or a cancel, then dropping the rest: a stdout nobody reads cannot hold a
 * call); NULL restores the default. `user` stays owned by the caller and
 * is passed to every invocation. Any time, but not during a call.
 * Errors: HL_E_INVAL (NULL sb), HL_E_STATE (from inside a call). */
HL_API int hl_sandbox_set_print(hl_sandbox *sb, hl_print_fn fn, void *user);

/* Receives a guest log record: its level (HL_LOG_ERROR .. HL_LOG_TRACE,
 * checked), the guest source file and line, and the message. The strings
 * are NUL-terminated, written by the guest (untrusted text), owned by the
 * sandbox and valid during the callback, which runs on the thread that
 * called hl_call or hl_sandbox_init and must not block past the call's
 * deadline (see "Callbacks and the deadline"). Both strings are cleaned
 * before any sink sees them: every control character (C0 including
 * newline, carriage return and ESC; DEL; C1, the Unicode line and
 * paragraph separators and the bidirectional formatting characters, in
 * UTF-8) and every byte that is not well-formed UTF-8 is replaced by '?',
 * byte for byte, so a record is valid UTF-8 and always one line.
 * Records above hl_config.max_log_level are dropped inside the guest and
 * never arrive; a guest that sends one anyway has it dropped by the host. */
typedef void (*hl_log_fn)(enum hl_log_level level, const char *file, int line, const char *msg,
                          void *user);
/* Replaces the log callback (default: "guest LEVEL file:line: msg" and a
 * newline to the host's fd 2, with the same bounded wait as the default
 * print sink); NULL restores the default. `user` stays owned by the caller
 * and is passed to every invocation. Any time, but not during a call.
 * Errors: HL_E_INVAL (NULL sb), HL_E_STATE (from inside a call). */
HL_API int hl_sandbox_set_log(hl_sandbox *sb, hl_log_fn fn, void *user);

/*
 * Runs the guest's main() until it calls hl_dispatch(), records its
 * function table, and saves the state that hl_sandbox_reset() returns to.
 * Errors: HL_E_INVAL (NULL), HL_E_STATE (not loaded, or already
 * initialised), any HL_E_GUEST_* or HL_E_CANCELLED if main() fails (the
 * sandbox is then only good for hl_sandbox_free), HL_E_HYPERVISOR.
 */
HL_API int hl_sandbox_init(hl_sandbox *sb);

/*
 * Calls the guest function `name` with `args` (borrowed) and stores its
 * result in *result (may be NULL). A string or bytes result is owned by the
 * sandbox and valid until the next call, reset or free of this sandbox.
 * The arguments are checked against the guest's signature before the guest
 * runs: HL_E_NO_FUNCTION, HL_E_ARG_COUNT, HL_E_ARG_TYPE, HL_E_TOO_LARGE.
 * Misuse: HL_E_INVAL (NULL sb or name, args NULL with nargs > 0, a NULL
 * string or bytes pointer with a length, a string with a NUL byte),
 * HL_E_STATE (not initialised, or from inside a host function of the same
 * sandbox), HL_E_POISONED (an earlier failure: reset or restore first).
 * Guest failures: HL_E_GUEST_ERROR, HL_E_HOST_FUNCTION (neither poisons),
 * HL_E_GUEST_ABORT, HL_E_GUEST_FAULT, HL_E_GUEST_PROTOCOL, HL_E_CANCELLED;
 * these four poison the sandbox until reset. Host failure: HL_E_HYPERVISOR.
 * Host functions, print and log callbacks run on the calling thread.
 */
HL_API int hl_call(hl_sandbox *sb, const char *name, const hl_value *args, size_t nargs,
                   hl_value *result);

/* Returns the sandbox to its state right after hl_sandbox_init() (for a
 * sandbox made from a snapshot: to that snapshot): memory, registers,
 * poisoning cleared. The same machinery as hl_sandbox_restore(), with the
 * snapshot init took. Errors: HL_E_INVAL (NULL), HL_E_STATE (not
 * initialised, or from inside a host function), HL_E_HYPERVISOR. */
HL_API int hl_sandbox_reset(hl_sandbox *sb);

/* True if a guest failure left the sandbox unusable until reset (or its
 * init failed). False for NULL. */
HL_API bool hl_sandbox_poisoned(const hl_sandbox *sb);

/* The details of the sandbox's last failure; owned by the sandbox, valid
 * until its next API call. "" when the last operation succeeded; a static
 * string for NULL. */
HL_API const char *hl_errmsg(const hl_sandbox *sb);

/* ---- Guest failures in detail ----------------------------------------------
 *
 * A guest runs at CPL 0 and may do anything its VM allows; with
 * HL_CONFIG_MSR_FILTER, not write MSRs other than the ones its runtime
 * needs (HL_FAULT_MSR). docs/security.md says why.
 */
enum hl_fault_kind {
	HL_FAULT_NONE = 0,
	HL_FAULT_EXCEPTION = 1,    /* a CPU exception: vector, error_code, rip, addr (CR2) */
	HL_FAULT_MMIO = 2,         /* access outside guest memory: addr */
	HL_FAULT_SHUTDOWN = 3,     /* triple fault */
	HL_FAULT_UNKNOWN_PORT = 4, /* port in `vector` */
	HL_FAULT_ABORT = 5,        /* guest abort: code in error_code */
	HL_FAULT_PROTOCOL = 6,     /* malformed record */
	HL_FAULT_HALT = 7,         /* the guest halted the CPU */
	HL_FAULT_HYPERVISOR = 8,   /* an exit the host cannot handle */
	HL_FAULT_MSR = 9,          /* a write to an MSR guests may not write (1.3):
	                            * the MSR in addr, the value in error_code */
	/* A cancelled call (HL_E_CANCELLED) is not a guest fault: kind NONE. */
};
typedef struct hl_fault {
	enum hl_fault_kind kind;
	uint32_t vector;     /* exception vector, or port */
	uint64_t error_code; /* exception error code, or abort code */
	uint64_t rip;
	uint64_t addr; /* CR2 for page faults, GPA for MMIO */
	uint64_t rsp;
} hl_fault;

/* Copies the last guest failure into *out (kind HL_FAULT_NONE if none;
 * cleared by restore and reset). Errors: HL_E_INVAL (NULL). */
HL_API int hl_sandbox_last_fault(const hl_sandbox *sb, hl_fault *out);

/* The error code the guest gave with its last HL_E_GUEST_ERROR or abort;
 * 0 if none, or for NULL. */
HL_API int hl_sandbox_guest_code(const hl_sandbox *sb);

/* ---- The guest's functions ---------------------------------------------------- */
typedef struct hl_function_info {
	const char *name; /* owned by the sandbox, valid until free */
	hl_type ret;
	size_t nparams;
	const hl_type *params; /* owned by the sandbox, valid until free */
} hl_function_info;

/* The number of functions the guest registered (0 before init, or NULL). */
HL_API size_t hl_function_count(const hl_sandbox *sb);
/* Describes function `index` in *out (strings owned by the sandbox, valid
 * until free). Errors: HL_E_INVAL (NULL, index out of range). */
HL_API int hl_function_get(const hl_sandbox *sb, size_t index, hl_function_info *out);

/* ---- Memory layout --------------------------------------------------------- */
typedef struct hl_layout {
	uint64_t mem_base, mem_size;
	uint64_t image_base, image_size, entry;
	uint64_t boot_info, page_tables, page_tables_size;
	uint64_t input, input_size, output, output_size;
	uint64_t heap, heap_size, stack, stack_size, ist, ist_size;
} hl_layout;
/* Describes the guest memory layout (guest-physical addresses and sizes in
 * bytes) after load. Errors: HL_E_INVAL (NULL), HL_E_STATE (not loaded). */
HL_API int hl_sandbox_layout(const hl_sandbox *sb, hl_layout *out);

/* ---- Snapshots (1.1) ---------------------------------------------------------
 *
 * A snapshot is the complete guest-visible state of an initialised sandbox
 * between calls: all guest memory, every vCPU register the guest can change
 * (general, segment, control, FPU/SSE/AVX, debug registers, pending events,
 * the writable MSRs), the guest's function table, and a copy of the
 * sandbox's host-function table. Its memory is a sealed memfd; sandboxes
 * restored to it or made from it map it copy-on-write, so the pages they
 * never write are shared, and a restore copies the snapshot's bytes back
 * into only the pages the guest wrote since (found with the hypervisor's
 * dirty-page log).
 *
 * Lifetime: a snapshot is reference counted. The caller owns one reference
 * from hl_sandbox_snapshot() and drops it with hl_snapshot_free(); every
 * sandbox restored to it or made from it holds its own reference while it
 * uses the memory. Freeing the caller's reference while sandboxes still
 * use the snapshot is fine. A snapshot is immutable: any number of threads
 * may restore from it or make sandboxes from it at once.
 *
 * Compatibility: a snapshot fits a sandbox loaded from the same image (same
 * bytes, compared by a 64-bit hash taken at load) with the same heap, stack,
 * input and output sizes and max_log_level; anything else is HL_E_INVAL
 * with a message naming the difference.
 */
typedef struct hl_snapshot hl_snapshot;

/*
 * Takes a snapshot of an initialised, unpoisoned sandbox between calls.
 * Costs a copy of the memory the guest has (not of the configured size).
 * Afterwards the sandbox itself runs on top of the new snapshot, so
 * restoring it there is cheap. Sets *out (owned by the caller: free with
 * hl_snapshot_free). Errors: HL_E_INVAL, HL_E_STATE (not initialised, or
 * inside a host function), HL_E_POISONED, HL_E_NOMEM, HL_E_HYPERVISOR.
 */
HL_API int hl_sandbox_snapshot(hl_sandbox *sb, hl_snapshot **out);

/*
 * Returns the sandbox's memory and vCPU to `snap` and clears poisoning and
 * the last fault. `snap` may come from another sandbox made from the same
 * guest and configuration. Works after any failure, including
 * HL_E_CANCELLED. Result strings of earlier calls become invalid.
 * Errors: HL_E_INVAL (NULL, or an incompatible snapshot: see above),
 * HL_E_STATE (not initialised, or inside a host function), HL_E_HYPERVISOR
 * (the sandbox stays poisoned).
 */
HL_API int hl_sandbox_restore(hl_sandbox *sb, hl_snapshot *snap);

/*
 * Creates a ready sandbox from a snapshot without running the guest's
 * initialisation: a new VM whose memory maps the snapshot copy-on-write.
 * cfg may be NULL (the snapshot's configuration); otherwise its sizes and
 * max_log_level must match the snapshot (HL_E_CONFIG), while flags,
 * interrupt_signal and call_timeout_ms are taken from cfg.
 * Host functions: the new sandbox starts with the host functions the
 * snapshot's sandbox had (same callbacks and `user` pointers, which must
 * stay valid while any sandbox uses them) and may register more with
 * hl_sandbox_register() until its first call. Print and log callbacks are
 * the defaults. hl_sandbox_reset() returns it to `snap`.
 * Sets *out (owned by the caller: hl_sandbox_free). Errors: HL_E_INVAL,
 * HL_E_CONFIG, HL_E_NOMEM, HL_E_HYPERVISOR.
 */
HL_API int hl_sandbox_new_from_snapshot(hl_snapshot *snap, const hl_config *cfg, hl_sandbox **out);

/* Drops the caller's reference. NULL: no-op. Thread-safe. */
HL_API void hl_snapshot_free(hl_snapshot *snap);

/* Guest memory bytes the snapshot holds (its resident size); 0 for NULL.
 * Thread-safe. */
HL_API uint64_t hl_snapshot_size(const hl_snapshot *snap);

/*
 * A call on a fresh state: hl_sandbox_restore(sb, snap), then
 * hl_call(sb, name, args, nargs, result), as one operation. Errors: those
 * of both; a restore error is returned before the guest runs.
 */
HL_API int hl_call_fresh(hl_sandbox *sb, hl_snapshot *snap, const char *name, const hl_value *args,
                         size_t nargs, hl_value *result);

/* ---- Cancelling calls (1.1) ---------------------------------------------------
 *
 * Any thread may cancel the call running in a sandbox through an interrupt
 * handle. The cancelled call returns HL_E_CANCELLED and poisons the sandbox
 * (restore or reset makes it ready again). A guest that is running is
 * kicked out with the signal named in hl_config.interrupt_signal, sent to
 * the thread running the call; a call inside a host function ends when
 * the function returns, without entering the guest again (see "Callbacks
 * and the deadline"). A cancel and the deadline are also checked after
 * every exit of the guest. Without a signal, only calls inside host
 * functions or between exits can be cancelled promptly: a guest spinning
 * in a loop runs on.
 *
 * The signal is the application's: the library never installs a handler
 * on its own. hl_install_interrupt_handler() installs a handler that does
 * nothing (so that the vCPU's KVM_RUN returns) when the application asks
 * for it; an application may install its own instead (any handler without
 * side effects works). Loading a guest with interrupt_signal set checks
 * that the signal has a handler (HL_E_CONFIG otherwise), because the
 * default action of most signals ends the process.
 *
 * Races are excluded by design: each call has a generation number, a
 * cancel targets the generation running when it takes the handle's lock,
 * and a call clears any cancel state under that lock before it returns, so
 * a cancel that arrives after a call has finished, or while no call runs,
 * never touches a later call (a stray signal only makes the vCPU re-enter
 * the guest). The handle is reference counted and outlives the sandbox
 * safely: after hl_sandbox_free() a cancel returns HL_E_STATE.
 */
typedef struct hl_interrupt hl_interrupt;

/* A new reference to the sandbox's interrupt handle (owned by the caller:
 * hl_interrupt_free). Errors: HL_E_INVAL, HL_E_NOMEM. */
HL_API int hl_sandbox_interrupt_handle(hl_sandbox *sb, hl_interrupt **out);

/* Cancels the call running now. Thread-safe, from any thread. Returns 1 if
 * a call was running and will end with HL_E_CANCELLED, 0 if no call was
 * running (nothing happens), HL_E_STATE if the sandbox is freed,
 * HL_E_INVAL for NULL. */
HL_API int hl_interrupt_cancel(hl_interrupt *h);

/* Drops a reference. NULL: no-op. Thread-safe. */
HL_API void hl_interrupt_free(hl_interrupt *h);

/* Installs a process-wide handler that does nothing for `signo` (which the
 * application then names in hl_config.interrupt_signal), without
 * SA_RESTART. Only when the application calls it. Errors: HL_E_INVAL. */
HL_API int hl_install_interrupt_handler(int signo);

/* The library version string, "1.0.0". */
HL_API const char *hl_version(void);

/* ---- Pools ------------------------------------------------------------------
 *
 * A pool hands out sandboxes made from one snapshot, each in the snapshot's
 * state, for concurrent requests: acquire one, call it, release it. Release
 * restores the sandbox to the snapshot before it is handed out again, so
 * no request sees another's state.
 *
 * Threading: every pool function may be called from any thread at once.
 * A sandbox from hl_pool_acquire belongs to the caller until it is given
 * back with hl_pool_release; it must not be freed with hl_sandbox_free.
 */
typedef struct hl_pool hl_pool;

/*
 * Creates a pool of at most `max` sandboxes made from `snap` with `cfg`
 * (NULL: the snapshot's configuration), created on demand. The pool takes
 * its own reference to the snapshot. Errors: HL_E_INVAL (NULL, max 0),
 * HL_E_NOMEM.
 */
HL_API int hl_pool_new(hl_snapshot *snap, const hl_config *cfg, size_t max, hl_pool **out);

/*
 * Takes a sandbox in the snapshot's state. If all `max` are in use, waits up
 * to `timeout_ms` for a release (0: do not wait; UINT32_MAX: wait forever).
 * Errors: HL_E_INVAL, HL_E_BUSY (none free in time), and the errors of
 * hl_sandbox_new_from_snapshot when a new sandbox has to be made.
 */
HL_API int hl_pool_acquire(hl_pool *pool, uint32_t timeout_ms, hl_sandbox **out);

/*
 * Gives a sandbox back. It is restored to the snapshot (which also clears
 * poisoning) before another caller gets it; a sandbox whose restore fails
 * is freed and replaced later. Errors: HL_E_INVAL (NULL, not from this
 * pool, or released already).
 */
HL_API int hl_pool_release(hl_pool *pool, hl_sandbox *sb);

/* Frees the pool and every sandbox in it. All acquired sandboxes must have
 * been released. NULL: no-op. */
HL_API void hl_pool_free(hl_pool *pool);

/* ---- Memory allocation (1.2) --------------------------------------------------
 *
 * Every heap allocation the host library makes (sandboxes, function
 * tables, buffers, snapshots, pools, interrupt handles) goes through one
 * allocator, libc's by default. An application that accounts for memory,
 * or caps it, installs its own. Guest memory is not heap memory: it is
 * mapped with mmap and is not seen by the allocator.
 */
typedef struct hl_allocator {
	size_t size; /* sizeof(hl_allocator) */
	/* Returns n bytes (n > 0) aligned for any type, or NULL. */
	void *(*malloc)(size_t n, void *user);
	/* Resizes p (never NULL; n > 0) as realloc does, or returns NULL and
	 * leaves p as it was. */
	void *(*realloc)(void *p, size_t n, void *user);
	/* Frees p (never NULL). */
	void (*free)(void *p, void *user);
	void *user; /* passed to every function; owned by the application */
} hl_allocator;

/*
 * Makes *a (copied; NULL: libc's malloc, realloc and free) the allocator
 * of the host library, process-wide. Only while the library holds no
 * memory: before the first sandbox, snapshot, pool or interrupt handle is
 * created, or after all of them are freed. The functions may be called
 * from any thread that uses the library, concurrently, so they must be
 * thread-safe; a NULL result makes the API call that needed the memory
 * fail with HL_E_NOMEM. Not thread-safe itself: call it while no other
 * thread uses the library.
 * Errors: HL_E_INVAL (wrong size or a NULL function), HL_E_STATE (memory
 * from the current allocator is still in use).
 */
HL_API int hl_set_allocator(const hl_allocator *a);

/* ---- Statistics (1.2) ---------------------------------------------------------
 *
 * Every sandbox counts what happens in it: plain increments on the thread
 * running the sandbox, and one pair of clock readings per call. The counters
 * start at zero when the sandbox is created (a sandbox made from a snapshot
 * or by a pool starts at zero too: statistics are not part of a snapshot),
 * survive hl_sandbox_reset() and hl_sandbox_restore() (which they count), and
 * go back to zero only with hl_sandbox_stats_reset().
 *
 * A call that the library refuses before the guest runs (HL_E_INVAL,
 * HL_E_STATE, HL_E_POISONED, HL_E_NO_FUNCTION, HL_E_ARG_*, HL_E_TOO_LARGE)
 * counts only in `rejected`. Every call that runs the guest counts in
 * `calls` and in exactly one of calls_ok, guest_errors, host_function_errors,
 * aborts, faults, protocol_errors, cancelled, timeouts or other_errors, so
 * that they add up to `calls`.
 *
 * vm_exits, host_calls, prints and logs also count what happens during
 * hl_sandbox_init() (the guest's main()). A log record that the guest
 * filters out (its level is above hl_config.max_log_level) never leaves the
 * guest: it costs no exit and is not counted.
 *
 * Durations: every call that runs the guest is timed with CLOCK_MONOTONIC,
 * from just before the guest runs to when its result is decoded (argument
 * checks and encoding are not included). call_ns_hist[i] counts the calls
 * whose duration d in nanoseconds has floor(log2(d)) == i: bucket i holds
 * [2^i, 2^(i+1)) ns (bucket 0 also holds 0 and 1 ns; the last bucket,
 * from 2^39 ns or about nine minutes, has no upper end). A percentile read
 * from it is therefore known to within a factor of two:
 * hl_stats_percentile_ns() returns an upper bound u with d <= u < 2d for
 * the true value d (below nine minutes).
 *
 * Growth: the structure carries its size. Fields are only ever appended.
 */
#define HL_STATS_HIST_BUCKETS 40

typedef struct hl_stats {
	size_t size; /* set by the caller to sizeof(hl_stats); hl_sandbox_stats sets it to
	              * the number of bytes it filled in */
	/* calls */
	uint64_t calls;    /* calls that ran the guest */
	uint64_t calls_ok; /* ... and returned a result */
	uint64_t rejected; /* calls refused before the guest ran (misuse, poisoned, ...) */
	/* how the calls that ran the guest failed, by error family */
	uint64_t guest_errors;         /* HL_E_GUEST_ERROR: the function returned an error */
	uint64_t host_function_errors; /* HL_E_HOST_FUNCTION: a host function failed, unhandled */
	uint64_t aborts;               /* HL_E_GUEST_ABORT: abort(), exit(), hl_abort() */
	uint64_t faults;               /* HL_E_GUEST_FAULT: CPU exception, bad access, halt */
	uint64_t protocol_errors;      /* HL_E_GUEST_PROTOCOL: malformed or hostile records */
	uint64_t cancelled;            /* HL_E_CANCELLED through an interrupt handle */
	uint64_t timeouts;             /* HL_E_CANCELLED by hl_config.call_timeout_ms */
	uint64_t other_errors;         /* anything else (HL_E_HYPERVISOR, HL_E_TOO_LARGE, ...) */
	/* what the guest sent */
	uint64_t host_calls; /* host-call records (each answered with a result or an error) */
	uint64_t prints;     /* print records (writes to stdout or stderr) */
	uint64_t logs;       /* log records that reached the host (then the log callback) */
	uint64_t vm_exits;   /* returns from the hypervisor's run: every exit, any reason */
	/* lifecycle */
	uint64_t restores;  /* successful hl_sandbox_restore, hl_sandbox_reset, pool releases */
	uint64_t snapshots; /* successful hl_sandbox_snapshot */
	/* durations of the calls counted in `calls`, in nanoseconds */
	uint64_t call_ns_total;
	uint64_t call_ns_min; /* 0 when no call has run */
	uint64_t call_ns_max;
	uint64_t call_ns_hist[HL_STATS_HIST_BUCKETS];
} hl_stats;

/*
 * Copies the sandbox's statistics into *out. Set out->size = sizeof(hl_stats)
 * first: the library fills in min(out->size, its own sizeof(hl_stats)) bytes
 * and stores that number in out->size, so programs built against an older
 * or newer header keep working. Works in every state, including poisoned
 * and from inside a host function of the same sandbox.
 * Errors: HL_E_INVAL (NULL, or out->size smaller than the 1.2 structure).
 * Threading: like every sandbox function, from the thread using the sandbox
 * or while no other thread uses it: the counters are not atomic.
 */
HL_API int hl_sandbox_stats(const hl_sandbox *sb, hl_stats *out);

/* Sets every counter of the sandbox back to zero. Errors: HL_E_INVAL (NULL),
 * HL_E_STATE (inside a call, from a host function). Same threading as
 * hl_sandbox_stats. */
HL_API int hl_sandbox_stats_reset(hl_sandbox *sb);

/*
 * Estimates the duration, in nanoseconds, below which a fraction `q`
 * (0 < q <= 1; 0.5 for the median, 0.99 for p99) of the calls in `s` ran,
 * from its histogram. Returns an upper bound u with d <= u < 2d for the true
 * percentile d, clamped to [call_ns_min, call_ns_max]; 0 if no call was
 * counted, `s` is NULL or q is out of range. Reads only `s`: any thread.
 */
HL_API uint64_t hl_stats_percentile_ns(const hl_stats *s, double q);

/*
 * Adds the counters of `s` to `sum` (durations: totals and histograms
 * added, min and max combined), for totals over the sandboxes of a pool or
 * over requests. Both must have size set to sizeof(hl_stats) (a zeroed
 * `sum` with its size set is an empty total). Returns 0 or HL_E_INVAL.
 * Touches only the two structures: any thread, with the caller's locking.
 */
HL_API int hl_stats_add(hl_stats *sum, const hl_stats *s);

/*
 * Formats the statistics as a readable table, one "name  value" line each,
 * durations in microseconds with p50 and p99 estimates, into buf (len bytes,
 * always NUL-terminated when len > 0; buf may be NULL when len is 0).
 * Returns the length of the whole table like snprintf (a result >= len means
 * it was cut short: call again with result + 1 bytes), or HL_E_INVAL (s is
 * NULL, or buf is NULL with len > 0). Reads only `s`: any thread.
 */
HL_API int hl_stats_format(const hl_stats *s, char *buf, size_t len);

/* ---- The hypervisor (1.3) ----------------------------------------------------
 *
 * Three kinds of /dev/kvm run guests (docs/platforms.md): KVM on Intel VT-x
 * (VMX) or AMD-V (SVM), and kvm-pvm, a page-table-based software hypervisor
 * without either, where the library enters the guest in native kernel mode
 * (guest code at emulated CPL 0 would have no SSE there). The library
 * detects which one it has every time it creates a VM; hl_platform_probe()
 * tells the application, and proves that guests run by running one.
 */
typedef enum hl_platform_kind {
	HL_PLATFORM_NONE = 0,      /* no usable /dev/kvm */
	HL_PLATFORM_KVM_VMX = 1,   /* KVM on Intel VT-x */
	HL_PLATFORM_KVM_SVM = 2,   /* KVM on AMD-V */
	HL_PLATFORM_KVM_PVM = 3,   /* kvm-pvm */
	HL_PLATFORM_KVM_OTHER = 4, /* KVM whose CPU extension was not recognised */
} hl_platform_kind;

typedef struct hl_platform_info {
	size_t size; /* set by the caller to sizeof(hl_platform_info) */
	hl_platform_kind kind;
	const char *name; /* "kvm (VMX)", "kvm (SVM)", "kvm-pvm", "kvm", "none": static */
	const char *mode; /* how guest code executes there, one line: static */
	bool can_run;     /* the probe guest ran, SSE included, and answered right */
	bool native;      /* ... on the CPU itself, not in an instruction emulator */
	double exit_us;   /* HL_PROBE_MEASURE: median port-I/O exit round trip in
	                   * microseconds, in the execution mode guests use; else 0 */
	char reason[512]; /* when !can_run: what failed and what to do; else "" */
} hl_platform_info;

#define HL_PROBE_MEASURE 0x1u /* also time 2000 exits of the probe guest (~50 ms) */

/*
 * Finds out which hypervisor /dev/kvm is and whether guests run on it: opens
 * it, creates a VM as a sandbox does, and runs a probe guest of a few
 * instructions that computes with SSE and reports the result by port I/O.
 * Fills *info (its `size` set by the caller; fields the caller's size does
 * not cover are left alone). Borrowed: info, during the call.
 * Returns 0 whenever *info was filled, including when guests cannot run here
 * (can_run false, reason says why); HL_E_INVAL for a NULL info, a size too
 * small, or unknown flags. Thread-safe; takes a few milliseconds.
 */
HL_API int hl_platform_probe(hl_platform_info *info, unsigned flags);

/* ---- Debugging guests ----------------------------------------------------------- */

/*
 * Writes an ELF core file of the guest's current state to `path` (borrowed;
 * created with mode 0600, never overwritten): the vCPU's general registers
 * and every mapped page of guest memory at its guest virtual address, for
 * `gdb GUEST path`. Any time after a successful load, but not during a call.
 * Automatic dumps on guest failures: HL_CONFIG_CORE_DUMP. Their file is
 * named hyperlight-<pid>-<n>-<YYYYmmddTHHMMSS>.core (UTC), holds the
 * registers of the faulting instruction when the guest sent an exception
 * record, and its path (or why it could not be written) is appended to
 * hl_errmsg(); the error code of the failure stays the same.
 * Errors: HL_E_INVAL (NULL), HL_E_STATE (nothing loaded, or in a call),
 * HL_E_IO (the file exists or cannot be written; message says why).
 */
HL_API int hl_sandbox_core_dump(hl_sandbox *sb, const char *path);

/*
 * Serves the gdb remote serial protocol for this sandbox on 127.0.0.1:port
 * (1..65535). Call after hl_sandbox_load_* and before hl_sandbox_init: the
 * socket is bound now, and the next run of the guest (init, stopped at the
 * guest's first instruction) waits for one debugger to connect, then runs
 * only as the debugger says (continue, step, software and hardware
 * breakpoints; registers and memory read and written). The debugger stays
 * attached for the later calls; when it detaches, the guest runs freely;
 * when it kills the guest, the running call fails with HL_E_CANCELLED.
 * The wait for the debugger blocks the thread running the guest.
 * Errors: HL_E_INVAL (NULL, port 0), HL_E_STATE (not loaded, already
 * initialised, or already listening), HL_E_IO (the port cannot be bound),
 * HL_E_NOMEM. The socket is closed by hl_sandbox_free().
 */
HL_API int hl_sandbox_debug_listen(hl_sandbox *sb, uint16_t port);

/* ---- Restricting vCPU threads (seccomp) --------------------------------------
 *
 * hl_seccomp_restrict_thread() installs a seccomp filter on the calling
 * thread that allows only the system calls a thread needs to run calls in
 * sandboxes created beforehand. It is opt-in: the library never installs a
 * filter on its own. Typical use: create, load and initialise the sandboxes
 * (or snapshots and a warm pool), then start the threads that run calls and
 * have each one call this first.
 *
 * What stays allowed on the thread:
 *   - ioctl, only with a KVM request number (type 0xAE): KVM_RUN and the
 *     register, memory-slot and dirty-log requests of calls, reset,
 *     restore and snapshots; every other ioctl (terminal, socket, ...) is
 *     refused;
 *   - mmap and mprotect without PROT_EXEC; munmap, mremap, madvise, brk,
 *     mincore (malloc, restore, snapshots);
 *   - read, pread64, write, pwrite64, writev, lseek, fstat/newfstatat,
 *     close, poll and ppoll on descriptors that are already open (the
 *     default print and log sinks, stdio on stderr), memfd_create,
 *     ftruncate and fcntl (snapshots);
 *   - futex, sched_yield, nanosleep, clock_nanosleep, clock_gettime,
 *     gettimeofday, getrandom, gettid, getpid, tgkill, set_robust_list,
 *     rseq (locks, time, malloc, the thread's own bookkeeping);
 *   - rt_sigreturn, rt_sigprocmask, sigaltstack, restart_syscall, and
 *     timer_create, timer_settime, timer_gettime, timer_delete
 *     (cancellation with hl_config.interrupt_signal and call_timeout_ms);
 *   - exit and exit_group.
 * Everything else is refused: among others open/openat (so no new
 * sandbox can be made from this thread, and hl_pool_acquire must find a
 * sandbox already made), socket and connect, execve, clone and fork,
 * ptrace, and any mmap or mprotect with PROT_EXEC.
 *
 * A refused call fails with EPERM (the library then reports the error it
 * would report for any failed system call), unless `flags` has
 * HL_SECCOMP_KILL: then the whole process is killed with SIGSYS.
 *
 * The filter applies to the calling thread only (no
 * SECCOMP_FILTER_FLAG_TSYNC); other threads of the process are not
 * affected, and the thread cannot start new ones (clone is refused). It
 * also sets the thread's no_new_privs attribute. Neither can be undone:
 * the thread keeps the filter until it exits. Calling it again adds
 * another filter (a system call must pass both).
 *
 * Returns 0, or HL_E_INVAL (an unknown bit in flags), HL_E_UNSUPPORTED
 * (built without libseccomp, or the kernel has no seccomp filters),
 * HL_E_NOMEM. On an error no filter is installed (no_new_privs may be set).
 * Threading: affects only the calling thread; may be called from any number
 * of threads at once.
 */
#define HL_SECCOMP_KILL 1u /* a refused system call kills the process (SIGSYS) instead of EPERM */

HL_API int hl_seccomp_restrict_thread(unsigned flags);

/* True if this build of the library has hl_seccomp_restrict_thread
 * (built with libseccomp). */
HL_API bool hl_seccomp_supported(void);

#ifdef __cplusplus
}
#endif
#endif /* HYPERLIGHT_HYPERLIGHT_H */
