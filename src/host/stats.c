/*
 * stats.c - per-sandbox statistics: the end-of-call accounting, reading and
 * resetting the counters, percentiles from the duration histogram, and the
 * readable table.
 *
 * The counters are plain fields of the sandbox, written only by the thread
 * that runs it (the run loop, hl_call, restore, snapshot): the cost on the
 * call path is a few increments and one clock_gettime pair per call.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* The 1.2 structure: anything smaller is a caller that did not set size. */
#define STATS_MIN_SIZE sizeof(hl_stats)

/* hl_stats_add and hl_stats_format walk the counters as an array. */
#define COUNTERS_BYTES (offsetof(hl_stats, call_ns_total) - offsetof(hl_stats, calls))
_Static_assert(COUNTERS_BYTES % sizeof(uint64_t) == 0,
               "the counters before the durations are all uint64_t");

uint64_t hl__stats_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return ns ? ns : 1; /* 0 means "the guest never ran" to hl__stats_call */
}

/* floor(log2(ns)), with 0 and 1 in bucket 0 and the last bucket open-ended. */
static unsigned bucket_of(uint64_t ns)
{
	unsigned b = ns < 2 ? 0 : 63u - (unsigned)__builtin_clzll(ns);
	return b < HL_STATS_HIST_BUCKETS ? b : HL_STATS_HIST_BUCKETS - 1;
}

void hl__stats_call(hl_sandbox *sb, int r, uint64_t t0)
{
	hl_stats *s = &sb->stats;
	if (!t0) {
		s->rejected++;
		return;
	}
	uint64_t t1 = hl__stats_now();
	uint64_t d = t1 > t0 ? t1 - t0 : 0;
	s->calls++;
	s->call_ns_total += d;
	if (s->calls == 1 || d < s->call_ns_min)
		s->call_ns_min = d;
	if (d > s->call_ns_max)
		s->call_ns_max = d;
	s->call_ns_hist[bucket_of(d)]++;
	switch (r) {
	case HL_OK: s->calls_ok++; break;
	case HL_E_GUEST_ERROR: s->guest_errors++; break;
	case HL_E_HOST_FUNCTION: s->host_function_errors++; break;
	case HL_E_GUEST_ABORT: s->aborts++; break;
	case HL_E_GUEST_FAULT: s->faults++; break;
	case HL_E_GUEST_PROTOCOL: s->protocol_errors++; break;
	case HL_E_CANCELLED:
		if (sb->cancel_why == 2)
			s->timeouts++;
		else
			s->cancelled++;
		break;
	default: s->other_errors++; break;
	}
}

int hl_sandbox_stats(const hl_sandbox *sb, hl_stats *out)
{
	if (!sb || !out || out->size < STATS_MIN_SIZE)
		return HL_E_INVAL;
	/* A newer caller's larger structure gets the fields this library has,
	 * the rest zeroed; size says how many bytes are meaningful. */
	size_t n = out->size < sizeof(hl_stats) ? out->size : sizeof(hl_stats);
	size_t want = out->size;
	memset(out, 0, want);
	memcpy(out, &sb->stats, n);
	out->size = n;
	return 0;
}

int hl_sandbox_stats_reset(hl_sandbox *sb)
{
	if (!sb)
		return HL_E_INVAL;
	if (sb->in_call)
		return hl__fail(sb, HL_E_STATE, "hl_sandbox_stats_reset: not during a call");
	memset(&sb->stats, 0, sizeof sb->stats);
	return 0;
}

