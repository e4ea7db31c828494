/* nomainguest.c - a guest whose main() returns without calling hl_dispatch: the host must see "exited with status 3". */
int main(void)
{
	return 3;
}
