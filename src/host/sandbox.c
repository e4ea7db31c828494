/*
 * sandbox.c - the life of a sandbox: create, load, register, init, reset, free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "elf.h"
#include "internal.h"

#define KiB 1024ull
#define MiB (1024ull * 1024ull)
#define PIE_BASE 0x200000ull
#define MAX_IMAGE_SPAN (256ull * MiB)
#define MAX_FILE (256ull * MiB)

/* ---- configuration ------------------------------------------------------ */

void hl_config_init(hl_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof *cfg);
	cfg->size = sizeof *cfg;
	cfg->heap_size = 128 * KiB;
	cfg->stack_size = 64 * KiB;
	cfg->input_size = 16 * KiB;
	cfg->output_size = 16 * KiB;
	cfg->max_log_level = HL_LOG_WARN;
}

static int check_range(hl_sandbox *sb, const char *name, uint64_t v, uint64_t lo, uint64_t hi)
{
	if (v < lo || v > hi)
		return hl__fail(sb, HL_E_CONFIG,
		                "config: %s = %llu bytes is out of range [%llu KiB, %llu MiB]",
		                name, (unsigned long long)v, (unsigned long long)(lo / KiB),
		                (unsigned long long)(hi / MiB));
	return 0;
}

static int check_config(hl_sandbox *sb)
{
	const hl_config *c = &sb->cfg;
	int r;
	if ((r = check_range(sb, "heap_size", c->heap_size, 16 * KiB, 768 * MiB)) ||
	    (r = check_range(sb, "stack_size", c->stack_size, 16 * KiB, 64 * MiB)) ||
	    (r = check_range(sb, "input_size", c->input_size, 4 * KiB, 64 * MiB)) ||
	    (r = check_range(sb, "output_size", c->output_size, 4 * KiB, 64 * MiB)))
		return r;
	if (c->max_log_level > HL_LOG_TRACE)
		return hl__fail(sb, HL_E_CONFIG,
		                "config: max_log_level = %u, the highest is %d (trace)",
		                c->max_log_level, HL_LOG_TRACE);
	if (c->flags & ~(HL_CONFIG_DEBUG | HL_CONFIG_CORE_DUMP | HL_CONFIG_VERIFY_RESTORE |
	                 HL_CONFIG_MSR_FILTER))
		return hl__fail(sb, HL_E_CONFIG, "config: unknown flags 0x%x",
		                c->flags & ~(HL_CONFIG_DEBUG | HL_CONFIG_CORE_DUMP |
		                             HL_CONFIG_VERIFY_RESTORE | HL_CONFIG_MSR_FILTER));
	return hl__check_signal(sb);
}

/* ---- create / free --------------------------------------------------------- */

int hl_sandbox_new(const hl_config *cfg, hl_sandbox **out)
{
	if (!out)
		return HL_E_INVAL;
	*out = NULL;
	/* 1.0 configurations end before interrupt_signal: still accepted. */
	if (cfg && cfg->size != sizeof(hl_config) &&
	    cfg->size != offsetof(hl_config, interrupt_signal))
		return HL_E_INVAL;
	hl_sandbox *sb = hl__calloc(1, sizeof *sb);
	if (!sb)
		return HL_E_NOMEM;
	hl_config_init(&sb->cfg);
	if (cfg) {
		memcpy(&sb->cfg, cfg, cfg->size);
		sb->cfg.size = sizeof sb->cfg;
	}
	const char *v = getenv("HYPERLIGHT_VERIFY_RESTORE");
	sb->verify_restore = (sb->cfg.flags & HL_CONFIG_VERIFY_RESTORE) ||
	                     (v && *v && strcmp(v, "0") != 0);
	if (hl__intr_create(sb) < 0) {
		hl__free(sb);
		return HL_E_NOMEM;
	}
	sb->state = HL__EMPTY;
	*out = sb;
	return 0;
}

int hl_sandbox_new_from_snapshot(hl_snapshot *snap, const hl_config *cfg, hl_sandbox **out)
{
	if (!out)
		return HL_E_INVAL;
	*out = NULL;
	if (!snap)
		return HL_E_INVAL;
	hl_config c;
	int r = hl__snapshot_config(snap, cfg, &c);
	if (r < 0)
		return r;
	hl_sandbox *sb;
	if ((r = hl_sandbox_new(&c, &sb)) < 0)
		return r;
	if ((r = hl__check_signal(sb)) < 0 || (r = hl__snapshot_adopt(sb, snap)) < 0) {
		hl_sandbox_free(sb);
		return r;
	}
	*out = sb;
	return 0;
}

