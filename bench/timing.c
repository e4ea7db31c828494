/* timing.c - the clock and the order statistics of the benchmark programs (timing.h). */
#define _POSIX_C_SOURCE 200809L
#include "timing.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double timing_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void timing_sort(double *v, int n)
{
	if (n > 1)
		qsort(v, (size_t)n, sizeof *v, cmp_double);
}

double timing_median(double *v, int n)
{
	timing_sort(v, n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double timing_median_of(const double *v, int n)
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

double timing_percentile(double *v, int n, int p)
{
	timing_sort(v, n);
	return v[(long)n * p / 100 < n ? (long)n * p / 100 : n - 1];
}
