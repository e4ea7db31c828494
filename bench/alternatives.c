/*
 * alternatives.c - what a user would pick instead of a fresh-state call, timed in the
 * same run: posix_spawn of a small static program, a fork server, and a new V8
 * WebAssembly instance in Node. Each is a ratio to our fresh-state call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

/* The fresh-state call as in the targets: restore, then DirtyPages(8). */
static double fresh_block(hl_sandbox *sb, hl_snapshot *snap, int n, double *t)
{
	hl_value eight = hl_i32(8);
	for (int i = 0; i < n / 10 + 2; i++)
		hl_call_fresh(sb, snap, "DirtyPages", &eight, 1, NULL);
	for (int i = 0; i < n; i++) {
		double t0 = timing_now_us();
		if (hl_call_fresh(sb, snap, "DirtyPages", &eight, 1, NULL) != 0)
			return -1;
		t[i] = timing_now_us() - t0;
	}
	return timing_median(t, n);
}

/* posix_spawn + waitpid of HL_TRUE_STATIC (main returns 0), median us. */
static double spawn_block(int n, double *t, char *err, size_t len)
{
	char prog[] = HL_TRUE_STATIC;
	char *argv[] = {prog, NULL};
	for (int i = -2; i < n; i++) {
		pid_t pid;
		int st;
		double t0 = timing_now_us();
		int e = posix_spawn(&pid, prog, NULL, NULL, argv, environ);
		if (e != 0) {
			snprintf(err, len, "posix_spawn %s: %s", prog, strerror(e));
			return -1;
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			snprintf(err, len, "%s did not exit 0", prog);
			return -1;
		}
		if (i >= 0)
			t[i] = timing_now_us() - t0;
	}
	return timing_median(t, n);
}

/* ---- the fork server ------------------------------------------------------------------ */

struct fork_server {
	pid_t pid;
	int req, ans; /* our ends: requests written, answers read */
};

