/* hostileguest.c - a test guest that writes records by hand: malformed ones, which the host must refuse, and ones exactly at the limits of the buffers, which it must take whole. */
#include <stdint.h>
#include <string.h>

#include "hyperlight/guest.h"

/* Records other than results go here, past the result header, as the
 * runtime places them during a call. */
#define REC_OFF 64u

static uint8_t *out(void)
{
	return (uint8_t *)(uintptr_t)hl_boot_info()->output_addr;
}

static uint32_t out_size(void)
{
	uint64_t n = hl_boot_info()->output_size;
	return n < UINT32_MAX ? (uint32_t)n : UINT32_MAX;
}

static void put(uint32_t off, const void *rec, size_t len)
{
	memcpy(out() + off, rec, len);
}

/* Each function sends its record and, if the host ever resumes it (it
 * should not), returns normally. */

static int bad_result_magic(hl_call *c)
{
	struct hl_result r = {0xdeadbeefu, HL_STATUS_OK, sizeof r, 0, {HL_TYPE_I32, 0, 7}};
	put(0, &r, sizeof r);
	hl_outl(HL_PORT_DONE, 0);
	return hl_return_i32(c, 0);
}

static int result_length_huge(hl_call *c)
{
	/* A string claiming almost 4 GiB inside a 40-byte record. */
	struct hl_result r = {HL_RESULT_MAGIC,
	                      HL_STATUS_OK,
	                      sizeof r + 8,
	                      0,
	                      {HL_TYPE_STRING, 0xfffffff0u, sizeof r}};
	put(0, &r, sizeof r);
	hl_outl(HL_PORT_DONE, 0);
	return hl_return_string(c, "", 0);
}

static int result_total_len_huge(hl_call *c)
{
	struct hl_result r = {HL_RESULT_MAGIC,
	                      HL_STATUS_OK,
	                      0xfffffff0u,
	                      0,
	                      {HL_TYPE_STRING, 4, sizeof r}};
	put(0, &r, sizeof r);
	put(sizeof r, "abc", 4);
	hl_outl(HL_PORT_DONE, 0);
	return hl_return_string(c, "", 0);
}

static int result_offset_outside(hl_call *c)
{
	struct hl_result r = {HL_RESULT_MAGIC,
	                      HL_STATUS_OK,
	                      sizeof r + 8,
	                      0,
	                      {HL_TYPE_STRING, 4, (uint64_t)out_size() + 4096}};
	put(0, &r, sizeof r);
	hl_outl(HL_PORT_DONE, 0);
	return hl_return_string(c, "", 0);
}

static int done_offset_outside(hl_call *c)
{
	hl_outl(HL_PORT_DONE, out_size() - 8);
	return hl_return_i32(c, 0);
}

static int bad_hostcall_offset(hl_call *c)
{
	hl_outl(HL_PORT_HOSTCALL, out_size() + 64);
	return hl_return_i32(c, 0);
}

static int hostcall_argc_huge(hl_call *c)
{
	struct hl_hostcall h = {HL_HOSTCALL_MAGIC, sizeof h + 8, sizeof h, 4,
	                        0xffffffffu,       HL_TYPE_I32};
	put(REC_OFF, &h, sizeof h);
	put(REC_OFF + sizeof h, "Host", 5);
	hl_outl(HL_PORT_HOSTCALL, REC_OFF);
	return hl_return_i32(c, 0);
}

static int hostcall_name_too_long(hl_call *c)
{
	char name[HL_MAX_NAME + 100];
	memset(name, 'A', sizeof name);
	struct hl_hostcall h = {HL_HOSTCALL_MAGIC,
	                        (uint32_t)HL_ALIGN8(sizeof h + sizeof name),
	                        sizeof h,
	                        sizeof name,
	                        0,
	                        HL_TYPE_I32};
	put(REC_OFF, &h, sizeof h);
	put(REC_OFF + sizeof h, name, sizeof name);
	hl_outl(HL_PORT_HOSTCALL, REC_OFF);
	return hl_return_i32(c, 0);
}

