/* fuzz_elf.c - libFuzzer target: the ELF loader must survive any file, and load what it accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/elf.h"
#include "hyperlight/hyperlight.h"

#define FUZZ_PIE_BASE 0x200000u
/* Larger images are valid but make each run slow; parse rejects them. */
#define FUZZ_MAX_SPAN (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hl_elf_image img;
	char err[256];
	int rc = hl__elf_parse(data, size, FUZZ_PIE_BASE, FUZZ_MAX_SPAN, &img, err, sizeof err);
	if (rc != 0) {
		if (rc != HL_E_ELF && rc != HL_E_VERSION)
			abort(); /* only the documented codes; the harness, not the library, aborts */
		return 0;
	}
	/* An exact buffer for [lo, hi): ASan catches any write outside the image. */
	uint8_t *mem = malloc(img.hi - img.lo);
	if (mem == NULL)
		return 0;
	rc = hl__elf_load(&img, data, size, mem, img.lo, img.hi - img.lo, err, sizeof err);
	free(mem);
	if (rc != 0)
		abort(); /* parse accepted it, so load must too */
	return 0;
}
