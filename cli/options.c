/* options.c - the options every command of main.c's table takes before its operands: sizes, log level, timeout, --stats, --debug, --gdb. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool hl_cli_parse_size(const char *s, uint64_t *out)
{
	if (s[0] < '0' || s[0] > '9')
		return false; /* strtoull would accept spaces and a sign */
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return false;
	unsigned shift = 0;
	/* clang-format off */
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return false;
	}
	/* clang-format on */
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static bool parse_log_level(const char *s, uint32_t *out)
{
	static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
	static const uint32_t levels[] = {HL_LOG_ERROR, HL_LOG_WARN, HL_LOG_INFO, HL_LOG_DEBUG,
	                                  HL_LOG_TRACE};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = levels[i];
			return true;
		}
	return false;
}

/* Parses "--gdb PORT" or "--gdb=PORT" at argv[*i] into *port (not a
 * configuration value: the library takes it through
 * hl_sandbox_debug_listen); 1 if it was that option, 0 if not, -1 on a bad
 * value (message printed). */
static int parse_gdb_option(int argc, char **argv, int *i, uint16_t *gdb_port)
{
	const char *a = argv[*i], *val;
	if (strcmp(a, "--gdb") == 0) {
		if (*i + 1 >= argc) {
			usage_error("option --gdb needs a value");
			return -1;
		}
		val = argv[++(*i)];
	} else if (strncmp(a, "--gdb=", 6) == 0) {
		val = a + 6;
	} else {
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long port = strtoul(val, &end, 10);
	if (errno || end == val || *end || val[0] == '-' || port == 0 || port > 65535) {
		usage_error("option --gdb: '%s' is not a TCP port (1 to 65535)", val);
		return -1;
	}
	*gdb_port = (uint16_t)port;
	return 1;
}

int hl_cli_parse_options(int argc, char **argv, int *i, struct hl_cli_opts *o)
{
	hl_config *cfg = &o->cfg;
	for (; *i < argc; (*i)++) {
		const char *a = argv[*i];
		if (strcmp(a, "--") == 0) {
			(*i)++;
			return OPT_DONE;
		}
		if (a[0] != '-' || a[1] == '\0')
			return OPT_DONE; /* an operand ("-" alone counts as one) */
		if (strcmp(a, "--stats") == 0) {
			o->stats = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return OPT_HELP;
		if (strcmp(a, "--debug") == 0) {
			cfg->flags |= HL_CONFIG_DEBUG;
			continue;
		}
		int g = parse_gdb_option(argc, argv, i, &o->gdb_port);
		if (g < 0)
			return OPT_ERROR;
		if (g > 0)
			continue;

		/* The options that take a value, in the order of the switch below. */
		enum { O_HEAP, O_STACK, O_INPUT, O_OUTPUT, O_LOG_LEVEL, O_TIMEOUT, O_COUNT };
		static const char *const valued[O_COUNT] = {"--heap",      "--stack",
		                                            "--input",     "--output",
		                                            "--log-level", "--timeout-ms"};
		int which = O_COUNT;
		const char *val = NULL;
		for (int k = 0; k < O_COUNT; k++) {
			size_t n = strlen(valued[k]);
			if (strncmp(a, valued[k], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
				which = k;
				val = a[n] == '=' ? a + n + 1 : NULL;
				break;
			}
		}
		if (which == O_COUNT) {
			usage_error("unknown option '%s'", a);
			return OPT_ERROR;
		}
		const char *name = valued[which];
		if (!val) {
			if (*i + 1 >= argc) {
				usage_error("option %s needs a value", name);
				return OPT_ERROR;
			}
			val = argv[++(*i)];
		}
		uint64_t *size = NULL;
		switch (which) {
		case O_HEAP: size = &cfg->heap_size; break;
		case O_STACK: size = &cfg->stack_size; break;
		case O_INPUT: size = &cfg->input_size; break;
		case O_OUTPUT: size = &cfg->output_size; break;
		case O_LOG_LEVEL:
			if (!parse_log_level(val, &cfg->max_log_level)) {
				usage_error("option %s: '%s' is not a log level (error, warn, info, debug, trace)",
				            name, val);
				return OPT_ERROR;
			}
			break;
		case O_TIMEOUT: {
			char *end;
			errno = 0;
			unsigned long ms = strtoul(val, &end, 10);
			if (errno || end == val || *end || val[0] == '-' || ms == 0 ||
			    ms > UINT32_MAX) {
				usage_error("option %s: '%s' is not a number of milliseconds (1 to %u)",
				            name, val, UINT32_MAX);
				return OPT_ERROR;
			}
			/* The command is the application here: it may pick the signal
			 * that interrupts a running guest and install its no-op handler. */
			cfg->call_timeout_ms = (uint32_t)ms;
			cfg->interrupt_signal = SIGRTMIN + 1;
			if (hl_install_interrupt_handler(cfg->interrupt_signal) < 0) {
				usage_error("option %s: cannot install the interrupt signal handler",
				            name);
				return OPT_ERROR;
			}
			break;
		}
		}
		/* The library checks the size's range when the guest is loaded. */
		if (size && !hl_cli_parse_size(val, size)) {
			usage_error(
				"option %s: '%s' is not a size (a number of bytes with an optional "
				"K, M or G suffix, e.g. 256K or 4M)",
				name, val);
			return OPT_ERROR;
		}
	}
	return OPT_DONE;
}