static int hostcall_total_len_huge(hl_call *c)
{
	struct hl_hostcall h = {HL_HOSTCALL_MAGIC, 0xfffffff0u, sizeof h, 4, 0, HL_TYPE_I32};
	put(REC_OFF, &h, sizeof h);
	put(REC_OFF + sizeof h, "Host", 5);
	hl_outl(HL_PORT_HOSTCALL, REC_OFF);
	return hl_return_i32(c, 0);
}

static int hostcall_payload_outside(hl_call *c)
{
	/* HostEcho(string) with the string's payload far past the record's end
	 * (the name matches a real host function, so the host gets as far as
	 * decoding the argument). */
	struct {
		struct hl_hostcall h;
		struct hl_wire_value arg;
		char name[16];
	} rec = {{HL_HOSTCALL_MAGIC, sizeof rec,
	          sizeof(struct hl_hostcall) + sizeof(struct hl_wire_value), 8, 1, HL_TYPE_STRING},
	         {HL_TYPE_STRING, 16, 0x100000},
	         "HostEcho"};
	put(REC_OFF, &rec, sizeof rec);
	hl_outl(HL_PORT_HOSTCALL, REC_OFF);
	return hl_return_i32(c, 0);
}

static int print_len_huge(hl_call *c)
{
	struct hl_print p = {HL_PRINT_MAGIC, 1, 0xfffffff0u, 0};
	put(REC_OFF, &p, sizeof p);
	hl_outl(HL_PORT_PRINT, REC_OFF);
	return hl_return_i32(c, 0);
}

static int print_bad_fd(hl_call *c)
{
	struct hl_print p = {HL_PRINT_MAGIC, 7, 2, 0};
	put(REC_OFF, &p, sizeof p);
	put(REC_OFF + sizeof p, "x\n", 2);
	hl_outl(HL_PORT_PRINT, REC_OFF);
	return hl_return_i32(c, 0);
}

static int log_len_huge(hl_call *c)
{
	struct hl_log g = {HL_LOG_MAGIC, HL_LOG_ERROR, 1, 4, 0xfffffff0u, 0};
	put(REC_OFF, &g, sizeof g);
	put(REC_OFF + sizeof g, "file", 4);
	hl_outl(HL_PORT_LOG, REC_OFF);
	return hl_return_i32(c, 0);
}

static int log_bad_level(hl_call *c)
{
	struct hl_log g = {HL_LOG_MAGIC, 99, 1, 4, 3, 0};
	put(REC_OFF, &g, sizeof g);
	put(REC_OFF + sizeof g, "filemsg", 7);
	hl_outl(HL_PORT_LOG, REC_OFF);
	return hl_return_i32(c, 0);
}

/* A well-formed record above the host's maximum level, sent directly (the
 * runtime's own filter would drop it): the host must drop it too. */
static int log_above_max(hl_call *c)
{
	struct hl_log g = {HL_LOG_MAGIC, HL_LOG_TRACE, 1, 4, 3, 0};
	put(REC_OFF, &g, sizeof g);
	put(REC_OFF + sizeof g, "filemsg", 7);
	hl_outl(HL_PORT_LOG, REC_OFF);
	return hl_return_i32(c, 0);
}

static int abort_msg_len_huge(hl_call *c)
{
	struct hl_abort a = {HL_ABORT_MAGIC, 5, 0xfffffff0u, 0};
	put(0, &a, sizeof a);
	hl_outl(HL_PORT_ABORT, 0);
	return hl_return_i32(c, 0);
}

static int exception_record_garbage(hl_call *c)
{
	uint8_t junk[sizeof(struct hl_exception)];
	memset(junk, 0xa5, sizeof junk);
	put(0, junk, sizeof junk);
	hl_outl(HL_PORT_EXCEPTION, 0);
	return hl_return_i32(c, 0);
}

