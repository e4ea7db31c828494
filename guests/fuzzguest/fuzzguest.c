/*
 * fuzzguest.c - a test guest that attacks the host at random: driven by a
 * PRNG seeded by the host, it writes random bytes into the output buffer,
 * sends corrupt, oversized and out-of-bounds records to every port, writes
 * to unknown ports with every size, reads ports, and mixes in valid
 * requests whose answers it checks. tests/integration/test_fuzzguest.c runs
 * it over many seeds.
 *
 * Exports:
 *   Fuzz(u64 seed, u32 steps) -> i32   runs up to `steps` random actions;
 *       returns the number of steps done, or fails with code FUZZ_E_VALID
 *       when a valid request got a wrong answer (a host bug);
 *   Echo(string) -> string              the health check after each seed.
 *
 * A result record sent by hand (OUT to HL_PORT_DONE) is always one the host
 * must refuse (bad magic, unknown status, or a type other than Fuzz's i32):
 * a result the host accepted would end the call with the guest parked
 * inside Fuzz, and the next call would resume it there.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "hyperlight/guest.h"

#define FUZZ_E_VALID 99 /* a valid request was answered wrongly */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: small, and the same sequence on every build */
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static uint8_t *out(void)
{
	return (uint8_t *)(uintptr_t)hl_boot_info()->output_addr;
}

static uint32_t out_size(void)
{
	uint64_t n = hl_boot_info()->output_size;
	return n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;
}

/* A value a length or offset field should not have, or a plausible one. */
static uint32_t nasty(void)
{
	uint32_t osz = out_size();
	switch (below(12)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return 0xffffffffu;
	case 3: return 0x7fffffffu;
	case 4: return 0x80000000u;
	case 5: return osz;
	case 6: return osz - 1;
	case 7: return osz + 1;
	case 8: return 0xfffffff0u;
	case 9: return below(64);
	case 10: return below(osz);
	default: return (uint32_t)rnd();
	}
}

/* Where a hand-made record goes: usually inside the buffer with room for
 * it, sometimes at its very end, sometimes outside. */
static uint32_t record_offset(uint32_t len)
{
	uint32_t osz = out_size();
	switch (below(10)) {
	case 0: return osz - (len < osz ? len : osz) + below(16); /* runs past the end */
	case 1: return nasty();
	default: {
		uint32_t room = len < osz ? osz - len : 0;
		return (below(room + 1) & ~7u) % (osz ? osz : 1);
	}
	}
}

/* Copies rec into the output buffer at off as far as it fits. */
static void place(uint32_t off, const void *rec, uint32_t len)
{
	uint32_t osz = out_size();
	if (off >= osz)
		return;
	if (len > osz - off)
		len = osz - off;
	memcpy(out() + off, rec, len);
}

/* Corrupts a record in place: random fields and bytes, `n` times. */
static void mutate(uint8_t *rec, uint32_t len, unsigned n)
{
	for (unsigned i = 0; i < n && len; i++) {
		uint32_t at = below(len);
		switch (below(4)) {
		case 0: rec[at] ^= (uint8_t)(1u << below(8)); break;
		case 1: rec[at] = (uint8_t)rnd(); break;
		default:
			if (len >= 4) {
				uint32_t v = nasty();
				memcpy(rec + (below(len / 4) * 4), &v, 4);
			}
			break;
		}
	}
}

/* How many corruptions a record gets: none a quarter of the time. */
static unsigned how_bad(void)
{
	return below(4) == 0 ? 0 : 1 + below(3);
}

/* ---- hand-made records --------------------------------------------------------- */

static const char *const host_names[] = {"HostMethod1",    "HostAdd",   "HostEcho",
                                         "HostGetBytes",   "HostError", "HostPrint",
                                         "NoSuchFunction", "Host"};

