/*
 * serve.c - `hyperlight serve`: start-up, the wait for SIGTERM or SIGINT,
 * and the graceful shutdown (stop accepting, let every accepted request
 * get its answer within the drain deadline, cancel what is left, exit 0).
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread and taken with
 * sigtimedwait() by the main thread; SIGPIPE is ignored (libmicrohttpd
 * writes with MSG_NOSIGNAL, the access log may be a pipe). The library's
 * interrupt signal (SIGRTMIN + 1, a handler that does nothing) stays
 * unblocked, so that a cancel reaches a worker's vCPU.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "serve.h"

enum { ST_OK = 0, ST_USAGE = 1, ST_HOST = 3 };

static int open_access_log(const char *spec)
{
	if (strcmp(spec, "off") == 0)
		return -1;
	if (strcmp(spec, "-") == 0)
		return STDERR_FILENO;
	int fd = open(spec, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		fprintf(stderr, SV_PROG ": --access-log %s: %s\n", spec, strerror(errno));
	return fd < 0 ? -2 : fd;
}

static int write_port_file(const char *path, unsigned port)
{
	/* Written to a temporary name and renamed, so that a reader never sees
	 * a partial number. */
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, SV_PROG ": --port-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Waits up to `ms` for every accepted request to complete; a second
 * SIGTERM or SIGINT ends the wait early. Returns true when none is left. */
static bool wait_drained(struct sv_server *srv, const sigset_t *set, uint64_t ms, bool *again)
{
	uint64_t end = sv_now_ns() + ms * 1000000u;
	while (atomic_load(&srv->active) > 0) {
		uint64_t now = sv_now_ns();
		if (now >= end || *again)
			return false;
		struct timespec ts = {0, 2000000}; /* 2 ms */
		if (sigtimedwait(set, NULL, &ts) > 0) {
			fprintf(stderr, SV_PROG ": second signal: cancelling what is left\n");
			*again = true;
		}
	}
	return true;
}

int hl_cli_serve(int argc, char **argv)
{
	struct sv_config cfg;
	int rc = sv_config_load(argc, argv, &cfg);
	if (rc != 0) {
		sv_config_free(&cfg);
		return rc > 0 ? ST_OK : ST_USAGE;
	}
	struct sv_server srv;
	memset(&srv, 0, sizeof srv);
	srv.cfg = &cfg;
	srv.listen_fd = -1;
	srv.access_fd = open_access_log(cfg.access_log);
	if (srv.access_fd == -2) {
		sv_config_free(&cfg);
		return ST_USAGE;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts: all inherit it */
	signal(SIGPIPE, SIG_IGN);
	int st = ST_HOST;
	bool guests_started = false;
	if ((rc = hl_install_interrupt_handler(SIGRTMIN + 1)) < 0) {
		fprintf(stderr, SV_PROG ": the interrupt signal: %s\n", hl_strerror(rc));
		goto out;
	}
	guests_started = true;
	if (sv_guests_start(&srv) < 0)
		goto out;
	uint16_t port;
	srv.started_ns = sv_now_ns(); /* before the HTTP threads read it */
	if ((rc = sv_http_start(&srv, &port)) < 0) {
		if (rc == -2)
			st = ST_USAGE;
		goto out;
	}
	{
		char listen[256];
		snprintf(listen, sizeof listen, "%s", cfg.listen);
		char *colon = strrchr(listen, ':');
		if (colon)
			*colon = '\0';
		fprintf(stderr, SV_PROG ": listening on http://%s:%u/ (", listen, port);
		for (size_t i = 0; i < srv.nguests; i++) {
			struct sv_guest *g = &srv.guests[i];
			fprintf(stderr, "%s%s: %s, %zu %s%s, pool %u", i ? "; " : "", g->name,
			        sv_kind_name(g->kind), g->nfuncs,
			        g->kind == SV_KIND_JS ? "handler" : "function",
			        g->nfuncs == 1 ? "" : "s", g->set.pool);
		}
		fprintf(stderr, ")\n");
	}
	if (cfg.port_file && write_port_file(cfg.port_file, port) < 0) {
		sv_http_stop(&srv);
		goto out;
	}

	int sig;
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, SV_PROG ": %s: draining %lu requests (deadline %u ms)\n",
	        sig == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long)atomic_load(&srv.active),
	        cfg.drain_ms);
	atomic_store(&srv.draining, true);
	sv_http_quiesce(&srv);
	bool again = false;
	if (!wait_drained(&srv, &set, cfg.drain_ms, &again)) {
		fprintf(stderr, SV_PROG ": %lu requests still running: cancelling them (503)\n",
		        (unsigned long)atomic_load(&srv.active));
		sv_guests_abort_all(&srv);
		/* A call cancelled now ends within a few milliseconds; one that a
		 * worker was about to start ends by its own timeout at worst. */
		uint32_t longest = 0;
		for (size_t i = 0; i < srv.nguests; i++)
			if (srv.guests[i].set.timeout_ms > longest)
				longest = srv.guests[i].set.timeout_ms;
		bool dummy = false;
		if (!wait_drained(&srv, &set, (uint64_t)longest + 2000, &dummy))
			fprintf(stderr, SV_PROG ": %lu requests did not finish\n",
			        (unsigned long)atomic_load(&srv.active));
	}
	sv_http_stop(&srv);
	st = ST_OK;
	uint64_t served = 0;
	for (int r = 0; r < SV_NROUTES; r++)
		for (int s = 0; s < SV_NSTATUS; s++)
			served += atomic_load(&srv.routes[r].n[s]);
	fprintf(stderr, SV_PROG ": stopped after %llu answers\n", (unsigned long long)served);
out:
	if (srv.daemon)
		sv_http_stop(&srv);
	if (guests_started)
		sv_guests_stop(&srv);
	if (srv.access_fd > STDERR_FILENO)
		close(srv.access_fd);
	sv_config_free(&cfg);
	return st;
}
