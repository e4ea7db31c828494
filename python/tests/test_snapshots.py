"""test_snapshots.py - snapshots, restore, sandboxes made from snapshots, cancelling calls (library 1.1)."""

import threading
import time

import pytest

import hyperlight
from hyperlight import _native
from conftest import KVM, NO_KVM_REASON, guest_path, requires_kvm

pytestmark = requires_kvm


def needs(fn):
    if not _native.has(fn):
        pytest.skip(f"this libhyperlight has no {fn}")


def test_restore_returns_to_the_snapshot(sb):
    needs("hl_sandbox_snapshot")
    sb.reset()
    sb.call("AddToStatic", 10)
    with sb.snapshot() as snap:
        assert snap.size > 0
        sb.call("AddToStatic", 5)
        assert sb.call("GetStatic") == 15
        sb.restore(snap)
        assert sb.call("GetStatic") == 10
        with pytest.raises(hyperlight.GuestFault):
            sb.call("NullDeref")
        sb.restore(snap)
        assert not sb.poisoned and sb.call("GetStatic") == 10
    sb.reset()


def test_sandbox_from_snapshot_keeps_state_and_host_functions():
    needs("hl_sandbox_new_from_snapshot")
    with hyperlight.Sandbox(guest_path("callbackguest")) as sb:
        sb.register_host_function("HostAdd", ["i32", "i32"], "i32", lambda a, b: a + b)
        sb.init()
        snap = sb.snapshot()
    with snap, hyperlight.Sandbox.from_snapshot(snap) as copy:
        assert copy.call("GuestMethod2", 20, 22) == 42
        assert [f.name for f in copy.functions()][0] == "GuestMethod1"


def test_snapshot_of_a_poisoned_sandbox_raises_poisoned(sb):
    needs("hl_sandbox_snapshot")
    with pytest.raises(hyperlight.GuestFault):
        sb.call("NullDeref")
    with pytest.raises(hyperlight.Poisoned):
        sb.snapshot()


@pytest.fixture(scope="module")
def spinner():
    if not KVM:
        pytest.skip(NO_KVM_REASON)
    needs("hl_install_interrupt_handler")
    with hyperlight.Sandbox(guest_path("simpleguest"), cancellable=True) as sb:
        sb.init()
        yield sb


def test_cancel_from_another_thread_stops_a_spinning_guest(spinner):
    def cancel_soon():
        time.sleep(0.2)
        while not spinner.cancel():  # until the call has started
            time.sleep(0.05)

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    start = time.monotonic()
    with pytest.raises(hyperlight.CallCancelled):
        spinner.call("Spin")
    canceller.join()
    assert time.monotonic() - start < 30
    assert spinner.poisoned
    spinner.reset()
    assert spinner.call("EchoI32", 9) == 9


def test_cancel_without_a_running_call_does_nothing(spinner):
    assert spinner.cancel() is False
    assert spinner.call("EchoI32", 1) == 1


def test_call_timeout_cancels_long_calls():
    needs("hl_install_interrupt_handler")
    with hyperlight.Sandbox(guest_path("simpleguest"), call_timeout=0.2) as sb:
        sb.init()
        assert sb.call("EchoI32", 5) == 5
        with pytest.raises(hyperlight.CallCancelled, match="timed out"):
            sb.call("Spin")
