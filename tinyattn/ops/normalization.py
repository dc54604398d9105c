"""Normalisation layers as primitives: layer_norm.

The arithmetic is in ``tinyattn.kernels.layer_norm``: a fused forward that keeps each row's mean and 1 / std, and a
fused backward that gives the gradients of x, weight and bias in one pass.
"""
from tinyattn.kernels import layer_norm as kernels
from tinyattn.kernels.exp import KERNEL_DTYPES
from tinyattn.primitive import as_array, joint_vjps, primitive


def _check_affine(values, role, x):
    """`values` (weight or bias, or None) as a (D,) array in x's dtype; ValueError or TypeError if it cannot be."""
    if values is None:
        return None
    values = as_array(values)
    if values.dtype.kind != "f":
        raise TypeError(f"{role} must be a float array, got {values.dtype} (x is {x.shape} {x.dtype})")
    if values.shape != x.shape[-1:]:
        raise ValueError(f"{role} must have shape {x.shape[-1:]} (the last axis of x {x.shape}), "
                         f"got {values.shape}")
    return values.astype(x.dtype, copy=False)


@primitive(name="layer_norm", n_inputs=3)
def _layer_norm(x, weight, bias, eps):
    """The primitive behind `layer_norm`, with all three array inputs always passed (weight and bias may be None)."""
    if x.dtype not in KERNEL_DTYPES:
        raise TypeError(f"needs float32 or float64 x, got {x.dtype}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"needs x (..., D) with D >= 1, got shape {x.shape}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    weight, bias = _check_affine(weight, "weight", x), _check_affine(bias, "bias", x)
    out, mean, rstd = kernels.layer_norm(x, weight, bias, eps)  # (..., D), (...,), (...,)
    # One backward kernel call gives all three gradients; joint_vjps shares it between the three VJPs.
    d_x, d_weight, d_bias = joint_vjps(lambda grad: kernels.layer_norm_backward(grad, x, mean, rstd, weight), 3)
    return out, (d_x, None if weight is None else d_weight, None if bias is None else d_bias)


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the last axis (Ba, Kiros & Hinton, 2016, "Layer Normalization").

        out = (x - mean) / sqrt(var + eps) * weight + bias

    with mean and var (biased, divided by D) over the last axis of each row. Shapes: x (..., D), e.g. (B, T, D);
    weight and bias (D,) or None (None: no scale, no shift); out has x's shape and dtype (weight and bias are
    cast to it). weight and bias are inputs of the op and get gradients like x.
    Gradient, with xhat = (x - mean) / sqrt(var + eps) and g = grad * weight:
    d x = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps), d weight = sum grad * xhat, d bias = sum grad
    (sums over every axis but the last).
    """
    return _layer_norm(x, weight, bias, eps)
