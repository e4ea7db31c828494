/* wasm_build.c - hl_wasm_build: a wasm module to a guest ELF through wasm2c, the glue generator and musl-gcc, run as child processes in a temporary directory. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hyperlight/wasm.h"
#include "wasm_glue.h"
#include "wasm_module.h"

extern char **environ;

/* Where the build tree keeps the tools and the SDK; CMake passes them. */
#ifndef HL_WASM_DEFAULT_WASM2C
#define HL_WASM_DEFAULT_WASM2C "wasm2c"
#endif
#ifndef HL_WASM_DEFAULT_CC
#define HL_WASM_DEFAULT_CC "musl-gcc"
#endif
#ifndef HL_WASM_DEFAULT_SDK
#define HL_WASM_DEFAULT_SDK ""
#endif
/* The installed SDK relative to the installed program (bin/ to
 * share/hyperlight/wasm-sdk), so that an installed tree can move. */
#ifndef HL_WASM_SDK_FROM_BIN
#define HL_WASM_SDK_FROM_BIN "../share/hyperlight/wasm-sdk"
#endif

/* The largest module read (wasm2c's C for it would be far larger). */
#define MAX_MODULE (256u << 20)

void hl_wasm_build_opts_init(hl_wasm_build_opts *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->size = sizeof *opts;
	opts->opt_level = 2;
}

const char *hl_wasm_strerror(int code)
{
	switch (code) {
	case HL_WASM_E_MODULE:
		return "HL_WASM_E_MODULE: the wasm module is malformed or uses something unsupported";
	case HL_WASM_E_TOOL: return "HL_WASM_E_TOOL: wasm2c or the C compiler is missing or failed";
	default: return hl_strerror(code);
	}
}

struct build {
	const hl_wasm_build_opts *o;
	char *err;
	size_t errlen;
	char dir[4096]; /* the work directory */
	bool temp;      /* remove it afterwards */
};

