/*
 * debug.h - the host core's private interface to crash dumps (coredump.c)
 * and the gdb remote stub (gdbstub.c).
 */
#ifndef HL_DEBUG_H
#define HL_DEBUG_H

#include "internal.h"

/* Page-table entry bits the debugging code reads. */
#define HL__PTE_P (1ull << 0)
#define HL__PTE_RW (1ull << 1)
#define HL__PTE_PS (1ull << 7)
#define HL__PTE_NX (1ull << 63)
#define HL__PTE_ADDR 0x000ffffffffff000ull

/*
 * Translates the guest virtual address `gva` through the 4-level page
 * tables rooted at `cr3`, reading every table from guest memory with a
 * bounds check (the tables may be guest-written when the guest loaded its
 * own CR3). On success stores the offset of the byte in sb->mem, the number
 * of bytes left in its page in *room, and whether the page is writable and
 * executable; returns false if the address is not mapped or the page lies
 * outside guest memory.
 */
HL__HIDDEN bool hl__gva_translate(const hl_sandbox *sb, uint64_t cr3, uint64_t gva, uint64_t *off,
                                  uint64_t *room, bool *w, bool *x);

/* coredump.c: called by hl__guest_fail after the message is set. Writes a
 * core file if dumps are enabled (HL_CONFIG_CORE_DUMP or
 * HYPERLIGHT_CORE_DIR) and appends its path, or why it could not be
 * written, to the message. Never changes the error code. */
HL__HIDDEN void hl__core_on_failure(hl_sandbox *sb, int code);

/* gdbstub.c */
/* Before the vCPU runs: with a debugger listening and none attached yet,
 * waits for it and serves it until it resumes the guest. When the vCPU
 * starts in the backend's own code rather than at the guest's entry, it
 * only arranges for the first stop there (served by hl__gdb_halted). 0 or
 * an error (the message is set). */
HL__HIDDEN int hl__gdb_before_run(hl_sandbox *sb);
/* After HL_EXIT_DEBUG: reports the stop to the debugger and serves it
 * until it resumes the guest. 0 to run on, or an error (the message is
 * set; HL_E_CANCELLED if the debugger killed the guest). */
HL__HIDDEN int hl__gdb_stop(hl_sandbox *sb, const struct hl_exit *x);
/* After HL_EXIT_HLT: 0 if the guest stopped at one of the debugger's
 * breakpoints or at the stub's own one at the entry (served; run on), 1 if
 * the halt is the guest's own (a fault), or an error as for hl__gdb_stop. */
HL__HIDDEN int hl__gdb_halted(hl_sandbox *sb);
/* Tells an attached debugger that the guest is gone and closes the socket. */
HL__HIDDEN void hl__gdb_close(hl_sandbox *sb);

#endif /* HL_DEBUG_H */
