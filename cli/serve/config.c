/*
 * config.c - the options of `hyperlight serve` and its JSON config file.
 *
 * Precedence, lowest first: built-in defaults, the config file's top-level
 * keys, the command-line flags; then, for one guest, the keys of its entry
 * in the file's "guests" list. The file is read with jansson, strictly: an
 * unknown key, a wrong type or a value out of range is an error that names
 * the key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

static const char usage_text[] =
	"Usage: hyperlight serve [OPTIONS] GUEST_FILE...\n"
	"\n"
	"Serves the functions of each guest over HTTP, a sandbox in the state right\n"
	"after the guest's init for every request. A guest's URL name is its file\n"
	"name without extension. Native guests, WASM guests (from\n"
	"'hyperlight wasm build') and JavaScript files (*.js, *.mjs: the function\n"
	"'handler', or the \"handlers\" of the guest's entry in --config) are served.\n"
	"\n"
	"  POST /v1/GUEST/FUNCTION   JSON array of arguments -> {\"result\": ...}\n"
	"  POST /v1/GUEST/HANDLER    JavaScript: one JSON value -> {\"result\": ...}\n"
	"  GET  /v1/GUEST            the guest's functions and signatures\n"
	"  GET  /v1                  the guests\n"
	"  GET  /healthz             200 while serving, 503 while draining\n"
	"  GET  /metrics             Prometheus text format\n"
	"\n"
	"Options (defaults in brackets; a guest's entry in --config may override\n"
	"the pool, queue, timeouts, reuse and sizes):\n"
	"  --listen ADDR:PORT        address to listen on [127.0.0.1:8080]; port 0\n"
	"                            picks a free port (see --port-file)\n"
	"  --pool N                  sandboxes (and worker threads) per guest [CPUs]\n"
	"  --queue N                 requests that may wait for a sandbox, per guest [64]\n"
	"  --queue-timeout-ms N      longest wait for a sandbox before 503 [1000]\n"
	"  --timeout-ms N            cancel a call that runs longer (504) [1000]\n"
	"  --reuse                   keep guest state between requests (restore only\n"
	"                            after a failure) instead of a fresh state\n"
	"  --heap/--stack/--input/--output SIZE\n"
	"                            guest memory [native: the library's defaults;\n"
	"                            wasm: 4M heap, 256K stack; js: hl_js_sandbox_config's]\n"
	"  --js-memory SIZE          what a JavaScript guest's engine may allocate [64M]\n"
	"  --max-body SIZE           largest request body (413 above) [1M]\n"
	"  --conn-timeout S          close a connection idle for S seconds [10]\n"
	"  --max-connections N       concurrent connections [1024]\n"
	"  --per-ip-connections N    concurrent connections per client, 0: no limit [0]\n"
	"  --http-threads N          HTTP polling threads [1]\n"
	"  --drain-timeout-ms N      on SIGTERM/SIGINT, how long accepted requests may\n"
	"                            still take before they are cancelled [10000]\n"
	"  --retry-after S           Retry-After of a 503 [1]\n"
	"  --access-log FILE         one line per request: '-' stderr, 'off', or a file [-]\n"
	"  --guest-output            forward the guests' prints and logs to stderr\n"
	"  --seccomp                 confine each worker thread to the system calls a\n"
	"                            call and a restore need (hl_seccomp_restrict_thread)\n"
	"  --port-file FILE          write the bound port to FILE once serving\n"
	"  --config FILE             JSON configuration (docs/serving.md)\n"
	"  -h, --help                print this help\n"
	"\n"
	"SIZE is bytes with an optional K, M or G. Exit status: 0 after a clean\n"
	"shutdown, 1 for a bad command line or configuration, 3 when a guest\n"
	"cannot be loaded or the address cannot be bound.\n";

static int cfg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cfg_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(SV_PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\nTry 'hyperlight serve --help' for more information.\n", stderr);
	va_end(ap);
	return -1;
}

/* A decimal number in [lo, hi], nothing else. */
static bool parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* ---- The settings, by name, shared by flags and the file --------------------- */

enum val_kind { V_UINT, V_SIZE, V_BOOL, V_STR };

struct key {
	const char *flag; /* "--pool", or NULL: file only */
	const char *json; /* "pool", or NULL: flag only */
	enum val_kind kind;
	uint64_t lo, hi; /* for V_UINT and V_SIZE */
	bool per_guest;  /* may appear in a guest's entry */
	int id;
};

