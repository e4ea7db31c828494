/* serve_missing.c - `hyperlight serve` in a build without libmicrohttpd or jansson. */
#include <stdio.h>

#include "serve.h"

int hl_cli_serve(int argc, char **argv)
{
	(void)argc, (void)argv;
	fputs("hyperlight serve: this build has no HTTP server: libmicrohttpd and jansson were not "
	      "found when it was configured (Debian: libmicrohttpd-dev libjansson-dev; "
	      "scripts/deps.sh installs them)\n",
	      stderr);
	return 3;
}
