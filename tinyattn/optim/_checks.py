"""Argument checks shared by the optimisers and the schedules."""
import math
import numbers

import numpy as np


def _real(owner, what, value):
    """`value` as a Python float (a NumPy scalar would widen float32 arithmetic to float64); bools are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {what} must be a real number, got {value!r}")
    return float(value)


def _at_least_zero(owner, what, value):
    value = _real(owner, what, value)
    if not 0.0 <= value < math.inf:
        raise ValueError(f"{owner}: {what} must be finite and >= 0, got {value}")
    return value


def _positive_int(owner, what, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {value!r}")
    return int(value)


def _plain(value):
    """A saved number, bool or string as a Python value, a saved 1-d array as a tuple (np.load gives 0-d arrays)."""
    array = np.asarray(value)
    return array.item() if array.ndim == 0 else tuple(array.tolist())


# ----- optimisers -----------------------------------------------------------------------------------------------------
