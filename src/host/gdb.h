/*
 * gdb.h - the gdb stub's private interface between its three files: the
 * packet codec (gdb_packet.c), the operations on the stopped guest
 * (gdb_target.c), and the command loop with the run loop's hooks
 * (gdbstub.c). Nothing outside them includes it.
 */
#ifndef HL_GDB_H
#define HL_GDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define HL__GDB_PKT_MAX 4096 /* payload bytes, both ways (PacketSize) */
#define HL__GDB_MAX_SW_BP 64
#define HL__GDB_NREGS 57 /* registers in the 'g' packet (gdb_target.c's description) */

/* The client's connection and the codec's buffers (gdb_packet.c). */
struct hl__gdb_conn {
	int fd;      /* the client, -1 if none */
	bool no_ack; /* QStartNoAckMode */
	char rbuf[1024];
	size_t rpos, rlen;
	char pkt[HL__GDB_PKT_MAX + 1]; /* the last packet received, NUL-terminated */
};

struct hl__gdb_bp {
	uint64_t addr;
	uint8_t orig;
	bool used;
};

/* The stub of one sandbox (sb->gdb). */
struct hl__gdb {
	int listen_fd;
	bool started; /* a client has connected once */
	struct hl__gdb_conn conn;
	struct hl_debug_cfg dbg;
	struct hl__gdb_bp sw[HL__GDB_MAX_SW_BP];
	struct hl__gdb_bp entry_bp; /* the stub's own, at the guest's entry */
	uint8_t hw_kind[4];         /* 0 free, else the Z type (1 exec, 2 write, 4 access) */
	char stop[64];              /* the last stop reply */
	char out[HL__GDB_PKT_MAX + 1];
};

/* ---- gdb_packet.c: the remote serial protocol's framing and hex ---------------- */

/* The value of a hex digit, or -1. */
HL__HIDDEN int hl__gdb_hexval(char c);
/* Parses hex digits at *p (at least one, at most 16) up to a non-hex
 * character and advances *p past them; false if there are none or too many. */
HL__HIDDEN bool hl__gdb_parse_hex(const char **p, uint64_t *v);
/* Writes the `bytes` low bytes of v, least significant first, as hex at o;
 * returns the end (not NUL-terminated). */
HL__HIDDEN char *hl__gdb_put_le(char *o, uint64_t v, unsigned bytes);
/* The little-endian value of `bytes` bytes in hex at p; false if malformed. */
HL__HIDDEN bool hl__gdb_get_le(const char *p, unsigned bytes, uint64_t *v);
/* Writes n bytes as hex at o and a NUL after them; returns the NUL's address. */
HL__HIDDEN char *hl__gdb_put_hex(char *o, const uint8_t *bytes, size_t n);
/* Reads n bytes from 2n hex digits at p; false if one is not hex. */
HL__HIDDEN bool hl__gdb_get_hex(const char *p, size_t n, uint8_t *out);
/* Sends one packet (payload NUL-terminated) and waits for its
 * acknowledgement. false if the client is gone. */
HL__HIDDEN bool hl__gdb_put_packet(struct hl__gdb_conn *c, const char *payload);
/* Receives one packet into c->pkt. false if the client is gone or keeps
 * sending garbage. */
HL__HIDDEN bool hl__gdb_get_packet(struct hl__gdb_conn *c);
/* Sends text to gdb's console (an 'O' packet, valid while gdb waits for a
 * resume to end). A client gone shows at the next packet. */
HL__HIDDEN void hl__gdb_console(struct hl__gdb_conn *c, const char *text);
/* Closes the client's socket, if any. */
HL__HIDDEN void hl__gdb_drop(struct hl__gdb_conn *c);

/* ---- gdb_target.c: registers, memory and breakpoints of the stopped guest -------- */

/* The target description gdb reads with qXfer:features:read. */
HL__HIDDEN extern const char hl__gdb_target_xml[];
HL__HIDDEN extern const size_t hl__gdb_target_xml_len;
/* The size in bytes of register n in gdb's numbering. */
HL__HIDDEN unsigned hl__gdb_reg_size(unsigned n);
/* A pointer to register n (0..17: the GPRs, RIP, RFLAGS) in r, for writes;
 * NULL for the selectors (18..23), whose value is stored in *ro. */
HL__HIDDEN uint64_t *hl__gdb_reg_ptr(struct hl_regs *r, unsigned n, uint64_t *ro);
/* Register n (0..HL__GDB_NREGS-1) as gdb's hex at o, NUL-terminated; fx is
 * the FXSAVE image, NULL when unavailable (those registers read as 'x'). */
HL__HIDDEN void hl__gdb_reg_hex(struct hl_regs *r, const uint8_t *fx, unsigned n, char *o);
/* The guest's CR3, or the sandbox's own page tables if it cannot be read. */
HL__HIDDEN uint64_t hl__gdb_current_cr3(hl_sandbox *sb);
/* Copies up to len bytes at guest virtual addr into buf; returns how many
 * (stops at the first unmapped page). Breakpoint bytes read as the original. */
HL__HIDDEN size_t hl__gdb_mem_read(hl_sandbox *sb, uint64_t cr3, uint64_t addr, uint8_t *buf,
                                   size_t len);
/* Writes len bytes; a byte under an inserted breakpoint changes the saved
 * original instead. Fails (nothing further written) at an unmapped byte. */
HL__HIDDEN bool hl__gdb_mem_write(hl_sandbox *sb, uint64_t cr3, uint64_t addr, const uint8_t *buf,
                                  size_t len);
/* Z0/z0: the reply ("OK" or an error reply). */
HL__HIDDEN const char *hl__gdb_sw_insert(hl_sandbox *sb, uint64_t addr);
HL__HIDDEN const char *hl__gdb_sw_remove(hl_sandbox *sb, uint64_t addr);
/* true if a breakpoint of the debugger's is inserted at addr. */
HL__HIDDEN bool hl__gdb_sw_at(const struct hl__gdb *g, uint64_t addr);
/* Z1/Z2/Z4 and z1/z2/z4 (type 1 execute, 2 write, 4 access): the reply. */
HL__HIDDEN const char *hl__gdb_hw_set(hl_sandbox *sb, unsigned type, uint64_t addr, uint64_t kind,
                                      bool insert);
/* gdb's first stop is at the guest's entry point: 1 when the vCPU is there
 * already, 0 when the stub's own breakpoint is planted there, or an error
 * (the message is set). */
HL__HIDDEN int hl__gdb_run_to_entry(hl_sandbox *sb);
HL__HIDDEN void hl__gdb_entry_bp_remove(hl_sandbox *sb);
/* Every breakpoint removed, guest debugging off: the guest then runs as if
 * no debugger had been there. */
HL__HIDDEN void hl__gdb_target_clear(hl_sandbox *sb);

#endif /* HL_GDB_H */
