"""Randomness: explicit ``np.random.Generator``s everywhere, with one default that ``manual_seed`` resets.

Every function or layer that draws random numbers takes ``rng=None``: a Generator to draw from, or None for the
default generator. ``tinyattn.manual_seed(seed)`` replaces the default with a freshly seeded one, so a run that
seeds once at the start and creates its layers in the same order repeats bit for bit. ``get_state`` and ``set_state``
carry a generator's state through a checkpoint, so that a resumed run draws what an uninterrupted one would have.
"""
from collections.abc import Mapping

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
    generator (made first if need be). Returns the generator.

    Every value is checked before any is applied: a state that is not a mapping with exactly get_state's keys, not
    of PCG64, with halves that are not uint64 arrays of shape (2,), an even "inc" (PCG64's increment is odd), a
    "has_uint32" other than 0 or 1 or a "uinteger" outside [0, 2**32) raises ValueError naming the key, and a target
    generator other than PCG64 raises TypeError; the generator is unchanged then.
    """
    target = generator(rng)
    if not isinstance(state, Mapping):
        raise ValueError(f"set_state: expected a mapping from get_state, got {type(state).__name__}")
    expected = {"bit_generator", "state", "inc", "has_uint32", "uinteger"}
    if set(state) != expected:
        raise ValueError(f"set_state: the state from get_state has the keys {sorted(expected)}; this one misses "
                         f"{sorted(expected - set(state))} and has the unexpected {sorted(set(state) - expected)}")
    if str(state["bit_generator"]) != "PCG64":
        raise ValueError(f"set_state: 'bit_generator' is {str(state['bit_generator'])!r}; only PCG64 states are "
                         "supported")
    if target.bit_generator.state["bit_generator"] != "PCG64":
        raise TypeError(f"set_state: the target generator uses {target.bit_generator.state['bit_generator']}; only "
                        "PCG64 generators (np.random.default_rng) are supported")
    halves = {name: np.asarray(state[name]) for name in ("state", "inc")}
    for name, value in halves.items():
        if value.shape != (2,) or value.dtype != np.uint64:
            raise ValueError(f"set_state: {name!r} must be a uint64 array of shape (2,) (high and low halves), got "
                             f"{value.dtype} {value.shape}")
    if not halves["inc"][1] & 1:
        raise ValueError("set_state: 'inc' is even, but PCG64's increment is always odd: not a PCG64 state")
    has_uint32 = _small_int(state, "has_uint32", 2)
    uinteger = _small_int(state, "uinteger", 1 << 32)
    target.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": _join(halves["state"]), "inc": _join(halves["inc"])},
        "has_uint32": has_uint32,
        "uinteger": uinteger,
    }
    return target


def _small_int(state, name, stop):
    """state[name] as a Python int in [0, stop), or ValueError naming it."""
    value = np.asarray(state[name])
    if value.ndim != 0 or value.dtype.kind not in "iu" or not 0 <= value < stop:
        raise ValueError(f"set_state: {name!r} must be an integer in [0, {stop}), got {state[name]!r}")
    return int(value)


def _split(number):
    return np.array([number >> 64, number & _MASK64], dtype=np.uint64)


def _join(halves):
    return (int(halves[0]) << 64) | int(halves[1])
