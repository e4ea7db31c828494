/*
 * snapshot.c - snapshots of guest memory and vCPU state, restore, and
 * sandboxes made from a snapshot.
 *
 * Memory: a snapshot's memory is a sealed memfd. A sandbox maps the
 * snapshot it runs on ("base") MAP_PRIVATE over the same host address that
 * the KVM memory slot points at, so pages the guest never writes stay the
 * snapshot's page-cache pages, shared by every sandbox on that snapshot.
 * The slot has dirty-page logging on from its creation; a restore to the
 * base reads the log (one ioctl), adds the input-buffer pages the host
 * wrote, and copies the snapshot's bytes back into exactly those pages
 * (copy_back): they stay mapped, so the next request does not fault on
 * them. Restoring to another
 * snapshot replaces the mapping (mmap MAP_FIXED at the same address); KVM
 * follows the host mapping through its MMU notifier, so the memory slot is
 * never changed. docs/performance.md has the measurements behind this.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

struct hl_snapshot {
	atomic_long refs;
	int fd;             /* sealed memfd with the memory */
	const uint8_t *map; /* the memfd mapped read-only: copy source of restores */
	uint64_t bytes;     /* data the memfd holds */
	struct hl__layout lay;
	hl_config cfg;
	uint64_t image_hash;
	struct hl_vcpu_state *vcpu;
	struct hl__guest_fn *guest_fns;
	size_t n_guest_fns;
	struct hl__host_fn *host_fns;
	size_t n_host_fns;
};

#define PAGE 4096ull

struct hl_snapshot *hl__snapshot_ref(struct hl_snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void hl__snapshot_unref(struct hl_snapshot *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (s->map)
		munmap((void *)(uintptr_t)s->map, s->lay.mem_size);
	if (s->fd >= 0)
		close(s->fd);
	if (s->vcpu)
		hl__backend.free_state(s->vcpu);
	for (size_t i = 0; i < s->n_guest_fns; i++)
		hl__free(s->guest_fns[i].name);
	hl__free(s->guest_fns);
	for (size_t i = 0; i < s->n_host_fns; i++)
		hl__free(s->host_fns[i].name);
	hl__free(s->host_fns);
	hl__free(s);
}

void hl_snapshot_free(hl_snapshot *snap)
{
	hl__snapshot_unref(snap);
}

uint64_t hl_snapshot_size(const hl_snapshot *snap)
{
	return snap ? snap->bytes : 0;
}

/* Copies an array of n structs of `size` bytes whose `char *` member at
 * `name_off` is owned: the copy gets its own names. Serves both function
 * tables (struct hl__guest_fn and struct hl__host_fn). */
static void *dup_named(const void *src, size_t n, size_t size, size_t name_off)
{
	unsigned char *d = hl__calloc(n ? n : 1, size);
	if (!d)
		return NULL;
	if (n)
		memcpy(d, src, n * size);
	for (size_t i = 0; i < n; i++) {
		char **name = (char **)(void *)(d + i * size + name_off);
		if (!(*name = hl__strdup(*name))) {
			while (i--)
				hl__free(*(char **)(void *)(d + i * size + name_off));
			hl__free(d);
			return NULL;
		}
	}
	return d;
}

static int dup_guest_fns(const struct hl__guest_fn *src, size_t n, struct hl__guest_fn **out)
{
	*out = dup_named(src, n, sizeof *src, offsetof(struct hl__guest_fn, name));
	return *out ? 0 : -1;
}

static int dup_host_fns(const struct hl__host_fn *src, size_t n, struct hl__host_fn **out)
{
	*out = dup_named(src, n, sizeof *src, offsetof(struct hl__host_fn, name));
	return *out ? 0 : -1;
}

/* ---- dirty pages --------------------------------------------------------------- */

static void mark_range(uint64_t *bm, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n; p++)
		bm[p / 64] |= 1ull << (p % 64);
}

/*
 * Hot pages. The slot's dirty log write-protects a page until the guest
 * writes it; on kvm-pvm that first write costs a fault of ~10 us, under
 * nested virtualisation several, per page per request, where copying a
 * page back costs a fraction of a microsecond. So pages that requests keep
 * writing (the stack's top, the buffers, the runtime's globals) are left
 * unprotected ("hot": backends with manual protection, see protect_pages)
 * and copied back at every restore whether or not they were written. A hot
 * page found equal to the snapshot at HOT_AGE restores in a row is
 * protected again; at most HL__HOT_MAX pages are hot at once.
 */
