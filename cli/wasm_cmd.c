/* wasm_cmd.c - `hyperlight wasm build` (a wasm module to a guest ELF) and `hyperlight wasm run` (call an export with arguments typed by its signature). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlight/hyperlight.h"
#include "hyperlight/wasm.h"
#define HL_CLI_COMMAND "wasm" /* usage_error points at 'hyperlight wasm help' */
#include "cli.h"
#include "sample_host.h"
#include "wasm_cmd.h"

#define PROG "hyperlight wasm"

enum { ST_USAGE = EXIT_USAGE, ST_HOST = EXIT_HOST }; /* cli.h's statuses */

static const char usage_text[] =
	"Usage: hyperlight wasm build [OPTIONS] MODULE.wasm [-o GUEST]\n"
	"       hyperlight wasm run [OPTIONS] GUEST FUNCTION [ARG ...]\n"
	"\n"
	"build  compile the WebAssembly module MODULE.wasm ahead of time into the\n"
	"       guest ELF file GUEST (default: MODULE without .wasm) with wasm2c and\n"
	"       musl-gcc; every export of i32/i64/f32/f64 values becomes a guest\n"
	"       function of the same name\n"
	"  -o GUEST               the output file\n"
	"  --max-call-depth N     trap after N nested wasm calls (default: only\n"
	"                         when the guest stack runs low)\n"
	"  -O LEVEL               the C compiler's optimisation level, 0-3 (default 2)\n"
	"  --keep-c DIR           write the generated C (module.c, module.h, glue.c)\n"
	"                         into the existing directory DIR and keep it\n"
	"  --import-map FILE      rename imports and exports first, by the rules of\n"
	"                         FILE ('import MOD NAME NEWMOD NEWNAME', 'export NAME\n"
	"                         NEWNAME'): the name map of a minified module\n"
	"  --c-source FILE.c      compile FILE.c into the guest beside the module (an\n"
	"                         embedder: includes \"hl_wasm_glue.h\"); repeatable\n"
	"  --cflag FLAG           an extra C compiler flag for the --c-source files\n"
	"  --guest-import NAME    the 'env' import NAME is implemented by the C sources\n"
	"                         as hl_wasm_env_NAME, not by a host function\n"
	"  --no-exports           register no export as a guest function\n"
	"  -v, --verbose          print the commands run\n"
	"\n"
	"run    load GUEST (built by `wasm build`) into a new sandbox, call FUNCTION\n"
	"       and print its result. Each ARG is converted to the type of the\n"
	"       parameter: i32 and i64 in decimal or 0x hex (negative, or up to the\n"
	"       unsigned maximum), f32 and f64 as numbers, nan, inf or -inf; TYPE:VALUE\n"
	"       (i32:-1) is accepted too. The sample host functions of `hyperlight\n"
	"       run` are registered, so a module may import them from \"env\".\n"
	"  --arg STRING           append a WASI argument (argv[0] is GUEST)\n"
	"  --env NAME=VALUE       add a WASI environment variable\n"
	"  --heap SIZE            guest heap, which holds the linear memory (default 16M)\n"
	"  --stack SIZE           guest stack (default 1M)\n"
	"  --input SIZE, --output SIZE   the call buffers (default 16K each)\n"
	"  --debug                print the layout and registers to stderr\n"
	"\n"
	"Exit status: 0 success, 1 bad command line, 2 the guest failed (a wasm\n"
	"trap among others), 3 the build or the host failed.\n";

/* "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past a separate
 * value. Returns the value, NULL if argv[*i] is not this option, or sets
 * *missing when the value is missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/* ---- build ----------------------------------------------------------------------- */

static void build_note(const char *msg, void *user)
{
	(void)user;
	fprintf(stderr, PROG " build: %s\n", msg);
}

