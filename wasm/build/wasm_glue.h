/* wasm_glue.h - private to libhyperlight_wasm: the checks of a module's imports and the generator of its glue C. */
#ifndef HL_WASM_GLUE_H
#define HL_WASM_GLUE_H

#include <stdio.h>

#include "hyperlight/abi.h"
#include "wasm_module.h"

/* The module name given to wasm2c (-n), and the C names it implies. */
#define HL__WASM_MODNAME "hlmod"
#define HL__WASM_MODNAME_T "Z_hlmod_instance_t"

/* More imports than this are refused (the checks are quadratic). */
#define HL__WASM_MAX_IMPORTS 10000u

struct hl__wasm_glue_opts {
	uint32_t max_call_depth; /* 0: no count limit */
	void (*note)(const char *msg, void *user); /* warnings; may be NULL */
	void *note_user;
};

/* Checks that every import is an "env" function that can be a host
 * function or a WASI function the runtime can answer. Returns 0, or
 * -EINVAL with the offending import named in err. */
int hl__wasm_check_imports(const struct hl__wasm_module *m, char *err, size_t errlen);

/*
 * Writes glue.c for module m to f. `header` is the text of the module.h
 * wasm2c wrote (NUL-terminated): every C name the glue uses is checked
 * against it, so a wasm2c that mangles differently fails here with a
 * message instead of at link time. Exports that cannot be guest functions
 * are skipped with a note. Returns 0, -EINVAL or -ENOMEM (message in err).
 */
int hl__wasm_write_glue(FILE *f, const struct hl__wasm_module *m, const char *header,
                        const struct hl__wasm_glue_opts *o, char *err, size_t errlen);

#endif
