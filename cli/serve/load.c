/*
 * load.c - a guest's template: the file read, the sandbox made and
 * initialised by kind (native, WASM with WASI, or a JavaScript file on the
 * JavaScript guest with its handlers loaded), its function table copied,
 * the snapshot taken and the pool made from it; the guests' output
 * callbacks; looking guests and functions up by name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperlight/js.h"
#include "hyperlight/wasm.h"
#include "internal.h"
#include "sample_host.h"

/* ---- Guest output ----------------------------------------------------------------- */

/* Writes "guest NAME: " and the bytes to stderr in one write, control
 * characters other than newline and tab replaced (the bytes are the
 * guest's, untrusted). */
static void guest_print(int fd, const char *data, size_t len, void *user)
{
	(void)fd;
	struct sv_guest *g = user;
	if (!g->srv->cfg->guest_output)
		return;
	char buf[4096];
	int n = snprintf(buf, sizeof buf, "guest %s: ", g->name);
	size_t off = n > 0 ? (size_t)n : 0;
	for (size_t i = 0; i < len && off < sizeof buf - 2; i++) {
		unsigned char c = (unsigned char)data[i];
		buf[off++] = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : (char)c;
	}
	if (off && buf[off - 1] != '\n')
		buf[off++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, off);
	(void)w;
}

static void guest_log(enum hl_log_level level, const char *file, int line, const char *msg,
                      void *user)
{
	struct sv_guest *g = user;
	if (!g->srv->cfg->guest_output)
		return;
	char text[1024];
	snprintf(text, sizeof text, "log level %d %s:%d: %s", (int)level, file, line, msg);
	guest_print(2, text, strlen(text), user);
}

int sv_guest_set_output(struct sv_guest *g, hl_sandbox *sb)
{
	int r = hl_sandbox_set_print(sb, guest_print, g);
	return r < 0 ? r : hl_sandbox_set_log(sb, guest_log, g);
}

/* ---- Loading a guest ---------------------------------------------------------------- */

