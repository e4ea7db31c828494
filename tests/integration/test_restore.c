/* test_restore.c - fresh means fresh: state a hostile guest writes (MSRs, CR8, debug registers, x87/SSE control, a pending string IN) is the snapshot's again after a restore, a pool hand-over and hl_call_fresh, and the verifying restore names whatever a restore leaves behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "backend.h" /* hl__test_restore_skip */

/* The three ways a request gets a fresh state. */
enum path { BY_RESTORE, BY_CALL_FRESH, BY_POOL };
static const char *const path_name[] = {"hl_sandbox_restore", "hl_call_fresh", "a pool hand-over"};

struct fresh {
	enum path path;
	hl_sandbox *sb;
	hl_snapshot *snap;
	hl_pool *pool;
};

/* Configuration flags of the sandboxes fresh_open makes (a test may add
 * HL_CONFIG_MSR_FILTER). */
static uint32_t fresh_flags;

static void fresh_open(struct fresh *f, enum path p)
{
	memset(f, 0, sizeof *f);
	f->path = p;
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.flags = fresh_flags;
	hl_sandbox *sb = hlt_open("stateguest", &cfg, NULL);
	assert_int_equal(hl_sandbox_snapshot(sb, &f->snap), 0);
	if (p == BY_POOL) {
		hl_sandbox_free(sb);
		assert_int_equal(hl_pool_new(f->snap, NULL, 1, &f->pool), 0);
		assert_int_equal(hl_pool_acquire(f->pool, 1000, &f->sb), 0);
	} else {
		f->sb = sb;
	}
}

/* Gives the state back (whatever the last call did), then calls fn. */
static int fresh_call(struct fresh *f, const char *fn, const hl_value *a, size_t n, hl_value *r)
{
	switch (f->path) {
	case BY_RESTORE:
		HLT_ASSERT_CODE(f->sb, hl_sandbox_restore(f->sb, f->snap), 0);
		return hl_call(f->sb, fn, a, n, r);
	case BY_CALL_FRESH: return hl_call_fresh(f->sb, f->snap, fn, a, n, r);
	case BY_POOL:
		assert_int_equal(hl_pool_release(f->pool, f->sb), 0);
		assert_int_equal(hl_pool_acquire(f->pool, 1000, &f->sb), 0);
		return hl_call(f->sb, fn, a, n, r);
	}
	return -1;
}

static void fresh_close(struct fresh *f)
{
	if (f->pool) {
		hl_pool_release(f->pool, f->sb);
		hl_pool_free(f->pool);
	} else {
		hl_sandbox_free(f->sb);
	}
	hl_snapshot_free(f->snap);
}

/* Runs fn in the current state (no restore first). */
static int call(struct fresh *f, const char *fn, const hl_value *a, size_t n, hl_value *r)
{
	return hl_call(f->sb, fn, a, n, r);
}

static uint64_t read_u64(struct fresh *f, const char *fn, const hl_value *a, size_t n)
{
	hl_value r;
	HLT_ASSERT_CODE(f->sb, call(f, fn, a, n, &r), 0);
	return r.u.u64;
}

static uint64_t fresh_u64(struct fresh *f, const char *fn, const hl_value *a, size_t n)
{
	hl_value r;
	HLT_ASSERT_CODE(f->sb, fresh_call(f, fn, a, n, &r), 0);
	return r.u.u64;
}

/*
 * MSRs a CPL-0 guest may be able to write (the review's list and more),
 * with a value to write. Which ones a CPU and KVM let the guest write
 * varies, and where KVM filters MSR writes the library refuses all but the
 * runtime's own: a write that faults is skipped (the guest cannot leave
 * state there), and so is one that does not stick.
 */
static const struct {
	uint32_t idx;
	uint64_t val;
} msrs[] = {
	{0x3b, 0x123456},                    /* TSC_ADJUST */
	{0x17a, 0},                          /* MCG_STATUS (toggled below when 0) */
	{0x402, 0x00007ffe12345000ull},      /* MC0_ADDR */
	{0x403, 0x5a5a},                     /* MC0_MISC */
	{0x406, 0x00007ffe12346000ull},      /* MC1_ADDR */
	{0x407, 0xa5a5},                     /* MC1_MISC */
	{0xc0000102, 0x00007ffe12347000ull}, /* KERNEL_GS_BASE */
	{0xc0000083, 0x00007ffe12348000ull}, /* CSTAR */
	{0x174, 0x33},                       /* SYSENTER_CS */
	{0x175, 0x00007ffe12349000ull},      /* SYSENTER_ESP */
	{0x176, 0x00007ffe1234a000ull},      /* SYSENTER_EIP */
	{0x140, 1},                          /* MISC_FEATURES_ENABLES */
	{0xc0010117, 0x7ffe1234b000ull},     /* VM_HSAVE_PA (AMD) */
	{0xc0010015, 0},                     /* HWCR (AMD; toggled below) */
	{0x1d9, 0},                          /* DEBUGCTL (toggled below) */
};

