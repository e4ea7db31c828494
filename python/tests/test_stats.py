"""test_stats.py - Sandbox.stats() and reset_stats() (library 1.2): exact counts for a known sequence of calls."""

import ctypes

import pytest

import hyperlight
from hyperlight import _native
from conftest import guest_path, requires_kvm


def needs_stats():
    if not _native.has("hl_sandbox_stats"):
        pytest.skip("this libhyperlight has no statistics")


def test_the_structure_matches_the_library():
    needs_stats()
    # size (8) + 20 counters and durations + 40 histogram buckets, 8 bytes each.
    assert ctypes.sizeof(_native.StatsStruct) == 8 + 8 * (20 + 40)
    st = _native.StatsStruct()
    st.size = ctypes.sizeof(st) - 8  # too small: refused
    assert _native.lib().hl_sandbox_stats(None, ctypes.byref(st)) == -1  # HL_E_INVAL


@requires_kvm
def test_stats_count_calls_logs_and_failures_exactly():
    needs_stats()
    logs = []
    with hyperlight.Sandbox(guest_path("simpleguest"), max_log_level="info",
                            on_log=lambda *rec: logs.append(rec)) as sb:
        sb.init()
        sb.reset_stats()
        s = sb.stats()
        assert s["calls"] == 0 and s["vm_exits"] == 0 and sum(s["call_ns_hist"]) == 0
        assert s["call_ns_p50"] == 0

        sb.call("NoOp")
        sb.call("LogMessage", 3, "sent")       # info: reaches the host
        sb.call("LogMessage", 4, "filtered")   # debug: dropped in the guest, no exit
        with pytest.raises(hyperlight.GuestFault):
            sb.call("NullDeref")
        sb.reset()
        with pytest.raises(hyperlight.NoFunctionError):
            sb.call("NoSuchFunction")  # refused by the binding: the library never sees it

        s = sb.stats()
        assert len(logs) == 1
        assert s["calls"] == 4
        assert s["calls_ok"] == 3
        assert s["faults"] == 1
        assert s["rejected"] == 0
        assert s["logs"] == 1
        assert s["vm_exits"] == 1 + 2 + 1 + 1
        assert s["restores"] == 1
        assert sum(s["call_ns_hist"]) == 4
        assert 0 < s["call_ns_min"] <= s["call_ns_p50"] <= s["call_ns_p99"] <= s["call_ns_max"]

        sb.reset_stats()
        assert sb.stats()["calls"] == 0
    with pytest.raises(hyperlight.StateError):
        sb.stats()  # closed
