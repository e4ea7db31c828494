"""test_js.py - JsSandbox: JavaScript handlers on the QuickJS guest (every JSON kind, a
property test over JSON values, exceptions, timeouts, memory and stack limits, huge strings,
isolation, reuse, console output)."""

import json
import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import KVM, NO_KVM_REASON
from hyperlight import (ConfigError, ExistsError, JsException, JsLoadError, JsMemoryError,
                        JsNoHandler, JsResultTooLarge, JsSandbox, JsStackOverflow, JsTimeout)
from hyperlight.js import find_guest

GUEST = find_guest()
pytestmark = [
    pytest.mark.skipif(not KVM, reason=NO_KVM_REASON),
    pytest.mark.skipif(GUEST is None, reason="the JavaScript guest is not built "
                       "(scripts/fetch-quickjs.sh fetches QuickJS, then cmake --build)"),
]

ECHO = "function handler(e) { return e; }"


@pytest.fixture(scope="module")
def js():
    with JsSandbox() as j:
        j.add_handler("echo", ECHO)
        j.add_handler("count", "globalThis.n = 0; function handler() { return ++globalThis.n; }")
        yield j


@pytest.mark.parametrize("value", [
    None, True, False, 0, -1, 3.5, 1e300, -2.5e-300, 2**53 - 1, "", "text",
    "quotes \" \\ \n \t \x00 \u00e9 \u4e2d \U0001F600", [], {}, [1, "a", None, [[]], {"k": {}}],
    {"a": 1, "b": [1, 2, {"c": "d"}], "e": {"f": None}},
])
def test_json_value_round_trips(js, value):
    assert js.call("echo", value) == value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8), inner,
                      max_size=5),
    max_leaves=20)


def same(a, b):
    """Equal as JSON values: JavaScript has one number type, and prints a
    float with an integral value (2.5e16) as an integer, which json.loads
    reads back as an int; compare numbers as doubles."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(json_values)
def test_any_json_value_round_trips(js, value):
    assert same(js.call("echo", value), value)


def test_raw_json_text_goes_through_as_text(js):
    assert js.call("echo", '{"a": [1, 2]}', raw=True) == '{"a":[1,2]}'


def test_every_call_starts_fresh(js):
    assert [js.call("count") for _ in range(5)] == [1] * 5


def test_reuse_keeps_state():
    with JsSandbox(reuse=True) as j:
        j.add_handler("count", "globalThis.n = 0; function handler() { return ++globalThis.n; }")
        assert [j.call("count") for _ in range(3)] == [1, 2, 3]


def test_console_output_reaches_on_print():
    seen = []
    with JsSandbox(on_print=lambda fd, text: seen.append((fd, text))) as j:
        j.add_handler("talk", "function handler(e) { console.log('hi', e); console.error('err'); }")
        assert j.call("talk", {"x": 1}) is None
    assert seen == [(1, 'hi {"x":1}\n'), (2, "err\n")]


def test_exception_has_name_message_and_stack():
    with JsSandbox() as j:
        j.add_handler("bad", "function handler(e) {\n  throw new RangeError('bad ' + e);\n}",
                      filename="bad.js")
        with pytest.raises(JsException) as ei:
            j.call("bad", 7)
        assert ei.value.js_name == "RangeError"
        assert ei.value.js_message == "bad 7"
        assert "at handler (bad.js:2" in ei.value.js_stack
        j.add_handler("echo", ECHO)
        assert j.call("echo", 1) == 1


def test_syntax_error_is_a_load_error(js):
    with pytest.raises(JsLoadError) as ei:
        js.add_handler("broken", "function handler( {")
    assert ei.value.js_name == "SyntaxError"


def test_duplicate_handler_is_refused(js):
    with pytest.raises(ExistsError):
        js.add_handler("echo", ECHO)


def test_unknown_handler(js):
    with pytest.raises(JsNoHandler):
        js.call("nobody", 1)


def test_infinite_loop_times_out_and_recovers():
    with JsSandbox(timeout=0.2) as j:
        j.add_handler("spin", "function handler() { for (;;) {} }")
        j.add_handler("echo", ECHO)
        t0 = time.monotonic()
        with pytest.raises(JsTimeout):
            j.call("spin")
        assert 0.15 < time.monotonic() - t0 < 3
        assert j.call("echo", "ok") == "ok"


def test_allocation_bomb_hits_the_memory_limit():
    with JsSandbox(memory_limit=16 << 20, timeout=20) as j:
        j.add_handler("bomb", "function handler() { const a = []; for (;;) a.push(new Array(1e5).fill(0)); }")
        j.add_handler("echo", ECHO)
        with pytest.raises(JsMemoryError):
            j.call("bomb")
        assert j.call("echo", [1]) == [1]


def test_deep_recursion_overflows_cleanly(js):
    js.add_handler("rec", "function f(n) { return n ? 1 + f(n - 1) : 0; } function handler(n) { return f(n); }")
    assert js.call("rec", 500) == 500
    with pytest.raises(JsStackOverflow):
        js.call("rec", 10**7)
    assert js.call("rec", 10) == 10


def test_huge_strings(js):
    s = "x" * (900 << 10)
    assert js.call("echo", s) == s
    js.add_handler("make", "function handler(n) { return 'y'.repeat(n); }")
    with pytest.raises(JsResultTooLarge):
        js.call("make", 2_000_000)


def test_result_that_json_refuses_is_an_exception(js):
    js.add_handler("bigint", "function handler() { return 1n; }")
    with pytest.raises(JsException):
        js.call("bigint")


def test_python_values_json_cannot_take_are_refused_before_the_call(js):
    with pytest.raises(ValueError):
        js.call("echo", math.nan)
    with pytest.raises(TypeError):
        js.call("echo", object())


def test_bad_configuration_is_refused():
    with pytest.raises(ConfigError):
        JsSandbox(memory_limit=-1)


def test_async_handler_and_modules():
    with JsSandbox() as j:
        j.add_handler("a", "export default async function (e) { await null; return json(e); }\n"
                           "const json = (e) => JSON.parse(JSON.stringify(e));")
        assert j.call("a", {"k": [1]}) == {"k": [1]}
    json.dumps(None)
