/*
 * wasm.h - WebAssembly modules as guests (libhyperlight_wasm).
 *
 * A module is compiled ahead of time into an ordinary guest ELF:
 *
 *     hl_wasm_build("add.wasm", "add.guest", NULL, err, sizeof err);
 *
 * wabt's wasm2c turns the module into C, which musl-gcc compiles and links
 * with the guest runtime (libhyperlight_guest) and the wasm runtime
 * (libhyperlight_wasm_rt). The guest is then loaded like any other:
 *
 *     hl_config cfg;
 *     hl_wasm_config_init(&cfg);                 // a heap for linear memory
 *     hl_sandbox_new(&cfg, &sb);
 *     hl_sandbox_load_file(sb, "add.guest");
 *     hl_sandbox_register(sb, "host_log", ...);  // the module's "env" imports
 *     hl_sandbox_init(sb);                       // instantiates the module
 *     hl_call(sb, "add", args, 2, &result);      // an export, by name
 *
 * Every exported function whose parameters and result are i32, i64, f32
 * or f64 (at most one result) is a guest function of the same name with
 * the types HL_TYPE_I32, I64, F32, F64 (void without a result). An import
 * from module "env" calls the host function of the same name, which must
 * be registered with the same types. Imports from "wasi_snapshot_preview1"
 * are served by the guest (docs/wasm.md lists them). A trap fails the call
 * with HL_E_GUEST_ERROR, a code from hyperlight/wasm_abi.h and the message
 * "wasm trap: <kind>"; the sandbox stays usable, and
 * hl_sandbox_reset() returns it to the state right after instantiation.
 *
 * Threading: hl_wasm_build may run in several threads at once (each call
 * has its own temporary directory). An hl_wasi is immutable after
 * hl_wasi_new and may serve any number of sandboxes in any threads.
 */
#ifndef HYPERLIGHT_WASM_H
#define HYPERLIGHT_WASM_H

#include <stddef.h>
#include <stdint.h>

#include "hyperlight/hyperlight.h"
#include "hyperlight/wasm_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Errors of hl_wasm_build besides HL_E_INVAL, HL_E_IO and HL_E_NOMEM. */
enum {
	HL_WASM_E_MODULE = -60, /* the module is malformed or uses something unsupported */
	HL_WASM_E_TOOL = -61,   /* wasm2c or the C compiler is missing or failed */
};

/* A static string naming `code`: the two above, else hl_strerror(code). */
HL_API const char *hl_wasm_strerror(int code);

/* ---- Building a guest from a module ---------------------------------------- */

/* Receives a warning (an export that is skipped) or, with `verbose`, each
 * command run. `msg` is valid during the callback. */
typedef void (*hl_wasm_note_fn)(const char *msg, void *user);

typedef struct hl_wasm_build_opts {
	size_t size; /* sizeof(hl_wasm_build_opts), set by hl_wasm_build_opts_init */
	/* Tools and files; NULL means: the environment variable named, else
	 * the path this library was built with. All borrowed. */
	const char *wasm2c;   /* $HYPERLIGHT_WASM2C, else wabt's wasm2c */
	const char *cc;       /* $HYPERLIGHT_WASM_CC, else musl-gcc */
	const char *sdk_dir;  /* $HYPERLIGHT_WASM_SDK, else ../share/hyperlight/wasm-sdk
	                         from the running program (an installed tree), else
	                         the build tree's wasm/sdk: include/ and lib/ of
	                         the guest and wasm runtimes */
	const char *keep_dir; /* if set: an existing directory used instead of a
	                         temporary one and kept: module.c, module.h,
	                         glue.c, their objects and tool.log */
	/* Nested wasm calls allowed before "call stack exhausted"; 0: no count
	 * limit. Either way a call traps when the guest stack has less than
	 * 16 KiB left (a quarter of it if smaller), so the stack size in
	 * hl_config bounds the depth too. Default 0. */
	uint32_t max_call_depth;
	int opt_level;        /* the C compiler's -O level, 0..3; default 2 */
	int verbose;          /* nonzero: report each command through `note` */
	hl_wasm_note_fn note; /* NULL: warnings are dropped */
	void *note_user;
	/* Appended in 1.1 (a size of offsetof(hl_wasm_build_opts, import_map) is
	 * still accepted and means NULL and 0 for all of them). All borrowed. */
	/* A file of rules that rename imports and exports before anything else
	 * looks at the module ("import MOD NAME NEWMOD NEWNAME", "export NAME
	 * NEWNAME", '#' comments): the name map of a minified build. Every rule
	 * must match; see docs/wasm.md. */
	const char *import_map;
	/* C files compiled (-Wall -Wextra, plus cflags) and linked into the
	 * guest: an embedder of the module, which includes "hl_wasm_glue.h"
	 * (the instance hl_wasm_instance and wasm2c's declarations of the
	 * exports), may define hl_wasm_guest_init() (called once after the
	 * module is instantiated, before the exports are registered: it
	 * registers guest functions of its own) and the guest imports.
	 * NULL-terminated; NULL: none. */
	const char *const *c_sources;
	const char *const *cflags; /* extra C compiler flags for c_sources; NULL-terminated */
	/* "env" function imports that c_sources implement, each as
	 * hl_wasm_env_<name>(...) with wasm2c's C types (u32, u64, f32, f64),
	 * instead of a host function. Each must be an "env" function import of
	 * the module. NULL-terminated; NULL: none. */
	const char *const *guest_imports;
	uint32_t flags; /* HL_WASM_BUILD_* */
} hl_wasm_build_opts;