#define HOT_AGE 4

static bool test_bit(const uint64_t *bm, uint64_t p)
{
	return bm[p / 64] >> (p % 64) & 1;
}

static void set_bit(uint64_t *bm, uint64_t p)
{
	bm[p / 64] |= 1ull << (p % 64);
}

/* Merges the hypervisor's log and the host's own input-buffer writes into
 * sb->dirty; sb->dirty_tmp keeps the log alone (pages newly written). */
static int collect_dirty(hl_sandbox *sb)
{
	struct hl_errbuf eb = {{0}};
	if (hl__backend.get_dirty_log(sb->vm, sb->dirty_tmp, &eb) < 0)
		return hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
	for (size_t i = 0; i < sb->dirty_words; i++)
		sb->dirty[i] |= sb->dirty_tmp[i];
	if (sb->in_dirty_hi) {
		uint64_t off = sb->lay.input - sb->lay.mem_base;
		mark_range(sb->dirty, off / PAGE, (sb->in_dirty_hi + PAGE - 1) / PAGE);
		sb->in_dirty_hi = 0;
	}
	return 0;
}

/* Protects again the pages set in sb->protect (and clears it), if any. */
static int protect(hl_sandbox *sb, bool any)
{
	if (!any)
		return 0;
	struct hl_errbuf eb = {{0}};
	int r = hl__backend.protect_pages(sb->vm, sb->protect, &eb);
	memset(sb->protect, 0, sb->dirty_words * sizeof *sb->protect);
	return r < 0 ? hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg) : 0;
}

/* Forgets every dirty page (memory matches base again); pages the log
 * reported are protected again unless hot. */
static int clear_dirty(hl_sandbox *sb)
{
	struct hl_errbuf eb = {{0}};
	if (hl__backend.get_dirty_log(sb->vm, sb->dirty_tmp, &eb) < 0)
		return hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
	for (size_t i = 0; i < sb->nhot; i++)
		sb->dirty_tmp[sb->hot[i].page / 64] &= ~(1ull << (sb->hot[i].page % 64));
	bool any = false;
	for (size_t i = 0; i < sb->dirty_words; i++) {
		sb->protect[i] = sb->dirty_tmp[i];
		any |= sb->dirty_tmp[i] != 0;
	}
	memset(sb->dirty, 0, sb->dirty_words * sizeof *sb->dirty);
	sb->in_dirty_hi = 0;
	return protect(sb, any);
}

/*
 * Puts the base snapshot's bytes back into pages [p, p+n). The pages stay
 * mapped: the guest's next access finds them without a fault, where
 * dropping them (MADV_DONTNEED) would cost an EPT violation and a host page
 * fault per page on the next access, each several microseconds under
 * nested virtualisation. docs/performance.md compares the two.
 */
static void copy_back(hl_sandbox *sb, uint64_t p, uint64_t n)
{
	memcpy(sb->mem + p * PAGE, sb->base->map + p * PAGE, n * PAGE);
}

/* Ages the hot pages: one the guest wrote (it differs from the snapshot)
 * is marked dirty; one left alone HOT_AGE times is protected again. */
static bool age_hot(hl_sandbox *sb)
{
	bool any = false;
	for (size_t i = 0; i < sb->nhot;) {
		uint64_t p = sb->hot[i].page;
		if (test_bit(sb->dirty, p) ||
		    memcmp(sb->mem + p * PAGE, sb->base->map + p * PAGE, PAGE) != 0) {
			set_bit(sb->dirty, p);
			sb->hot[i++].age = 0;
		} else if (++sb->hot[i].age >= HOT_AGE) {
			set_bit(sb->protect, p);
			any = true;
			sb->hot[i] = sb->hot[--sb->nhot];
		} else {
			i++;
		}
	}
	return any;
}

/* Pages the log reports were written while protected: hot from now on,
 * while there is room, else protected again. */