/* Releases the VM and memory; the sandbox returns to HL__EMPTY. */
static void unload(hl_sandbox *sb)
{
	if (sb->debugger)
		sb->debugger->close(sb);
	hl__intr_forget_vm(sb);
	hl__backend.destroy(sb->vm);
	sb->vm = NULL;
	if (sb->mem)
		munmap(sb->mem, sb->lay.mem_size);
	sb->mem = NULL;
	hl__snapshot_release(sb);
	hl__free(sb->scratch);
	sb->scratch = NULL;
	hl__free(sb->result_buf);
	sb->result_buf = NULL;
	for (size_t i = 0; i < sb->n_guest_fns; i++)
		hl__free(sb->guest_fns[i].name);
	hl__free(sb->guest_fns);
	sb->guest_fns = NULL;
	sb->n_guest_fns = 0;
	sb->state = HL__EMPTY;
	sb->poisoned = false;
}

void hl_sandbox_free(hl_sandbox *sb)
{
	if (!sb)
		return;
	hl__intr_detach(sb); /* before the VM goes: cancels answer HL_E_STATE from here on */
	unload(sb);
	for (size_t i = 0; i < sb->n_host_fns; i++)
		hl__free(sb->host_fns[i].name);
	hl__free(sb->host_fns);
	hl__free(sb);
}

/* ---- load ------------------------------------------------------------------ */

int hl_sandbox_load_file(hl_sandbox *sb, const char *path)
{
	if (!sb)
		return HL_E_INVAL;
	hl__clear_error(sb);
	if (!path)
		return hl__fail(sb, HL_E_INVAL, "hl_sandbox_load_file: path is NULL");
	if (sb->state != HL__EMPTY)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_load_file: a guest is loaded already");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hl__fail(sb, HL_E_IO, "cannot open guest '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return hl__fail(sb, HL_E_IO, "guest '%s' is not a regular file", path);
	}
	if ((uint64_t)st.st_size > MAX_FILE) {
		close(fd);
		return hl__fail(sb, HL_E_ELF,
		                "guest '%s' is %lld bytes, larger than the %llu MiB limit", path,
		                (long long)st.st_size, MAX_FILE / MiB);
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = hl__malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		return hl__fail(sb, HL_E_NOMEM, "out of memory reading guest '%s'", path);
	}
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			hl__free(buf);
			close(fd);
			return hl__fail(sb, HL_E_IO, "reading guest '%s': %s", path, strerror(e));
		}
		got += (size_t)n;
	}
	close(fd);
	int r = hl_sandbox_load_image(sb, buf, len);
	hl__free(buf);
	if (r < 0)
		hl__prefix_error(sb, path); /* name the file in front of the loader's message */
	return r;
}

static void write_boot_info(hl_sandbox *sb)
{
	const struct hl__layout *l = &sb->lay;
	struct hl_boot_info bi;
	memset(&bi, 0, sizeof bi);
	bi.magic = HL_BOOT_MAGIC;
	bi.abi_version = HL_ABI_VERSION;
	bi.max_log_level = sb->cfg.max_log_level;
	bi.mem_base = l->mem_base;
	bi.mem_size = l->mem_size;
	bi.input_addr = l->input;
	bi.input_size = l->input_size;
	bi.output_addr = l->output;
	bi.output_size = l->output_size;
	bi.heap_addr = l->heap;
	bi.heap_size = l->heap_size;
	bi.stack_addr = l->stack;
	bi.stack_size = l->stack_size;
	bi.ist_addr = l->ist;
	bi.ist_size = l->ist_size;
	bi.tsc_khz = hl__backend.tsc_khz(sb->vm);
	bi.platform = sb->bk.boot_platform;
	bi.flags = sb->bk.boot_flags;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	bi.boot_realtime_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (getrandom(bi.random, sizeof bi.random, 0) != (ssize_t)sizeof bi.random)
		bi.random[0] = bi.boot_realtime_ns ^ (uint64_t)(uintptr_t)sb;
	memcpy(sb->mem + (l->boot_info - l->mem_base), &bi, sizeof bi);
}

