"""test_calls.py - calling simpleguest: types, signatures, argument errors, guest failures, reset, output."""

import logging
import math
import threading

import pytest

import hyperlight
from hyperlight import FaultKind, Type
from conftest import guest_path, requires_kvm

pytestmark = requires_kvm


def test_functions_describe_the_guest_signatures(sb):
    fns = {f.name: f for f in sb.functions()}
    assert fns["Echo"].params == (Type.STRING,) and fns["Echo"].ret is Type.STRING
    assert fns["NoOp"].params == () and fns["NoOp"].ret is Type.VOID
    assert len(fns["Mixed32"].params) == 32
    assert str(fns["EchoI32"]) == "EchoI32(i32) -> i32"
    assert sb.function("EchoBytes").ret is Type.BYTES


@pytest.mark.parametrize("fn, value", [
    ("Echo", "hello, wörld ✓"), ("EchoI32", -5), ("EchoU32", 2**32 - 1), ("EchoI64", -2**63),
    ("EchoU64", 2**64 - 1), ("EchoF32", 0.5), ("EchoF64", -1e300), ("EchoBool", False),
    ("EchoBytes", b"\x00\xff\x00"),
])
def test_each_type_comes_back_as_the_same_python_value(sb, fn, value):
    result = sb.call(fn, value)
    assert result == value and type(result) is type(value)


def test_void_function_returns_none(sb):
    assert sb.call("NoOp") is None


def test_many_parameters_of_mixed_types(sb):
    assert sb.call("Sum16", *range(1, 17)) == 136
    cycle = [1, 2, 3, 4, 0.5, 0.25, True, "abc"]
    args = [cycle[i % 8] for i in range(32)]
    assert sb.call("Mixed32", *args) == pytest.approx(4 * (1 + 2 + 3 + 4 + 0.5 + 0.25 + 1 + 3))


def test_unknown_function_raises_no_function_error(sb):
    with pytest.raises(hyperlight.NoFunctionError, match="NoSuchFunction"):
        sb.call("NoSuchFunction")


def test_wrong_argument_count_raises_before_the_guest_runs(sb):
    with pytest.raises(hyperlight.ArgumentCountError, match="takes 1 argument, got 2"):
        sb.call("EchoI32", 1, 2)
    assert not sb.poisoned


@pytest.mark.parametrize("fn, bad", [
    ("Echo", 5), ("Echo", b"bytes"), ("EchoI32", "5"), ("EchoI32", 5.0), ("EchoU64", True),
    ("EchoF64", "1.0"), ("EchoBool", 1), ("EchoBytes", "text"),
])
def test_wrong_python_types_raise_argument_type_error(sb, fn, bad):
    with pytest.raises(hyperlight.ArgumentTypeError):
        sb.call(fn, bad)
    with pytest.raises(TypeError):
        sb.call(fn, bad)
    assert not sb.poisoned


@pytest.mark.parametrize("fn, bad", [
    ("EchoI32", 2**31), ("EchoI32", -2**31 - 1), ("EchoU32", -1), ("EchoU32", 2**32),
    ("EchoI64", 2**63), ("EchoU64", -1), ("EchoU64", 2**64), ("EchoF32", 1e39),
    ("Echo", "nul\0inside"),
])
def test_values_out_of_range_raise_argument_value_error(sb, fn, bad):
    with pytest.raises(hyperlight.ArgumentValueError):
        sb.call(fn, bad)


def test_arguments_larger_than_the_input_buffer_raise(sb):
    with pytest.raises(hyperlight.ArgumentsTooLarge) as e:
        sb.call("Echo", "x" * 100_000)
    assert e.value.code == hyperlight.errors.HL_E_TOO_LARGE
    assert sb.call("Echo", "still fine") == "still fine"


def test_guest_error_carries_the_guest_code_and_message(sb):
    with pytest.raises(hyperlight.GuestError, match="the reason") as e:
        sb.call("ReturnError", 7, "the reason")
    assert e.value.guest_code == 7
    assert e.value.code_name == "HL_E_GUEST_ERROR"
    assert not sb.poisoned
    assert sb.call("EchoI32", 1) == 1


def test_null_dereference_raises_guest_fault_with_the_fault_details(sb):
    with pytest.raises(hyperlight.GuestFault) as e:
        sb.call("NullDeref")
    f = e.value.fault
    assert f.kind is FaultKind.EXCEPTION and f.vector == 14 and f.addr == 0 and f.rip != 0
    assert "page fault" in str(e.value)
    assert sb.poisoned
    assert sb.last_fault() == f


