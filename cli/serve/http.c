/*
 * http.c - the HTTP side of `hyperlight serve`, on libmicrohttpd: the
 * routes, request bodies and their limit, answers and their headers, the
 * hand-over of calls to the guests' queues (the connection is suspended
 * until a worker resumes it), and one access-log line per request.
 *
 * libmicrohttpd calls on_request() several times per request: once with
 * the headers, once per piece of the body, and once when the body is
 * complete; the answer is given on that last call, or, for a queued call,
 * on the call that follows the worker's MHD_resume_connection(). Only a
 * body whose declared length is far over the limit, or that the client
 * waits for 100-continue to send, is answered 413 on the first call (the
 * library then closes the connection without reading it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "internal.h"

/* A body over the limit is read and dropped up to this much more, so that
 * the client, still sending, gets its 413; beyond it the connection is
 * closed. */
#define DISCARD_SLACK (16u << 20)

static void count(struct sv_request *r, unsigned status)
{
	struct sv_server *srv = r->srv;
	enum sv_status s = sv_status_index(status);
	atomic_fetch_add_explicit(&srv->routes[r->route].n[s], 1, memory_order_relaxed);
	if (r->route != SV_ROUTE_CALL)
		return;
	struct sv_status_counts *c = !r->g  ? &srv->unknown_guest
	                             : r->f ? &r->f->calls
	                                    : &r->g->unknown_fn;
	atomic_fetch_add_explicit(&c->n[s], 1, memory_order_relaxed);
	if (r->g)
		sv_hist_observe(&r->g->latency,
		                (sv_now_ns() - (r->t_ready ? r->t_ready : r->t_start)) / 1000);
}

