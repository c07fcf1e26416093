# Runs one piece of user code and returns its result record (JSON text) for the host.
# The template loads this file once, before its memory image is taken (Preload.py), as a module that
# each sandbox takes out of sys.modules at start: user code never sees these names, and the helpers it
# uses (json, traceback, ...) are bound here at boot, so a user who monkey-patches `json.dumps`
# or `builtins.print` cannot change how results are reported. PROTOCOL (the host's declaration of the
# crossing, SandboxProtocol.cs) is set by the template before this file runs.
import ast
import builtins
import importlib
import inspect
import json
import re
import sys
import traceback

_dumps = json.dumps
_loads = json.loads
_CO_COROUTINE = 0x80
_KEYS = PROTOCOL["keys"]  # noqa: F821 (set by Preload.load_runner)
_FILENAME = PROTOCOL["names"]["userFile"]  # noqa: F821
_RUNNER_FILENAME = PROTOCOL["names"]["runnerFile"]  # noqa: F821
_MAX_DEPTH = 100
_INF = float("inf")
_SURROGATE = re.compile("[\ud800-\udfff]")

_user_globals = {"__name__": "__main__", "__builtins__": builtins}
_runner_globals = globals()
_max_value_bytes = 1 << 20


def configure(max_value_bytes):
    global _max_value_bytes
    _max_value_bytes = int(max_value_bytes)


class _NotJson(Exception):
    pass


_SCALARS = frozenset((int, bool, type(None)))


def _check_json(value, depth=0):
    """Accepts exactly what JSON holds without loss; anything else is reported as its repr."""
    if depth > _MAX_DEPTH:
        raise _NotJson()
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is str:
        # A Python str can hold lone surrogates, which JSON readers refuse; report those as repr.
        if not value.isascii() and _SURROGATE.search(value):
            raise _NotJson()
        return
    if kind is float:
        if value != value or value in (_INF, -_INF):
            raise _NotJson()
        return
    if kind is list or kind is tuple:
        # Scalars are checked inline: a call per element would dominate large lists.
        for item in value:
            if type(item) not in _SCALARS:
                _check_json(item, depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise _NotJson()
            _check_json(key, depth + 1)
            if type(item) not in _SCALARS:
                _check_json(item, depth + 1)
        return
    raise _NotJson()


_SCALAR_TEXT = {None: "null", True: "true", False: "false"}


def _encode_value(value):
    """Returns (json_text, is_repr, truncated)."""
    kind = type(value)
    if kind is int and -(1 << 53) < value < (1 << 53):
        return str(value), False, False  # the common case, without the general checks
    if kind is bool or value is None:
        return _SCALAR_TEXT[value], False, False
    try:
        _check_json(value)
        text = _dumps(value, ensure_ascii=True, allow_nan=False)
        if len(text) <= _max_value_bytes:
            return text, False, False
    except _NotJson:
        pass
    try:
        text = repr(value)
    except BaseException as e:  # a hostile __repr__ must not break reporting
        text = f"<unrepresentable {type(value).__name__}: {type(e).__name__}>"
    encoded = _dumps(text, ensure_ascii=True)
    truncated = len(encoded) > _max_value_bytes
    if truncated:
        # The cap is on the JSON text; escapes make it longer than the string, so cut until it fits.
        cut = _max_value_bytes - 2
        encoded = _dumps(text[:cut], ensure_ascii=True)
        while len(encoded) > _max_value_bytes:
            cut -= (len(encoded) - _max_value_bytes + 5) // 6 + 1
            encoded = _dumps(text[:max(cut, 0)], ensure_ascii=True)
    return encoded, True, truncated


def _hide_sandbox_frames(exception):
    """Drops the runner's and Pyodide's frames above the user's code, and the runner's own frames anywhere."""
    pending, seen = [exception], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        frames = [f for f in current.stack if f.filename != _RUNNER_FILENAME]
        first_user = next((i for i, f in enumerate(frames) if f.filename == _FILENAME), len(frames))
        current.stack = traceback.StackSummary.from_list(frames[first_user:])
        pending.extend((current.__cause__, current.__context__))
        pending.extend(getattr(current, "exceptions", None) or ())


def _describe(e):
    try:
        summary = traceback.TracebackException(type(e), e, e.__traceback__)
        _hide_sandbox_frames(summary)
        trace = "".join(summary.format())
        last = "".join(summary.format_exception_only()).strip().splitlines()[-1]
    except BaseException:
        trace = last = type(e).__name__
    try:
        message = str(e)
    except BaseException:
        message = ""
    return {_KEYS["type"]: type(e).__name__, _KEYS["message"]: message, _KEYS["line"]: last, _KEYS["traceback"]: trace[-65536:]}


def _compile(code):
    tree = ast.parse(code, _FILENAME, "exec")
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not code.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, _FILENAME, "exec", flags=flags, dont_inherit=True)
    tail = compile(last, _FILENAME, "eval", flags=flags, dont_inherit=True) if last else None
    return body, tail


def _execute(code_object):
    # eval() also runs "exec"-mode code; with top-level await it returns a coroutine instead.
    return eval(code_object, _user_globals)


