"""hyperlight - run guest code in KVM micro-VM sandboxes from Python.

A binding with ctypes over libhyperlight.so (the C library of this project):

    from hyperlight import Sandbox

    with Sandbox("simpleguest") as sb:
        sb.init()
        print(sb.call("Echo", "hello"))

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
                     HostFunctionError, HyperlightError, HypervisorError, NoFunctionError,
                     OutOfMemory, Poisoned, StateError, UnsupportedError, UsageError)
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
]


def library_version():
    """The version of the loaded libhyperlight ("1.0.0")."""
    from . import _native
    return _native.lib().hl_version().decode()


def library_path():
    """The path libhyperlight was loaded from."""
    from . import _native
    return _native.lib().hyperlight_path
