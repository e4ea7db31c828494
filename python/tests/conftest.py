"""conftest.py - shared fixtures: the library, the sample guests, /dev/kvm, one sandbox per module.

Environment: HYPERLIGHT_LIB (libhyperlight.so or its directory) and
HYPERLIGHT_GUEST_DIR (the directory of simpleguest and callbackguest; default:
guests/bin beside the library's build directory). Without a usable /dev/kvm
every test that runs a guest is skipped, and the header and summary say so.
"""

import os
import pathlib
import sys
import tempfile

# Hypothesis keeps caches in ./.hypothesis unless told otherwise: not in the
# source tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY",
                      os.path.join(tempfile.gettempdir(), "hyperlight-hypothesis"))

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import hyperlight  # noqa: E402


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


# No example database in the source tree; no deadline, since a call under an
# emulated VM can take far longer than usual.
settings.register_profile("hyperlight", database=None, deadline=None)
settings.load_profile("hyperlight")

KVM = kvm_usable()
NO_KVM_REASON = "no usable /dev/kvm: guests cannot run here (tests/vm/run-in-vm.sh has one)"
requires_kvm = pytest.mark.skipif(not KVM, reason=NO_KVM_REASON)


def guest_dir():
    env = os.environ.get("HYPERLIGHT_GUEST_DIR")
    if env:
        return pathlib.Path(env)
    libdir = pathlib.Path(hyperlight.library_path()).resolve().parent
    for d in (libdir / "guests" / "bin", libdir.parent / "share" / "hyperlight" / "guests"):
        if d.is_dir():
            return d
    return libdir / "guests" / "bin"


def guest_path(name):
    p = guest_dir() / name
    if not p.is_file():
        pytest.fail(f"guest {p} not found: build the guests or set HYPERLIGHT_GUEST_DIR")
    return str(p)


def pytest_report_header(config):
    try:
        lib = hyperlight.library_path()
    except hyperlight.LibraryNotFound as e:
        lib = f"NOT FOUND ({e})"
    lines = [f"hyperlight: library {lib}", f"hyperlight: guests {guest_dir()}"]
    try:
        from hyperlight.js import find_guest
        js = find_guest() or ("*** NOT BUILT: the JavaScript tests are SKIPPED "
                              "(scripts/fetch-quickjs.sh, then cmake --build) ***")
    except Exception as e:  # an older library without hl_js_find_guest
        js = f"*** unavailable ({e}): the JavaScript tests are SKIPPED ***"
    lines.append(f"hyperlight: JavaScript guest {js}")
    if not KVM:
        lines.append("hyperlight: *** " + NO_KVM_REASON + ": KVM TESTS ARE SKIPPED ***")
    return lines


def pytest_terminal_summary(terminalreporter):
    if not KVM:
        terminalreporter.write_line("SKIP: " + NO_KVM_REASON + "; only the tests without "
                                    "a guest ran", yellow=True, bold=True)


@pytest.fixture(scope="module")
def simple():
    """One initialised simpleguest sandbox for the whole module (creating one
    is slow under an emulated VM). Tests that poison it reset it."""
    if not KVM:
        pytest.skip(NO_KVM_REASON)
    with hyperlight.Sandbox(guest_path("simpleguest")) as sb:
        sb.init()
        yield sb


@pytest.fixture
def sb(simple):
    """The module's simpleguest sandbox, reset after the test if it poisoned it."""
    yield simple
    if not simple.closed and simple.poisoned:
        simple.reset()
