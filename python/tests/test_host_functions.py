"""test_host_functions.py - Python callables as host functions, called by callbackguest."""

import pytest

import hyperlight
from conftest import KVM, NO_KVM_REASON, guest_path, requires_kvm

pytestmark = requires_kvm

# What each host function does; tests swap entries (the functions are
# registered once, before init, so the registered callables look here).
behaviour = {}
printed = []


def _default_behaviour():
    return {
        "HostMethod1": lambda s: len(s),
        "HostAdd": lambda a, b: a + b,
        "HostEcho": lambda s: s + "!",
        "HostGetBytes": lambda n: bytes(range(n % 256)) * (n // 256 + 1),
        "HostError": _fail,
        "HostPrint": lambda s: printed.append(s) or len(s),
    }


def _fail():
    raise ValueError("the host says no (100%)")


SIGNATURES = {
    "HostMethod1": (["string"], "i32"),
    "HostAdd": (["i32", "i32"], "i32"),
    "HostEcho": (["string"], "string"),
    "HostGetBytes": (["u32"], "bytes"),
    "HostError": ([], "i32"),
    "HostPrint": (["string"], "i32"),
}


@pytest.fixture(scope="module")
def cb():
    if not KVM:
        pytest.skip(NO_KVM_REASON)
    with hyperlight.Sandbox(guest_path("callbackguest")) as sb:
        for name, (params, ret) in SIGNATURES.items():
            sb.register_host_function(name, params, ret,
                                      lambda *a, _n=name: behaviour[_n](*a))
        sb.init()
        yield sb


@pytest.fixture(autouse=True)
def fresh_behaviour(request):
    behaviour.clear()
    behaviour.update(_default_behaviour())
    printed.clear()
    yield
    if "cb" in request.fixturenames:
        sb = request.getfixturevalue("cb")
        if sb.poisoned:
            sb.reset()


def test_host_functions_get_and_return_python_values(cb):
    assert cb.call("GuestMethod2", 2, 3) == 5
    assert cb.call("GuestMethod3", "hi") == "hi!"
    assert cb.call("GuestMethod1", "abc") == len("Hello from GuestMethod1, abc")
    assert cb.call("GuestMethod4", 300) == bytes(range(300 % 256)) * 2
    assert cb.call("PrintViaHost", "via host") == 8 and printed == ["via host"]


def test_many_host_calls_in_one_guest_call(cb):
    assert cb.call("HostCallLoop", 200) == sum(i + 1 for i in range(200))


def test_exception_becomes_host_function_error_with_the_exception_as_cause(cb):
    with pytest.raises(hyperlight.HostFunctionError, match="the host says no") as e:
        cb.call("CallHostError")
    assert isinstance(e.value.__cause__, ValueError)
    assert e.value.code_name == "HL_E_HOST_FUNCTION"


def test_guest_sees_the_exception_message_and_may_handle_it(cb):
    assert cb.call("CallHostErrorHandled") == "handled: ValueError: the host says no (100%)"


def test_result_of_the_wrong_type_fails_the_host_call(cb):
    behaviour["HostAdd"] = lambda a, b: "not an int"
    with pytest.raises(hyperlight.HostFunctionError, match="HostAdd") as e:
        cb.call("GuestMethod2", 1, 2)
    assert isinstance(e.value.__cause__, TypeError)


def test_result_out_of_range_fails_the_host_call(cb):
    behaviour["HostAdd"] = lambda a, b: 2**40
    with pytest.raises(hyperlight.HostFunctionError, match="out of range"):
        cb.call("GuestMethod2", 1, 2)


def test_exception_in_a_host_function_the_guest_handles_is_not_raised(cb):
    behaviour["HostMethod1"] = lambda s: 1 // 0
    with pytest.raises(hyperlight.GuestError, match="ZeroDivisionError") as e:
        cb.call("GuestMethod1", "x")
    assert e.value.guest_code == 2


def test_keyboard_interrupt_in_a_host_function_propagates(cb):
    def interrupt(a, b):
        raise KeyboardInterrupt

    behaviour["HostAdd"] = interrupt
    with pytest.raises(KeyboardInterrupt):
        cb.call("GuestMethod2", 1, 2)


def test_calling_the_same_sandbox_from_a_host_function_raises_state_error(cb):
    def reenter(a, b):
        return cb.call("GuestMethod2", a, b)

    behaviour["HostAdd"] = reenter
    with pytest.raises(hyperlight.HostFunctionError) as e:
        cb.call("GuestMethod2", 1, 2)
    assert isinstance(e.value.__cause__, hyperlight.StateError)


def test_unregistered_host_function_is_an_error_the_guest_sees(cb):
    with pytest.raises(hyperlight.GuestError, match="NoSuchFunction"):
        cb.call("CallUnknownHostFunction")


# ---- registration, on sandboxes of their own --------------------------------------

def test_registration_errors():
    with hyperlight.Sandbox(guest_path("callbackguest")) as sb:
        sb.register_host_function("HostAdd", ["i32", "i32"], "i32", lambda a, b: a + b)
        with pytest.raises(hyperlight.ExistsError):
            sb.register_host_function("HostAdd", ["i32", "i32"], "i32", lambda a, b: a + b)
        with pytest.raises(hyperlight.UsageError):
            sb.register_host_function("HostEcho", ["text"], "string", str)
        with pytest.raises(hyperlight.UsageError):
            sb.register_host_function("HostEcho", ["string"], "string", "not callable")

        @sb.host_function("HostEcho", ["string"], "string")
        def echo(s):
            return s.upper()

        sb.init()
        assert sb.call("GuestMethod3", "shout") == "SHOUT"
        with pytest.raises(hyperlight.StateError):
            sb.register_host_function("HostError", [], "i32", lambda: 0)
