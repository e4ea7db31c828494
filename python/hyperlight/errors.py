"""errors.py - the exceptions: one class per error code family of the C API.

    HyperlightError                  every error; .code, .code_name, .detail
    +-- UsageError                   the application misused the API (HL_E_INVAL)
    |   +-- StateError               wrong point in the lifecycle (HL_E_STATE), closed sandbox
    |   +-- NoFunctionError          no guest function of that name (HL_E_NO_FUNCTION)
    |   +-- ArgumentError            call arguments (HL_E_ARG_*, HL_E_TOO_LARGE)
    |   |   +-- ArgumentCountError   also a TypeError
    |   |   +-- ArgumentTypeError    also a TypeError
    |   |   +-- ArgumentValueError   also a ValueError: out of range, NUL in a string
    |   |   +-- ArgumentsTooLarge    the arguments do not fit the input buffer
    |   +-- ExistsError              host function registered twice (HL_E_EXISTS)
    |   +-- ConfigError              also a ValueError (HL_E_CONFIG)
    |   +-- UnsupportedError         the loaded library lacks the function (HL_E_UNSUPPORTED)
    +-- HostError                    the host failed
    |   +-- OutOfMemory              HL_E_NOMEM
    |   +-- GuestFileError           HL_E_IO: the guest file cannot be read
    |   +-- HypervisorError          HL_E_HYPERVISOR: no /dev/kvm, or KVM failed
    +-- GuestImageError              HL_E_ELF: not a usable guest binary
    |   +-- AbiVersionError          HL_E_VERSION
    +-- GuestFailure                 the guest failed; .fault, .guest_code
        +-- GuestError               the guest function returned an error (not poisoned)
        +-- HostFunctionError        a host function failed and the guest did not handle it;
        |                            a Python exception from the callable is its __cause__
        +-- GuestAbort               the guest aborted or exited (poisoned)
        +-- GuestFault               CPU exception, access outside memory, triple fault (poisoned)
        +-- GuestProtocolError       the guest broke the protocol (poisoned)
        +-- Poisoned                 an earlier failure left the sandbox unusable: reset()
        +-- CallCancelled            cancelled or timed out (poisoned)
        +-- JsError                  a JavaScript handler failed (JsSandbox); .js_name,
            |                        .js_message, .js_stack
            +-- JsException          it threw, or its promise was rejected (HL_JS_E_EXCEPTION)
            +-- JsTimeout            it ran past the timeout (HL_JS_E_TIMEOUT)
            +-- JsMemoryError        the engine's memory limit (HL_JS_E_MEMORY); also a MemoryError
            +-- JsStackOverflow      deep recursion (HL_JS_E_STACK); also a RecursionError
            +-- JsResultTooLarge     the result's JSON does not fit the output buffer
            +-- JsNoHandler          no handler of that name; also a LookupError
            +-- JsLoadError          the source did not compile or run, or lacks the function
            +-- JsNotSettled         the handler's promise never settled
            +-- JsEngineError        the engine itself failed
    JsGuestMissing (a HostError)     the JavaScript guest is not built (HL_JS_E_NO_GUEST)
"""

HL_E_INVAL = -1
HL_E_STATE = -2
HL_E_NO_FUNCTION = -3
HL_E_ARG_COUNT = -4
HL_E_ARG_TYPE = -5
HL_E_EXISTS = -6
HL_E_CONFIG = -7
HL_E_TOO_LARGE = -8
HL_E_NOMEM = -20
HL_E_IO = -21
HL_E_HYPERVISOR = -22
HL_E_UNSUPPORTED = -23
HL_E_ELF = -30
HL_E_VERSION = -31
HL_E_GUEST_ERROR = -40
HL_E_HOST_FUNCTION = -41
HL_E_GUEST_ABORT = -42
HL_E_GUEST_FAULT = -43
HL_E_GUEST_PROTOCOL = -44
HL_E_POISONED = -45
HL_E_CANCELLED = -46
HL_JS_E_EXCEPTION = -70
HL_JS_E_TIMEOUT = -71
HL_JS_E_MEMORY = -72
HL_JS_E_STACK = -73
HL_JS_E_RESULT = -74
HL_JS_E_NO_HANDLER = -75
HL_JS_E_LOAD = -76
HL_JS_E_NOT_SETTLED = -77
HL_JS_E_ENGINE = -78
HL_JS_E_NO_GUEST = -79


class HyperlightError(Exception):
    """An error from Hyperlight.

    code: the HL_E_* code (a negative int), or None for errors found by the
    binding before C was called. code_name: "HL_E_ARG_TYPE", ... detail: the
    library's message with the specifics (hl_errmsg); str(e) is the detail,
    or the code's description when there is none."""

    def __init__(self, detail, code=None, code_name=None):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.code_name = code_name


class UsageError(HyperlightError):
    """The application misused the API."""


class StateError(UsageError):
    """Not allowed at this point of the sandbox's life (or the sandbox is closed)."""


class NoFunctionError(UsageError, LookupError):
    """The guest has no function of that name."""


class ArgumentError(UsageError):
    """The arguments of a call do not fit the function's signature."""


class ArgumentCountError(ArgumentError, TypeError):
    """Wrong number of arguments."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong Python type for its parameter."""


class ArgumentValueError(ArgumentError, ValueError):
    """An argument of the right type whose value the parameter cannot take:
    an int out of range, a string with NUL or that is not valid Unicode, a
    float too large for f32."""


