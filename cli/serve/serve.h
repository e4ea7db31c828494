/* serve.h - `hyperlight serve`: the entry point main.c calls. */
#ifndef HYPERLIGHT_CLI_SERVE_H
#define HYPERLIGHT_CLI_SERVE_H

/*
 * Runs `hyperlight serve [OPTIONS] GUEST_FILE...`: serves the guests'
 * functions over HTTP until SIGTERM or SIGINT, then drains and returns.
 * argv[0] is "serve". Returns the exit status: 0 after a clean shutdown,
 * 1 for a bad command line or configuration, 3 when the host failed (a
 * guest that does not load, a port that cannot be bound; also when the
 * build has no HTTP server: libmicrohttpd or jansson was missing).
 */
int hl_cli_serve(int argc, char **argv);

#endif /* HYPERLIGHT_CLI_SERVE_H */