static int cmd_build(int argc, char **argv)
{
	hl_wasm_build_opts o;
	hl_wasm_build_opts_init(&o);
	o.note = build_note;
	const char *in = NULL, *out = NULL;
	/* The repeatable options, NULL-terminated; at most argc of each. */
	const char **srcs = calloc((size_t)argc + 1, sizeof *srcs);
	const char **flags = calloc((size_t)argc + 1, sizeof *flags);
	const char **gimps = calloc((size_t)argc + 1, sizeof *gimps);
	size_t nsrcs = 0, nflags = 0, ngimps = 0;
	int st = 0;
	if (!srcs || !flags || !gimps) {
		fprintf(stderr, PROG ": out of memory\n");
		st = ST_HOST;
		goto done;
	}
	o.c_sources = srcs;
	o.cflags = flags;
	o.guest_imports = gimps;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v;
		bool missing = false;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			goto done;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o.verbose = 1;
		} else if (strcmp(a, "--no-exports") == 0) {
			o.flags |= HL_WASM_BUILD_NO_EXPORTS;
		} else if (strcmp(a, "-o") == 0) {
			if (i + 1 >= argc) {
				st = usage_error("build: -o needs a file name");
				goto done;
			}
			out = argv[++i];
		} else if (strncmp(a, "-O", 2) == 0 && a[2] >= '0' && a[2] <= '3' && a[3] == '\0') {
			o.opt_level = a[2] - '0';
		} else if ((v = opt_value(argc, argv, &i, "--max-call-depth", &missing))) {
			char *end;
			errno = 0;
			unsigned long n = strtoul(v, &end, 10);
			if (v[0] < '0' || v[0] > '9' || *end || errno || n > UINT32_MAX) {
				st = usage_error("build: --max-call-depth: '%s' is not a number of calls",
				                 v);
				goto done;
			}
			o.max_call_depth = (uint32_t)n;
		} else if ((v = opt_value(argc, argv, &i, "--keep-c", &missing))) {
			o.keep_dir = v;
		} else if ((v = opt_value(argc, argv, &i, "--import-map", &missing))) {
			o.import_map = v;
		} else if ((v = opt_value(argc, argv, &i, "--c-source", &missing))) {
			srcs[nsrcs++] = v;
		} else if ((v = opt_value(argc, argv, &i, "--cflag", &missing))) {
			flags[nflags++] = v;
		} else if ((v = opt_value(argc, argv, &i, "--guest-import", &missing))) {
			gimps[ngimps++] = v;
		} else if (missing) {
			st = usage_error("build: option %s needs a value", a);
			goto done;
		} else if (a[0] == '-' && a[1] != '\0') {
			st = usage_error("build: unknown option '%s'", a);
			goto done;
		} else if (in) {
			st = usage_error("build: more than one MODULE ('%s' and '%s')", in, a);
			goto done;
		} else {
			in = a;
		}
	}
	if (!in) {
		st = usage_error("build: missing MODULE.wasm");
		goto done;
	}
	char *def = NULL;
	if (!out) {
		size_t n = strlen(in);
		if (n <= 5 || strcmp(in + n - 5, ".wasm") != 0) {
			st = usage_error("build: '%s' does not end in .wasm: give the output with -o",
			                 in);
			goto done;
		}
		if (!(def = strndup(in, n - 5))) {
			fprintf(stderr, PROG ": out of memory\n");
			st = ST_HOST;
			goto done;
		}
		out = def;
	}
	char err[8192];
	int r = hl_wasm_build(in, out, &o, err, sizeof err);
	if (r < 0)
		fprintf(stderr, PROG " build: %s: %s\n", hl_wasm_strerror(r), err);
	free(def);
	st = r < 0 ? (r == HL_E_INVAL ? ST_USAGE : ST_HOST) : 0;
done:
	free(srcs);
	free(flags);
	free(gimps);
	return st;
}

/* ---- run ------------------------------------------------------------------------- */

static bool parse_int(const char *s, bool wide, uint64_t *bits)
{
	const char *d = s[0] == '-' || s[0] == '+' ? s + 1 : s;
	if (*d < '0' || *d > '9')
		return false;
	char *end;
	errno = 0;
	if (s[0] == '-') {
		long long v = strtoll(s, &end, 0);
		if (*end || errno || (!wide && v < INT32_MIN))
			return false;
		*bits = wide ? (uint64_t)v : (uint32_t)(int32_t)v;
	} else {
		unsigned long long v = strtoull(s, &end, 0);
		if (*end || errno || (!wide && v > UINT32_MAX))
			return false;
		*bits = v;
	}
	return true;
}

/* Converts `text` to a value of the wasm type `t`. */
static bool parse_arg(hl_type t, const char *text, hl_value *out)
{
	const char *colon = strchr(text, ':');
	if (colon) {
		size_t n = (size_t)(colon - text);
		const char *name = hl_type_name(t);
		if (strlen(name) != n || strncmp(text, name, n) != 0)
			return false;
		text = colon + 1;
	}
	uint64_t bits;
	char *end;
	switch (t) {
	case HL_TYPE_I32:
		if (!parse_int(text, false, &bits))
			return false;
		*out = hl_i32((int32_t)(uint32_t)bits);
		return true;
	case HL_TYPE_I64:
		if (!parse_int(text, true, &bits))
			return false;
		*out = hl_i64((int64_t)bits);
		return true;
	case HL_TYPE_F32: {
		float f = strtof(text, &end);
		if (end == text || *end || isspace((unsigned char)text[0]))
			return false;
		*out = hl_f32(f);
		return true;
	}
	case HL_TYPE_F64: {
		double d = strtod(text, &end);
		if (end == text || *end || isspace((unsigned char)text[0]))
			return false;
		*out = hl_f64(d);
		return true;
	}
	default: return false;
	}
}

