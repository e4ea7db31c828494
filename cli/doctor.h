/* doctor.h - the `hyperlight doctor` command and the platform line other commands print. */
#ifndef HYPERLIGHT_CLI_DOCTOR_H
#define HYPERLIGHT_CLI_DOCTOR_H

#include <stdio.h>

/* Exit status of `doctor` when guests cannot run natively here. */
#define HL_CLI_EXIT_NOT_NATIVE 5

/*
 * Runs `hyperlight doctor [--quiet]`: probes /dev/kvm (hl_platform_probe,
 * which runs a probe guest that computes with SSE), prints the platform,
 * how guests execute there, the exit round trip and a verdict. Returns 0
 * when guests run natively here, HL_CLI_EXIT_NOT_NATIVE when they do not,
 * 1 for a bad command line. argv[0] is "doctor".
 */
int hl_cli_doctor(int argc, char **argv);

/* Prints "platform: NAME (MODE)" for this machine's /dev/kvm, one line. */
void hl_cli_print_platform(FILE *f);

#endif /* HYPERLIGHT_CLI_DOCTOR_H */
