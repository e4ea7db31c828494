/* bench.h - what the parts of hl_bench share: options, timing, the results it prints. */
#ifndef HL_BENCH_H
#define HL_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "hyperlight/hyperlight.h"
#include "timing.h"

/* ---- options ---------------------------------------------------------------------- */

struct bench_opts {
	const char *guest_dir;
	const char *json;  /* NULL: no JSON file */
	bool quick;        /* --quick: the same figures, fewer samples (CI) */
	int rounds;        /* interleaved rounds behind every ratio */
	int iters;         /* samples per round of a call-level figure */
	int max_sandboxes; /* the memory curve stops here (or at the machine's limit) */
	int memory_budget; /* ... or when making sandboxes has taken this many seconds */
};

/* ---- timing --------------------------------------------------------------------- */

/* The floor: one exit round trip in the execution mode guests use, the
 * median of the 2000 that hl_platform_probe(HL_PROBE_MEASURE) times in a
 * probe guest entered as a sandbox's guest is (on kvm-pvm: after the same
 * native entry). Each call takes a new sample (~50 ms) and keeps it for the
 * report; a negative value when the probe fails. */
double bench_floor_sample(void);

/* ---- sandboxes ------------------------------------------------------------------ */

/* A ready sandbox of guest `name` in opts->guest_dir with `cfg` (NULL:
 * defaults) and the sample host functions; NULL after printing why. */
hl_sandbox *bench_open(const struct bench_opts *o, const char *name, const hl_config *cfg);

/* The path of guest `name` in buf. */
const char *bench_guest_path(const struct bench_opts *o, const char *name, char *buf, size_t len);

/* ---- results ---------------------------------------------------------------------- */

/*
 * Every figure the bench prints is a row of one of three tables:
 *   targets      - a ratio (or an amount) compared with the target;
 *   reference    - a figure without a target, printed for the reader;
 *   alternatives - what a user would use instead, as a ratio to our
 *                  fresh-state call.
 * A row that could not be measured carries the reason instead of numbers,
 * and the run says so in its summary.
 */
enum bench_table { BENCH_TARGET, BENCH_REFERENCE, BENCH_ALTERNATIVE };

struct bench_row {
	enum bench_table table;
	const char *key;  /* stable identifier (JSON, tests) */
	char name[96];    /* what it is, for a reader */
	double value;     /* the figure itself, in `unit` */
	const char *unit; /* "us", "ms", "MiB", "calls/s", "x" */
	double base;      /* what it is divided by (same unit), or NAN */
	double ratio;     /* value / base as reported (median of rounds' ratios), or NAN */
	/* targets only: met when ratio (or value, if the target is an amount)
	 * is <= limit (at_least false) or >= limit (at_least true) */
	double limit;
	bool at_least;
	bool amount;       /* the target compares `value`, not `ratio` */
	char detail[160];  /* how it was composed, the numbers behind it */
	char missing[240]; /* not "": why there is no figure (skipped, failed) */
	bool skipped;      /* missing on purpose (node absent): not a failure */
};

struct bench_row *bench_row_add(enum bench_table t, const char *key, const char *name);

/* A target row: value / base in `unit`, the ratio reported, the limit. */
void bench_target_ratio(const char *key, const char *name, double value, double base,
                        const char *unit, double ratio, double limit, bool at_least,
                        const char *detail);

/* A row of `t` with just a value (ratio to the floor printed when floor > 0). */
void bench_reference(const char *key, const char *name, double value, const char *unit,
                     double floor_us);

/* A row that could not be measured (skipped: on purpose, with the reason). */
void bench_missing(enum bench_table t, const char *key, const char *name, bool skipped,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- curves ------------------------------------------------------------------------ */

#define BENCH_CURVE_COLS 8
#define BENCH_CURVE_ROWS 16

/* A small table of how a cost grows: one row per x, NAN for an empty cell;
 * a row may carry a note instead of (or beside) its numbers. */
struct bench_curve {
	const char *key;
	const char *title;
	int ncols;
	const char *cols[BENCH_CURVE_COLS];
	const char *fmt[BENCH_CURVE_COLS]; /* printf format of each column's numbers */
	int nrows;
	double v[BENCH_CURVE_ROWS][BENCH_CURVE_COLS];
	char note[BENCH_CURVE_ROWS][400];
	char footer[640];
};

struct bench_curve *bench_curve_add(const char *key, const char *title);
void bench_curve_col(struct bench_curve *c, const char *name, const char *fmt);
/* A new row, its cells NAN; returns its index. */
int bench_curve_row(struct bench_curve *c);

/* ---- the parts ------------------------------------------------------------------- */

struct bench_ctx {
	const struct bench_opts *o;
	double floor_us;    /* median floor of the run so far */
	double fresh_us;    /* the fresh-state call (alternatives compare with it) */
	hl_snapshot *snap;  /* simpleguest's snapshot, default configuration */
	hl_snapshot *bsnap; /* benchguest's (the creation figures), default configuration */
};

/* alternatives.c: posix_spawn, a fork server, Node's WebAssembly. */
void bench_alternatives(struct bench_ctx *cx, hl_sandbox *sb);

/* curves.c: the scaling curves, and the targets measured along them
 * (restore 256 MiB / 1 MiB, calls/s with 2 / 1 threads, resident memory). */
void bench_curves(struct bench_ctx *cx);

#endif /* HL_BENCH_H */
