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