static int interrupt_signal(void)
{
	return SIGRTMIN + 1;
}

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	if (!f)
		return -errno;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			if (cap >= (256u << 20)) {
				free(buf);
				fclose(f);
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 1u << 16;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* The guest's sizes over the defaults of its kind already in g->cfg. */
static void apply_settings(struct sv_guest *g)
{
	if (g->set.heap)
		g->cfg.heap_size = g->set.heap;
	if (g->set.stack)
		g->cfg.stack_size = g->set.stack;
	if (g->set.input)
		g->cfg.input_size = g->set.input;
	if (g->set.output)
		g->cfg.output_size = g->set.output;
	g->cfg.interrupt_signal = interrupt_signal();
}

/* Entry i of g->funcs; the name is copied. */
static int set_func(struct sv_guest *g, size_t i, const char *name, bool json, hl_type ret,
                    size_t nparams, const hl_type *params)
{
	struct sv_func *f = &g->funcs[i];
	f->name = strdup(name);
	f->json = json;
	f->ret = ret;
	f->nparams = nparams <= HL_MAX_PARAMS ? nparams : HL_MAX_PARAMS;
	memcpy(f->params, params, f->nparams * sizeof *f->params);
	return f->name ? 0 : HL_E_NOMEM;
}

static int alloc_funcs(struct sv_guest *g, size_t n)
{
	g->nfuncs = n;
	g->funcs = calloc(n ? n : 1, sizeof *g->funcs);
	return g->funcs ? 0 : HL_E_NOMEM;
}

/* A native or WASM guest, initialised in *t from its image: the sample
 * host functions, WASI for WASM; its function table copied. */
static int image_template(struct sv_guest *g, const char *img, size_t len, hl_sandbox **t,
                          const char **step)
{
	if (g->kind == SV_KIND_WASM)
		hl_wasm_config_init(&g->cfg);
	else
		hl_config_init(&g->cfg);
	apply_settings(g);
	int r;
	*step = "new";
	if ((r = hl_sandbox_new(&g->cfg, t)) < 0)
		return r;
	*step = "load";
	if ((r = hl_sandbox_load_image(*t, img, len)) < 0)
		return r;
	*step = "register";
	if ((r = hl_sample_host_register(*t)) < 0)
		return r;
	if (g->kind == SV_KIND_WASM) {
		const char *args[] = {g->name, NULL};
		hl_wasi *wasi = NULL;
		if ((r = hl_wasi_new(args, NULL, &wasi)) < 0)
			return r;
		g->wasi = wasi;
		if ((r = hl_wasi_register(*t, wasi)) < 0)
			return r;
	}
	*step = "init";
	if ((r = sv_guest_set_output(g, *t)) < 0 || (r = hl_sandbox_init(*t)) < 0)
		return r;
	if ((r = alloc_funcs(g, hl_function_count(*t))) < 0)
		return r;
	for (size_t i = 0; i < g->nfuncs; i++) {
		hl_function_info fi;
		if ((r = hl_function_get(*t, i, &fi)) < 0 ||
		    (r = set_func(g, i, fi.name, false, fi.ret, fi.nparams, fi.params)) < 0)
			return r;
	}
	return 0;
}

/* A JavaScript file: the JavaScript guest (hl_js_find_guest) initialised
 * in *t with the engine's default limits and the call timeout, and the
 * file's handlers loaded, each in a realm of its own. */
static int js_template(struct sv_guest *g, const struct sv_guest_conf *gc, const char *src,
                       size_t len, hl_sandbox **t, const char **step)
{
	static const char *const default_handler[] = {"handler"};
	const char *const *handlers = gc->nhandlers ? (const char *const *)gc->handlers
	                                            : default_handler;
	size_t n = gc->nhandlers ? gc->nhandlers : 1;
	hl_js_config jc;
	hl_js_config_init(&jc);
	jc.timeout_ms = g->set.timeout_ms;
	if (g->set.js_memory)
		jc.memory_limit = g->set.js_memory; /* the heap follows (hl_js_sandbox_config) */
	hl_js_sandbox_config(&jc, &g->cfg);
	apply_settings(g);
	char guest[4096];
	int r;
	*step = "finding the JavaScript guest";
	if ((r = hl_js_find_guest(guest, sizeof guest)) < 0)
		return r;
	*step = "new";
	if ((r = hl_sandbox_new(&g->cfg, t)) < 0)
		return r;
	*step = "load";
	if ((r = hl_sandbox_load_file(*t, guest)) < 0)
		return r;
	*step = "init";
	if ((r = sv_guest_set_output(g, *t)) < 0 || (r = hl_sandbox_init(*t)) < 0 ||
	    (r = hl_js_sandbox_setup(*t, &jc)) < 0)
		return r;
	static const hl_type json_param[] = {HL_TYPE_STRING};
	if ((r = alloc_funcs(g, n)) < 0)
		return r;
	/* Stack traces name the file without its directory: they reach the
	 * clients in 422 answers, the server's paths need not. */
	const char *file = strrchr(gc->path, '/') ? strrchr(gc->path, '/') + 1 : gc->path;
	*step = "loading the handlers";
	for (size_t i = 0; i < n; i++)
		if ((r = hl_js_sandbox_load(*t, handlers[i], src, len, handlers[i], file)) < 0 ||
		    (r = set_func(g, i, handlers[i], true, HL_TYPE_STRING, 1, json_param)) < 0)
			return r;
	return 0;
}

int sv_guest_load(struct sv_guest *g, const struct sv_guest_conf *gc)
{
	char *img = NULL;
	size_t len = 0;
	int r = read_file(gc->path, &img, &len);
	if (r < 0) {
		fprintf(stderr, SV_PROG ": guest '%s': %s: %s\n", g->name, gc->path, strerror(-r));
		return -1;
	}
	/* A guest built by `hyperlight wasm build` fetches its WASI lists at
	 * init through a host function of this name, so the name is in its
	 * image; a native guest has no reason to hold it. */
	g->kind = gc->kind;
	if (g->kind == SV_KIND_AUTO)
		g->kind = memmem(img, len, HL_WASI_ARGS_FN, sizeof HL_WASI_ARGS_FN)
		                  ? SV_KIND_WASM
		                  : SV_KIND_NATIVE;
	hl_sandbox *t = NULL;
	const char *step = "new";
	r = g->kind == SV_KIND_JS ? js_template(g, gc, img, len, &t, &step)
	                          : image_template(g, img, len, &t, &step);
	free(img);
	if (r == 0) {
		step = "snapshot";
		r = hl_sandbox_snapshot(t, &g->snap);
	}
	if (r == 0) {
		step = "pool";
		r = hl_pool_new(g->snap, &g->cfg, g->set.pool, &g->pool);
	}
	if (r < 0) {
		const char *detail = t ? hl_errmsg(t) : "";
		if (r == HL_JS_E_NO_GUEST)
			detail = "it is built when the QuickJS module was fetched (scripts/fetch-quickjs.sh, "
				 "then cmake --build), or set HYPERLIGHT_JS_GUEST";
		fprintf(stderr, SV_PROG ": guest '%s' (%s): %s failed: %s%s%s\n", g->name, gc->path,
		        step, hl_js_strerror(r), *detail ? ": " : "", detail);
	}
	hl_sandbox_free(t);
	return r < 0 ? -1 : 0;
}

struct sv_guest *sv_guest_find(struct sv_server *srv, const char *name, size_t len)
{
	for (size_t i = 0; i < srv->nguests; i++)
		if (strlen(srv->guests[i].name) == len &&
		    memcmp(srv->guests[i].name, name, len) == 0)
			return &srv->guests[i];
	return NULL;
}

struct sv_func *sv_func_find(struct sv_guest *g, const char *name)
{
	for (size_t i = 0; i < g->nfuncs; i++)
		if (strcmp(g->funcs[i].name, name) == 0)
			return &g->funcs[i];
	return NULL;
}