static void msrs_a_guest_writes_come_back_on_path(enum path p)
{
	int written = 0;
	char names[512] = "";
	for (size_t i = 0; i < sizeof msrs / sizeof msrs[0]; i++) {
		struct fresh f;
		fresh_open(&f, p);
		hl_value idx = hl_u32(msrs[i].idx), r;
		if (call(&f, "ReadMsr", &idx, 1, &r) != 0) {
			fresh_close(&f);
			continue;
		}
		uint64_t base = r.u.u64, val = msrs[i].val ? msrs[i].val : base ^ 1;
		hl_value w[2] = {hl_u32(msrs[i].idx), hl_u64(val)};
		if (fresh_call(&f, "WriteMsr", w, 2, &r) != 0 ||
		    read_u64(&f, "ReadMsr", &idx, 1) != val) {
			fresh_close(&f); /* the guest cannot write it, or the write did not stick */
			continue;
		}
		written++;
		snprintf(names + strlen(names), sizeof names - strlen(names), " 0x%x", msrs[i].idx);
		uint64_t after = fresh_u64(&f, "ReadMsr", &idx, 1);
		if (after != base)
			fail_msg("MSR 0x%x: 0x%llx after %s, the snapshot has 0x%llx", msrs[i].idx,
			         (unsigned long long)after, path_name[p], (unsigned long long)base);
		fresh_close(&f);
	}
	fprintf(stderr, "%s: the guest wrote%s; each came back (the rest were refused)\n",
	        path_name[p], names);
	/* Every machine writes some of them (KERNEL_GS_BASE at least). */
	assert_true(written >= 1);
}

static void msrs_a_guest_writes_come_back_after_restore(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	msrs_a_guest_writes_come_back_on_path(BY_RESTORE);
}

static void msrs_a_guest_writes_come_back_after_call_fresh(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	msrs_a_guest_writes_come_back_on_path(BY_CALL_FRESH);
}

static void msrs_a_guest_writes_come_back_after_a_pool_hand_over(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	msrs_a_guest_writes_come_back_on_path(BY_POOL);
}

/* With HL_CONFIG_MSR_FILTER, where KVM filters MSR writes, a write to an
 * MSR outside the runtime's own fails the call with a fault that names the
 * MSR and the value. */
static void a_refused_msr_write_is_a_fault_naming_the_msr(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_config cfg;
	hl_config_init(&cfg);
	cfg.flags = HL_CONFIG_MSR_FILTER;
	hl_sandbox *sb = hlt_open("stateguest", &cfg, NULL);
	hl_value w[2] = {hl_u32(0x3b), hl_u64(0x1234)}, r; /* TSC_ADJUST */
	int rc = hl_call(sb, "WriteMsr", w, 2, &r);
	hl_fault f;
	hl_sandbox_last_fault(sb, &f);
	if (rc == 0 || f.kind != HL_FAULT_MSR) {
		hl_sandbox_free(sb);
		fprintf(stderr, "skipped: this KVM has no MSR write filter (the write %s)\n",
		        rc == 0 ? "was taken" : "faulted in the guest");
		skip();
	}
	HLT_ASSERT_CODE(sb, rc, HL_E_GUEST_FAULT);
	HLT_ASSERT_MSG(sb, "write of 0x1234 to MSR 0x3b");
	assert_int_equal(f.addr, 0x3b);
	assert_int_equal(f.error_code, 0x1234);
	assert_true(hl_sandbox_poisoned(sb));
	HLT_ASSERT_CODE(sb, hl_sandbox_reset(sb), 0);
	hlt_call_ok(sb, "ReadCr8", NULL, 0);
	hl_sandbox_free(sb);
}

/* kvm-pvm's feature MSR (0x4b564d10) is guest-writable and read-only to
 * the host; a value a guest leaves there must not reach the next request. */
