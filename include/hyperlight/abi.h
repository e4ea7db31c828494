/*
 * abi.h - the contract between the host library and the guest runtime.
 *
 * Plain C99, included by both sides. Everything here is append-only and
 * versioned by HL_ABI_VERSION; every layout is pinned by _Static_assert at
 * the bottom. Guest addresses are plain 64-bit integers (hl_gaddr_t) so that
 * host code cannot dereference them by mistake.
 *
 * Data never travels in registers: every exit is an OUT of a 32-bit value
 * to one of the HL_PORT_* ports, and the value is the offset, inside the
 * output buffer, of the record that the port's kind describes. The host
 * writes calls and host-call results into the input buffer. docs/abi.md
 * describes the protocol in prose.
 */
#ifndef HYPERLIGHT_ABI_H
#define HYPERLIGHT_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HL_ABI_VERSION 1u

/* A guest address (guest virtual == guest physical: memory is identity mapped). */
typedef uint64_t hl_gaddr_t;

#define HL_PAGE_SIZE 4096u
/* Round n up to a multiple of 8; every record and payload starts 8-aligned. */
#define HL_ALIGN8(n) (((n) + 7u) & ~(uint64_t)7u)

/* ---- Version note: an ELF note every guest carries ------------------- */
#define HL_NOTE_NAME "Hyperlight" /* n_namesz = 11 including the NUL */
#define HL_NOTE_TYPE_ABI 0x484c0001u
/* The note's descriptor: */
struct hl_note_abi {
	uint32_t abi_version;
	uint32_t flags; /* reserved, 0 */
};

/* ---- Ports: the guest's only way to exit on purpose ------------------ */
enum hl_port {
	HL_PORT_DONE = 0x6c00,      /* init or call done; record: hl_result (init: hl_func_table) */
	HL_PORT_HOSTCALL = 0x6c01,  /* call a host function; record: hl_hostcall */
	HL_PORT_PRINT = 0x6c02,     /* write to stdout/stderr; record: hl_print */
	HL_PORT_LOG = 0x6c03,       /* log message; record: hl_log */
	HL_PORT_ABORT = 0x6c04,     /* guest gave up; record: hl_abort */
	HL_PORT_EXCEPTION = 0x6c05, /* CPU exception; record: hl_exception */
};

/* ---- Value types, shared by the wire format and both APIs ------------ */
typedef enum hl_type {
	HL_TYPE_VOID = 0, /* return type only */
	HL_TYPE_I32 = 1,
	HL_TYPE_U32 = 2,
	HL_TYPE_I64 = 3,
	HL_TYPE_U64 = 4,
	HL_TYPE_F32 = 5,
	HL_TYPE_F64 = 6,
	HL_TYPE_BOOL = 7,
	HL_TYPE_STRING = 8, /* UTF-8 bytes, no embedded NUL; a NUL follows on the wire */
	HL_TYPE_BYTES = 9,
	HL_TYPE__COUNT
} hl_type;

/* ---- Typed values, as both APIs pass them (not a wire format) ---------
 * Strings and bytes are not copied by the constructors: the pointer must
 * stay valid as long as the API function that takes the value says. */
typedef struct hl_value {
	hl_type type;
	union {
		int32_t i32;
		uint32_t u32;
		int64_t i64;
		uint64_t u64;
		float f32;
		double f64;
		bool b;
		struct {
			const char *ptr; /* NUL-terminated in results */
			size_t len;      /* bytes, without the NUL */
		} str;
		struct {
			const uint8_t *ptr;
			size_t len;
		} bytes;
	} u;
} hl_value;

/* clang-format off */
static inline hl_value hl_i32(int32_t v) { hl_value x; x.type = HL_TYPE_I32; x.u.i32 = v; return x; }
static inline hl_value hl_u32(uint32_t v) { hl_value x; x.type = HL_TYPE_U32; x.u.u32 = v; return x; }
static inline hl_value hl_i64(int64_t v) { hl_value x; x.type = HL_TYPE_I64; x.u.i64 = v; return x; }
static inline hl_value hl_u64(uint64_t v) { hl_value x; x.type = HL_TYPE_U64; x.u.u64 = v; return x; }
static inline hl_value hl_f32(float v) { hl_value x; x.type = HL_TYPE_F32; x.u.f32 = v; return x; }
static inline hl_value hl_f64(double v) { hl_value x; x.type = HL_TYPE_F64; x.u.f64 = v; return x; }
static inline hl_value hl_bool(bool v) { hl_value x; x.type = HL_TYPE_BOOL; x.u.b = v; return x; }
static inline hl_value hl_string(const char *s, size_t n) { hl_value x; x.type = HL_TYPE_STRING; x.u.str.ptr = s; x.u.str.len = n; return x; }
static inline hl_value hl_bytes(const void *p, size_t n) { hl_value x; x.type = HL_TYPE_BYTES; x.u.bytes.ptr = (const uint8_t *)p; x.u.bytes.len = n; return x; }
/* clang-format on */

