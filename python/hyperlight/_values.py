"""_values.py - value types, and the conversions between Python values and hl_value."""

import ctypes
import enum
import math
import operator
from typing import NamedTuple, Optional, Tuple

from . import errors


class Type(enum.IntEnum):
    """enum hl_type: the type of a parameter or a result."""

    VOID = 0  # results only
    I32 = 1
    U32 = 2
    I64 = 3
    U64 = 4
    F32 = 5
    F64 = 6
    BOOL = 7
    STRING = 8
    BYTES = 9

    def __str__(self):
        return self.name.lower()

    @classmethod
    def parse(cls, t):
        """A Type from a Type, its value, or its name ("i32", "string", ...,
        any case). None means VOID."""
        if t is None:
            return cls.VOID
        if isinstance(t, cls):
            return t
        if isinstance(t, str):
            try:
                return cls[t.upper()]
            except KeyError:
                pass
        elif isinstance(t, int) and not isinstance(t, bool):
            try:
                return cls(t)
            except ValueError:
                pass
        names = ", ".join(str(m) for m in cls)
        raise errors.UsageError(f"unknown type {t!r} (the types are {names})")


class LogLevel(enum.IntEnum):
    """enum hl_log_level."""

    ERROR = 1
    WARN = 2
    INFO = 3
    DEBUG = 4
    TRACE = 5


class FaultKind(enum.IntEnum):
    """enum hl_fault_kind."""

    NONE = 0
    EXCEPTION = 1
    MMIO = 2
    SHUTDOWN = 3
    UNKNOWN_PORT = 4
    ABORT = 5
    PROTOCOL = 6
    HALT = 7
    HYPERVISOR = 8


class Fault(NamedTuple):
    """hl_fault: what the library recorded about a guest failure.

    kind: a FaultKind (an int if this binding does not know it). vector: the
    exception vector (14 for a page fault), or the port of an UNKNOWN_PORT.
    error_code: the exception's error code, or the abort code. rip, rsp: the
    guest's registers. addr: CR2 for a page fault, the address of an MMIO
    access."""

    kind: int
    vector: int
    error_code: int
    rip: int
    addr: int
    rsp: int

    def __str__(self):
        kind = self.kind.name if isinstance(self.kind, FaultKind) else str(self.kind)
        return (f"{kind}: vector {self.vector}, error code {self.error_code:#x}, "
                f"rip {self.rip:#x}, addr {self.addr:#x}, rsp {self.rsp:#x}")


class Function(NamedTuple):
    """A function the guest exports: its name, parameter types and result type."""

    name: str
    params: Tuple[Type, ...]
    ret: Type

    def __str__(self):
        return f"{self.name}({', '.join(map(str, self.params))}) -> {self.ret}"


_INT_RANGES = {
    Type.I32: (-(1 << 31), (1 << 31) - 1),
    Type.U32: (0, (1 << 32) - 1),
    Type.I64: (-(1 << 63), (1 << 63) - 1),
    Type.U64: (0, (1 << 64) - 1),
}


def _pointer_to(data, keep):
    """The address of an immutable bytes object's buffer, which `keep` holds
    alive. Never NULL, even for b""."""
    buf = ctypes.c_char_p(data)
    keep.append(buf)
    return ctypes.cast(buf, ctypes.c_void_p).value


def to_value(t, x, v, keep, what):
    """Stores the Python value x into the hl_value v as type t.

    keep: a list that must outlive v's use (buffers of strings and bytes).
    what: names the value in error messages ("Echo: parameter 0").
    Raises ArgumentTypeError or ArgumentValueError."""

    def wrong_type(expected):
        return errors.ArgumentTypeError(
            f"{what}: expected {expected} for {t}, got {type(x).__name__}")

    v.type = int(t)
    if t in _INT_RANGES:
        if isinstance(x, bool):
            raise wrong_type("int")
        try:
            i = operator.index(x)
        except TypeError:
            raise wrong_type("int") from None
        lo, hi = _INT_RANGES[t]
        if not lo <= i <= hi:
            raise errors.ArgumentValueError(f"{what}: {i} is out of range for {t} [{lo}, {hi}]")
        setattr(v.u, t.name.lower(), i)
    elif t in (Type.F32, Type.F64):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise wrong_type("float")
        try:
            f = float(x)
        except OverflowError:
            raise errors.ArgumentValueError(f"{what}: {x} is too large for {t}") from None
        if t == Type.F32:
            v.u.f32 = f  # rounds to the nearest f32
            if math.isfinite(f) and not math.isfinite(v.u.f32):
                raise errors.ArgumentValueError(f"{what}: {x!r} is too large for f32")
        else:
            v.u.f64 = f
    elif t == Type.BOOL:
        if not isinstance(x, bool):
            raise wrong_type("bool")
        v.u.b = x
    elif t == Type.STRING:
        if not isinstance(x, str):
            raise wrong_type("str")
        if "\0" in x:
            raise errors.ArgumentValueError(f"{what}: a string cannot contain NUL")
        try:
            data = x.encode("utf-8")
        except UnicodeEncodeError as e:
            raise errors.ArgumentValueError(f"{what}: not encodable as UTF-8: {e}") from None
        v.u.str.ptr = _pointer_to(data, keep)
        v.u.str.len = len(data)
    elif t == Type.BYTES:
        if not isinstance(x, (bytes, bytearray, memoryview)):
            raise wrong_type("bytes, bytearray or memoryview")
        data = bytes(x)
        v.u.bytes.ptr = _pointer_to(data, keep)
        v.u.bytes.len = len(data)
    elif t == Type.VOID:
        if x is not None:
            raise wrong_type("None")
    else:
        raise errors.UsageError(f"{what}: unknown type {t}")


def from_value(t, v):
    """The Python value of the hl_value v, whose type is t. Strings are
    decoded as UTF-8; bytes that are not valid UTF-8 become lone surrogates
    (errors="surrogateescape"), so nothing the guest sends is lost."""
    if t in (Type.I32, Type.U32, Type.I64, Type.U64):
        return getattr(v.u, t.name.lower())
    if t == Type.F32:
        return v.u.f32
    if t == Type.F64:
        return v.u.f64
    if t == Type.BOOL:
        return bool(v.u.b)
    if t in (Type.STRING, Type.BYTES):
        span = v.u.str
        data = ctypes.string_at(span.ptr, span.len) if span.len else b""
        return data.decode("utf-8", "surrogateescape") if t == Type.STRING else data
    return None


def fault_from(fs):
    """A Fault from an hl_fault, or None for kind NONE."""
    if fs.kind == FaultKind.NONE:
        return None
    try:
        kind = FaultKind(fs.kind)
    except ValueError:
        kind = fs.kind
    return Fault(kind, fs.vector, fs.error_code, fs.rip, fs.addr, fs.rsp)


def log_level(x) -> Optional[LogLevel]:
    """A LogLevel from a LogLevel, an int or a name ("warn", ...)."""
    if x is None:
        return None
    if isinstance(x, str):
        try:
            return LogLevel[x.upper()]
        except KeyError:
            raise errors.ConfigError(f"unknown log level {x!r}") from None
    try:
        return LogLevel(x)
    except ValueError:
        raise errors.ConfigError(f"unknown log level {x!r}") from None
