/* timing.h - the clock and the order statistics of every program here that prints timings: hl_bench, hl_wasm_bench and `hyperlight bench`. */
#ifndef HL_TIMING_H
#define HL_TIMING_H

/* CLOCK_MONOTONIC in microseconds. */
double timing_now_us(void);

/* Sorts n samples in place, smallest first. */
void timing_sort(double *v, int n);

/* The median of n samples (n > 0): the middle one, or the mean of the
 * middle two. Sorts v. */
double timing_median(double *v, int n);

/* The same with v left as it is; NAN for n <= 0 or when out of memory. */
double timing_median_of(const double *v, int n);

/* The p-th percentile (0-100) of n samples (n > 0), nearest rank below.
 * Sorts v. */
double timing_percentile(double *v, int n, int p);

#endif
