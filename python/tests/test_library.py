"""test_library.py - what works without /dev/kvm: the library, types, conversions, errors before the VM."""

import ctypes
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hyperlight
from hyperlight import Type, errors
from hyperlight._native import Value
from hyperlight._values import from_value, to_value


def roundtrip(t, x):
    v, keep = Value(), []
    to_value(t, x, v, keep, "test")
    assert v.type == t
    return from_value(t, v)


def test_library_loads_and_reports_its_version():
    assert hyperlight.library_version().split(".")[0] == "1"
    assert hyperlight.library_path()


def test_type_parses_names_values_and_none():
    assert Type.parse("i32") is Type.I32
    assert Type.parse("STRING") is Type.STRING
    assert Type.parse(9) is Type.BYTES
    assert Type.parse(None) is Type.VOID
    assert str(Type.F64) == "f64"


@pytest.mark.parametrize("bad", ["int", 99, True, 1.5, object()])
def test_type_rejects_unknown_types(bad):
    with pytest.raises(hyperlight.UsageError):
        Type.parse(bad)


def test_every_error_code_has_its_class():
    assert errors.error_class(errors.HL_E_GUEST_FAULT) is hyperlight.GuestFault
    assert errors.error_class(errors.HL_E_POISONED) is hyperlight.Poisoned
    assert errors.error_class(errors.HL_E_ARG_TYPE) is hyperlight.ArgumentTypeError
    assert errors.error_class(errors.HL_E_UNSUPPORTED) is hyperlight.UnsupportedError
    assert errors.error_class(-999) is hyperlight.HyperlightError
    for code in range(-50, 0):
        cls = errors.error_class(code)
        assert issubclass(cls, hyperlight.HyperlightError)


def test_argument_errors_are_also_builtin_errors():
    assert issubclass(hyperlight.ArgumentTypeError, TypeError)
    assert issubclass(hyperlight.ArgumentValueError, ValueError)
    assert issubclass(hyperlight.ArgumentCountError, TypeError)
    assert issubclass(hyperlight.NoFunctionError, LookupError)


# ---- conversions, in process (the same code a call uses) -----------------------

INT_RANGES = {Type.I32: (-2**31, 2**31 - 1), Type.U32: (0, 2**32 - 1),
              Type.I64: (-2**63, 2**63 - 1), Type.U64: (0, 2**64 - 1)}


@pytest.mark.parametrize("t", list(INT_RANGES))
def test_int_limits_convert_and_one_past_them_raises(t):
    lo, hi = INT_RANGES[t]
    assert roundtrip(t, lo) == lo
    assert roundtrip(t, hi) == hi
    for bad in (lo - 1, hi + 1):
        with pytest.raises(hyperlight.ArgumentValueError):
            roundtrip(t, bad)


@settings(max_examples=100)
@given(st.sampled_from(list(INT_RANGES)), st.integers())
def test_ints_convert_in_range_and_raise_outside(t, x):
    lo, hi = INT_RANGES[t]
    if lo <= x <= hi:
        assert roundtrip(t, x) == x
    else:
        with pytest.raises(hyperlight.ArgumentValueError):
            roundtrip(t, x)


@settings(max_examples=100)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_f64_keeps_every_bit(x):
    y = roundtrip(Type.F64, x)
    assert struct.pack("<d", y) == struct.pack("<d", x)


@settings(max_examples=100)
@given(st.floats(width=32))
def test_f32_keeps_every_representable_value(x):
    y = roundtrip(Type.F32, x)
    assert (math.isnan(x) and math.isnan(y)) or y == x


def test_f32_rejects_values_beyond_its_range():
    with pytest.raises(hyperlight.ArgumentValueError):
        roundtrip(Type.F32, 1e300)
    assert roundtrip(Type.F32, math.inf) == math.inf


@settings(max_examples=100)
@given(st.text())
def test_strings_convert(x):
    if "\0" in x:
        with pytest.raises(hyperlight.ArgumentValueError):
            roundtrip(Type.STRING, x)
    else:
        assert roundtrip(Type.STRING, x) == x


def test_unencodable_strings_raise():
    with pytest.raises(hyperlight.ArgumentValueError):
        roundtrip(Type.STRING, "\ud800")


@settings(max_examples=100)
@given(st.binary())
def test_bytes_convert(x):
    assert roundtrip(Type.BYTES, x) == x
    assert roundtrip(Type.BYTES, bytearray(x)) == x


def test_empty_string_and_bytes_have_a_pointer():
    for t, x in ((Type.STRING, ""), (Type.BYTES, b"")):
        v, keep = Value(), []
        to_value(t, x, v, keep, "test")
        assert v.u.str.ptr and v.u.str.len == 0


@pytest.mark.parametrize("t, bad", [
    (Type.I32, "1"), (Type.I32, 1.0), (Type.I32, True), (Type.U64, None),
    (Type.F64, "1.0"), (Type.F64, False), (Type.BOOL, 1), (Type.BOOL, None),
    (Type.STRING, b"abc"), (Type.STRING, 5), (Type.BYTES, "abc"), (Type.BYTES, [1, 2]),
])
def test_wrong_python_types_raise(t, bad):
    with pytest.raises(hyperlight.ArgumentTypeError):
        roundtrip(t, bad)


def test_ints_are_accepted_for_floats():
    assert roundtrip(Type.F64, 3) == 3.0
    assert roundtrip(Type.F32, -2) == -2.0


# ---- errors that come before any VM exists --------------------------------------

def test_missing_guest_file_raises_guest_file_error(tmp_path):
    with pytest.raises(hyperlight.GuestFileError) as e:
        hyperlight.Sandbox(tmp_path / "missing")
    assert e.value.code == errors.HL_E_IO and e.value.code_name == "HL_E_IO"
    assert "missing" in str(e.value)


def test_garbage_image_raises_guest_image_error():
    with pytest.raises(hyperlight.GuestImageError):
        hyperlight.Sandbox(b"not an ELF file at all")


def test_config_out_of_range_raises_config_error(tmp_path):
    with pytest.raises(hyperlight.ConfigError):
        hyperlight.Sandbox(b"\x7fELF", heap_size=1)
    with pytest.raises(hyperlight.ConfigError):
        hyperlight.Sandbox(b"\x7fELF", heap_size=-1)
    with pytest.raises(hyperlight.ConfigError):
        hyperlight.Sandbox(b"\x7fELF", max_log_level="loud")


def test_value_struct_matches_the_c_layout():
    # hl_value: an int tag, then a union of 16 bytes aligned to 8.
    assert ctypes.sizeof(Value) == 24
    assert Value.u.offset == 8
