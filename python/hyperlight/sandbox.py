"""sandbox.py - Sandbox and Snapshot: a guest in a micro-VM, called with Python values."""

import ctypes
import logging
import os
import signal
import sys
import threading
import weakref

from . import _native, errors
from ._values import (Function, LogLevel, Type, fault_from, from_value,
                      log_level, to_value)

HL_CONFIG_DEBUG = 1

_PY_LEVELS = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: 5}
logging.addLevelName(5, "TRACE")
_guest_logger = logging.getLogger("hyperlight.guest")

# Python Sandbox objects by C handle, so that a host function, which the C
# library may share between sandboxes made from one snapshot, finds the
# sandbox it is called for.
_live = weakref.WeakValueDictionary()
_live_lock = threading.Lock()

# Signals that hl_install_interrupt_handler has been asked for.
_handlers = set()
_handlers_lock = threading.Lock()

_DEFAULT_INTERRUPT_SIGNAL = signal.SIGRTMIN + 2 if hasattr(signal, "SIGRTMIN") else signal.SIGUSR2


def _code_name(code):
    text = _native.lib().hl_strerror(code).decode("utf-8", "replace")
    return text.split(":", 1)[0]


def _raise_code(code, detail=None):
    """Raises the exception for `code` when there is no sandbox to ask."""
    text = _native.lib().hl_strerror(code).decode("utf-8", "replace")
    raise errors.error_class(code)(detail or text, code, text.split(":", 1)[0])


def _deliver_print(owner, fd, data, length):
    """What a print callback does: the guest's bytes, as text, to
    owner._on_print or else to this process's stdout/stderr. An exception is
    kept in owner._pending (it must never unwind into C) and raised when the
    call returns."""
    try:
        text = ctypes.string_at(data, length).decode("utf-8", "replace")
        if owner._on_print is not None:
            owner._on_print(fd, text)
        else:
            stream = sys.stderr if fd == 2 else sys.stdout
            stream.write(text)
            stream.flush()
    except BaseException as e:
        if owner._pending is None:
            owner._pending = e


class Snapshot(_native.Handle):
    """The state of an initialised sandbox between calls (Sandbox.snapshot()).

    Restore any compatible sandbox to it (Sandbox.restore) or make new
    sandboxes from it (Sandbox.from_snapshot). Immutable; usable from any
    thread. Free it with close() or a with block; a sandbox made from it or
    restored to it keeps what it needs."""

    def __init__(self, handle, sandbox):
        self._handle = handle
        self._host_fns = sandbox._host_fns  # callbacks the C snapshot points to
        self._config = dict(sandbox._config_values)

    @property
    def size(self):
        """Bytes of guest memory the snapshot holds."""
        return _native.lib().hl_snapshot_size(self._live())

    def _live(self):
        if not self._handle:
            raise errors.StateError("the snapshot is closed")
        return self._handle

    def close(self):
        """Drops this reference to the snapshot. Closing twice does nothing."""
        h, self._handle = self._handle, None
        if h:
            _native.lib().hl_snapshot_free(h)


