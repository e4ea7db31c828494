/*
 * backend.h - the small interface between the core and a hypervisor.
 *
 * The core (sandbox.c, call.c, layout.c) never names KVM: it creates a VM
 * with one vCPU, maps one region of memory, sets the boot registers, runs
 * the vCPU and reads the exit, and saves/restores the complete vCPU state.
 * A backend implements these ops with private data behind `struct hl_vm`.
 * The build chooses the backend (src/host/kvm/ on Linux); another
 * hypervisor adds a directory and a line in CMakeLists.txt.
 */
#ifndef HL_BACKEND_H
#define HL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hl_vm;         /* private to the backend */
struct hl_vcpu_state; /* private to the backend: a saved vCPU state */

/* A short error message buffer that backends fill. */
struct hl_errbuf {
	char msg[256];
};

enum hl_exit_kind {
	HL_EXIT_OUT,       /* port output: port, value, size */
	HL_EXIT_IN,        /* port input (the guest expects a value): port, size */
	HL_EXIT_MMIO,      /* access to a guest-physical address with no memory: gpa, write */
	HL_EXIT_SHUTDOWN,  /* triple fault */
	HL_EXIT_HLT,       /* the guest halted */
	HL_EXIT_FAIL,      /* the hypervisor could not run the vCPU: raw, detail */
	HL_EXIT_INTR,      /* a signal or immediate_exit interrupted the run; run again to resume */
	HL_EXIT_DEBUG,     /* guest debugging (set_debug): value = vector (1 #DB, 3 #BP),
	                    * gpa = the guest RIP, detail = DR6 */
	HL_EXIT_MSR_WRITE, /* the guest wrote an MSR it may not write (refused):
	                    * value = the MSR, detail = the value written */
};

struct hl_exit {
	enum hl_exit_kind kind;
	uint16_t port;
	uint8_t size;
	bool write;
	uint32_t value;
	uint64_t gpa;
	uint64_t raw;    /* the backend's own exit reason */
	uint64_t detail; /* backend-specific detail (hardware reason) */
};

/* The registers the core sets at entry and reads for diagnostics. */
struct hl_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	uint64_t cr0, cr2, cr3, cr4, efer;
	uint64_t fs_base, gs_base;
	uint64_t cs, ss, ds, es, fs, gs; /* selectors (get_regs only) */
};

/* Guest debugging, for set_debug. Hardware breakpoints use dr[0..3] and
 * dr7 as the architecture defines them. */
struct hl_debug_cfg {
	bool enable;      /* false: the guest's own #DB/#BP handling, no exits */
	bool sw_bp;       /* int3 exits to the host (HL_EXIT_DEBUG, vector 3) */
	bool hw_bp;       /* dr[] and dr7 are armed */
	bool single_step; /* one instruction per run */
	uint64_t dr[4];
	uint64_t dr7;
};

/* What the guest sees at its first instruction (long mode, see layout.c). */
struct hl_boot_regs {
	uint64_t rip, rsp, rdi;
	uint64_t cr3;
};

/* create(): refuse guest writes to the MSRs the runtime does not need. */
#define HL_BACKEND_MSR_FILTER 1u

/* What the hypervisor under a VM is and what it asks of the core. */
struct hl_backend_info {
	int platform;           /* enum hl_platform_kind (hyperlight.h) */
	const char *name;       /* "kvm (VMX)", "kvm-pvm", ...: static string */
	uint32_t boot_flags;    /* HL_BOOT_F_* for the guest's boot info */
	uint32_t boot_platform; /* enum hl_boot_platform */
	bool user_pages;        /* every page-table entry must have U/S set, at every level */
	/* Pages of the backend's own that the guest's page tables must map at
	 * these virtual addresses (identity): one page read + execute at
	 * code_va and one read/write at data_va; 0 when there are none. The
	 * core keeps its own memory above data_va + 4096. */
	uint64_t code_va, data_va;
	/* Single steps and debug-register hits (hardware breakpoints and
	 * watchpoints) are delivered to the guest's own #DB handler and never
	 * exit to the host, so set_debug refuses them; HLT still exits. */
	bool no_debug_exits;
};

