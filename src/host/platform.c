/* platform.c - hl_platform_probe: which hypervisor /dev/kvm is, proven by running a probe guest on it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "elf.h"
#include "internal.h"
#include "../util/timing.h"

/*
 * The probe guest, 64-bit code entered at CPL 0 the way a sandbox's guest
 * is (set_boot_regs), so on kvm-pvm it runs after the same native entry:
 *
 *     movl $0x40400000, %eax      3.0f
 *     movd %eax, %xmm1
 *     pxor %xmm0, %xmm0
 *     addss %xmm1, %xmm0
 *     mulss %xmm1, %xmm0          9.0f
 *     cvttss2si %xmm0, %eax       9
 *     outl %eax, $0xe0            the answer
 * 1:  outl %eax, $0xe1            one exit per round trip
 *     jmp 1b
 *
 * It needs no stack and touches no memory but its code.
 */
/* clang-format off */
static const uint8_t probe_code[] = {
	0xb8, 0x00, 0x00, 0x40, 0x40, 0x66, 0x0f, 0x6e, 0xc8, 0x66, 0x0f, 0xef, 0xc0,
	0xf3, 0x0f, 0x58, 0xc1, 0xf3, 0x0f, 0x59, 0xc1, 0xf3, 0x0f, 0x2c, 0xc0,
	0xe7, 0xe0, 0xe7, 0xe1, 0xeb, 0xfc,
};
/* clang-format on */
#define PROBE_PORT_ANSWER 0xe0
#define PROBE_PORT_LOOP 0xe1
#define PROBE_ANSWER 9
#define PROBE_ROUND_TRIPS 2000

/* Guest memory of the probe: code, an unused stack page (the boot
 * registers want one), the IST area the layout maps, the page tables. */
#define PROBE_BASE 0x10000ull
#define PROBE_PT_PAGES 8ull

static void describe(hl_platform_info *info, const struct hl_backend_info *bk)
{
	info->kind = (hl_platform_kind)bk->platform;
	info->name = bk->name;
	switch (bk->platform) {
	case HL_PLATFORM_KVM_VMX:
	case HL_PLATFORM_KVM_SVM:
	case HL_PLATFORM_KVM_OTHER:
		info->mode = "hardware virtualisation: guest code runs on the CPU at CPL 0";
		break;
	case HL_PLATFORM_KVM_PVM:
		info->mode =
			"native kernel mode: guest code runs on the CPU, entered by the library through SYSRET/SYSCALL";
		break;
	default: info->mode = "none"; break;
	}
}

/* The probe's memory layout, built with the sandbox's own page-table code. */
static void probe_layout(struct hl__layout *l, struct hl_elf_image *img)
{
	memset(l, 0, sizeof *l);
	memset(img, 0, sizeof *img);
	l->mem_base = l->image_lo = PROBE_BASE;
	l->image_hi = PROBE_BASE + HL_PAGE_SIZE;
	l->entry = PROBE_BASE;
	l->boot_info = l->image_hi;
	l->stack_guard = l->boot_info + HL_PAGE_SIZE;
	l->stack = l->stack_guard + HL_PAGE_SIZE;
	l->stack_size = HL_PAGE_SIZE;
	l->ist = l->stack + l->stack_size;
	l->ist_size = HL_IST_COUNT * (HL_PAGE_SIZE + HL_IST_SIZE);
	l->pt = l->ist + l->ist_size;
	l->pt_size = PROBE_PT_PAGES * HL_PAGE_SIZE;
	l->mem_size = l->pt + l->pt_size - l->mem_base;
	img->nsegs = 1;
	img->segs[0].vaddr = PROBE_BASE;
	img->segs[0].memsz = sizeof probe_code;
	img->segs[0].flags = PF_R | PF_X;
	img->lo = l->image_lo;
	img->hi = l->image_hi;
	img->entry = l->entry;
}

/* Runs the probe guest: 0 when it answered right (and, with `measure`,
 * exit_us is filled), -1 with info->reason saying what happened. */
