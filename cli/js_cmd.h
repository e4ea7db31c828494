/* js_cmd.h - the `hyperlight js` command: run a JavaScript handler in a sandbox. */
#ifndef HYPERLIGHT_CLI_JS_CMD_H
#define HYPERLIGHT_CLI_JS_CMD_H

/*
 * Runs `hyperlight js ...`: argv[0] is "js", argv[1] the subcommand (run,
 * help). Prints the result on stdout and errors on stderr. Returns the exit
 * status: 0 success, 1 bad command line, 2 the JavaScript or the guest
 * failed, 3 the host failed or the JavaScript guest is missing.
 */
int hl_cli_js(int argc, char **argv);

#endif /* HYPERLIGHT_CLI_JS_CMD_H */