@pytest.mark.parametrize("fn, vector", [("DivideByZero", 0), ("InvalidOpcode", 6),
                                        ("GeneralProtection", 13), ("Breakpoint", 3)])
def test_cpu_exceptions_report_their_vector(sb, fn, vector):
    with pytest.raises(hyperlight.GuestFault) as e:
        sb.call(fn)
    assert e.value.fault.kind is FaultKind.EXCEPTION and e.value.fault.vector == vector


def test_access_outside_memory_is_an_mmio_fault(sb):
    with pytest.raises(hyperlight.GuestFault) as e:
        sb.call("OutsideMemory")
    assert e.value.fault.kind is FaultKind.MMIO


def test_abort_raises_guest_abort_with_its_code(sb):
    with pytest.raises(hyperlight.GuestAbort, match="aborting with code 42") as e:
        sb.call("AbortWithCode", 42)
    assert e.value.guest_code == 42
    assert e.value.fault.kind is FaultKind.ABORT


def test_poisoned_sandbox_raises_poisoned_until_reset(sb):
    with pytest.raises(hyperlight.GuestFailure):
        sb.call("NullDeref")
    with pytest.raises(hyperlight.Poisoned):
        sb.call("EchoI32", 1)
    sb.reset()
    assert not sb.poisoned and sb.last_fault() is None
    assert sb.call("EchoI32", 3) == 3


def test_reset_returns_the_guest_to_its_state_after_init(sb):
    sb.reset()
    assert sb.call("AddToStatic", 5) == 5
    assert sb.call("GetStatic") == 5
    sb.reset()
    assert sb.call("GetStatic") == 0


def test_guest_output_goes_to_sys_stdout(sb, capsys):
    assert sb.call("PrintOutput", "from the guest\n") == 15
    assert "from the guest\n" in capsys.readouterr().out


def test_guest_log_records_go_to_the_logging_module(sb, caplog):
    with caplog.at_level(logging.WARNING, logger="hyperlight.guest"):
        sb.call("LogMessage", int(hyperlight.LogLevel.ERROR), "log line")
    assert any("log line" in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records)


def test_results_survive_the_next_call(sb):
    a = sb.call("Echo", "first")
    b = sb.call("Echo", "second")
    assert (a, b) == ("first", "second")


def test_calls_from_several_threads_are_serialised(sb):
    failures = []

    def worker(k):
        try:
            for i in range(50):
                assert sb.call("EchoI64", k * 1000 + i) == k * 1000 + i
        except Exception as e:  # pragma: no cover - reported below
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_nan_and_infinities_pass_through(sb):
    assert math.isnan(sb.call("EchoF64", math.nan))
    assert sb.call("EchoF64", -math.inf) == -math.inf
    assert sb.call("EchoF32", math.inf) == math.inf


# ---- life cycle, with sandboxes of their own -------------------------------------

def test_call_before_init_raises_state_error():
    with hyperlight.Sandbox(guest_path("simpleguest")) as sb:
        with pytest.raises(hyperlight.StateError):
            sb.call("Echo", "x")
        assert sb.init() is sb
        with pytest.raises(hyperlight.StateError):
            sb.init()


def test_closed_sandbox_raises_state_error_and_closes_twice_quietly():
    sb = hyperlight.Sandbox(guest_path("simpleguest"), heap_size=256 * 1024,
                            on_print=lambda fd, text: None).init()
    assert sb.call("Malloc", 100_000) == 100_000
    sb.close()
    sb.close()
    assert sb.closed
    with pytest.raises(hyperlight.StateError):
        sb.call("Echo", "x")


def test_on_print_receives_the_guest_output():
    seen = []
    with hyperlight.Sandbox(guest_path("simpleguest"),
                            on_print=lambda fd, text: seen.append((fd, text))) as sb:
        sb.init()
        sb.call("PrintOutput", "captured")
    assert (1, "captured") in seen


def test_exception_in_on_print_is_raised_by_the_call():
    def broken(fd, text):
        raise RuntimeError("printer on fire")

    with hyperlight.Sandbox(guest_path("simpleguest"), on_print=broken) as sb:
        sb.init()
        with pytest.raises(RuntimeError, match="printer on fire"):
            sb.call("PrintOutput", "x")
        assert sb.call("EchoI32", 4) == 4
