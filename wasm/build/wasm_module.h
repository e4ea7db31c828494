/* wasm_module.h - private to libhyperlight_wasm: what the build reads from a module (types, imports, exports, memories) and wasm2c's C names. */
#ifndef HL_WASM_MODULE_H
#define HL_WASM_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value types as the binary format encodes them. */
enum {
	HL__WASM_I32 = 0x7f,
	HL__WASM_I64 = 0x7e,
	HL__WASM_F32 = 0x7d,
	HL__WASM_F64 = 0x7c,
	HL__WASM_V128 = 0x7b,
	HL__WASM_FUNCREF = 0x70,
	HL__WASM_EXTERNREF = 0x6f,
};

/* Import and export kinds. */
enum { HL__WASM_FUNC = 0, HL__WASM_TABLE = 1, HL__WASM_MEMORY = 2, HL__WASM_GLOBAL = 3, HL__WASM_TAG = 4 };

struct hl__wasm_functype {
	uint32_t nparams, nresults;
	const uint8_t *params, *results; /* point into the module's bytes */
};

/* A name: bytes inside the module, not NUL-terminated, maybe not UTF-8. */
struct hl__wasm_name {
	const uint8_t *p;
	uint32_t len;
};

struct hl__wasm_import {
	struct hl__wasm_name module, name;
	uint8_t kind;
	uint32_t type; /* functions: the type index */
};

struct hl__wasm_export {
	struct hl__wasm_name name;
	uint8_t kind;
	uint32_t index;
};

struct hl__wasm_module {
	struct hl__wasm_functype *types;
	uint32_t ntypes;
	struct hl__wasm_import *imports;
	uint32_t nimports;
	uint32_t nfunc_imports;
	uint32_t *funcs; /* the type index of each defined function */
	uint32_t nfuncs;
	struct hl__wasm_export *exports;
	uint32_t nexports;
	uint32_t nmemories; /* defined */
	uint64_t mem_initial_pages, mem_max_pages; /* of memory 0; max UINT64_MAX if none */
};

/*
 * Reads the sections the build needs from the module in buf[0..len) (which
 * must outlive *m). Returns 0, -ENOMEM, or -EINVAL with a message in err.
 * Code and data are not looked at: wasm2c validates the whole module.
 */
int hl__wasm_parse(const uint8_t *buf, size_t len, struct hl__wasm_module *m, char *err,
                   size_t errlen);
void hl__wasm_module_free(struct hl__wasm_module *m);

/* The type of function `index` (imports first), or NULL if out of range. */
const struct hl__wasm_functype *hl__wasm_func_type(const struct hl__wasm_module *m,
                                                    uint32_t index);

/*
 * wasm2c 1.0.32's C name for a name: [A-Za-z0-9_] stay, except 'Z', which
 * becomes "Z5A"; every other byte becomes 'Z' and two upper-case hex
 * digits. Appends to out (size outlen); returns the length the whole name
 * needs, like snprintf, so a result >= outlen means it did not fit.
 */
size_t hl__wasm_mangle(const uint8_t *p, size_t len, char *out, size_t outlen);

/* True if the name is [A-Za-z0-9_.]{1,64}, what hl_register_function and
 * hl_sandbox_register accept. */
bool hl__wasm_valid_hl_name(struct hl__wasm_name n);

#endif