/* Queues the answer: `body` (malloc'd, taken; NULL: empty). */
static enum MHD_Result answer(struct sv_request *r, unsigned status, char *body, size_t len,
                              const char *ctype, const char *allow)
{
	struct sv_server *srv = r->srv;
	struct MHD_Response *resp =
		body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
		     : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == 503) {
		char ra[16];
		snprintf(ra, sizeof ra, "%u", srv->cfg->retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (atomic_load(&srv->draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	r->bytes_out = len;
	r->answered = true;
	count(r, status);
	return ret;
}

static enum MHD_Result answer_json(struct sv_request *r, unsigned status, char *body, size_t len)
{
	return answer(r, status, body, len, "application/json", NULL);
}

static enum MHD_Result answer_error(struct sv_request *r, const struct sv_error *e,
                                    const char *allow)
{
	size_t len = 0;
	char *body = sv_json_error(e, &len);
	return answer(r, e->status, body, len, "application/json", allow);
}

static enum MHD_Result fail(struct sv_request *r, unsigned status, const char *code,
                            const char *allow, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static enum MHD_Result fail(struct sv_request *r, unsigned status, const char *code,
                            const char *allow, const char *fmt, ...)
{
	struct sv_error e = {.status = status, .code = code};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof e.msg, fmt, ap);
	va_end(ap);
	return answer_error(r, &e, allow);
}

/* ---- Answers from workers ------------------------------------------------------------ */

void sv_request_finish(struct sv_request *r, unsigned status, char *body, size_t len)
{
	r->status = status;
	r->resp = body;
	r->resp_len = len;
	atomic_store(&r->done, true);
	MHD_resume_connection(r->conn); /* r may be gone once this returns */
}

void sv_request_fail(struct sv_request *r, const struct sv_error *e)
{
	size_t len = 0;
	char *body = sv_json_error(e, &len);
	sv_request_finish(r, e->status, body, len);
}

/* 200 with the JSON document o (taken: freed here), or 500 when it or its
 * text could not be made. */
static enum MHD_Result answer_doc(struct sv_request *r, json_t *o)
{
	size_t len = 0;
	char *body = sv_json_dump(o, &len);
	return body ? answer_json(r, 200, body, len)
	            : fail(r, 500, "HL_E_NOMEM", NULL, "out of memory");
}

/* ---- Routes --------------------------------------------------------------------------- */

static enum MHD_Result list_guest(struct sv_request *r)
{
	struct sv_guest *g = r->g;
	json_t *o = json_object(), *fns = json_array();
	if (!o || !fns) {
		json_decref(o);
		json_decref(fns);
		return fail(r, 500, "HL_E_NOMEM", NULL, "out of memory");
	}
	json_object_set_new(o, "guest", json_string(g->name));
	json_object_set_new(o, "kind", json_string(sv_kind_name(g->kind)));
	json_object_set_new(o, "pool", json_integer(g->set.pool));
	json_object_set_new(o, "queue", json_integer(g->set.queue));
	json_object_set_new(o, "timeout_ms", json_integer(g->set.timeout_ms));
	json_object_set_new(o, "reuse", json_boolean(g->set.reuse));
	for (size_t i = 0; i < g->nfuncs; i++) {
		struct sv_func *f = &g->funcs[i];
		json_t *fo = json_object(), *ps = json_array();
		for (size_t j = 0; j < f->nparams; j++)
			json_array_append_new(ps, json_string(f->json ? "json"
			                                              : hl_type_name(f->params[j])));
		json_object_set_new(fo, "name", sv_json_string_lossy(f->name, strlen(f->name)));
		json_object_set_new(fo, "params", ps);
		json_object_set_new(fo, "result",
		                    json_string(f->json ? "json" : hl_type_name(f->ret)));
		json_array_append_new(fns, fo);
	}
	json_object_set_new(o, "functions", fns);
	return answer_doc(r, o);
}

static enum MHD_Result list_guests(struct sv_request *r)
{
	struct sv_server *srv = r->srv;
	json_t *o = json_object(), *a = json_array();
	for (size_t i = 0; i < srv->nguests; i++) {
		json_t *go = json_object();
		json_object_set_new(go, "name", json_string(srv->guests[i].name));
		json_object_set_new(go, "kind", json_string(sv_kind_name(srv->guests[i].kind)));
		json_object_set_new(go, "functions",
		                    json_integer((json_int_t)srv->guests[i].nfuncs));
		json_array_append_new(a, go);
	}
	json_object_set_new(o, "guests", a);
	return answer_doc(r, o);
}

static enum MHD_Result healthz(struct sv_request *r)
{
	bool draining = atomic_load(&r->srv->draining);
	const char *text = draining ? "{\"status\":\"draining\"}\n" : "{\"status\":\"ok\"}\n";
	char *body = strdup(text);
	return answer_json(r, draining ? 503 : 200, body, body ? strlen(body) : 0);
}

static enum MHD_Result metrics(struct sv_request *r)
{
	size_t len = 0;
	char *body = sv_metrics_text(r->srv, &len);
	if (!body)
		return fail(r, 500, "HL_E_NOMEM", NULL, "out of memory");
	return answer(r, 200, body, len, "text/plain; version=0.0.4; charset=utf-8", NULL);
}

/* Sets r->route (and r->g, r->f) from the path. Returns true if the
 * method fits the route; *allow then names the methods that do. */
static bool route(struct sv_request *r, const char *url, const char *method, const char **allow)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	*allow = "GET, HEAD";
	if (strcmp(url, "/healthz") == 0) {
		r->route = SV_ROUTE_HEALTHZ;
		return get;
	}
	if (strcmp(url, "/metrics") == 0) {
		r->route = SV_ROUTE_METRICS;
		return get;
	}
	if (strcmp(url, "/v1") == 0 || strcmp(url, "/v1/") == 0) {
		r->route = SV_ROUTE_GUESTS;
		return get;
	}
	if (strncmp(url, "/v1/", 4) != 0) {
		r->route = SV_ROUTE_OTHER;
		return true;
	}
	const char *name = url + 4, *slash = strchr(name, '/');
	if (!slash) {
		r->route = SV_ROUTE_GUEST;
		r->g = sv_guest_find(r->srv, name, strlen(name));
		return get;
	}
	r->route = SV_ROUTE_CALL;
	*allow = "POST";
	r->g = sv_guest_find(r->srv, name, (size_t)(slash - name));
	if (r->g)
		r->f = sv_func_find(r->g, slash + 1);
	return strcmp(method, "POST") == 0;
}

/* The whole request is in: answer it or queue it. */
static enum MHD_Result complete(struct sv_request *r, const char *url, const char *method)
{
	struct sv_server *srv = r->srv;
	const char *allow;
	r->t_ready = sv_now_ns();
	bool method_ok = route(r, url, method, &allow);
	if (r->route == SV_ROUTE_OTHER)
		return fail(r, 404, "HL_E_NOT_FOUND", NULL,
		            "no route %s (POST /v1/GUEST/FUNCTION, GET /v1/GUEST, GET /v1, GET /healthz, "
		            "GET /metrics)",
		            url);
	if (!method_ok)
		return fail(r, 405, "HL_E_METHOD", allow, "%s is not allowed on %s (allowed: %s)",
		            method, url, allow);
	if (r->too_large)
		return fail(r, 413, "HL_E_TOO_LARGE", NULL,
		            "the request body is larger than the limit of %" PRIu64 " bytes",
		            srv->cfg->max_body);
	switch (r->route) {
	case SV_ROUTE_HEALTHZ: return healthz(r);
	case SV_ROUTE_METRICS: return metrics(r);
	case SV_ROUTE_GUESTS: return list_guests(r);
	case SV_ROUTE_GUEST:
		if (!r->g)
			return fail(r, 404, "HL_E_NO_GUEST", NULL, "no guest named '%s'", url + 4);
		return list_guest(r);
	default: break;
	}
	if (!r->g)
		return fail(r, 404, "HL_E_NO_GUEST", NULL, "no guest named '%.*s'",
		            (int)(strchr(url + 4, '/') - (url + 4)), url + 4);
	if (!r->f)
		return fail(r, 404, "HL_E_NO_FUNCTION", NULL, "guest '%s' has no function '%s'",
		            r->g->name, strchr(url + 4, '/') + 1);
	struct sv_error e;
	if (sv_json_args(r->f, r, &e) < 0)
		return answer_error(r, &e, NULL);
	if (atomic_load(&srv->refusing))
		return fail(r, 503, "HL_E_BUSY", NULL, "the server is shutting down");
	if (sv_guest_enqueue(r->g, r) < 0)
		return fail(r, 503, "HL_E_BUSY", NULL,
		            "guest '%s': %u requests are waiting already; retry later", r->g->name,
		            r->g->set.queue);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **ctx)
{
	(void)version;
	struct sv_server *srv = cls;
	struct sv_request *r = *ctx;
	if (!r) {
		/* The headers are in. */
		if (!(r = calloc(1, sizeof *r)))
			return MHD_NO;
		r->srv = srv;
		r->conn = c;
		r->t_start = sv_now_ns();
		r->route = SV_ROUTE_OTHER;
		snprintf(r->method, sizeof r->method, "%s", method);
		snprintf(r->path, sizeof r->path, "%s", url);
		r->declared = UINT64_MAX;
		*ctx = r;
		atomic_fetch_add(&srv->active, 1);
		const char *allow;
		route(r, url, method, &allow); /* for the metrics of an early 413 */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(cl, &end, 10);
			if (!errno && *end == '\0')
				r->declared = v;
		}
		if (r->declared != UINT64_MAX && r->declared > srv->cfg->max_body) {
			r->too_large = true;
			const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
			                                                 MHD_HTTP_HEADER_EXPECT);
			if (expect || r->declared > srv->cfg->max_body + DISCARD_SLACK)
				return fail(r, 413, "HL_E_TOO_LARGE", NULL,
				            "the request body is larger than the limit of %" PRIu64
				            " bytes",
				            srv->cfg->max_body);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (!r->too_large && r->len + n > srv->cfg->max_body) {
			r->too_large = true;
			r->discarded = r->len;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
		}
		if (r->too_large) {
			r->discarded += n;
			return r->discarded > srv->cfg->max_body + DISCARD_SLACK ? MHD_NO : MHD_YES;
		}
		if (r->len + n > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			if (r->declared != UINT64_MAX && r->declared >= r->len + n)
				cap = (size_t)r->declared;
			while (cap < r->len + n)
				cap *= 2;
			char *b = realloc(r->body, cap);
			if (!b)
				return MHD_NO;
			r->body = b;
			r->cap = cap;
		}
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		return MHD_YES;
	}
	if (r->queued) {
		if (!atomic_load(&r->done))
			return MHD_YES; /* not resumed by us: nothing to say yet */
		char *body = r->resp;
		r->resp = NULL;
		return answer_json(r, r->status, body, r->resp_len);
	}
	if (r->answered)
		return MHD_YES;
	return complete(r, url, method);
}

/* ---- The access log ------------------------------------------------------------------- */

static void access_log(struct sv_request *r, enum MHD_RequestTerminationCode toe)
{
	struct sv_server *srv = r->srv;
	if (srv->access_fd < 0)
		return;
	char when[40], client[INET6_ADDRSTRLEN] = "-", path[3 * sizeof r->path];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t wl = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + wl, sizeof when - wl, ".%03ldZ", ts.tv_nsec / 1000000);
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			          client, sizeof client);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
			          &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			          client, sizeof client);
	}
	/* The path as received (decoded by libmicrohttpd): escape anything
	 * that could break the line. */
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)r->path; *p && o + 4 < sizeof path;
	     p++) {
		if (*p > 0x20 && *p < 0x7f && *p != '%')
			path[o++] = (char)*p;
		else
			o += (size_t)snprintf(path + o, sizeof path - o, "%%%02X", *p);
	}
	path[o] = '\0';
	char method[sizeof r->method];
	for (size_t i = 0; i < sizeof method; i++)
		method[i] = r->method[i] > 0x20 && r->method[i] < 0x7f ? r->method[i]
		                                                       : (r->method[i] ? '?' : 0);
	const char *note = "";
	switch (toe) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK: break;
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: note = " conn-timeout"; break;
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: note = " shutdown"; break;
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
	case MHD_REQUEST_TERMINATED_READ_ERROR: note = " client-abort"; break;
	default: note = " error"; break;
	}
	char line[1024], st[8] = "-";
	if (r->answered)
		snprintf(st, sizeof st, "%u", r->status);
	int n = snprintf(line, sizeof line, "%s %s %s %s %s %" PRIu64 "us %zu %zu%s\n", when,
	                 client, method, path, st, (sv_now_ns() - r->t_start) / 1000,
	                 r->too_large ? (size_t)r->discarded : r->len, r->bytes_out, note);
	if (n > 0) {
		ssize_t w = write(srv->access_fd, line,
		                  (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		(void)w;
	}
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
	(void)c;
	struct sv_server *srv = cls;
	struct sv_request *r = *ctx;
	if (!r)
		return;
	access_log(r, toe);
	sv_json_args_free(r);
	free(r->body);
	free(r->resp);
	free(r);
	*ctx = NULL;
	atomic_fetch_sub(&srv->active, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
	(void)c, (void)socket_ctx;
	struct sv_server *srv = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&srv->connections, 1);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		atomic_fetch_sub(&srv->connections, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	fprintf(stderr, SV_PROG ": http: %s\n", msg);
}

/* ---- The daemon ----------------------------------------------------------------------- */

/* "ADDR:PORT" or "[ADDR6]:PORT" into *ss. */
static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof host)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || port > 65535)
		return -1;
	memset(ss, 0, sizeof *ss);
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -1;
}

