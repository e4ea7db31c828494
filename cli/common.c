/* common.c - what the commands share: the usage and library error messages, the exit status of an error, stdout's last check, opening a guest. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sample_host.h"

int hl_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, HL_CLI_PROG "%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	vfprintf(stderr, fmt, ap);
	if (cmd)
		fprintf(stderr, "\nTry '" HL_CLI_PROG " %s help' for more information.\n", cmd);
	else
		fputs("\nTry '" HL_CLI_PROG " --help' for more information.\n", stderr);
	va_end(ap);
	return EXIT_USAGE;
}

/* ---- errors from the library ------------------------------------------------- */

/* Which exit status a library error deserves. */
static int exit_status_for(const hl_sandbox *sb, int code)
{
	switch (code) {
	case HL_E_GUEST_ERROR:
	case HL_E_HOST_FUNCTION:
	case HL_E_GUEST_ABORT:
	case HL_E_GUEST_FAULT:
	case HL_E_GUEST_PROTOCOL:
	case HL_E_POISONED:
	case HL_E_CANCELLED: return EXIT_GUEST;
	/* These reject what the command line asked for: a size option out of
	 * range, a function the guest does not have, arguments that do not
	 * match its signature. */
	case HL_E_CONFIG:
	case HL_E_NO_FUNCTION:
	case HL_E_ARG_COUNT:
	case HL_E_ARG_TYPE: return EXIT_USAGE;
	case HL_E_TOO_LARGE:
		/* Either our arguments do not fit the input buffer, or the guest's
		 * result overflowed; only the second poisons the sandbox. */
		return sb && hl_sandbox_poisoned(sb) ? EXIT_GUEST : EXIT_USAGE;
	default: return EXIT_HOST;
	}
}

static const char *fault_kind_name(enum hl_fault_kind k)
{
	switch (k) {
	case HL_FAULT_NONE: return "none";
	case HL_FAULT_EXCEPTION: return "exception";
	case HL_FAULT_MMIO: return "mmio";
	case HL_FAULT_SHUTDOWN: return "shutdown";
	case HL_FAULT_UNKNOWN_PORT: return "unknown-port";
	case HL_FAULT_ABORT: return "abort";
	case HL_FAULT_PROTOCOL: return "protocol";
	case HL_FAULT_HALT: return "halt";
	case HL_FAULT_HYPERVISOR: return "hypervisor";
	case HL_FAULT_MSR: return "msr";
	}
	return "?";
}

/* The mnemonic of an x86 exception vector, or NULL for a reserved one. */
static const char *vector_mnemonic(uint32_t v)
{
	/* clang-format off */
	static const char *const m[32] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", NULL, "#TS",
		"#NP", "#SS", "#GP", "#PF", NULL, "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
		[28] = "#HV", [29] = "#VC", [30] = "#SX",
	};
	/* clang-format on */
	return v < 32 ? m[v] : NULL;
}

void hl_cli_print_fault(FILE *f, const char *prefix, const hl_sandbox *sb)
{
	hl_fault ft;
	if (hl_sandbox_last_fault(sb, &ft) < 0)
		return;
	const char *mn = ft.kind == HL_FAULT_EXCEPTION ? vector_mnemonic(ft.vector) : NULL;
	fprintf(f,
	        "%sfault: kind=%s vector=%" PRIu32 "%s%s%s rip=0x%" PRIx64 " addr=0x%" PRIx64
	        " error_code=0x%" PRIx64 " rsp=0x%" PRIx64 "\n",
	        prefix, fault_kind_name(ft.kind), ft.vector, mn ? " (" : "", mn ? mn : "",
	        mn ? ")" : "", ft.rip, ft.addr, ft.error_code, ft.rsp);
}

int hl_cli_api_error(const hl_sandbox *sb, int code)
{
	fflush(stdout); /* the guest's output before our message */
	const char *msg = sb ? hl_errmsg(sb) : "";
	if (msg[0])
		fprintf(stderr, HL_CLI_PROG ": %s: %s\n", hl_strerror(code), msg);
	else
		fprintf(stderr, HL_CLI_PROG ": %s\n", hl_strerror(code));
	if (code == HL_E_GUEST_FAULT && sb)
		hl_cli_print_fault(stderr, HL_CLI_PROG ": ", sb);
	return exit_status_for(sb, code);
}

int hl_cli_finish_stdout(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, HL_CLI_PROG ": writing to stdout failed: %s\n", strerror(errno));
		return status ? status : EXIT_HOST;
	}
	return status;
}

/* ---- sandboxes --------------------------------------------------------------- */

void hl_cli_print_to_stdio(int fd, const char *data, size_t len, void *user)
{
	(void)user;
	if (fd == 2) {
		fflush(stdout);
		fwrite(data, 1, len, stderr);
	} else {
		fwrite(data, 1, len, stdout);
	}
}

int hl_cli_open_guest(const hl_config *cfg, const char *path, hl_print_fn print, void *user,
                      hl_sandbox **out)
{
	int r = hl_sandbox_new(cfg, out);
	if (r < 0)
		return r;
	if ((r = hl_sandbox_load_file(*out, path)) < 0 || (r = hl_sample_host_register(*out)) < 0 ||
	    (r = hl_sandbox_set_print(*out, print, user)) < 0 || (r = hl_sandbox_init(*out)) < 0)
		return r;
	return 0;
}

bool hl_cli_find_function(const hl_sandbox *sb, const char *name, hl_function_info *out)
{
	for (size_t i = 0, n = hl_function_count(sb); i < n; i++)
		if (hl_function_get(sb, i, out) == 0 && strcmp(out->name, name) == 0)
			return true;
	return false;
}