class Sandbox(_native.Handle):
    """A guest program in its own micro-VM.

        with Sandbox("simpleguest") as sb:
            sb.register_host_function("HostAdd", ["i32", "i32"], "i32", lambda a, b: a + b)
            sb.init()
            sb.call("Echo", "hello")          # -> "hello"

    guest: the path of the guest ELF file, or its bytes.
    heap_size, stack_size, input_size, output_size: bytes (None: the
    library's defaults). max_log_level: the most verbose guest log level sent
    to on_log (a LogLevel, its name or value). debug: print the layout and
    registers to stderr. call_timeout: seconds after which a call is
    cancelled. cancellable: allow cancel() from other threads (implied by
    call_timeout); both install a do-nothing handler for interrupt_signal
    (default SIGRTMIN+2) in the process.
    on_print(fd, text): receives what the guest writes to stdout (fd 1) and
    stderr (fd 2); default: sys.stdout and sys.stderr.
    on_log(level, file, line, message): receives guest log records; default:
    the logging module's "hyperlight.guest" logger.

    Errors raise HyperlightError subclasses (see hyperlight.errors).
    Threading: one call at a time per sandbox (other threads wait);
    different sandboxes run in parallel, and the GIL is released while the
    guest runs. cancel() may come from any thread.
    """

    def __init__(self, guest, *, heap_size=None, stack_size=None, input_size=None,
                 output_size=None, max_log_level=None, debug=False, call_timeout=None,
                 cancellable=False, interrupt_signal=None, on_print=None, on_log=None):
        self._early_init(on_print, on_log)
        L = _native.lib()
        cfg_buf = self._config(L, heap_size=heap_size, stack_size=stack_size,
                               input_size=input_size, output_size=output_size,
                               max_log_level=max_log_level, debug=debug,
                               call_timeout=call_timeout, cancellable=cancellable,
                               interrupt_signal=interrupt_signal)
        h = ctypes.c_void_p()
        r = L.hl_sandbox_new(cfg_buf, ctypes.byref(h))
        if r < 0:
            _raise_code(r)
        self._adopt(h.value)
        if isinstance(guest, (bytes, bytearray, memoryview)):
            image = bytes(guest)
            r = L.hl_sandbox_load_image(self._handle, ctypes.c_char_p(image), len(image))
            self._guest_name = "<image>"
        else:
            path = os.fspath(guest)
            r = L.hl_sandbox_load_file(self._handle, os.fsencode(path))
            self._guest_name = path
        if r < 0:
            e = self._error(r)
            self.close()
            raise e

    @classmethod
    def from_snapshot(cls, snapshot, *, debug=False, call_timeout=None, cancellable=False,
                      interrupt_signal=None, on_print=None, on_log=None):
        """A ready sandbox made from `snapshot` without running the guest's
        initialisation. It has the host functions of the snapshot's sandbox
        and may register more before its first call. Sizes and log level are
        the snapshot's."""
        self = cls.__new__(cls)
        self._early_init(on_print, on_log)
        L = _native.lib()
        if not _native.has("hl_sandbox_new_from_snapshot"):
            raise errors.UnsupportedError("this libhyperlight has no snapshots")
        cfg_buf = self._config(L, debug=debug, call_timeout=call_timeout,
                               cancellable=cancellable, interrupt_signal=interrupt_signal,
                               **snapshot._config)
        h = ctypes.c_void_p()
        r = L.hl_sandbox_new_from_snapshot(snapshot._live(), cfg_buf, ctypes.byref(h))
        if r < 0:
            _raise_code(r)
        self._adopt(h.value)
        self._host_fns = list(snapshot._host_fns)
        self._guest_name = "<snapshot>"
        self._initialized = True
        self._read_functions()
        return self

    # ---- construction helpers --------------------------------------------------

    def _early_init(self, on_print, on_log):
        self._handle = None
        self._interrupt = None
        self._lock = threading.RLock()
        self._interrupt_lock = threading.Lock()
        self._host_fns = []  # CFUNCTYPE objects: they must outlive the C sandbox
        self._functions = {}
        self._initialized = False
        self._in_call = False
        self._pending = None  # an exception from a callback, raised when the call returns
        self._host_error = None  # the exception of the last failed Python host function
        self._ret_keep = None  # the last host function result's buffers
        self._on_print = on_print
        self._on_log = on_log
        self._config_values = {}
        self._guest_name = "?"

    def _config(self, L, *, heap_size=None, stack_size=None, input_size=None, output_size=None,
                max_log_level=None, debug=False, call_timeout=None, cancellable=False,
                interrupt_signal=None):
        buf, cfg = _native.grown(_native.Config)
        L.hl_config_init(buf)
        for name, value in (("heap_size", heap_size), ("stack_size", stack_size),
                            ("input_size", input_size), ("output_size", output_size)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
                    raise errors.ConfigError(f"{name} must be an int of bytes, got {value!r}")
                setattr(cfg, name, value)
        if max_log_level is not None:
            cfg.max_log_level = log_level(max_log_level)
        if debug:
            cfg.flags |= HL_CONFIG_DEBUG
        self._config_values = {"heap_size": cfg.heap_size, "stack_size": cfg.stack_size,
                               "input_size": cfg.input_size, "output_size": cfg.output_size,
                               "max_log_level": cfg.max_log_level}
        if call_timeout is not None or cancellable:
            end = _native.Config.call_timeout_ms.offset + ctypes.sizeof(ctypes.c_uint32)
            if cfg.size < end or not _native.has("hl_install_interrupt_handler"):
                raise errors.UnsupportedError("this libhyperlight cannot cancel calls")
            signo = int(interrupt_signal or _DEFAULT_INTERRUPT_SIGNAL)
            with _handlers_lock:
                if signo not in _handlers:
                    r = L.hl_install_interrupt_handler(signo)
                    if r < 0:
                        _raise_code(r, f"cannot install a handler for signal {signo}")
                    _handlers.add(signo)
            cfg.interrupt_signal = signo
            if call_timeout is not None:
                ms = int(round(float(call_timeout) * 1000))
                if not 0 < ms < 1 << 32:
                    raise errors.ConfigError(f"call_timeout {call_timeout!r} s is out of range")
                cfg.call_timeout_ms = ms
        return buf

    def _adopt(self, handle):
        """Takes ownership of a new C sandbox: registry, print and log
        callbacks, interrupt handle."""
        L = _native.lib()
        self._handle = handle
        with _live_lock:
            _live[handle] = self
        me = weakref.ref(self)

        def on_print(fd, data, length, user):
            sb = me()
            if sb is not None:
                _deliver_print(sb, fd, data, length)

        def on_log(level, file, line, msg, user):
            sb = me()
            if sb is None:
                return
            try:
                f = (file or b"?").decode("utf-8", "replace")
                m = (msg or b"").decode("utf-8", "replace")
                if sb._on_log is not None:
                    try:
                        lvl = LogLevel(level)
                    except ValueError:
                        lvl = level
                    sb._on_log(lvl, f, line, m)
                else:
                    _guest_logger.log(_PY_LEVELS.get(level, logging.INFO), "%s:%d: %s", f, line, m)
            except BaseException as e:
                if sb._pending is None:
                    sb._pending = e

        self._print_cb = _native.PRINT_FN(on_print)
        self._log_cb = _native.LOG_FN(on_log)
        self._check(L.hl_sandbox_set_print(handle, self._print_cb, None))
        self._check(L.hl_sandbox_set_log(handle, self._log_cb, None))
        if _native.has("hl_sandbox_interrupt_handle"):
            ih = ctypes.c_void_p()
            if L.hl_sandbox_interrupt_handle(handle, ctypes.byref(ih)) == 0:
                self._interrupt = ih.value

    # ---- errors ------------------------------------------------------------------

    def _error(self, code):
        """The exception for `code`, with the sandbox's details."""
        L = _native.lib()
        detail = L.hl_errmsg(self._handle).decode("utf-8", "replace") if self._handle else ""
        cls = errors.error_class(code)
        e = cls(detail or L.hl_strerror(code).decode("utf-8", "replace"), code, _code_name(code))
        if isinstance(e, errors.GuestFailure) and self._handle:
            e.fault = self.last_fault()
            if code in (errors.HL_E_GUEST_ERROR, errors.HL_E_GUEST_ABORT):
                e.guest_code = L.hl_sandbox_guest_code(self._handle)
        return e

    def _check(self, r):
        if r < 0:
            raise self._error(r)
        return r

    def _live_handle(self):
        if not self._handle:
            raise errors.StateError("the sandbox is closed")
        return self._handle

    # ---- life cycle ----------------------------------------------------------------

    def register_host_function(self, name, params, ret, fn=None):
        """Lets the guest call `fn` as the host function `name`.

        params: the parameter types (Type values or names such as "i32",
        "string"); ret: the result type (None or "void" for none). fn gets
        Python values and returns one of type `ret`. An exception raised by fn
        fails the host call: the guest receives "ExceptionType: message", and
        if the guest does not handle it the call raises HostFunctionError
        with the exception as __cause__. Before init(). Without fn, returns a
        decorator."""
        if fn is None:
            def decorator(f):
                self.register_host_function(name, params, ret, f)
                return f
            return decorator
        if not callable(fn):
            raise errors.UsageError(f"host function {name!r}: {fn!r} is not callable")
        if not isinstance(name, str):
            raise errors.UsageError(f"host function name must be a str, got {type(name).__name__}")
        ptypes = tuple(Type.parse(t) for t in params)
        rtype = Type.parse(ret)
        if Type.VOID in ptypes:
            raise errors.UsageError(f"host function {name!r}: void is not a parameter type")
        cb = _native.HOST_FN(_host_trampoline(name, ptypes, rtype, fn))
        arr = (ctypes.c_int * max(1, len(ptypes)))(*ptypes)
        with self._lock:
            h = self._live_handle()
            self._check(_native.lib().hl_sandbox_register(
                h, name.encode("utf-8"), rtype, arr, len(ptypes), cb, None))
            self._host_fns.append(cb)
        return fn

    host_function = register_host_function

    def init(self):
        """Runs the guest's main() until it is ready for calls. Returns self."""
        with self._lock:
            self._check(_native.lib().hl_sandbox_init(self._live_handle()))
            self._initialized = True
            self._read_functions()
        return self

    def _read_functions(self):
        L = _native.lib()
        buf, info = _native.grown(_native.FunctionInfo)
        fns = {}
        for i in range(L.hl_function_count(self._handle)):
            self._check(L.hl_function_get(self._handle, i, buf))
            name = info.name.decode("utf-8", "replace")
            params = tuple(Type(info.params[k]) for k in range(info.nparams))
            fns[name] = Function(name, params, Type(info.ret))
        self._functions = fns

    def functions(self):
        """The guest's functions (after init()), as Function(name, params, ret)."""
        with self._lock:
            self._live_handle()
            return list(self._functions.values())

    def function(self, name):
        """The Function called `name`; NoFunctionError if there is none."""
        with self._lock:
            self._live_handle()
            return self._lookup(name)

    def _lookup(self, name):
        if not self._initialized:
            raise errors.StateError("call before init()")
        if not isinstance(name, str):
            raise errors.ArgumentTypeError(f"a function name is a str, got {type(name).__name__}")
        f = self._functions.get(name)
        if f is None:
            names = list(self._functions)
            listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise errors.NoFunctionError(f"the guest has no function {name!r} (it has: {listed})",
                                         errors.HL_E_NO_FUNCTION, "HL_E_NO_FUNCTION")
        return f

    def call(self, name, *args):
        """Calls the guest function `name` with Python values and returns its
        result as a Python value (None for void).

        The arguments are converted to the parameter types the guest
        registered: ints (range-checked) for i32/u32/i64/u64, int or float for
        f32/f64, bool for bool, str (no NUL) for string, bytes-like for
        bytes. Anything else raises ArgumentTypeError or ArgumentValueError
        before the guest runs."""
        with self._lock:
            h = self._live_handle()
            if self._in_call:
                raise errors.StateError(f"call({name!r}) from inside a call of the same sandbox")
            f = self._lookup(name)
            if len(args) != len(f.params):
                raise errors.ArgumentCountError(
                    f"{f}: takes {len(f.params)} argument{'s' if len(f.params) != 1 else ''}, "
                    f"got {len(args)}")
            n = len(args)
            values = (_native.Value * max(1, n))()
            keep = []
            for i, (t, x) in enumerate(zip(f.params, args)):
                to_value(t, x, values[i], keep, f"{name}: parameter {i}")
            result = _native.Value()
            self._pending = self._host_error = None
            self._in_call = True
            try:
                r = _native.lib().hl_call(h, name.encode("utf-8"), values, n, ctypes.byref(result))
            finally:
                self._in_call = False
                self._ret_keep = None
            pending, host_error = self._pending, self._host_error
            self._pending = self._host_error = None
            if r < 0:
                e = self._error(r)
                if pending is not None and not isinstance(pending, Exception):
                    raise pending  # KeyboardInterrupt and the like win
                raise e from (host_error if r == errors.HL_E_HOST_FUNCTION else pending)
            if pending is not None:
                raise pending
            return from_value(f.ret, result)

    def reset(self):
        """Returns the sandbox to its state right after init() and clears
        poisoning."""
        with self._lock:
            self._check(_native.lib().hl_sandbox_reset(self._live_handle()))

    def snapshot(self):
        """A Snapshot of the sandbox's current state (between calls)."""
        if not _native.has("hl_sandbox_snapshot"):
            raise errors.UnsupportedError("this libhyperlight has no snapshots")
        with self._lock:
            out = ctypes.c_void_p()
            self._check(_native.lib().hl_sandbox_snapshot(self._live_handle(), ctypes.byref(out)))
            return Snapshot(out.value, self)

    def restore(self, snapshot):
        """Returns the sandbox to `snapshot` and clears poisoning."""
        if not _native.has("hl_sandbox_restore"):
            raise errors.UnsupportedError("this libhyperlight has no snapshots")
        with self._lock:
            self._check(_native.lib().hl_sandbox_restore(self._live_handle(), snapshot._live()))

    def cancel(self):
        """Cancels the call running in this sandbox, from any thread: the call
        raises CallCancelled. Returns True if a call was running, False if
        none was (nothing happens). A guest that is running code is stopped
        only in a sandbox made with cancellable=True (or call_timeout);
        otherwise the call ends when it next returns from a host function."""
        # Not self._lock: the thread running the call holds it.
        with self._interrupt_lock:
            if not self._interrupt:
                if self._handle and not _native.has("hl_interrupt_cancel"):
                    raise errors.UnsupportedError("this libhyperlight cannot cancel calls")
                raise errors.StateError("the sandbox is closed")
            r = _native.lib().hl_interrupt_cancel(self._interrupt)
        if r < 0:
            _raise_code(r)
        return r == 1

    @property
    def poisoned(self):
        """True when a guest failure left the sandbox unusable until reset()."""
        with self._lock:
            return bool(_native.lib().hl_sandbox_poisoned(self._live_handle()))

    @property
    def initialized(self):
        return self._initialized

    def last_fault(self):
        """The Fault of the last guest failure, or None."""
        buf, fs = _native.grown(_native.FaultStruct)
        with self._lock:
            self._check(_native.lib().hl_sandbox_last_fault(self._live_handle(), buf))
        return fault_from(fs)

    def layout(self):
        """The guest memory layout: a dict of addresses and sizes (hl_layout)."""
        buf, lay = _native.grown(_native.LayoutStruct)
        with self._lock:
            self._check(_native.lib().hl_sandbox_layout(self._live_handle(), buf))
        return {name: getattr(lay, name) for name in _native.LAYOUT_FIELDS}

    def stats(self):
        """The sandbox's statistics (hl_stats) as a dict: the counters (calls,
        calls_ok, rejected, guest_errors, host_function_errors, aborts, faults,
        protocol_errors, cancelled, timeouts, other_errors, host_calls, prints,
        logs, vm_exits, restores, snapshots), the call durations in
        nanoseconds (call_ns_total, call_ns_min, call_ns_max), call_ns_hist
        (a list: bucket i counts calls of 2**i to 2**(i+1) ns) and the
        estimates call_ns_p50 and call_ns_p99 (upper bounds, less than twice
        the true value). They survive reset() and restore()."""
        if not _native.has("hl_sandbox_stats"):
            raise errors.UnsupportedError("this libhyperlight has no statistics")
        st = _native.StatsStruct()
        st.size = ctypes.sizeof(st)
        with self._lock:
            self._check(_native.lib().hl_sandbox_stats(self._live_handle(), ctypes.byref(st)))
        out = {name: getattr(st, name) for name in _native.STATS_FIELDS}
        out["call_ns_hist"] = list(st.call_ns_hist)
        pct = _native.lib().hl_stats_percentile_ns
        out["call_ns_p50"] = pct(ctypes.byref(st), 0.5)
        out["call_ns_p99"] = pct(ctypes.byref(st), 0.99)
        return out

    def reset_stats(self):
        """Sets every statistics counter back to zero."""
        if not _native.has("hl_sandbox_stats_reset"):
            raise errors.UnsupportedError("this libhyperlight has no statistics")
        with self._lock:
            self._check(_native.lib().hl_sandbox_stats_reset(self._live_handle()))

    def close(self):
        """Frees the sandbox and its VM. Closing twice does nothing; any other
        use afterwards raises StateError."""
        with self._lock:
            if self._in_call:
                raise errors.StateError("close() from inside a call of the same sandbox")
            h, self._handle = self._handle, None
            with self._interrupt_lock:
                ih, self._interrupt = self._interrupt, None
            if h:
                with _live_lock:
                    _live.pop(h, None)
                _native.lib().hl_sandbox_free(h)
            if ih:
                _native.lib().hl_interrupt_free(ih)

    @property
    def closed(self):
        return not self._handle

    def _may_close_when_collected(self):
        return not self._in_call  # close() refuses inside a call

    def __repr__(self):
        state = ("closed" if not self._handle else
                 "ready" if self._initialized else "loaded")
        return f"<hyperlight.Sandbox {self._guest_name!r} {state}>"


def _host_trampoline(name, ptypes, rtype, fn):
    """The C callback for the Python host function fn."""

    def trampoline(hc, args, nargs, ret, user):
        L = _native.lib()
        sb = _live.get(L.hl_host_call_sandbox(hc))
        try:
            pyargs = [from_value(ptypes[i], args[i]) for i in range(min(nargs, len(ptypes)))]
            result = fn(*pyargs)
            keep = []
            try:
                to_value(rtype, result, ret[0], keep, f"host function {name!r} result")
            except errors.ArgumentError as e:
                raise TypeError(str(e)) from None
            if sb is not None:
                sb._ret_keep = keep  # the library copies the result after we return
            else:
                _orphan_keep.append(keep)
                del _orphan_keep[:-4]
            return 0
        except BaseException as e:
            if sb is not None:
                sb._host_error = e
                if not isinstance(e, Exception) and sb._pending is None:
                    sb._pending = e
            msg = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            return L.hl_host_call_fail(hc, msg.replace("%", "%%").encode("utf-8", "replace"))

    return trampoline


# Results of host functions called for a sandbox this binding did not make.
_orphan_keep = []
