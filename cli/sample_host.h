/* sample_host.h - the host functions the sample guests call back, for the CLI and the tests. */
#ifndef HYPERLIGHT_CLI_SAMPLE_HOST_H
#define HYPERLIGHT_CLI_SAMPLE_HOST_H

#include "hyperlight/hyperlight.h"

/*
 * Registers on `sb` (before hl_sandbox_init) the host functions that the
 * sample guest "callbackguest" calls:
 *
 *   HostMethod1(string) -> i32    returns the string's length in bytes
 *   HostAdd(i32, i32) -> i32      returns the sum, wrapping around on overflow
 *   HostEcho(string) -> string    returns its argument
 *   HostGetBytes(u32 n) -> bytes  returns n bytes, byte i being i & 0xff;
 *                                 fails with "n too large" above 1 MiB
 *   HostError() -> i32            always fails with "HostError always fails"
 *   HostPrint(string) -> i32      writes the string to the host's stdout,
 *                                 returns its length in bytes
 *
 * The functions keep no state (no user data, nothing to free), so any number
 * of sandboxes may use them at once from different threads; HostPrint's
 * output from different threads may interleave.
 * Returns 0, or the first error of hl_sandbox_register() (HL_E_EXISTS if one
 * of the names is registered already, HL_E_STATE after init, ...); on error
 * the functions registered before it stay registered.
 */
int hl_sample_host_register(hl_sandbox *sb);

/* The largest n HostGetBytes accepts. */
#define HL_SAMPLE_MAX_BYTES (1024u * 1024u)

#endif /* HYPERLIGHT_CLI_SAMPLE_HOST_H */