static bool promote(hl_sandbox *sb)
{
	bool any = false;
	for (size_t w = 0; w < sb->dirty_words; w++) {
		uint64_t bits = sb->dirty_tmp[w];
		while (bits) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			bool hot = false;
			for (size_t i = 0; i < sb->nhot && !hot; i++)
				hot = sb->hot[i].page == p;
			if (hot) /* logged again: the backend protects on read */
				continue;
			if (sb->nhot < HL__HOT_MAX) {
				sb->hot[sb->nhot].page = (uint32_t)p;
				sb->hot[sb->nhot++].age = 0;
			} else {
				set_bit(sb->protect, p);
				any = true;
			}
		}
	}
	return any;
}

/* Puts every dirty page back to the base's content. */
static int restore_dirty(hl_sandbox *sb)
{
	int r = collect_dirty(sb);
	if (r < 0)
		return r;
	bool any = age_hot(sb);
	any |= promote(sb);
	uint64_t npages = sb->lay.mem_size / PAGE;
	for (size_t w = 0; w < sb->dirty_words; w++) {
		uint64_t bits = sb->dirty[w];
		while (bits) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
			/* extend the run across set bits, possibly into next words */
			uint64_t q = p;
			while (q + 1 < npages && test_bit(sb->dirty, q + 1))
				q++;
			copy_back(sb, p, q - p + 1);
			for (uint64_t k = p; k <= q; k++)
				sb->dirty[k / 64] &= ~(1ull << (k % 64));
			bits = sb->dirty[w];
		}
	}
	return protect(sb, any);
}

/* Maps `s` MAP_PRIVATE over the sandbox's memory and makes it the base. */
static int rebase(hl_sandbox *sb, struct hl_snapshot *s)
{
	void *p = hl__mmap(sb->mem, sb->lay.mem_size, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, s->fd, 0);
	if (p == MAP_FAILED)
		return hl__fail(sb, HL_E_NOMEM, "mapping the snapshot: %s", strerror(errno));
	int r = clear_dirty(sb);
	hl__snapshot_ref(s);
	hl__snapshot_unref(sb->base);
	sb->base = s;
	return r;
}

/* ---- taking a snapshot ------------------------------------------------------------ */

/* Copies the sandbox's current memory into a new sealed memfd: only the
 * pages that exist (mincore: the base's data pages and the private copies;
 * never-touched pages stay holes and cost nothing). */
