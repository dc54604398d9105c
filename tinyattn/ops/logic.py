"""Operations without a gradient: comparisons, logical not, argmax/argmin.

Their outputs are integer or boolean tensors (masks, indices) that never require grad, so they cannot
silently cut a gradient path: nothing downstream can ask them for one.
"""
import numpy as np

from tinyattn.errors import OpError
from tinyattn.ops.axes import integer_axes
from tinyattn.primitive import as_array, op_error
from tinyattn.tensor import Tensor


def _constant(name, numpy_function, *inputs, **params):
    try:
        if "axis" in params:
            integer_axes(params["axis"], optional=True)
        out = numpy_function(*(as_array(x) for x in inputs), **params)
    except (ValueError, TypeError, IndexError) as error:
        raise op_error(name, inputs, error) from error
    return Tensor.wrap(np.asarray(out))


def compare(numpy_comparison, a, b):
    """A boolean tensor from an elementwise NumPy comparison (np.less, np.equal, ...); not differentiable."""
    return _constant(numpy_comparison.__name__, numpy_comparison, a, b)


def logical_not(x):
    """Elementwise not of a boolean tensor (``~mask``)."""
    if as_array(x).dtype != np.bool_:
        raise OpError(f"logical_not (~) needs a boolean tensor, got {as_array(x).dtype}")
    return _constant("logical_not", np.logical_not, x)


def argmax(x, axis=None, keepdims=False):
    """Index of the largest element along `axis` (an integer tensor; not differentiable)."""
    return _constant("argmax", np.argmax, x, axis=axis, keepdims=keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the smallest element along `axis` (an integer tensor; not differentiable)."""
    return _constant("argmin", np.argmin, x, axis=axis, keepdims=keepdims)
