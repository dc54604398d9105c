"""Layer normalisation over the last axis (Ba, Kiros & Hinton, 2016, "Layer Normalization"), and its backward.

For x (N, D), an optional weight (D,) and bias (D,):

    mean[n] = mean_d x[n, d]        rstd[n] = 1 / sqrt(mean_d (x[n, d] - mean[n])**2 + eps)
    xhat    = (x - mean) * rstd     out     = xhat * weight + bias

(weight None means 1, bias None means 0). The backward, with g = grad_out * weight:

    d x      = rstd * (g - mean_d g - xhat * mean_d(g * xhat))
    d weight = sum_n grad_out * xhat          d bias = sum_n grad_out

The variance is taken from the centred values (two passes over the row), never as E[x**2] - E[x]**2, which
cancels catastrophically when the mean is large against the spread. Where the sum of the squares overflows (float32
[2e19, -2e19, 0, 0]: 4e38 is above float32's largest, 3.4e38, though the result is finite) the row is done again
with its centred values divided by their largest magnitude, m, first:

    rstd = 1 / (m * sqrt(mean_d ((x - mean) / m)**2 + eps / m**2))

Only overflowing rows take that extra pass (an overflow of any partial sum shows as inf in the total), so
ordinary rows cost what they did; scaling every row would take a max pass that does not vectorise (measured: about
1.8x the forward's time), and float64 squares would not help float64 input.

The NumPy references come first; the Numba kernels follow, each row's passes made while it sits in cache.
"""
import numpy as np

from tinyattn.kernels.exp import kernel_input, numbers
from tinyattn.kernels.softmax import as_rows
from tinyattn.kernels.switch import FASTMATH, Kernel, jit

# ----- NumPy references -------------------------------------------------------------------------------------


def layer_norm_reference(x, weight=None, bias=None, eps=1e-5):
    """(out (N, D), mean (N,), rstd (N,)) for x (N, D); see the module docstring."""
    mean = np.mean(x, axis=-1)
    centred = x - mean[..., None]
    eps = x.dtype.type(eps)
    with np.errstate(over="ignore"):  # an overflowing row is done again, scaled, below
        variance = np.mean(centred * centred, axis=-1)
    rstd = x.dtype.type(1.0) / np.sqrt(variance + eps)
    overflowed = np.isinf(variance)
    if np.any(overflowed):
        rows = centred[overflowed]  # (K, D)
        largest = np.max(np.abs(rows), axis=-1)  # (K,)
        scaled = rows / largest[:, None]
        rstd[overflowed] = 1 / (largest * np.sqrt(np.mean(scaled * scaled, axis=-1) + eps / largest / largest))
    out = centred * rstd[..., None]
    if weight is not None:
        out *= np.asarray(weight, x.dtype)
    if bias is not None:
        out += np.asarray(bias, x.dtype)
    return out, mean, rstd


def layer_norm_backward_reference(grad_out, x, mean, rstd, weight=None):
    """(d_x (N, D), d_weight (D,), d_bias (D,)) from the upstream gradient and the forward's mean and rstd."""
    grad_out = np.asarray(grad_out, x.dtype).reshape(-1, x.shape[-1])  # (..., D) -> (N, D)
    xhat = ((x - mean[..., None]) * rstd[..., None]).reshape(grad_out.shape)
    d_bias = np.sum(grad_out, axis=0)
    d_weight = np.sum(grad_out * xhat, axis=0)
    g = grad_out if weight is None else grad_out * np.asarray(weight, x.dtype)
    inner = np.mean(g * xhat, axis=-1, keepdims=True)
    d_x = (g - np.mean(g, axis=-1, keepdims=True) - xhat * inner) * rstd.reshape(-1, 1)
    return d_x.reshape(x.shape), d_weight, d_bias


# ----- Numba kernels ------------------------------------------------------------------------------------------
# The loops see 2-D C-contiguous x and grad_out (N, D); a missing weight or bias is passed as ones or zeros (D,),
# which leaves the result unchanged. `size` is D as a float of x's dtype, like every other constant.


