/*
 * metrics.c - what `hyperlight serve` counts, in the Prometheus text format
 * (version 0.0.4): requests by guest, function and status, a latency
 * histogram per guest, pool and queue gauges, restores, faults, timeouts,
 * rejections, HTTP requests by route, and the process's memory and
 * descriptors. Counters are relaxed atomics bumped by the threads that see
 * the event; a scrape reads them without stopping anyone.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

const unsigned sv_status_code[SV_NSTATUS] = {200, 400, 404, 405, 413, 422, 500, 503, 504};

const uint64_t sv_bucket_us[SV_NBUCKETS] = {100,     250,     500,     1000,    2500,   5000,
                                            10000,   25000,   50000,   100000,  250000, 500000,
                                            1000000, 2500000, 5000000, 10000000};

const char *const sv_route_name[SV_NROUTES] = {"call",    "guest",   "guests",
                                               "healthz", "metrics", "other"};

enum sv_status sv_status_index(unsigned code)
{
	for (int i = 0; i < SV_NSTATUS; i++)
		if (sv_status_code[i] == code)
			return (enum sv_status)i;
	return SV_500;
}

void sv_hist_observe(struct sv_hist *h, uint64_t us)
{
	size_t i = 0;
	while (i < SV_NBUCKETS && us > sv_bucket_us[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

static uint64_t rd(atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

/* A label value: backslash, double quote and newline escaped. Names are
 * checked at start-up, but function names come from the guest. */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void per_guest(FILE *f, struct sv_server *srv, const char *name, const char *type,
                      const char *help, size_t off, const char *extra)
{
	head(f, name, type, help);
	for (size_t i = 0; i < srv->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		fprintf(f, "%s{guest=\"", name);
		label(f, g->name);
		fprintf(f, "\"%s} %" PRIu64 "\n", extra ? extra : "",
		        rd((atomic_uint_fast64_t *)((char *)g + off)));
	}
}