static int record_offset_outside(hl_call *c)
{
	/* A record that starts inside the buffer and runs past its end. */
	struct hl_print p = {HL_PRINT_MAGIC, 1, 64, 0};
	uint32_t off = out_size() - sizeof p;
	put(off, &p, sizeof p);
	hl_outl(HL_PORT_PRINT, off);
	return hl_return_i32(c, 0);
}

/* ---- records exactly as large as the output buffer allows, or one byte
 * more (extra = 1); the host must take the first whole and refuse the
 * second. Nothing is written past the buffer's end. ---- */

static void fill(uint32_t off, uint32_t len)
{
	uint8_t *p = out() + off;
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)('a' + i % 26);
}

static int log_fill(hl_call *c)
{
	uint32_t extra = hl_arg_u32(c, 0);
	uint32_t fl = 7, room = out_size() - REC_OFF - (uint32_t)sizeof(struct hl_log);
	struct hl_log g = {HL_LOG_MAGIC, HL_LOG_ERROR, 42, fl, room - fl + extra, 0};
	put(REC_OFF, &g, sizeof g);
	put(REC_OFF + sizeof g, "capfile", fl);
	fill(REC_OFF + sizeof g + fl, room - fl);
	hl_outl(HL_PORT_LOG, REC_OFF);
	return hl_return_i32(c, 0);
}

static int print_fill(hl_call *c)
{
	uint32_t extra = hl_arg_u32(c, 0);
	uint32_t room = out_size() - REC_OFF - (uint32_t)sizeof(struct hl_print);
	struct hl_print p = {HL_PRINT_MAGIC, 1, room + extra, 0};
	put(REC_OFF, &p, sizeof p);
	fill(REC_OFF + sizeof p, room);
	hl_outl(HL_PORT_PRINT, REC_OFF);
	return hl_return_i32(c, 0);
}

/* HostMethod1(string) with the string (and its NUL) reaching the last byte
 * of the output buffer, plus `extra`; returns what the host answered. */
static int hostcall_fill(hl_call *c)
{
	uint32_t extra = hl_arg_u32(c, 0);
	static const char name[] = "HostMethod1";
	uint32_t fixed = (uint32_t)(sizeof(struct hl_hostcall) + sizeof(struct hl_wire_value));
	uint32_t p_off = (uint32_t)HL_ALIGN8(fixed + sizeof name - 1);
	uint32_t room = out_size() - REC_OFF;
	uint32_t len = room - p_off - 1 + extra; /* payload bytes, NUL after them */
	struct hl_hostcall h = {HL_HOSTCALL_MAGIC, room + extra, fixed, sizeof name - 1, 1,
	                        HL_TYPE_I32};
	struct hl_wire_value w = {HL_TYPE_STRING, len, p_off};
	put(REC_OFF, &h, sizeof h);
	put(REC_OFF + sizeof h, &w, sizeof w);
	put(REC_OFF + fixed, name, sizeof name - 1);
	fill(REC_OFF + p_off, room - p_off - 1);
	out()[REC_OFF + room - 1] = extra ? 'z' : 0;
	hl_outl(HL_PORT_HOSTCALL, REC_OFF);
	/* The answer is in the input buffer after the call message. */
	const uint8_t *in = (const uint8_t *)(uintptr_t)hl_boot_info()->input_addr;
	struct hl_call_msg m;
	struct hl_result r;
	memcpy(&m, in, sizeof m);
	memcpy(&r, in + HL_ALIGN8(m.total_len), sizeof r);
	if (r.magic != HL_RESULT_MAGIC || r.status != HL_STATUS_OK)
		return hl_return_error(c, 1, "HostMethod1 failed");
	return hl_return_i32(c, (int32_t)r.value.bits);
}

