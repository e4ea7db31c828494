/* true_static.c - the smallest static program: what spawning a process costs (bench). */
int main(void)
{
	return 0;
}
