"""Randomness: explicit ``np.random.Generator``s everywhere, with one default that ``manual_seed`` resets.

Every function or layer that draws random numbers takes ``rng=None``: a Generator to draw from, or None for the
default generator. ``tinyattn.manual_seed(seed)`` replaces the default with a freshly seeded one, so a run that
seeds once at the start and creates its layers in the same order repeats bit for bit.
"""
import numpy as np

_default = None  # made on first use, so that importing tinyattn does not import numpy.random


def manual_seed(seed):
    """Reseed the default generator; returns it."""
    global _default
    _default = np.random.default_rng(seed)
    return _default


def default_generator():
    """The generator used where ``rng=None`` (seeded from the operating system unless manual_seed was called)."""
    global _default
    if _default is None:
        _default = np.random.default_rng()
    return _default


def generator(rng=None):
    """`rng` itself, the default generator for None, or a new generator seeded with `rng` when it is an int."""
    if rng is None:
        return default_generator()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, not {type(rng).__name__}")


# ----- saving and restoring a generator, for checkpoints that resume exactly ------------------------------------

_MASK64 = (1 << 64) - 1


def get_state(rng=None):
    """The state of `rng` (default: the default generator) as plain values that ``tinyattn.save`` stores without
    pickling: ``{"bit_generator": "PCG64", "state": uint64[2], "inc": uint64[2], "has_uint32": int, "uinteger":
    int}`` (PCG64's two 128-bit numbers split into high and low 64-bit halves).

    Put it in a checkpoint beside the model and the optimiser; ``set_state`` after loading makes the resumed run draw
    exactly the numbers (dropout masks, samples) that an uninterrupted run would have drawn. Only PCG64, the bit
    generator of ``np.random.default_rng`` and of ``manual_seed``, is supported.
    """
    bit_generator = generator(rng).bit_generator
    state = bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise TypeError(f"get_state: only PCG64 generators (np.random.default_rng) are supported, got "
                        f"{state['bit_generator']}")
    return {
        "bit_generator": "PCG64",
        "state": _split(state["state"]["state"]),
        "inc": _split(state["state"]["inc"]),
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }


def set_state(state, rng=None):
    """Restore a state from ``get_state`` (or from a checkpoint that holds one) into `rng`, by default the default
    generator (made first if need be). Returns the generator. Every value is checked before any is applied."""
    target = generator(rng)
    expected = {"bit_generator", "state", "inc", "has_uint32", "uinteger"}
    if not isinstance(state, dict) or set(state) != expected:
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"set_state: expected a dict with keys {sorted(expected)} (from get_state), got {got}")
    if str(state["bit_generator"]) != "PCG64" or target.bit_generator.state["bit_generator"] != "PCG64":
        raise TypeError("set_state: only PCG64 states and generators are supported")
    halves = {name: np.asarray(state[name]) for name in ("state", "inc")}
    for name, value in halves.items():
        if value.shape != (2,) or value.dtype != np.uint64:
            raise ValueError(f"set_state: {name!r} must be a uint64 array of shape (2,), got {value.dtype} "
                             f"{value.shape}")
    target.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": _join(halves["state"]), "inc": _join(halves["inc"])},
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }
    return target


def _split(number):
    return np.array([number >> 64, number & _MASK64], dtype=np.uint64)


def _join(halves):
    return (int(halves[0]) << 64) | int(halves[1])