static void raw_hostcall(void)
{
	uint8_t rec[512];
	memset(rec, 0, sizeof rec);
	const char *name = host_names[below(sizeof host_names / sizeof host_names[0])];
	uint32_t argc = below(4);
	uint32_t fixed = sizeof(struct hl_hostcall) + argc * sizeof(struct hl_wire_value);
	uint32_t name_len = (uint32_t)strlen(name);
	uint32_t pos = fixed;
	memcpy(rec + pos, name, name_len);
	pos = (uint32_t)HL_ALIGN8(pos + name_len + 1);
	for (uint32_t i = 0; i < argc; i++) {
		struct hl_wire_value w = {1 + below(HL_TYPE__COUNT - 1), 0, rnd()};
		if (w.type == HL_TYPE_BOOL)
			w.bits &= 1;
		if (w.type == HL_TYPE_STRING || w.type == HL_TYPE_BYTES) {
			w.len = below(40);
			w.bits = pos;
			for (uint32_t k = 0; k < w.len; k++)
				rec[pos + k] = (uint8_t)('a' + below(26));
			pos = (uint32_t)HL_ALIGN8(pos + w.len + 1);
		}
		memcpy(rec + sizeof(struct hl_hostcall) + i * sizeof w, &w, sizeof w);
	}
	struct hl_hostcall h = {HL_HOSTCALL_MAGIC, pos,  fixed,
	                        name_len,          argc, below(HL_TYPE__COUNT)};
	memcpy(rec, &h, sizeof h);
	mutate(rec, pos, how_bad());
	uint32_t off = record_offset(pos);
	place(off, rec, pos);
	hl_outl(HL_PORT_HOSTCALL, off);
}

static void raw_print(void)
{
	uint8_t rec[sizeof(struct hl_print) + 64];
	uint32_t n = below(64);
	struct hl_print p = {HL_PRINT_MAGIC, 1 + below(2), n, 0};
	memcpy(rec, &p, sizeof p);
	for (uint32_t i = 0; i < n; i++)
		rec[sizeof p + i] = (uint8_t)rnd();
	uint32_t len = (uint32_t)sizeof p + n;
	mutate(rec, sizeof p, how_bad());
	uint32_t off = record_offset(len);
	place(off, rec, len);
	hl_outl(HL_PORT_PRINT, off);
}

static void raw_log(void)
{
	uint8_t rec[sizeof(struct hl_log) + 96];
	uint32_t fl = below(32), ml = below(64);
	struct hl_log g = {HL_LOG_MAGIC, HL_LOG_ERROR + below(5), (uint32_t)rnd(), fl, ml, 0};
	memcpy(rec, &g, sizeof g);
	for (uint32_t i = 0; i < fl + ml; i++)
		rec[sizeof g + i] = (uint8_t)rnd();
	uint32_t len = (uint32_t)sizeof g + fl + ml;
	mutate(rec, sizeof g, how_bad());
	uint32_t off = record_offset(len);
	place(off, rec, len);
	hl_outl(HL_PORT_LOG, off);
}

static void raw_abort(void)
{
	uint8_t rec[sizeof(struct hl_abort) + 600];
	uint32_t n = below(600);
	struct hl_abort a = {HL_ABORT_MAGIC, (int32_t)rnd(), n, 0};
	memcpy(rec, &a, sizeof a);
	for (uint32_t i = 0; i < n; i++)
		rec[sizeof a + i] = (uint8_t)rnd();
	uint32_t len = (uint32_t)sizeof a + n;
	mutate(rec, sizeof a, how_bad());
	uint32_t off = record_offset(len);
	place(off, rec, len);
	hl_outl(HL_PORT_ABORT, off);
}

static void raw_exception(void)
{
	struct hl_exception e;
	uint8_t *b = (uint8_t *)&e;
	for (size_t i = 0; i < sizeof e; i++)
		b[i] = (uint8_t)rnd();
	e.magic = HL_EXCEPTION_MAGIC;
	e.vector = below(4) ? below(32) : below(300);
	if (below(2))
		e.cr2 = below(2) ? below(4096) : hl_boot_info()->heap_addr + below(1 << 20);
	mutate(b, sizeof e, how_bad());
	uint32_t off = record_offset(sizeof e);
	place(off, &e, sizeof e);
	hl_outl(HL_PORT_EXCEPTION, off);
}

