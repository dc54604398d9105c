"""Every differentiable op against central differences, and the cheap properties every backward pass must have.

One table, ``ROWS``, lists the ops: adding an op means adding a row, and ``test_every_registered_op_has_a_row``
fails until it has one. Each row names the op (its key in ``tinyattn.primitive.REGISTRY``, or a composite of
``tinyattn.functional``), a strategy for its inputs (float arrays to differentiate and static parameters) and a
function that calls it. Non-scalar outputs are projected on an upstream gradient drawn by Hypothesis, never summed.
"""
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn.primitive import REGISTRY

GRADIENT_EXAMPLES = 100
PROPERTY_EXAMPLES = 20


@dataclass(frozen=True)
class Row:
    """One op under test: `call(*tensors, **params)` computes it on the drawn `inputs` (an S.OpInputs strategy)."""

    id: str
    op: str
    inputs: st.SearchStrategy
    call: Callable
    float32: bool = True  # whether the float32 comparison applies
    last_op: bool = True  # whether `call` ends with the op itself (False: it post-processes the op's output)


def _split_and_rejoin(x, sections, axis):
    """The pieces of F.split joined in reverse order, so that a gradient sent to the wrong piece shows."""
    return F.concatenate(F.split(x, sections, axis=axis)[::-1], axis=axis)


def _finite_log_softmax(x, axis, mask, scale):
    """log_softmax with its -inf entries (masked positions) replaced by 0, so that a projection of it is finite."""
    log_probs = F.log_softmax(x, axis=axis, mask=mask, scale=scale)
    return F.where(np.isfinite(log_probs.data), log_probs, 0.0)


