/*
 * internal.h - the private interface between the modules of `hyperlight serve`:
 * config.c (options and the config file), load.c (a guest's template,
 * snapshot and pool), guests.c (a queue and workers per guest, the
 * watchdog), json.c (JSON <-> hl_value), http.c (libmicrohttpd, the routes,
 * the access log), metrics.c (counters and the Prometheus text).
 */
#ifndef HYPERLIGHT_CLI_SERVE_INTERNAL_H
#define HYPERLIGHT_CLI_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hyperlight/hyperlight.h"

#define SV_PROG "hyperlight serve"

/* ---- Configuration (config.c) ------------------------------------------------ */

/* What a guest file is. AUTO: a file named *.js or *.mjs is JavaScript,
 * else its image says native or wasm (guests.c). */
enum sv_kind { SV_KIND_AUTO = 0, SV_KIND_NATIVE, SV_KIND_WASM, SV_KIND_JS };

/* "native", "wasm", "js" ("auto" for SV_KIND_AUTO). */
const char *sv_kind_name(enum sv_kind kind);

/* Settings a guest may override; 0 (or -1 for reuse) means "not set here". */
struct sv_guest_settings {
	unsigned pool;             /* sandboxes, and worker threads */
	unsigned queue;            /* requests waiting for a sandbox, at most */
	uint32_t timeout_ms;       /* per-call deadline */
	uint32_t queue_timeout_ms; /* longest wait for a sandbox before 503 */
	int reuse;                 /* 1: keep guest state between requests; 0: fresh; -1 unset */
	uint64_t heap, stack, input, output; /* hl_config sizes; 0: the kind's default */
	uint64_t js_memory; /* a JavaScript engine's memory limit; 0: hl_js_config_init's */
};

struct sv_guest_conf {
	char *name; /* URL name: the file name without extension, or "name" in the file */
	char *path;
	enum sv_kind kind;
	struct sv_guest_settings set;
	/* JavaScript: the functions of the file served as handlers, each a
	 * global function (script) or export (module); none given: "handler". */
	char **handlers;
	size_t nhandlers;
};

struct sv_config {
	char *listen;                      /* "ADDR:PORT" */
	char *port_file;                   /* write the bound port here once serving (or NULL) */
	char *access_log;                  /* "-" stderr, "off", or a file appended to */
	bool guest_output;                 /* forward guest stdout/stderr and logs to our stderr */
	bool seccomp;                      /* workers run under hl_seccomp_restrict_thread() */
	uint64_t max_body;                 /* bytes of a request body */
	unsigned conn_timeout_s;           /* idle seconds before a connection is closed */
	unsigned max_conns;                /* concurrent connections */
	unsigned per_ip_conns;             /* per client address, 0: no limit */
	unsigned http_threads;             /* libmicrohttpd's polling threads */
	uint32_t drain_ms;                 /* SIGTERM: how long accepted requests may take */
	unsigned retry_after_s;            /* the Retry-After of a 503 */
	struct sv_guest_settings defaults; /* all fields set after sv_config_load */
	size_t nguests;
	struct sv_guest_conf *guests;
};

/* Parses the command line (argv[0] is "serve") and the config file it
 * names into *cfg, with every default filled in. Returns 0, -1 after
 * printing a usage error to stderr, or 1 after printing the help. */
int sv_config_load(int argc, char **argv, struct sv_config *cfg);
void sv_config_free(struct sv_config *cfg);

/* ---- HTTP statuses we answer, and their counters (metrics.c) ------------------- */

enum sv_status {
	SV_200,
	SV_400,
	SV_404,
	SV_405,
	SV_413,
	SV_422,
	SV_500,
	SV_503,
	SV_504,
	SV_NSTATUS
};
extern const unsigned sv_status_code[SV_NSTATUS];
enum sv_status sv_status_index(unsigned code);

/* Latency buckets, upper bounds in microseconds (+Inf follows). */
#define SV_NBUCKETS 16
extern const uint64_t sv_bucket_us[SV_NBUCKETS];

struct sv_hist {
	atomic_uint_fast64_t bucket[SV_NBUCKETS + 1]; /* not cumulative; last: +Inf */
	atomic_uint_fast64_t count, sum_us;
};
void sv_hist_observe(struct sv_hist *h, uint64_t us);

struct sv_status_counts {
	atomic_uint_fast64_t n[SV_NSTATUS];
};

/* ---- A guest and its pool (guests.c) --------------------------------------------- */

struct sv_func {
	char *name;
	bool json; /* a JavaScript handler: one JSON value in, one out (as strings) */
	hl_type ret;
	size_t nparams;
	hl_type params[HL_MAX_PARAMS];
	struct sv_status_counts calls; /* requests by status */
};