static void the_kvm_pvm_feature_msr_comes_back(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	hl_platform_info pi = {.size = sizeof pi};
	assert_int_equal(hl_platform_probe(&pi, 0), 0);
	if (pi.kind != HL_PLATFORM_KVM_PVM) {
		fprintf(stderr, "skipped: not kvm-pvm\n");
		skip();
	}
	for (enum path p = BY_RESTORE; p <= BY_POOL; p++) {
		struct fresh f;
		fresh_open(&f, p);
		hl_value idx = hl_u32(0x4b564d10), r;
		uint64_t base = read_u64(&f, "ReadMsr", &idx, 1);
		hl_value w[2] = {hl_u32(0x4b564d10), hl_u64(3)};
		int rc = call(&f, "WriteMsr", w, 2, &r);
		if (rc == 0) {
			/* No MSR filter: whatever the write left, the restore must
			 * put the snapshot's value back. (Whether kvm-pvm keeps a
			 * guest's value there depends on its configuration: with
			 * KVM's PV CPUID enforced it read back 1, without it 3.) */
			fprintf(stderr, "%s: 0x4b564d10 read 0x%llx after the write of 3\n",
			        path_name[p], (unsigned long long)read_u64(&f, "ReadMsr", &idx, 1));
		} else {
			/* The MSR filter refused the write outright. */
			HLT_ASSERT_CODE(f.sb, rc, HL_E_GUEST_FAULT);
			HLT_ASSERT_MSG(f.sb, "MSR 0x4b564d10");
			HLT_ASSERT_MSG(f.sb, "refused");
			hl_fault flt;
			hl_sandbox_last_fault(f.sb, &flt);
			assert_int_equal(flt.kind, HL_FAULT_MSR);
			assert_int_equal(flt.addr, 0x4b564d10);
		}
		uint64_t after = fresh_u64(&f, "ReadMsr", &idx, 1);
		if (after != base)
			fail_msg("0x4b564d10 is 0x%llx after %s, the snapshot has 0x%llx",
			         (unsigned long long)after, path_name[p], (unsigned long long)base);
		fresh_close(&f);
	}
}

/*
 * Registers by a table: the guest writes `val` with `write`, reads it back
 * with `read` (so the probe is real), and after a fresh state on every path
 * reads what the snapshot has.
 */
static const struct reg_case {
	const char *what, *write, *read;
	int32_t arg; /* -1: no register-number argument */
	uint64_t val;
} reg_cases[] = {
	{"CR8", "WriteCr8", "ReadCr8", -1, 7},
	{"DR0", "WriteDr", "ReadDr", 0, 0x10},
	{"DR3", "WriteDr", "ReadDr", 3, 0x7ffe1234c000ull},
	{"DR7", "WriteDr", "ReadDr", 7, 0x401},
	{"x87 control word and MXCSR", "WriteFpuControl", "ReadFpuControl", -1,
         0x027f | (uint64_t)0x3f80 << 16},
};

static void registers_a_guest_writes_come_back(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	for (enum path p = BY_RESTORE; p <= BY_POOL; p++) {
		for (size_t i = 0; i < sizeof reg_cases / sizeof reg_cases[0]; i++) {
			const struct reg_case *c = &reg_cases[i];
			struct fresh f;
			fresh_open(&f, p);
			hl_value num = hl_i32(c->arg), w[2], r;
			size_t nr = c->arg < 0 ? 0 : 1;
			uint64_t base = read_u64(&f, c->read, &num, nr);
			if (c->arg < 0)
				w[0] = hl_u64(c->val);
			else
				w[0] = num, w[1] = hl_u64(c->val);
			HLT_ASSERT_CODE(f.sb, call(&f, c->write, w, nr + 1, &r), 0);
			if (read_u64(&f, c->read, &num, nr) != c->val)
				fail_msg("%s: the guest's write did not stick", c->what);
			uint64_t after = fresh_u64(&f, c->read, &num, nr);
			if (after != base)
				fail_msg("%s: 0x%llx after %s, the snapshot has 0x%llx", c->what,
				         (unsigned long long)after, path_name[p],
				         (unsigned long long)base);
			fresh_close(&f);
		}
	}
}