def end_run():
    """Drops a trace or profile function that the user's code set (left in place, it would run inside
    the runner's own code, see its frames, and could raise there), then flushes the run's output."""
    sys.setprofile(None)
    sys.settrace(None)
    _flush_streams()


def _flush_streams():
    # User code may have replaced sys.stdout/stderr: put the real streams back, and flush what
    # print() buffered into this run's output.
    if sys.stdout is not sys.__stdout__:
        sys.stdout = sys.__stdout__
    if sys.stderr is not sys.__stderr__:
        sys.stderr = sys.__stderr__
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:
            pass


_prepared = None
# Compiled code by source text: callers often run the same snippet again (a formula, a check), and
# parsing + compiling is most of a small run's cost. Code objects are immutable, so sharing is safe.
_compiled = {}
_MAX_COMPILED = 256
_MAX_COMPILED_SOURCE = 16 * 1024


def prepare(code):
    """Compiles code for run_sync/run_async; returns True when it needs the event loop (top-level await)."""
    global _prepared
    compiled = _compiled.get(code)
    if compiled is None:
        try:
            compiled = _compile(code)
        except BaseException as e:
            _prepared = e
            return False
        if len(code) <= _MAX_COMPILED_SOURCE:
            if len(_compiled) >= _MAX_COMPILED:
                _compiled.clear()
            _compiled[code] = compiled
    body, tail = _prepared = compiled
    return bool(body.co_flags & _CO_COROUTINE or (tail is not None and tail.co_flags & _CO_COROUTINE))


def _take_prepared():
    global _prepared
    prepared, _prepared = _prepared, None
    if isinstance(prepared, BaseException):
        raise prepared
    return prepared


def run_sync():
    value, error = None, None
    try:
        _apply_staged_globals()
        body, tail = _take_prepared()
        _execute(body)
        if tail is not None:
            value = _execute(tail)
    except BaseException as e:  # SystemExit and KeyboardInterrupt end the run, not the sandbox
        error = _describe(e)
    finally:
        end_run()
    return _envelope(value, error)


async def run_async():
    value, error = None, None
    try:
        _apply_staged_globals()
        body, tail = _take_prepared()
        result = _execute(body)
        if body.co_flags & _CO_COROUTINE:
            await result
        if tail is not None:
            value = _execute(tail)
            if tail.co_flags & _CO_COROUTINE:
                value = await value
    except BaseException as e:
        error = _describe(e)
    finally:
        end_run()
    return _envelope(value, error)


# The result record: {value, repr, truncated, error}, built by concatenation (the hot path of a run).
_K_VALUE = "{" + _dumps(_KEYS["value"]) + ":"
_K_REPR = "," + _dumps(_KEYS["repr"]) + ":"
_K_TRUNCATED = "," + _dumps(_KEYS["truncated"]) + ":"
_K_ERROR = "," + _dumps(_KEYS["error"]) + ":"
_FLAG = {True: "true", False: "false"}


def _envelope(value, error):
    if error is not None:
        return _K_VALUE + "null" + _K_REPR + "false" + _K_TRUNCATED + "false" + _K_ERROR + _dumps(error, ensure_ascii=True) + "}"
    text, is_repr, truncated = _encode_value(value)
    return _K_VALUE + text + _K_REPR + _FLAG[is_repr] + _K_TRUNCATED + _FLAG[truncated] + _K_ERROR + "null}"


# Globals from the host (RunInputs.Globals): JSON text staged just before a run, set in the user's
# globals when that run starts, inside its try block (a bad value fails the run, not the sandbox).
_staged_globals = None


def stage_globals(text):
    global _staged_globals
    _staged_globals = str(text)


def _apply_staged_globals():
    global _staged_globals
    text, _staged_globals = _staged_globals, None
    if text is None:
        return
    values = _loads(text)
    if type(values) is not dict:
        raise TypeError("the host's globals are not a JSON object")
    for name in values:
        # The host checks names too; this keeps __builtins__ and friends out whatever it sends.
        if not name.isidentifier() or name.startswith("__"):
            raise ValueError(f"{name!r} cannot be set as a global")
    _user_globals.update(values)


def refresh_imports():
    """After the host installs a package: forget what the import system cached about folders."""
    importlib.invalidate_caches()


# Where the host unpacks wheels (SandboxOptions.Packages); read once, before user code runs.
SITE_PACKAGES = next((p for p in sys.path if p.endswith("/site-packages")), "")


_BLOCKED_MODULES = ("js", "pyodide_js", "_pyodide_core")


def _imported_by_user_code():
    """Whether the nearest frame outside the import machinery (and this file) runs the user's code."""
    frame = sys._getframe(1)
    while frame is not None and (frame.f_globals is _runner_globals or frame.f_code.co_filename.startswith("<frozen importlib")):
        frame = frame.f_back
    return frame is not None and frame.f_code.co_filename == _FILENAME


