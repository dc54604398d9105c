"""The losses (tinyattn/ops/loss.py, and nll_loss and mse_loss of tinyattn.functional): values against their
definitions and against the same formula written with other ops, numeric extremes, ignored targets, bad input.

The gradient property tests of the primitives (central differences, cheap backward properties) are rows of
test_op_gradients.py; the composites' gradients are checked here. Tests that take the `kernels` fixture run with the
Numba kernels and with the NumPy references.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, IndexOpError, ShapeError

EXAMPLES = 50
# The `kernels` fixture sets the switch once per test, which every example then shares: that is what is wanted.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def leaf(values, dtype=np.float64):
    return ta.tensor(np.asarray(values, dtype), requires_grad=True)


def leaves(*arrays, dtype=np.float64):
    return [ta.tensor(np.array(array, dtype=dtype), requires_grad=True) for array in arrays]


# ----- binary cross-entropy, nll_loss, mse_loss ---------------------------------------------------------------

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


def test_mse_loss_values_and_gradient():
    prediction, target = leaf([[1.0, 2.0], [3.0, 5.0]]), leaf([1.0, 4.0])
    np.testing.assert_allclose(F.mse_loss(prediction, target).item(), (0 + 4 + 4 + 1) / 4)
    np.testing.assert_allclose(F.mse_loss(prediction, target, reduction="sum").item(), 9.0)
    assert F.mse_loss(prediction, target, reduction="none").shape == (2, 2)
    assert ta.gradcheck(F.mse_loss, prediction, target)


# ----- cross-entropy: the same formula written with existing ops ----------------------------------------------

def cross_entropy_composite(logits, targets, ignore_index, label_smoothing, reduction):
    """(1 - eps) * -log_softmax[target] + eps * -mean(log_softmax), zero where ignored, then reduced."""
    kept = targets != ignore_index
    log_probs = F.log_softmax(logits)  # (..., C)
    picked = F.reshape(F.gather(log_probs, np.where(kept, targets, 0)[..., None], axis=-1), targets.shape)
    losses = -picked * (1.0 - label_smoothing) - F.mean(log_probs, axis=-1) * label_smoothing
    losses = losses * kept.astype(np.float64)  # (...)
    if reduction == "none":
        return losses
    total = F.sum(losses)
    return total if reduction == "sum" else total / max(int(kept.sum()), 1)


@settings(max_examples=EXAMPLES, suppress_health_check=FIXTURE_OK)
@given(inputs=S.cross_entropy_inputs(), data=st.data())
def test_cross_entropy_equals_minus_log_softmax_picked_at_the_targets(kernels, inputs, data):
    (logits,) = inputs.arrays
    params = inputs.params
    (op_logits,), (composite_logits,) = leaves(logits), leaves(logits)
    out = F.cross_entropy(op_logits, **params)
    expected = cross_entropy_composite(composite_logits, **params)
    upstream = data.draw(S.upstream_gradients(out.shape))
    S.assert_same_values_and_gradients(out, expected, [op_logits], [composite_logits], upstream)


# ----- cross-entropy: numeric edges ---------------------------------------------------------------------------

def test_cross_entropy_is_finite_with_finite_gradients_at_logits_of_1e4():
    logits = leaf([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    loss = F.cross_entropy(logits, np.array([1, 2]))
    loss.backward()
    np.testing.assert_allclose(loss.item(), 1e4, rtol=1e-12)  # the first row pays 2e4, the second 0
    assert np.all(np.isfinite(logits.grad))


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_of_logits_of_1e4_has_finite_values_and_gradients(kernels, dtype, reduction, label_smoothing):
    (logits,) = leaves([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    out = F.cross_entropy(logits, np.array([1, 2, 0]), label_smoothing=label_smoothing, reduction=reduction)
    out.backward(np.ones(out.shape, dtype))
    assert out.dtype == dtype and logits.grad.dtype == dtype
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(logits.grad))


def test_cross_entropy_mean_with_every_target_ignored_is_zero_with_zero_gradient(kernels):
    (logits,) = leaves(np.arange(12.0).reshape(2, 2, 3))
    out = F.cross_entropy(logits, np.full((2, 2), -100), label_smoothing=0.2)
    out.backward()
    assert out.data == 0.0
    np.testing.assert_array_equal(logits.grad, 0.0)


def test_cross_entropy_mean_divides_by_the_targets_that_are_not_ignored(kernels):
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.2, 0.2, 0.6]]))
    targets = np.array([0, -1, 2])
    out = F.cross_entropy(logits, targets, ignore_index=-1)
    np.testing.assert_allclose(out.data, -(np.log(0.5) + np.log(0.6)) / 2)
    np.testing.assert_allclose(F.cross_entropy(logits, targets, ignore_index=-1, reduction="none").data,
                               [-np.log(0.5), 0.0, -np.log(0.6)])


def test_cross_entropy_takes_targets_as_an_integer_tensor_of_any_integer_dtype(kernels):
    logits = np.random.default_rng(0).normal(size=(4, 3))
    expected = F.cross_entropy(logits, np.array([0, 2, 1, 2])).data
    for targets in (ta.tensor(np.array([0, 2, 1, 2])), np.array([0, 2, 1, 2], np.uint8), [0, 2, 1, 2]):
        np.testing.assert_allclose(F.cross_entropy(logits, targets).data, expected)


# ----- bad input ----------------------------------------------------------------------------------------------

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


@pytest.mark.parametrize("bad", [-1, -3, 3, 7])
def test_nll_loss_refuses_a_target_outside_the_classes_unless_it_is_ignore_index(bad):
    # A negative target does not count from the end (cross_entropy refuses it too); the error is nll_loss's own.
    log_probs = F.log_softmax(leaf(np.zeros((2, 3))))
    S.assert_error_names(IndexOpError, lambda: F.nll_loss(log_probs, np.array([1, bad])),
                         [f"nll_loss: target {bad}", "position (1,)", "(2,) int64", "(2, 3) float64", "[0, 3)"])


def test_nll_loss_accepts_a_negative_ignore_index_as_a_target():
    log_probs = F.log_softmax(leaf(np.zeros((2, 3))))
    loss = F.nll_loss(log_probs, np.array([1, -1]), ignore_index=-1, reduction="none")
    np.testing.assert_allclose(loss.data, [np.log(3.0), 0.0])


@pytest.mark.parametrize("targets", [np.array([0]), np.array([[0, 1]]), np.array(0)], ids=["1", "1x2", "scalar"])
def test_nll_loss_refuses_targets_not_shaped_as_the_log_probs_without_the_class_axis(targets):
    # gather would broadcast a (1,) target over every row: a silent wrong loss.
    S.assert_error_names(ShapeError, lambda: F.nll_loss(leaf(np.zeros((2, 3))), targets),
                         ["nll_loss", "(2, 3) float64", f"{targets.shape} int64"])


def t(shape, dtype=np.float64):
    return ta.tensor(np.ones(shape, dtype=dtype), requires_grad=np.dtype(dtype).kind == "f")


TARGETS = np.array([[0, 1, 2], [3, 4, -100]])


@pytest.mark.parametrize(
    "call, error, fragments",
    [
        (lambda: F.cross_entropy(t((2, 3, 5)), np.array([[0, 5, 1], [0, 0, 0]])), IndexOpError,
         ["cross_entropy", "target 5", "(0, 1)", "[0, 5)", "(2, 3)", "(2, 3, 5) float64"]),
        (lambda: F.cross_entropy(t((2, 3, 5)), np.array([[0, 1, 1], [0, -1, 0]])), IndexOpError,
         ["cross_entropy", "target -1", "ignore_index (-100)"]),
        (lambda: F.cross_entropy(t((2, 3, 5)), TARGETS.astype(np.float64)), DTypeError,
         ["cross_entropy", "integer", "(2, 3) float64", "(2, 3, 5) float64"]),
        (lambda: F.cross_entropy(t((2, 3, 5)), TARGETS[:, :2]), ShapeError,
         ["cross_entropy", "(2, 3, 5)", "(2, 2) int64", "(2, 3)"]),
        (lambda: F.cross_entropy(t((2, 3, 5)), TARGETS.T), ShapeError, ["cross_entropy", "(3, 2)"]),
        (lambda: F.cross_entropy(ta.tensor(np.ones((2, 3, 5), int)), TARGETS), DTypeError,
         ["cross_entropy", "float32 or float64", "int64"]),
        (lambda: F.cross_entropy(t((2, 3, 0)), TARGETS), ShapeError, ["cross_entropy", "at least one class"]),
        (lambda: F.cross_entropy(t((2, 3, 5)), TARGETS, label_smoothing=1.0), ShapeError,
         ["cross_entropy", "label_smoothing", "[0, 1)"]),
        (lambda: F.cross_entropy(t((2, 3, 5)), TARGETS, reduction="avg"), ShapeError,
         ["cross_entropy", "reduction", "'avg'"]),
    ],
)
def test_bad_input_error_names_the_op_the_shapes_and_the_dtypes(kernels, call, error, fragments):
    S.assert_error_names(error, call, fragments)