int sv_http_start(struct sv_server *srv, uint16_t *port)
{
	const struct sv_config *cfg = srv->cfg;
	struct sockaddr_storage ss;
	if (parse_listen(cfg->listen, &ss) < 0) {
		fprintf(stderr,
		        SV_PROG ": --listen '%s' is not ADDR:PORT (an IPv4 address, or [IPv6])\n",
		        cfg->listen);
		return -2;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	struct MHD_OptionItem opts[] = {
		/* The logger first, so that every message goes through it. */
		{MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, srv},
		{MHD_OPTION_SOCK_ADDR, 0, &ss},
		{MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout_s, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns, NULL},
		{MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_conns, NULL},
		{MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
		{MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
		{MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv},
		{cfg->http_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
	         cfg->http_threads, NULL},
		{MHD_OPTION_END, 0, NULL},
	};
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY,
	                               opts, MHD_OPTION_END);
	if (!srv->daemon) {
		fprintf(stderr,
		        SV_PROG ": cannot listen on %s (in use, or not an address of this host?)\n",
		        cfg->listen);
		return -1;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*port = di ? di->port : 0;
	return 0;
}

void sv_http_quiesce(struct sv_server *srv)
{
	if (!srv->daemon)
		return;
	MHD_socket s = MHD_quiesce_daemon(srv->daemon);
	/* Closed after MHD_stop_daemon, as libmicrohttpd asks; shut down now
	 * so that new connections are refused at once instead of waiting in
	 * the backlog for a server that will not accept them. */
	if (s != MHD_INVALID_SOCKET)
		shutdown(s, SHUT_RDWR);
	srv->listen_fd = s;
}

void sv_http_stop(struct sv_server *srv)
{
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	srv->listen_fd = -1;
}