static void a_pending_string_in_is_finished_before_memory_is_restored(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	for (enum path p = BY_RESTORE; p <= BY_POOL; p++) {
		struct fresh f;
		fresh_open(&f, p);
		hl_value port = hl_u32(0x5e), r;
		/* The call fails inside `rep insb`: KVM finishes the IN, writing
		 * into guest memory, at the next KVM_RUN. */
		HLT_ASSERT_CODE(f.sb, call(&f, "PendingIn", &port, 1, &r), HL_E_GUEST_PROTOCOL);
		HLT_ASSERT_CODE(f.sb, fresh_call(&f, "PendingBuf", NULL, 0, &r), 0);
		static const uint8_t zero[64];
		assert_int_equal(r.u.bytes.len, sizeof zero);
		if (memcmp(r.u.bytes.ptr, zero, sizeof zero) != 0)
			fail_msg("the buffer the pending IN targeted is not the snapshot's after %s",
			         path_name[p]);
		fresh_close(&f);
	}
}

/* The verifying restore notices each part a restore leaves out. */
static const struct skip_case {
	int skip;
	const char *write, *message;
	uint32_t msr;
	uint64_t val;
} skip_cases[] = {
	{HL__TEST_SKIP_MSRS, "WriteMsr", "MSR 0x", 0xc0000102, 0x00007ffe12347000ull},
	{HL__TEST_SKIP_CR8, "WriteCr8", "cr8", 0, 7},
	{HL__TEST_SKIP_MEMORY, "WriteMsr", "guest memory at 0x", 0xc0000102, 0x00007ffe12347000ull},
};

static void the_verifying_restore_names_what_a_restore_missed(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	for (size_t i = 0; i < sizeof skip_cases / sizeof skip_cases[0]; i++) {
		const struct skip_case *c = &skip_cases[i];
		hl_config cfg;
		hl_config_init(&cfg);
		cfg.flags = HL_CONFIG_VERIFY_RESTORE;
		hl_sandbox *sb = hlt_open("stateguest", &cfg, NULL);
		hl_snapshot *snap;
		assert_int_equal(hl_sandbox_snapshot(sb, &snap), 0);
		hl_value w[2] = {hl_u32(c->msr), hl_u64(c->val)}, r;
		if (c->msr)
			HLT_ASSERT_CODE(sb, hl_call(sb, c->write, w, 2, &r), 0);
		else
			HLT_ASSERT_CODE(sb, hl_call(sb, c->write, &w[1], 1, &r), 0);
		hl__test_restore_skip = c->skip;
		int rc = hl_sandbox_restore(sb, snap);
		hl__test_restore_skip = 0;
		HLT_ASSERT_CODE(sb, rc, HL_E_HYPERVISOR);
		HLT_ASSERT_MSG(sb, "the restore is incomplete");
		HLT_ASSERT_MSG(sb, c->message);
		fprintf(stderr, "skipped part %d: %s\n", c->skip, hl_errmsg(sb));
		/* A whole restore afterwards verifies clean. */
		HLT_ASSERT_CODE(sb, hl_sandbox_restore(sb, snap), 0);
		hl_snapshot_free(snap);
		hl_sandbox_free(sb);
	}
}

/* With the MSR filter a restore to the state the vCPU last had puts back
 * only the MSRs a guest may write: those, and every register, still come
 * back on every path (and the verifying restore checks all the rest). */
static void with_the_msr_filter_state_still_comes_back(void **state)
{
	(void)state;
	HLT_REQUIRE_KVM();
	fresh_flags = HL_CONFIG_MSR_FILTER;
	msrs_a_guest_writes_come_back_on_path(BY_RESTORE);
	msrs_a_guest_writes_come_back_on_path(BY_POOL);
	registers_a_guest_writes_come_back(state);
	fresh_flags = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(msrs_a_guest_writes_come_back_after_restore),
		cmocka_unit_test(msrs_a_guest_writes_come_back_after_call_fresh),
		cmocka_unit_test(msrs_a_guest_writes_come_back_after_a_pool_hand_over),
		cmocka_unit_test(a_refused_msr_write_is_a_fault_naming_the_msr),
		cmocka_unit_test(the_kvm_pvm_feature_msr_comes_back),
		cmocka_unit_test(registers_a_guest_writes_come_back),
		cmocka_unit_test(a_pending_string_in_is_finished_before_memory_is_restored),
		cmocka_unit_test(the_verifying_restore_names_what_a_restore_missed),
		cmocka_unit_test(with_the_msr_filter_state_still_comes_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
