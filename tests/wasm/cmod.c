/*
 * cmod.c - a wasm module written in C, built with
 *   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export-all -Wl,--allow-undefined
 * No libc: the undefined functions become imports from "env" (host functions).
 */

/* Host functions, imported from "env". */
int host_mul(int a, int b);
void host_note(int v);

int fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

long long factorial(int n)
{
	long long r = 1;
	for (int i = 2; i <= n; i++)
		r *= i;
	return r;
}

double poly(double x)
{
	return 3.0 * x * x - 2.0 * x + 0.5;
}

float halve(float x)
{
	return x / 2.0f;
}

/* State in linear memory (the data section), kept between calls. */
static int table[1024];
static int calls;

int fill_and_sum(int n)
{
	if (n < 0 || n > 1024)
		return -1;
	long long sum = 0;
	for (int i = 0; i < n; i++) {
		table[i] = i * 3;
		sum += table[i];
	}
	return (int)sum;
}

int count_calls(void)
{
	return ++calls;
}

int mul_via_host(int a, int b)
{
	host_note(a);
	return host_mul(a, b);
}

/* A pointer from an integer: out of bounds for a large one, so it traps. */
int peek(int addr)
{
	return *(volatile int *)addr;
}

int divide(int a, int b)
{
	return a / b;
}

void crash(void)
{
	__builtin_trap();
}