static void process_metrics(FILE *f)
{
	long pages = 0, rss = 0;
	FILE *sm = fopen("/proc/self/statm", "re");
	if (sm) {
		if (fscanf(sm, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(sm);
	}
	head(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	fprintf(f, "process_resident_memory_bytes %ld\n", rss * sysconf(_SC_PAGESIZE));
	long fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				fds++;
		closedir(d);
		fds--; /* the directory's own descriptor */
	}
	head(f, "process_open_fds", "gauge", "Number of open file descriptors.");
	fprintf(f, "process_open_fds %ld\n", fds);
}

char *sv_metrics_text(struct sv_server *srv, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		return NULL;

	head(f, "hyperlight_requests_total", "counter",
	     "Calls of guest functions (POST /v1/GUEST/FUNCTION) by guest, function and HTTP status; "
	     "function=\"\" for names the guest lacks, guest=\"\" for unknown guests.");
	for (size_t i = 0; i < srv->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		for (size_t j = 0; j <= g->nfuncs; j++) {
			struct sv_status_counts *c = j < g->nfuncs ? &g->funcs[j].calls
			                                           : &g->unknown_fn;
			for (int s = 0; s < SV_NSTATUS; s++) {
				uint64_t v = rd(&c->n[s]);
				if (!v)
					continue;
				fputs("hyperlight_requests_total{guest=\"", f);
				label(f, g->name);
				fputs("\",function=\"", f);
				label(f, j < g->nfuncs ? g->funcs[j].name : "");
				fprintf(f, "\",code=\"%u\"} %" PRIu64 "\n", sv_status_code[s], v);
			}
		}
	}
	for (int s = 0; s < SV_NSTATUS; s++) {
		uint64_t v = rd(&srv->unknown_guest.n[s]);
		if (v)
			fprintf(f,
			        "hyperlight_requests_total{guest=\"\",function=\"\",code=\"%u\"} %" PRIu64
			        "\n",
			        sv_status_code[s], v);
	}

	head(f, "hyperlight_request_duration_seconds", "histogram",
	     "Calls of guest functions, from the complete request to the answer (queue wait "
	     "included), by guest.");
	for (size_t i = 0; i < srv->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		uint64_t cum = 0;
		for (int b = 0; b <= SV_NBUCKETS; b++) {
			cum += rd(&g->latency.bucket[b]);
			fputs("hyperlight_request_duration_seconds_bucket{guest=\"", f);
			label(f, g->name);
			if (b < SV_NBUCKETS)
				fprintf(f, "\",le=\"%g\"} %" PRIu64 "\n",
				        (double)sv_bucket_us[b] / 1e6, cum);
			else
				fprintf(f, "\",le=\"+Inf\"} %" PRIu64 "\n", cum);
		}
		fputs("hyperlight_request_duration_seconds_sum{guest=\"", f);
		label(f, g->name);
		fprintf(f, "\"} %.6f\n", (double)rd(&g->latency.sum_us) / 1e6);
		fputs("hyperlight_request_duration_seconds_count{guest=\"", f);
		label(f, g->name);
		fprintf(f, "\"} %" PRIu64 "\n", rd(&g->latency.count));
	}

	head(f, "hyperlight_pool_sandboxes", "gauge",
	     "Sandboxes of a guest's pool: state=\"in_use\" runs a request now, \"size\" is the pool.");
	for (size_t i = 0; i < srv->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		fputs("hyperlight_pool_sandboxes{guest=\"", f);
		label(f, g->name);
		fprintf(f, "\",state=\"in_use\"} %" PRIu64 "\n", rd(&g->in_use));
		fputs("hyperlight_pool_sandboxes{guest=\"", f);
		label(f, g->name);
		fprintf(f, "\",state=\"size\"} %u\n", g->set.pool);
	}
	head(f, "hyperlight_queue_requests", "gauge",
	     "Requests waiting for a sandbox (state=\"waiting\") and the queue's capacity.");
	for (size_t i = 0; i < srv->nguests; i++) {
		struct sv_guest *g = &srv->guests[i];
		pthread_mutex_lock(&g->lock);
		size_t q = g->count;
		pthread_mutex_unlock(&g->lock);
		fputs("hyperlight_queue_requests{guest=\"", f);
		label(f, g->name);
		fprintf(f, "\",state=\"waiting\"} %zu\n", q);
		fputs("hyperlight_queue_requests{guest=\"", f);
		label(f, g->name);
		fprintf(f, "\",state=\"capacity\"} %u\n", g->set.queue);
	}
	per_guest(f, srv, "hyperlight_sandbox_restores_total", "counter",
	          "Sandboxes restored to the guest's snapshot after a request.",
	          offsetof(struct sv_guest, restores), NULL);
	per_guest(f, srv, "hyperlight_sandbox_restore_failures_total", "counter",
	          "Restores that failed; the sandbox was replaced by a new one.",
	          offsetof(struct sv_guest, restore_failures), NULL);
	per_guest(f, srv, "hyperlight_guest_faults_total", "counter",
	          "Calls that ended in a guest crash (fault, abort, protocol error); the sandbox was "
	          "recycled.",
	          offsetof(struct sv_guest, faults), NULL);
	per_guest(f, srv, "hyperlight_timeouts_total", "counter",
	          "Calls cancelled by the per-request timeout (504).",
	          offsetof(struct sv_guest, timeouts), NULL);
	head(f, "hyperlight_rejections_total", "counter",
	     "Requests answered 503 without running: the queue was full, the wait for a sandbox "
	     "timed out, the server was shutting down (also calls it cancelled), or the client "
	     "closed its connection while the request waited.");
	static const struct {
		const char *reason;
		size_t off;
	} rej[] = {{"queue_full", offsetof(struct sv_guest, rej_queue_full)},
	           {"queue_timeout", offsetof(struct sv_guest, rej_queue_timeout)},
	           {"shutdown", offsetof(struct sv_guest, rej_shutdown)},
	           {"client_closed", offsetof(struct sv_guest, rej_client_gone)}};
	for (size_t i = 0; i < srv->nguests; i++)
		for (size_t k = 0; k < sizeof rej / sizeof rej[0]; k++) {
			fputs("hyperlight_rejections_total{guest=\"", f);
			label(f, srv->guests[i].name);
			fprintf(f, "\",reason=\"%s\"} %" PRIu64 "\n", rej[k].reason,
			        rd((atomic_uint_fast64_t *)((char *)&srv->guests[i] + rej[k].off)));
		}

	head(f, "hyperlight_http_requests_total", "counter",
	     "HTTP requests answered, by route and status.");
	for (int r = 0; r < SV_NROUTES; r++)
		for (int s = 0; s < SV_NSTATUS; s++) {
			uint64_t v = rd(&srv->routes[r].n[s]);
			if (v)
				fprintf(f,
				        "hyperlight_http_requests_total{route=\"%s\",code=\"%u\"} %" PRIu64
				        "\n",
				        sv_route_name[r], sv_status_code[s], v);
		}
	head(f, "hyperlight_http_requests_in_flight", "gauge",
	     "Requests accepted and not yet completed (being read, queued, running or being sent).");
	fprintf(f, "hyperlight_http_requests_in_flight %" PRIu64 "\n", rd(&srv->active));
	head(f, "hyperlight_http_connections", "gauge", "Open HTTP connections.");
	fprintf(f, "hyperlight_http_connections %" PRIu64 "\n", rd(&srv->connections));
	head(f, "hyperlight_draining", "gauge",
	     "1 after SIGTERM or SIGINT, while accepted requests finish.");
	fprintf(f, "hyperlight_draining %d\n", atomic_load(&srv->draining) ? 1 : 0);
	head(f, "hyperlight_uptime_seconds", "gauge", "Seconds since the server started serving.");
	fprintf(f, "hyperlight_uptime_seconds %.3f\n",
	        (double)(sv_now_ns() - srv->started_ns) / 1e9);
	process_metrics(f);

	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}
