#!/usr/bin/env python3
"""gen_corpus.py - writes the hand-made seed corpora of fuzz_records and fuzz_config.

Run from the repository root: python3 fuzz/gen_corpus.py. The layouts follow
include/hyperlight/abi.h; the input format of each target is described at the
top of its source file. The files are committed; rerun after an ABI change.
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

RESULT, HOSTCALL, PRINT, LOG, ABORT, EXCEPTION, VALUE = range(7)
T_VOID, T_I32, T_U32, T_I64, T_U64, T_F32, T_F64, T_BOOL, T_STRING, T_BYTES = range(10)

RESULT_MAGIC = 0x544C5352
HOSTCALL_MAGIC = 0x4C435448
PRINT_MAGIC = 0x544E5250
LOG_MAGIC = 0x21474F4C
ABORT_MAGIC = 0x54524241
EXCEPTION_MAGIC = 0x50435845


def align8(n):
    return (n + 7) & ~7


def wire(t, length, bits):
    return struct.pack("<IIQ", t, length, bits)


def result(status, t, code=0, scalar=0, payload=None, total=None):
    body = b""
    length, bits = 0, scalar
    if payload is not None:
        body = payload + (b"\0" if t == T_STRING else b"")
        length, bits = len(payload), 32
    n = total if total is not None else align8(32 + len(body))
    rec = struct.pack("<IIIi", RESULT_MAGIC, status, n, code) + wire(t, length, bits) + body
    return rec.ljust(n, b"\0") if total is None else rec


def hostcall(name, args, ret=T_I32):
    """args: list of (type, scalar or payload bytes)."""
    fixed = 24 + 16 * len(args)
    name_off = fixed
    off = align8(name_off + len(name) + 1)
    wires, payloads = b"", b""
    for t, v in args:
        if t in (T_STRING, T_BYTES):
            data = v + (b"\0" if t == T_STRING else b"")
            wires += wire(t, len(v), off + len(payloads))
            payloads += data.ljust(align8(len(data)), b"\0")
        else:
            wires += wire(t, 0, v)
    names = (name + b"\0").ljust(off - name_off, b"\0")
    total = off + len(payloads)
    head = struct.pack("<IIIIII", HOSTCALL_MAGIC, total, name_off, len(name), len(args), ret)
    return head + wires + names + payloads


def print_rec(fd, data):
    return struct.pack("<IIII", PRINT_MAGIC, fd, len(data), 0) + data


def log_rec(level, line, file, msg):
    return struct.pack("<IIIIII", LOG_MAGIC, level, line, len(file), len(msg), 0) + file + msg


def abort_rec(code, msg, msg_len=None):
    n = len(msg) if msg_len is None else msg_len
    return struct.pack("<IiII", ABORT_MAGIC, code, n, 0) + msg


def exception_rec(vector, error_code, rip, rsp, cr2, magic=EXCEPTION_MAGIC):
    head = struct.pack("<IIQ", magic, vector, error_code)
    regs = struct.pack("<QQQQQ", rip, 8, 0x202, rsp, 0x10) + struct.pack("<Q", cr2)
    return head + regs + bytes(8 * 15)


def records_input(sel, off, param, rec, pad=64):
    """selector, offset, parameter, then the output buffer with rec at off."""
    buf = bytes(off) + rec + bytes(pad)
    return bytes([sel, off, param]) + buf


def records():
    seeds = {
        "result_i32": records_input(RESULT, 0, T_I32, result(0, T_I32, scalar=0xFFFFFFFF)),
        "result_void": records_input(RESULT, 0, T_VOID, result(0, T_VOID)),
        "result_u64": records_input(RESULT, 8, T_U64, result(0, T_U64, scalar=2**64 - 1)),
        "result_bool_bad": records_input(RESULT, 0, T_BOOL, result(0, T_BOOL, scalar=2)),
        "result_string": records_input(RESULT, 0, T_STRING, result(0, T_STRING, payload=b"hello")),
        "result_bytes": records_input(RESULT, 16, T_BYTES, result(0, T_BYTES, payload=b"\x00\x01\xff")),
        "result_error": records_input(RESULT, 0, T_I32, result(1, T_STRING, code=-7, payload=b"bad\x01\nthing")),
        "result_host_error": records_input(RESULT, 0, T_I32, result(2, T_STRING, code=3, payload=b"host")),
        "result_total_huge": records_input(RESULT, 0, T_STRING, result(0, T_STRING, payload=b"x", total=0xFFFFFFF0)),
        "result_status_bad": records_input(RESULT, 0, T_I32, result(9, T_I32)),
        "result_string_nul": records_input(RESULT, 0, T_STRING, result(0, T_STRING, payload=b"a\0b")),
        "hostcall_noargs": records_input(HOSTCALL, 64, 0, hostcall(b"HostNoArgs", [])),
        "hostcall_scalars": records_input(HOSTCALL, 64, 0, hostcall(b"HostAdd", [
            (T_I32, 2**64 - 5), (T_U32, 7), (T_I64, 1 << 63), (T_U64, 9),
            (T_F32, 0x3F800000), (T_F64, 0x3FF0000000000000), (T_BOOL, 1)])),
        "hostcall_payloads": records_input(HOSTCALL, 64, 0, hostcall(b"HostEcho", [
            (T_STRING, b"hello world"), (T_BYTES, b"\x00\x01\x02"), (T_STRING, b"")])),
        "hostcall_mismatch": records_input(HOSTCALL, 64, 0xFF, hostcall(b"HostEcho", [(T_STRING, b"x")])),
        "hostcall_tamper": records_input(HOSTCALL | 8, 0, 0, hostcall(b"HostEcho", [(T_BYTES, b"abc")])),
        "hostcall_argc_huge": records_input(HOSTCALL, 0, 0, struct.pack("<IIIIII", HOSTCALL_MAGIC, 32, 24, 4, 0xFFFFFFFF, T_I32) + b"Host\0\0\0\0"),
        "hostcall_name_long": records_input(HOSTCALL, 0, 0, hostcall(b"A" * 100, [])),
        "print_stdout": records_input(PRINT, 0, 0, print_rec(1, b"hello\n")),
        "print_stderr": records_input(PRINT, 40, 0, print_rec(2, b"")),
        "print_fd3": records_input(PRINT, 0, 0, print_rec(3, b"x")),
        "print_len_huge": records_input(PRINT, 0, 0, struct.pack("<IIII", PRINT_MAGIC, 1, 0xFFFFFFFF, 0)),
        "log_info": records_input(LOG, 0, 0, log_rec(3, 42, b"guest.c", b"a message")),
        "log_empty": records_input(LOG, 8, 0, log_rec(1, 0, b"", b"")),
        "log_level_bad": records_input(LOG, 0, 0, log_rec(6, 1, b"f", b"m")),
        "log_len_huge": records_input(LOG, 0, 0, struct.pack("<IIIIII", LOG_MAGIC, 2, 1, 0xFFFFFFFF, 0xFFFFFFFF, 0)),
        "abort_msg": records_input(ABORT, 0, 0, abort_rec(-3, b"out of \x07 memory\n")),
        "abort_long": records_input(ABORT, 0, 0, abort_rec(1, b"B" * 700)),
        "abort_len_huge": records_input(ABORT, 0, 0, abort_rec(1, b"x", 0xFFFFFFF0)),
        "exception_pf": records_input(EXCEPTION, 0, 0, exception_rec(14, 2, 0x201000, 0x26F000, 0x260FF8)),
        "exception_ud": records_input(EXCEPTION, 8, 0, exception_rec(6, 0, 0x201234, 0x26F000, 0)),
        "exception_irq": records_input(EXCEPTION, 0, 0, exception_rec(200, 0, 0, 0, 0)),
        "exception_vector_bad": records_input(EXCEPTION, 0, 0, exception_rec(256, 0, 0, 0, 0)),
        "exception_magic_bad": records_input(EXCEPTION, 0, 0, exception_rec(14, 0, 0, 0, 0, magic=0)),
        "value_string": records_input(VALUE, 0, 0, wire(T_STRING, 3, 16) + b"abc\0"),
        "outside": bytes([RESULT, 250, 0]) + bytes(16),
        "empty_buffer": bytes([PRINT, 0, 0]),
    }
    return seeds


def config(mode, heap=128 << 10, stack=64 << 10, inp=16 << 10, out=16 << 10, level=2, flags=0,
           sig=0, timeout=0):
    return bytes([mode]) + struct.pack("<QQQQQIIiI", 56, heap, stack, inp, out, level, flags, sig, timeout)


def configs():
    return {
        "defaults": config(0),
        "v10": config(1),
        "raw_size": config(2),
        "limits_low": config(0, 16 << 10, 16 << 10, 4 << 10, 4 << 10, 0),
        "limits_high": config(0, 768 << 20, 64 << 20, 64 << 20, 64 << 20, 5, 1),
        "heap_small": config(0, heap=(16 << 10) - 1),
        "output_huge": config(0, out=2**64 - 1),
        "level_bad": config(0, level=6),
        "flags_bad": config(0, flags=2),
        "timeout_no_signal": config(0, timeout=100),
        "signal_handled": config(0x30, sig=0, timeout=100),
        "signal_unhandled": config(0x10, sig=10),
        "signal_kill": config(0, sig=9),
        "signal_negative": config(0, sig=-1),
    }


def write(target, seeds):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("records", records())
    write("config", configs())