struct hl_backend_ops {
	const char *name;
	/* Fills *info for this VM (after create; cheap, no hypervisor call). */
	void (*info)(struct hl_vm *vm, struct hl_backend_info *info);
	/* Writes into buf (always NUL-terminated) what an HL_EXIT_FAIL means:
	 * the hypervisor's reason decoded, its data words, and what to do. */
	void (*explain_fail)(struct hl_vm *vm, const struct hl_exit *x, char *buf, size_t n);
	/* Opens the hypervisor and creates a VM with one vCPU. */
	/* flags: HL_BACKEND_MSR_FILTER. */
	int (*create)(struct hl_vm **out, unsigned flags, struct hl_errbuf *err);
	/* Maps host memory [host, host+size) at guest-physical gpa (once). */
	int (*map_memory)(struct hl_vm *vm, uint64_t gpa, void *host, uint64_t size,
	                  struct hl_errbuf *err);
	/* Puts the vCPU in 64-bit long mode at the given registers. */
	int (*set_boot_regs)(struct hl_vm *vm, const struct hl_boot_regs *br, struct hl_errbuf *err);
	/* Runs the vCPU until the next exit. The hot path: no other syscall. */
	int (*run)(struct hl_vm *vm, struct hl_exit *exit, struct hl_errbuf *err);
	/* Copies the slot's dirty-page bitmap (one bit per 4 KiB page, guest
	 * writes since the last call) into `bitmap` and clears it in the
	 * hypervisor. The bitmap holds ceil(pages / 64) words. */
	int (*get_dirty_log)(struct hl_vm *vm, uint64_t *bitmap, struct hl_errbuf *err);
	/* Write-protects again (for the dirty log) the pages set in `bitmap`
	 * (same layout). A backend whose get_dirty_log protects every page it
	 * reports does nothing here; one that does not leaves every reported
	 * page writable and unlogged until it is named here. */
	int (*protect_pages)(struct hl_vm *vm, uint64_t *bitmap, struct hl_errbuf *err);
	/* The byte that makes the next or current run return HL_EXIT_INTR
	 * without entering the guest when set to 1; valid until destroy. */
	volatile uint8_t *(*immediate_exit)(struct hl_vm *vm);
	/* Reads the registers (slow path: diagnostics only). */
	int (*get_regs)(struct hl_vm *vm, struct hl_regs *regs, struct hl_errbuf *err);
	/* Finishes the exit the vCPU is parked on (an OUT, a string IN, MMIO)
	 * without entering the guest; a no-op when none is pending. A restore
	 * calls it before touching memory, so whatever the hypervisor writes
	 * to finish the exit is undone by the memory restore. */
	int (*complete_exit)(struct hl_vm *vm, struct hl_errbuf *err);
	/* Saves every guest-visible vCPU state (registers, FPU/SSE/AVX, MSRs,
	 * debug registers, pending events) into a new object, or restores one.
	 * Both first complete any exit in progress, so a restored vCPU never
	 * finishes an instruction of the state it replaced. */
	int (*save_state)(struct hl_vm *vm, struct hl_vcpu_state **out, struct hl_errbuf *err);
	int (*restore_state)(struct hl_vm *vm, const struct hl_vcpu_state *st,
	                     struct hl_errbuf *err);
	/* Reads back every piece of vCPU state the hypervisor exposes and
	 * compares it with `st` (right after restore_state): 0 equal, 1 a
	 * difference (the first one described in diff, NUL-terminated), -1 the
	 * hypervisor failed (err). Slow: for tests and HL_CONFIG_VERIFY_RESTORE. */
	int (*verify_state)(struct hl_vm *vm, const struct hl_vcpu_state *st, char *diff, size_t n,
	                    struct hl_errbuf *err);
	void (*free_state)(struct hl_vcpu_state *st);
	/* Debugging only (slow path, never called unless a debugger or a core
	 * dump asks): sets the general registers, RIP and RFLAGS of `regs`
	 * (control registers are ignored); turns guest debugging on or off. */
	int (*set_regs)(struct hl_vm *vm, const struct hl_regs *regs, struct hl_errbuf *err);
	int (*set_debug)(struct hl_vm *vm, const struct hl_debug_cfg *dbg, struct hl_errbuf *err);
	/* Reads the x87/SSE state in the 512-byte FXSAVE layout (debugging only). */
	int (*get_fpu)(struct hl_vm *vm, uint8_t fxsave[512], struct hl_errbuf *err);
	/* TSC frequency of the vCPU in kHz, 0 if unknown. */
	uint64_t (*tsc_khz)(struct hl_vm *vm);
	/* Closes the VM (NULL: no-op). */
	void (*destroy)(struct hl_vm *vm);
};

/* For tests only: while non-zero, a backend that enters the guest through
 * entry code of its own (kvm-pvm) starts the guest directly instead, as a
 * guest that lost the mode would run; 1 skips the next entry only, 2 every
 * entry. Set it while no sandbox runs. */
extern __attribute__((visibility("hidden"))) volatile int hl__test_skip_native_entry;
/* For tests only: parts of a restore to leave out, so that a test can show
 * that the verifying restore (HL_CONFIG_VERIFY_RESTORE) notices each. */
#define HL__TEST_SKIP_MSRS 1   /* the backend does not put the MSRs back */
#define HL__TEST_SKIP_CR8 2    /* nor CR8 in kvm_run */
#define HL__TEST_SKIP_MEMORY 4 /* the core does not copy dirty pages back */
extern __attribute__((visibility("hidden"))) volatile int hl__test_restore_skip;

/* The backend this build uses. */
extern const struct hl_backend_ops hl__backend;

#endif /* HL_BACKEND_H */