static int call_and_print(hl_sandbox *sb, const char *fn, int nargs, char **words)
{
	hl_function_info fi;
	if (!hl_cli_find_function(sb, fn, &fi)) /* the library names what is missing */
		return hl_cli_api_error(sb, hl_call(sb, fn, NULL, 0, NULL));
	if ((size_t)nargs != fi.nparams) {
		fprintf(stderr, PROG " run: %s takes %zu argument%s (", fn, fi.nparams,
		        fi.nparams == 1 ? "" : "s");
		for (size_t i = 0; i < fi.nparams; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", hl_type_name(fi.params[i]));
		fprintf(stderr, "), got %d\n", nargs);
		return ST_USAGE;
	}
	hl_value args[HL_MAX_PARAMS];
	for (int i = 0; i < nargs; i++)
		if (!parse_arg(fi.params[i], words[i], &args[i]))
			return usage_error("run: argument %d '%s' is not a valid %s", i + 1,
			                   words[i], hl_type_name(fi.params[i]));
	hl_value res;
	int r = hl_call(sb, fn, args, (size_t)nargs, &res);
	if (r < 0)
		return hl_cli_api_error(sb, r);
	if (res.type != HL_TYPE_VOID) {
		hl_cli_print_value(stdout, &res);
		putchar('\n');
	}
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	hl_config cfg;
	hl_wasm_config_init(&cfg);
	cfg.heap_size = 16u << 20;
	cfg.stack_size = 1u << 20;
	/* WASI argv[0] is GUEST, filled in below. */
	const char **wargs = calloc((size_t)argc + 2, sizeof *wargs);
	const char **wenv = calloc((size_t)argc + 1, sizeof *wenv);
	size_t nwargs = 1, nwenv = 0;
	int i, st = 0;
	if (!wargs || !wenv) {
		fprintf(stderr, PROG ": out of memory\n");
		st = ST_HOST;
		goto out;
	}
	for (i = 0; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		const char *a = argv[i], *v;
		bool missing = false;
		uint64_t *size = NULL;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			goto out;
		} else if (strcmp(a, "--debug") == 0) {
			cfg.flags |= HL_CONFIG_DEBUG;
			continue;
		} else if ((v = opt_value(argc, argv, &i, "--arg", &missing))) {
			wargs[nwargs++] = v;
			continue;
		} else if ((v = opt_value(argc, argv, &i, "--env", &missing))) {
			if (!strchr(v, '=') || v[0] == '=') {
				st = usage_error("run: --env '%s' is not NAME=VALUE", v);
				goto out;
			}
			wenv[nwenv++] = v;
			continue;
		} else if ((v = opt_value(argc, argv, &i, "--heap", &missing))) {
			size = &cfg.heap_size;
		} else if ((v = opt_value(argc, argv, &i, "--stack", &missing))) {
			size = &cfg.stack_size;
		} else if ((v = opt_value(argc, argv, &i, "--input", &missing))) {
			size = &cfg.input_size;
		} else if ((v = opt_value(argc, argv, &i, "--output", &missing))) {
			size = &cfg.output_size;
		} else {
			st = missing ? usage_error("run: option %s needs a value", a)
			             : usage_error("run: unknown option '%s'", a);
			goto out;
		}
		if (!hl_cli_parse_size(v, size)) {
			st = usage_error("run: '%s' is not a size (bytes with an optional K, M or G)",
			                 v);
			goto out;
		}
	}
	if (argc - i < 2) {
		st = usage_error(argc - i < 1 ? "run: missing GUEST and FUNCTION"
		                              : "run: missing FUNCTION after GUEST");
		goto out;
	}
	wargs[0] = argv[i];

	hl_wasi *wasi = NULL;
	hl_sandbox *sb = NULL;
	int r = hl_wasi_new(wargs, wenv, &wasi);
	if (r < 0) {
		fprintf(stderr, PROG " run: the WASI args and environment: %s\n", hl_strerror(r));
		st = r == HL_E_INVAL ? ST_USAGE : ST_HOST;
		goto out;
	}
	if ((r = hl_sandbox_new(&cfg, &sb)) < 0 || (r = hl_sandbox_load_file(sb, argv[i])) < 0 ||
	    (r = hl_sample_host_register(sb)) < 0 || (r = hl_wasi_register(sb, wasi)) < 0 ||
	    (r = hl_sandbox_set_print(sb, hl_cli_print_to_stdio, NULL)) < 0 ||
	    (r = hl_sandbox_init(sb)) < 0)
		st = hl_cli_api_error(sb, r);
	else
		st = call_and_print(sb, argv[i + 1], argc - i - 2, argv + i + 2);
	hl_sandbox_free(sb);
	hl_wasi_free(wasi);
out:
	free(wargs);
	free(wenv);
	return st;
}

int hl_cli_wasm(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("missing command: build, run or help");
	const char *cmd = argv[1];
	if (strcmp(cmd, "build") == 0)
		return cmd_build(argc - 2, argv + 2);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	return usage_error("unknown command '%s' (build, run or help)", cmd);
}
