/*
 * timing.h - the clock and the order statistics of everything here that
 * measures time: the library's exit probe (hl_platform_probe), hl_bench,
 * hl_wasm_bench and `hyperlight bench`.
 *
 * Header only, without dependencies beyond libc, so that the library and
 * the programs share the code without sharing symbols.
 */
#ifndef HL_UTIL_TIMING_H
#define HL_UTIL_TIMING_H

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CLOCK_MONOTONIC in microseconds. */
static inline double timing_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline int timing_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts n samples in place, smallest first. */
static inline void timing_sort(double *v, int n)
{
	if (n > 1)
		qsort(v, (size_t)n, sizeof *v, timing_cmp);
}

/* The median of n samples (n > 0): the middle one, or the mean of the
 * middle two. Sorts v. */
static inline double timing_median(double *v, int n)
{
	timing_sort(v, n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The same with v left as it is; NAN for n <= 0 or when out of memory. */
static inline double timing_median_of(const double *v, int n)
{
	if (n <= 0)
		return NAN;
	double *c = malloc(sizeof *c * (size_t)n);
	if (!c)
		return NAN;
	memcpy(c, v, sizeof *c * (size_t)n);
	double m = timing_median(c, n);
	free(c);
	return m;
}

/* The p-th percentile (0-100) of n samples (n > 0), nearest rank below.
 * Sorts v. */
static inline double timing_percentile(double *v, int n, int p)
{
	timing_sort(v, n);
	long k = (long)n * p / 100;
	return v[k < n ? k : n - 1];
}

#endif
