/*
 * records.h - decoding and validation of the records a guest writes.
 *
 * Pure functions: no sandbox, no allocation, no side effects. They work on
 * the host's private copy of a record (call.c copies guest memory once with
 * hl__out_copy and hands the copy over) plus the limits they need, so that
 * the fuzz targets in fuzz/ can drive them directly.
 *
 * Convention: a function that validates returns NULL when the record is
 * acceptable, or a static string saying what is wrong with it (the caller
 * puts it into "malformed guest record: %s (offset %u)"). Every offset and
 * length a function returns has been checked against the limits it was
 * given with overflow-safe arithmetic. Thread-safe: no shared state.
 */
#ifndef HL_RECORDS_H
#define HL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperlight/hyperlight.h"

#define HL__REC_HIDDEN __attribute__((visibility("hidden")))

struct hl__layout;

/* A range [off, off + len) of the output buffer that the caller copies next. */
struct hl__span {
	uint64_t off, len;
};

/*
 * Decodes one wire value of the record copy `rec` (`len` bytes). Scalars
 * come from w->bits; a string or bytes payload must lie inside [min_off,
 * len) of the copy (a string followed by a NUL inside it, with no NUL in its
 * bytes). On success fills *out, whose string/bytes pointer points into rec
 * (borrowed: valid as long as rec), and returns true. Returns false for an
 * unknown type, a bool other than 0/1 or a payload outside the record.
 */
HL__REC_HIDDEN bool hl__rec_value(const struct hl_wire_value *w, const uint8_t *rec, uint64_t len,
                                  uint64_t min_off, hl_value *out);

/* ---- exception (HL_PORT_EXCEPTION) ---------------------------------------------- */

/* Checks the magic and the vector (0..255) of a copied exception record. */
HL__REC_HIDDEN const char *hl__rec_exception(const struct hl_exception *e);

/*
 * Writes the fault message for a checked exception record into buf (always
 * NUL-terminated when cap > 0): the vector's name, RIP, and for a page fault
 * the kind of access and the region of `lay` the address falls in.
 */
HL__REC_HIDDEN void hl__rec_exception_message(const struct hl_exception *e,
                                              const struct hl__layout *lay, char *buf, size_t cap);

/* " (heap)", " (stack guard page: stack overflow)", ... or "" for an address. */
HL__REC_HIDDEN const char *hl__rec_region(const struct hl__layout *lay, uint64_t addr);

/* ---- abort (HL_PORT_ABORT) ------------------------------------------------------- */

/*
 * Checks a copied abort header found at `off` in an output buffer of
 * `buf_size` bytes. On success *msg is where the message lies, cut to at
 * most `max_msg` bytes (the caller's buffer, without its NUL).
 */
HL__REC_HIDDEN const char *hl__rec_abort(const struct hl_abort *a, uint64_t off, uint64_t buf_size,
                                         uint64_t max_msg, struct hl__span *msg);

/*
 * Cleans guest text that ends up in logs and terminals, in place and byte
 * for byte (the length stays): every control character becomes '?' (C0
 * controls and DEL; C1 controls, the Unicode line and paragraph separators
 * and the bidirectional formatting characters encoded as UTF-8), and so
 * does every byte that is not part of well-formed UTF-8. What remains is
 * valid UTF-8 that a terminal only shows. hl__rec_sanitize keeps '\n' (an
 * abort or error message may have several lines); hl__rec_sanitize_line
 * replaces it too, so that a log record always stays one line.
 */
HL__REC_HIDDEN void hl__rec_sanitize(char *text, size_t len);
HL__REC_HIDDEN void hl__rec_sanitize_line(char *text, size_t len);

/* ---- print (HL_PORT_PRINT) --------------------------------------------------------- */

/* Checks a copied print header (magic, fd 1 or 2) at `off`; *data is where the bytes lie. */
HL__REC_HIDDEN const char *hl__rec_print(const struct hl_print *p, uint64_t off, uint64_t buf_size,
                                         struct hl__span *data);

/* ---- log (HL_PORT_LOG) --------------------------------------------------------------- */

