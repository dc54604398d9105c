"""Elementwise primitives. Each returns its output and one VJP per input, side by side.

Binary operations broadcast as NumPy does; the engine sums each gradient back to its input's shape.
"""
import numpy as np

from tinyattn.errors import DTypeError
from tinyattn.kernels.exp import stable_sigmoid
from tinyattn.primitive import primitive


@primitive
def add(a, b):
    """a + b."""
    return a + b, (lambda grad: grad, lambda grad: grad)


@primitive
def sub(a, b):
    """a - b."""
    return a - b, (lambda grad: grad, lambda grad: -grad)


@primitive
def mul(a, b):
    """a * b."""
    return a * b, (lambda grad: grad * b, lambda grad: grad * a)


@primitive
def truediv(a, b):
    """a / b."""
    out = a / b
    return out, (lambda grad: grad / b, lambda grad: -grad * out / b)


@primitive
def neg(x):
    """-x."""
    return -x, lambda grad: -grad


@primitive
def power(base, exponent):
    """base ** exponent; d/d base = exponent * base ** (exponent - 1), 0 wherever the exponent is 0 (base ** 0 is
    constant, also at base = 0); d/d exponent = out * log(base), taken as 0 where base <= 0 (where log is undefined;
    at base = 0 this is the limit for exponents > 0, where out is 0)."""
    out = base**exponent

    def grad_base(grad):
        lowered = exponent - 1
        if np.any(exponent == 0):  # base ** -1 is inf at base = 0, and 0 * inf NaN: use base ** 1 (times 0) there
            lowered = np.where(exponent == 0, 1, lowered)
        return grad * exponent * base**lowered

    def grad_exponent(grad):
        log_base = np.log(np.where(base > 0, base, 1))
        return grad * out * log_base

    return out, (grad_base, grad_exponent)


@primitive
def exp(x):
    """e ** x."""
    out = np.exp(x)
    return out, lambda grad: grad * out


@primitive
def log(x):
    """Natural logarithm."""
    return np.log(x), lambda grad: grad / x


@primitive
def sqrt(x):
    """Square root; the gradient 1 / (2 sqrt x) is infinite at 0."""
    out = np.sqrt(x)
    return out, lambda grad: grad / (2 * out)


@primitive
def abs(x):
    """|x|; the gradient at 0 is taken as 0."""
    return np.abs(x), lambda grad: grad * np.sign(x)


@primitive
def tanh(x):
    """Hyperbolic tangent; d tanh = 1 - tanh**2."""
    out = np.tanh(x)
    # No Python scalar in the VJP: on tiny arrays NumPy spends longer converting `1` than computing.
    return out, lambda grad: grad - grad * out * out


@primitive
def sigmoid(x):
    """1 / (1 + e ** -x), finite and warning-free for any x (`stable_sigmoid`); d sigmoid = out * (1 - out)."""
    out = stable_sigmoid(x)
    return out, lambda grad: grad * (out - out * out)


@primitive
def relu(x):
    """max(x, 0); the gradient at 0 is taken as 0."""
    return np.maximum(x, 0), lambda grad: grad * (x > 0)


@primitive
def maximum(a, b):
    """Elementwise max of a and b; where they tie, each gets half the gradient."""
    out = np.maximum(a, b)

    def share(mine, other):
        return lambda grad: np.where(mine == other, 0.5 * grad, grad * (mine > other))

    return out, (share(a, b), share(b, a))


@primitive
def minimum(a, b):
    """Elementwise min of a and b; where they tie, each gets half the gradient."""
    out = np.minimum(a, b)

    def share(mine, other):
        return lambda grad: np.where(mine == other, 0.5 * grad, grad * (mine < other))

    return out, (share(a, b), share(b, a))


@primitive(n_inputs=1)
def clip(x, low=None, high=None):
    """x limited to [low, high] (either may be None); the gradient passes where low <= x <= high."""
    out = np.clip(x, low, high)
    return out, lambda grad: grad * (out == x)


@primitive
def where(condition, a, b):
    """a where `condition` is True, else b; `condition` is boolean and not differentiable.

    It is also how a mask is applied: ``where(keep, x, value)`` keeps x where the boolean mask `keep` is True
    (tinyattn's one convention) and puts `value` elsewhere. `a` and `b` broadcast against `condition` and each other;
    a Python scalar `value` never widens a float x (float32 stays float32). An integer 0/1 condition is refused.
    """
    condition = _boolean(condition, "condition")
    return np.where(condition, a, b), (
        None,
        lambda grad: np.where(condition, grad, 0),
        lambda grad: np.where(condition, 0, grad),
    )


@primitive(n_inputs=1)
def astype(x, dtype):
    """x converted to `dtype`; differentiable between float dtypes (the gradient is converted back)."""
    dtype = np.dtype(dtype)
    return x.astype(dtype), (lambda grad: grad) if dtype.kind == "f" else None


def _boolean(mask, name):
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise DTypeError(f"{name} must be a boolean array (True = keep), not a 0/1 number array; got {name} of "
                         f"shape {mask.shape} {mask.dtype}")
    return mask