/* Starts HL_FORK_SERVER (bench/fork_server.c) with pipes on its stdin and stdout. */
static int fork_server_start(struct fork_server *fs, char *err, size_t len)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
		snprintf(err, len, "pipe: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char prog[] = HL_FORK_SERVER;
	char *argv[] = {prog, NULL};
	int e = posix_spawn(&fs->pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	fs->req = in[1];
	fs->ans = out[0];
	if (e != 0) {
		snprintf(err, len, "posix_spawn %s: %s", prog, strerror(e));
		close(fs->req);
		close(fs->ans);
		return -1;
	}
	return 0;
}

static void fork_server_stop(struct fork_server *fs)
{
	close(fs->req); /* end of requests: the server exits */
	close(fs->ans);
	waitpid(fs->pid, NULL, 0);
}

/* Median us from writing a request to reading the answer of the child
 * the server forked for it. */
static double fork_block(struct fork_server *fs, int n, double *t, char *err, size_t len)
{
	for (int i = -2; i < n; i++) {
		char rq = 'r', an = 0;
		double t0 = timing_now_us();
		if (write(fs->req, &rq, 1) != 1 || read(fs->ans, &an, 1) != 1 || an != 'a') {
			snprintf(err, len, "the fork server %s",
			         an == 'e' ? "could not fork" : "stopped");
			return -1;
		}
		if (i >= 0)
			t[i] = timing_now_us() - t0;
	}
	return timing_median(t, n);
}

/* ---- Node ------------------------------------------------------------------------------- */

/* The node binary: $HL_BENCH_NODE if set (empty: none), else `node` in PATH. */
static const char *find_node(char *buf, size_t len)
{
	const char *e = getenv("HL_BENCH_NODE");
	if (e)
		return e[0] && access(e, X_OK) == 0 ? e : NULL;
	const char *path = getenv("PATH");
	while (path && *path) {
		size_t n = strcspn(path, ":");
		snprintf(buf, len, "%.*s/node", (int)n, path);
		struct stat st;
		if (n && stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
			return buf;
		path += n + (path[n] == ':');
	}
	return NULL;
}

/* Runs bench/node_fresh.js; its one JSON line gives the median us of a new
 * instance + call. Returns -1 with the reason in err. */
static double node_fresh(int n, char *ver, size_t vlen, char *err, size_t len)
{
	char nodebuf[4096], cmd[8192], line[1024] = "";
	const char *node = find_node(nodebuf, sizeof nodebuf);
	if (!node) {
		snprintf(err, len, "node not found (PATH, or HL_BENCH_NODE)");
		return -1;
	}
	if (access(HL_BENCH_NODE_SCRIPT, R_OK) != 0) {
		snprintf(err, len, "%s: %s", HL_BENCH_NODE_SCRIPT, strerror(errno));
		return -1;
	}
	snprintf(cmd, sizeof cmd, "'%s' '%s' %d 2>&1", node, HL_BENCH_NODE_SCRIPT, n);
	FILE *p = popen(cmd, "r");
	if (!p) {
		snprintf(err, len, "popen: %s", strerror(errno));
		return -1;
	}
	char *got = fgets(line, sizeof line, p);
	int st = pclose(p);
	line[strcspn(line, "\n")] = '\0';
	const char *k = got ? strstr(line, "\"instance_call_us\":") : NULL;
	const char *v = got ? strstr(line, "\"node\":\"") : NULL;
	if (st != 0 || !k) {
		snprintf(err, len, "%.200s failed: %.180s", node, line[0] ? line : "no output");
		return -1;
	}
	if (v)
		snprintf(ver, vlen, "%.*s", (int)strcspn(v + 8, "\""), v + 8);
	return strtod(k + strlen("\"instance_call_us\":"), NULL);
}

/* ---- the table ----------------------------------------------------------------------------- */

static void alt_row(const char *key, const char *name, const double *alt, const double *fresh,
                    int R, const char *err)
{
	double q[64];
	int k = 0;
	for (int r = 0; r < R; r++)
		if (alt[r] > 0 && fresh[r] > 0)
			q[k++] = alt[r] / fresh[r];
	if (k < R) {
		bench_missing(BENCH_ALTERNATIVE, key, name, false, "%s", err[0] ? err : "failed");
		return;
	}
	struct bench_row *row = bench_row_add(BENCH_ALTERNATIVE, key, name);
	row->value = timing_median_of(alt, R);
	row->base = timing_median_of(fresh, R);
	row->ratio = timing_median(q, k);
}

void bench_alternatives(struct bench_ctx *cx, hl_sandbox *sb)
{
	const struct bench_opts *o = cx->o;
	int R = o->rounds, n = o->iters / 4 < 10 ? 10 : o->iters / 4, nspawn = o->quick ? 10 : 40,
	    nfork = o->quick ? 20 : 100;
	double fresh[64], spawn[64], fork[64];
	double *t = malloc(sizeof *t * (size_t)(n > 100 ? n : 100));
	char serr[300] = "", ferr[300] = "";
	struct fork_server fs;
	bool have_fs = fork_server_start(&fs, ferr, sizeof ferr) == 0;
	/* A child that dies before its answer must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);

	/* Interleaved: each round times our fresh-state call and both process
	 * alternatives under the same load. */
	for (int r = 0; r < R; r++) {
		fresh[r] = fresh_block(sb, cx->snap, n, t);
		spawn[r] = serr[0] ? -1 : spawn_block(nspawn, t, serr, sizeof serr);
		fork[r] = have_fs && !ferr[0] ? fork_block(&fs, nfork, t, ferr, sizeof ferr) : -1;
	}
	if (have_fs)
		fork_server_stop(&fs);

	struct bench_row *f = bench_row_add(BENCH_ALTERNATIVE, "alt_fresh",
	                                    "ours: fresh-state call (restore + DirtyPages(8))");
	f->value = timing_median_of(fresh, R);
	f->base = f->value;
	f->ratio = 1.0;
	alt_row("alt_spawn", "posix_spawn + wait of a small static program", spawn, fresh, R, serr);
	alt_row("alt_fork_server", "fork server: request -> answer (child writes 8 pages)", fork,
	        fresh, R, ferr);

	char ver[64] = "", err[400] = "";
	double nd = node_fresh(o->quick ? 200 : 1000, ver, sizeof ver, err, sizeof err);
	char name[96];
	snprintf(name, sizeof name, "node%s%.20s: new WebAssembly instance + call (writes 8 pages)",
	         ver[0] ? " " : "", ver);
	if (nd > 0 && f->value > 0) {
		struct bench_row *r = bench_row_add(BENCH_ALTERNATIVE, "alt_node_wasm", name);
		r->value = nd;
		r->base = f->value;
		r->ratio = nd / f->value;
	} else {
		/* Absent node is a skip; a node that fails is a failure. */
		bool absent = strncmp(err, "node not found", 14) == 0;
		bench_missing(BENCH_ALTERNATIVE, "alt_node_wasm", name, absent, "%s", err);
	}
	free(t);
}