/* A result the host must refuse (see the top of the file). */
static void raw_done(void)
{
	uint8_t rec[sizeof(struct hl_result) + 64];
	uint32_t n = below(64);
	struct hl_result r = {HL_RESULT_MAGIC,
	                      HL_STATUS_OK,
	                      (uint32_t)HL_ALIGN8(sizeof r + n + 1),
	                      0,
	                      {HL_TYPE_STRING, n, sizeof r}};
	memset(rec, 'x', sizeof rec);
	memcpy(rec, &r, sizeof r);
	mutate(rec, sizeof rec, how_bad());
	memcpy(&r, rec, sizeof r);
	switch (below(3)) { /* whatever the mutations did, the host must refuse it */
	case 0: r.magic ^= 1u << below(32); break;
	case 1: r.status = 3 + below(1000); break;
	default:
		r.status = HL_STATUS_OK;
		if (r.value.type == HL_TYPE_I32) /* any other type, known or not */
			r.value.type = HL_TYPE_U32 + below(HL_TYPE__COUNT + 4);
		break;
	}
	memcpy(rec, &r, sizeof r);
	uint32_t len = sizeof rec;
	uint32_t off = record_offset(len);
	/* A refusal needs the record to be read: one that lies outside the
	 * buffer is refused for that reason alone. */
	place(off, rec, len);
	hl_outl(HL_PORT_DONE, off);
}

/* ---- port I/O and other misbehaviour ---------------------------------------------- */

static uint16_t random_port(void)
{
	for (;;) {
		uint16_t p = below(2) ? (uint16_t)(HL_PORT_DONE + below(16)) : (uint16_t)rnd();
		if (p != HL_PORT_DONE) /* a DONE is raw_done's business */
			return p;
	}
}

static void port_write(void)
{
	uint16_t port = random_port();
	uint32_t v = nasty();
	switch (below(3)) {
	case 0: __asm__ volatile("outb %b0, %w1" ::"a"(v), "Nd"(port) : "memory"); break;
	case 1: __asm__ volatile("outw %w0, %w1" ::"a"(v), "Nd"(port) : "memory"); break;
	default: __asm__ volatile("outl %0, %w1" ::"a"(v), "Nd"(port) : "memory"); break;
	}
}

static void port_read(void)
{
	uint16_t port = (uint16_t)rnd();
	uint32_t v = 0;
	switch (below(3)) {
	case 0: __asm__ volatile("inb %w1, %b0" : "+a"(v) : "Nd"(port) : "memory"); break;
	case 1: __asm__ volatile("inw %w1, %w0" : "+a"(v) : "Nd"(port) : "memory"); break;
	default: __asm__ volatile("inl %w1, %0" : "+a"(v) : "Nd"(port) : "memory"); break;
	}
}

static void noise(void)
{
	uint32_t osz = out_size(), off = below(osz), n = below(256);
	if (n > osz - off)
		n = osz - off;
	for (uint32_t i = 0; i < n; i++)
		out()[off + i] = (uint8_t)rnd();
}

static void misbehave(void)
{
	switch (below(4)) {
	case 0: *(volatile uint32_t *)(uintptr_t)(8 * below(512)) = 1; break; /* the NULL page */
	case 1: __asm__ volatile("ud2"); break;
	case 2: __asm__ volatile("hlt"); break;
	default: /* just past guest memory */
		*(volatile uint8_t *)(uintptr_t)(hl_boot_info()->mem_base +
		                                 hl_boot_info()->mem_size + below(1 << 20)) = 1;
		break;
	}
}

/* ---- valid requests, with their answers checked ------------------------------------- */

