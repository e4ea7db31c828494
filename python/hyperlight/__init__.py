"""hyperlight - run guest code in KVM micro-VM sandboxes from Python.

A binding with ctypes over libhyperlight.so (the C library of this project):

    from hyperlight import Sandbox

    with Sandbox("simpleguest") as sb:
        sb.init()
        print(sb.call("Echo", "hello"))

    with JsSandbox() as js:                     # QuickJS in a sandbox
        js.add_handler("add", "function handler(e) { return e.a + e.b; }")
        print(js.call("add", {"a": 1, "b": 2}))

The library is found through $HYPERLIGHT_LIB (the .so file or its
directory), then the build directories of the source tree this package sits
in, then the system's library path. See docs/python.md.
"""

from . import errors
from ._native import LibraryNotFound
from ._values import Fault, FaultKind, Function, LogLevel, Type
from .errors import (AbiVersionError, ArgumentCountError, ArgumentError, ArgumentsTooLarge,
                     ArgumentTypeError, ArgumentValueError, CallCancelled, ConfigError,
                     ExistsError, GuestAbort, GuestError, GuestFailure, GuestFault,
                     GuestFileError, GuestImageError, GuestProtocolError, HostError,
                     HostFunctionError, HyperlightError, HypervisorError, JsEngineError,
                     JsError, JsException, JsGuestMissing, JsLoadError, JsMemoryError,
                     JsNoHandler, JsNotSettled, JsResultTooLarge, JsStackOverflow, JsTimeout,
                     NoFunctionError, OutOfMemory, Poisoned, StateError, UnsupportedError,
                     UsageError)
from .js import JsSandbox
from .sandbox import Sandbox, Snapshot

__version__ = "1.0.0"

__all__ = [
    "Sandbox", "Snapshot", "Type", "LogLevel", "Fault", "FaultKind", "Function",
    "LibraryNotFound", "library_version", "library_path", "errors",
    "HyperlightError", "UsageError", "StateError", "NoFunctionError", "ArgumentError",
    "ArgumentCountError", "ArgumentTypeError", "ArgumentValueError", "ArgumentsTooLarge",
    "ExistsError", "ConfigError", "UnsupportedError", "HostError", "OutOfMemory",
    "GuestFileError", "HypervisorError", "GuestImageError", "AbiVersionError",
    "GuestFailure", "GuestError", "HostFunctionError", "GuestAbort", "GuestFault",
    "GuestProtocolError", "Poisoned", "CallCancelled",
    "JsSandbox", "JsError", "JsException", "JsTimeout", "JsMemoryError", "JsStackOverflow",
    "JsResultTooLarge", "JsNoHandler", "JsLoadError", "JsNotSettled", "JsEngineError",
    "JsGuestMissing",
]


def library_version():
    """The version of the loaded libhyperlight ("1.0.0")."""
    from . import _native
    return _native.lib().hl_version().decode()


def library_path():
    """The path libhyperlight was loaded from."""
    from . import _native
    return _native.lib().hyperlight_path
