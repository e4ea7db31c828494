/* test_wasm_build.c - no KVM: the module reader, wasm2c's names, the import checks, and every way hl_wasm_build fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hyperlight/wasm.h"
#include "wasm_glue.h"
#include "wasm_module.h"

static const char *fixture(const char *name)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/%s", HL_WASM_TEST_DIR, name);
	return path;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* A temporary output path, removed by the caller. */
static const char *out_path(void)
{
	static char p[64];
	snprintf(p, sizeof p, "/tmp/hl-wasm-test-%d", (int)getpid());
	return p;
}

static void mangling_follows_wasm2c(void **state)
{
	(void)state;
	struct {
		const char *in, *out;
	} cases[] = {
		{"add", "add"},
		{"Zap.x y", "Z5AapZ2ExZ20y"},
		{"my-env", "myZ2Denv"},
		{"Odd-Name_Z", "OddZ2DName_Z5A"},
		{"*/weird", "Z2AZ2Fweird"},
		{"", ""},
		{"\xc3\xa9", "ZC3ZA9"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[64];
		size_t n = hl__wasm_mangle((const uint8_t *)cases[i].in, strlen(cases[i].in), buf,
		                           sizeof buf);
		assert_string_equal(buf, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
	}
	/* Too small: truncated, NUL-terminated, the full length returned. */
	char small[4];
	assert_int_equal(hl__wasm_mangle((const uint8_t *)"ZZZ", 3, small, sizeof small), 9);
	assert_string_equal(small, "Z5A");
}

static void reader_finds_imports_and_exports(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = slurp(fixture("imports.wasm"), &len);
	struct hl__wasm_module m;
	char err[256];
	assert_int_equal(hl__wasm_parse(buf, len, &m, err, sizeof err), 0);
	assert_int_equal(m.nimports, 6);
	assert_int_equal(m.nfunc_imports, 6);
	assert_int_equal(m.nexports, 7);
	assert_int_equal(hl__wasm_check_imports(&m, NULL, err, sizeof err), 0);
	const struct hl__wasm_functype *t = hl__wasm_func_type(&m, 1); /* import 1 */
	assert_non_null(t);
	assert_int_equal(t->nparams, 2); /* host_scale(f64, f32) */
	assert_int_equal(t->params[0], HL__WASM_F64);
	assert_int_equal(t->params[1], HL__WASM_F32);
	hl__wasm_module_free(&m);
	free(buf);
}

/* Every truncation of a real module is refused or read without harm (the
 * reader only sees the sections it needs; wasm2c validates the rest). */
static void reader_survives_truncation_and_bit_flips(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = slurp(fixture("wasi.wasm"), &len);
	struct hl__wasm_module m;
	char err[256];
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, buf, n);
		if (hl__wasm_parse(copy, n, &m, err, sizeof err) == 0)
			hl__wasm_module_free(&m);
		free(copy);
	}
	for (size_t i = 0; i < len * 8; i++) {
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (hl__wasm_parse(buf, len, &m, err, sizeof err) == 0) {
			hl__wasm_check_imports(&m, NULL, err, sizeof err);
			hl__wasm_module_free(&m);
		}
		buf[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	free(buf);
}

static void reader_rejects_what_is_not_wasm(void **state)
{
	(void)state;
	struct hl__wasm_module m;
	char err[256];
	static const uint8_t elf[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
	assert_int_equal(hl__wasm_parse(elf, sizeof elf, &m, err, sizeof err), -22);
	assert_non_null(strstr(err, "not a wasm module"));
	static const uint8_t v2[] = {0, 'a', 's', 'm', 2, 0, 0, 0};
	assert_int_equal(hl__wasm_parse(v2, sizeof v2, &m, err, sizeof err), -22);
	assert_non_null(strstr(err, "version 2"));
	/* A section that claims more bytes than there are. */
	static const uint8_t big[] = {0, 'a', 's', 'm', 1, 0, 0, 0, 1, 0xff, 0xff, 0x03};
	assert_int_equal(hl__wasm_parse(big, sizeof big, &m, err, sizeof err), -22);
	assert_non_null(strstr(err, "runs past"));
	/* A count of types far larger than the section. */
	static const uint8_t count[] = {0, 'a', 's',  'm',  1,    0,    0,   0,
	                                1, 5,   0xff, 0xff, 0xff, 0xff, 0x0f};
	assert_int_equal(hl__wasm_parse(count, sizeof count, &m, err, sizeof err), -22);
	assert_non_null(strstr(err, "do not fit"));
}

/* hl_wasm_build of `name` must fail with `code` and a message naming `word`. */
static void expect_build_error(const char *name, int code, const char *word)
{
	char err[8192];
	int r = hl_wasm_build(fixture(name), out_path(), NULL, err, sizeof err);
	if (r != code)
		fail_msg("%s: %d (%s), expected %d; message: %s", name, r, hl_wasm_strerror(r),
		         code, err);
	if (!strstr(err, word))
		fail_msg("%s: message '%s' does not mention '%s'", name, err, word);
	unlink(out_path());
}

/* A test of a module hl_wasm_build must refuse: its file among the
 * fixtures, the error and a word of the message. */
struct build_error {
	const char *module;
	int code;
	const char *word;
};

static void build_is_refused(void **state)
{
	const struct build_error *e = *state;
	expect_build_error(e->module, e->code, e->word);
}

/* A cmocka test named `test` that builds `module`, which must fail. */
#define BUILD_ERROR_TEST(test, module, code, word)                         \
	{                                                                  \
#test, build_is_refused, NULL, NULL, &(struct build_error) \
		{                                                          \
			module, code, word                                 \
		}                                                          \
	}

static void missing_tool_is_a_tool_error(void **state)
{
	(void)state;
	hl_wasm_build_opts o;
	hl_wasm_build_opts_init(&o);
	o.wasm2c = "/nonexistent/wasm2c";
	char err[512];
	assert_int_equal(hl_wasm_build(fixture("arith.wasm"), out_path(), &o, err, sizeof err),
	                 HL_WASM_E_TOOL);
	assert_non_null(strstr(err, "/nonexistent/wasm2c"));
	hl_wasm_build_opts_init(&o);
	o.sdk_dir = "/nonexistent";
	assert_int_equal(hl_wasm_build(fixture("arith.wasm"), out_path(), &o, err, sizeof err),
	                 HL_WASM_E_TOOL);
	assert_non_null(strstr(err, "SDK"));
}

static void bad_options_are_refused(void **state)
{
	(void)state;
	hl_wasm_build_opts o;
	hl_wasm_build_opts_init(&o);
	o.size = 3;
	char err[256];
	assert_int_equal(hl_wasm_build(fixture("arith.wasm"), out_path(), &o, err, sizeof err),
	                 HL_E_INVAL);
	assert_int_equal(hl_wasm_build(NULL, out_path(), NULL, err, sizeof err), HL_E_INVAL);
}

struct notes {
	char text[4096];
	size_t len;
};

static void collect(const char *msg, void *user)
{
	struct notes *n = user;
	n->len += (size_t)snprintf(n->text + n->len, sizeof n->text - n->len, "%s\n", msg);
	if (n->len >= sizeof n->text)
		n->len = sizeof n->text - 1;
}

/* Builds fixture `module` with `o`, its notes (verbose) collected into
 * *n: the build must succeed and the generated glue compile without a
 * warning. */
static void build_noted(const char *module, hl_wasm_build_opts *o, struct notes *n)
{
	memset(n, 0, sizeof *n);
	o->note = collect;
	o->note_user = n;
	o->verbose = 1;
	char err[8192];
	int r = hl_wasm_build(fixture(module), out_path(), o, err, sizeof err);
	if (r != 0)
		fail_msg("%s: build failed: %s", module, err);
	if (strstr(n->text, "(glue) said"))
		fail_msg("%s: the glue has warnings:\n%s", module, n->text);
}

static void skipped_exports_are_noted_and_the_build_succeeds(void **state)
{
	(void)state;
	hl_wasm_build_opts o;
	hl_wasm_build_opts_init(&o);
	o.opt_level = 0;
	struct notes n;
	build_noted("multi.wasm", &o, &n);
	assert_non_null(strstr(n.text, "'pair'"));
	assert_non_null(strstr(n.text, "more than one result"));
	assert_non_null(strstr(n.text, "running: "));
	/* The result is a static ELF executable. */
	size_t len;
	uint8_t *elf = slurp(out_path(), &len);
	assert_true(len > 64 && memcmp(elf,
	                               "\x7f"
	                               "ELF",
	                               4) == 0);
	free(elf);
	unlink(out_path());
}

static void generated_glue_compiles_without_warnings(void **state)
{
	(void)state;
	/* Between them: every kind of import, skipped exports, all value types. */
	static const char *const modules[] = {"arith.wasm", "imports.wasm", "wasi.wasm"};
	for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
		hl_wasm_build_opts o;
		hl_wasm_build_opts_init(&o);
		struct notes n;
		build_noted(modules[i], &o, &n);
	}
	unlink(out_path());
}

static void keep_dir_holds_the_generated_c(void **state)
{
	(void)state;
	char dir[] = "/tmp/hl-wasm-keep-XXXXXX";
	assert_non_null(mkdtemp(dir));
	hl_wasm_build_opts o;
	hl_wasm_build_opts_init(&o);
	o.keep_dir = dir;
	o.max_call_depth = 77;
	o.opt_level = 0;
	struct notes n;
	build_noted("imports.wasm", &o, &n);
	char path[128];
	snprintf(path, sizeof path, "%s/glue.c", dir);
	size_t len;
	char *glue = (char *)slurp(path, &len);
	glue[len < (1 << 20) ? len : len - 1] = '\0';
	assert_non_null(strstr(glue, "hl_wasm__max_depth = 77u"));
	assert_non_null(strstr(glue, "Z_envZ_host_mul"));
	assert_non_null(strstr(glue, "\"host_scale\", HL_TYPE_F64, 2, {HL_TYPE_F64, HL_TYPE_F32}"));
	free(glue);
	const char *files[] = {"glue.c", "module.c", "module.h", "module.o", "glue.o", "tool.log"};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	unlink(out_path());
}

/* Renames emscripten.wasm's imports and exports with `map`; returns the
 * rename's result, the renamed module parsed into *out when it succeeded. */
static int rename_with(const char *map, struct hl__wasm_module *out, uint8_t **renamed, char *err,
                       size_t errlen)
{
	size_t len;
	uint8_t *buf = slurp(fixture("emscripten.wasm"), &len);
	struct hl__wasm_module m;
	struct hl__wasm_rename_map rm;
	assert_int_equal(hl__wasm_parse(buf, len, &m, err, errlen), 0);
	int r = hl__wasm_parse_rename_map(map, strlen(map), &rm, err, errlen);
	size_t rlen = 0;
	*renamed = NULL;
	if (r == 0) {
		r = hl__wasm_rename(buf, len, &m, &rm, renamed, &rlen, err, errlen);
		hl__wasm_rename_map_free(&rm);
	}
	if (r == 0)
		assert_int_equal(hl__wasm_parse(*renamed, rlen, out, err, errlen), 0);
	hl__wasm_module_free(&m);
	free(buf);
	return r;
}

static bool has_name(struct hl__wasm_name n, const char *s)
{
	return n.len == strlen(s) && memcmp(n.p, s, n.len) == 0;
}

static void rename_map_renames_imports_and_exports(void **state)
{
	(void)state;
	char err[512];
	struct hl__wasm_module m;
	uint8_t *renamed;
	const char *map =
		"# comment\n\nimport a a env memory\nimport a c env emscripten_date_now  # x\n"
		"export x date_now\nexport u __wasm_call_ctors\n";
	assert_int_equal(rename_with(map, &m, &renamed, err, sizeof err), 0);
	assert_true(has_name(m.imports[0].module, "env") && has_name(m.imports[0].name, "memory"));
	assert_int_equal(m.imports[0].kind, HL__WASM_MEMORY);
	assert_int_equal(m.imports[0].min, 2);
	assert_int_equal(m.imports[0].max, 8);
	assert_true(has_name(m.imports[1].module, "a") && has_name(m.imports[1].name, "b"));
	assert_true(has_name(m.imports[2].name, "emscripten_date_now"));
	bool date = false, ctors = false, other = false;
	for (uint32_t i = 0; i < m.nexports; i++) {
		date |= has_name(m.exports[i].name, "date_now");
		ctors |= has_name(m.exports[i].name, "__wasm_call_ctors");
		other |= has_name(m.exports[i].name, "y");
	}
	assert_true(date && ctors && other);
	hl__wasm_module_free(&m);
	free(renamed);
}

static void rename_map_for_another_module_is_refused(void **state)
{
	(void)state;
	char err[512];
	struct hl__wasm_module m;
	uint8_t *renamed;
	assert_int_equal(rename_with("import a zz env x\n", &m, &renamed, err, sizeof err), -22);
	assert_non_null(strstr(err, "import 'a' 'zz' is not in the module"));
	assert_int_equal(rename_with("export nope yes\n", &m, &renamed, err, sizeof err), -22);
	assert_non_null(strstr(err, "export 'nope' is not in the module"));
	assert_int_equal(rename_with("export u v\n", &m, &renamed, err, sizeof err), -22);
	assert_non_null(strstr(err, "two exports named 'v'"));
	assert_int_equal(rename_with("export u a\nexport u b\n", &m, &renamed, err, sizeof err),
	                 -22);
	assert_non_null(strstr(err, "more than one rule"));
}

static void malformed_rename_map_is_refused(void **state)
{
	(void)state;
	char err[512];
	struct hl__wasm_module m;
	uint8_t *renamed;
	static const char *const bad[] = {"rename a b\n", "import a b env\n", "export u\n",
	                                  "export u v w\n", "import a b c d e\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(rename_with(bad[i], &m, &renamed, err, sizeof err), -22);
		assert_non_null(strstr(err, "line 1"));
	}
}

static void guest_import_must_be_imported(void **state)
{
	(void)state;
	hl_wasm_build_opts o;
	hl_wasm_build_opts_init(&o);
	const char *gi[] = {"nope", NULL};
	o.guest_imports = gi;
	char err[8192];
	assert_int_equal(hl_wasm_build(fixture("imports.wasm"), out_path(), &o, err, sizeof err),
	                 HL_WASM_E_MODULE);
	assert_non_null(strstr(err, "guest import 'nope' is not an 'env' function import"));
	/* Unknown flags and the 1.0 size of the options. */
	o.flags = 0x80;
	assert_int_equal(hl_wasm_build(fixture("imports.wasm"), out_path(), &o, err, sizeof err),
	                 HL_E_INVAL);
	unlink(out_path());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mangling_follows_wasm2c),
		cmocka_unit_test(reader_finds_imports_and_exports),
		cmocka_unit_test(reader_survives_truncation_and_bit_flips),
		cmocka_unit_test(reader_rejects_what_is_not_wasm),
		BUILD_ERROR_TEST(import_from_another_module_is_refused, "bad_import_module.wasm",
	                         HL_WASM_E_MODULE, "'other' 'f'"),
		BUILD_ERROR_TEST(imported_memory_is_refused, "bad_import_memory.wasm",
	                         HL_WASM_E_MODULE, "is a memory"),
		BUILD_ERROR_TEST(env_import_with_bad_name_is_refused, "bad_env_name.wasm",
	                         HL_WASM_E_MODULE, "no-dashes"),
		BUILD_ERROR_TEST(wasi_import_with_wrong_signature_is_refused, "bad_wasi_sig.wasm",
	                         HL_WASM_E_MODULE, "fd_write"),
		BUILD_ERROR_TEST(missing_module_is_an_io_error, "no-such-module.wasm", HL_E_IO,
	                         "No such file"),
		/* An ELF guest is not a module. */
		BUILD_ERROR_TEST(garbage_is_refused, "arith", HL_WASM_E_MODULE, "not a wasm module"),
		cmocka_unit_test(missing_tool_is_a_tool_error),
		cmocka_unit_test(bad_options_are_refused),
		cmocka_unit_test(skipped_exports_are_noted_and_the_build_succeeds),
		cmocka_unit_test(generated_glue_compiles_without_warnings),
		cmocka_unit_test(keep_dir_holds_the_generated_c),
		BUILD_ERROR_TEST(unimplemented_emscripten_function_is_refused,
	                         "bad_em_missing.wasm", HL_WASM_E_MODULE,
	                         "'_dlopen_js' is a function of emscripten's JavaScript runtime"),
		BUILD_ERROR_TEST(emscripten_function_with_wrong_signature_is_refused,
	                         "bad_em_sig.wasm", HL_WASM_E_MODULE,
	                         "does not have the signature of emscripten's emscripten_date_now"),
		cmocka_unit_test(rename_map_renames_imports_and_exports),
		cmocka_unit_test(rename_map_for_another_module_is_refused),
		cmocka_unit_test(malformed_rename_map_is_refused),
		cmocka_unit_test(guest_import_must_be_imported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