enum {
	K_LISTEN,
	K_POOL,
	K_QUEUE,
	K_QTIMEOUT,
	K_TIMEOUT,
	K_REUSE,
	K_HEAP,
	K_STACK,
	K_INPUT,
	K_OUTPUT,
	K_MAXBODY,
	K_CONNTIMEOUT,
	K_MAXCONNS,
	K_PERIP,
	K_THREADS,
	K_DRAIN,
	K_RETRY,
	K_ACCESS,
	K_GUESTOUT,
	K_PORTFILE,
	K_CONFIG,
	K_SECCOMP,
	K_JSMEM,
};

static const struct key keys[] = {
	{"--listen", "listen", V_STR, 0, 0, false, K_LISTEN},
	{"--pool", "pool", V_UINT, 1, 1024, true, K_POOL},
	{"--queue", "queue", V_UINT, 1, 1u << 20, true, K_QUEUE},
	{"--queue-timeout-ms", "queue_timeout_ms", V_UINT, 1, 3600000, true, K_QTIMEOUT},
	{"--timeout-ms", "timeout_ms", V_UINT, 1, 3600000, true, K_TIMEOUT},
	{"--reuse", "reuse", V_BOOL, 0, 0, true, K_REUSE},
	{"--heap", "heap", V_SIZE, 1, UINT64_MAX, true, K_HEAP},
	{"--stack", "stack", V_SIZE, 1, UINT64_MAX, true, K_STACK},
	{"--input", "input", V_SIZE, 1, UINT64_MAX, true, K_INPUT},
	{"--output", "output", V_SIZE, 1, UINT64_MAX, true, K_OUTPUT},
	{"--js-memory", "js_memory", V_SIZE, 1u << 20, UINT32_MAX - 1ull, true, K_JSMEM},
	{"--max-body", "max_body", V_SIZE, 1, 1ull << 30, false, K_MAXBODY},
	{"--conn-timeout", "conn_timeout_s", V_UINT, 1, 86400, false, K_CONNTIMEOUT},
	{"--max-connections", "max_connections", V_UINT, 1, 1u << 20, false, K_MAXCONNS},
	{"--per-ip-connections", "per_ip_connections", V_UINT, 0, 1u << 20, false, K_PERIP},
	{"--http-threads", "http_threads", V_UINT, 1, 256, false, K_THREADS},
	{"--drain-timeout-ms", "drain_timeout_ms", V_UINT, 0, 3600000, false, K_DRAIN},
	{"--retry-after", "retry_after_s", V_UINT, 0, 86400, false, K_RETRY},
	{"--access-log", "access_log", V_STR, 0, 0, false, K_ACCESS},
	{"--guest-output", "guest_output", V_BOOL, 0, 0, false, K_GUESTOUT},
	{"--seccomp", "seccomp", V_BOOL, 0, 0, false, K_SECCOMP},
	{"--port-file", "port_file", V_STR, 0, 0, false, K_PORTFILE},
	{"--config", NULL, V_STR, 0, 0, false, K_CONFIG},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int set_str(char **dst, const char *v)
{
	char *c = strdup(v);
	if (!c)
		return cfg_error("out of memory");
	free(*dst);
	*dst = c;
	return 0;
}

/* Applies one value to the server settings (`gs` NULL) or to a guest's. */
static int apply(struct sv_config *cfg, struct sv_guest_settings *gs, const struct key *k,
                 uint64_t u, bool b, const char *s)
{
	struct sv_guest_settings *t = gs ? gs : &cfg->defaults;
	switch (k->id) {
	case K_LISTEN: return set_str(&cfg->listen, s);
	case K_POOL: t->pool = (unsigned)u; break;
	case K_QUEUE: t->queue = (unsigned)u; break;
	case K_QTIMEOUT: t->queue_timeout_ms = (uint32_t)u; break;
	case K_TIMEOUT: t->timeout_ms = (uint32_t)u; break;
	case K_REUSE: t->reuse = b; break;
	case K_HEAP: t->heap = u; break;
	case K_STACK: t->stack = u; break;
	case K_INPUT: t->input = u; break;
	case K_OUTPUT: t->output = u; break;
	case K_JSMEM: t->js_memory = u; break;
	case K_MAXBODY: cfg->max_body = u; break;
	case K_CONNTIMEOUT: cfg->conn_timeout_s = (unsigned)u; break;
	case K_MAXCONNS: cfg->max_conns = (unsigned)u; break;
	case K_PERIP: cfg->per_ip_conns = (unsigned)u; break;
	case K_THREADS: cfg->http_threads = (unsigned)u; break;
	case K_DRAIN: cfg->drain_ms = (uint32_t)u; break;
	case K_RETRY: cfg->retry_after_s = (unsigned)u; break;
	case K_ACCESS: return set_str(&cfg->access_log, s);
	case K_GUESTOUT: cfg->guest_output = b; break;
	case K_SECCOMP: cfg->seccomp = b; break;
	case K_PORTFILE: return set_str(&cfg->port_file, s);
	default: break;
	}
	return 0;
}

/* ---- The config file ------------------------------------------------------------ */

static int json_value(const char *file, const char *where, const struct key *k, json_t *v,
                      uint64_t *u, bool *b, const char **s)
{
	switch (k->kind) {
	case V_BOOL:
		if (!json_is_boolean(v))
			return cfg_error("%s: %s\"%s\" must be true or false", file, where, k->json);
		*b = json_is_true(v);
		return 0;
	case V_STR:
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return cfg_error("%s: %s\"%s\" must be a non-empty string", file, where,
			                 k->json);
		*s = json_string_value(v);
		return 0;
	case V_UINT:
	case V_SIZE:
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			*u = (uint64_t)json_integer_value(v);
		else if (k->kind == V_SIZE && json_is_string(v) &&
		         hl_cli_parse_size(json_string_value(v), u))
			;
		else
			return cfg_error("%s: %s\"%s\" must be %s", file, where, k->json,
			                 k->kind == V_SIZE
			                         ? "a size (bytes, or a string such as \"4M\")"
			                         : "a non-negative integer");
		if (*u < k->lo || *u > k->hi)
			return cfg_error("%s: %s\"%s\" is out of range [%llu, %llu]", file, where,
			                 k->json, (unsigned long long)k->lo,
			                 (unsigned long long)k->hi);
		return 0;
	}
	return -1;
}

static const struct key *key_by_json(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].json && strcmp(keys[i].json, name) == 0)
			return &keys[i];
	return NULL;
}