/* 0, or the number of the check that failed. */
static int valid_request(void)
{
	char buf[64];
	hl_value r;
	switch (below(6)) {
	case 0: {
		int32_t a = (int32_t)rnd(), b = (int32_t)below(1000);
		hl_value args[2] = {hl_i32(a), hl_i32(b)};
		if (hl_call_host("HostAdd", HL_TYPE_I32, &r, args, 2) != 0 ||
		    r.u.i32 != (int32_t)((uint32_t)a + (uint32_t)b))
			return 1;
		return 0;
	}
	case 1: {
		size_t n = below(40);
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)('A' + below(26));
		buf[n] = '\0';
		hl_value arg = hl_string(buf, n);
		if (hl_call_host("HostEcho", HL_TYPE_STRING, &r, &arg, 1) != 0 ||
		    r.u.str.len != n || memcmp(r.u.str.ptr, buf, n) != 0)
			return 2;
		return 0;
	}
	case 2: /* the host function fails: the guest hears about it */
		if (hl_call_host("HostError", HL_TYPE_I32, &r, NULL, 0) != HL_GUEST_E_HOST ||
		    !hl_host_error()[0])
			return 3;
		return 0;
	case 3: { /* a wrong signature is refused with a message, not a crash */
		hl_value arg = hl_u64(rnd());
		return hl_call_host("HostAdd", HL_TYPE_I32, &r, &arg, 1) < 0 ? 0 : 4;
	}
	case 4: {
		size_t n = 1 + below(40);
		memset(buf, '.', n);
		buf[n - 1] = '\n';
		return write(below(2) ? 1 : 2, buf, n) == (ssize_t)n ? 0 : 5;
	}
	default:
		hl_log((enum hl_log_level)(HL_LOG_ERROR + below(5)), "fuzz step, seed state %llx",
		       (unsigned long long)rng_state);
		return 0;
	}
}

/* The steps that only disturb, with where each ends in a pick of 0-99:
 * picks below 30 are valid requests, 94-97 end the call, 98-99 do nothing. */
static const struct {
	uint32_t below;
	void (*step)(void);
} disturbances[] = {
	{42, noise},         {58, raw_hostcall}, {66, raw_print},  {74, raw_log},   {77, raw_abort},
	{80, raw_exception}, {83, raw_done},     {89, port_write}, {92, port_read}, {94, misbehave},
};

static int fuzz(hl_call *c)
{
	rng_state = hl_arg_u64(c, 0) * 2 + 1; /* never 0 */
	uint32_t steps = hl_arg_u32(c, 1);
	for (uint32_t i = 0; i < steps; i++) {
		uint32_t pick = below(100);
		if (pick < 30) {
			int bad = valid_request();
			if (bad)
				return hl_return_error(c, FUZZ_E_VALID,
				                       "step %u: valid request %d failed", i, bad);
			continue;
		}
		size_t k = 0;
		while (k < sizeof disturbances / sizeof disturbances[0] &&
		       pick >= disturbances[k].below)
			k++;
		if (k < sizeof disturbances / sizeof disturbances[0])
			disturbances[k].step();
		else if (pick < 96)
			return hl_return_error(c, 1 + (int)below(50),
			                       "fuzz: an error on purpose at step %u", i);
		else if (pick < 98)
			return hl_return_i32(c, (int32_t)i);
		/* else: a step that does nothing */
	}
	return hl_return_i32(c, (int32_t)steps);
}

static int echo(hl_call *c)
{
	size_t n;
	const char *s = hl_arg_string(c, 0, &n);
	return hl_return_string(c, s, n);
}

int main(void)
{
	HL_REGISTER("Fuzz", fuzz, HL_TYPE_I32, HL_TYPE_U64, HL_TYPE_U32);
	HL_REGISTER("Echo", echo, HL_TYPE_STRING, HL_TYPE_STRING);
	hl_dispatch();
}
