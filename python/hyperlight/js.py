"""js.py - JavaScript handlers in a sandbox (hyperlight/js.h): JsSandbox.

    from hyperlight import JsSandbox

    with JsSandbox() as js:
        js.add_handler("add", "function handler(e) { return {sum: e.a + e.b}; }")
        js.call("add", {"a": 1, "b": 2})          # -> {"sum": 3}

Values go in as JSON (json.dumps) and come back parsed (json.loads); pass
raw=True to call() to send and get JSON text. See docs/javascript.md.
"""

import ctypes
import json
import threading

from . import _native, errors
from .sandbox import (_DEFAULT_INTERRUPT_SIGNAL, _deliver_print, _handlers, _handlers_lock,
                      _raise_code)

HL_JS_REUSE = 1


def find_guest():
    """The path of the JavaScript guest hl_js_find_guest finds, or None."""
    buf = ctypes.create_string_buffer(4096)
    if _native.lib().hl_js_find_guest(buf, len(buf)) != 0:
        return None
    return buf.value.decode()


class JsSandbox(_native.Handle):
    """QuickJS in its own micro-VM, running JavaScript handlers.

    Every call starts from a snapshot taken after the engine and the
    handlers were loaded, unless reuse=True (state kept between calls;
    faster, not isolated).

    memory_limit: bytes the engine may allocate (default 64 MiB).
    timeout: seconds per call (default 1.0; 0 or None: no limit).
    max_stack: bytes of JavaScript stack (default 1 MiB, at most 4 MiB).
    input_size, output_size: bytes, which bound the JSON in and out
    (default 1 MiB each). heap_size, stack_size: the sandbox's (derived).
    backstop: also cancel a call stuck outside JavaScript, with a signal
    (installs a do-nothing handler for SIGRTMIN+2, once, like Sandbox's
    cancellable). guest: the JavaScript guest ELF (default: found by
    hl_js_find_guest). on_print(fd, text): console output (default:
    sys.stdout and sys.stderr).

    Thread safety: one call at a time (calls from several threads wait for
    each other); the GIL is released while the guest runs.
    """

    def __init__(self, *, memory_limit=None, timeout=1.0, max_stack=None, input_size=None,
                 output_size=None, heap_size=None, stack_size=None, reuse=False, backstop=False,
                 guest=None, on_print=None):
        L = _native.lib()
        if not _native.has("hl_js_new"):
            raise errors.UnsupportedError("this libhyperlight has no JavaScript support")
        self._handle = None
        self._lock = threading.RLock()
        self._on_print = on_print
        self._pending = None
        cfg = _native.JsConfig()
        L.hl_js_config_init(ctypes.byref(cfg))
        for name, value in (("memory_limit", memory_limit), ("max_stack", max_stack),
                            ("input_size", input_size), ("output_size", output_size),
                            ("heap_size", heap_size), ("stack_size", stack_size)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise errors.ConfigError(f"{name} must be an int of bytes, got {value!r}")
                setattr(cfg, name, value)
        if timeout is not None:
            ms = int(round(float(timeout) * 1000))
            if not 0 <= ms < 1 << 32:
                raise errors.ConfigError(f"timeout {timeout!r} s is out of range")
            cfg.timeout_ms = ms
        else:
            cfg.timeout_ms = 0
        if reuse:
            cfg.flags |= HL_JS_REUSE
        if backstop:
            signo = int(_DEFAULT_INTERRUPT_SIGNAL)
            with _handlers_lock:
                if signo not in _handlers:
                    r = L.hl_install_interrupt_handler(signo)
                    if r < 0:
                        _raise_code(r, f"cannot install a handler for signal {signo}")
                    _handlers.add(signo)
            cfg.interrupt_signal = signo
        self._guest = guest.encode() if isinstance(guest, str) else guest
        cfg.guest = self._guest
        handle = ctypes.c_void_p()
        r = L.hl_js_new(ctypes.byref(cfg), ctypes.byref(handle))
        self._handle = handle.value
        if r < 0:
            e = self._error(r)
            self.close()
            raise e

        def on_print_cb(fd, data, length, user):
            _deliver_print(self, fd, data, length)

        self._print_cb = _native.PRINT_FN(on_print_cb)
        self._check(L.hl_js_set_print(self._handle, self._print_cb, None))

    # ---- errors ---------------------------------------------------------------

    def _error(self, code):
        L = _native.lib()
        detail = L.hl_js_errmsg(self._handle).decode("utf-8", "replace") if self._handle else ""
        text = L.hl_js_strerror(code).decode("utf-8", "replace")
        cls = errors.error_class(code)
        e = cls(detail or text, code, text.split(":", 1)[0])
        if isinstance(e, errors.JsError) and self._handle:
            info = _native.JsErrorStruct()
            if L.hl_js_last_error(self._handle, ctypes.byref(info)) == 0:
                e.js_name = (info.name or b"").decode("utf-8", "replace")
                e.js_message = (info.message or b"").decode("utf-8", "replace")
                e.js_stack = (info.stack or b"").decode("utf-8", "replace")
        return e

    def _check(self, r):
        pending, self._pending = self._pending, None
        if pending is not None:
            raise pending
        if r < 0:
            raise self._error(r)
        return r

    def _live(self):
        if not self._handle:
            raise errors.StateError("the JavaScript sandbox is closed")
        return self._handle

    # ---- handlers and calls --------------------------------------------------------

    def add_handler(self, name, source, function=None, filename=None):
        """Loads `source` (str) as handler `name`; `function` (default
        "handler") is the function to call, a global or an export;
        `filename` shows in stack traces (default: the name)."""
        data = source.encode("utf-8") if isinstance(source, str) else bytes(source)
        with self._lock:
            self._check(_native.lib().hl_js_add_handler(
                self._live(), name.encode(), data, len(data),
                function.encode() if function else None,
                filename.encode() if filename else None))

    def call(self, name, value=None, raw=False):
        """Calls handler `name` with `value` (json.dumps'd; with raw=True,
        JSON text as str or bytes) and returns its result (json.loads'd;
        with raw=True, the JSON text as str)."""
        if raw:
            data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        else:
            data = json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        out = ctypes.c_void_p()
        n = ctypes.c_size_t()
        with self._lock:
            r = _native.lib().hl_js_call(self._live(), name.encode(), data, len(data),
                                         ctypes.byref(out), ctypes.byref(n))
            self._check(r)
            text = ctypes.string_at(out.value, n.value).decode("utf-8", "replace")
        return text if raw else json.loads(text)

    def stats(self):
        """The sandbox's statistics as a dict: the counters of Sandbox.stats()
        (calls, calls_ok, guest_errors, timeouts, restores, ...) and the call
        durations in nanoseconds (call_ns_total, call_ns_min, call_ns_max)."""
        st = _native.StatsStruct()
        st.size = ctypes.sizeof(st)
        L = _native.lib()
        with self._lock:
            self._check(L.hl_sandbox_stats(L.hl_js_sandbox(self._live()), ctypes.byref(st)))
        return {name: getattr(st, name) for name in _native.STATS_FIELDS}

    # ---- lifetime ---------------------------------------------------------------

    def close(self):
        """Frees the sandbox. Closing twice does nothing."""
        with self._lock:
            h, self._handle = self._handle, None
            if h:
                _native.lib().hl_js_free(h)


__all__ = ["JsSandbox", "find_guest"]