const char *sv_kind_name(enum sv_kind kind)
{
	static const char *const names[] = {"auto", "native", "wasm", "js"};
	return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

static bool kind_by_name(const char *s, enum sv_kind *out)
{
	for (int k = SV_KIND_AUTO; s && k <= SV_KIND_JS; k++)
		if (strcmp(s, sv_kind_name((enum sv_kind)k)) == 0) {
			*out = (enum sv_kind)k;
			return true;
		}
	return false;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n > t && strcmp(s + n - t, tail) == 0;
}

static bool is_js_file(const char *path)
{
	return ends_with(path, ".js") || ends_with(path, ".mjs");
}

/* A handler's name is also a JavaScript identifier and a URL segment. */
static bool valid_handler(const char *s)
{
	if (!*s || strlen(s) > 64 || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* "handlers": a non-empty array of distinct names. */
static int set_handlers(const char *file, const char *where, struct sv_guest_conf *g, json_t *v)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	if (n == 0 || n > 256)
		return cfg_error("%s: %s\"handlers\" must be an array of 1 to 256 function names",
		                 file, where);
	g->handlers = calloc(n, sizeof *g->handlers);
	if (!g->handlers)
		return cfg_error("out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *h = json_string_value(json_array_get(v, i));
		if (!h || !valid_handler(h))
			return cfg_error(
				"%s: %shandlers[%zu] must be a function name: a letter or '_', "
				"then letters, digits or '_', at most 64",
				file, where, i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->handlers[j], h) == 0)
				return cfg_error("%s: %shandlers[%zu]: \"%s\" is listed twice",
				                 file, where, i, h);
		if (!(g->handlers[i] = strdup(h)))
			return cfg_error("out of memory");
		g->nhandlers = i + 1;
	}
	return 0;
}

static int add_guest(struct sv_config *cfg, const char *path, const char *name, enum sv_kind kind,
                     struct sv_guest_conf **out)
{
	struct sv_guest_conf *n = realloc(cfg->guests, (cfg->nguests + 1) * sizeof *n);
	if (!n)
		return cfg_error("out of memory");
	cfg->guests = n;
	struct sv_guest_conf *g = &n[cfg->nguests];
	memset(g, 0, sizeof *g);
	g->set.reuse = -1;
	g->set.queue_timeout_ms = UINT32_MAX; /* unset: 0 is a valid value */
	g->kind = kind == SV_KIND_AUTO && is_js_file(path) ? SV_KIND_JS : kind;
	g->path = strdup(path);
	if (name) {
		g->name = strdup(name);
	} else {
		/* The file name without its extension. */
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		const char *dot = strrchr(base, '.');
		size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
		g->name = strndup(base, len);
	}
	cfg->nguests++;
	if (!g->path || !g->name)
		return cfg_error("out of memory");
	if (out)
		*out = g;
	return 0;
}

static int load_file(struct sv_config *cfg, const char *file)
{
	json_error_t jerr;
	json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return cfg_error("%s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
	int rc = 0;
	const char *name;
	json_t *v;
	if (!json_is_object(root)) {
		rc = cfg_error("%s: the configuration must be a JSON object", file);
		goto out;
	}
	json_object_foreach(root, name, v) {
		if (strcmp(name, "guests") == 0)
			continue;
		const struct key *k = key_by_json(name);
		uint64_t u = 0;
		bool b = false;
		const char *s = NULL;
		if (!k) {
			rc = cfg_error("%s: unknown key \"%s\"", file, name);
			goto out;
		}
		if ((rc = json_value(file, "", k, v, &u, &b, &s)) < 0 ||
		    (rc = apply(cfg, NULL, k, u, b, s)) < 0)
			goto out;
	}
	json_t *guests = json_object_get(root, "guests");
	if (guests && !json_is_array(guests)) {
		rc = cfg_error("%s: \"guests\" must be an array of objects", file);
		goto out;
	}
	size_t i;
	json_t *ge;
	json_array_foreach(guests, i, ge) {
		char where[64];
		snprintf(where, sizeof where, "guests[%zu].", i);
		json_t *path = json_object_get(ge, "path");
		if (!json_is_object(ge) || !json_is_string(path)) {
			rc = cfg_error("%s: guests[%zu] must be an object with a \"path\" string",
			               file, i);
			goto out;
		}
		json_t *jn = json_object_get(ge, "name"), *jk = json_object_get(ge, "kind");
		if (jn && !json_is_string(jn)) {
			rc = cfg_error("%s: %s\"name\" must be a string", file, where);
			goto out;
		}
		enum sv_kind kind = SV_KIND_AUTO;
		if (jk) {
			const char *ks = json_string_value(jk);
			if (!kind_by_name(ks, &kind)) {
				rc = cfg_error(
					"%s: %s\"kind\" must be \"auto\", \"native\", \"wasm\" or "
					"\"js\"",
					file, where);
				goto out;
			}
		}
		struct sv_guest_conf *g;
		if ((rc = add_guest(cfg, json_string_value(path), jn ? json_string_value(jn) : NULL,
		                    kind, &g)) < 0)
			goto out;
		json_object_foreach(ge, name, v) {
			if (!strcmp(name, "path") || !strcmp(name, "name") || !strcmp(name, "kind"))
				continue;
			if (!strcmp(name, "handlers")) {
				if ((rc = set_handlers(file, where, g, v)) < 0)
					goto out;
				continue;
			}
			const struct key *k = key_by_json(name);
			uint64_t u = 0;
			bool b = false;
			const char *s = NULL;
			if (!k || !k->per_guest) {
				rc = cfg_error("%s: %sunknown key \"%s\"%s", file, where, name,
				               k ? " (it is a server setting: put it at the top level)"
				                 : "");
				goto out;
			}
			if ((rc = json_value(file, where, k, v, &u, &b, &s)) < 0 ||
			    (rc = apply(cfg, &g->set, k, u, b, s)) < 0)
				goto out;
		}
		if (g->set.js_memory && g->kind != SV_KIND_JS) {
			rc = cfg_error(
				"%s: %s\"js_memory\" is for JavaScript guests (a .js or .mjs file, or "
				"\"kind\": \"js\")",
				file, where);
			goto out;
		}
		if (g->nhandlers && g->kind != SV_KIND_JS) {
			rc = cfg_error(
				"%s: %s\"handlers\" is for JavaScript guests (a .js or .mjs file, or "
				"\"kind\": \"js\")",
				file, where);
			goto out;
		}
	}
out:
	json_decref(root);
	return rc;
}

/* ---- The command line ------------------------------------------------------------ */

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

static void set_defaults(struct sv_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->defaults.pool = ncpu > 0 && ncpu < 1024 ? (unsigned)ncpu : 1;
	cfg->defaults.queue = 64;
	cfg->defaults.queue_timeout_ms = 1000;
	cfg->defaults.timeout_ms = 1000;
	cfg->defaults.reuse = 0;
	cfg->max_body = 1u << 20;
	cfg->conn_timeout_s = 10;
	cfg->max_conns = 1024;
	cfg->http_threads = 1;
	cfg->drain_ms = 10000;
	cfg->retry_after_s = 1;
}

int sv_config_load(int argc, char **argv, struct sv_config *cfg)
{
	set_defaults(cfg);
	if (!(cfg->listen = strdup("127.0.0.1:8080")) || !(cfg->access_log = strdup("-")))
		return cfg_error("out of memory");
	/* The file first, so that flags override it. */
	int i;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		const char *file = NULL;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
		if (file && load_file(cfg, file) < 0)
			return -1;
	}
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return 1;
		}
		const struct key *k = NULL;
		const char *val = NULL;
		for (size_t j = 0; j < NKEYS && !k; j++) {
			size_t fl = strlen(keys[j].flag);
			if (strcmp(a, keys[j].flag) == 0)
				k = &keys[j];
			else if (strncmp(a, keys[j].flag, fl) == 0 && a[fl] == '=' &&
			         keys[j].kind != V_BOOL) {
				k = &keys[j];
				val = a + fl + 1;
			}
		}
		if (!k)
			return cfg_error("unknown option '%s'", a);
		uint64_t u = 0;
		if (k->kind != V_BOOL && !val) {
			if (i + 1 >= argc)
				return cfg_error("option %s needs a value", a);
			val = argv[++i];
		}
		if (k->id == K_CONFIG)
			continue; /* read above */
		if ((k->kind == V_UINT && !parse_uint(val, k->lo, k->hi, &u)) ||
		    (k->kind == V_SIZE && (!hl_cli_parse_size(val, &u) || u < k->lo || u > k->hi)))
			return cfg_error("option %s: '%s' is not %s in [%llu, %llu]", k->flag, val,
			                 k->kind == V_SIZE
			                         ? "a size (bytes with an optional K, M or G)"
			                         : "a number",
			                 (unsigned long long)k->lo, (unsigned long long)k->hi);
		if (k->kind == V_STR && !*val)
			return cfg_error("option %s: the value is empty", k->flag);
		if (apply(cfg, NULL, k, u, true, val) < 0)
			return -1;
	}
	for (; i < argc; i++)
		if (add_guest(cfg, argv[i], NULL, SV_KIND_AUTO, NULL) < 0)
			return -1;
	if (cfg->nguests == 0)
		return cfg_error(
			"no guest: name at least one GUEST_FILE (or \"guests\" in --config)");
	for (size_t g = 0; g < cfg->nguests; g++) {
		struct sv_guest_conf *gc = &cfg->guests[g];
		if (!valid_name(gc->name))
			return cfg_error(
				"guest '%s': its name '%s' is not 1 to 64 of [A-Za-z0-9_.-] (rename "
				"the file or give a \"name\" in --config)",
				gc->path, gc->name);
		for (size_t h = 0; h < g; h++)
			if (strcmp(cfg->guests[h].name, gc->name) == 0)
				return cfg_error("two guests are named '%s' (%s and %s)", gc->name,
				                 cfg->guests[h].path, gc->path);
		/* What the guest's entry did not set comes from the server's settings. */
		struct sv_guest_settings *s = &gc->set, *d = &cfg->defaults;
		/* clang-format off */
		if (!s->pool) s->pool = d->pool;
		if (!s->queue) s->queue = d->queue;
		if (!s->timeout_ms) s->timeout_ms = d->timeout_ms;
		if (s->queue_timeout_ms == UINT32_MAX) s->queue_timeout_ms = d->queue_timeout_ms;
		if (s->reuse < 0) s->reuse = d->reuse;
		if (!s->heap) s->heap = d->heap;
		if (!s->stack) s->stack = d->stack;
		if (!s->input) s->input = d->input;
		if (!s->output) s->output = d->output;
		if (!s->js_memory) s->js_memory = d->js_memory;
		/* clang-format on */
	}
	return 0;
}

void sv_config_free(struct sv_config *cfg)
{
	for (size_t i = 0; i < cfg->nguests; i++) {
		free(cfg->guests[i].name);
		free(cfg->guests[i].path);
		for (size_t j = 0; j < cfg->guests[i].nhandlers; j++)
			free(cfg->guests[i].handlers[j]);
		free(cfg->guests[i].handlers);
	}
	free(cfg->guests);
	free(cfg->listen);
	free(cfg->access_log);
	free(cfg->port_file);
	memset(cfg, 0, sizeof *cfg);
}