@jit(fastmath=FASTMATH)
def layer_norm_rows(x, weight, bias, eps, size, numbers, out, mean, rstd):
    for row in range(x.shape[0]):
        total = numbers.zero
        for j in range(x.shape[1]):
            total += x[row, j]
        row_mean = total / size
        squares = numbers.zero
        for j in range(x.shape[1]):
            centred = x[row, j] - row_mean
            squares += centred * centred
        row_rstd = numbers.one / np.sqrt(squares / size + eps)
        if np.isinf(squares):
            row_rstd = scaled_rstd(x, row, row_mean, eps, size, numbers)
        for j in range(x.shape[1]):
            out[row, j] = (x[row, j] - row_mean) * row_rstd * weight[j] + bias[j]
        mean[row] = row_mean
        rstd[row] = row_rstd


@jit(fastmath=FASTMATH)
def scaled_rstd(x, row, row_mean, eps, size, numbers):
    """rstd of a row whose sum of squares overflows, from its centred values divided by the largest of them."""
    largest = numbers.zero
    for j in range(x.shape[1]):
        largest = max(largest, abs(x[row, j] - row_mean))
    squares = numbers.zero
    for j in range(x.shape[1]):
        scaled = (x[row, j] - row_mean) / largest
        squares += scaled * scaled
    return numbers.one / (largest * np.sqrt(squares / size + eps / largest / largest))


@jit(fastmath=FASTMATH)
def layer_norm_backward_rows(grad_out, x, mean, rstd, weight, size, numbers, d_x, d_weight, d_bias):
    """d_x (N, D) written; d_weight and d_bias (D,) accumulated (they start at zero)."""
    for row in range(x.shape[0]):
        row_mean, row_rstd = mean[row], rstd[row]
        total = numbers.zero
        inner = numbers.zero
        for j in range(x.shape[1]):
            xhat = (x[row, j] - row_mean) * row_rstd
            g = grad_out[row, j] * weight[j]
            total += g
            inner += g * xhat
            d_weight[j] += grad_out[row, j] * xhat
            d_bias[j] += grad_out[row, j]
        total_mean, inner_mean = total / size, inner / size
        for j in range(x.shape[1]):
            xhat = (x[row, j] - row_mean) * row_rstd
            d_x[row, j] = (grad_out[row, j] * weight[j] - total_mean - xhat * inner_mean) * row_rstd


def _row_vector(values, default, size, dtype):
    """`values` as a kernel input (D,) of `dtype`, or `default` repeated when it is None."""
    return kernel_input(np.full(size, default, dtype) if values is None else values, dtype).reshape(size)


def layer_norm_numba(x, weight=None, bias=None, eps=1e-5):
    size, dtype = x.shape[-1], x.dtype
    out = np.empty(x.shape, dtype)
    mean = np.empty(x.shape[:-1], dtype)
    rstd = np.empty(x.shape[:-1], dtype)
    layer_norm_rows(as_rows(x), _row_vector(weight, 1, size, dtype), _row_vector(bias, 0, size, dtype),
                    dtype.type(eps), dtype.type(size), numbers(dtype), out.reshape(-1, size), mean.reshape(-1),
                    rstd.reshape(-1))
    return out, mean, rstd


def layer_norm_backward_numba(grad_out, x, mean, rstd, weight=None):
    size, dtype = x.shape[-1], x.dtype
    x_rows = as_rows(x)
    # The loop trusts every shape: reshaping to exactly the rows of x makes a mismatch an error, not a stray read.
    grad_rows = as_rows(grad_out, dtype).reshape(x_rows.shape)
    mean, rstd = (kernel_input(values, dtype).reshape(x_rows.shape[0]) for values in (mean, rstd))
    d_x = np.empty(x.shape, dtype)
    d_weight = np.zeros(size, dtype)
    d_bias = np.zeros(size, dtype)
    layer_norm_backward_rows(grad_rows, x_rows, mean, rstd, _row_vector(weight, 1, size, dtype), dtype.type(size),
                             numbers(dtype), d_x.reshape(-1, size), d_weight, d_bias)
    return d_x, d_weight, d_bias


layer_norm = Kernel(layer_norm_reference, layer_norm_numba)
layer_norm_backward = Kernel(layer_norm_backward_reference, layer_norm_backward_numba)
