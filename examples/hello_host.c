/* hello_host.c - the README's example host: load the hello guest, call Greet. */
#include <stdio.h>
#include <hyperlight/hyperlight.h>

int main(int argc, char **argv)
{
	const char *guest = argc > 1 ? argv[1] : "hello";
	hl_sandbox *sb;
	hl_value arg = hl_string("world", 5), result;
	int r;
	if ((r = hl_sandbox_new(NULL, &sb)) < 0) /* NULL: default sizes */
		return 1;
	if ((r = hl_sandbox_load_file(sb, guest)) < 0 || (r = hl_sandbox_init(sb)) < 0 ||
	    (r = hl_call(sb, "Greet", &arg, 1, &result)) < 0) {
		fprintf(stderr, "%s: %s\n", hl_strerror(r), hl_errmsg(sb));
		hl_sandbox_free(sb);
		return 1;
	}
	printf("%s\n", result.u.str.ptr); /* owned by the sandbox */
	hl_sandbox_free(sb);
	return 0;
}
