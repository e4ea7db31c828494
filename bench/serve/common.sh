# common.sh - start and stop a `hyperlight serve` for the benches (sourced).
# serve_start BUILD [FLAGS...]: sets SERVE_PID, SERVE_PORT, SERVE_DIR.
serve_start() {
	local build=$1
	shift
	SERVE_DIR=$(mktemp -d /tmp/hl-serve-bench.XXXXXX)
	"$build/hyperlight" serve --listen 127.0.0.1:0 --port-file "$SERVE_DIR/port" --access-log off \
		"$@" "$build/guests/bin/simpleguest" "$build/wasm/guests/bench" 2>"$SERVE_DIR/stderr" &
	SERVE_PID=$!
	for _ in $(seq 600); do
		[ -s "$SERVE_DIR/port" ] && break
		kill -0 "$SERVE_PID" 2>/dev/null || { cat "$SERVE_DIR/stderr" >&2; return 1; }
		sleep 0.05
	done
	SERVE_PORT=$(cat "$SERVE_DIR/port")
}

# serve_stop: SIGTERM, wait, and fail unless the exit status is 0.
serve_stop() {
	kill -TERM "$SERVE_PID"
	local st=0
	wait "$SERVE_PID" || st=$?
	[ "$st" = 0 ] || { echo "server exit status $st" >&2; tail -5 "$SERVE_DIR/stderr" >&2; }
	rm -rf "$SERVE_DIR"
	return "$st"
}
