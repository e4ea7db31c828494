/* main.c - the hyperlight command-line driver: the usage, the table of commands and the dispatch to them (a file per command; cli.h has what they share). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "hyperlight/hyperlight.h"
#include "cli.h"
#include "wasm_cmd.h"
#include "js_cmd.h"
#include "doctor.h"
#include "serve/serve.h"

#define PROG HL_CLI_PROG

static const char usage_text[] =
	/* clang-format off */
	"Usage: " PROG " run [OPTIONS] GUEST FUNCTION [TYPE:VALUE ...]\n"
	"       " PROG " info [OPTIONS] GUEST\n"
	"       " PROG " bench [OPTIONS] GUEST FUNCTION [TYPE:VALUE ...]\n"
	"       " PROG " wasm build|run ...  (see '" PROG " wasm help')\n"
	"       " PROG " js run FILE.js HANDLER JSON  (see '" PROG " js help')\n"
	"       " PROG " demo [OPTIONS] [GUEST_DIR]\n"
	"       " PROG " doctor [--quiet]\n"
	"       " PROG " serve [OPTIONS] GUEST_FILE...  (see '" PROG " serve --help')\n"
	"       " PROG " --help | --version\n"
	/* clang-format on */
	"\n"
	"Commands:\n"
	"  run    load the guest ELF file GUEST into a new sandbox, call FUNCTION\n"
	"         with the arguments and print its result on stdout\n"
	"  info   print the guest's functions and its memory layout\n"
	"  bench  time the creation of GUEST's sandbox, FUNCTION's call, and the\n"
	"         call on a fresh state (restore + call): median and p99\n"
	"  demo   run the sample guests (simpleguest, callbackguest, dummyguest)\n"
	"         from GUEST_DIR (default: $HYPERLIGHT_GUEST_DIR, then guests/bin\n"
	"         beside this program, then ./guests/bin) as a guided tour\n"
	"  doctor say which hypervisor /dev/kvm is and whether guests run on it\n"
	"         natively (it runs a probe guest); exit 0 only when they do\n"
	"  serve  serve the guests' functions over HTTP, a fresh sandbox per request\n"
	"\n"
	"Arguments, TYPE:VALUE:\n"
	"  i32:-5  u32:7  i64:-9000000000  u64:18446744073709551615  (decimal)\n"
	"  f32:1.5  f64:1e-300  (also nan, inf, -inf)  bool:true  bool:false\n"
	"  string:TEXT  (everything after the first colon; may be empty)\n"
	"  bytes:0a0b0c  (hex digits, an even number of them; may be empty)\n"
	"\n"
	"Options (before GUEST):\n"
	"  --heap SIZE        guest heap (default 128K)\n"
	"  --stack SIZE       guest stack (default 64K)\n"
	"  --input SIZE       host-to-guest buffer (default 16K)\n"
	"  --output SIZE      guest-to-host buffer (default 16K)\n"
	"                     SIZE is a number of bytes with an optional K, M or G\n"
	"  --log-level LEVEL  send guest log records up to LEVEL: error, warn\n"
	"                     (default), info, debug or trace\n"
	"  --timeout-ms N     cancel a call that runs longer than N milliseconds\n"
	"  --stats            (run) print the sandbox's statistics to stderr after\n"
	"                     the call: calls, failures, exits, durations\n"
	"  --debug            print the memory layout and the registers to stderr\n"
	"                     when the guest starts and when it fails\n"
	"  --gdb PORT         (run) stop at the guest's first instruction and wait\n"
	"                     for gdb on 127.0.0.1:PORT (target remote :PORT)\n"
	"  -h, --help         print this help and exit\n"
	"      --version      print the library version and exit\n"
	"\n"
	"Exit status: 0 success, 1 bad command line or arguments, 2 the guest\n"
	"failed, 3 the host failed or the guest file is unusable, 4 a demo step\n"
	"did not behave as expected, 5 (doctor) guests cannot run natively here.\n";

/* The commands. Those with `run` take the options of hl_cli_parse_options
 * before their operands; those with `own` parse their own arguments
 * (argv[0] is the command's name). main() checks stdout after either. */
static const struct command {
	const char *name;
	int (*run)(int argc, char **argv, const struct hl_cli_opts *o);
	int (*own)(int argc, char **argv);
} commands[] = {
	{"run", hl_cli_run, NULL},   {"info", hl_cli_info, NULL},     {"bench", hl_cli_bench, NULL},
	{"demo", hl_cli_demo, NULL}, {"doctor", NULL, hl_cli_doctor}, {"serve", NULL, hl_cli_serve},
	{"wasm", NULL, hl_cli_wasm}, {"js", NULL, hl_cli_js},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* "unknown command 'x' (run, info, ... or wasm)", from the table. */
static int unknown_command(const char *name)
{
	char list[256] = "";
	size_t len = 0;
	for (size_t i = 0; i < NCOMMANDS && len < sizeof list; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
		                        i == 0               ? ""
		                        : i + 1 == NCOMMANDS ? " or "
		                                             : ", ",
		                        commands[i].name);
	return usage_error("unknown command '%s' (%s)", name, list);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
		fputs(usage_text, stdout);
		return hl_cli_finish_stdout(0);
	}
	if (strcmp(name, "--version") == 0) {
		printf(PROG " %s\n", hl_version());
		return hl_cli_finish_stdout(0);
	}
	const struct command *c = NULL;
	for (size_t i = 0; i < NCOMMANDS && !c; i++)
		if (strcmp(name, commands[i].name) == 0)
			c = &commands[i];
	if (!c && name[0] == '-')
		return usage_error("unknown option '%s' (options go after the command)", name);
	if (!c)
		return unknown_command(name);
	if (c->own)
		return hl_cli_finish_stdout(c->own(argc - 1, argv + 1));

	struct hl_cli_opts o = {0};
	hl_config_init(&o.cfg);
	int i = 2;
	switch (hl_cli_parse_options(argc, argv, &i, &o)) {
	case OPT_HELP: fputs(usage_text, stdout); return hl_cli_finish_stdout(0);
	case OPT_ERROR: return EXIT_USAGE;
	default: break;
	}
	if (o.stats && c->run != hl_cli_run)
		return usage_error("option --stats: only for the run command");
	if (o.gdb_port && c->run != hl_cli_run)
		return usage_error("option --gdb: only with '%s run'", PROG);
	return hl_cli_finish_stdout(c->run(argc - i, argv + i, &o));
}
