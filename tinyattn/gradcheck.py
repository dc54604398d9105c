"""Checking backward passes against central finite differences, with a readable report on failure."""
import numpy as np

from tinyattn.engine import no_grad
from tinyattn.errors import DTypeError, GradcheckError
from tinyattn.tensor import Tensor


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-4, grad_output=None, seed=0, max_elementwise=50,
              directions=3):
    """Check the gradient of ``fn(*inputs)`` with respect to every input Tensor that requires grad.

    A non-scalar output is projected on an upstream gradient ``u`` (`grad_output`, or a random normal array drawn
    with `seed`): the quantity checked is ``L = sum(u * fn(*inputs))``, never ``fn(...).sum()``, whose gradient
    hides bugs (softmax rows sum to one, so its gradient is identically zero).

    For an input of up to `max_elementwise` elements, every element is checked:
    ``dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)``. For a larger one, `directions` random directions
    ``v`` are checked: ``sum(grad * v) ~ (L(x + eps v) - L(x - eps v)) / (2 eps)``. A value passes when
    ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Inputs that require grad must be float64 (differences of float32 values are too coarse to compare); they are
    restored exactly afterwards (the same array, values and version), and so is their ``.grad``.

    Returns True, or raises GradcheckError naming the input, the worst element, and both values.
    """
    checked = [(position, x) for position, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input is a Tensor with requires_grad=True; nothing to check")
    for position, x in checked:
        if x.dtype != np.float64:
            raise DTypeError(
                f"gradcheck: input {position} is {x.dtype} (shape {x.shape}); finite differences need float64 "
                "inputs: pass tensor(data, dtype=np.float64, requires_grad=True)"
            )
    rng = np.random.default_rng(seed)
    saved_grads = [x.grad for _, x in checked]
    saved_data = [x.data for _, x in checked]
    saved_versions = [x.version for _, x in checked]
    try:
        for _, x in checked:
            x.grad = None
            x.data = np.array(x.data, copy=True)  # perturbed in place below; the caller's array is never touched
        out = fn(*inputs)
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
        upstream = rng.standard_normal(out.shape) if grad_output is None else np.asarray(grad_output, np.float64)
        if out.requires_grad:
            out.backward(upstream)
        analytic = [np.zeros(x.shape) if x.grad is None else x.grad for _, x in checked]

        def projected():
            with no_grad():
                return float(np.sum(upstream * fn(*inputs).data))

        for (position, x), grad in zip(checked, analytic, strict=True):
            if x.size <= max_elementwise:
                _check_elementwise(projected, position, x, grad, eps, atol, rtol)
            else:
                _check_directions(projected, position, x, grad, eps, atol, rtol, rng, directions)
    finally:
        for (_, x), grad, data, version in zip(checked, saved_grads, saved_data, saved_versions, strict=True):
            # The very array and values the caller had: not a change (Tensor.version), so a graph the caller
            # recorded before the check can still be walked.
            x.grad, x.data, x._version = grad, data, version
    return True


def _check_elementwise(projected, position, x, analytic, eps, atol, rtol):
    numeric = np.zeros(x.shape)
    flat = x.data.reshape(-1)  # a view: writing it perturbs x
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        above = projected()
        flat[i] = original - eps
        below = projected()
        flat[i] = original
        numeric.flat[i] = (above - below) / (2 * eps)
    _compare(position, x, analytic, numeric, atol, rtol, "element")


def _check_directions(projected, position, x, analytic, eps, atol, rtol, rng, directions):
    original = x.data
    numeric, claimed = [], []
    for _ in range(directions):
        direction = rng.standard_normal(x.shape)
        x.data = original + eps * direction
        above = projected()
        x.data = original - eps * direction
        below = projected()
        x.data = original
        numeric.append((above - below) / (2 * eps))
        claimed.append(float(np.sum(analytic * direction)))
    _compare(position, x, np.array(claimed), np.array(numeric), atol, rtol, "random direction")


def _compare(position, x, analytic, numeric, atol, rtol, unit):
    error = np.abs(analytic - numeric)
    tolerance = atol + rtol * np.abs(numeric)
    failing = ~(error <= tolerance)  # NaN fails too
    if not failing.any():
        return
    worst = np.unravel_index(np.argmax(np.where(failing, error - tolerance, -np.inf)), error.shape)
    if np.isnan(error).any():
        worst = np.unravel_index(np.argmax(np.isnan(error)), error.shape)
    raise GradcheckError(
        f"gradcheck failed for input {position} (shape {x.shape}, {x.dtype}): {int(failing.sum())} of "
        f"{failing.size} {unit}s out of tolerance. Worst at {unit} {tuple(int(i) for i in worst)}: "
        f"analytic {analytic[worst]:.8g} vs numeric {numeric[worst]:.8g} "
        f"(|difference| {error[worst]:.3g} > tolerance {tolerance[worst]:.3g})"
    )
