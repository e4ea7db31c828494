/* js_cmd.c - `hyperlight js run FILE.js HANDLER JSON`: load a JavaScript file into a sandbox, call one of its functions with a JSON value and print the JSON result. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlight/js.h"
#define HL_CLI_COMMAND "js" /* usage_error points at 'hyperlight js help' */
#include "cli.h"
#include "js_cmd.h"

#define PROG "hyperlight js"

enum { ST_USAGE = EXIT_USAGE, ST_GUEST = EXIT_GUEST, ST_HOST = EXIT_HOST }; /* cli.h's statuses */

static const char usage_text[] =
	"Usage: hyperlight js run [OPTIONS] FILE.js HANDLER JSON\n"
	"\n"
	"run    load the JavaScript file FILE.js (a script, or an ES module that exports\n"
	"       HANDLER) into a new sandbox, call its function HANDLER with the JSON value\n"
	"       JSON ('-': read it from stdin) and print the JSON of the result on stdout.\n"
	"       console.log and console.error go to stdout and stderr. An exception is\n"
	"       printed on stderr with its stack.\n"
	"  --timeout-ms N     end the call after N milliseconds (default 1000; 0: none)\n"
	"  --memory SIZE      the engine's memory limit (default 64M; 0: only the heap)\n"
	"  --max-stack SIZE   the JavaScript stack (default 1M, at most 4M)\n"
	"  --input SIZE, --output SIZE   the largest JSON in and out (default 1M each)\n"
	"                     SIZE is a number of bytes with an optional K, M or G\n"
	"\n"
	"The JavaScript guest is QuickJS compiled to a guest ELF; it is found through\n"
	"$HYPERLIGHT_JS_GUEST, the installation, or the build tree (docs/javascript.md).\n"
	"\n"
	"Exit status: 0 success, 1 bad command line, 2 the JavaScript failed (an\n"
	"exception, a timeout, the memory limit, a stack overflow, a syntax error),\n"
	"3 the host failed or the JavaScript guest is missing.\n";

/* Reads a whole file ("-": stdin) into a NUL-terminated buffer. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
		if (n + 1 == cap) {
			char *nb = cap > (SIZE_MAX >> 2) ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	bool err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (!buf || err) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int cmd_run(int argc, char **argv)
{
	hl_js_config cfg;
	hl_js_config_init(&cfg);
	int i = 0;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (i + 1 >= argc)
			return usage_error("run: option %s needs a value", a);
		const char *v = argv[++i];
		uint64_t n;
		if (!hl_cli_parse_size(v, &n))
			return usage_error(
				"run: %s: '%s' is not a number (bytes with K, M or G, or "
				"milliseconds)",
				a, v);
		if (strcmp(a, "--timeout-ms") == 0 && n <= UINT32_MAX)
			cfg.timeout_ms = (uint32_t)n;
		else if (strcmp(a, "--memory") == 0 && n < UINT32_MAX)
			cfg.memory_limit = n;
		else if (strcmp(a, "--max-stack") == 0 && n <= INT32_MAX)
			cfg.max_stack = (uint32_t)n;
		else if (strcmp(a, "--input") == 0)
			cfg.input_size = n;
		else if (strcmp(a, "--output") == 0)
			cfg.output_size = n;
		else if (strcmp(a, "--timeout-ms") == 0 || strcmp(a, "--memory") == 0 ||
		         strcmp(a, "--max-stack") == 0)
			return usage_error("run: %s: '%s' is too large", a, v);
		else
			return usage_error("run: unknown option '%s'", a);
	}
	if (argc - i != 3)
		return usage_error("run: expected FILE.js HANDLER JSON, got %d argument%s",
		                   argc - i, argc - i == 1 ? "" : "s");
	const char *file = argv[i], *handler = argv[i + 1], *json = argv[i + 2];
	size_t slen, jlen = strlen(json);
	char *src = slurp(file, &slen), *jbuf = NULL;
	if (!src) {
		fprintf(stderr, PROG ": cannot read %s: %s\n", file, strerror(errno ? errno : EIO));
		return ST_HOST;
	}
	if (strcmp(json, "-") == 0) {
		if (!(jbuf = slurp("-", &jlen))) {
			fprintf(stderr, PROG ": cannot read the JSON from stdin\n");
			free(src);
			return ST_HOST;
		}
		json = jbuf;
	}

	hl_js *js = NULL;
	int rc = hl_js_new(&cfg, &js);
	const char *out = NULL;
	size_t olen = 0;
	/* The file is loaded under a fixed name; HANDLER is the function in it. */
	if (rc == 0)
		rc = hl_js_add_handler(js, "main", src, slen, handler, file);
	if (rc == 0)
		rc = hl_js_call(js, "main", json, jlen, &out, &olen);
	int st = 0;
	if (rc == 0) {
		fwrite(out, 1, olen, stdout);
		fputc('\n', stdout);
	} else {
		hl_js_error e;
		hl_js_last_error(js, &e);
		if (js && *e.name) {
			/* A JavaScript exception: as a JavaScript engine prints one. */
			fprintf(stderr, PROG ": %s: %s: %s\n", hl_js_strerror(rc), e.name,
			        e.message);
			if (*e.stack)
				fprintf(stderr, "%s\n", e.stack);
		} else {
			fprintf(stderr, PROG ": %s: %s\n", hl_js_strerror(rc),
			        js ? hl_js_errmsg(js) : "out of memory");
		}
		switch (rc) {
		case HL_E_INVAL: st = ST_USAGE; break;
		case HL_E_TOO_LARGE:
		case HL_JS_E_EXCEPTION:
		case HL_JS_E_TIMEOUT:
		case HL_JS_E_MEMORY:
		case HL_JS_E_STACK:
		case HL_JS_E_RESULT:
		case HL_JS_E_LOAD:
		case HL_JS_E_NOT_SETTLED:
		case HL_JS_E_ENGINE:
		case HL_E_GUEST_ERROR:
		case HL_E_GUEST_ABORT:
		case HL_E_GUEST_FAULT:
		case HL_E_GUEST_PROTOCOL:
		case HL_E_CANCELLED: st = ST_GUEST; break;
		default: st = ST_HOST; break;
		}
	}
	hl_js_free(js);
	free(src);
	free(jbuf);
	return st;
}

int hl_cli_js(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("missing command: run or help");
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	return usage_error("unknown command '%s' (run or help)", cmd);
}
