/*
 * fault.c - a guest failure as the host records it: the message, the
 * poisoned sandbox, and what the debugging aids keep of it (the registers
 * on stderr with HL_CONFIG_DEBUG, a core file where dumps are enabled).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void hl__debug_dump(hl_sandbox *sb, const char *when)
{
	struct hl_regs r;
	struct hl_errbuf eb = {{0}};
	fprintf(stderr, "hyperlight: vCPU state at %s:\n", when);
	if (!sb->vm || hl__backend.get_regs(sb->vm, &r, &eb) < 0) {
		fprintf(stderr, "  (registers unavailable: %s)\n", eb.msg);
		return;
	}
	fprintf(stderr,
	        "  rip %016llx rsp %016llx rflags %016llx\n"
	        "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
	        "  rsi %016llx rdi %016llx rbp %016llx r8  %016llx\n"
	        "  r9  %016llx r10 %016llx r11 %016llx r12 %016llx\n"
	        "  r13 %016llx r14 %016llx r15 %016llx\n"
	        "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %llx\n",
	        (unsigned long long)r.rip, (unsigned long long)r.rsp, (unsigned long long)r.rflags,
	        (unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
	        (unsigned long long)r.rdx, (unsigned long long)r.rsi, (unsigned long long)r.rdi,
	        (unsigned long long)r.rbp, (unsigned long long)r.r8, (unsigned long long)r.r9,
	        (unsigned long long)r.r10, (unsigned long long)r.r11, (unsigned long long)r.r12,
	        (unsigned long long)r.r13, (unsigned long long)r.r14, (unsigned long long)r.r15,
	        (unsigned long long)r.cr0, (unsigned long long)r.cr2, (unsigned long long)r.cr3,
	        (unsigned long long)r.cr4, (unsigned long long)r.efer);
	if (strcmp(when, "entry") == 0)
		hl__layout_print(&sb->lay, stderr);
}

int hl__guest_fail(hl_sandbox *sb, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hl__vfail(sb, code, fmt, ap);
	va_end(ap);
	sb->poisoned = true;
	if (sb->cfg.flags & HL_CONFIG_DEBUG)
		hl__debug_dump(sb, "failure");
	hl__core_on_failure(sb, code);
	return code;
}
