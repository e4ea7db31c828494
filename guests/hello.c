/* hello.c - the README's example guest: one function, printf, a string result. */
#include <stdio.h>
#include <hyperlight/guest.h>

static int greet(hl_call *c)
{
	size_t n;
	const char *name = hl_arg_string(c, 0, &n);
	char buf[128];
	int len = snprintf(buf, sizeof buf, "Hello, %s!", name);
	printf("greeting %s\n", name); /* reaches the host's print callback */
	return hl_return_string(c, buf, (size_t)len);
}

int main(void)
{
	HL_REGISTER("Greet", greet, HL_TYPE_STRING, HL_TYPE_STRING);
	hl_dispatch(); /* serve calls forever */
}