ROWS = [
    # elementwise, binary (broadcasting)
    Row("add-broadcast", "add", S.broadcast_operands(2), F.add),
    Row("sub-broadcast", "sub", S.broadcast_operands(2), F.sub),
    Row("sub-scalar-minus-tensor", "sub", S.unary(), lambda x: 3.0 - x),
    Row("mul-broadcast", "mul", S.broadcast_operands(2), F.mul),
    Row("truediv-broadcast", "truediv",
        S.broadcast_operands(2, [S.arrays, lambda shape: S.signed_magnitudes(shape, margin=0.5)]), F.truediv),
    Row("truediv-scalar-over-tensor", "truediv", S.unary(lambda shape: S.signed_magnitudes(shape, margin=0.5)),
        lambda x: 2.0 / x),
    Row("power-tensor-exponent-broadcast", "power", S.power_inputs("tensor"), F.power),
    Row("power-scalar-exponent", "power", S.power_inputs("scalar"), lambda x, exponent: F.power(x, exponent)),
    Row("power-scalar-base", "power", S.power_inputs("scalar base"), lambda x, base: F.power(base, x)),
    Row("maximum-broadcast-no-ties", "maximum", S.distinct_broadcast_operands(2), F.maximum),
    Row("minimum-broadcast-no-ties", "minimum", S.distinct_broadcast_operands(2), F.minimum),
    Row("where-broadcast", "where", S.where_inputs(), lambda a, b, condition: F.where(condition, a, b)),
    Row("where-keep-mask-and-scalar-fill", "where", S.scalar_fill_inputs(),
        lambda x, keep, value: F.where(keep, x, value)),
    Row("matmul-batch-broadcast-and-1d", "matmul", S.matmul_operands(), F.matmul),
    # elementwise, unary
    Row("neg", "neg", S.unary(), F.neg),
    Row("exp", "exp", S.unary(lambda shape: S.arrays(shape, -3, 3)), F.exp),
    Row("log", "log", S.unary(S.positive_arrays), F.log),
    Row("sqrt", "sqrt", S.unary(S.positive_arrays), F.sqrt),
    Row("abs-away-from-zero", "abs", S.unary(S.signed_magnitudes), F.abs),
    Row("relu-away-from-zero", "relu", S.unary(S.signed_magnitudes), F.relu),
    Row("tanh", "tanh", S.unary(), F.tanh),
    Row("sigmoid", "sigmoid", S.unary(lambda shape: S.arrays(shape, -20, 20)), F.sigmoid),
    Row("clip-away-from-bounds", "clip", S.clip_inputs(), F.clip),
    Row("astype-float64", "astype", S.unary(dtype=np.float64), F.astype, float32=False),
    # reductions and the softmax family
    Row("sum", "sum", S.reduction_inputs(), F.sum),
    Row("mean", "mean", S.reduction_inputs(), F.mean),
    Row("var-ddof", "var", S.reduction_inputs(ddof=True), F.var),
    Row("max-distinct", "max", S.reduction_inputs(S.distinct_array), F.max),
    Row("min-distinct", "min", S.reduction_inputs(S.distinct_array), F.min),
    Row("logsumexp", "logsumexp", S.reduction_inputs(min_dims=1), F.logsumexp),
    Row("softmax", "softmax", S.reduction_inputs(min_dims=1, keepdims=False), F.softmax),
    Row("softmax-masked-with-empty-rows", "softmax", S.masked_softmax_inputs(), F.softmax),
    Row("log_softmax", "log_softmax", S.reduction_inputs(min_dims=1, keepdims=False), F.log_softmax),
    Row("softmax-scaled-boolean-or-additive-mask", "softmax", S.scaled_masked_softmax_inputs(), F.softmax),
    Row("log_softmax-scaled-boolean-or-additive-mask", "log_softmax", S.scaled_masked_softmax_inputs(),
        _finite_log_softmax, last_op=False),
    # attention, fused: blocks of every size, causal, additive masks with dropped rows
    Row("fused_attention-blocked-causal-masked", "fused_attention", S.fused_attention_inputs(),
        lambda q, k, v, **params: ta.ops.fused_attention(q, k, v, **params)),
    # losses and normalisation (targets are params: not differentiable)
    Row("cross_entropy-ignored-smoothed-any-reduction", "cross_entropy", S.cross_entropy_inputs(), F.cross_entropy),
    Row("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", S.binary_cross_entropy_inputs(),
        F.binary_cross_entropy_with_logits),
    Row("layer_norm-weight-and-bias", "layer_norm", S.layer_norm_inputs(), F.layer_norm),
    Row("layer_norm-bias-only", "layer_norm", S.layer_norm_inputs(weight=False),
        lambda x, bias, eps: F.layer_norm(x, bias=bias, eps=eps)),
    Row("layer_norm-no-affine", "layer_norm", S.layer_norm_inputs(weight=False, bias=False), F.layer_norm),
    # recurrent cells and sequences (each input: x or the input gates, the state, the weights, the biases)
    Row("gru_cell", "gru_cell", S.recurrent_cell_inputs("gru"), ta.ops.gru_cell),
    Row("gru_cell-no-bias", "gru_cell", S.recurrent_cell_inputs("gru", bias=False),
        lambda *inputs: ta.ops.gru_cell(*inputs, None, None)),
    Row("lstm_cell", "lstm_cell", S.recurrent_cell_inputs("lstm"), ta.ops.lstm_cell),
    Row("lstm_cell-no-bias", "lstm_cell", S.recurrent_cell_inputs("lstm", bias=False),
        lambda *inputs: ta.ops.lstm_cell(*inputs, None, None)),
    Row("gru_sequence-masked-either-direction", "gru_sequence", S.recurrent_sequence_inputs("gru"),
        ta.ops.gru_sequence),
    Row("gru_sequence-no-bias", "gru_sequence", S.recurrent_sequence_inputs("gru", bias=False),
        lambda *inputs, **params: ta.ops.gru_sequence(*inputs, None, **params)),
    Row("lstm_sequence-masked-either-direction", "lstm_sequence", S.recurrent_sequence_inputs("lstm"),
        ta.ops.lstm_sequence),
    Row("lstm_sequence-no-bias", "lstm_sequence", S.recurrent_sequence_inputs("lstm", bias=False),
        lambda *inputs, **params: ta.ops.lstm_sequence(*inputs, None, **params)),
    # the glimpse sensor: patches inside, across borders and fully outside, pooled at 1..3 scales (the corners are
    # params: only the images are differentiable)
    Row("glimpse-scales-borders", "glimpse", S.glimpse_inputs(), ta.ops.glimpse),
    # indexing
    Row("getitem-basic", "getitem", S.basic_index_inputs(), F.getitem),
    Row("getitem-integer-arrays-repeated", "getitem", S.integer_array_index_inputs(), F.getitem),
    Row("getitem-boolean-mask", "getitem", S.boolean_index_inputs(), F.getitem),
    Row("take-repeated", "take", S.take_inputs(), F.take),
    Row("embedding-repeated", "embedding", S.embedding_inputs(), F.embedding),
    Row("gather-repeated", "gather", S.gather_inputs(), F.gather),
    Row("gather-broadcast", "gather", S.gather_inputs(broadcast=True), F.gather),
    # shape
    Row("concatenate", "concatenate", S.concatenate_inputs(), lambda *xs, axis: F.concatenate(xs, axis=axis)),
    Row("stack", "stack", S.stack_inputs(), lambda *xs, axis: F.stack(xs, axis=axis)),
    Row("split-composite", "split", S.split_inputs(), _split_and_rejoin),
    Row("reshape", "reshape", S.reshape_inputs(), F.reshape),
    Row("transpose", "transpose", S.transpose_inputs(), F.transpose),
    Row("swapaxes", "swapaxes", S.swapaxes_inputs(), F.swapaxes),
    Row("expand_dims", "expand_dims", S.expand_dims_inputs(), F.expand_dims),
    Row("squeeze", "squeeze", S.squeeze_inputs(), F.squeeze),
    Row("broadcast_to", "broadcast_to", S.broadcast_to_inputs(), F.broadcast_to),
]

