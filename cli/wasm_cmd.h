/* wasm_cmd.h - the `hyperlight wasm` command: build a guest from a wasm module, run one of its exports. */
#ifndef HYPERLIGHT_CLI_WASM_CMD_H
#define HYPERLIGHT_CLI_WASM_CMD_H

/*
 * Runs `hyperlight wasm ...`: argv[0] is "wasm", argv[1] the subcommand
 * (build, run, help). Prints results on stdout and errors on stderr.
 * Returns the exit status: 0 success, 1 bad command line, 2 the guest
 * failed, 3 the host or the build failed (the statuses of cli/main.c).
 */
int hl_cli_wasm(int argc, char **argv);

#endif /* HYPERLIGHT_CLI_WASM_CMD_H */
