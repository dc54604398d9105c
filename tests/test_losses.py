"""The losses of issue "building blocks": values against their definitions, extremes, ignored targets, errors.

Their gradients are checked in tests/test_op_gradients.py (primitives) and here (composites).
"""
import numpy as np
import pytest

import tinyattn as ta
import tinyattn.functional as F


def leaf(values, dtype=np.float64):
    return ta.tensor(np.asarray(values, dtype), requires_grad=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_matches_its_definition_and_stays_finite_at_extreme_logits(dtype):
    logits = leaf([-3.0, -0.5, 0.0, 0.7, 4.0], dtype)
    targets = np.array([0.0, 1.0, 0.5, 1.0, 0.2], dtype)
    probability = 1 / (1 + np.exp(-logits.data.astype(np.float64)))
    expected = -(targets * np.log(probability) + (1 - targets) * np.log(1 - probability))
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss.data, expected, rtol=1e-6)

    extreme = leaf([-1e4, 1e4, -1e4, 1e4], dtype)
    loss = F.binary_cross_entropy_with_logits(extreme, np.array([0.0, 1.0, 1.0, 0.0], dtype), reduction="sum")
    loss.backward()
    np.testing.assert_allclose(loss.data, 2e4, rtol=1e-6)  # the two wrong answers cost |x| each
    np.testing.assert_allclose(extreme.grad, [0.0, 0.0, -1.0, 1.0], atol=1e-6)


def test_nll_loss_of_log_softmax_equals_cross_entropy_with_ignored_targets():
    logits = leaf(np.random.default_rng(0).standard_normal((2, 3, 5)))
    targets = np.array([[0, 1, -100], [4, 4, 2]])
    for reduction in ("mean", "sum", "none"):
        nll = F.nll_loss(F.log_softmax(logits), targets, reduction=reduction)
        np.testing.assert_allclose(nll.data, F.cross_entropy(logits, targets, reduction=reduction).data, rtol=1e-12)
    assert ta.gradcheck(lambda logits: F.nll_loss(F.log_softmax(logits), targets), logits)


def test_nll_loss_over_only_ignored_targets_is_zero_with_zero_gradient():
    log_probs = leaf(np.log(np.full((2, 4), 0.25)))
    loss = F.nll_loss(log_probs, np.array([-100, -100]))
    loss.backward()
    assert loss.item() == 0.0 and np.all(log_probs.grad == 0)


def test_cross_entropy_is_finite_with_finite_gradients_at_logits_of_1e4():
    logits = leaf([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    loss = F.cross_entropy(logits, np.array([1, 2]))
    loss.backward()
    np.testing.assert_allclose(loss.item(), 1e4, rtol=1e-12)  # the first row pays 2e4, the second 0
    assert np.all(np.isfinite(logits.grad))


def test_mse_loss_values_and_gradient():
    prediction, target = leaf([[1.0, 2.0], [3.0, 5.0]]), leaf([1.0, 4.0])
    np.testing.assert_allclose(F.mse_loss(prediction, target).item(), (0 + 4 + 4 + 1) / 4)
    np.testing.assert_allclose(F.mse_loss(prediction, target, reduction="sum").item(), 9.0)
    assert F.mse_loss(prediction, target, reduction="none").shape == (2, 2)
    assert ta.gradcheck(F.mse_loss, prediction, target)


@pytest.mark.parametrize("call", [
    lambda: F.mse_loss(leaf([1.0]), leaf([2.0]), reduction="average"),
    lambda: F.nll_loss(leaf([[0.0, 0.0]]), np.array([0]), reduction="average"),
    lambda: F.binary_cross_entropy_with_logits(leaf([1.0]), np.array([1.0]), reduction="average"),
])
def test_an_unknown_reduction_is_refused_by_name(call):
    with pytest.raises(ValueError, match="reduction"):
        call()


def test_nll_loss_refuses_float_targets():
    with pytest.raises(TypeError, match="integer targets"):
        F.nll_loss(leaf([[0.0, 0.0]]), np.array([0.0]))
