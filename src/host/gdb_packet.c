/*
 * gdb_packet.c - the gdb remote serial protocol's framing: packets
 * ($payload#checksum) and their acknowledgements over the client's socket,
 * and the hex encodings the payloads use. Everything from the socket is
 * untrusted: a packet has a fixed maximum size, a longer or corrupt one is
 * refused, and numbers have at most 16 hex digits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gdb.h"

static const char hexd[] = "0123456789abcdef";

int hl__gdb_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool hl__gdb_parse_hex(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int n = 0;
	for (; hl__gdb_hexval(*s) >= 0; s++, n++) {
		if (n == 16)
			return false;
		x = x << 4 | (uint64_t)hl__gdb_hexval(*s);
	}
	if (n == 0)
		return false;
	*v = x;
	*p = s;
	return true;
}

char *hl__gdb_put_le(char *o, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++, v >>= 8) {
		*o++ = hexd[(v >> 4) & 15];
		*o++ = hexd[v & 15];
	}
	return o;
}

bool hl__gdb_get_le(const char *p, unsigned bytes, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned i = 0; i < bytes; i++) {
		int h = hl__gdb_hexval(p[2 * i]), l = hl__gdb_hexval(p[2 * i + 1]);
		if (h < 0 || l < 0)
			return false;
		x |= (uint64_t)(h << 4 | l) << (8 * i);
	}
	*v = x;
	return true;
}

char *hl__gdb_put_hex(char *o, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		*o++ = hexd[bytes[i] >> 4];
		*o++ = hexd[bytes[i] & 15];
	}
	*o = '\0';
	return o;
}

bool hl__gdb_get_hex(const char *p, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int h = hl__gdb_hexval(p[2 * i]), l = hl__gdb_hexval(p[2 * i + 1]);
		if (h < 0 || l < 0)
			return false;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return true;
}

void hl__gdb_drop(struct hl__gdb_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static bool send_raw(struct hl__gdb_conn *c, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* The next byte from the client, or -1 when it is gone. */
static int get_byte(struct hl__gdb_conn *c)
{
	if (c->rpos == c->rlen) {
		ssize_t k;
		do
			k = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
		while (k < 0 && errno == EINTR);
		if (k <= 0)
			return -1;
		c->rpos = 0;
		c->rlen = (size_t)k;
	}
	return (unsigned char)c->rbuf[c->rpos++];
}

bool hl__gdb_put_packet(struct hl__gdb_conn *c, const char *payload)
{
	size_t n = strlen(payload);
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + (uint8_t)payload[i]);
	char tail[3] = {'#', hexd[sum >> 4], hexd[sum & 15]};
	for (int tries = 0; tries < 8; tries++) {
		if (!send_raw(c, "$", 1) || !send_raw(c, payload, n) || !send_raw(c, tail, 3))
			return false;
		if (c->no_ack)
			return true;
		int b = get_byte(c);
		if (b == '+')
			return true;
		if (b < 0)
			return false;
		/* '-' or noise: send again */
	}
	return false;
}

bool hl__gdb_get_packet(struct hl__gdb_conn *c)
{
	for (;;) {
		int b;
		do
			b = get_byte(c);
		while (b >= 0 && b != '$'); /* acks, ^C and noise between packets */
		if (b < 0)
			return false;
		size_t n = 0;
		uint8_t sum = 0;
		bool overflow = false;
		while ((b = get_byte(c)) >= 0 && b != '#') {
			sum = (uint8_t)(sum + (uint8_t)b);
			if (n < HL__GDB_PKT_MAX)
				c->pkt[n++] = (char)b;
			else
				overflow = true;
		}
		if (b < 0)
			return false;
		int h = get_byte(c), l = get_byte(c);
		if (h < 0 || l < 0)
			return false;
		bool ok = !overflow && hl__gdb_hexval((char)h) >= 0 &&
		          hl__gdb_hexval((char)l) >= 0 &&
		          (uint8_t)(hl__gdb_hexval((char)h) << 4 | hl__gdb_hexval((char)l)) == sum;
		if (c->no_ack) {
			if (!ok)
				continue; /* nothing to ask again with: drop it */
		} else if (!send_raw(c, ok ? "+" : "-", 1)) {
			return false;
		} else if (!ok) {
			continue;
		}
		c->pkt[n] = '\0';
		return true;
	}
}

void hl__gdb_console(struct hl__gdb_conn *c, const char *text)
{
	char o[HL__GDB_PKT_MAX + 1] = "O"; /* all of it set: the analyzer follows no loop */
	size_t n = strlen(text);
	if (n > (HL__GDB_PKT_MAX - 1) / 2)
		n = (HL__GDB_PKT_MAX - 1) / 2;
	hl__gdb_put_hex(o + 1, (const uint8_t *)text, n);
	hl__gdb_put_packet(c, o);
}
