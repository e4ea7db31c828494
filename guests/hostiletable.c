/* hostiletable.c - a guest whose main() sends, instead of hl_dispatch's table, a function table claiming HL_MAX_FUNCTIONS + 1 functions: the host must refuse it at init before allocating anything for it. */
#include <stdint.h>
#include <string.h>

#include "hyperlight/guest.h"

int main(void)
{
	struct hl_func_table t = {HL_FUNC_TABLE_MAGIC, HL_MAX_FUNCTIONS + 1,
	                          (uint32_t)sizeof(struct hl_func_table), 0};
	memcpy((void *)(uintptr_t)hl_boot_info()->output_addr, &t, sizeof t);
	hl_outl(HL_PORT_DONE, 0);
	return 0;
}