static int run_probe(hl_platform_info *info, struct hl_vm *vm, bool measure)
{
	struct hl_errbuf eb = {{0}};
	struct hl_exit x;
	do {
		if (hl__backend.run(vm, &x, &eb) < 0) {
			snprintf(info->reason, sizeof info->reason, "%s", eb.msg);
			return -1;
		}
	} while (x.kind == HL_EXIT_INTR);
	if (x.kind == HL_EXIT_FAIL) {
		char why[400];
		hl__backend.explain_fail(vm, &x, why, sizeof why);
		snprintf(info->reason, sizeof info->reason,
		         "%s could not run the probe guest's SSE code: %s", info->name, why);
		return -1;
	}
	if (x.kind != HL_EXIT_OUT || x.port != PROBE_PORT_ANSWER || x.value != PROBE_ANSWER) {
		snprintf(info->reason, sizeof info->reason,
		         "the probe guest did not answer as expected (exit kind %d, port 0x%x, value %u; expected port 0x%x, value %d)",
		         (int)x.kind, x.port, x.value, PROBE_PORT_ANSWER, PROBE_ANSWER);
		return -1;
	}
	if (!measure)
		return 0;
	double *samples = hl__malloc(PROBE_ROUND_TRIPS * sizeof *samples);
	if (!samples) {
		snprintf(info->reason, sizeof info->reason, "out of memory for the exit timings");
		return -1;
	}
	int n = 0;
	while (n < PROBE_ROUND_TRIPS) {
		double t0 = timing_now_us();
		if (hl__backend.run(vm, &x, &eb) < 0) {
			snprintf(info->reason, sizeof info->reason, "%s", eb.msg);
			hl__free(samples);
			return -1;
		}
		if (x.kind == HL_EXIT_INTR)
			continue;
		if (x.kind != HL_EXIT_OUT || x.port != PROBE_PORT_LOOP) {
			snprintf(info->reason, sizeof info->reason,
			         "the probe guest left its loop (exit kind %d, port 0x%x)",
			         (int)x.kind, x.port);
			hl__free(samples);
			return -1;
		}
		samples[n++] = timing_now_us() - t0;
	}
	info->exit_us = timing_median(samples, n);
	hl__free(samples);
	return 0;
}

int hl_platform_probe(hl_platform_info *info, unsigned flags)
{
	if (!info || info->size < sizeof *info || (flags & ~HL_PROBE_MEASURE))
		return HL_E_INVAL;
	size_t size = info->size;
	memset(info, 0, sizeof *info);
	info->size = size;
	info->kind = HL_PLATFORM_NONE;
	info->name = "none";
	info->mode = "none";

	struct hl_errbuf eb = {{0}};
	struct hl_vm *vm = NULL;
	if (hl__backend.create(&vm, 0, &eb) < 0) {
		snprintf(info->reason, sizeof info->reason,
		         "%s; guests need a usable /dev/kvm (load kvm_intel, kvm_amd or kvm_pvm, or run inside a VM that has one: tests/vm/run-in-vm.sh)",
		         eb.msg);
		return 0;
	}
	struct hl_backend_info bk;
	hl__backend.info(vm, &bk);
	describe(info, &bk);

	struct hl__layout l;
	struct hl_elf_image img;
	probe_layout(&l, &img);
	uint8_t *mem = hl__mmap(NULL, l.mem_size, PROT_READ | PROT_WRITE,
	                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		snprintf(info->reason, sizeof info->reason,
		         "cannot map the probe guest's memory: %s", strerror(errno));
		hl__backend.destroy(vm);
		return 0;
	}
	memcpy(mem, probe_code, sizeof probe_code);
	hl__layout_page_tables(&l, &img, &bk, mem);
	struct hl_boot_regs br = {.rip = l.entry, .rsp = l.stack + l.stack_size, .cr3 = l.pt};
	if (hl__backend.map_memory(vm, l.mem_base, mem, l.mem_size, &eb) < 0 ||
	    hl__backend.set_boot_regs(vm, &br, &eb) < 0)
		snprintf(info->reason, sizeof info->reason, "%s", eb.msg);
	else if (run_probe(info, vm, flags & HL_PROBE_MEASURE) == 0)
		info->can_run = info->native = true;
	hl__backend.destroy(vm);
	munmap(mem, l.mem_size);
	if (!info->can_run && bk.platform == HL_PLATFORM_KVM_PVM)
		info->mode = "emulated CPL 0 (no SSE): guests cannot run";
	return 0;
}
