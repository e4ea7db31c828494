/* dummyguest.c - the smallest valid guest: it exports no functions. */
#include "hyperlight/guest.h"

int main(void)
{
	hl_dispatch();
}