int hl_stats_add(hl_stats *sum, const hl_stats *s)
{
	if (!sum || !s || sum->size < STATS_MIN_SIZE || s->size < STATS_MIN_SIZE)
		return HL_E_INVAL;
	/* Every field from calls up to the durations is a plain counter. */
	for (size_t off = offsetof(hl_stats, calls); off < offsetof(hl_stats, call_ns_total);
	     off += sizeof(uint64_t)) {
		uint64_t a, b;
		memcpy(&a, (const char *)sum + off, sizeof a);
		memcpy(&b, (const char *)s + off, sizeof b);
		a += b;
		memcpy((char *)sum + off, &a, sizeof a);
	}
	uint64_t had = 0, has = 0;
	for (unsigned i = 0; i < HL_STATS_HIST_BUCKETS; i++) {
		had += sum->call_ns_hist[i];
		has += s->call_ns_hist[i];
		sum->call_ns_hist[i] += s->call_ns_hist[i];
	}
	if (has) {
		if (!had || s->call_ns_min < sum->call_ns_min)
			sum->call_ns_min = s->call_ns_min;
		if (s->call_ns_max > sum->call_ns_max)
			sum->call_ns_max = s->call_ns_max;
	}
	sum->call_ns_total += s->call_ns_total;
	return 0;
}

uint64_t hl_stats_percentile_ns(const hl_stats *s, double q)
{
	if (!s || !(q > 0.0 && q <= 1.0))
		return 0;
	uint64_t total = 0;
	for (unsigned i = 0; i < HL_STATS_HIST_BUCKETS; i++)
		total += s->call_ns_hist[i];
	if (!total)
		return 0;
	/* The rank of the q-quantile, 1-based, rounded up: at least 1. */
	double want = q * (double)total;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	unsigned b = HL_STATS_HIST_BUCKETS - 1;
	for (unsigned i = 0; i < HL_STATS_HIST_BUCKETS; i++) {
		seen += s->call_ns_hist[i];
		if (seen >= rank) {
			b = i;
			break;
		}
	}
	/* The bucket's last value; the open-ended last bucket is bounded by max. */
	uint64_t hi = b + 1 >= 64 ? UINT64_MAX : (1ull << (b + 1)) - 1;
	if (b == HL_STATS_HIST_BUCKETS - 1 || hi > s->call_ns_max)
		hi = s->call_ns_max;
	if (hi < s->call_ns_min)
		hi = s->call_ns_min;
	return hi;
}

/* snprintf into buf at *off, counting what would have been written. */
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *dst = *off < len ? buf + *off : NULL;
	int n = vsnprintf(dst, dst ? len - *off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

int hl_stats_format(const hl_stats *s, char *buf, size_t len)
{
	if (!s || (!buf && len))
		return HL_E_INVAL;
	if (len)
		buf[0] = '\0';
	static const struct {
		const char *name;
		size_t off;
	} rows[] = {
#define ROW(f) {#f, offsetof(hl_stats, f)}
		ROW(calls),
		ROW(calls_ok),
		ROW(rejected),
		ROW(guest_errors),
		ROW(host_function_errors),
		ROW(aborts),
		ROW(faults),
		ROW(protocol_errors),
		ROW(cancelled),
		ROW(timeouts),
		ROW(other_errors),
		ROW(host_calls),
		ROW(prints),
		ROW(logs),
		ROW(vm_exits),
		ROW(restores),
		ROW(snapshots),
#undef ROW
	};
	size_t off = 0;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		uint64_t v;
		memcpy(&v, (const char *)s + rows[i].off, sizeof v);
		put(buf, len, &off, "%-22s %llu\n", rows[i].name, (unsigned long long)v);
	}
	if (s->calls) {
		put(buf, len, &off, "%-22s %.3f\n", "call_us_mean",
		    (double)s->call_ns_total / (double)s->calls / 1000.0);
		put(buf, len, &off, "%-22s %.3f\n", "call_us_min", (double)s->call_ns_min / 1000.0);
		put(buf, len, &off, "%-22s %.3f\n", "call_us_p50",
		    (double)hl_stats_percentile_ns(s, 0.5) / 1000.0);
		put(buf, len, &off, "%-22s %.3f\n", "call_us_p99",
		    (double)hl_stats_percentile_ns(s, 0.99) / 1000.0);
		put(buf, len, &off, "%-22s %.3f\n", "call_us_max", (double)s->call_ns_max / 1000.0);
	}
	if (len && off >= len)
		buf[len - 1] = '\0';
	return off > INT32_MAX ? INT32_MAX : (int)off;
}