class ArgumentsTooLarge(ArgumentError):
    """The arguments do not fit the sandbox's input buffer (input_size)."""


class ExistsError(UsageError):
    """A host function of that name is registered already."""


class ConfigError(UsageError, ValueError):
    """A configuration value is out of range."""


class UnsupportedError(UsageError):
    """The loaded libhyperlight lacks the function (it is older than this
    binding), or the library was built without the feature (HL_E_UNSUPPORTED)."""


class HostError(HyperlightError):
    """The host failed."""


class OutOfMemory(HostError):
    """The host ran out of memory."""


class GuestFileError(HostError):
    """The guest file cannot be read."""


class HypervisorError(HostError):
    """/dev/kvm is missing or a KVM call failed."""


class GuestImageError(HyperlightError):
    """The guest binary is malformed or unsupported."""


class AbiVersionError(GuestImageError):
    """The guest was built for another ABI version."""


class GuestFailure(HyperlightError):
    """The guest failed. fault: the Fault the library recorded (None when
    there is none). guest_code: the code the guest gave with an error or an
    abort (0 otherwise)."""

    fault = None
    guest_code = 0


class GuestError(GuestFailure):
    """The guest function returned an error (hl_return_error); guest_code is
    its code. The sandbox stays usable."""


class HostFunctionError(GuestFailure):
    """A host function failed and the guest did not handle the failure. When
    the host function was a Python callable that raised, that exception is
    __cause__."""


class GuestAbort(GuestFailure):
    """The guest aborted (hl_abort, abort(), exit()); guest_code is its code.
    The sandbox is poisoned until reset()."""


class GuestFault(GuestFailure):
    """A CPU exception, an access outside guest memory, a triple fault or a
    halt; fault has the vector, addresses and error code. Poisoned until reset()."""


class GuestProtocolError(GuestFailure):
    """The guest sent malformed data or used an unknown port. Poisoned until reset()."""


class Poisoned(GuestFailure):
    """An earlier guest failure left the sandbox unusable: call reset()."""


class CallCancelled(GuestFailure):
    """The call was cancelled (Sandbox.cancel) or ran out of time (call_timeout).
    Poisoned until reset()."""


class JsError(GuestFailure):
    """A JavaScript handler failed. js_name, js_message, js_stack: the
    exception taken apart ("" when there was none, as for a timeout)."""

    js_name = ""
    js_message = ""
    js_stack = ""


class JsException(JsError):
    """The handler threw (or its promise was rejected), or its argument or
    result was not JSON. The sandbox stays usable."""


class JsTimeout(JsError):
    """The call ran past the timeout."""


class JsMemoryError(JsError, MemoryError):
    """The engine reached its memory limit."""


class JsStackOverflow(JsError, RecursionError):
    """The JavaScript stack overflowed."""


class JsResultTooLarge(JsError):
    """The result's JSON does not fit the output buffer (output_size)."""


class JsNoHandler(JsError, LookupError):
    """No handler of that name is loaded."""


class JsLoadError(JsError):
    """The source does not compile, throws while it runs, or lacks the function."""


class JsNotSettled(JsError):
    """The handler returned a promise that never settled."""


class JsEngineError(JsError):
    """The engine itself failed (a trap inside it); the next call starts afresh."""


class JsGuestMissing(HostError):
    """The JavaScript guest is not built or not found (scripts/fetch-quickjs.sh)."""


_BY_CODE = {
    HL_E_INVAL: UsageError,
    HL_E_STATE: StateError,
    HL_E_NO_FUNCTION: NoFunctionError,
    HL_E_ARG_COUNT: ArgumentCountError,
    HL_E_ARG_TYPE: ArgumentTypeError,
    HL_E_EXISTS: ExistsError,
    HL_E_CONFIG: ConfigError,
    HL_E_TOO_LARGE: ArgumentsTooLarge,
    HL_E_NOMEM: OutOfMemory,
    HL_E_IO: GuestFileError,
    HL_E_HYPERVISOR: HypervisorError,
    HL_E_UNSUPPORTED: UnsupportedError,
    HL_E_ELF: GuestImageError,
    HL_E_VERSION: AbiVersionError,
    HL_E_GUEST_ERROR: GuestError,
    HL_E_HOST_FUNCTION: HostFunctionError,
    HL_E_GUEST_ABORT: GuestAbort,
    HL_E_GUEST_FAULT: GuestFault,
    HL_E_GUEST_PROTOCOL: GuestProtocolError,
    HL_E_POISONED: Poisoned,
    HL_E_CANCELLED: CallCancelled,
    HL_JS_E_EXCEPTION: JsException,
    HL_JS_E_TIMEOUT: JsTimeout,
    HL_JS_E_MEMORY: JsMemoryError,
    HL_JS_E_STACK: JsStackOverflow,
    HL_JS_E_RESULT: JsResultTooLarge,
    HL_JS_E_NO_HANDLER: JsNoHandler,
    HL_JS_E_LOAD: JsLoadError,
    HL_JS_E_NOT_SETTLED: JsNotSettled,
    HL_JS_E_ENGINE: JsEngineError,
    HL_JS_E_NO_GUEST: JsGuestMissing,
}


def error_class(code):
    """The exception class for an HL_E_* code (HyperlightError if unknown)."""
    return _BY_CODE.get(code, HyperlightError)