/*
 * Checks a copied log header (magic, level) at `off`. The caller stores the
 * file name, a NUL, the message and a NUL in a buffer of `cap` bytes: both
 * texts must fit it and lie inside the output buffer. *file and *msg are
 * where the texts lie.
 */
HL__REC_HIDDEN const char *hl__rec_log(const struct hl_log *g, uint64_t off, uint64_t buf_size,
                                       uint64_t cap, struct hl__span *file, struct hl__span *msg);

/* ---- host call (HL_PORT_HOSTCALL) --------------------------------------------------- */

/*
 * Checks a copied host-call header at `off` (magic, argc <= HL_MAX_PARAMS,
 * total_len covers the header and the wire values and fits the buffer).
 * On success *rec is the whole record, which the caller copies next.
 */
HL__REC_HIDDEN const char *hl__rec_hostcall_head(const struct hl_hostcall *h, uint64_t off,
                                                 uint64_t buf_size, struct hl__span *rec);

/* The decoded request; pointers into the record copy (borrowed). */
struct hl__hostcall_req {
	const char *name; /* not NUL-terminated */
	uint32_t name_len;
	uint32_t argc;
	uint32_t ret;   /* the type the guest expects back, as sent */
	uint64_t fixed; /* header + wire values: payloads lie at or after this */
	uint64_t len;   /* the record's length (h->total_len) */
	const uint8_t *rec;
};

/*
 * Checks the function name of a host-call record whose header `h` passed
 * hl__rec_hostcall_head; `rec` is the copy of its h->total_len bytes. The
 * header fields come from h, never from rec, so a guest that changes the
 * record between the two copies gains nothing. Fills *req on success.
 */
HL__REC_HIDDEN const char *hl__rec_hostcall_name(const struct hl_hostcall *h, const uint8_t *rec,
                                                 struct hl__hostcall_req *req);

/* Outcome of hl__rec_hostcall_args. */
enum hl__args_status {
	HL__ARGS_OK,        /* every argument decoded */
	HL__ARGS_TYPE,      /* argument *bad has type *bad_type, not the registered one */
	HL__ARGS_BAD_VALUE, /* argument *bad has a bad value or payload (a protocol error) */
};

/*
 * Decodes the req->argc arguments (req->argc must equal the registered
 * count) against the registered parameter types `params`, in order,
 * stopping at the first mismatch. args[] receives the values (string and
 * bytes pointers into req->rec); *bad and *bad_type say which argument
 * failed and the type the guest sent.
 */
HL__REC_HIDDEN enum hl__args_status hl__rec_hostcall_args(const struct hl__hostcall_req *req,
                                                          const hl_type *params, hl_value *args,
                                                          uint32_t *bad, uint32_t *bad_type);

/* ---- result (HL_PORT_DONE) ------------------------------------------------------------ */

/*
 * Checks a copied result header at `off` (magic, total_len covers the
 * header and fits the buffer, a string/bytes payload lies inside the
 * record). On success *payload is the payload to copy (len 0 for scalars).
 */
HL__REC_HIDDEN const char *hl__rec_result_head(const struct hl_result *r, uint64_t off,
                                               uint64_t buf_size, struct hl__span *payload);

/* What a result record says. */
struct hl__result_out {
	uint32_t status; /* HL_STATUS_OK, _ERROR or _HOST_ERROR */
	hl_value value;  /* status OK: the value (payload pointers into the caller's copy) */
	int32_t code;    /* status ERROR/HOST_ERROR: the guest's code */
	const char *msg; /* status ERROR/HOST_ERROR: the message (sanitized), NUL-terminated */
	uint32_t msg_len;
};

/*
 * Decodes a result whose header passed hl__rec_result_head. `payload` holds
 * the copied payload followed by a NUL (r->value.len + 1 bytes; ignored
 * for scalars); an error message is sanitized in place. `expected` is the
 * function's registered return type.
 */
HL__REC_HIDDEN const char *hl__rec_result(const struct hl_result *r, hl_type expected,
                                          uint8_t *payload, struct hl__result_out *out);

#endif /* HL_RECORDS_H */