static int copy_memory(hl_sandbox *sb, struct hl_snapshot *s)
{
	uint64_t size = sb->lay.mem_size, npages = size / PAGE;
	s->fd = hl__memfd_create("hyperlight-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->fd < 0)
		return hl__fail(sb, HL_E_NOMEM, "memfd_create: %s", strerror(errno));
	if (ftruncate(s->fd, (off_t)size) < 0)
		return hl__fail(sb, HL_E_NOMEM, "sizing the snapshot memfd: %s", strerror(errno));
	unsigned char *vec = hl__malloc(npages);
	if (!vec)
		return hl__fail(sb, HL_E_NOMEM, "out of memory for the snapshot");
	if (mincore(sb->mem, size, vec) < 0) {
		hl__free(vec);
		return hl__fail(sb, HL_E_NOMEM, "mincore: %s", strerror(errno));
	}
	for (uint64_t p = 0; p < npages;) {
		if (!(vec[p] & 1)) {
			p++;
			continue;
		}
		uint64_t q = p;
		while (q < npages && (vec[q] & 1))
			q++;
		uint64_t off = p * PAGE, len = (q - p) * PAGE, done = 0;
		while (done < len) {
			ssize_t n = pwrite(s->fd, sb->mem + off + done, len - done,
			                   (off_t)(off + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				int e = n < 0 ? errno : EIO;
				hl__free(vec);
				return hl__fail(sb, HL_E_NOMEM, "writing the snapshot: %s",
				                strerror(e));
			}
			done += (uint64_t)n;
		}
		s->bytes += len;
		p = q;
	}
	hl__free(vec);
	/* Sealed: nobody can change a snapshot that sandboxes map privately. */
	if (fcntl(s->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return hl__fail(sb, HL_E_HYPERVISOR, "sealing the snapshot: %s", strerror(errno));
	/* Read-only, shared: the page cache's pages, no copy. */
	void *m = hl__mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_NORESERVE, s->fd, 0);
	if (m == MAP_FAILED)
		return hl__fail(sb, HL_E_NOMEM, "mapping the snapshot: %s", strerror(errno));
	s->map = m;
	return 0;
}

static int take(hl_sandbox *sb, struct hl_snapshot **out)
{
	struct hl_snapshot *s = hl__calloc(1, sizeof *s);
	if (!s)
		return hl__fail(sb, HL_E_NOMEM, "out of memory for a snapshot");
	atomic_init(&s->refs, 1);
	s->fd = -1;
	s->lay = sb->lay;
	s->cfg = sb->cfg;
	s->image_hash = sb->image_hash;
	int r = copy_memory(sb, s);
	struct hl_errbuf eb = {{0}};
	if (r == 0 && hl__backend.save_state(sb->vm, &s->vcpu, &eb) < 0)
		r = hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
	/* Each count is set as soon as its copy exists, so that the unref
	 * below frees the names of a copy made before a later failure. */
	if (r == 0 && dup_guest_fns(sb->guest_fns, sb->n_guest_fns, &s->guest_fns) < 0)
		r = hl__fail(sb, HL_E_NOMEM, "out of memory for a snapshot");
	else if (r == 0)
		s->n_guest_fns = sb->n_guest_fns;
	if (r == 0 && dup_host_fns(sb->host_fns, sb->n_host_fns, &s->host_fns) < 0)
		r = hl__fail(sb, HL_E_NOMEM, "out of memory for a snapshot");
	else if (r == 0)
		s->n_host_fns = sb->n_host_fns;
	if (r < 0) {
		hl__snapshot_unref(s);
		return r;
	}
	/* The sandbox continues on top of the snapshot: its private copies are
	 * freed and a restore to this snapshot puts back only new writes. */
	r = rebase(sb, s);
	if (r < 0) {
		hl__snapshot_unref(s);
		return r;
	}
	*out = s;
	return 0;
}

static int alloc_dirty(hl_sandbox *sb)
{
	sb->dirty_words = (size_t)((sb->lay.mem_size / PAGE + 63) / 64);
	sb->dirty = hl__calloc(sb->dirty_words, sizeof *sb->dirty);
	sb->dirty_tmp = hl__calloc(sb->dirty_words, sizeof *sb->dirty_tmp);
	sb->protect = hl__calloc(sb->dirty_words, sizeof *sb->protect);
	sb->nhot = 0;
	return sb->dirty && sb->dirty_tmp && sb->protect ? 0 : -1;
}

int hl__snapshot_after_init(hl_sandbox *sb)
{
	if (alloc_dirty(sb) < 0)
		return hl__fail(sb, HL_E_NOMEM, "out of memory for the dirty-page bitmap");
	return take(sb, &sb->initial);
}

void hl__snapshot_release(hl_sandbox *sb)
{
	hl__snapshot_unref(sb->base);
	hl__snapshot_unref(sb->initial);
	sb->base = sb->initial = NULL;
	hl__free(sb->dirty);
	hl__free(sb->dirty_tmp);
	hl__free(sb->protect);
	sb->dirty = sb->dirty_tmp = sb->protect = NULL;
	sb->nhot = 0;
	sb->dirty_words = 0;
}

/* What taking and restoring snapshots need: an initialised sandbox, and
 * not from inside one of its host functions. 0, or HL_E_STATE saying which. */
static int check_ready(hl_sandbox *sb, const char *fn)
{
	if (sb->state != HL__READY)
		return hl__fail(sb, HL_E_STATE, "%s: the sandbox was never initialised", fn);
	if (sb->in_call)
		return hl__fail(sb, HL_E_STATE, "%s: not from inside a host function", fn);
	return 0;
}

int hl_sandbox_snapshot(hl_sandbox *sb, hl_snapshot **out)
{
	if (!sb)
		return HL_E_INVAL;
	hl__clear_error(sb);
	if (!out)
		return hl__fail(sb, HL_E_INVAL, "hl_sandbox_snapshot: out is NULL");
	*out = NULL;
	int r = check_ready(sb, "hl_sandbox_snapshot");
	if (r < 0)
		return r;
	if (sb->poisoned)
		return hl__fail(sb, HL_E_POISONED,
		                "hl_sandbox_snapshot: the sandbox is poisoned; restore it first");
	r = take(sb, out);
	if (r == 0)
		sb->stats.snapshots++;
	return r;
}

/* ---- restore ---------------------------------------------------------------------- */

static int check_compatible(hl_sandbox *sb, const struct hl_snapshot *s, const char *who)
{
	if (s->image_hash != sb->image_hash)
		return hl__fail(sb, HL_E_INVAL, "%s: the snapshot is of another guest image", who);
	if (memcmp(&s->lay, &sb->lay, sizeof s->lay) != 0)
		return hl__fail(sb, HL_E_INVAL,
		                "%s: the snapshot has another memory layout (memory %llu KiB, heap %llu KiB; this sandbox: %llu KiB, heap %llu KiB)",
		                who, (unsigned long long)(s->lay.mem_size / 1024),
		                (unsigned long long)(s->lay.heap_size / 1024),
		                (unsigned long long)(sb->lay.mem_size / 1024),
		                (unsigned long long)(sb->lay.heap_size / 1024));
	if (s->cfg.max_log_level != sb->cfg.max_log_level)
		return hl__fail(sb, HL_E_INVAL,
		                "%s: the snapshot has max_log_level %u, this sandbox %u", who,
		                s->cfg.max_log_level, sb->cfg.max_log_level);
	return 0;
}

/*
 * HL_CONFIG_VERIFY_RESTORE: the vCPU state read back from the hypervisor
 * and every byte of guest memory must be the snapshot's. Memory is
 * compared with the snapshot's memfd (past its end, pages are zero).
 */
static int verify_restore(hl_sandbox *sb, const struct hl_snapshot *snap, const char *who)
{
	char diff[320];
	struct hl_errbuf eb = {{0}};
	int v = hl__backend.verify_state(sb->vm, snap->vcpu, diff, sizeof diff, &eb);
	if (v < 0)
		return hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
	if (v > 0)
		return hl__fail(sb, HL_E_HYPERVISOR, "%s: the restore is incomplete: %s", who, diff);
	uint8_t *buf = hl__malloc(64 * PAGE);
	if (!buf)
		return hl__fail(sb, HL_E_NOMEM, "%s: out of memory to verify the restore", who);
	int r = 0;
	for (uint64_t off = 0; off < sb->lay.mem_size && r == 0; off += 64 * PAGE) {
		uint64_t len = sb->lay.mem_size - off < 64 * PAGE ? sb->lay.mem_size - off
		                                                  : 64 * PAGE;
		ssize_t got = pread(snap->fd, buf, len, (off_t)off);
		if (got < 0) {
			r = hl__fail(sb, HL_E_HYPERVISOR, "%s: reading the snapshot: %s", who,
			             strerror(errno));
			break;
		}
		memset(buf + got, 0, len - (uint64_t)got);
		if (memcmp(buf, sb->mem + off, len) != 0) {
			uint64_t p = off;
			while (memcmp(buf + (p - off), sb->mem + p, PAGE) == 0)
				p += PAGE;
			r = hl__fail(sb, HL_E_HYPERVISOR,
			             "%s: the restore is incomplete: guest memory at 0x%llx differs from the snapshot",
			             who, (unsigned long long)(sb->lay.mem_base + p));
		}
	}
	hl__free(buf);
	return r;
}

int hl_sandbox_restore(hl_sandbox *sb, hl_snapshot *snap)
{
	if (!sb)
		return HL_E_INVAL;
	hl__clear_error(sb);
	if (!snap)
		return hl__fail(sb, HL_E_INVAL, "hl_sandbox_restore: snapshot is NULL");
	int r = check_ready(sb, "hl_sandbox_restore");
	if (r == 0)
		r = check_compatible(sb, snap, "hl_sandbox_restore");
	if (r < 0)
		return r;
	/* The exit the vCPU is parked on is finished first: KVM may write
	 * guest memory to finish it (a string IN), and the memory restore
	 * below must see and undo that write. */
	struct hl_errbuf eb = {{0}};
	if (hl__backend.complete_exit(sb->vm, &eb) < 0)
		r = hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
	if (r == 0 && !(snap == sb->base && (hl__test_restore_skip & HL__TEST_SKIP_MEMORY)))
		r = snap == sb->base ? restore_dirty(sb) : rebase(sb, snap);
	if (r == 0 && hl__backend.restore_state(sb->vm, snap->vcpu, &eb) < 0)
		r = hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
	if (r == 0 && sb->verify_restore)
		r = verify_restore(sb, snap, "hl_sandbox_restore");
	if (r < 0) {
		sb->poisoned = true;
		return r;
	}
	sb->poisoned = false;
	memset(&sb->fault, 0, sizeof sb->fault);
	sb->guest_code = 0;
	sb->stats.restores++;
	return 0;
}

int hl_sandbox_reset(hl_sandbox *sb)
{
	if (!sb)
		return HL_E_INVAL;
	if (sb->state != HL__READY) {
		hl__clear_error(sb);
		return hl__fail(sb, HL_E_STATE,
		                "hl_sandbox_reset: the sandbox was never initialised");
	}
	return hl_sandbox_restore(sb, sb->initial);
}

/* ---- sandboxes from a snapshot ------------------------------------------------------ */

int hl__snapshot_config(const struct hl_snapshot *snap, const hl_config *cfg, hl_config *out)
{
	hl_config c = snap->cfg;
	if (cfg) {
		if (cfg->size != sizeof(hl_config) &&
		    cfg->size != offsetof(hl_config, interrupt_signal))
			return HL_E_INVAL;
		hl_config given;
		hl_config_init(&given);
		memcpy(&given, cfg, cfg->size);
		given.size = sizeof given;
		if (given.heap_size != c.heap_size || given.stack_size != c.stack_size ||
		    given.input_size != c.input_size || given.output_size != c.output_size ||
		    given.max_log_level != c.max_log_level)
			return HL_E_CONFIG;
		c.flags = given.flags;
		c.interrupt_signal = given.interrupt_signal;
		c.call_timeout_ms = given.call_timeout_ms;
	}
	*out = c;
	return 0;
}

int hl__snapshot_adopt(hl_sandbox *sb, struct hl_snapshot *snap)
{
	int r;
	sb->lay = snap->lay;
	sb->image_hash = snap->image_hash;
	const struct hl__layout *l = &sb->lay;
	struct hl_errbuf eb = {{0}};
	void *mem = hl__mmap(NULL, l->mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE,
	                     snap->fd, 0);
	if (mem == MAP_FAILED) {
		r = hl__fail(sb, HL_E_NOMEM, "mapping the snapshot: %s", strerror(errno));
		goto bad;
	}
	sb->mem = mem;
	sb->base = hl__snapshot_ref(snap);
	sb->initial = hl__snapshot_ref(snap);
	sb->scratch = hl__malloc(l->output_size + 1);
	sb->result_buf = hl__malloc(l->output_size + 1);
	if (!sb->scratch || !sb->result_buf || alloc_dirty(sb) < 0 ||
	    dup_guest_fns(snap->guest_fns, snap->n_guest_fns, &sb->guest_fns) < 0) {
		r = hl__fail(sb, HL_E_NOMEM, "out of memory for a sandbox");
		goto bad;
	}
	sb->n_guest_fns = snap->n_guest_fns;
	if (snap->n_host_fns) {
		if (dup_host_fns(snap->host_fns, snap->n_host_fns, &sb->host_fns) < 0) {
			r = hl__fail(sb, HL_E_NOMEM, "out of memory for a sandbox");
			goto bad;
		}
		sb->n_host_fns = sb->cap_host_fns = snap->n_host_fns;
	}
	if (hl__backend.create(&sb->vm, hl__backend_flags(sb), &eb) < 0 ||
	    hl__backend.map_memory(sb->vm, l->mem_base, sb->mem, l->mem_size, &eb) < 0 ||
	    hl__backend.restore_state(sb->vm, snap->vcpu, &eb) < 0) {
		r = hl__fail(sb, HL_E_HYPERVISOR, "%s", eb.msg);
		goto bad;
	}
	if (sb->verify_restore && (r = verify_restore(sb, snap, "hl_sandbox_new_from_snapshot")) < 0)
		goto bad;
	hl__backend.info(sb->vm, &sb->bk);
	sb->from_snapshot = true;
	sb->state = HL__READY;
	return 0;
bad:
	return r;
}