FLOAT32_ROWS = [row for row in ROWS if row.float32]


def parametrize_rows(rows):
    return pytest.mark.parametrize("row", rows, ids=[row.id for row in rows])


def leaves(inputs, dtype=np.float64):
    """Fresh leaf tensors, requiring grad, holding copies of the drawn arrays in `dtype`."""
    return [ta.tensor(np.array(array, dtype=dtype), requires_grad=True) for array in inputs.arrays]


def draw_case(data, row):
    """Inputs for `row`, their float64 leaves, the output and an upstream gradient of the output's shape."""
    inputs = data.draw(row.inputs, label="inputs")
    tensors = leaves(inputs)
    out = row.call(*tensors, **inputs.params)
    upstream = data.draw(S.upstream_gradients(out.shape), label="upstream")
    return inputs, tensors, out, upstream


# ----- the table covers the registry ------------------------------------------------------------------------------
def test_every_registered_op_has_a_row():
    registered = {name for name, op in REGISTRY.items() if op.__module__.startswith("tinyattn.")}
    assert registered - {row.op for row in ROWS} == set()


def test_every_row_names_a_registered_op_or_a_functional_composite():
    unknown = [row.id for row in ROWS if row.op not in REGISTRY and not callable(getattr(F, row.op, None))]
    assert unknown == []


@parametrize_rows([row for row in ROWS if row.op in REGISTRY and row.last_op])
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_row_output_is_computed_by_the_op_it_names(row, data):
    _, _, out, _ = draw_case(data, row)
    assert out.op == row.op


# ----- the gradient ---------------------------------------------------------------------------------------------
@parametrize_rows(ROWS)
@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(data=st.data())
def test_gradient_matches_central_differences(row, data):
    inputs, tensors, _, upstream = draw_case(data, row)
    assert ta.gradcheck(lambda *xs: row.call(*xs, **inputs.params), *tensors, grad_output=upstream)


# ----- cheap properties of every backward pass ------------------------------------------------------------------
@parametrize_rows(ROWS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data())
def test_backward_twice_through_retained_graph_gives_identical_gradients(row, data):
    _, tensors, out, upstream = draw_case(data, row)
    out.backward(upstream, retain_graph=True)
    first = [x.grad for x in tensors]
    for x in tensors:
        x.grad = None
    out.backward(upstream)
    for once, again in zip(first, [x.grad for x in tensors], strict=True):
        np.testing.assert_array_equal(once, again)


@parametrize_rows(ROWS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data())
def test_zero_upstream_gradient_gives_zero_input_gradients(row, data):
    _, tensors, out, _ = draw_case(data, row)
    out.backward(np.zeros(out.shape))
    for x in tensors:
        assert np.all(x.grad == 0), f"nonzero gradient {x.grad} from a zero upstream gradient"


@parametrize_rows(ROWS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data())
def test_gradient_has_the_shape_and_dtype_of_its_input(row, data):
    _, tensors, out, upstream = draw_case(data, row)
    out.backward(upstream)
    for x in tensors:
        assert isinstance(x.grad, np.ndarray)
        assert (x.grad.shape, x.grad.dtype) == (x.shape, x.dtype)


@parametrize_rows(ROWS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data())
def test_forward_and_backward_leave_inputs_params_and_upstream_unchanged(row, data):
    inputs, tensors, out, upstream = draw_case(data, row)
    before = [x.data.copy() for x in tensors]
    params_before = {name: _copy_arrays(value) for name, value in inputs.params.items()}
    upstream_before = upstream.copy()
    out.backward(upstream)
    for x, data_before in zip(tensors, before, strict=True):
        np.testing.assert_array_equal(x.data, data_before)
    for name, value in inputs.params.items():
        _assert_same_arrays(value, params_before[name])
    np.testing.assert_array_equal(upstream, upstream_before)