#define HL_MAX_PARAMS 32u /* parameters per function */
#define HL_MAX_NAME 64u   /* bytes of a function name, without NUL */
#define HL_MAX_FUNCTIONS 1024u

/*
 * One value on the wire. Scalars live in `bits` (f32/f64 as their IEEE bit
 * patterns, bool as 0/1, i32 sign-extended). For string and bytes, `bits`
 * is the offset of the payload from the start of the enclosing record and
 * `len` its length in bytes (a string's NUL is not counted).
 */
struct hl_wire_value {
	uint32_t type; /* enum hl_type */
	uint32_t len;
	uint64_t bits;
};

/* ---- Boot info: written by the host, read-only to the guest ---------- */
#define HL_BOOT_MAGIC 0x544f4f424c48ull /* "HLBOOT" */
struct hl_boot_info {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t max_log_level; /* enum hl_log_level: records above it are not sent */
	hl_gaddr_t mem_base;    /* lowest guest address backed by memory */
	uint64_t mem_size;
	hl_gaddr_t input_addr; /* host -> guest buffer */
	uint64_t input_size;
	hl_gaddr_t output_addr; /* guest -> host buffer */
	uint64_t output_size;
	hl_gaddr_t heap_addr; /* brk/mmap arena */
	uint64_t heap_size;
	hl_gaddr_t stack_addr; /* lowest byte of the main stack; its top is stack_addr+stack_size */
	uint64_t stack_size;
	hl_gaddr_t ist_addr; /* exception and syscall stacks, each HL_IST_SIZE, guard pages between */
	uint64_t ist_size;
	uint64_t tsc_khz;          /* 0 when unknown */
	uint64_t boot_realtime_ns; /* CLOCK_REALTIME at creation */
	uint64_t random[2];        /* per-sandbox seed (AT_RANDOM, getrandom fallback) */
	/* Appended in ABI 1 (a host that predates them leaves them 0). */
	uint32_t platform; /* enum hl_boot_platform: the hypervisor, for diagnostics */
	uint32_t flags;    /* HL_BOOT_F_*: what the guest's CPU set-up must respect */
};

/* hl_boot_info.platform */
enum hl_boot_platform {
	HL_BOOT_PLATFORM_UNKNOWN = 0,
	HL_BOOT_PLATFORM_KVM_VMX = 1,
	HL_BOOT_PLATFORM_KVM_SVM = 2,
	HL_BOOT_PLATFORM_KVM_PVM = 3,
};
/* hl_boot_info.flags. On kvm-pvm the host enters the guest in native kernel
 * mode, where an IDT gate with an IST index kills the vCPU and reloading
 * CS or SS faults (docs/platforms.md). */
#define HL_BOOT_F_NO_IST 0x1u        /* IDT gates must have IST 0 */
#define HL_BOOT_F_KEEP_SEGMENTS 0x2u /* load the GDT, but never reload CS/SS/DS/ES/FS/GS or TR */

/* Stacks in the IST area, in order from ist_addr, each followed by a guard page:
 * exceptions (IST1), double fault/NMI/machine check (IST2), system calls. */
#define HL_IST_SIZE (16u * 1024u)
#define HL_IST_COUNT 3u

/* ---- Init: the guest's function table (record at HL_PORT_DONE during init) */
#define HL_FUNC_TABLE_MAGIC 0x4e55464cu /* "LFUN" */
struct hl_func_desc {
	uint32_t name_off; /* from the start of the hl_func_table record */
	uint16_t name_len;
	uint8_t ret;     /* enum hl_type */
	uint8_t nparams; /* <= HL_MAX_PARAMS */
	uint8_t params[HL_MAX_PARAMS];
};
struct hl_func_table {
	uint32_t magic;
	uint32_t count;     /* <= HL_MAX_FUNCTIONS */
	uint32_t total_len; /* of the whole record */
	uint32_t reserved;
	/* struct hl_func_desc funcs[count]; then the names */
};

