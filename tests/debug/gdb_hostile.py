#!/usr/bin/env python3
"""gdb_hostile.py - sends malformed and out-of-range packets to the gdb stub and checks its replies.

Usage: gdb_hostile.py PORT ENTRY (hex: the guest's entry point, _start). The stub must be waiting at it.
Prints "ok - ..." / "not ok - ..." lines; exits 1 if any check failed.
Also checks that what the stub advertises (vCont?, qSupported) matches what it does: where it offers no
single step, steps and hardware breakpoints must be refused with the reason and change nothing.
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

    def resume(self, payload: bytes):
        """Sends a resume packet; returns (console text, stop or error reply)."""
        self.s.sendall(packet(payload))
        text = b""
        while True:
            r = self.reply()
            if r[:1] != b"O" or r == b"OK":
                return text, r
            text += bytes.fromhex(r[1:].decode())


RIP = 16  # register number of RIP in the 'g' packet (8-byte registers before it)


def rip(st):
    g = st.ask(b"g")
    return int.from_bytes(bytes.fromhex(g[16 * RIP:16 * RIP + 16].decode()), "little")


def is_error(r):
    return r.startswith(b"E")


def refused(r):
    """E16: EINVAL, the stub's answer to a malformed or out-of-range packet."""
    return r == b"E16"


def accepted(r):
    return r == b"OK"


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
    features = st.ask(b"qSupported:swbreak+;hwbreak+;vContSupported+").split(b";")
    r = st.ask(b"?")
    check("stop reply at entry", r.startswith(b"S05") or r.startswith(b"T05"), r)
    check("first stop at the guest's entry point", rip(st) == int(addr, 16), b"%x" % rip(st))
    vcont = st.ask(b"vCont?")
    actions = vcont.split(b";")
    check("vCont? offers continue (c, C)", actions[0] == b"vCont" and b"c" in actions and b"C" in actions,
          vcont)
    can_step = b"s" in actions
    check("vCont? offers s and S together", can_step == (b"S" in actions), vcont)
    check("qSupported says vCont? tells about stepping", b"vContSupported+" in features, b";".join(features))
    check("qSupported offers hwbreak exactly where stepping is offered",
          (b"hwbreak+" in features) == can_step, b";".join(features))
    for bad in (b"vCont;", b"vCont;x", b"vCont;C", b"vCont;c:zz", b"vCont;c:2", b"vCont;cc", b"vCont;C1ff"):
        r = st.ask(bad)
        check("malformed %s is refused" % bad.decode(), r == b"E16", r)
    if not can_step:
        # the hypervisor cannot report steps or debug-register hits: refused, and nothing moves
        before = rip(st)
        text, r = st.resume(b"vCont;s:1")
        check("step refused with the reason on the console", b"cannot single-step the guest" in text, text)
        check("refused step ends in a stop without a signal", r == b"S00", r)
        check("refused step leaves RIP where it was", rip(st) == before, b"%x" % rip(st))
        text, r = st.resume(b"s%x" % (before + 1))
        check("step at an address refused, RIP not set", r == b"S00" and rip(st) == before, r)
        r = st.ask(b"?")
        check("the last stop is the refused step's", r == b"S00", r)
        for z in (b"Z1," + addr + b",1", b"Z2," + addr + b",4", b"Z4," + addr + b",8"):
            r = st.ask(z)
            check("%s refused with the reason" % z.decode(),
                  r.startswith(b"E.") and b"cannot report hardware breakpoints" in r, r)
    # (what, packet, test of the reply), in the order they are sent
    replies = [
        ("read of unmapped address 0 is an error", b"m0,10", is_error),
        ("read of a non-canonical address is an error", b"m8000000000000,10", is_error),
        ("read of an unmapped high address is an error", b"mffffffffffff0000,10", is_error),
        ("huge read length is clamped", b"m" + addr + b",ffffffffffffffff",
         lambda r: 0 < len(r) <= 4096 and not r.startswith(b"E")),
        ("overlong number is refused", b"m" + addr + b",1ffffffffffffffff", refused),
        ("write to unmapped address is an error", b"M0,1:00", is_error),
        ("write with too little data is refused", b"M" + addr + b",4:00", refused),
        ("unknown register number is refused", b"p1000", refused),
        ("segment registers cannot be written", b"P12=00000000", refused),
        ("short G packet is refused", b"G00", refused),
    ]
    if can_step:
        replies += [
            ("hardware breakpoint: bad kind ignored for execute", b"Z1,0,9", accepted),
            ("hardware breakpoint removed", b"z1,0,9", accepted),
            ("misaligned watchpoint is refused", b"Z2,1001,4", refused),
        ]
    else:
        replies += [("removing a hardware breakpoint never inserted is OK", b"z1,0,9", accepted)]
    replies += [
        ("breakpoint at an unmapped address is refused", b"Z0,0,1", is_error),
        ("unknown annex is an error", b"qXfer:features:read:other.xml:0,100", is_error),
        ("read past the target description ends it", b"qXfer:features:read:target.xml:ffffff,100",
         lambda r: r == b"l"),
    ]
    for what, payload, ok in replies:
        r = st.ask(payload)
        check(what, ok(r), r)
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
