/* fork_server.c - the fork-server alternative of the bench: a running process forks a child per request. */
#include <sys/wait.h>
#include <unistd.h>

/* The state every request starts from: initialised by the parent, so that
 * a child's writes copy its pages, as a request's writes do in a sandbox
 * restored from a snapshot (DirtyPages(8) there). */
static volatile char state[8 * 4096];

/* Reads one byte per request from stdin, forks a child that writes the 8
 * pages and answers 'a' on stdout, then reaps it; 'e' when fork fails.
 * Exits at the end of stdin. */
int main(void)
{
	char rq;
	for (unsigned i = 0; i < sizeof state; i += 4096)
		state[i] = 1;
	while (read(0, &rq, 1) == 1) {
		pid_t pid = fork();
		if (pid == 0) {
			for (unsigned i = 0; i < sizeof state; i += 4096)
				state[i] += 1;
			char an = 'a';
			_exit(write(1, &an, 1) == 1 ? 0 : 1);
		}
		if (pid < 0) {
			char an = 'e';
			if (write(1, &an, 1) != 1)
				return 1;
			continue;
		}
		waitpid(pid, 0, 0);
	}
	return 0;
}