/* Prints until the host stops the call (call_timeout_ms or a cancel). */
static int print_forever(hl_call *c)
{
	struct hl_print p = {HL_PRINT_MAGIC, 1, 5, 0};
	put(REC_OFF, &p, sizeof p);
	put(REC_OFF + sizeof p, "spam\n", 5);
	for (;;)
		hl_outl(HL_PORT_PRINT, REC_OFF);
	return hl_return_i32(c, 0);
}

/* A log record whose file name and message carry control characters: a
 * newline, a carriage return, ANSI escape sequences, DEL, the C1 CSI and
 * U+2028 LINE SEPARATOR in UTF-8, and a byte that is not UTF-8. The host
 * must deliver it as one clean line (test_hostile). */
static int log_control_bytes(hl_call *c)
{
	static const char file[] = "ev\nil\x1b[2J.c";
	static const char msg[] =
		"one\ntwo\r\x1b[31mred\x7f \xc2\x9b"
		"31m \xe2\x80\xa8 caf\xc3\xa9 \xff";
	struct hl_log g = {HL_LOG_MAGIC, HL_LOG_ERROR, 7, sizeof file - 1, sizeof msg - 1, 0};
	put(REC_OFF, &g, sizeof g);
	put(REC_OFF + sizeof g, file, sizeof file - 1);
	put(REC_OFF + sizeof g + sizeof file - 1, msg, sizeof msg - 1);
	hl_outl(HL_PORT_LOG, REC_OFF);
	return hl_return_i32(c, 0);
}

int main(void)
{
	HL_REGISTER("BadResultMagic", bad_result_magic, HL_TYPE_I32);
	HL_REGISTER("ResultLengthHuge", result_length_huge, HL_TYPE_STRING);
	HL_REGISTER("ResultTotalLenHuge", result_total_len_huge, HL_TYPE_STRING);
	HL_REGISTER("ResultOffsetOutside", result_offset_outside, HL_TYPE_STRING);
	HL_REGISTER("DoneOffsetOutside", done_offset_outside, HL_TYPE_I32);
	HL_REGISTER("BadHostcallOffset", bad_hostcall_offset, HL_TYPE_I32);
	HL_REGISTER("HostcallArgcHuge", hostcall_argc_huge, HL_TYPE_I32);
	HL_REGISTER("HostcallNameTooLong", hostcall_name_too_long, HL_TYPE_I32);
	HL_REGISTER("HostcallTotalLenHuge", hostcall_total_len_huge, HL_TYPE_I32);
	HL_REGISTER("HostcallPayloadOutside", hostcall_payload_outside, HL_TYPE_I32);
	HL_REGISTER("PrintLenHuge", print_len_huge, HL_TYPE_I32);
	HL_REGISTER("PrintBadFd", print_bad_fd, HL_TYPE_I32);
	HL_REGISTER("LogLenHuge", log_len_huge, HL_TYPE_I32);
	HL_REGISTER("LogBadLevel", log_bad_level, HL_TYPE_I32);
	HL_REGISTER("LogAboveMax", log_above_max, HL_TYPE_I32);
	HL_REGISTER("AbortMsgLenHuge", abort_msg_len_huge, HL_TYPE_I32);
	HL_REGISTER("ExceptionRecordGarbage", exception_record_garbage, HL_TYPE_I32);
	HL_REGISTER("RecordOffsetOutside", record_offset_outside, HL_TYPE_I32);
	HL_REGISTER("LogFill", log_fill, HL_TYPE_I32, HL_TYPE_U32);
	HL_REGISTER("PrintFill", print_fill, HL_TYPE_I32, HL_TYPE_U32);
	HL_REGISTER("HostcallFill", hostcall_fill, HL_TYPE_I32, HL_TYPE_U32);
	HL_REGISTER("PrintForever", print_forever, HL_TYPE_I32);
	HL_REGISTER("LogControlBytes", log_control_bytes, HL_TYPE_I32);
	hl_dispatch();
}
