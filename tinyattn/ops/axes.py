"""The one check of every `axis` argument (reductions, the softmax family, shape and index ops, split).

An axis is a Python int or an integer NumPy scalar; a bool is refused (``x.sum(True)`` is a misplaced keepdims),
and so is a float, which NumPy's ``int()`` would silently truncate (``axis=1.5`` is not axis 1). Where an op says
so, a tuple (or list) of such integers, or None, is accepted too.

Errors are DTypeError (an axis that is not an integer: a TypeError) and ShapeError (an axis out of range: a
ValueError, as for reduce's empty axes). Raised inside a primitive, they are re-raised with the op's name and its
inputs' shapes and dtypes; a caller outside a primitive adds them itself (``primitive.op_error``).
"""
import numpy as np

from tinyattn.errors import DTypeError, ShapeError


def _is_integer(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def integer_axes(axis, several=False, optional=False, name="axis"):
    """`axis` unchanged if it is an integer, or (`several`) a tuple or list of integers, or (`optional`) None;
    DTypeError otherwise, naming the argument (`name`), its value and what is accepted."""
    if _is_integer(axis) or (optional and axis is None):
        return axis
    if several and isinstance(axis, (tuple, list)) and all(_is_integer(item) for item in axis):
        return axis
    accepted = ["an int"] + ["a tuple of ints"] * several + ["None"] * optional
    accepted = accepted[0] if len(accepted) == 1 else ", ".join(accepted[:-1]) + " or " + accepted[-1]
    raise DTypeError(f"{name} must be {accepted}, got {axis!r} ({type(axis).__name__})")


def normalized_axis(axis, ndim):
    """An integer `axis` of an array with `ndim` dimensions as a non-negative int (-1 -> ndim - 1)."""
    integer_axes(axis)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for an input with {ndim} dimensions")
    return int(axis) % ndim


def reduced_axes(axis, ndim):
    """`axis` (None, an int or a tuple of ints) as a tuple of non-negative axes of an array with `ndim` dimensions."""
    integer_axes(axis, several=True, optional=True)
    if axis is None:
        return tuple(range(ndim))
    return tuple(normalized_axis(a, ndim) for a in ((axis,) if _is_integer(axis) else axis))
