"""Defining a differentiable operation: a forward on arrays that returns its vector-Jacobian products.

Every built-in operation is made this way, and so can yours::

    import numpy as np
    from tinyattn import primitive

    @primitive
    def cube(x):
        '''x ** 3, elementwise.'''
        out = x ** 3
        return out, lambda grad: grad * 3 * x ** 2

The forward receives NumPy arrays (or Python scalars) in place of Tensors and returns ``(out, vjps)``: the
output array and, for each positional input, a function mapping the gradient of ``out`` to the gradient of that
input (a single function when there is one input; ``None`` for an input it cannot differentiate, such as a
mask). A VJP may return an array of the broadcast shape: the engine sums it back to the input's shape and casts
it to the input's dtype. A VJP returns a new array or a view of its argument (never an array kept elsewhere, which
the engine could hand to a leaf's ``.grad``), and never modifies its argument.

Only inputs that require grad get their VJP called, so an expensive gradient costs nothing when it is not
needed. Errors that NumPy raises inside a forward are re-raised naming the operation, shapes and dtypes.
"""
import functools

import numpy as np

from tinyattn.engine import grad_mode
from tinyattn.errors import DTypeError, IndexOpError, OpError, ShapeError
from tinyattn.tensor import Tensor

#: Every primitive by name: the built-in ones and those defined by users.
REGISTRY = {}

_ERROR_TYPES = {ValueError: ShapeError, TypeError: DTypeError, IndexError: IndexOpError}


def primitive(forward=None, *, name=None, n_inputs=None):
    """Make a differentiable operation from a forward that returns ``(out, vjps)``; see the module docstring.

    Use as ``@primitive`` or ``@primitive(n_inputs=1)``: the first `n_inputs` positional arguments are the array
    inputs (default: the positional parameters without a default value; a forward whose optional parameters are
    arrays should say n_inputs); further positional and keyword arguments are passed to the forward unchanged
    (axes, shapes, indices). The operation returns a Tensor that records how it was computed when an input
    requires grad and gradient recording is on. It is registered in ``REGISTRY`` under `name` (default: the
    forward's name) and keeps the forward as ``.forward``.
    """
    if forward is None:
        return functools.partial(primitive, name=name, n_inputs=n_inputs)
    name = name or forward.__name__
    input_names = _input_names(forward, n_inputs)

    def operation(*args, **params):
        if params and len(args) < len(input_names) and input_names[len(args)] in params:
            args = _inputs_given_by_name(name, args, params, input_names)
        if n_inputs is None:
            inputs, extra = args, ()
        else:
            inputs, extra = args[:n_inputs], args[n_inputs:]
        # Plain loops rather than comprehensions: this runs once per operation and its overhead is measured.
        arrays = []
        tracked = []  # positions of the inputs that require grad
        for value in inputs:
            if isinstance(value, Tensor):
                if value._requires_grad:
                    tracked.append(len(arrays))
                arrays.append(value._data)
            else:
                arrays.append(value)
        try:
            out, vjps = forward(*arrays, *extra, **params)
        except (ValueError, TypeError, IndexError) as error:
            raise op_error(name, inputs, error) from error
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if not tracked or not grad_mode.enabled:
            return Tensor.wrap(out)
        if type(vjps) is not tuple:
            vjps = (vjps,)
        if len(vjps) != len(inputs):
            raise OpError(f"{name}: the forward returned {len(vjps)} VJPs for {len(inputs)} inputs")
        edges = []
        for position in tracked:
            vjp = vjps[position]
            if vjp is None:
                raise OpError(
                    f"{name} is not differentiable with respect to its input {position} "
                    f"({_describe(inputs[position])}), which requires grad; pass it .detach()ed"
                )
            tensor = inputs[position]
            edges.append((tensor, vjp, tensor._version))  # the version, to catch a change before backward
        return Tensor.wrap(out, edges, name)

    functools.update_wrapper(operation, forward)
    operation.forward = forward
    operation.name = name
    operation.n_inputs = n_inputs
    REGISTRY[name] = operation
    return operation


def _input_names(forward, n_inputs):
    """Names of the forward's array inputs: its first `n_inputs` parameters (default: the positional ones without a
    default value). Read from the code object: inspect.signature would add a tenth of the package's import time."""
    code = forward.__code__
    positional = code.co_varnames[: code.co_argcount]
    if n_inputs is None:
        return positional[: len(positional) - len(forward.__defaults__ or ())]
    return positional[:n_inputs]


def _inputs_given_by_name(name, args, params, input_names):
    """Move array inputs passed by keyword (power(x, exponent=2)) into the positional arguments."""
    args = list(args)
    for input_name in input_names[len(args):]:
        if input_name not in params:
            raise DTypeError(f"{name}: missing input '{input_name}'")
        args.append(params.pop(input_name))
    return tuple(args)


def joint_vjps(compute_all, count):
    """`count` VJPs that share one computation: for ops whose input gradients come out of one pass (a fused
    layer-norm or recurrent-cell backward).

    `compute_all(grad)` returns the gradients of all `count` inputs. Within one backward walk the engine passes
    every VJP of a node the same `grad` object, so the first VJP called computes them all and the others take their
    own share; a VJP called with another `grad` (a second backward) computes afresh.
    """
    shared = {"grad": None, "grads": {}}

    def vjp_of(position):
        def vjp(grad):
            if shared["grad"] is not grad or position not in shared["grads"]:
                shared["grad"], shared["grads"] = grad, dict(enumerate(compute_all(grad)))
            result = shared["grads"].pop(position)
            if not shared["grads"]:
                shared["grad"] = None  # everything handed out: drop the reference to grad
            return result

        return vjp

    return tuple(vjp_of(position) for position in range(count))


def as_array(value):
    """The array behind a Tensor, or `value` as an array."""
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def _describe(value):
    if isinstance(value, (Tensor, np.ndarray)):
        return f"shape {tuple(value.shape)} {value.dtype}"
    return f"{type(value).__name__} {value!r}" if np.isscalar(value) else type(value).__name__


def op_error(name, inputs, error):
    """The tinyattn error for a NumPy `error` raised inside operation `name`: ShapeError for a ValueError,
    DTypeError for a TypeError, IndexOpError for an IndexError, naming the op and each input's shape and dtype."""
    described = "; ".join(_describe(value) for value in inputs)
    error_type = next(new for old, new in _ERROR_TYPES.items() if isinstance(error, old))
    return error_type(f"{name}: {error} [inputs: {described}]")
