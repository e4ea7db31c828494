/* wasm_guest.c - the main() of every wasm guest: instantiates the module, loads the WASI args and environment, registers the exports and serves calls. */
#include <stdint.h>

#include "hl_wasm_rt.h"

/* Stack the trap path, a host import or a WASI call may still need once
 * the call-depth limit has stopped the recursion. */
#define STACK_RESERVE (16u * 1024u)

int main(void)
{
	/* The depth limit compares the stack pointer against this floor: the
	 * reserve above the guard page below the main stack, or a quarter of a
	 * small stack. */
	const struct hl_boot_info *bi = hl_boot_info();
	uint64_t reserve = bi->stack_size / 4 < STACK_RESERVE ? bi->stack_size / 4 : STACK_RESERVE;
	hl_wasm__stack_floor = (uintptr_t)(bi->stack_addr + reserve);

	/* WASI first: the module's start function runs during instantiation
	 * and may already use it. */
	hl_wasm__wasi_load();
	wasm_rt_init();
	hl_wasm__run_init(hl_wasm_module.instantiate, "instantiation");
	if (hl_wasm_module.initialize)
		hl_wasm__run_init(hl_wasm_module.initialize, "_initialize");
	/* An embedder (hl_wasm_build's c_sources) sets up its state and
	 * registers its own functions; a trap there aborts like one above. */
	if (hl_wasm_guest_init)
		hl_wasm__run_init(hl_wasm_guest_init, "hl_wasm_guest_init");

	for (unsigned i = 0; i < hl_wasm_module.nexports; i++) {
		const struct hl_wasm_export *e = &hl_wasm_module.exports[i];
		hl_register_function(e->name, e->fn, e->ret, e->params, e->nparams);
	}
	hl_dispatch();
}