enum sv_cancel_reason { SV_CANCEL_NONE = 0, SV_CANCEL_TIMEOUT, SV_CANCEL_SHUTDOWN };

struct sv_guest;
struct sv_request;

struct sv_worker {
	struct sv_guest *g;
	pthread_t tid;
	bool started;
	bool dead;      /* seccomp: no new sandbox can be made here; stopped */
	hl_sandbox *sb; /* held between requests */
	/* What the watchdog sees; guarded by lock. */
	pthread_mutex_t lock;
	hl_interrupt *ih;     /* the handle of the call running now */
	uint64_t deadline_ns; /* cancel the call at this time; 0: none */
	enum sv_cancel_reason reason;
};

struct sv_guest {
	struct sv_server *srv;
	char *name, *path;
	enum sv_kind kind;            /* never SV_KIND_AUTO once loaded */
	struct sv_guest_settings set; /* every field set */
	hl_config cfg;
	void *wasi; /* hl_wasi * for wasm guests (wasm.h stays in guests.c) */
	hl_snapshot *snap;
	hl_pool *pool;
	size_t nfuncs;
	struct sv_func *funcs;
	/* The queue: a ring of set.queue requests. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a request was queued, or stopping */
	struct sv_request **ring;
	size_t head, count;
	bool stopping;
	size_t nworkers;
	struct sv_worker *workers;
	/* Metrics. */
	struct sv_status_counts unknown_fn; /* calls of functions the guest lacks */
	struct sv_hist latency;             /* call requests, receipt to answer */
	atomic_uint_fast64_t in_use, restores, restore_failures, faults, timeouts, shutdown_cancels;
	atomic_uint_fast64_t rej_queue_full, rej_queue_timeout, rej_shutdown, rej_client_gone;
};

/* The server: everything the HTTP side and the workers share. */
struct sv_server {
	const struct sv_config *cfg;
	size_t nguests;
	struct sv_guest *guests;
	struct MHD_Daemon *daemon;
	int listen_fd;                    /* after sv_http_quiesce: closed by sv_http_stop */
	int access_fd;                    /* -1: no access log */
	atomic_uint_fast64_t active;      /* requests accepted and not yet completed */
	atomic_uint_fast64_t connections; /* open HTTP connections */
	atomic_bool draining;             /* SIGTERM seen: Connection: close, /healthz 503 */
	atomic_bool refusing;             /* the drain deadline passed: new calls get 503 */
	uint64_t started_ns;
	/* Metrics of the HTTP side. */
	struct sv_status_counts routes[6]; /* by enum sv_route */
	struct sv_status_counts unknown_guest;
	/* The watchdog (guests.c). */
	pthread_t wd_tid;
	bool wd_started;
	pthread_mutex_t wd_lock;
	pthread_cond_t wd_cond;
	bool wd_stop, wd_kick;
	atomic_uint_fast64_t wd_next; /* when the watchdog wakes next */
	/* Workers report once they are ready (their seccomp filter installed). */
	pthread_mutex_t ready_lock;
	pthread_cond_t ready_cond;
	size_t ready, ready_failed;
};

enum sv_route {
	SV_ROUTE_CALL,
	SV_ROUTE_GUEST,
	SV_ROUTE_GUESTS,
	SV_ROUTE_HEALTHZ,
	SV_ROUTE_METRICS,
	SV_ROUTE_OTHER,
	SV_NROUTES
};
extern const char *const sv_route_name[SV_NROUTES];

/* Loads every guest (template, init, snapshot, pool), starts its workers
 * and the watchdog. Prints what failed to stderr. Returns 0 or -1 (then
 * sv_guests_stop cleans up what was made). */
int sv_guests_start(struct sv_server *srv);
/* Stops the workers (the queues must be empty) and the watchdog, frees
 * the pools. */
void sv_guests_stop(struct sv_server *srv);
/* The drain deadline passed: answers every queued request with 503 and
 * cancels every running call (answered 503). */
void sv_guests_abort_all(struct sv_server *srv);
/* Loads the guest of gc into g (load.c): template, init, function table,
 * snapshot, pool. Prints what failed to stderr; returns 0 or -1. */
int sv_guest_load(struct sv_guest *g, const struct sv_guest_conf *gc);
/* Sends sb's prints and logs to g's output (stderr with --guest-output). */
int sv_guest_set_output(struct sv_guest *g, hl_sandbox *sb);
struct sv_guest *sv_guest_find(struct sv_server *srv, const char *name, size_t len);
struct sv_func *sv_func_find(struct sv_guest *g, const char *name);
/* Queues a parsed call and suspends its connection; from the request's
 * callback. Returns 0 (a worker or the watchdog will finish it), or
 * HL_E_BUSY when the queue is full (nothing was queued or suspended). */
