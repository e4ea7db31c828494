/* cli.h - what the commands of the hyperlight program share: exit statuses, messages, options, values, output. */
#ifndef HYPERLIGHT_CLI_CLI_H
#define HYPERLIGHT_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hyperlight/hyperlight.h"

#define HL_CLI_PROG "hyperlight"

/* Exit statuses; docs/cli.md lists them too (doctor.h adds its own 5). */
enum {
	EXIT_USAGE = 1, /* the command line is wrong */
	EXIT_GUEST = 2, /* the guest failed */
	EXIT_HOST = 3,  /* the host failed, or the guest file is unusable */
	EXIT_DEMO = 4,  /* a demo step did not behave as expected */
};

/* ---- messages (common.c) --------------------------------------------------------- */

/*
 * Reports a command-line mistake on stderr, "hyperlight[ CMD]: message"
 * and where the help is, and returns EXIT_USAGE. cmd is NULL for the
 * commands that share main.c's help, else a command with a help of its own
 * ("wasm": 'hyperlight wasm help').
 */
int hl_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* usage_error(fmt, ...): hl_cli_usage_error for the including file's
 * command, which is HL_CLI_COMMAND when the file defines it first. */
#ifndef HL_CLI_COMMAND
#define HL_CLI_COMMAND NULL
#endif
#define usage_error(...) hl_cli_usage_error(HL_CLI_COMMAND, __VA_ARGS__)

/* Prints a library error as "hyperlight: <code>: <details>" (and the fault
 * line for a guest fault) after flushing stdout, and returns the exit
 * status it deserves. sb may be NULL (hl_sandbox_new failed). */
int hl_cli_api_error(const hl_sandbox *sb, int code);

/* One line with everything hl_sandbox_last_fault knows, after `prefix`. */
void hl_cli_print_fault(FILE *f, const char *prefix, const hl_sandbox *sb);

/* Checks that everything written to stdout got there (a full disk, a closed
 * pipe): returns status, or EXIT_HOST after a message if it did not. */
int hl_cli_finish_stdout(int status);

/* ---- sandboxes (common.c) ---------------------------------------------------------- */

/* A print callback: guest stdout to ours, guest stderr to ours (stdout
 * flushed first, so that the two stay in order when they share a pipe). */
void hl_cli_print_to_stdio(int fd, const char *data, size_t len, void *user);

/*
 * Creates a sandbox, loads `path`, registers the sample host functions,
 * installs `print` and runs the guest's main(). Returns 0 with *out set, or
 * an error code with *out set to the sandbox for hl_errmsg (NULL only if
 * hl_sandbox_new failed); the caller frees *out in both cases.
 */
int hl_cli_open_guest(const hl_config *cfg, const char *path, hl_print_fn print, void *user,
                      hl_sandbox **out);

/* Finds the guest function `name`: true with *out filled, false if the
 * guest has none of that name. */
bool hl_cli_find_function(const hl_sandbox *sb, const char *name, hl_function_info *out);

/* ---- options (options.c) ------------------------------------------------------------ */

/* What the options before GUEST set. */
struct hl_cli_opts {
	hl_config cfg;
	bool stats;        /* --stats: the statistics table after `run` */
	uint16_t gdb_port; /* --gdb PORT (`run`); 0: none */
};

enum { OPT_DONE = 0, OPT_HELP = 1, OPT_ERROR = -1 };

/*
 * Parses the options that follow the command name into *o (which starts
 * from hl_config_init's values), from argv[*i] on, and leaves *i at the
 * first operand. Accepts "--opt VALUE" and "--opt=VALUE"; "--" ends the
 * options. Returns OPT_DONE, OPT_HELP (-h or --help: the caller prints the
 * usage) or OPT_ERROR (message printed).
 */
int hl_cli_parse_options(int argc, char **argv, int *i, struct hl_cli_opts *o);

/* Parses SIZE: decimal digits with an optional K, M or G (powers of 1024). */
bool hl_cli_parse_size(const char *s, uint64_t *out);

/* ---- values (values.c) ---------------------------------------------------------------- */

/*
 * Parses `text` as a value of type `t` into *out. A bytes value goes into a
 * new buffer stored in *owned for the caller to free (NULL otherwise); a
 * string points into `text`. Returns true, or false with a message in err.
 */
bool hl_cli_parse_value(hl_type t, const char *text, hl_value *out, uint8_t **owned, char *err,
                        size_t errlen);

/* The command line's function arguments, TYPE:VALUE words, parsed. */
struct hl_cli_args {
	hl_value *v;
	uint8_t **owned; /* bytes buffers, one slot per argument */
	size_t n;
};

/* Parses n TYPE:VALUE words. Returns 0, or an exit status after printing why. */
int hl_cli_args_parse(int n, char **words, struct hl_cli_args *a);
void hl_cli_args_free(struct hl_cli_args *a);

/* Writes a value in the command line's output format, without a newline:
 * floats in the shortest form that reads back to the same bits. */
void hl_cli_print_value(FILE *f, const hl_value *v);

/* ---- the commands ------------------------------------------------------------------------ */

/* Each takes its operands (argv[0] is the first one after the options) and
 * returns the exit status; main() checks stdout afterwards. */
int hl_cli_run(int argc, char **argv, const struct hl_cli_opts *o);   /* run.c */
int hl_cli_info(int argc, char **argv, const struct hl_cli_opts *o);  /* info.c */
int hl_cli_bench(int argc, char **argv, const struct hl_cli_opts *o); /* bench.c */
int hl_cli_demo(int argc, char **argv, const struct hl_cli_opts *o);  /* demo.c */

#endif /* HYPERLIGHT_CLI_CLI_H */
