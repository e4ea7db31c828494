/* output.c - records the guest sends on its own: print, log and abort, plus the port exit every record ends with. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "internal.h"

uint64_t hl__out_free;

void hl_outl(uint16_t port, uint32_t value)
{
	/* The memory clobber keeps the compiler from sinking the record's
	 * stores past the exit: the host reads them as soon as OUT traps. */
	__asm__ volatile("outl %0, %1" ::"a"(value), "Nd"(port) : "memory");
}

const struct hl_boot_info *hl_boot_info(void)
{
	return hl__bi;
}

uint64_t hl__out_avail(void)
{
	if (hl__out_free >= hl__out_size)
		return 0;
	uint64_t n = hl__out_size - hl__out_free;
	return n < HL_MAX_RECORD ? n : HL_MAX_RECORD;
}

static void hl__send_print(unsigned fd, uint8_t *rec, uint64_t len)
{
	struct hl_print h = {HL_PRINT_MAGIC, fd, (uint32_t)len, 0};
	memcpy(rec, &h, sizeof h);
	hl_outl(HL_PORT_PRINT, (uint32_t)hl__out_free);
}

int hl__range_ok(uint64_t p, uint64_t len)
{
	const struct hl_boot_info *bi = hl__bi;

	if (p + len < p)
		return 0;
	/* A host that leaves the memory range unset gets only the wrap check. */
	if (bi->mem_size == 0 || len == 0)
		return 1;
	return p >= bi->mem_base && p - bi->mem_base <= bi->mem_size &&
	       len <= bi->mem_size - (p - bi->mem_base);
}

long hl__printv(unsigned fd, const struct iovec *iov, size_t n)
{
	/* Gather every piece into as few records as the free space allows:
	 * musl's stdout writes a line as two pieces (buffer + data), and each
	 * record costs an exit to the host. */
	uint64_t avail = hl__out_avail();
	const uint64_t hdr = sizeof(struct hl_print);
	uint8_t *rec = hl__out() + hl__out_free;
	uint64_t pos = hdr;
	size_t sent = 0;

	if (avail <= hdr) {
		for (size_t i = 0; i < n; i++)
			if (iov[i].iov_len)
				return -1;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *src = iov[i].iov_base;
		size_t len = iov[i].iov_len;
		while (len) {
			if (pos == avail) {
				hl__send_print(fd, rec, pos - hdr);
				pos = hdr;
			}
			size_t chunk = len < avail - pos ? len : (size_t)(avail - pos);
			memcpy(rec + pos, src, chunk);
			pos += chunk;
			src += chunk;
			len -= chunk;
			sent += chunk;
		}
	}
	if (pos > hdr)
		hl__send_print(fd, rec, pos - hdr);
	return (long)sent;
}

static _Noreturn void hl__send_abort(int code, const char *fmt, va_list ap)
{
	uint8_t *out = hl__out();
	uint64_t cap = hl__out_size < HL_MAX_RECORD ? hl__out_size : HL_MAX_RECORD;
	size_t room = (size_t)(cap - sizeof(struct hl_abort)); /* > 0: boot.c checked the size */
	int n = vsnprintf((char *)out + sizeof(struct hl_abort), room, fmt, ap);
	uint32_t len = n < 0 ? 0 : (size_t)n < room ? (uint32_t)n : (uint32_t)(room - 1);
	struct hl_abort h = {HL_ABORT_MAGIC, code, len, 0};

	memcpy(out, &h, sizeof h);
	hl_outl(HL_PORT_ABORT, 0);
	hl__halt_forever();
}

_Noreturn void hl__vabort(int code, const char *fmt, va_list ap)
{
	/* Output the guest printed before giving up is part of the story. */
	fflush(stdout);
	fflush(stderr);
	hl__send_abort(code, fmt, ap);
}

_Noreturn void hl__abort_noflush(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hl__send_abort(code, fmt, ap);
}

_Noreturn void hl_abort(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hl__vabort(code, fmt, ap);
}

void hl_log_at(enum hl_log_level level, const char *file, int line, const char *fmt, ...)
{
	/* Levels outside the enum are dropped, whatever the host's maximum:
	 * the host would take them for a malformed record. */
	if ((int)level < HL_LOG_ERROR || (int)level > HL_LOG_TRACE ||
	    (uint32_t)level > hl__bi->max_log_level)
		return;
	uint64_t avail = hl__out_avail();
	/* Room for the header, some of the file name and a message's NUL. */
	if (avail < sizeof(struct hl_log) + 2)
		return;

	uint8_t *rec = hl__out() + hl__out_free;
	size_t room = (size_t)(avail - sizeof(struct hl_log));
	size_t flen = file ? strlen(file) : 0;
	if (flen > room / 2)
		flen = room / 2; /* keep room for the message */
	if (flen)
		memcpy(rec + sizeof(struct hl_log), file, flen);
	room -= flen;

	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf((char *)rec + sizeof(struct hl_log) + flen, room, fmt, ap);
	va_end(ap);
	uint32_t mlen = n < 0 ? 0 : (size_t)n < room ? (uint32_t)n : (uint32_t)(room - 1);

	struct hl_log h = {HL_LOG_MAGIC,
	                   (uint32_t)level,
	                   line < 0 ? 0u : (uint32_t)line,
	                   (uint32_t)flen,
	                   mlen,
	                   0};
	memcpy(rec, &h, sizeof h);
	hl_outl(HL_PORT_LOG, (uint32_t)hl__out_free);
}
