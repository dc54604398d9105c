"""The layer-norm kernels (tinyattn/kernels/layer_norm.py) equal their NumPy references, and behave at the edges:
a large mean in float32, no weight or bias, a constant row.

Kernels are called as ``.numba(...)`` and ``.reference(...)`` directly, so both are checked whatever the switch
(TINYATTN_NUMBA) says. Inputs come in float32 and float64, contiguous, transposed, strided and read-only.

Tolerance: see FUSED_KERNEL_RTOL in strategies.py. Here `scale` is the error of a mean of values as large as max|x|
(an ulp of max|x|), amplified by 1 / std. With a mean of 1e3 and a spread of 1e-3 in float32 that amplification is
large: both results are right only to that accuracy, which is why the variance test below compares against float64
instead.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
from tinyattn.kernels import layer_norm as ln_kernels


def mean_rounding(x, rstd):
    """How far the normalised values may move when the row mean is rounded differently: an ulp of max|x| over std."""
    return 1.0 + S.largest(x) * S.largest(rstd)


@settings(max_examples=80)
@given(case=S.layer_norm_kernel_inputs())
def test_layer_norm_kernel_equals_its_reference(case):
    x, weight, bias, eps = case
    before = x.copy()
    out, mean, rstd = ln_kernels.layer_norm.numba(x, weight, bias, eps)
    expected_out, expected_mean, expected_rstd = ln_kernels.layer_norm.reference(x, weight, bias, eps)
    amplification = mean_rounding(x, expected_rstd)
    S.assert_fused_kernel_matches(
        out, expected_out, scale=amplification * max(1.0, S.largest(weight if weight is not None else 1.0)))
    S.assert_fused_kernel_matches(mean, expected_mean, scale=S.largest(x))
    S.assert_fused_kernel_matches(rstd, expected_rstd, scale=amplification * S.largest(expected_rstd))
    np.testing.assert_array_equal(x, before)
    S.assert_module_compiled_once_per_dtype(ln_kernels)  # whatever layouts this example's arrays had


@settings(max_examples=80)
@given(case=S.layer_norm_kernel_inputs(), data=st.data())
def test_layer_norm_backward_kernel_equals_its_reference(case, data):
    x, weight, _, eps = case
    _, mean, rstd = ln_kernels.layer_norm.reference(x, weight, None, eps)
    grad = S.laid_out(data.draw(S.arrays(x.shape, -2.0, 2.0)).astype(x.dtype), data.draw(st.sampled_from(S.LAYOUTS)))
    got = ln_kernels.layer_norm_backward.numba(grad, x, mean, rstd, weight)
    expected = ln_kernels.layer_norm_backward.reference(grad, x, mean, rstd, weight)
    amplification = mean_rounding(x, rstd)
    scaled_grad = S.largest(grad) * max(1.0, S.largest(weight if weight is not None else 1.0))
    rows = x.shape[0]
    scales = [scaled_grad * S.largest(rstd) * amplification, rows * S.largest(grad) * amplification,
              rows * S.largest(grad)]
    for result, want, scale in zip(got, expected, scales, strict=True):
        S.assert_fused_kernel_matches(result, want, scale=scale)
    S.assert_module_compiled_once_per_dtype(ln_kernels)  # whatever layouts this example's arrays had


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
def test_layer_norm_variance_is_accurate_in_float32_when_the_mean_is_large(implementation):
    # E[x**2] - E[x]**2 would cancel here (x**2 ~ 1e8, whose float32 ulp is 8, against a variance of ~1).
    x = (1e4 + np.random.default_rng(0).normal(size=(8, 256))).astype(np.float32)
    _, mean, rstd = getattr(ln_kernels.layer_norm, implementation)(x, eps=1e-5)
    exact = x.astype(np.float64)
    np.testing.assert_allclose(mean, exact.mean(axis=-1), rtol=1e-6)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(exact.var(axis=-1) + 1e-5), rtol=1e-4)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_layer_norm_without_weight_and_bias_equals_weight_one_and_bias_zero(implementation, dtype):
    x = np.random.default_rng(1).normal(size=(3, 7)).astype(dtype)
    forward = getattr(ln_kernels.layer_norm, implementation)
    plain, mean, rstd = forward(x)
    affine, _, _ = forward(x, np.ones(7, dtype), np.zeros(7, dtype))
    np.testing.assert_array_equal(plain, affine)
    np.testing.assert_allclose(plain.mean(axis=-1), 0, atol=1e-6)
    backward = getattr(ln_kernels.layer_norm_backward, implementation)
    grad = np.random.default_rng(2).normal(size=(3, 7)).astype(dtype)
    for without, with_ones in zip(backward(grad, x, mean, rstd), backward(grad, x, mean, rstd, np.ones(7, dtype)),
                                  strict=True):
        np.testing.assert_array_equal(without, with_ones)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_layer_norm_of_a_constant_row_is_the_bias_with_zero_input_gradient(implementation, dtype):
    x = np.full((2, 4), 3.0, dtype)
    bias = np.arange(4, dtype=dtype)
    out, mean, rstd = getattr(ln_kernels.layer_norm, implementation)(x, np.full(4, 2.0, dtype), bias)
    np.testing.assert_array_equal(out, np.broadcast_to(bias, (2, 4)))
    d_x, _, _ = getattr(ln_kernels.layer_norm_backward, implementation)(np.ones((2, 4), dtype), x, mean, rstd)
    np.testing.assert_array_equal(d_x, 0)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype, large", [(np.float32, 2e19), (np.float64, 2e160)])
def test_layer_norm_of_rows_whose_squares_overflow_equals_the_same_rows_scaled_down(implementation, dtype, large):
    # large**2 is above the dtype's largest number, though the variance of the row is not (float32 [2e19, -2e19, 0, 0]
    # has variance 2e38 < 3.4e38). With eps = 0, normalising x or x / large gives the same output, and rstd and d_x
    # scale by 1 / large. The middle row is an ordinary one, between two that overflow.
    shape = np.array([[1.0, -1.0, 0.0, 0.0], [0.25, -0.5, 1.5, 0.75], [0.5, -0.75, 1.0, 0.25]])
    scales = np.array([large, 1.0, large])[:, None]
    x = (shape * scales).astype(dtype)
    weight, grad = np.array([2.0, -1.0, 0.5, 1.0], dtype), np.array([[0.3, -1.2, 2.0, 0.7]] * 3, dtype)
    out, mean, rstd = getattr(ln_kernels.layer_norm, implementation)(x, weight, None, 0.0)
    want_out, want_mean, want_rstd = ln_kernels.layer_norm.reference(shape, weight.astype(np.float64), None, 0.0)
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out, want_out, **tolerance)
    np.testing.assert_allclose(mean, want_mean * scales[:, 0], rtol=tolerance["rtol"])
    np.testing.assert_allclose(rstd * scales[:, 0], want_rstd, **tolerance)
    d_x, d_weight, d_bias = getattr(ln_kernels.layer_norm_backward, implementation)(grad, x, mean, rstd, weight)
    want_d_x, want_d_weight, want_d_bias = ln_kernels.layer_norm_backward.reference(
        grad.astype(np.float64), shape, want_mean, want_rstd, weight.astype(np.float64))
    assert np.all(np.isfinite(d_x)) and np.all(np.isfinite(d_weight))
    np.testing.assert_allclose(d_x * scales, want_d_x, rtol=tolerance["rtol"], atol=1e-6)  # in float64: no overflow
    np.testing.assert_allclose(d_weight, want_d_weight, rtol=tolerance["rtol"], atol=1e-6)
    np.testing.assert_allclose(d_bias, want_d_bias, rtol=tolerance["rtol"])
