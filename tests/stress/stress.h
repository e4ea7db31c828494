/* stress.h - what the stress programs measure about their own process: open
 * file descriptors, mappings, resident memory, time, and a counting
 * allocator installed with hl_set_allocator. */
#ifndef HL_STRESS_H
#define HL_STRESS_H

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hyperlight/hyperlight.h"

/* Exit status for "no /dev/kvm here" (CTest's SKIP_RETURN_CODE). */
#define STRESS_SKIP 77

static inline int stress_have_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static inline int stress_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static inline int stress_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	int n = 0, c;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* VmRSS in KiB, -1 if unknown. */
static inline long stress_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	char line[256];
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

static inline double stress_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The library's heap blocks outstanding, counted by our allocator. */
static atomic_long stress_live;

static inline void *stress_malloc(size_t n, void *user)
{
	(void)user;
	void *p = malloc(n);
	if (p)
		atomic_fetch_add(&stress_live, 1);
	return p;
}

static inline void *stress_realloc(void *p, size_t n, void *user)
{
	(void)user;
	return realloc(p, n);
}

static inline void stress_free(void *p, void *user)
{
	(void)user;
	atomic_fetch_sub(&stress_live, 1);
	free(p);
}

static inline int stress_count_allocations(void)
{
	static const hl_allocator a = {sizeof(hl_allocator), stress_malloc, stress_realloc,
	                               stress_free, NULL};
	return hl_set_allocator(&a);
}

/* The directory of the guests: $HYPERLIGHT_GUEST_DIR, else the build's. */
static inline const char *stress_guest(const char *name)
{
	static char path[4096];
	const char *dir = getenv("HYPERLIGHT_GUEST_DIR");
	snprintf(path, sizeof path, "%s/%s", dir ? dir : HL_GUEST_DIR, name);
	return path;
}

#endif /* HL_STRESS_H */