/* Register no export as a guest function (the c_sources register their own). */
#define HL_WASM_BUILD_NO_EXPORTS 1u

/* Fills *opts with the defaults. */
HL_API void hl_wasm_build_opts_init(hl_wasm_build_opts *opts);

/*
 * Compiles the module at `wasm_path` into the guest ELF `out_path` (both
 * borrowed; out_path is replaced). opts may be NULL (defaults). Runs
 * wasm2c and the C compiler as child processes in a temporary directory
 * that is removed afterwards.
 * Returns 0, or HL_E_INVAL (NULL path, opts->size wrong, unknown flags),
 * HL_E_IO (a file cannot be read or written), HL_E_NOMEM, HL_WASM_E_MODULE
 * (malformed; an import other than an "env" function, an "env" memory or a
 * WASI function; an "env" import whose name is not a valid host function
 * name or whose types are not i32/i64/f32/f64 with at most one result; a
 * function of emscripten's runtime that the guest runtime does not
 * implement, or one with the wrong signature; a known WASI function with
 * the wrong signature; a rename map that does not fit the module; a guest
 * import the module does not import), HL_WASM_E_TOOL (the tool's output is
 * in the message).
 * On error `err` (errlen bytes, may be NULL) gets a NUL-terminated message.
 */
HL_API int hl_wasm_build(const char *wasm_path, const char *out_path,
                         const hl_wasm_build_opts *opts, char *err, size_t errlen);

/* ---- Running --------------------------------------------------------------- */

/* Fills *cfg with hl_config_init's defaults, but a 4 MiB heap (linear
 * memory is allocated from it: a module needs its memory's pages plus
 * about 64 KiB) and a 256 KiB stack. */
HL_API void hl_wasm_config_init(hl_config *cfg);

/* WASI args and environment for modules that read them. */
typedef struct hl_wasi hl_wasi;

/*
 * Makes a WASI configuration from NULL-terminated lists (either may be
 * NULL: empty); the strings are copied. Returns 0 and sets *out, or
 * HL_E_INVAL (out NULL, or more than 64 KiB of strings in all) or
 * HL_E_NOMEM. Free with hl_wasi_free().
 */
HL_API int hl_wasi_new(const char *const *argv, const char *const *envp, hl_wasi **out);

/* Frees w. NULL: no-op. Only after every sandbox it was registered on is
 * freed. */
HL_API void hl_wasi_free(hl_wasi *w);

/*
 * Registers on `sb` (before hl_sandbox_init) the host functions through
 * which the guest reads args and environ at init (HL_WASI_ARGS_FN,
 * HL_WASI_ENVIRON_FN). `w` is borrowed until the sandbox is freed.
 * Errors: those of hl_sandbox_register (HL_E_EXISTS, HL_E_STATE, ...).
 */
HL_API int hl_wasi_register(hl_sandbox *sb, const hl_wasi *w);

#ifdef __cplusplus
}
#endif
#endif /* HYPERLIGHT_WASM_H */
