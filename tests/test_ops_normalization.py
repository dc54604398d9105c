"""layer_norm (tinyattn/ops/normalization.py): equal to the same formula written with existing ops, numeric edges,
bad input.

The gradient property tests (central differences, cheap backward properties) are rows of test_op_gradients.py.
Every test here takes the `kernels` fixture: it runs with the Numba kernels and with the NumPy references.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, ShapeError

EXAMPLES = 50
# The `kernels` fixture sets the switch once per test, which every example then shares: that is what is wanted.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def leaves(*arrays, dtype=np.float64):
    return [ta.tensor(np.array(array, dtype=dtype), requires_grad=True) for array in arrays]


# ----- the same formula written with existing ops ---------------------------------------------------------------

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
    S.assert_same_values_and_gradients(out, expected, op_leaves, composite_leaves, upstream, rtol=1e-8)


# ----- numeric edges ------------------------------------------------------------------------------------------

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
    for t, once in zip((x, weight, bias), first, strict=True):
        np.testing.assert_allclose(t.grad, -2.0 * once)


def test_layer_norm_differentiates_only_the_inputs_given(kernels):
    x, bias = leaves(np.random.default_rng(3).normal(size=(2, 4)), np.zeros(4))
    F.layer_norm(x, bias=bias).backward(np.ones((2, 4)))
    np.testing.assert_allclose(bias.grad, [2.0, 2.0, 2.0, 2.0])
    # A constant upstream gradient moves every output of a row alike, which x cannot do: its gradient is zero.
    np.testing.assert_allclose(x.grad, 0.0, atol=1e-12)


def test_layer_norm_in_float32_is_finite_and_exact_where_the_squares_overflow(kernels):
    # (2e19)**2 = 4e38 is above float32's largest number; the variance, 2e38, is not. float64 is the oracle.
    values = [[2e19, -2e19, 0.0, 0.0], [1.0, -3.0, 0.5, 2.0]]
    upstream = np.array([[0.3, -1.2, 2.0, 0.7], [1.0, 0.5, -0.4, -2.0]])
    results = {}
    for dtype in (np.float32, np.float64):
        x, weight, bias = leaves(values, [2.0, -1.0, 0.5, 1.0], [0.1, 0.2, 0.3, 0.4], dtype=dtype)
        out = F.layer_norm(x, weight, bias)
        out.backward(upstream.astype(dtype))
        results[dtype] = [out.data, x.grad, weight.grad, bias.grad]
    np.testing.assert_allclose(results[np.float32][0][0], [2.0 * 2**0.5 + 0.1, 2**0.5 + 0.2, 0.3, 0.4], rtol=1e-6)
    for got, want in zip(results[np.float32], results[np.float64], strict=True):
        assert np.all(np.isfinite(got))
        for got_row, want_row in zip(np.atleast_2d(got), np.atleast_2d(want), strict=True):  # x.grad: ~1e-19, ~1
            np.testing.assert_allclose(got_row, want_row, rtol=1e-5, atol=1e-6 * np.abs(want_row).max())


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


@pytest.mark.parametrize(
    "call, error, fragments",
    [
        (lambda: F.layer_norm(t((2, 4)), t((3,))), ShapeError, ["layer_norm", "weight", "(4,)", "(3,)", "(2, 4)"]),
        (lambda: F.layer_norm(t((2, 4)), None, t((4, 1))), ShapeError, ["layer_norm", "bias", "(4,)", "(4, 1)"]),
        (lambda: F.layer_norm(t((2, 4)), np.ones(4, int)), DTypeError, ["layer_norm", "weight", "float", "int64"]),
        (lambda: F.layer_norm(ta.tensor(np.ones((2, 4), int))), DTypeError, ["layer_norm", "int64"]),
        (lambda: F.layer_norm(t((2, 0))), ShapeError, ["layer_norm", "(2, 0)"]),
        (lambda: F.layer_norm(t(())), ShapeError, ["layer_norm", "()"]),
    ],
)
def test_bad_input_error_names_the_op_the_shapes_and_the_dtypes(kernels, call, error, fragments):
    S.assert_error_names(error, call, fragments)
