"""The cross-entropy kernels (tinyattn/kernels/cross_entropy.py) equal their NumPy references, and behave at the
edges: logits of 1e4, one class, every row ignored, a class ruled out at -inf, targets out of range.

Kernels are called as ``.numba(...)`` and ``.reference(...)`` directly, so both are checked whatever the switch
(TINYATTN_NUMBA) says. Inputs come in float32 and float64, contiguous, transposed, strided and read-only.
Tolerance: see FUSED_KERNEL_RTOL in strategies.py; here `scale` is the logits' magnitude for a loss (lse - logit
cancels) and the upstream gradient's for a backward.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
from tinyattn.kernels import cross_entropy as ce_kernels


@settings(max_examples=80)
@given(case=S.cross_entropy_kernel_inputs())
def test_cross_entropy_kernel_equals_its_reference(case):
    logits, targets, ignore_index, label_smoothing = case
    before = logits.copy(), targets.copy()
    losses, probs = ce_kernels.cross_entropy.numba(logits, targets, ignore_index, label_smoothing)
    expected_losses, expected_probs = ce_kernels.cross_entropy.reference(logits, targets, ignore_index,
                                                                         label_smoothing)
    S.assert_fused_kernel_matches(losses, expected_losses, scale=1.0 + S.largest(logits))
    S.assert_fused_kernel_matches(probs, expected_probs)
    assert np.all(losses[targets == ignore_index] == 0)
    np.testing.assert_array_equal(logits, before[0])  # inputs are never written
    np.testing.assert_array_equal(targets, before[1])
    S.assert_module_compiled_once_per_dtype(ce_kernels)  # whatever layouts this example's arrays had


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
    S.assert_fused_kernel_matches(d_logits, expected, scale=S.largest(grad))
    assert np.all(d_logits[targets == ignore_index] == 0)
    S.assert_module_compiled_once_per_dtype(ce_kernels)  # whatever layouts this example's arrays had


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
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


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_cross_entropy_with_one_class_is_zero_with_zero_gradient(implementation, dtype):
    logits = np.array([[3.0], [-2.0]], dtype)
    targets = np.array([0, 0])
    losses, probs = getattr(ce_kernels.cross_entropy, implementation)(logits, targets, label_smoothing=0.2)
    np.testing.assert_array_equal(losses, [0, 0])
    d_logits = getattr(ce_kernels.cross_entropy_backward, implementation)(probs, targets, np.ones(2, dtype),
                                                                         label_smoothing=0.2)
    np.testing.assert_allclose(d_logits, 0, atol=1e-7)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_cross_entropy_with_every_row_ignored_is_zero_with_zero_gradient(implementation, dtype):
    logits = np.array([[1.0, 2.0], [3.0, -4.0]], dtype)
    targets = np.array([-100, -100])
    losses, probs = getattr(ce_kernels.cross_entropy, implementation)(logits, targets, label_smoothing=0.1)
    d_logits = getattr(ce_kernels.cross_entropy_backward, implementation)(probs, targets, np.ones(2, dtype),
                                                                         label_smoothing=0.1)
    np.testing.assert_array_equal(losses, 0)
    np.testing.assert_array_equal(d_logits, 0)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_a_ruled_out_class_at_minus_inf_gives_a_finite_loss_without_smoothing(implementation, dtype):
    logits = np.array([[2.0, -np.inf, 0.5]], dtype)
    losses, probs = getattr(ce_kernels.cross_entropy, implementation)(logits, np.array([0]))
    expected = np.log(np.exp(2.0) + np.exp(0.5)) - 2.0
    np.testing.assert_allclose(losses, [expected], rtol=1e-6)
    d_logits = getattr(ce_kernels.cross_entropy_backward, implementation)(probs, np.array([0]), np.ones(1, dtype))
    assert np.all(np.isfinite(d_logits)) and d_logits[0, 1] == 0


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
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


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("bad_target", [5, -1, 99])
def test_out_of_range_target_raises_index_error_naming_it_before_any_kernel_runs(implementation, bad_target):
    logits = np.zeros((3, 5))
    targets = np.array([0, bad_target, -100])
    with pytest.raises(IndexError, match=rf"target {bad_target} at position \(1,\).*\[0, 5\).*-100"):
        getattr(ce_kernels.cross_entropy, implementation)(logits, targets)
    with pytest.raises(IndexError, match=rf"target {bad_target} at position \(1,\)"):
        getattr(ce_kernels.cross_entropy_backward, implementation)(np.full((3, 5), 0.2), targets, np.ones(3))
