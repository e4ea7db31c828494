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
	uint32_t max_call_depth;                   /* 0: no count limit */
	void (*note)(const char *msg, void *user); /* warnings; may be NULL */
	void *note_user;
	/* "env" function imports implemented by the guest's own C sources, as
	 * hl_wasm_env_<name>; NULL-terminated, may be NULL. */
	const char *const *guest_imports;
	bool no_exports; /* register no export as a guest function */
};

/* Checks that every import is something a wasm guest can provide: an
 * "env" function (a host function, a function of the guest's C sources, or
 * one of the emscripten runtime functions the runtime implements), a WASI
 * function the runtime can answer, or the memory "env" "memory"-style
 * import of an emscripten module. Every name in o->guest_imports (o may be
 * NULL) must be an "env" function import. Returns 0, or -EINVAL with the
 * offending import named in err. */
int hl__wasm_check_imports(const struct hl__wasm_module *m, const struct hl__wasm_glue_opts *o,
                           char *err, size_t errlen);

/*
 * Writes glue.c for module m to f. `header` is the text of the module.h
 * wasm2c wrote (NUL-terminated): every C name the glue uses is checked
 * against it, so a wasm2c that mangles differently fails here with a
 * message instead of at link time. Exports that cannot be guest functions
 * are skipped with a note. Returns 0, -EINVAL or -ENOMEM (message in err).
 */
int hl__wasm_write_glue(FILE *f, const struct hl__wasm_module *m, const char *header,
                        const struct hl__wasm_glue_opts *o, char *err, size_t errlen);

/* Writes hl_wasm_glue.h, the header the guest's own C sources include: the
 * instance (hl_wasm_instance), wasm2c's declarations of the module
 * ("module.h") and the prototypes of the guest imports (hl_wasm_env_<name>),
 * which the glue includes too, so that a definition with other types fails
 * to compile. Returns 0 or -EINVAL (message in err). */
int hl__wasm_write_glue_header(FILE *f, const struct hl__wasm_module *m,
                               const struct hl__wasm_glue_opts *o, char *err, size_t errlen);

#endif
