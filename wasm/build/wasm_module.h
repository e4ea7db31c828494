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
enum {
	HL__WASM_FUNC = 0,
	HL__WASM_TABLE = 1,
	HL__WASM_MEMORY = 2,
	HL__WASM_GLOBAL = 3,
	HL__WASM_TAG = 4
};

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
	uint32_t type;       /* functions: the type index */
	uint64_t min, max;   /* tables and memories: the limits (max UINT64_MAX if none) */
	bool mem64;          /* memories: memory64 limits */
	const uint8_t *desc; /* the bytes after the names (kind and description), for rewriting */
	uint32_t desc_len;
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
	uint32_t nmemories;                        /* defined */
	uint64_t mem_initial_pages, mem_max_pages; /* of memory 0; max UINT64_MAX if none */
	/* Where the import and export sections are in the module's bytes
	 * (offset of the section id byte, and the whole section's length);
	 * len 0 if absent. For hl__wasm_rename. */
	size_t import_sec_off, import_sec_len, export_sec_off, export_sec_len;
};

/*
 * Reads the sections the build needs from the module in buf[0..len) (which
 * must outlive *m). Returns 0, -ENOMEM, or -EINVAL with a message in err.
 * Code and data are not looked at: wasm2c validates the whole module.
 */
int hl__wasm_parse(const uint8_t *buf, size_t len, struct hl__wasm_module *m, char *err,
                   size_t errlen);
void hl__wasm_module_free(struct hl__wasm_module *m);

/*
 * Renaming imports and exports (the name maps of minified builds, such as
 * emscripten's closure-compiled output, where import "a" "b" is really "env"
 * "__assert_fail"). A map is text, one rule per line, '#' to the end of a
 * line is a comment:
 *     import MODULE NAME NEWMODULE NEWNAME
 *     export NAME NEWNAME
 * Names are sequences of printable ASCII characters without spaces.
 */
struct hl__wasm_rename_rule {
	bool is_import;
	struct hl__wasm_name module, name; /* module unused for exports */
	struct hl__wasm_name new_module, new_name;
};

struct hl__wasm_rename_map {
	struct hl__wasm_rename_rule *rules;
	uint32_t nrules;
};

/* Parses the map text[0..len) (which must outlive *map). Returns 0, -ENOMEM,
 * or -EINVAL with the line named in err. */
int hl__wasm_parse_rename_map(const char *text, size_t len, struct hl__wasm_rename_map *map,
                              char *err, size_t errlen);
void hl__wasm_rename_map_free(struct hl__wasm_rename_map *map);

/*
 * Writes a copy of the module (buf[0..len), already parsed into *m) with
 * the map applied to *out (malloc'd; *outlen bytes). Every rule must match
 * exactly one import or export of the module, and the renamed exports must
 * stay unique: a map made for another module is refused, not half applied.
 * Returns 0, -ENOMEM, or -EINVAL with the rule named in err.
 */
int hl__wasm_rename(const uint8_t *buf, size_t len, const struct hl__wasm_module *m,
                    const struct hl__wasm_rename_map *map, uint8_t **out, size_t *outlen, char *err,
                    size_t errlen);

/* The type of function `index` (imports first), or NULL if out of range. */
const struct hl__wasm_functype *hl__wasm_func_type(const struct hl__wasm_module *m, uint32_t index);

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

/* True if n is exactly the C string s. */
bool hl__wasm_name_is(struct hl__wasm_name n, const char *s);

/* Formats a message into err (size errlen; nothing if err is NULL or
 * errlen 0), as every function here reports what was wrong. */
void hl__wasm_say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
