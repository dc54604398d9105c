"""Numeric edge cases of softmax, log_softmax, logsumexp, masks, sigmoid and power: huge logits, masked and empty rows,
log-probabilities that overflow to -inf without a mask, powers at a base of 0.

Each test runs in float64 and float32 where the property holds in both. References are computed here in float64
from the textbook formulas with the max subtracted.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
import tinyattn.functional as F

DTYPES = [np.float64, np.float32]
LARGE = [1e3, -1e3, 1e4, -1e4]
EXAMPLES = 30


def leaf(values, dtype=np.float64):
    return ta.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def reference_softmax(logits, axis=-1):
    logits = np.asarray(logits, dtype=np.float64)
    exps = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return exps / exps.sum(axis=axis, keepdims=True)


def reference_logsumexp(logits, axis=-1):
    logits = np.asarray(logits, dtype=np.float64)
    row_max = logits.max(axis=axis, keepdims=True)
    return np.squeeze(row_max + np.log(np.exp(logits - row_max).sum(axis=axis, keepdims=True)), axis)


def gradient_of(fn, x, upstream):
    """x.grad after fn(x).backward(upstream), on a fresh gradient."""
    x.grad = None
    fn(x).backward(np.asarray(upstream, dtype=x.dtype))
    return x.grad


UPSTREAM = np.array([[0.3, -1.2, 2.0, 0.7], [1.0, 0.5, -0.4, -2.0]])


# ----- huge logits -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("large", LARGE)
def test_softmax_of_huge_logits_is_finite_exact_and_rows_sum_to_one(large, dtype):
    logits = np.array([[large, large - 1.0, large - 2.0, 0.0], [large, -large, 0.0, large]])
    x = leaf(logits, dtype)
    weights = F.softmax(x)
    assert weights.dtype == dtype and np.all(np.isfinite(weights.data))
    np.testing.assert_allclose(weights.data, reference_softmax(logits), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(gradient_of(F.softmax, x, UPSTREAM)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("large", LARGE)
def test_log_softmax_of_huge_logits_is_finite_and_exact(large, dtype):
    logits = np.array([[large, large - 1.0, large - 2.0, 0.0], [large, -large, 0.0, large]])
    x = leaf(logits, dtype)
    log_weights = F.log_softmax(x)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    expected = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    assert log_weights.dtype == dtype and np.all(np.isfinite(log_weights.data))
    np.testing.assert_allclose(log_weights.data, expected, rtol=1e-6)
    assert np.all(np.isfinite(gradient_of(F.log_softmax, x, UPSTREAM)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("large", LARGE)
def test_logsumexp_of_huge_logits_does_not_overflow(large, dtype):
    logits = np.array([[large, large, large, large], [large, large - 1.0, -large, 0.0]])
    x = leaf(logits, dtype)
    total = F.logsumexp(x, axis=-1)
    assert total.dtype == dtype and np.all(np.isfinite(total.data))
    np.testing.assert_allclose(total.data, reference_logsumexp(logits), rtol=1e-6)
    np.testing.assert_allclose(total.data[0], large + np.log(4.0), rtol=1e-6)
    assert np.all(np.isfinite(gradient_of(lambda t: F.logsumexp(t, axis=-1), x, [0.7, -1.3])))


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("offset", LARGE)
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_softmax_family_is_shift_invariant_even_at_huge_offsets(op, offset, data):
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    logits = data.draw(S.arrays(shape), label="logits")
    function = getattr(F, op)
    out_shape = function(ta.tensor(logits)).shape
    upstream = data.draw(S.upstream_gradients(out_shape), label="upstream")
    near, far = leaf(logits), leaf(logits + offset)
    expected_shift = offset if op == "logsumexp" else 0.0
    # Adding a huge offset rounds the logits by up to one ulp of the offset (1.8e-12 at 1e4).
    np.testing.assert_allclose(function(far).data - expected_shift, function(near).data, atol=1e-9)
    np.testing.assert_allclose(gradient_of(function, far, upstream), gradient_of(function, near, upstream),
                               atol=1e-9)


# ----- shapes of the weights -------------------------------------------------------------------------------------
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_softmax_weights_are_in_zero_one_and_sum_to_one_along_the_axis(data, dtype):
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    axis = data.draw(S.axes(len(shape)), label="axis")
    weights = F.softmax(ta.tensor(data.draw(S.arrays(shape), label="logits"), dtype=dtype), axis=axis).data
    assert weights.dtype == dtype
    assert np.all((weights >= 0) & (weights <= 1))
    np.testing.assert_allclose(weights.sum(axis=axis), 1.0, rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [0.0, -3.5, 1e3, -1e4, 1e4])
def test_all_equal_logits_give_uniform_weights(value, dtype):
    weights = F.softmax(ta.tensor(np.full((2, 5), value), dtype=dtype)).data
    np.testing.assert_allclose(weights, 0.2, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [0.0, 2.5, 1e4, -1e4])
def test_single_key_gets_weight_one_and_zero_gradient(value, dtype):
    x = leaf(np.full((3, 1), value), dtype)
    np.testing.assert_array_equal(F.softmax(x).data, 1.0)
    np.testing.assert_array_equal(F.log_softmax(x).data, 0.0)
    upstream = [[0.5], [-2.0], [3.0]]
    np.testing.assert_allclose(gradient_of(F.softmax, x, upstream), 0.0, atol=1e-12)
    np.testing.assert_allclose(gradient_of(F.log_softmax, x, upstream), 0.0, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_stays_finite_and_exact_where_softmax_underflows_to_zero(dtype):
    x = leaf([[0.0, -200.0, -1e4], [1e4, 0.0, -1e4]], dtype)
    assert np.any(F.softmax(x).data == 0)  # the probabilities underflow...
    log_weights = F.log_softmax(x)  # ...their logarithms do not
    np.testing.assert_allclose(log_weights.data, [[0.0, -200.0, -1e4], [0.0, -1e4, -2e4]], rtol=1e-6)
    grad = gradient_of(F.log_softmax, x, [[1.0, 2.0, -1.0], [0.5, -0.5, 2.0]])
    assert np.all(np.isfinite(grad))
    # d/dx_j sum_i u_i log p_i = u_j - p_j sum_i u_i, with p = (1, 0, 0) in both rows
    np.testing.assert_allclose(grad, [[1.0 - 2.0, 2.0, -1.0], [0.5 - 2.0, -0.5, 2.0]], rtol=1e-6)


@pytest.mark.parametrize("mask", [None, np.array([True, True, True])], ids=["no-mask", "all-kept"])
def test_log_softmax_gradient_passes_where_a_kept_log_probability_overflows_to_minus_inf(kernels, mask):
    # float32: -3e38 - 3e38 overflows, so the middle log-probability is -inf although the mask keeps it.
    x = leaf([3e38, -3e38, 0.0], np.float32)
    upstream = np.array([0.3, -1.2, 2.0])
    log_weights = F.log_softmax(x, mask=mask)
    assert log_weights.data[1] == -np.inf and np.isfinite(log_weights.data[2])
    grad = gradient_of(lambda t: F.log_softmax(t, mask=mask), x, upstream)
    # d/dx_j sum_i u_i log p_i = u_j - p_j sum_i u_i, with p = (1, 0, 0)
    np.testing.assert_allclose(grad, [0.3 - 1.1, -1.2, 2.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["boolean", "additive"])
def test_log_softmax_gives_zero_gradient_exactly_where_the_mask_removes_a_position(kernels, kind, dtype):
    keep = np.array([[True, False, True, True], [False, False, False, False]])
    mask = keep if kind == "boolean" else np.where(keep, 0.0, -np.inf)
    x = leaf([[1.0, 5.0, -2.0, 0.5], [0.1, 0.2, 0.3, 0.4]], dtype)
    grad = gradient_of(lambda t: F.log_softmax(t, mask=mask), x, UPSTREAM)
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad[~keep], 0.0)
    weights = reference_softmax(np.where(keep, x.data, -np.inf)[0])
    kept = keep[0]
    expected = UPSTREAM[0, kept] - weights[kept] * UPSTREAM[0, kept].sum()
    np.testing.assert_allclose(grad[0, kept], expected, rtol=1e-5)


# ----- masks -------------------------------------------------------------------------------------------------------
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_masked_slots_get_exactly_zero_weight_and_exactly_zero_gradient(data, dtype):
    shape = data.draw(S.shapes(min_dims=1), label="shape")
    mask = data.draw(S.masks(shape), label="mask")
    x = leaf(data.draw(S.arrays(shape), label="logits"), dtype)
    weights = F.softmax(x, mask=mask)
    upstream = data.draw(S.upstream_gradients(shape), label="upstream")
    weights.backward(upstream.astype(dtype))
    assert np.all(weights.data[~mask] == 0)
    assert np.all(np.isfinite(x.grad)) and np.all(x.grad[~mask] == 0)
    kept_rows = mask.any(axis=-1)
    np.testing.assert_allclose(weights.data.sum(axis=-1)[kept_rows], 1.0, rtol=1e-5)
    np.testing.assert_allclose(weights.data, _masked_reference(x.data, mask), rtol=1e-5, atol=1e-7)


def _masked_reference(logits, mask):
    """Softmax over the kept slots only; rows without one are zero."""
    kept = np.where(mask, logits.astype(np.float64), -np.inf)
    row_max = np.where(mask.any(axis=-1, keepdims=True), kept.max(axis=-1, keepdims=True), 0.0)
    exps = np.where(mask, np.exp(kept - row_max), 0.0)
    totals = exps.sum(axis=-1, keepdims=True)
    return exps / np.where(totals == 0, 1.0, totals)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", [1e4, 1e30, "max", np.inf])
def test_huge_logits_behind_a_mask_do_not_overflow_or_change_the_kept_weights(hidden, dtype):
    hidden = np.finfo(dtype).max if hidden == "max" else hidden
    logits = np.array([[hidden, 1.0, 2.0, hidden], [0.5, hidden, -1.0, 3.0]])
    mask = np.array([[False, True, True, False], [True, False, True, True]])
    x = leaf(logits, dtype)
    with np.errstate(over="raise", invalid="raise"):  # an overflow or inf - inf anywhere fails the test
        weights = F.softmax(x, mask=mask)
        weights.backward(UPSTREAM.astype(dtype))
    expected = np.where(mask, reference_softmax(np.where(mask, logits, -np.inf)), 0.0)
    np.testing.assert_allclose(weights.data, expected, rtol=1e-6)
    assert np.all(np.isfinite(x.grad)) and np.all(x.grad[~mask] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_masked_row_gives_all_zero_weights_and_zero_gradient(dtype):
    x = leaf([[1e4, 2.0, -3.0, 0.5], [0.1, 0.2, 0.3, 0.4]], dtype)
    mask = np.array([[False, False, False, False], [True, False, True, True]])
    weights = F.softmax(x, mask=mask)
    weights.backward(UPSTREAM.astype(dtype))
    np.testing.assert_array_equal(weights.data[0], 0.0)
    np.testing.assert_allclose(weights.data[1].sum(), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_array_equal(x.grad[0], 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_row_of_minus_inf_from_where_gives_zero_weights_and_zero_gradient(dtype):
    x = leaf([[1e4, 2.0, -3.0, 0.5], [0.1, 0.2, 0.3, 0.4]], dtype)
    mask = np.array([[False, False, False, False], [True, True, False, True]])
    weights = F.softmax(F.where(mask, x, -np.inf))
    weights.backward(UPSTREAM.astype(dtype))
    np.testing.assert_array_equal(weights.data[0], 0.0)
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_array_equal(x.grad[~mask], 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_and_logsumexp_of_a_minus_inf_row_are_minus_inf_with_finite_gradient(dtype):
    x = leaf([[-np.inf, -np.inf, -np.inf], [0.0, 1.0, -np.inf]], dtype)
    log_weights = F.log_softmax(x)
    assert np.all(log_weights.data[0] == -np.inf)
    assert np.all(np.isfinite(gradient_of(F.log_softmax, x, [[1.0, -2.0, 0.5], [0.3, 0.3, -1.0]])))
    total = F.logsumexp(x, axis=-1)
    assert total.data[0] == -np.inf and np.isfinite(total.data[1])
    grad = gradient_of(lambda t: F.logsumexp(t, axis=-1), x, [2.0, 1.0])
    np.testing.assert_array_equal(grad[0], 0.0)
    assert np.all(np.isfinite(grad))


# ----- sigmoid -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_saturates_to_exactly_zero_and_one_with_finite_zero_gradient(dtype):
    x = leaf([-1e4, -1e3, 1e3, 1e4], dtype)
    with np.errstate(over="raise"):
        out = F.sigmoid(x)
        out.backward(np.array([1.0, -1.0, 2.0, 0.5], dtype=dtype))
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 1.0, 1.0])
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_array_equal(x.grad, 0.0)


def test_sigmoid_keeps_full_relative_precision_in_both_tails():
    x = np.concatenate([-np.geomspace(1e-3, 700, 40), [0.0], np.geomspace(1e-3, 700, 40)])
    expected = np.exp(-np.logaddexp(0.0, -x))  # 1 / (1 + e^-x) without cancellation
    np.testing.assert_allclose(F.sigmoid(ta.tensor(x)).data, expected, rtol=1e-12)
    assert ta.gradcheck(F.sigmoid, leaf(np.linspace(-30, 30, 13)), grad_output=np.linspace(-1, 1, 13))


# ----- power at a base of 0 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("exponent", [0, 0.0, "tensor"])
def test_power_zero_has_zero_base_gradient_also_at_base_zero(exponent, dtype):
    x = leaf([0.0, 2.0, -1.5], dtype)
    exponent = ta.tensor(np.zeros(3, dtype)) if exponent == "tensor" else exponent
    out = x**exponent
    out.backward(np.array([1.0, -2.0, 0.5], dtype))
    np.testing.assert_array_equal(out.data, 1.0)
    np.testing.assert_array_equal(x.grad, 0.0)  # not 0 * 0 ** -1 = NaN at x = 0


@pytest.mark.parametrize("exponent, slope_at_zero", [(1, 1.0), (2, 0.0), (3, 0.0), (1.5, 0.0), (2.0, 0.0)])
def test_power_base_gradient_at_zero_for_positive_exponents_is_the_derivative(exponent, slope_at_zero):
    x = leaf([0.0, 2.0])
    (x**exponent).backward(np.array([3.0, 1.0]))
    np.testing.assert_allclose(x.grad, [3.0 * slope_at_zero, exponent * 2.0 ** (exponent - 1)], rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 1.5])
def test_power_exponent_gradient_takes_zero_where_the_base_is_zero(exponent, dtype):
    base = np.array([0.0, 2.0], dtype)
    power = leaf(exponent, dtype)
    (base**power).backward(np.array([3.0, 1.0], dtype))
    # d/dp 0 ** p = 0 ** p * log 0 is taken as 0 (the limit for p > 0); the base of 2 adds 2 ** p * log 2.
    assert np.isfinite(power.grad)
    np.testing.assert_allclose(power.grad, 2.0**exponent * np.log(2.0), rtol=1e-6)
