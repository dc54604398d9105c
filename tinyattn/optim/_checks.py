"""Argument checks shared by the optimisers and the schedules.

Each check takes the owner and the argument's name (for the message) and the value, and returns the value as a plain
Python number, or raises TypeError or ValueError naming all three. `plain` turns a value read from a checkpoint back
into a Python value.
"""
import math
import numbers

import numpy as np


def real(owner, what, value):
    """`value` as a Python float (a NumPy scalar would widen float32 arithmetic to float64); bools are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {what} must be a real number, got {value!r}")
    return float(value)


def at_least_zero(owner, what, value):
    """`value` as a Python float, finite and >= 0."""
    value = real(owner, what, value)
    if not 0.0 <= value < math.inf:
        raise ValueError(f"{owner}: {what} must be finite and >= 0, got {value}")
    return value


def fraction(owner, what, value):
    """`value` as a Python float in [0, 1]."""
    value = real(owner, what, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}: {what} must be in [0, 1], got {value}")
    return value


def positive_int(owner, what, value):
    """`value` as a Python int >= 1 (an integral float such as 2.0 is refused, as bools are)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {value!r}")
    return int(value)


def plain(value):
    """A saved number, bool or string as a Python value, a saved 1-d array as a tuple (np.load gives 0-d arrays)."""
    array = np.asarray(value)
    return array.item() if array.ndim == 0 else tuple(array.tolist())