class _InteropBlocker:
    """A meta path finder that refuses the JS bridge modules to user code."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED_MODULES and _imported_by_user_code():
            raise ImportError(f"import of {name!r} is disabled in this sandbox (JavaScript interop is off)", name=name)
        return None


def _install_interruptible_sleep():
    """Makes time.sleep stoppable by the time limit's soft interrupt.

    Pyodide's time.sleep blocks inside one native wait that never checks the interrupt buffer, so
    the limit could only terminate it and the sandbox was lost. Sleeping in short slices from Python
    lets the eval loop see the interrupt between slices and raise KeyboardInterrupt.
    """
    import time

    native_sleep, monotonic = time.sleep, time.monotonic

    def sleep(seconds, /):
        if seconds != seconds or seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = monotonic() + seconds
        while (remaining := deadline - monotonic()) > 0:
            native_sleep(min(remaining, 0.005))

    sleep.__doc__ = native_sleep.__doc__
    time.sleep = sleep


_install_interruptible_sleep()


def start(max_value_bytes, allow_js_interop, functions_spec=None, call_host=None):
    """Runs once in each sandbox, after its memory image is restored and before any user code."""
    configure(max_value_bytes)
    lock_down(allow_js_interop)
    if call_host is not None:
        _install_host_module(_loads(functions_spec), call_host)


# --- Host functions (SandboxOptions.Functions) ------------------------------------------------------------
# Each granted .NET function becomes a plain Python function in the module `host`, with the .NET signature
# and description. A call sends its arguments as one JSON object (by parameter name) through the one door
# Bootstrap.js hands over, and reads one JSON reply. Nothing here is trusted by the host: user code can reach
# these functions' globals, and the host checks every call again (FunctionBridge.cs).


class HostFunctionError(Exception):
    """A host function failed; the message is the host's (generic unless the host meant it for this code)."""


HostFunctionError.__module__ = "host"

_PY_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict, "None": None}


def _host_call(door, name, arguments):
    try:
        _check_json(arguments)
    except _NotJson:
        raise TypeError(f"{name}() arguments must be JSON values (None, bool, int, float, str, list, dict with str keys)") from None
    reply = door(name, _dumps(arguments, ensure_ascii=True, allow_nan=False))
    if reply is None:
        # The host stopped the run (time limit or cancellation) while the function ran.
        raise KeyboardInterrupt
    try:
        reply = _loads(reply)
        if "value" in reply:
            return reply["value"]
        message, kind = str(reply["error"]), reply["kind"]
    except Exception:
        raise HostFunctionError(f"the host function {name}() returned a value Python cannot read") from None
    if kind == "arguments":
        raise TypeError(message)
    raise HostFunctionError(message)


def _make_host_function(door, spec):
    name = spec["name"]
    parameters = []
    for p in spec["parameters"]:
        default = p["default"] if "default" in p else inspect.Parameter.empty
        annotation = _PY_TYPES.get(p["type"], inspect.Parameter.empty)
        parameters.append(inspect.Parameter(p["name"], inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation))
    returns = _PY_TYPES.get(spec["returns"], inspect.Signature.empty)
    signature = inspect.Signature(parameters, return_annotation=returns)
    bind = signature.bind

    def function(*args, **kwargs):
        # Only the arguments given cross: the host fills in its own defaults.
        return _host_call(door, name, dict(bind(*args, **kwargs).arguments))

    async def aio(*args, **kwargs):
        return function(*args, **kwargs)

    for f, suffix in ((function, ""), (aio, ".aio")):
        f.__name__ = name + suffix.replace(".", "_")
        f.__qualname__ = name + suffix
        f.__module__ = "host"
        f.__doc__ = spec["doc"] or None
        f.__signature__ = signature
    function.aio = aio
    return function


_HOST_DOC = ("The .NET functions the host granted this sandbox. Calls block until the host answers;\n"
             "`await f.aio(...)` does the same from async code. Failures raise HostFunctionError.")


def _install_host_module(specs, door):
    module = type(sys)("host", _HOST_DOC)
    module.HostFunctionError = HostFunctionError
    names = []
    for spec in specs:
        setattr(module, spec["name"], _make_host_function(door, spec))
        names.append(spec["name"])
    module.__all__ = names + ["HostFunctionError"]
    sys.modules["host"] = module


def _reseed():
    """Sandboxes start from a memory image that they all share: if `random` was imported and seeded
    before the image was taken, reseed it from os.urandom (the host's CSPRNG), so no two sandboxes
    share a sequence. The host calls this once the start is recorded for resets, and after each reset,
    so the recorded state is the same in every sandbox and can be shared. (Python's string hash secret
    is also in the image; it cannot change once strings are hashed.)"""
    random = sys.modules.get("random")
    if random is not None:
        random.seed()


def lock_down(allow_js_interop):
    """Without interop, user code cannot import the JS bridge modules.

    This is defence in depth, not the boundary: Python in Pyodide can always reach the JS realm by
    determined means, and the realm is built to hold nothing of the host (see SECURITY.md).
    """
    if allow_js_interop:
        return
    original_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.partition(".")[0] in _BLOCKED_MODULES and _imported_by_user_code():
            raise ImportError(f"import of {name!r} is disabled in this sandbox (JavaScript interop is off)", name=name)
        return original_import(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded_import
    sys.meta_path.insert(0, _InteropBlocker)
