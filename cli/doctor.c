/* doctor.c - `hyperlight doctor`: which hypervisor this is and whether guests run natively on it. */
#include <stdio.h>
#include <string.h>

#include "hyperlight/hyperlight.h"
#include "doctor.h"

/* The verdict words scripts read (scripts/platform.sh). */
static const char *verdict(const hl_platform_info *pi)
{
	if (pi->can_run && pi->native)
		return "native";
	return pi->kind == HL_PLATFORM_NONE ? "no-kvm" : "cannot-run";
}

int hl_cli_doctor(int argc, char **argv)
{
	int quiet = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
			quiet = 1;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			puts("Usage: hyperlight doctor [--quiet]\n"
			     "Finds out which hypervisor /dev/kvm is and proves that guests run on it\n"
			     "natively by running a probe guest that computes with SSE. Prints the\n"
			     "platform, the execution mode, the exit round trip and a verdict\n"
			     "(--quiet: the verdict word alone: native, cannot-run or no-kvm).\n"
			     "Exit status: 0 guests run natively here, 5 they do not, 1 bad usage.");
			return 0;
		} else {
			fprintf(stderr, "hyperlight: doctor: unexpected argument '%s'\n", argv[i]);
			return 1;
		}
	}
	hl_platform_info pi = {.size = sizeof pi};
	if (hl_platform_probe(&pi, quiet ? 0 : HL_PROBE_MEASURE) < 0) {
		fprintf(stderr, "hyperlight: doctor: the platform probe failed\n");
		return HL_CLI_EXIT_NOT_NATIVE;
	}
	const char *v = verdict(&pi);
	if (quiet) {
		puts(v);
	} else {
		printf("platform:  %s\n", pi.name);
		printf("execution: %s\n", pi.mode);
		if (pi.can_run) {
			printf("probe:     a guest computed with SSE and answered right\n");
			if (pi.exit_us > 0)
				printf("exit:      %.1f us per port-I/O round trip (median of 2000), the floor of a call\n",
				       pi.exit_us);
		} else {
			printf("probe:     %s\n", pi.reason);
		}
		printf("verdict:   %s: %s\n", v,
		       strcmp(v, "native") == 0
		               ? "guests run natively here"
		               : "guests cannot run natively here; run the tests inside a VM with nested KVM (tests/vm/run-in-vm.sh)");
	}
	fflush(stdout);
	return strcmp(v, "native") == 0 ? 0 : HL_CLI_EXIT_NOT_NATIVE;
}

void hl_cli_print_platform(FILE *f)
{
	hl_platform_info pi = {.size = sizeof pi};
	if (hl_platform_probe(&pi, 0) < 0)
		return;
	fprintf(f, "platform: %s (%s)%s\n", pi.name, pi.can_run ? pi.mode : pi.reason,
	        pi.can_run ? "" : " [guests cannot run]");
}
