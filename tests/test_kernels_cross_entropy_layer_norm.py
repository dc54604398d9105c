"""The cross-entropy and layer-norm kernels equal their NumPy references, and behave at the edges.

Kernels are called as ``.numba(...)`` and ``.reference(...)`` directly, so both are checked whatever the switch
(TINYATTN_NUMBA) says. Inputs come in float32 and float64, contiguous, transposed, strided and read-only.

Tolerance: |kernel - reference| <= RTOL * (|reference| + scale), RTOL 1e-13 in float64 and 2e-6 in float32 (about
17 float32 ulps: the kernels sum in another order than NumPy's pairwise sums and use their own exp; over 3,000
drawn cases per kernel the worst error seen was 2.4e-7 in float32 and 4.6e-16 in float64, in these units). `scale`
is the size of the rounding each comparison inherits: the logits' magnitude for a loss (lse - logit cancels), and
for layer norm the error of a mean of values as large as max|x| (an ulp of max|x|), amplified by 1 / std. With a
mean of 1e3 and a spread of 1e-3 in float32 that amplification is large: both results are right only to that
accuracy, which is why the variance test below compares against float64 instead.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
from tinyattn.kernels import cross_entropy as ce_kernels
from tinyattn.kernels import layer_norm as ln_kernels

RTOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-13}
IMPLEMENTATIONS = ["numba", "reference"]


def assert_same(kernel_result, reference_result, scale=1.0):
    assert kernel_result.dtype == reference_result.dtype
    assert kernel_result.shape == reference_result.shape
    rtol = RTOL[reference_result.dtype]
    np.testing.assert_allclose(kernel_result, reference_result, rtol=rtol, atol=rtol * scale)


def largest(values):
    return float(np.max(np.abs(values), initial=0.0))


# ----- cross-entropy ------------------------------------------------------------------------------------------

@settings(max_examples=80)
@given(case=S.cross_entropy_kernel_inputs())
def test_cross_entropy_kernel_equals_its_reference(case):
    logits, targets, ignore_index, label_smoothing = case
    before = logits.copy(), targets.copy()
    losses, probs = ce_kernels.cross_entropy.numba(logits, targets, ignore_index, label_smoothing)
    expected_losses, expected_probs = ce_kernels.cross_entropy.reference(logits, targets, ignore_index,
                                                                         label_smoothing)
    assert_same(losses, expected_losses, scale=1.0 + largest(logits))
    assert_same(probs, expected_probs)
    assert np.all(losses[targets == ignore_index] == 0)
    np.testing.assert_array_equal(logits, before[0])  # inputs are never written
    np.testing.assert_array_equal(targets, before[1])


@settings(max_examples=80)
@given(case=S.cross_entropy_kernel_inputs(), data=st.data())
def test_cross_entropy_backward_kernel_equals_its_reference(case, data):
    logits, targets, ignore_index, label_smoothing = case
    _, probs = ce_kernels.cross_entropy.reference(logits, targets, ignore_index, label_smoothing)
    probs = S.laid_out(probs, data.draw(st.sampled_from(S.LAYOUTS)))
    grad = S.laid_out(data.draw(S.arrays(targets.shape, -2.0, 2.0)).astype(logits.dtype),
                      data.draw(st.sampled_from(["contiguous", "strided", "read-only"])))
    d_logits = ce_kernels.cross_entropy_backward.numba(probs, targets, grad, ignore_index, label_smoothing)
    expected = ce_kernels.cross_entropy_backward.reference(probs, targets, grad, ignore_index, label_smoothing)
    assert_same(d_logits, expected, scale=largest(grad))
    assert np.all(d_logits[targets == ignore_index] == 0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_cross_entropy_of_logits_of_1e4_is_finite_and_exact(implementation, dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype)
    targets = np.array([1, 2, 0])
    forward = getattr(ce_kernels.cross_entropy, implementation)
    backward = getattr(ce_kernels.cross_entropy_backward, implementation)
    losses, probs = forward(logits, targets)
    np.testing.assert_allclose(losses, [2e4, np.log(3.0), np.log(2.0)], rtol=1e-6)
    d_logits = backward(probs, targets, np.ones(3, dtype))
    np.testing.assert_allclose(d_logits, [[1, -1, 0], [1 / 3, 1 / 3, -2 / 3], [-0.5, 0.5, 0]], atol=1e-6)
    smoothed, _ = forward(logits, targets, label_smoothing=0.1)
    assert np.all(np.isfinite(smoothed))
    np.testing.assert_allclose(smoothed[0], 0.9 * 2e4 + 0.1 * 1e4, rtol=1e-6)  # lse - mean = 1e4 - 0


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_cross_entropy_with_one_class_is_zero_with_zero_gradient(implementation, dtype):
    logits = np.array([[3.0], [-2.0]], dtype)
    targets = np.array([0, 0])
    losses, probs = getattr(ce_kernels.cross_entropy, implementation)(logits, targets, label_smoothing=0.2)
    np.testing.assert_array_equal(losses, [0, 0])
    d_logits = getattr(ce_kernels.cross_entropy_backward, implementation)(probs, targets, np.ones(2, dtype),
                                                                         label_smoothing=0.2)
    np.testing.assert_allclose(d_logits, 0, atol=1e-7)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_cross_entropy_with_every_row_ignored_is_zero_with_zero_gradient(implementation, dtype):
    logits = np.array([[1.0, 2.0], [3.0, -4.0]], dtype)
    targets = np.array([-100, -100])
    losses, probs = getattr(ce_kernels.cross_entropy, implementation)(logits, targets, label_smoothing=0.1)
    d_logits = getattr(ce_kernels.cross_entropy_backward, implementation)(probs, targets, np.ones(2, dtype),
                                                                         label_smoothing=0.1)
    np.testing.assert_array_equal(losses, 0)
    np.testing.assert_array_equal(d_logits, 0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_a_ruled_out_class_at_minus_inf_gives_a_finite_loss_without_smoothing(implementation, dtype):
    logits = np.array([[2.0, -np.inf, 0.5]], dtype)
    losses, probs = getattr(ce_kernels.cross_entropy, implementation)(logits, np.array([0]))
    expected = np.log(np.exp(2.0) + np.exp(0.5)) - 2.0
    np.testing.assert_allclose(losses, [expected], rtol=1e-6)
    d_logits = getattr(ce_kernels.cross_entropy_backward, implementation)(probs, np.array([0]), np.ones(1, dtype))
    assert np.all(np.isfinite(d_logits)) and d_logits[0, 1] == 0


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_cross_entropy_kernels_take_leading_axes_as_rows(implementation):
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=(2, 3, 5)), np.array([[0, 4, -100], [2, 1, 3]])
    grad = rng.normal(size=(2, 3))
    forward = getattr(ce_kernels.cross_entropy, implementation)
    backward = getattr(ce_kernels.cross_entropy_backward, implementation)
    losses, probs = forward(logits, targets, label_smoothing=0.1)
    flat_losses, flat_probs = forward(logits.reshape(6, 5), targets.reshape(6), label_smoothing=0.1)
    np.testing.assert_array_equal(losses, flat_losses.reshape(2, 3))
    np.testing.assert_array_equal(probs, flat_probs.reshape(2, 3, 5))
    np.testing.assert_array_equal(backward(probs, targets, grad, label_smoothing=0.1),
                                  backward(flat_probs, targets.reshape(6), grad.reshape(6),
                                           label_smoothing=0.1).reshape(2, 3, 5))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("bad_target", [5, -1, 99])
def test_out_of_range_target_raises_index_error_naming_it_before_any_kernel_runs(implementation, bad_target):
    logits = np.zeros((3, 5))
    targets = np.array([0, bad_target, -100])
    with pytest.raises(IndexError, match=rf"target {bad_target} at position \(1,\).*\[0, 5\).*-100"):
        getattr(ce_kernels.cross_entropy, implementation)(logits, targets)
    with pytest.raises(IndexError, match=rf"target {bad_target} at position \(1,\)"):
        getattr(ce_kernels.cross_entropy_backward, implementation)(np.full((3, 5), 0.2), targets, np.ones(3))


# ----- layer norm ---------------------------------------------------------------------------------------------

def mean_rounding(x, rstd):
    """How far the normalised values may move when the row mean is rounded differently: an ulp of max|x| over std."""
    return 1.0 + largest(x) * largest(rstd)


@settings(max_examples=80)
@given(case=S.layer_norm_kernel_inputs())
def test_layer_norm_kernel_equals_its_reference(case):
    x, weight, bias, eps = case
    before = x.copy()
    out, mean, rstd = ln_kernels.layer_norm.numba(x, weight, bias, eps)
    expected_out, expected_mean, expected_rstd = ln_kernels.layer_norm.reference(x, weight, bias, eps)
    amplification = mean_rounding(x, expected_rstd)
    assert_same(out, expected_out, scale=amplification * max(1.0, largest(weight if weight is not None else 1.0)))
    assert_same(mean, expected_mean, scale=largest(x))
    assert_same(rstd, expected_rstd, scale=amplification * largest(expected_rstd))
    np.testing.assert_array_equal(x, before)


@settings(max_examples=80)
@given(case=S.layer_norm_kernel_inputs(), data=st.data())
def test_layer_norm_backward_kernel_equals_its_reference(case, data):
    x, weight, _, eps = case
    _, mean, rstd = ln_kernels.layer_norm.reference(x, weight, None, eps)
    grad = S.laid_out(data.draw(S.arrays(x.shape, -2.0, 2.0)).astype(x.dtype), data.draw(st.sampled_from(S.LAYOUTS)))
    got = ln_kernels.layer_norm_backward.numba(grad, x, mean, rstd, weight)
    expected = ln_kernels.layer_norm_backward.reference(grad, x, mean, rstd, weight)
    amplification = mean_rounding(x, rstd)
    scaled_grad = largest(grad) * max(1.0, largest(weight if weight is not None else 1.0))
    rows = x.shape[0]
    for result, want, scale in zip(got, expected, [scaled_grad * largest(rstd) * amplification,
                                                   rows * largest(grad) * amplification, rows * largest(grad)]):
        assert_same(result, want, scale=scale)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_layer_norm_variance_is_accurate_in_float32_when_the_mean_is_large(implementation):
    # E[x**2] - E[x]**2 would cancel here (x**2 ~ 1e8, whose float32 ulp is 8, against a variance of ~1).
    x = (1e4 + np.random.default_rng(0).normal(size=(8, 256))).astype(np.float32)
    _, mean, rstd = getattr(ln_kernels.layer_norm, implementation)(x, eps=1e-5)
    exact = x.astype(np.float64)
    np.testing.assert_allclose(mean, exact.mean(axis=-1), rtol=1e-6)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(exact.var(axis=-1) + 1e-5), rtol=1e-4)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
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
    for without, with_ones in zip(backward(grad, x, mean, rstd), backward(grad, x, mean, rstd, np.ones(7, dtype))):
        np.testing.assert_array_equal(without, with_ones)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_layer_norm_of_a_constant_row_is_the_bias_with_zero_input_gradient(implementation, dtype):
    x = np.full((2, 4), 3.0, dtype)
    bias = np.arange(4, dtype=dtype)
    out, mean, rstd = getattr(ln_kernels.layer_norm, implementation)(x, np.full(4, 2.0, dtype), bias)
    np.testing.assert_array_equal(out, np.broadcast_to(bias, (2, 4)))
    d_x, _, _ = getattr(ln_kernels.layer_norm_backward, implementation)(np.ones((2, 4), dtype), x, mean, rstd)
    np.testing.assert_array_equal(d_x, 0)