static int failf(struct build *b, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int failf(struct build *b, int code, const char *fmt, ...)
{
	if (b->err && b->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(b->err, b->errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void notef(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notef(struct build *b, const char *fmt, ...)
{
	if (!b->o->note)
		return;
	char msg[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	b->o->note(msg, b->o->note_user);
}

/* dir/name into out; false if it does not fit. */
static bool path_in(const char *dir, const char *name, char *out, size_t len)
{
	return (size_t)snprintf(out, len, "%s/%s", dir, name) < len;
}

/* Reads a whole file, NUL-terminated. Returns 0, -errno or -EFBIG. */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	size_t n = (size_t)st.st_size, got = 0;
	char *buf = malloc(n + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? -errno : -EIO;
			free(buf);
			close(fd);
			return e;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Writes len bytes to path (created or replaced). Returns 0 or -errno. */
static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			close(fd);
			return -e;
		}
		p += w;
		len -= (size_t)w;
	}
	return close(fd) == 0 ? 0 : -errno;
}

/*
 * Runs argv[0] (looked up in PATH if it has no slash) with stdin from
 * /dev/null and stdout and stderr into dir/tool.log. Returns 0, or
 * HL_WASM_E_TOOL with the command's exit status and output in the message.
 */
static int run(struct build *b, const char *what, char *const argv[])
{
	if (b->o->verbose) {
		char line[8192];
		size_t k = 0;
		for (int i = 0; argv[i] && k < sizeof line; i++)
			k += (size_t)snprintf(line + k, sizeof line - k, "%s%s", i ? " " : "",
			                      argv[i]);
		notef(b, "running: %s", line);
	}
	char log[4200];
	if (!path_in(b->dir, "tool.log", log, sizeof log))
		return failf(b, HL_E_IO, "the work directory's path is too long");
	posix_spawn_file_actions_t fa;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return failf(b, HL_E_NOMEM, "out of memory");
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	pid_t pid;
	int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0)
		return failf(b, HL_WASM_E_TOOL, "cannot run %s '%s': %s%s", what, argv[0],
		             strerror(e),
		             e == ENOENT ? " (Debian: apt-get install wabt musl-tools)" : "");
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return failf(b, HL_WASM_E_TOOL, "waiting for %s: %s", what, strerror(errno));
	char *out = NULL;
	size_t n = 0;
	read_file(log, 1u << 20, &out, &n);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		if (n && b->o->verbose)
			notef(b, "%s said:\n%s", what, out);
		free(out);
		return 0;
	}
	char status[64];
	if (WIFEXITED(st))
		snprintf(status, sizeof status, "exit status %d", WEXITSTATUS(st));
	else
		snprintf(status, sizeof status, "signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	/* The start of the output says what went wrong; keep it readable. */
	if (n > 3000)
		strcpy(out + 3000, "\n[...]");
	failf(b, HL_WASM_E_TOOL, "%s failed (%s)%s%s", what, status, n ? ":\n" : "",
	      out && n ? out : "");
	free(out);
	return HL_WASM_E_TOOL;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			char p[4400];
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
			    path_in(dir, e->d_name, p, sizeof p))
				unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* The glue options the build's options imply. */
static struct hl__wasm_glue_opts glue_opts(const hl_wasm_build_opts *o)
{
	struct hl__wasm_glue_opts go = {o->max_call_depth, o->note, o->note_user, o->guest_imports,
	                                (o->flags & HL_WASM_BUILD_NO_EXPORTS) != 0};
	return go;
}

static int write_glue(struct build *b, const struct hl__wasm_module *m)
{
	char hpath[4200], gpath[4200], ghpath[4200];
	if (!path_in(b->dir, "module.h", hpath, sizeof hpath) ||
	    !path_in(b->dir, "glue.c", gpath, sizeof gpath) ||
	    !path_in(b->dir, "hl_wasm_glue.h", ghpath, sizeof ghpath))
		return failf(b, HL_E_IO, "the work directory's path is too long");
	struct hl__wasm_glue_opts go = glue_opts(b->o);
	FILE *gh = fopen(ghpath, "we");
	if (!gh)
		return failf(b, HL_E_IO, "cannot create %s: %s", ghpath, strerror(errno));
	char hmsg[256] = "";
	int hr = hl__wasm_write_glue_header(gh, m, &go, hmsg, sizeof hmsg);
	if (fclose(gh) != 0 && hr == 0)
		return failf(b, HL_E_IO, "writing %s: %s", ghpath, strerror(errno));
	if (hr < 0)
		return failf(b, HL_WASM_E_TOOL, "%s", hmsg);
	char *header = NULL;
	size_t hlen;
	int r = read_file(hpath, 64u << 20, &header, &hlen);
	if (r < 0)
		return failf(b, HL_WASM_E_TOOL, "wasm2c wrote no readable %s: %s", hpath,
		             strerror(-r));
	FILE *f = fopen(gpath, "we");
	if (!f) {
		free(header);
		return failf(b, HL_E_IO, "cannot create %s: %s", gpath, strerror(errno));
	}
	char msg[1024] = "";
	r = hl__wasm_write_glue(f, m, header, &go, msg, sizeof msg);
	free(header);
	if (fclose(f) != 0 && r == 0)
		return failf(b, HL_E_IO, "writing %s: %s", gpath, strerror(errno));
	if (r == -ENOMEM)
		return failf(b, HL_E_NOMEM, "out of memory");
	if (r < 0)
		return failf(b, HL_WASM_E_TOOL, "%s", msg);
	return 0;
}

/* True if dir looks like an SDK (its runtime archive is readable). */
static bool sdk_ok(const char *dir)
{
	char p[4200];
	return path_in(dir, "lib/libhyperlight_wasm_rt.a", p, sizeof p) && access(p, R_OK) == 0;
}

/* The SDK when neither the options nor the environment name one: the one
 * installed beside the running program, else the build tree's. */
static const char *default_sdk(char *buf, size_t len)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
	if (slash) {
		*slash = '\0';
		if ((size_t)snprintf(buf, len, "%s/%s", exe, HL_WASM_SDK_FROM_BIN) < len &&
		    sdk_ok(buf))
			return buf;
	}
	return HL_WASM_DEFAULT_SDK;
}

/* The steps after the module was read and checked, in the work directory. */
static int compile(struct build *b, const char *wasm_path, const char *out_path,
                   const struct hl__wasm_module *m)
{
	const hl_wasm_build_opts *o = b->o;
	const char *env;
	const char *wasm2c = o->wasm2c                                     ? o->wasm2c
	                     : (env = getenv("HYPERLIGHT_WASM2C")) && *env ? env
	                                                                   : HL_WASM_DEFAULT_WASM2C;
	const char *cc = o->cc                                          ? o->cc
	                 : (env = getenv("HYPERLIGHT_WASM_CC")) && *env ? env
	                                                                : HL_WASM_DEFAULT_CC;
	char sdkbuf[4200];
	const char *sdk = o->sdk_dir ? o->sdk_dir
	                  : (env = getenv("HYPERLIGHT_WASM_SDK")) && *env
	                          ? env
	                          : default_sdk(sdkbuf, sizeof sdkbuf);

	char rtlib[4200], guestlib[4200], inc[4200];
	if (!*sdk)
		return failf(b, HL_WASM_E_TOOL, "no wasm SDK directory: set HYPERLIGHT_WASM_SDK");
	if (!path_in(sdk, "lib/libhyperlight_wasm_rt.a", rtlib, sizeof rtlib) ||
	    !path_in(sdk, "lib/libhyperlight_guest.a", guestlib, sizeof guestlib) ||
	    !path_in(sdk, "include", inc, sizeof inc))
		return failf(b, HL_E_INVAL, "the SDK path is too long");
	if (access(rtlib, R_OK) != 0 || access(guestlib, R_OK) != 0)
		return failf(b, HL_WASM_E_TOOL,
		             "the wasm SDK is incomplete: %s or %s is missing (build the project's "
		             "wasm_sdk target, or set HYPERLIGHT_WASM_SDK)",
		             rtlib, guestlib);

	char csrc[4200], hsrc[4200], glue[4200], mobj[4200], gobj[4200];
	if (!path_in(b->dir, "module.c", csrc, sizeof csrc) ||
	    !path_in(b->dir, "module.h", hsrc, sizeof hsrc) ||
	    !path_in(b->dir, "glue.c", glue, sizeof glue) ||
	    !path_in(b->dir, "module.o", mobj, sizeof mobj) ||
	    !path_in(b->dir, "glue.o", gobj, sizeof gobj))
		return failf(b, HL_E_IO, "the work directory's path is too long");

	char *const w2c[] =
		{(char *)wasm2c, (char *)wasm_path, "-n", HL__WASM_MODNAME, "-o", csrc, NULL};
	/* (wasm_path is the renamed copy in the work directory when a map applied.) */
	int r = run(b, "wasm2c", w2c);
	if (r < 0)
		return r;
	if ((r = write_glue(b, m)) < 0)
		return r;

	char opt[4] = "-O2", incflag[4300], wdflag[4300];
	opt[2] = (char)('0' + (o->opt_level < 0 ? 0 : o->opt_level > 3 ? 3 : o->opt_level));
	snprintf(incflag, sizeof incflag, "-I%s", inc);
	snprintf(wdflag, sizeof wdflag, "-I%s", b->dir);
	/* Generated code: its warnings are wasm2c's business, not the user's.
	 * Bounds checks in C (no signal handler in a guest) and the stack-aware
	 * depth limit of hl_wasm_rt.h. */
	/* clang-format off */
	char *const cc_module[] = {(char *)cc, "-c", opt, "-fno-pie", "-w",
	                           "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0",
	                           "-DWASM_RT_MAX_CALL_STACK_DEPTH=hl_wasm__depth_limit()",
	                           "-include", "hl_wasm_rt.h", incflag, wdflag, csrc, "-o", mobj, NULL};
	if ((r = run(b, "the C compiler (module)", cc_module)) < 0)
		return r;
	char *const cc_glue[] = {(char *)cc, "-c", opt, "-fno-pie", "-Wall", "-Wextra",
	                         "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0", incflag, wdflag, glue,
	                         "-o", gobj, NULL};
	/* clang-format on */
	if ((r = run(b, "the C compiler (glue)", cc_glue)) < 0)
		return r;

	/* The embedder's C sources: compiled like the glue, each to srcN.o. */
	size_t nsrc = 0, nflags = 0;
	while (o->c_sources && o->c_sources[nsrc])
		nsrc++;
	while (o->cflags && o->cflags[nflags])
		nflags++;
	if (nsrc > 256 || nflags > 256)
		return failf(b, HL_E_INVAL, "more than 256 C sources or C flags");
	char(*objs)[4200] = calloc(nsrc ? nsrc : 1, sizeof *objs);
	char **argv = calloc(nflags + 16, sizeof *argv);
	char **link = calloc(nsrc + 24, sizeof *link);
	if (!objs || !argv || !link) {
		free(objs);
		free(argv);
		free(link);
		return failf(b, HL_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < nsrc && r == 0; i++) {
		char name[32];
		snprintf(name, sizeof name, "src%zu.o", i);
		if (!path_in(b->dir, name, objs[i], sizeof objs[i])) {
			r = failf(b, HL_E_IO, "the work directory's path is too long");
			break;
		}
		size_t k = 0;
		argv[k++] = (char *)cc;
		argv[k++] = "-c";
		argv[k++] = opt;
		argv[k++] = "-fno-pie";
		argv[k++] = "-Wall";
		argv[k++] = "-Wextra";
		argv[k++] = "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0";
		argv[k++] = incflag;
		argv[k++] = wdflag;
		for (size_t j = 0; j < nflags; j++)
			argv[k++] = (char *)o->cflags[j];
		argv[k++] = (char *)o->c_sources[i];
		argv[k++] = "-o";
		argv[k++] = objs[i];
		argv[k] = NULL;
		char what[4400];
		snprintf(what, sizeof what, "the C compiler (%s)", o->c_sources[i]);
		r = run(b, what, argv);
	}
	if (r == 0) {
		/* The guest link of guests/CMakeLists.txt; main() is in the wasm
		 * runtime's archive, so it is pulled in by name like _start. */
		static const char *const head[] = {"-static",
		                                   "-no-pie",
		                                   "-nostartfiles",
		                                   "-Wl,-u,_start",
		                                   "-Wl,-u,main",
		                                   "-Wl,-z,separate-code",
		                                   "-Wl,-z,noexecstack",
		                                   "-Wl,--build-id=none"};
		size_t k = 0;
		link[k++] = (char *)cc;
		for (size_t j = 0; j < sizeof head / sizeof head[0]; j++)
			link[k++] = (char *)head[j];
		link[k++] = mobj;
		link[k++] = gobj;
		for (size_t i = 0; i < nsrc; i++)
			link[k++] = objs[i];
		link[k++] = rtlib;
		link[k++] = guestlib;
		link[k++] = "-lm";
		link[k++] = "-o";
		link[k++] = (char *)out_path;
		link[k] = NULL;
		r = run(b, "the linker", link);
	}
	free(objs);
	free(argv);
	free(link);
	return r;
}

int hl_wasm_build(const char *wasm_path, const char *out_path, const hl_wasm_build_opts *opts,
                  char *err, size_t errlen)
{
	hl_wasm_build_opts o;
	if (err && errlen)
		err[0] = '\0';
	hl_wasm_build_opts_init(&o);
	struct build b = {.o = &o, .err = err, .errlen = errlen};
	/* The 1.0 structure ends where import_map begins; the fields after it
	 * keep their defaults. */
	if (opts && opts->size != sizeof *opts &&
	    opts->size != offsetof(hl_wasm_build_opts, import_map))
		return failf(&b, HL_E_INVAL,
		             "hl_wasm_build: opts->size is not sizeof(hl_wasm_build_opts)");
	if (opts)
		memcpy(&o, opts, opts->size);
	o.size = sizeof o;
	if (!wasm_path || !out_path)
		return failf(&b, HL_E_INVAL, "hl_wasm_build: a NULL path");
	if (o.flags & ~HL_WASM_BUILD_NO_EXPORTS)
		return failf(&b, HL_E_INVAL, "hl_wasm_build: unknown flags 0x%x", o.flags);
	opts = &o;

	char *bytes = NULL;
	size_t len = 0;
	bool renamed_module = false;
	int r = read_file(wasm_path, MAX_MODULE, &bytes, &len);
	if (r == -ENOMEM)
		return failf(&b, HL_E_NOMEM, "out of memory for %s", wasm_path);
	if (r == -EFBIG)
		return failf(&b, HL_WASM_E_MODULE, "%s is larger than %u MiB", wasm_path,
		             MAX_MODULE >> 20);
	if (r < 0)
		return failf(&b, HL_E_IO, "cannot read %s: %s", wasm_path, strerror(-r));

	struct hl__wasm_module m;
	char msg[1024] = "";
	r = hl__wasm_parse((const uint8_t *)bytes, len, &m, msg, sizeof msg);
	if (r == 0 && opts->import_map) {
		/* Rename first, then parse the renamed module: everything after
		 * this sees the real names. */
		char *maptext = NULL;
		size_t maplen = 0;
		int mr = read_file(opts->import_map, 16u << 20, &maptext, &maplen);
		if (mr < 0) {
			hl__wasm_module_free(&m);
			free(bytes);
			return failf(&b, mr == -ENOMEM ? HL_E_NOMEM : HL_E_IO,
			             "cannot read the import map %s: %s", opts->import_map,
			             strerror(-mr));
		}
		struct hl__wasm_rename_map map;
		uint8_t *renamed = NULL;
		size_t rlen = 0;
		char mmsg[900] = "";
		r = hl__wasm_parse_rename_map(maptext, maplen, &map, mmsg, sizeof mmsg);
		if (r == 0) {
			r = hl__wasm_rename((const uint8_t *)bytes, len, &m, &map, &renamed, &rlen,
			                    mmsg, sizeof mmsg);
			hl__wasm_rename_map_free(&map);
		}
		free(maptext);
		hl__wasm_module_free(&m);
		if (r < 0) {
			free(bytes);
			if (r == -ENOMEM)
				return failf(&b, HL_E_NOMEM, "out of memory renaming %s", wasm_path);
			return failf(&b, HL_WASM_E_MODULE, "%s: import map %s: %s", wasm_path,
			             opts->import_map, mmsg);
		}
		free(bytes);
		bytes = (char *)renamed;
		len = rlen;
		renamed_module = true;
		r = hl__wasm_parse((const uint8_t *)bytes, len, &m, msg, sizeof msg);
	}
	struct hl__wasm_glue_opts go = glue_opts(opts);
	if (r == 0 && (r = hl__wasm_check_imports(&m, &go, msg, sizeof msg)) < 0)
		hl__wasm_module_free(&m);
	if (r < 0) {
		free(bytes);
		if (r == -ENOMEM)
			return failf(&b, HL_E_NOMEM, "out of memory reading %s", wasm_path);
		return failf(&b, HL_WASM_E_MODULE, "%s: %s", wasm_path, msg);
	}

	if (opts->keep_dir) {
		if ((size_t)snprintf(b.dir, sizeof b.dir, "%s", opts->keep_dir) >= sizeof b.dir)
			r = failf(&b, HL_E_INVAL, "keep_dir is too long");
	} else {
		const char *tmp = getenv("TMPDIR");
		if ((size_t)snprintf(b.dir, sizeof b.dir, "%s/hl-wasm-XXXXXX",
		                     tmp && *tmp ? tmp : "/tmp") >= sizeof b.dir)
			r = failf(&b, HL_E_INVAL, "$TMPDIR is too long");
		else if (!mkdtemp(b.dir))
			r = failf(&b, HL_E_IO, "cannot create a temporary directory %s: %s", b.dir,
			          strerror(errno));
		else
			b.temp = true;
	}
	char renamed_path[4200];
	if (r == 0 && renamed_module) {
		/* wasm2c reads the renamed module from the work directory. */
		if (!path_in(b.dir, "module.wasm", renamed_path, sizeof renamed_path))
			r = failf(&b, HL_E_IO, "the work directory's path is too long");
		else if ((r = write_file(renamed_path, bytes, len)) < 0)
			r = failf(&b, HL_E_IO, "cannot write %s: %s", renamed_path, strerror(-r));
		wasm_path = renamed_path;
	}
	if (r == 0)
		r = compile(&b, wasm_path, out_path, &m);
	if (b.temp)
		remove_dir(b.dir);
	hl__wasm_module_free(&m);
	free(bytes);
	return r;
}
