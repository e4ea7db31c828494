"""_native.py - finds libhyperlight.so and declares the C API for ctypes.

The declarations mirror include/hyperlight/hyperlight.h. Structures the
library may grow (hl_config, hl_fault, hl_function_info, hl_layout: the
header grows them by appending fields) are handed to C inside buffers much
larger than the fields known here, so a newer library never writes past the
end; the Python side reads only the prefix it knows.
"""

import ctypes
import ctypes.util
import os
import pathlib
import threading

# ---- objects that own a handle -------------------------------------------------


class Handle:
    """`with` support and a close() when collected, for the classes that own
    a library handle in self._handle and free it in close()."""

    _handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _may_close_when_collected(self):
        return True

    def __del__(self):
        try:
            if self._handle and self._may_close_when_collected():
                self.close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass


# ---- structures -----------------------------------------------------------


class _Span(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _ValueUnion(ctypes.Union):
    _fields_ = [
        ("i32", ctypes.c_int32),
        ("u32", ctypes.c_uint32),
        ("i64", ctypes.c_int64),
        ("u64", ctypes.c_uint64),
        ("f32", ctypes.c_float),
        ("f64", ctypes.c_double),
        ("b", ctypes.c_bool),
        ("str", _Span),
        ("bytes", _Span),
    ]


class Value(ctypes.Structure):
    """hl_value: a type tag (enum hl_type, an int) and the union."""

    _fields_ = [("type", ctypes.c_int), ("u", _ValueUnion)]


class Config(ctypes.Structure):
    """The hl_config fields this binding knows (1.0, then 1.1's appended ones)."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("heap_size", ctypes.c_uint64),
        ("stack_size", ctypes.c_uint64),
        ("input_size", ctypes.c_uint64),
        ("output_size", ctypes.c_uint64),
        ("max_log_level", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("interrupt_signal", ctypes.c_int32),
        ("call_timeout_ms", ctypes.c_uint32),
    ]


class FaultStruct(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int),
        ("vector", ctypes.c_uint32),
        ("error_code", ctypes.c_uint64),
        ("rip", ctypes.c_uint64),
        ("addr", ctypes.c_uint64),
        ("rsp", ctypes.c_uint64),
    ]


class FunctionInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("ret", ctypes.c_int),
        ("nparams", ctypes.c_size_t),
        ("params", ctypes.POINTER(ctypes.c_int)),
    ]


LAYOUT_FIELDS = (
    "mem_base", "mem_size", "image_base", "image_size", "entry",
    "boot_info", "page_tables", "page_tables_size", "input", "input_size",
    "output", "output_size", "heap", "heap_size", "stack", "stack_size",
    "ist", "ist_size",
)


class LayoutStruct(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in LAYOUT_FIELDS]


# hl_stats (1.2): its counters in order, then the duration histogram. The
# library fills in as many bytes as `size` says, so no room to grow is needed.
STATS_FIELDS = (
    "calls", "calls_ok", "rejected", "guest_errors", "host_function_errors", "aborts",
    "faults", "protocol_errors", "cancelled", "timeouts", "other_errors", "host_calls",
    "prints", "logs", "vm_exits", "restores", "snapshots", "call_ns_total", "call_ns_min",
    "call_ns_max",
)
STATS_HIST_BUCKETS = 40


class StatsStruct(ctypes.Structure):
    _fields_ = ([("size", ctypes.c_size_t)]
                + [(name, ctypes.c_uint64) for name in STATS_FIELDS]
                + [("call_ns_hist", ctypes.c_uint64 * STATS_HIST_BUCKETS)])


# Room for whatever a newer library appends to the structures above.
_GROWTH = 1024


def grown(struct_type):
    """A zeroed buffer of at least struct_type's size plus room to grow,
    and the struct_type view of its beginning."""
    buf = ctypes.create_string_buffer(ctypes.sizeof(struct_type) + _GROWTH)
    return buf, struct_type.from_buffer(buf)


class JsConfig(ctypes.Structure):
    """hl_js_config (hyperlight/js.h)."""

    _fields_ = [
        ("size", ctypes.c_size_t),
        ("guest", ctypes.c_char_p),
        ("memory_limit", ctypes.c_uint64),
        ("max_stack", ctypes.c_uint32),
        ("timeout_ms", ctypes.c_uint32),
        ("heap_size", ctypes.c_uint64),
        ("stack_size", ctypes.c_uint64),
        ("input_size", ctypes.c_uint64),
        ("output_size", ctypes.c_uint64),
        ("interrupt_signal", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
    ]


class JsErrorStruct(ctypes.Structure):
    """hl_js_error."""

    _fields_ = [
        ("code", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("message", ctypes.c_char_p),
        ("stack", ctypes.c_char_p),
    ]


# ---- callbacks ---------------------------------------------------------------

HOST_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(Value), ctypes.c_size_t,
    ctypes.POINTER(Value), ctypes.c_void_p)
PRINT_FN = ctypes.CFUNCTYPE(
    None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
LOG_FN = ctypes.CFUNCTYPE(
    None, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
    ctypes.c_void_p)

# ---- the functions -------------------------------------------------------------

_P = ctypes.c_void_p
_INT = ctypes.c_int
_SIZE = ctypes.c_size_t
_STR = ctypes.c_char_p

# name: (restype, argtypes). The optional ones came in 1.1 (snapshots,
# cancelling) and 1.2 (statistics).
_PROTOTYPES = {
    "hl_strerror": (_STR, [_INT]),
    "hl_type_name": (_STR, [_INT]),
    "hl_version": (_STR, []),
    "hl_config_init": (None, [_P]),
    "hl_sandbox_new": (_INT, [_P, ctypes.POINTER(_P)]),
    "hl_sandbox_free": (None, [_P]),
    "hl_sandbox_load_file": (_INT, [_P, _STR]),
    "hl_sandbox_load_image": (_INT, [_P, _P, _SIZE]),
    "hl_host_call_fail": (_INT, [_P, _STR]),  # variadic; called with the format only, % doubled
    "hl_host_call_sandbox": (_P, [_P]),
    "hl_sandbox_register": (_INT, [_P, _STR, _INT, ctypes.POINTER(_INT), _SIZE, HOST_FN, _P]),
    "hl_sandbox_set_print": (_INT, [_P, PRINT_FN, _P]),
    "hl_sandbox_set_log": (_INT, [_P, LOG_FN, _P]),
    "hl_sandbox_init": (_INT, [_P]),
    "hl_call": (_INT, [_P, _STR, ctypes.POINTER(Value), _SIZE, ctypes.POINTER(Value)]),
    "hl_sandbox_reset": (_INT, [_P]),
    "hl_sandbox_poisoned": (ctypes.c_bool, [_P]),
    "hl_errmsg": (_STR, [_P]),
    "hl_sandbox_last_fault": (_INT, [_P, _P]),
    "hl_sandbox_guest_code": (_INT, [_P]),
    "hl_function_count": (_SIZE, [_P]),
    "hl_function_get": (_INT, [_P, _SIZE, _P]),
    "hl_sandbox_layout": (_INT, [_P, _P]),
}
_OPTIONAL_PROTOTYPES = {
    "hl_sandbox_snapshot": (_INT, [_P, ctypes.POINTER(_P)]),
    "hl_sandbox_restore": (_INT, [_P, _P]),
    "hl_sandbox_new_from_snapshot": (_INT, [_P, _P, ctypes.POINTER(_P)]),
    "hl_snapshot_free": (None, [_P]),
    "hl_snapshot_size": (ctypes.c_uint64, [_P]),
    "hl_sandbox_interrupt_handle": (_INT, [_P, ctypes.POINTER(_P)]),
    "hl_interrupt_cancel": (_INT, [_P]),
    "hl_interrupt_free": (None, [_P]),
    "hl_install_interrupt_handler": (_INT, [_INT]),
    "hl_sandbox_stats": (_INT, [_P, _P]),
    "hl_sandbox_stats_reset": (_INT, [_P]),
    "hl_stats_percentile_ns": (ctypes.c_uint64, [_P, ctypes.c_double]),
    # JavaScript (hyperlight/js.h)
    "hl_js_strerror": (_STR, [_INT]),
    "hl_js_config_init": (None, [_P]),
    "hl_js_find_guest": (_INT, [ctypes.c_char_p, _SIZE]),
    "hl_js_new": (_INT, [_P, ctypes.POINTER(_P)]),
    "hl_js_free": (None, [_P]),
    "hl_js_set_print": (_INT, [_P, PRINT_FN, _P]),
    "hl_js_add_handler": (_INT, [_P, _STR, _P, _SIZE, _STR, _STR]),
    "hl_js_call": (_INT, [_P, _STR, _P, _SIZE, ctypes.POINTER(_P), ctypes.POINTER(_SIZE)]),
    "hl_js_errmsg": (_STR, [_P]),
    "hl_js_last_error": (_INT, [_P, _P]),
    "hl_js_sandbox": (_P, [_P]),
}

# ---- finding the library ----------------------------------------------------------

LIB_NAME = "libhyperlight.so"
_REPO = pathlib.Path(__file__).resolve().parents[2]


class LibraryNotFound(ImportError):
    """libhyperlight.so could not be found or loaded."""


def _candidates():
    """Where to look, in order: $HYPERLIGHT_LIB (a file or a directory), the
    source tree's build directories (build/ first, then the newest build*/),
    then the system's library path."""
    env = os.environ.get("HYPERLIGHT_LIB")
    if env:
        p = pathlib.Path(env)
        yield ("$HYPERLIGHT_LIB", str(p / LIB_NAME if p.is_dir() else p))
        return
    if (_REPO / "CMakeLists.txt").is_file() and (_REPO / "include" / "hyperlight").is_dir():
        builds = [d for d in _REPO.glob("build*") if (d / LIB_NAME).is_file()]
        builds.sort(key=lambda d: (d.name != "build", -(d / LIB_NAME).stat().st_mtime))
        for d in builds:
            yield ("the build tree", str(d / LIB_NAME))
    found = ctypes.util.find_library("hyperlight")
    yield ("the system", found or LIB_NAME + ".1")


_lock = threading.Lock()
_lib = None


def lib():
    """The loaded library with its prototypes declared (loaded on first use)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            _lib = _load()
    return _lib


def _load():
    tried = []
    for where, path in _candidates():
        try:
            dll = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({where}): {e}")
            continue
        for name, (res, args) in _PROTOTYPES.items():
            try:
                f = getattr(dll, name)
            except AttributeError:
                raise LibraryNotFound(f"{path} lacks {name}: not a Hyperlight library "
                                      "or too old") from None
            f.restype, f.argtypes = res, args
        for name, (res, args) in _OPTIONAL_PROTOTYPES.items():
            f = getattr(dll, name, None)
            if f is not None:
                f.restype, f.argtypes = res, args
        dll.hyperlight_path = path
        return dll
    raise LibraryNotFound("libhyperlight.so not found; set HYPERLIGHT_LIB to the library "
                          "(or its directory). Tried: " + "; ".join(tried))


def has(name):
    """Whether the loaded library has the (1.1) function `name`."""
    return getattr(lib(), name, None) is not None