int hl_sandbox_load_image(hl_sandbox *sb, const void *image, size_t len)
{
	if (!sb)
		return HL_E_INVAL;
	hl__clear_error(sb);
	if (!image)
		return hl__fail(sb, HL_E_INVAL, "hl_sandbox_load_image: image is NULL");
	if (sb->state != HL__EMPTY)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_load_image: a guest is loaded already");
	int r = check_config(sb);
	if (r < 0)
		return r;

	/* FNV-1a over the image: snapshots are restored only into sandboxes
	 * loaded from the same bytes. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ ((const uint8_t *)image)[i]) * 0x100000001b3ull;
	sb->image_hash = h;

	struct hl_elf_image img;
	r = hl__elf_parse(image, len, PIE_BASE, MAX_IMAGE_SPAN, &img, sb->errmsg, sizeof sb->errmsg);
	if (r < 0)
		return r;
	r = hl__layout_compute(sb, img.lo, img.hi, img.entry, &sb->lay);
	if (r < 0)
		return r;
	const struct hl__layout *l = &sb->lay;

	/* MAP_NORESERVE: pages the guest never touches cost nothing. */
	void *mem = hl__mmap(NULL, l->mem_size, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return hl__fail(sb, HL_E_NOMEM, "cannot map %llu KiB of guest memory: %s",
		                (unsigned long long)(l->mem_size / KiB), strerror(errno));
	sb->mem = mem;
	sb->scratch = hl__malloc(l->output_size + 1);
	sb->result_buf = hl__malloc(l->output_size + 1);
	if (!sb->scratch || !sb->result_buf) {
		unload(sb);
		return hl__fail(sb, HL_E_NOMEM, "out of memory for the sandbox's buffers");
	}
	r = hl__elf_load(&img, image, len, sb->mem, l->mem_base, l->mem_size, sb->errmsg,
	                 sizeof sb->errmsg);
	if (r < 0) {
		unload(sb);
		return r;
	}
	struct hl_errbuf eb = {{0}};
	if (hl__backend.create(&sb->vm, hl__backend_flags(sb), &eb) < 0) {
		unload(sb);
		return hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
	}
	hl__backend.info(sb->vm, &sb->bk);
	if (sb->bk.data_va && sb->bk.data_va + HL_PAGE_SIZE > l->mem_base) {
		unload(sb);
		return hl__fail(sb, HL_E_ELF,
		                "the guest image starts at 0x%llx; on %s guest memory must start at or above 0x%llx",
		                (unsigned long long)l->mem_base, sb->bk.name,
		                (unsigned long long)(sb->bk.data_va + HL_PAGE_SIZE));
	}
	hl__layout_page_tables(l, &img, &sb->bk, sb->mem);
	write_boot_info(sb);
	struct hl_boot_regs br = {
		.rip = l->entry,
		.rsp = l->stack + l->stack_size,
		.rdi = l->boot_info,
		.cr3 = l->pt,
	};
	if (hl__backend.map_memory(sb->vm, l->mem_base, sb->mem, l->mem_size, &eb) < 0 ||
	    hl__backend.set_boot_regs(sb->vm, &br, &eb) < 0) {
		unload(sb);
		return hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
	}
	sb->state = HL__LOADED;
	if (sb->cfg.flags & HL_CONFIG_DEBUG)
		hl__debug_dump(sb, "entry");
	return 0;
}

/* ---- host functions ---------------------------------------------------------- */

bool hl__valid_name(const char *name, size_t n)
{
	if (n == 0 || n > HL_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

int hl_sandbox_register(hl_sandbox *sb, const char *name, hl_type ret, const hl_type *params,
                        size_t nparams, hl_host_fn fn, void *user)
{
	if (!sb)
		return HL_E_INVAL;
	hl__clear_error(sb);
	if (!name || !fn || (nparams && !params))
		return hl__fail(sb, HL_E_INVAL, "hl_sandbox_register: %s is NULL",
		                !name ? "name"
		                : !fn ? "fn"
		                      : "params");
	if (sb->in_call)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_register('%s'): not during a call",
		                name);
	if ((sb->state == HL__READY && !(sb->from_snapshot && !sb->called)) ||
	    sb->state == HL__BROKEN)
		return hl__fail(sb, HL_E_STATE,
		                "hl_sandbox_register('%s'): host functions must be registered before hl_sandbox_init",
		                name);
	size_t n = strlen(name);
	if (!hl__valid_name(name, n))
		return hl__fail(sb, HL_E_INVAL,
		                "hl_sandbox_register: name '%.80s' must be 1..%u characters of [A-Za-z0-9_.]",
		                name, HL_MAX_NAME);
	if ((unsigned)ret >= HL_TYPE__COUNT)
		return hl__fail(sb, HL_E_INVAL,
		                "hl_sandbox_register('%s'): return type %d is not a type", name,
		                (int)ret);
	if (nparams > HL_MAX_PARAMS)
		return hl__fail(sb, HL_E_INVAL,
		                "hl_sandbox_register('%s'): %zu parameters, at most %u", name,
		                nparams, HL_MAX_PARAMS);
	for (size_t i = 0; i < nparams; i++)
		if (params[i] == HL_TYPE_VOID || (unsigned)params[i] >= HL_TYPE__COUNT)
			return hl__fail(sb, HL_E_INVAL,
			                "hl_sandbox_register('%s'): parameter %zu has invalid type %d",
			                name, i, (int)params[i]);
	for (size_t i = 0; i < sb->n_host_fns; i++)
		if (strcmp(sb->host_fns[i].name, name) == 0)
			return hl__fail(sb, HL_E_EXISTS, "host function '%s' is registered already",
			                name);
	if (sb->n_host_fns == sb->cap_host_fns) {
		size_t cap = sb->cap_host_fns ? sb->cap_host_fns * 2 : 8;
		struct hl__host_fn *a = hl__realloc(sb->host_fns, cap * sizeof *a);
		if (!a)
			return hl__fail(sb, HL_E_NOMEM, "out of memory registering '%s'", name);
		sb->host_fns = a;
		sb->cap_host_fns = cap;
	}
	struct hl__host_fn *h = &sb->host_fns[sb->n_host_fns];
	memset(h, 0, sizeof *h);
	h->name = hl__strdup(name);
	if (!h->name)
		return hl__fail(sb, HL_E_NOMEM, "out of memory registering '%s'", name);
	h->name_len = n;
	h->ret = ret;
	h->nparams = (uint8_t)nparams;
	for (size_t i = 0; i < nparams; i++)
		h->params[i] = params[i];
	h->fn = fn;
	h->user = user;
	sb->n_host_fns++;
	return 0;
}

int hl_sandbox_set_print(hl_sandbox *sb, hl_print_fn fn, void *user)
{
	if (!sb)
		return HL_E_INVAL;
	if (sb->in_call)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_set_print: not during a call");
	sb->print_fn = fn;
	sb->print_user = user;
	return 0;
}

int hl_sandbox_set_log(hl_sandbox *sb, hl_log_fn fn, void *user)
{
	if (!sb)
		return HL_E_INVAL;
	if (sb->in_call)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_set_log: not during a call");
	sb->log_fn = fn;
	sb->log_user = user;
	return 0;
}

/* ---- init ---------------------------------------------------------------------- */

/* Reads the function table the guest sent at the end of main(). */
static int parse_func_table(hl_sandbox *sb, uint32_t off)
{
	struct hl_func_table t;
	uint64_t osz = sb->lay.output_size;
	if (!hl__out_copy(sb, off, sizeof t, &t))
		return hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
		                      "guest function table at offset %u is outside the output buffer",
		                      off);
	if (t.magic != HL_FUNC_TABLE_MAGIC)
		return hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
		                      "guest function table: bad magic 0x%08x", t.magic);
	if (t.count > HL_MAX_FUNCTIONS)
		return hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
		                      "guest function table: %u functions, at most %u", t.count,
		                      HL_MAX_FUNCTIONS);
	uint64_t need = sizeof t + (uint64_t)t.count * sizeof(struct hl_func_desc);
	if (t.total_len < need || !hl__in_range(off, t.total_len, osz))
		return hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
		                      "guest function table: length %u does not fit (needs %llu, buffer %llu)",
		                      t.total_len, (unsigned long long)need,
		                      (unsigned long long)osz);
	uint8_t *rec = sb->scratch;
	hl__out_copy(sb, off, t.total_len, rec);
	struct hl__guest_fn *fns = hl__calloc(t.count ? t.count : 1, sizeof *fns);
	if (!fns)
		return hl__fail(sb, HL_E_NOMEM, "out of memory for the guest function table");
	int r = 0;
	for (uint32_t i = 0; i < t.count; i++) {
		struct hl_func_desc d;
		memcpy(&d, rec + sizeof t + (size_t)i * sizeof d, sizeof d);
		const char *nm = (const char *)rec + d.name_off;
		if (!hl__in_range(d.name_off, d.name_len, t.total_len) ||
		    !hl__valid_name(nm, d.name_len)) {
			r = hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
			                   "guest function table: function %u has an invalid name",
			                   i);
			break;
		}
		if (d.ret >= HL_TYPE__COUNT || d.nparams > HL_MAX_PARAMS) {
			r = hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
			                   "guest function table: '%.*s' has return type %u, %u parameters",
			                   (int)d.name_len, nm, d.ret, d.nparams);
			break;
		}
		fns[i].ret = (hl_type)d.ret;
		fns[i].nparams = d.nparams;
		for (unsigned p = 0; p < d.nparams; p++) {
			if (d.params[p] == HL_TYPE_VOID || d.params[p] >= HL_TYPE__COUNT) {
				r = hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
				                   "guest function table: '%.*s' parameter %u has type %u",
				                   (int)d.name_len, nm, p, d.params[p]);
				break;
			}
			fns[i].params[p] = (hl_type)d.params[p];
		}
		if (r < 0)
			break;
		fns[i].name = hl__strndup(nm, d.name_len);
		if (!fns[i].name) {
			r = hl__fail(sb, HL_E_NOMEM, "out of memory for the guest function table");
			break;
		}
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(fns[j].name, fns[i].name) == 0) {
				r = hl__guest_fail(sb, HL_E_GUEST_PROTOCOL,
				                   "guest function table: '%s' registered twice",
				                   fns[i].name);
				break;
			}
		if (r < 0)
			break;
	}
	if (r < 0) {
		for (uint32_t i = 0; i < t.count; i++)
			hl__free(fns[i].name);
		hl__free(fns);
		return r;
	}
	sb->guest_fns = fns;
	sb->n_guest_fns = t.count;
	return 0;
}