int sv_guest_enqueue(struct sv_guest *g, struct sv_request *r);
uint64_t sv_now_ns(void);

/* ---- One HTTP request (http.c) ---------------------------------------------------- */

struct sv_error {
	unsigned status;
	const char *code; /* "HL_E_..." */
	int guest_code;   /* hl_sandbox_guest_code, for 422 */
	char msg[512];
};

struct sv_request {
	struct sv_server *srv;
	struct MHD_Connection *conn;
	uint64_t t_start, t_ready; /* first callback; body complete */
	char method[8];
	char path[256]; /* for the log, cut short */
	enum sv_route route;
	struct sv_guest *g;
	struct sv_func *f;
	/* The body. */
	char *body;
	size_t len, cap;
	uint64_t declared; /* Content-Length, or UINT64_MAX */
	bool too_large;
	uint64_t discarded;
	/* A call. */
	json_t *json; /* keeps the string arguments alive */
	hl_value args[HL_MAX_PARAMS];
	void *owned[HL_MAX_PARAMS]; /* decoded bytes arguments */
	size_t nargs;
	uint64_t expire_ns;      /* the queue wait ends here (503) */
	bool queued;             /* suspended, waiting for a worker */
	struct sv_request *next; /* a list of requests taken off a queue together */
	atomic_bool done;        /* the answer below is ready */
	/* The answer. */
	unsigned status;
	char *resp; /* malloc'd JSON, handed to libmicrohttpd */
	size_t resp_len;
	bool retry_after;
	bool answered;
	size_t bytes_out;
};

/* Finishes a queued request from a worker or the watchdog: takes the
 * answer (status, malloc'd body) and resumes its connection. */
void sv_request_finish(struct sv_request *r, unsigned status, char *body, size_t len);
/* The same with a JSON error body. */
void sv_request_fail(struct sv_request *r, const struct sv_error *e);

/* Starts libmicrohttpd on cfg->listen and sets *port. Returns 0, -1 (the
 * address cannot be bound) or -2 (it does not parse); says why on stderr. */
int sv_http_start(struct sv_server *srv, uint16_t *port);
/* Stops accepting connections; connections already open go on. */
void sv_http_quiesce(struct sv_server *srv);
void sv_http_stop(struct sv_server *srv);

/* ---- JSON (json.c) -------------------------------------------------------------- */

/* Parses the body of a call as a JSON array of f's arguments. On success
 * fills r->json, r->args, r->owned, r->nargs and returns 0; otherwise
 * fills *e (400) and returns -1. For a JavaScript handler the body is one
 * JSON value of any type (empty: null), checked here and passed on as
 * text: r->args[0] is the string. */
int sv_json_args(const struct sv_func *f, struct sv_request *r, struct sv_error *e);
/* Frees what sv_json_args made. */
void sv_json_args_free(struct sv_request *r);
/* {"result": v} as malloc'd text; NULL with *e filled (500: a string
 * result that is not UTF-8) or on allocation failure. */
char *sv_json_result(const hl_value *v, size_t *len, struct sv_error *e);
/* {"result": <json>} as malloc'd text (*len bytes) for a JavaScript
 * handler's result, the guest's JSON text (untrusted: checked to be one
 * JSON value, then copied as it is); NULL with *e filled (500: not JSON,
 * or out of memory). */
char *sv_json_js_result(const char *json, size_t json_len, size_t *len, struct sv_error *e);
/* {"error": {"code": ..., "message": ..., ["guest_code": n]}} (always succeeds or NULL on OOM). */
char *sv_json_error(const struct sv_error *e, size_t *len);
/* Dumps a JSON value as malloc'd text with a trailing newline, and frees it. */
char *sv_json_dump(json_t *v, size_t *len);
/* A JSON string from untrusted bytes: invalid UTF-8 bytes become '?'. */
json_t *sv_json_string_lossy(const char *s, size_t n);
/* Strict RFC 4648 base64 (standard alphabet, padding, canonical). */
char *sv_base64_encode(const uint8_t *p, size_t n, size_t *outlen);
/* Returns the decoded length, or -1 with *bad = offset of the first bad byte. */
long sv_base64_decode(const char *s, size_t n, uint8_t *out, size_t *bad);

/* ---- Metrics (metrics.c) --------------------------------------------------------- */

/* The Prometheus text exposition of everything counted; malloc'd. */
char *sv_metrics_text(struct sv_server *srv, size_t *len);

#endif /* HYPERLIGHT_CLI_SERVE_INTERNAL_H */
