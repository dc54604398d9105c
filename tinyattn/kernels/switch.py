"""The switch between the NumPy references and the Numba kernels, and the lazy ``jit`` decorator."""
import functools
import importlib
import os
import sys
import warnings

#: Numba fastmath flags for kernels that need them to vectorise: reassociation (so a sum can be split across SIMD
#: lanes), fused multiply-add and reciprocal approximation; never 'nnan' or 'ninf', which would let the compiler
#: assume away the -inf of a masked score.
FASTMATH = {"reassoc", "contract", "arcp"}

_OFF_VALUES = {"0", "false", "no", "off"}


class _State:
    enabled = None  # None until the first kernel call (or use_numba) decides
    compiled = False  # whether the @jit loop functions have been swapped for Numba dispatchers


_state = _State()
_loops = []  # (function, options) registered by @jit, compiled on first kernel use


def jit(function=None, **options):
    """Mark a loop function for ``numba.njit(cache=True, **options)``, applied on the first kernel call.

    Until then, and whenever the references are selected, the function stays the plain Python function it reads
    as. On the first kernel call every marked function is replaced by its Numba dispatcher wherever a module of
    ``tinyattn.kernels`` names it (imports included): Numba resolves the globals a kernel calls (another loop
    function, the vectorised exp) when it compiles that kernel, so they must be dispatchers by then. Compilation
    itself happens per dtype on first call, and the result is cached on disk.

    No loop function gets the wrapper that would let it be passed around as a C function pointer (Numba's
    cfunc wrapper), which nothing here does: it is code for LLVM to compile, once per loop function and dtype.
    """
    if function is None:
        return functools.partial(jit, **options)
    if _state.compiled:  # a kernel module imported after the first kernel call
        return _njit(function, options)
    _loops.append((function, options))
    return function


def _njit(function, options):
    return importlib.import_module("numba").njit(cache=True, no_cfunc_wrapper=True, **options)(function)


def _compile_loops():
    dispatchers = {id(function): _njit(function, options) for function, options in _loops}
    for name, module in list(sys.modules.items()):
        if name.startswith("tinyattn.kernels.") and module is not None:
            namespace = vars(module)
            for attribute, value in list(namespace.items()):
                if id(value) in dispatchers:
                    namespace[attribute] = dispatchers[id(value)]
    _state.compiled = True


def _decide():
    wanted = os.environ.get("TINYATTN_NUMBA", "1").strip().lower() not in _OFF_VALUES
    _state.enabled = wanted and _numba_available()
    # logging is imported here, on the first kernel call, rather than by `import tinyattn` (it costs ~5 ms).
    import logging

    chosen = "Numba" if _state.enabled else "NumPy references"
    logging.getLogger("tinyattn.kernels").info("tinyattn kernels: %s", chosen)


def _numba_available():
    """Import Numba (the first kernel call is the one place that does); warn once if it cannot be imported."""
    try:
        importlib.import_module("numba")
        return True
    except ImportError as error:
        warnings.warn(
            f"tinyattn: Numba cannot be imported ({error}), so the NumPy reference kernels run (correct, but "
            "slower). For the fast path: pip install 'tinyattn[fast]' (or pip install numba). "
            "To use the references on purpose and silence this warning: TINYATTN_NUMBA=0.",
            RuntimeWarning,
            stacklevel=4,
        )
        return False


def numba_enabled():
    """True when kernels run as Numba code, False when the NumPy references run."""
    if _state.enabled is None:
        _decide()
    return _state.enabled


def use_numba(enabled=True):
    """Select the Numba kernels (True) or the NumPy references (False) from now on; returns the choice in force.

    Asking for Numba where it is not installed warns once and keeps the references.
    """
    _state.enabled = bool(enabled) and _numba_available()
    return _state.enabled


class Kernel:
    """A hot loop with two implementations of one signature: a NumPy reference and a Numba-backed version.

    Calling the Kernel runs whichever the switch selects. Both are reachable directly, as ``.reference(...)``
    and ``.numba(...)`` (which compiles on first use whatever the switch says), so tests can hold them equal.
    """

    def __init__(self, reference, numba_version):
        functools.update_wrapper(self, reference)
        self.reference = reference
        self._numba_version = numba_version

    def numba(self, *args, **kwargs):
        if not _state.compiled:
            _compile_loops()
        return self._numba_version(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        if _state.enabled is None:
            _decide()
        if not _state.enabled:
            return self.reference(*args, **kwargs)
        if not _state.compiled:
            _compile_loops()
        return self._numba_version(*args, **kwargs)

    def __repr__(self):
        return f"<kernel {self.__name__}>"
