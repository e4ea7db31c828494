/* embedder.c - an embedder compiled into a wasm guest (hyperlight wasm build --c-source): implements the guest import env.twice and registers a guest function of its own that calls the module's export. */
#include "hl_wasm_glue.h"

static int init_calls;

uint32_t hl_wasm_env_twice(uint32_t x)
{
	return 2 * x;
}

static int compute_body(hl_call *c)
{
	uint32_t r = Z_hlmodZ_add_twice(&hl_wasm_instance, (uint32_t)hl_arg_i32(c, 0),
	                                (uint32_t)hl_arg_i32(c, 1));
	return hl_return_i32(c, (int32_t)r * 100 + init_calls);
}

static int compute(hl_call *c)
{
	return hl_wasm__invoke(c, compute_body);
}

void hl_wasm_guest_init(void)
{
	init_calls++;
	HL_REGISTER("compute", compute, HL_TYPE_I32, HL_TYPE_I32, HL_TYPE_I32);
}