int hl_sandbox_init(hl_sandbox *sb)
{
	if (!sb)
		return HL_E_INVAL;
	hl__clear_error(sb);
	if (sb->state != HL__LOADED)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_init: %s",
		                sb->state == HL__EMPTY   ? "no guest loaded"
		                : sb->state == HL__READY ? "already initialised"
		                                         : "an earlier init failed");
	sb->in_result_off = 0; /* host-call results during main() go to offset 0 */
	sb->in_call = true;
	hl__call_begin(sb);
	uint32_t off = 0;
	int r = hl__run_until_done(sb, &off);
	hl__call_end(sb);
	sb->in_call = false;
	if (r == 0)
		r = parse_func_table(sb, off);
	if (r == 0)
		r = hl__snapshot_after_init(sb); /* what reset returns to */
	if (r < 0) {
		hl__prefix_error(sb, "hl_sandbox_init: guest main() failed");
		sb->state = HL__BROKEN;
		return r;
	}
	sb->state = HL__READY;
	return 0;
}

bool hl_sandbox_poisoned(const hl_sandbox *sb)
{
	return sb && (sb->poisoned || sb->state == HL__BROKEN);
}

int hl_sandbox_last_fault(const hl_sandbox *sb, hl_fault *out)
{
	if (!sb || !out)
		return HL_E_INVAL;
	*out = sb->fault;
	return 0;
}

