#!/usr/bin/env python3
"""gdb_hostile.py - sends malformed and out-of-range packets to the gdb stub and checks its replies.

Usage: gdb_hostile.py PORT ADDR (hex, a mapped guest address). The stub must be waiting at the guest's entry.
Prints "ok - ..." / "not ok - ..." lines; exits 1 if any check failed.
Ends the session with 'k' (kill).
"""
import socket
import sys


def packet(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + b"%02x" % (sum(payload) & 0xFF)


class Stub:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""

    def byte(self):
        if not self.buf:
            self.buf = self.s.recv(65536)
            if not self.buf:
                raise EOFError("the stub closed the connection")
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def reply(self):
        while self.byte() != b"$":
            pass
        data = b""
        while True:
            c = self.byte()
            if c == b"#":
                break
            data += c
        self.byte()
        self.byte()
        self.s.sendall(b"+")
        return data

    def ask(self, payload: bytes):
        self.s.sendall(packet(payload))
        return self.reply()


failed = 0


def check(name, cond, got):
    global failed
    if cond:
        print("ok - " + name)
    else:
        print("not ok - %s: got %r" % (name, got[:200]))
        failed = 1


def main():
    st = Stub(int(sys.argv[1]))
    addr = sys.argv[2].encode()
    r = st.ask(b"?")
    check("stop reply at entry", r.startswith(b"S05") or r.startswith(b"T05"), r)
    r = st.ask(b"m0,10")
    check("read of unmapped address 0 is an error", r.startswith(b"E"), r)
    r = st.ask(b"m8000000000000,10")
    check("read of a non-canonical address is an error", r.startswith(b"E"), r)
    r = st.ask(b"mffffffffffff0000,10")
    check("read of an unmapped high address is an error", r.startswith(b"E"), r)
    r = st.ask(b"m" + addr + b",ffffffffffffffff")
    check("huge read length is clamped", 0 < len(r) <= 4096 and not r.startswith(b"E"), r)
    r = st.ask(b"m" + addr + b",1ffffffffffffffff")
    check("overlong number is refused", r == b"E16", r)
    r = st.ask(b"M0,1:00")
    check("write to unmapped address is an error", r.startswith(b"E"), r)
    r = st.ask(b"M" + addr + b",4:00")
    check("write with too little data is refused", r == b"E16", r)
    r = st.ask(b"p1000")
    check("unknown register number is refused", r == b"E16", r)
    r = st.ask(b"P12=00000000")
    check("segment registers cannot be written", r == b"E16", r)
    r = st.ask(b"G00")
    check("short G packet is refused", r == b"E16", r)
    r = st.ask(b"Z1,0,9")
    check("hardware breakpoint: bad kind ignored for execute", r == b"OK", r)
    r = st.ask(b"z1,0,9")
    check("hardware breakpoint removed", r == b"OK", r)
    r = st.ask(b"Z2,1001,4")
    check("misaligned watchpoint is refused", r == b"E16", r)
    r = st.ask(b"Z0,0,1")
    check("breakpoint at an unmapped address is refused", r.startswith(b"E"), r)
    r = st.ask(b"qXfer:features:read:other.xml:0,100")
    check("unknown annex is an error", r.startswith(b"E"), r)
    r = st.ask(b"qXfer:features:read:target.xml:ffffff,100")
    check("read past the target description ends it", r == b"l", r)
    # a packet larger than the stub's buffer, then a bad checksum: both
    # are dropped (NAKed) and the stub still answers the next packet
    st.s.sendall(b"$" + b"m" * 10000 + b"#00")
    st.s.sendall(b"$g#00")
    r = st.ask(b"qAttached")
    check("stub survives an oversized packet and a bad checksum", r == b"1", r)
    st.s.sendall(packet(b"k"))
    st.s.close()
    sys.exit(failed)


main()
