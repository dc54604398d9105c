"""The softmax-family kernels (tinyattn/kernels/softmax.py) equal their NumPy references, and behave at the edges:
masked positions, fully masked rows, extreme logits.

Kernels are called as ``.numba(...)`` and ``.reference(...)`` directly, so these tests check both whatever the
switch (TINYATTN_NUMBA) says; CI also runs the op tests with the references selected.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
from tinyattn.kernels import softmax as softmax_kernels


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@settings(max_examples=60)
@given(case=S.kernel_rows())
def test_softmax_family_kernel_equals_its_reference(name, case):
    scores, mask, scale = case
    kernel = getattr(softmax_kernels, name)
    before = scores.copy()
    S.assert_kernel_matches(kernel.numba(scores, mask, scale), kernel.reference(scores, mask, scale))
    np.testing.assert_array_equal(scores, before)  # inputs are never written
    S.assert_module_compiled_once_per_dtype(softmax_kernels)  # whatever layouts this example's arrays had


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@settings(max_examples=60)
@given(case=S.kernel_rows(), data=st.data())
def test_softmax_family_backward_kernel_equals_its_reference(name, case, data):
    scores, mask, scale = case
    forward = getattr(softmax_kernels, name).reference(scores, mask, scale)
    grad = S.laid_out(data.draw(S.arrays(scores.shape, -2.0, 2.0)).astype(scores.dtype),
                      data.draw(st.sampled_from(S.LAYOUTS)))
    backward = getattr(softmax_kernels, f"{name}_backward")
    masks = (mask,) if name == "log_softmax" else ()  # log_softmax's backward takes the forward's mask
    S.assert_kernel_matches(backward.numba(forward, grad, scale, *masks),
                            backward.reference(forward, grad, scale, *masks))
    S.assert_module_compiled_once_per_dtype(softmax_kernels)  # whatever layouts this example's arrays had


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_masked_positions_get_exactly_zero_weight_and_fully_masked_rows_are_zero(dtype):
    scores = np.array([[1e4, -3.0, 2.0], [5.0, 6.0, 7.0]], dtype)
    keep = np.array([[False, True, True], [False, False, False]])
    weights = softmax_kernels.softmax.numba(scores, keep, 1.0)
    assert weights[0, 0] == 0.0 and np.all(weights[1] == 0.0)
    np.testing.assert_allclose(weights[0, 1:].sum(), 1.0, rtol=1e-6)
    log_probs = softmax_kernels.log_softmax.numba(scores, keep, 1.0)
    assert log_probs[0, 0] == -np.inf and np.all(log_probs[1] == -np.inf)
    assert softmax_kernels.logsumexp.numba(scores, keep, 1.0)[1] == -np.inf
    grad = np.ones_like(scores)
    d_scores = softmax_kernels.log_softmax_backward.numba(log_probs, grad, 1.0, keep)
    assert d_scores[0, 0] == 0.0 and np.all(d_scores[1] == 0.0) and np.all(np.isfinite(d_scores))


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
@pytest.mark.parametrize("kind", ["boolean", "additive"])
def test_log_softmax_backward_zeroes_the_positions_the_mask_removes_not_those_whose_log_probability_is_minus_inf(
        implementation, dtype, kind):
    keep = np.array([[True, True, False, True], [False, False, False, False]])
    mask = keep if kind == "boolean" else np.where(keep, 0.0, -np.inf).astype(dtype)
    # The largest finite value and its negative: their difference overflows, in either dtype.
    largest = np.finfo(dtype).max
    scores = np.array([[largest, -largest, 7.0, 0.0], [1.0, 2.0, 3.0, 4.0]], dtype)
    log_probs = softmax_kernels.log_softmax.reference(scores, mask, 1.0)
    assert log_probs[0, 1] == -np.inf  # kept, yet -inf: the difference overflows
    grad = np.array([[0.5, -1.5, 9.0, 2.0], [1.0, 1.0, 1.0, 1.0]], dtype)
    d_scores = getattr(softmax_kernels.log_softmax_backward, implementation)(log_probs, grad, 2.0, mask)
    # p = (1, 0, -, 0) over the kept positions; the removed position's upstream (9.0) plays no part.
    kept_total = 0.5 - 1.5 + 2.0
    np.testing.assert_allclose(d_scores[0], [2.0 * (0.5 - kept_total), 2.0 * -1.5, 0.0, 2.0 * 2.0], rtol=1e-6)
    assert d_scores[0, 2] == 0.0
    np.testing.assert_array_equal(d_scores[1], 0.0)


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_boolean_mask_equals_an_additive_minus_inf_mask(dtype):
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((3, 9)).astype(dtype)
    keep = rng.random((3, 9)) > 0.4
    additive = np.where(keep, 0.0, -np.inf)
    for name in ("softmax", "log_softmax", "logsumexp"):
        kernel = getattr(softmax_kernels, name)
        np.testing.assert_array_equal(kernel.numba(scores, keep, 0.5), kernel.numba(scores, additive, 0.5))


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_softmax_kernel_shift_invariant_at_extreme_logits(dtype):
    scores = np.array([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4 + 1.0, -1e4 + 2.0]], dtype)
    weights = softmax_kernels.softmax.numba(scores, None, 1.0)
    expected = softmax_kernels.softmax.reference(np.array([[1.0, 0.0, -2e4], [0.0, 1.0, 2.0]], dtype), None, 1.0)
    np.testing.assert_allclose(weights, expected, **S.KERNEL_TOLERANCE[np.dtype(dtype)])
