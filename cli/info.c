/* info.c - `hyperlight info`: a guest's functions with their signatures, its memory layout, and the platform. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "doctor.h"

struct region {
	const char *name;
	uint64_t start, size;
};

static int region_cmp(const void *a, const void *b)
{
	const struct region *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

static void print_size(FILE *f, uint64_t n)
{
	if (n >= (1u << 20) && n % (1u << 20) == 0)
		fprintf(f, "%" PRIu64 " MiB", n >> 20);
	else if (n >= 1024 && n % 1024 == 0)
		fprintf(f, "%" PRIu64 " KiB", n >> 10);
	else
		fprintf(f, "%" PRIu64 " B", n);
}

static void print_layout(FILE *f, const hl_layout *l)
{
	/* The boot info record sits alone in its page (regions are page granular). */
	uint64_t boot_size = HL_ALIGN8(sizeof(struct hl_boot_info));
	boot_size = (boot_size + HL_PAGE_SIZE - 1) / HL_PAGE_SIZE * HL_PAGE_SIZE;
	struct region r[] = {
		{"image", l->image_base, l->image_size},
		{"boot_info", l->boot_info, boot_size},
		{"page_tables", l->page_tables, l->page_tables_size},
		{"input", l->input, l->input_size},
		{"output", l->output, l->output_size},
		{"heap", l->heap, l->heap_size},
		{"stack", l->stack, l->stack_size},
		{"ist", l->ist, l->ist_size},
	};
	size_t n = sizeof r / sizeof r[0];
	qsort(r, n, sizeof r[0], region_cmp);
	fprintf(f, "%-12s %-18s %-18s %s\n", "region", "start", "end", "size");
	fprintf(f, "%-12s 0x%016" PRIx64 " 0x%016" PRIx64 " ", "memory", l->mem_base,
	        l->mem_base + l->mem_size);
	print_size(f, l->mem_size);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%-12s 0x%016" PRIx64 " 0x%016" PRIx64 " ", r[i].name, r[i].start,
		        r[i].start + r[i].size);
		print_size(f, r[i].size);
		fputc('\n', f);
	}
	fprintf(f, "entry point  0x%016" PRIx64 "\n", l->entry);
}

/* "Name(type, type) -> type" */
static void print_signature(FILE *f, const hl_function_info *fi)
{
	fprintf(f, "%s(", fi->name);
	for (size_t p = 0; p < fi->nparams; p++)
		fprintf(f, "%s%s", p ? ", " : "", hl_type_name(fi->params[p]));
	fprintf(f, ") -> %s", hl_type_name(fi->ret));
}

int hl_cli_info(int argc, char **argv, const struct hl_cli_opts *o)
{
	const hl_config *cfg = &o->cfg;
	if (argc < 1)
		return usage_error("info: missing GUEST");
	if (argc > 1)
		return usage_error("info: unexpected argument '%s' after GUEST", argv[1]);
	hl_sandbox *sb = NULL;
	int st = 0;
	int r = hl_cli_open_guest(cfg, argv[0], hl_cli_print_to_stdio, NULL, &sb);
	hl_layout lay;
	if (r == 0)
		r = hl_sandbox_layout(sb, &lay);
	if (r == 0) {
		size_t count = hl_function_count(sb);
		if (count == 0)
			puts("(no functions)");
		for (size_t i = 0; i < count && r == 0; i++) {
			hl_function_info fi;
			r = hl_function_get(sb, i, &fi);
			if (r == 0) {
				print_signature(stdout, &fi);
				putchar('\n');
			}
		}
		putchar('\n');
		if (r == 0) {
			print_layout(stdout, &lay);
			hl_cli_print_platform(stdout);
		}
	}
	if (r < 0)
		st = hl_cli_api_error(sb, r);
	hl_sandbox_free(sb);
	return st;
}