/* ---- A call of a guest function (input buffer, offset 0) ------------- */
#define HL_CALL_MAGIC 0x4c4c4143u /* "CALL" */
struct hl_call_msg {
	uint32_t magic;
	uint32_t func_index; /* index into the function table */
	uint32_t argc;
	uint32_t total_len; /* of the whole record; host-call results go at HL_ALIGN8(total_len) */

	/* struct hl_wire_value args[argc]; then payloads */
};

/* ---- The outcome of a call (output buffer) and of a host call (input buffer) */
enum hl_status {
	HL_STATUS_OK = 0,         /* value holds the result */
	HL_STATUS_ERROR = 1,      /* the function failed: code, message in value (a string) */
	HL_STATUS_HOST_ERROR = 2, /* a host function failed and the guest did not handle it */
};
#define HL_RESULT_MAGIC 0x544c5352u /* "RSLT" */
struct hl_result {
	uint32_t magic;
	uint32_t status;            /* enum hl_status */
	uint32_t total_len;         /* of the whole record */
	int32_t code;               /* error code when status != OK */
	struct hl_wire_value value; /* payload offsets from the start of this record */
};

/* ---- A call of a host function (output buffer, offset in the OUT) ---- */
#define HL_HOSTCALL_MAGIC 0x4c435448u /* "HTCL" */
struct hl_hostcall {
	uint32_t magic;
	uint32_t total_len;
	uint32_t name_off; /* from the start of this record */
	uint32_t name_len;
	uint32_t argc;
	uint32_t ret; /* the type the guest expects back */

	/* struct hl_wire_value args[argc]; then payloads */
};

/* ---- Guest output -------------------------------------------------------- */
#define HL_PRINT_MAGIC 0x544e5250u /* "PRNT" */
struct hl_print {
	uint32_t magic;
	uint32_t fd; /* 1 or 2 */
	uint32_t len;
	uint32_t reserved;
	/* uint8_t data[len]; */
};

enum hl_log_level {
	HL_LOG_ERROR = 1,
	HL_LOG_WARN = 2,
	HL_LOG_INFO = 3,
	HL_LOG_DEBUG = 4,
	HL_LOG_TRACE = 5,
};
#define HL_LOG_MAGIC 0x21474f4cu /* "LOG!" */
struct hl_log {
	uint32_t magic;
	uint32_t level;
	uint32_t line;
	uint32_t file_len; /* file name follows the header */
	uint32_t msg_len;  /* message follows the file name */
	uint32_t reserved;
};

#define HL_ABORT_MAGIC 0x54524241u /* "ABRT" */
struct hl_abort {
	uint32_t magic;
	int32_t code;
	uint32_t msg_len; /* message follows */
	uint32_t reserved;
};

#define HL_EXCEPTION_MAGIC 0x50435845u /* "EXCP" */
struct hl_exception {
	uint32_t magic;
	uint32_t vector;
	uint64_t error_code;
	uint64_t rip, cs, rflags, rsp, ss;
	uint64_t cr2;
	/* rax rbx rcx rdx rsi rdi rbp r8 .. r15 */
	uint64_t gpr[15];
};

/* Limits on what one record may carry, whatever the buffer sizes. */
#define HL_MAX_RECORD (64u * 1024u * 1024u)

/* ---- Pinned layouts ---------------------------------------------------- */
#define HL__PIN(t, sz) _Static_assert(sizeof(struct t) == (sz), #t " layout changed")
HL__PIN(hl_note_abi, 8);
HL__PIN(hl_wire_value, 16);
HL__PIN(hl_boot_info, 152);
HL__PIN(hl_func_desc, 40);
HL__PIN(hl_func_table, 16);
HL__PIN(hl_call_msg, 16);
HL__PIN(hl_result, 32);
HL__PIN(hl_hostcall, 24);
HL__PIN(hl_print, 16);
HL__PIN(hl_log, 24);
HL__PIN(hl_abort, 16);
HL__PIN(hl_exception, 184);
#undef HL__PIN

#endif /* HYPERLIGHT_ABI_H */
