/* wasi_host.c - the host side of wasm guests: a configuration with room for linear memory, and the host functions that hand WASI args and environ to the guest. */
#include <stdlib.h>
#include <string.h>

#include "hyperlight/wasm.h"

#define MAX_WASI_BYTES (64u * 1024u)

void hl_wasm_config_init(hl_config *cfg)
{
	hl_config_init(cfg);
	cfg->heap_size = 4u << 20;
	cfg->stack_size = 256u << 10;
}

struct hl_wasi {
	uint8_t *args, *env; /* strings, each followed by a NUL */
	size_t args_len, env_len;
};

/* Concatenates the NULL-terminated list into *out; returns 0 or an HL_E_*. */
static int pack(const char *const *list, uint8_t **out, size_t *len)
{
	size_t n = 0;
	*out = NULL;
	*len = 0;
	for (size_t i = 0; list && list[i]; i++) {
		n += strlen(list[i]) + 1;
		if (n > MAX_WASI_BYTES)
			return HL_E_INVAL;
	}
	if (n == 0)
		return 0;
	uint8_t *p = malloc(n);
	if (!p)
		return HL_E_NOMEM;
	size_t k = 0;
	for (size_t i = 0; list[i]; i++) {
		size_t l = strlen(list[i]) + 1;
		memcpy(p + k, list[i], l);
		k += l;
	}
	*out = p;
	*len = n;
	return 0;
}

int hl_wasi_new(const char *const *argv, const char *const *envp, hl_wasi **out)
{
	if (!out)
		return HL_E_INVAL;
	*out = NULL;
	hl_wasi *w = calloc(1, sizeof *w);
	if (!w)
		return HL_E_NOMEM;
	int r = pack(argv, &w->args, &w->args_len);
	if (r == 0)
		r = pack(envp, &w->env, &w->env_len);
	if (r < 0) {
		hl_wasi_free(w);
		return r;
	}
	*out = w;
	return 0;
}

void hl_wasi_free(hl_wasi *w)
{
	if (!w)
		return;
	free(w->args);
	free(w->env);
	free(w);
}

static int give_args(hl_host_call *hc, const hl_value *args, size_t nargs, hl_value *ret, void *user)
{
	(void)hc, (void)args, (void)nargs;
	const hl_wasi *w = user;
	*ret = hl_bytes(w->args ? w->args : (const uint8_t *)"", w->args_len);
	return 0;
}

static int give_env(hl_host_call *hc, const hl_value *args, size_t nargs, hl_value *ret, void *user)
{
	(void)hc, (void)args, (void)nargs;
	const hl_wasi *w = user;
	*ret = hl_bytes(w->env ? w->env : (const uint8_t *)"", w->env_len);
	return 0;
}

int hl_wasi_register(hl_sandbox *sb, const hl_wasi *w)
{
	if (!sb || !w)
		return HL_E_INVAL;
	/* The callbacks only read *w, which nothing changes after hl_wasi_new. */
	int r = hl_sandbox_register(sb, HL_WASI_ARGS_FN, HL_TYPE_BYTES, NULL, 0, give_args,
	                            (void *)w);
	if (r == 0)
		r = hl_sandbox_register(sb, HL_WASI_ENVIRON_FN, HL_TYPE_BYTES, NULL, 0, give_env,
		                        (void *)w);
	return r;
}
