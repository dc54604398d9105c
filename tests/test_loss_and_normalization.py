"""cross_entropy and layer_norm: equal to the same formula written with existing ops, numeric edges, bad input.

The gradient property tests (central differences, cheap backward properties) are rows of test_op_gradients.py.
Tests that depend on the kernel switch run with the Numba kernels and with the NumPy references.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, IndexOpError, ShapeError
from tinyattn.kernels import numba_enabled, use_numba

import strategies as S

EXAMPLES = 50
# The `kernels` fixture sets the switch once per test, which every example then shares: that is what is wanted.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@pytest.fixture(params=["numba", "references"])
def kernels(request):
    """Run the test once with the Numba kernels selected and once with the NumPy references."""
    before = numba_enabled()
    use_numba(request.param == "numba")
    yield request.param
    use_numba(before)


def leaves(*arrays, dtype=np.float64):
    return [ta.tensor(np.array(array, dtype=dtype), requires_grad=True) for array in arrays]


def assert_same_values_and_gradients(op_out, composite_out, op_leaves, composite_leaves, upstream, rtol=1e-10):
    np.testing.assert_allclose(op_out.data, composite_out.data, rtol=rtol, atol=rtol)
    op_out.backward(upstream)
    composite_out.backward(upstream)
    for op_leaf, composite_leaf in zip(op_leaves, composite_leaves):
        np.testing.assert_allclose(op_leaf.grad, composite_leaf.grad, rtol=rtol, atol=rtol)


# ----- the same formula written with existing ops ---------------------------------------------------------------

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
    assert_same_values_and_gradients(out, expected, [op_logits], [composite_logits], upstream)


def layer_norm_composite(x, weight, bias, eps):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis."""
    centred = x - F.mean(x, axis=-1, keepdims=True)
    out = centred / F.sqrt(F.var(x, axis=-1, keepdims=True) + eps)
    return out * weight + bias


@settings(max_examples=EXAMPLES, suppress_health_check=FIXTURE_OK)
@given(inputs=S.layer_norm_inputs(), data=st.data())
def test_layer_norm_equals_centred_over_root_variance_times_weight_plus_bias(kernels, inputs, data):
    eps = inputs.params["eps"]
    op_leaves, composite_leaves = leaves(*inputs.arrays), leaves(*inputs.arrays)
    out = F.layer_norm(*op_leaves, eps=eps)
    expected = layer_norm_composite(*composite_leaves, eps)
    upstream = data.draw(S.upstream_gradients(out.shape))
    assert_same_values_and_gradients(out, expected, op_leaves, composite_leaves, upstream, rtol=1e-8)


# ----- numeric edges ------------------------------------------------------------------------------------------

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


def test_layer_norm_second_backward_after_the_upstream_changed_in_place_is_not_stale(kernels):
    x, weight, bias = leaves(np.arange(6.0).reshape(2, 3) ** 2, [1.0, 2.0, 3.0], [0.0, 1.0, 0.0])
    out = F.layer_norm(x, weight, bias)
    upstream = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, 1.0]])
    out.backward(upstream, retain_graph=True)
    first = [t.grad.copy() for t in (x, weight, bias)]
    for t in (x, weight, bias):
        t.grad = None
    upstream *= -2.0  # the same array object, new values
    out.backward(upstream)
    for t, once in zip((x, weight, bias), first):
        np.testing.assert_allclose(t.grad, -2.0 * once)


def test_layer_norm_differentiates_only_the_inputs_given(kernels):
    x, bias = leaves(np.random.default_rng(3).normal(size=(2, 4)), np.zeros(4))
    F.layer_norm(x, bias=bias).backward(np.ones((2, 4)))
    np.testing.assert_allclose(bias.grad, [2.0, 2.0, 2.0, 2.0])
    # A constant upstream gradient moves every output of a row alike, which x cannot do: its gradient is zero.
    np.testing.assert_allclose(x.grad, 0.0, atol=1e-12)


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_layer_norm_keeps_float32_and_casts_its_weight_to_the_input_dtype(kernels, dtype):
    (x,) = leaves(np.random.default_rng(4).normal(size=(3, 5)), dtype=dtype)
    (weight,) = leaves(np.full(5, 2.0))  # float64
    out = F.layer_norm(x, weight)
    out.backward(np.ones((3, 5), dtype))
    assert out.dtype == dtype and x.grad.dtype == dtype and weight.grad.dtype == np.float64


# ----- bad input ----------------------------------------------------------------------------------------------

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
        (lambda: F.layer_norm(t((2, 4)), t((3,))), ShapeError, ["layer_norm", "weight", "(4,)", "(3,)", "(2, 4)"]),
        (lambda: F.layer_norm(t((2, 4)), None, t((4, 1))), ShapeError, ["layer_norm", "bias", "(4,)", "(4, 1)"]),
        (lambda: F.layer_norm(t((2, 4)), np.ones(4, int)), DTypeError, ["layer_norm", "weight", "float", "int64"]),
        (lambda: F.layer_norm(ta.tensor(np.ones((2, 4), int))), DTypeError, ["layer_norm", "int64"]),
        (lambda: F.layer_norm(t((2, 0))), ShapeError, ["layer_norm", "(2, 0)"]),
        (lambda: F.layer_norm(t(())), ShapeError, ["layer_norm", "()"]),
    ],
)
def test_bad_input_error_names_the_op_the_shapes_and_the_dtypes(kernels, call, error, fragments):
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"
