"""ContextAttention, StructuredSelfAttention and attention_penalty: forward against NumPy, gradients, padding, errors.

The forward passes are compared with the formulas written out in NumPy below; every gradient (inputs and all
parameters) against central differences in float64 on tiny shapes drawn by Hypothesis, masks with fully padded rows
included. Outputs are projected on random upstream gradients, never summed.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
from tinyattn import DTypeError, ShapeError
from tinyattn.attention import (
    AdditiveScore,
    ContextAttention,
    StructuredSelfAttention,
    attend,
    attention_penalty,
)
from tinyattn.optim import Adam

GRADIENT_EXAMPLES = 50
PROPERTY_EXAMPLES = 40


# ----- NumPy references ---------------------------------------------------------------------------------------------
def masked_softmax_reference(scores, mask):
    """softmax over the last axis where mask is True; rows with nothing kept are all zero."""
    if mask is None:
        mask = np.ones(scores.shape, bool)
    mask = np.broadcast_to(mask, scores.shape)
    shifted = np.where(mask, scores, -np.inf)
    top = np.max(shifted, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exps = np.where(mask, np.exp(shifted - top), 0.0)
    totals = exps.sum(axis=-1, keepdims=True)
    return np.where(totals > 0, exps / np.where(totals > 0, totals, 1.0), 0.0)


def context_attention_reference(module, h, mask):
    """u = tanh(h W + b), weights = softmax(u . u_ctx) over real positions, output = sum_t weights_t h_t."""
    hidden = np.tanh(h @ module.projection.weight.data + module.projection.bias.data)  # (B, T, Da)
    weights = masked_softmax_reference(hidden @ module.context_vector.data, mask)  # (B, T)
    return np.einsum("bt,btd->bd", weights, h), weights


def structured_reference(module, h, mask):
    """A = softmax_T(W2^T tanh(W1^T H^T)), M = A H."""
    scores = np.tanh(h @ module.first_weight.data) @ module.second_weight.data  # (B, T, r)
    weights = masked_softmax_reference(np.swapaxes(scores, 1, 2), None if mask is None else mask[:, None, :])
    return weights @ h, weights


def penalty_reference(weights):
    """mean_b ||A_b A_b^T - I||_F^2, one batch row at a time."""
    values = [np.sum((a @ a.T - np.eye(a.shape[0])) ** 2) for a in weights]
    return float(np.mean(values))


# ----- strategies ---------------------------------------------------------------------------------------------------
@st.composite
def sequences(draw, max_batch=3, max_steps=4, max_size=4):
    """(h (B, T, D) float64, mask (B, T) bool or None); when a mask is drawn, a row is sometimes fully padded."""
    batch = draw(st.integers(1, max_batch), label="B")
    steps = draw(st.integers(1, max_steps), label="T")
    size = draw(st.integers(1, max_size), label="D")
    h = draw(S.arrays((batch, steps, size), -2.0, 2.0), label="h")
    kind = draw(st.sampled_from(["none", "random", "with empty row"]), label="mask kind")
    if kind == "none":
        return h, None
    mask = draw(S.masks((batch, steps)), label="mask")
    if kind == "with empty row":
        mask[draw(st.integers(0, batch - 1), label="empty row")] = False
    return h, mask


def check_gradients(module, h, outputs_of, data):
    """gradcheck of the projected outputs of `outputs_of(h)` with respect to h and every parameter of `module`."""
    h = ta.tensor(h, requires_grad=True)
    shapes = [output.shape for output in outputs_of(h)]
    upstreams = [data.draw(S.upstream_gradients(shape), label="upstream") for shape in shapes]
    ta.gradcheck(lambda *_: S.projected(outputs_of(h), upstreams), h, *module.parameters())


# ----- ContextAttention ---------------------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(sequences(), st.integers(1, 3), st.integers(0, 2**16))
def test_context_attention_matches_numpy_reference(case, attention_size, seed):
    h, mask = case
    module = ContextAttention(h.shape[-1], attention_size, dtype=np.float64, rng=seed)
    output, weights = module(h, mask)
    expected_output, expected_weights = context_attention_reference(module, h, mask)
    np.testing.assert_allclose(weights.data, expected_weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(output.data, expected_output, rtol=1e-12, atol=1e-14)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(sequences(), st.integers(1, 3), st.integers(0, 2**16), st.data())
def test_context_attention_gradients_wrt_input_and_all_parameters(case, attention_size, seed, data):
    h, mask = case
    module = ContextAttention(h.shape[-1], attention_size, dtype=np.float64, rng=seed)
    assert len(list(module.parameters())) == 3  # W, b, u_ctx: all checked
    check_gradients(module, h, lambda x: module(x, mask), data)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(sequences(), st.integers(0, 2**16))
def test_context_attention_weights_sum_to_one_over_real_positions_and_zero_elsewhere(case, seed):
    h, mask = case
    output, weights = ContextAttention(h.shape[-1], 2, dtype=np.float64, rng=seed)(h, mask)
    real = np.ones(h.shape[:2], bool) if mask is None else mask
    assert weights.shape == h.shape[:2] and output.shape == (h.shape[0], h.shape[2])
    assert np.all(weights.data[~real] == 0.0)
    has_real = real.any(axis=1)
    np.testing.assert_allclose(weights.data[has_real].sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(output.data[~has_real] == 0.0)


def test_fully_padded_row_gives_zero_output_and_zero_finite_gradients():
    rng = np.random.default_rng(1)
    module = ContextAttention(3, 2, dtype=np.float64, rng=0)
    h = ta.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    mask = np.array([[True, True, False, True], [False] * 4])
    output, weights = module(h, mask)
    S.projected([output, weights], [rng.standard_normal((2, 3)), rng.standard_normal((2, 4))]).backward()
    assert np.all(output.data[1] == 0.0) and np.all(weights.data[1] == 0.0)
    assert np.all(h.grad[1] == 0.0)
    for parameter in module.parameters():
        assert np.all(np.isfinite(parameter.grad))
    assert np.any(h.grad[0] != 0.0)


def test_padded_positions_get_zero_gradient_even_with_huge_values():
    rng = np.random.default_rng(2)
    module = ContextAttention(3, 2, dtype=np.float64, rng=0)
    data = rng.standard_normal((2, 4, 3))
    mask = np.array([[True, False, True, False], [True, True, True, False]])
    data[~mask] = 1e4  # would dominate the softmax and the output if the mask leaked
    h = ta.tensor(data, requires_grad=True)
    output, weights = module(h, mask)
    S.projected([output, weights], [rng.standard_normal((2, 3)), rng.standard_normal((2, 4))]).backward()
    assert np.all(np.isfinite(output.data)) and np.all(np.abs(output.data) < 10)
    assert np.all(h.grad[~mask] == 0.0)
    assert np.all(h.grad[mask].any(axis=-1))


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(sequences(), st.integers(1, 3), st.integers(0, 2**16))
def test_appending_padded_positions_leaves_output_and_real_weights_unchanged(case, extra, seed):
    h, mask = case
    module = ContextAttention(h.shape[-1], 2, dtype=np.float64, rng=seed)
    output, weights = module(h, mask)
    real = np.ones(h.shape[:2], bool) if mask is None else mask
    padded_h = np.concatenate([h, np.full((h.shape[0], extra, h.shape[2]), 3.0)], axis=1)
    padded_mask = np.concatenate([real, np.zeros((h.shape[0], extra), bool)], axis=1)
    padded_output, padded_weights = module(padded_h, padded_mask)
    np.testing.assert_allclose(padded_output.data, output.data, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(padded_weights.data[:, :h.shape[1]], weights.data, rtol=1e-12, atol=1e-15)
    assert np.all(padded_weights.data[:, h.shape[1]:] == 0.0)


def test_no_mask_is_the_same_as_an_all_true_mask():
    h = np.random.default_rng(3).standard_normal((2, 3, 4))
    module = ContextAttention(4, 3, dtype=np.float64, rng=0)
    output, weights = module(h)
    output_masked, weights_masked = module(h, np.ones((2, 3), bool))
    np.testing.assert_array_equal(output.data, output_masked.data)
    np.testing.assert_array_equal(weights.data, weights_masked.data)


def test_context_attention_is_additive_attention_with_a_constant_query():
    """The documented relation: u_ctx . tanh(h W + b) is v^T tanh(W_q q + U k) with q = 1, W_q = b, U = W, v = u_ctx."""
    rng = np.random.default_rng(4)
    module = ContextAttention(4, 3, dtype=np.float64, rng=0)
    additive = AdditiveScore(query_size=1, key_size=4, hidden_size=3, dtype=np.float64, rng=0)
    additive.query_weight.data[:] = module.projection.bias.data[None, :]
    additive.key_weight.data[:] = module.projection.weight.data
    additive.vector.data[:] = module.context_vector.data
    h = rng.standard_normal((2, 5, 4))
    mask = np.array([[True] * 5, [True, True, False, True, False]])
    output, weights = module(h, mask)
    expected_output, expected_weights = attend(np.ones((2, 1)), h, h, score=additive, mask=mask)
    np.testing.assert_allclose(weights.data, expected_weights.data, rtol=1e-12)
    np.testing.assert_allclose(output.data, expected_output.data, rtol=1e-12)


def test_context_attention_float32_stays_float32():
    module = ContextAttention(4, 3, rng=0)
    h = ta.tensor(np.random.default_rng(5).standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    output, weights = module(h, np.array([[True, True, False], [True, False, False]]))
    assert output.dtype == np.float32 and weights.dtype == np.float32
    (output * np.ones((2, 4), np.float32)).sum().backward()
    assert h.grad.dtype == np.float32
    assert all(parameter.grad.dtype == np.float32 for parameter in module.parameters())


def test_context_attention_is_reproducible_from_its_seed():
    first, second = ContextAttention(4, 3, rng=7), ContextAttention(4, 3, rng=7)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("module_factory", [
    lambda: ContextAttention(4, 3, dtype=np.float64, rng=0),
    lambda: StructuredSelfAttention(4, 3, 2, dtype=np.float64, rng=0),
], ids=["ContextAttention", "StructuredSelfAttention"])
@pytest.mark.parametrize("h, mask, error, words", [
    (np.zeros((2, 4)), None, ShapeError, ["(B, T, D)", "(2, 4)"]),
    (np.zeros((2, 3, 5)), None, ShapeError, ["input_size = 4", "(2, 3, 5)"]),
    (np.zeros((2, 0, 4)), None, ShapeError, ["empty", "(2, 0, 4)"]),
    (np.zeros((2, 3, 4), np.int64), None, DTypeError, ["float", "int64"]),
    (np.zeros((2, 3, 4), np.float32), None, DTypeError, ["float32", "float64"]),
    (np.zeros((2, 3, 4)), np.ones((2, 3)), DTypeError, ["boolean", "mask (2, 3) float64"]),
    (np.zeros((2, 3, 4)), np.ones((2, 3), np.int64), DTypeError, ["boolean", "mask (2, 3) int64"]),  # 0/1 ints
    (np.zeros((2, 3, 4)), np.ones((3, 2), bool), ShapeError, ["(B, T) = (2, 3)", "mask (3, 2) bool"]),
    (np.zeros((2, 3, 4)), np.ones((2, 3, 1), bool), ShapeError, ["(B, T) = (2, 3)", "mask (2, 3, 1)"]),
])
def test_bad_input_raises_an_error_naming_the_op_shapes_and_dtypes(module_factory, h, mask, error, words):
    module = module_factory()
    with pytest.raises(error) as caught:
        module(h, mask)
    message = str(caught.value)
    assert type(module).__name__ in message
    for word in words:
        assert word in message


# ----- StructuredSelfAttention --------------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(sequences(), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**16))
def test_structured_self_attention_matches_numpy_reference(case, attention_size, hops, seed):
    h, mask = case
    module = StructuredSelfAttention(h.shape[-1], attention_size, hops, dtype=np.float64, rng=seed)
    embedding, weights = module(h, mask)
    expected_embedding, expected_weights = structured_reference(module, h, mask)
    assert embedding.shape == (h.shape[0], hops, h.shape[2]) and weights.shape == (h.shape[0], hops, h.shape[1])
    np.testing.assert_allclose(weights.data, expected_weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(embedding.data, expected_embedding, rtol=1e-12, atol=1e-14)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(sequences(), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**16), st.data())
def test_structured_self_attention_gradients_wrt_input_and_all_parameters(case, attention_size, hops, seed, data):
    h, mask = case
    module = StructuredSelfAttention(h.shape[-1], attention_size, hops, dtype=np.float64, rng=seed)
    check_gradients(module, h, lambda x: module(x, mask), data)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(sequences(), st.integers(1, 3), st.integers(0, 2**16), st.data())
def test_penalty_through_the_module_gradients(case, hops, seed, data):
    """The penalty as trained: its gradient reaches h, W1 and W2 through the masked softmax."""
    h, mask = case
    module = StructuredSelfAttention(h.shape[-1], 2, hops, dtype=np.float64, rng=seed)
    h = ta.tensor(h, requires_grad=True)
    ta.gradcheck(lambda *_: module.penalty(module(h, mask)[1]), h, *module.parameters())


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(sequences(), st.integers(1, 3), st.integers(0, 2**16))
def test_every_hop_sums_to_one_over_real_positions_and_is_zero_on_padding(case, hops, seed):
    h, mask = case
    embedding, weights = StructuredSelfAttention(h.shape[-1], 2, hops, dtype=np.float64, rng=seed)(h, mask)
    real = np.ones(h.shape[:2], bool) if mask is None else mask
    padded = np.broadcast_to(~real[:, None, :], weights.shape)
    assert np.all(weights.data[padded] == 0.0)
    has_real = real.any(axis=1)
    np.testing.assert_allclose(weights.data[has_real].sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(embedding.data[~has_real] == 0.0)


def test_one_hop_without_bias_is_context_attention():
    """Documented: with r = 1 the column of W2 plays the context vector and W1 the projection (bias 0)."""
    rng = np.random.default_rng(6)
    structured = StructuredSelfAttention(4, 3, 1, dtype=np.float64, rng=0)
    context = ContextAttention(4, 3, dtype=np.float64, rng=1)
    context.projection.weight.data[:] = structured.first_weight.data
    context.projection.bias.data[:] = 0.0
    context.context_vector.data[:] = structured.second_weight.data[:, 0]
    h = rng.standard_normal((2, 4, 4))
    mask = np.array([[True, False, True, True], [True] * 4])
    embedding, weights = structured(h, mask)
    output, context_weights = context(h, mask)
    np.testing.assert_allclose(weights.data[:, 0], context_weights.data, rtol=1e-12)
    np.testing.assert_allclose(embedding.data[:, 0], output.data, rtol=1e-12)


def test_structured_self_attention_float32_stays_float32():
    module = StructuredSelfAttention(4, 3, 2, rng=0)
    h = ta.tensor(np.random.default_rng(7).standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    embedding, weights = module(h, np.array([[True, True, False], [True, True, True]]))
    penalty = module.penalty(weights)
    assert embedding.dtype == weights.dtype == penalty.dtype == np.float32
    (penalty + (embedding * np.ones((2, 2, 4), np.float32)).sum()).backward()
    assert h.grad.dtype == np.float32
    assert all(parameter.grad.dtype == np.float32 for parameter in module.parameters())


# ----- padding cannot leak, sizes ------------------------------------------------------------------------------------
GARBAGE = np.array([np.nan, np.inf, -np.inf, 1e300])  # what a padding buffer may hold
POOLING = {
    "ContextAttention": lambda: ContextAttention(3, 2, dtype=np.float64, rng=0),
    "StructuredSelfAttention": lambda: StructuredSelfAttention(3, 2, 2, dtype=np.float64, rng=0),
}


def _outputs_and_gradients(module, h, mask, upstreams):
    """The module's outputs on h, and the gradients of their projection on `upstreams` with respect to h and
    every parameter."""
    module.zero_grad()
    h = ta.tensor(h, requires_grad=True)
    outputs = module(h, mask)
    S.projected(outputs, upstreams).backward()
    return [output.data for output in outputs], [h.grad, *(parameter.grad for parameter in module.parameters())]


@pytest.mark.parametrize("name", list(POOLING))
def test_nan_and_inf_in_padded_positions_change_no_output_and_no_gradient(name):
    rng = np.random.default_rng(8)
    module = POOLING[name]()
    mask = np.array([[True, False, True, False], [False] * 4, [True, True, True, False]])  # row 1: all padding
    clean = np.where(mask[..., None], rng.standard_normal((3, 4, 3)), 0.0)
    dirty = clean.copy()
    dirty[~mask] = np.resize(GARBAGE, dirty[~mask].shape)
    upstreams = [rng.standard_normal(output.shape) for output in module(clean, mask)]
    outputs, gradients = _outputs_and_gradients(module, clean, mask, upstreams)
    dirty_outputs, dirty_gradients = _outputs_and_gradients(module, dirty, mask, upstreams)
    for got, expected in zip(dirty_outputs + dirty_gradients, outputs + gradients, strict=True):
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, expected)
    assert all(np.all(output[1] == 0.0) for output in dirty_outputs)  # the fully padded row: zeros
    assert np.all(dirty_gradients[0][~mask] == 0.0)


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError),
                                          (None, TypeError)])
@pytest.mark.parametrize("make, op, name", [
    (lambda size: ContextAttention(size, 2), "ContextAttention", "input_size"),
    (lambda size: ContextAttention(3, size), "ContextAttention", "attention_size"),
    (lambda size: StructuredSelfAttention(size, 2, 2), "StructuredSelfAttention", "input_size"),
    (lambda size: StructuredSelfAttention(3, size, 2), "StructuredSelfAttention", "attention_size"),
    (lambda size: StructuredSelfAttention(3, 2, size), "StructuredSelfAttention", "hops"),
], ids=["context-input", "context-attention", "structured-input", "structured-attention", "structured-hops"])
def test_constructors_refuse_sizes_that_are_not_positive_integers_naming_the_argument(make, op, name, value, error):
    with pytest.raises(error) as caught:
        make(value)
    assert type(caught.value) is error
    assert str(caught.value).startswith(f"{op}: {name} must be an integer")
    assert str(caught.value).endswith(f"got {name}={value!r}" + ("" if error is ValueError else
                                                                 f" ({type(value).__name__})"))


# ----- attention_penalty --------------------------------------------------------------------------------------------
def penalty_inputs(max_batch=3, max_hops=3, max_steps=4):
    return st.tuples(st.integers(1, max_batch), st.integers(1, max_hops), st.integers(1, max_steps)).flatmap(
        lambda shape: S.arrays(shape, -1.5, 1.5))


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(penalty_inputs())
def test_penalty_matches_numpy_on_any_matrix(weights):
    value = attention_penalty(weights)
    assert value.shape == ()
    np.testing.assert_allclose(value.item(), penalty_reference(weights), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(attention_penalty(ta.tensor(weights)).item(), value.item(), rtol=0)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(penalty_inputs())
def test_penalty_gradient(weights):
    weights = ta.tensor(weights, requires_grad=True)
    ta.gradcheck(lambda *_: attention_penalty(weights), weights)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(0, 4), st.data())
def test_penalty_is_zero_for_one_hot_hops_on_distinct_positions(batch, hops, extra_steps, data):
    steps = hops + extra_steps
    weights = np.zeros((batch, hops, steps))
    for row in range(batch):
        positions = data.draw(st.permutations(range(steps)), label="positions")[:hops]
        weights[row, np.arange(hops), positions] = 1.0
    assert attention_penalty(weights).item() == 0.0


def test_penalty_counts_overlap_and_spread():
    # two one-hot hops on the same position: A A^T = [[1, 1], [1, 1]], so ||A A^T - I||^2 = 2
    same = np.array([[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]])
    assert attention_penalty(same).item() == pytest.approx(2.0, rel=1e-12)
    # one hop spread evenly over 4 positions: (A A^T)_11 = 1/4, penalty (1 - 1/4)^2
    spread = np.full((1, 1, 4), 0.25)
    assert attention_penalty(spread).item() == pytest.approx(0.5625, rel=1e-12)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(st.integers(1, 3), st.integers(2, 3), st.integers(1, 4), st.data())
def test_penalty_is_positive_unless_hops_are_one_hot_and_distinct(batch, hops, steps, data):
    scores = data.draw(S.arrays((batch, hops, steps), -3.0, 3.0), label="scores")
    weights = masked_softmax_reference(scores, None)  # rows sum to one; one-hot only in the limit
    assert attention_penalty(weights).item() > 0.0


def test_penalty_of_a_fully_padded_sequence_is_the_number_of_hops_with_zero_gradient():
    rng = np.random.default_rng(8)
    module = StructuredSelfAttention(3, 2, 3, dtype=np.float64, rng=0)
    h = ta.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    mask = np.array([[True, True, True, False], [False] * 4])
    _, weights = module(h, mask)
    penalty = module.penalty(weights)
    real_only = penalty_reference(weights.data[:1])
    np.testing.assert_allclose(penalty.item(), (real_only + 3.0) / 2, rtol=1e-12)  # the padded row adds r = 3
    penalty.backward()
    assert np.all(h.grad[1] == 0.0) and np.any(h.grad[0] != 0.0)


def test_minimising_the_penalty_pulls_the_hops_apart_onto_single_positions():
    rng = np.random.default_rng(10)
    module = StructuredSelfAttention(5, 8, 3, dtype=np.float64, rng=0)
    h = rng.standard_normal((4, 6, 5))
    mask = np.ones((4, 6), bool)
    mask[1, 4:] = False
    optimizer = Adam(module.parameters(), lr=0.05)
    start = module.penalty(module(h, mask)[1]).item()
    for _ in range(300):
        penalty = module.penalty(module(h, mask)[1])
        optimizer.zero_grad()
        penalty.backward()
        optimizer.step()
    _, weights = module(h, mask)
    assert module.penalty(weights).item() < 0.1 * start
    assert np.all(weights.data.max(axis=-1) > 0.8)  # each hop near one-hot ...
    peaks = weights.data.argmax(axis=-1)  # (B, r)
    assert all(len(set(row)) == 3 for row in peaks)  # ... on positions of its own


def test_penalty_method_is_the_function():
    weights = masked_softmax_reference(np.random.default_rng(9).standard_normal((2, 3, 4)), None)
    module = StructuredSelfAttention(4, 2, 3, dtype=np.float64, rng=0)
    assert module.penalty(weights).item() == attention_penalty(weights).item()


@pytest.mark.parametrize("weights, error, words", [
    (np.zeros((3, 4)), ShapeError, ["(B, r, T)", "(3, 4)"]),
    (np.zeros((2, 0, 4)), ShapeError, ["empty", "(2, 0, 4)"]),
    (np.zeros((2, 3, 4), np.int64), DTypeError, ["float", "int64"]),
])
def test_penalty_bad_input_raises_an_error_naming_shapes_and_dtypes(weights, error, words):
    with pytest.raises(error) as caught:
        attention_penalty(weights)
    message = str(caught.value)
    assert "attention_penalty" in message
    for word in words:
        assert word in message