@parametrize_rows(ROWS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data())
def test_gradients_share_no_memory_with_each_other_the_inputs_or_the_upstream(row, data):
    _, tensors, out, upstream = draw_case(data, row)
    out.backward(upstream)
    grads = [x.grad for x in tensors]
    for first, second in itertools.combinations(grads, 2):
        assert not np.shares_memory(first, second)
    for grad in grads:
        assert not np.shares_memory(grad, upstream)
        assert not np.shares_memory(grad, out.data)
        assert not any(np.shares_memory(grad, x.data) for x in tensors)


def _copy_arrays(value):
    if isinstance(value, tuple):
        return tuple(_copy_arrays(item) for item in value)
    return value.copy() if isinstance(value, np.ndarray) else value


def _assert_same_arrays(value, expected):
    if isinstance(value, tuple):
        for item, expected_item in zip(value, expected, strict=True):
            _assert_same_arrays(item, expected_item)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(value, expected)


# ----- one tensor used twice, and two leaves of one add --------------------------------------------------------
SAME_TENSOR_TWICE = {
    "add": lambda x: x + x,
    "sub": lambda x: x - x,
    "mul": lambda x: x * x,
    "truediv": lambda x: x / x,
    "power": lambda x: x**x,
    "maximum": lambda x: F.maximum(x, x),
    "minimum": lambda x: F.minimum(x, x),
    "matmul": lambda x: x @ x,
    "concatenate": lambda x: F.concatenate([x, x], axis=1),
    "stack": lambda x: F.stack([x, x], axis=-1),
}


@pytest.mark.parametrize("op", SAME_TENSOR_TWICE)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data())
def test_tensor_used_as_both_operands_gets_the_summed_gradient_in_its_own_array(op, data):
    side = data.draw(st.integers(1, 4), label="side")
    x = ta.tensor(data.draw(S.positive_arrays((side, side), 0.5, 2.5), label="x"), requires_grad=True)
    out = SAME_TENSOR_TWICE[op](x)
    upstream = data.draw(S.upstream_gradients(out.shape), label="upstream")
    assert ta.gradcheck(SAME_TENSOR_TWICE[op], x, grad_output=upstream)
    out.backward(upstream)
    assert not np.shares_memory(x.grad, upstream)
    assert not np.shares_memory(x.grad, x.data)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data())
def test_add_of_two_leaves_gives_each_a_fresh_copy_of_the_upstream_gradient(data):
    shape = data.draw(S.shapes(), label="shape")
    a = ta.tensor(data.draw(S.arrays(shape), label="a"), requires_grad=True)
    b = ta.tensor(data.draw(S.arrays(shape), label="b"), requires_grad=True)
    upstream = data.draw(S.upstream_gradients(shape), label="upstream")
    expected = upstream.copy()
    (a + b).backward(upstream)
    np.testing.assert_array_equal(a.grad, expected)
    np.testing.assert_array_equal(b.grad, expected)
    assert not np.shares_memory(a.grad, b.grad)
    assert not np.shares_memory(a.grad, upstream) and not np.shares_memory(b.grad, upstream)
    a.grad += 1.0  # an optimiser may update .grad in place: b and the caller's upstream must not see it
    np.testing.assert_array_equal(b.grad, expected)
    np.testing.assert_array_equal(upstream, expected)


# ----- float32 -------------------------------------------------------------------------------------------------
@parametrize_rows(FLOAT32_ROWS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data())
def test_float32_forward_and_backward_stay_float32_and_agree_with_float64(row, data):
    inputs, tensors64, out64, upstream = draw_case(data, row)
    out64.backward(upstream)
    tensors32 = leaves(inputs, np.float32)
    out32 = row.call(*tensors32, **inputs.params)
    out32.backward(upstream.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.data, out64.data, rtol=1e-4, atol=1e-4 * _scale(out64.data))
    for x32, x64 in zip(tensors32, tensors64, strict=True):
        assert x32.grad.dtype == np.float32
        np.testing.assert_allclose(x32.grad, x64.grad, rtol=1e-3, atol=1e-4 * _scale(x64.grad))


def _scale(values):
    """The largest magnitude among `values`, at least 1: float32 errors grow with the numbers involved."""
    return max(1.0, float(np.max(np.abs(values), initial=0.0)))


@pytest.mark.parametrize("source, target", [(np.float32, np.float64), (np.float64, np.float32)])
def test_astype_between_float_dtypes_returns_the_gradient_in_the_input_dtype(source, target):
    x = ta.tensor(np.linspace(-1.0, 1.0, 6).reshape(2, 3), dtype=source, requires_grad=True)
    upstream = np.arange(6.0).reshape(2, 3) - 2.5
    out = F.astype(x, target)
    assert out.dtype == target
    out.backward(upstream)
    assert x.grad.dtype == source
    np.testing.assert_array_equal(x.grad, upstream.astype(source))
