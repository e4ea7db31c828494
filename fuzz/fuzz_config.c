/*
 * fuzz_config.c - libFuzzer target: configuration validation through the
 * public API. Any bytes become an hl_config; hl_sandbox_new must accept or
 * refuse it with HL_E_INVAL exactly as its size field says, and loading must
 * fail with HL_E_CONFIG, naming the field, exactly when an independent
 * statement of the documented ranges says the configuration is bad (a good
 * one reaches the ELF check, which refuses the junk image). No VM is built:
 * the configuration and the image are checked before anything is mapped.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hyperlight/hyperlight.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KiB 1024ull
#define MiB (1024ull * 1024ull)
#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

/* A signal with a handler, so that a configuration naming it can be valid. */
static int handled_signal;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	handled_signal = SIGRTMIN + 2;
	if (hl_install_interrupt_handler(handled_signal) != 0)
		abort();
	return 0;
}

/* The first field the documentation says is out of range, or NULL. */
static const char *bad_field(const hl_config *c)
{
	if (c->heap_size < 16 * KiB || c->heap_size > 768 * MiB)
		return "heap_size";
	if (c->stack_size < 16 * KiB || c->stack_size > 64 * MiB)
		return "stack_size";
	if (c->input_size < 4 * KiB || c->input_size > 64 * MiB)
		return "input_size";
	if (c->output_size < 4 * KiB || c->output_size > 64 * MiB)
		return "output_size";
	if (c->max_log_level > HL_LOG_TRACE)
		return "max_log_level";
	if (c->flags & ~(HL_CONFIG_DEBUG | HL_CONFIG_CORE_DUMP | HL_CONFIG_VERIFY_RESTORE |
	                 HL_CONFIG_MSR_FILTER))
		return "flags";
	if (c->call_timeout_ms && !c->interrupt_signal)
		return "call_timeout_ms";
	if (c->interrupt_signal) {
		/* A usable signal with a handler (ours, or one the fuzzing runtime installed). */
		int s = c->interrupt_signal;
		struct sigaction old;
		if (s <= 0 || s > SIGRTMAX || s == SIGKILL || s == SIGSTOP ||
		    sigaction(s, NULL, &old) < 0)
			return "interrupt_signal";
		if (!(old.sa_flags & SA_SIGINFO) &&
		    (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN))
			return "interrupt_signal";
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hl_config c;
	hl_config_init(&c);
	/* Byte 0 picks the size field: the current one, the 1.0 one, or raw. */
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	size_t n = size - 1 < sizeof c ? size - 1 : sizeof c;
	memcpy(&c, data + 1, n);
	size_t v10 = offsetof(hl_config, interrupt_signal);
	if (mode % 4 == 0)
		c.size = sizeof c;
	else if (mode % 4 == 1)
		c.size = v10;
	/* mode 2: 3: the size from the input (almost always refused) */
	if (mode & 0x10) { /* keep the values near the limits: the interesting part */
		c.heap_size %= 1024 * MiB;
		c.stack_size %= 128 * MiB;
		c.input_size %= 128 * MiB;
		c.output_size %= 128 * MiB;
		c.max_log_level %= 8;
		c.flags %= 32; /* the four known flags and one unknown */
		c.interrupt_signal = (mode & 0x20) ? handled_signal : c.interrupt_signal % 70;
	}

	hl_sandbox *sb = NULL;
	int r = hl_sandbox_new(&c, &sb);
	bool size_ok = c.size == sizeof c || c.size == v10;
	CHECK((r == 0) == size_ok);
	if (r != 0) {
		CHECK(r == HL_E_INVAL && sb == NULL);
		return 0;
	}
	hl_config eff = c;
	if (c.size == v10) { /* a 1.0 configuration: the appended fields are 0 */
		eff.interrupt_signal = 0;
		eff.call_timeout_ms = 0;
	}
	static const char junk[16] = "not an elf";
	r = hl_sandbox_load_image(sb, junk, sizeof junk);
	const char *field = bad_field(&eff);
	const char *msg = hl_errmsg(sb);
	if (field) {
		CHECK(r == HL_E_CONFIG);
		CHECK(strstr(msg, field) != NULL);
	} else {
		CHECK(r == HL_E_ELF);
	}
	CHECK(msg[0] != '\0');
	hl_sandbox_free(sb);
	return 0;
}