int hl_sandbox_guest_code(const hl_sandbox *sb)
{
	return sb ? sb->guest_code : 0;
}

size_t hl_function_count(const hl_sandbox *sb)
{
	return sb ? sb->n_guest_fns : 0;
}

int hl_function_get(const hl_sandbox *sb, size_t index, hl_function_info *out)
{
	if (!sb || !out || index >= sb->n_guest_fns)
		return HL_E_INVAL;
	const struct hl__guest_fn *f = &sb->guest_fns[index];
	out->name = f->name;
	out->ret = f->ret;
	out->nparams = f->nparams;
	out->params = f->params;
	return 0;
}

int hl_sandbox_layout(const hl_sandbox *sb, hl_layout *out)
{
	if (!sb || !out)
		return HL_E_INVAL;
	if (sb->state == HL__EMPTY)
		return HL_E_STATE;
	const struct hl__layout *l = &sb->lay;
	*out = (hl_layout){
		.mem_base = l->mem_base,
		.mem_size = l->mem_size,
		.image_base = l->image_lo,
		.image_size = l->image_hi - l->image_lo,
		.entry = l->entry,
		.boot_info = l->boot_info,
		.page_tables = l->pt,
		.page_tables_size = l->pt_size,
		.input = l->input,
		.input_size = l->input_size,
		.output = l->output,
		.output_size = l->output_size,
		.heap = l->heap,
		.heap_size = l->heap_size,
		.stack = l->stack,
		.stack_size = l->stack_size,
		.ist = l->ist,
		.ist_size = l->ist_size,
	};
	return 0;
}
