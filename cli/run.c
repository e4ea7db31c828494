/* run.c - `hyperlight run`: load a guest, call one of its functions with the arguments given, print the result. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>

#include "cli.h"
#include "sample_host.h"

/* The statistics table on stderr, after stdout so the two stay in order. */
static void print_stats(const hl_sandbox *sb)
{
	hl_stats s;
	s.size = sizeof s;
	char buf[2048];
	if (hl_sandbox_stats(sb, &s) < 0 || hl_stats_format(&s, buf, sizeof buf) < 0)
		return;
	fflush(stdout);
	fprintf(stderr, "--- statistics\n%s", buf);
}

int hl_cli_run(int argc, char **argv, const struct hl_cli_opts *o)
{
	const hl_config *cfg = &o->cfg;
	if (argc < 1)
		return usage_error("run: missing GUEST and FUNCTION");
	if (argc < 2)
		return usage_error("run: missing FUNCTION after GUEST '%s'", argv[0]);
	const char *guest = argv[0], *fn = argv[1];

	/* The arguments first: a typo should not cost a VM. */
	struct hl_cli_args args;
	int st = hl_cli_args_parse(argc - 2, argv + 2, &args);
	if (st)
		return st;

	hl_sandbox *sb = NULL;
	hl_value res = hl_i32(0);
	int r;
	if (o->gdb_port) {
		/* hl_cli_open_guest, with the debugger's socket between load and init:
		 * init then stops at the guest's first instruction. */
		if ((r = hl_sandbox_new(cfg, &sb)) == 0 &&
		    (r = hl_sandbox_load_file(sb, guest)) == 0 &&
		    (r = hl_sample_host_register(sb)) == 0 &&
		    (r = hl_sandbox_set_print(sb, hl_cli_print_to_stdio, NULL)) == 0 &&
		    (r = hl_sandbox_debug_listen(sb, o->gdb_port)) == 0) {
			fprintf(stderr, "gdb: listening on 127.0.0.1:%u\n", o->gdb_port);
			r = hl_sandbox_init(sb);
		}
	} else {
		r = hl_cli_open_guest(cfg, guest, hl_cli_print_to_stdio, NULL, &sb);
	}
	if (r == 0)
		r = hl_call(sb, fn, args.v, args.n, &res);
	if (r < 0) {
		st = hl_cli_api_error(sb, r);
	} else if (res.type != HL_TYPE_VOID) {
		hl_cli_print_value(stdout, &res);
		putchar('\n');
	}
	if (o->stats && sb)
		print_stats(sb);
	/* The result is owned by the sandbox: print it before freeing. */
	hl_sandbox_free(sb);
	hl_cli_args_free(&args);
	return st;
}
